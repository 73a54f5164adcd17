package sink_test

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/nacl/box"

	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/secret"
	"github.com/keycycle/keycycle/internal/sink"
)

// opened decrypts a stored secret with the collection's private key, as GitHub's runner would.
func opened(t *testing.T, gh *awssimtest.GitHub, path, name string) string {
	t.Helper()
	tgt, priv, ok := gh.Target(path)
	if !ok {
		t.Fatalf("no collection %s", path)
	}
	s, ok := tgt.Secrets[name]
	if !ok {
		t.Fatalf("%s: no secret %s (have %v)", path, name, tgt.Secrets)
	}
	sealed, err := base64.StdEncoding.DecodeString(s.EncryptedValue)
	if err != nil {
		t.Fatal(err)
	}
	var sk, pk [32]byte
	copy(sk[:], priv)
	pubRaw, _ := base64.StdEncoding.DecodeString(publicKeyOf(t, gh, path))
	copy(pk[:], pubRaw)
	out, ok := box.OpenAnonymous(nil, sealed, &pk, &sk)
	if !ok {
		t.Fatalf("%s/%s does not open with the collection's key pair", path, name)
	}
	return string(out)
}

// publicKeyOf derives the collection's public key from its private key.
func publicKeyOf(t *testing.T, gh *awssimtest.GitHub, path string) string {
	t.Helper()
	_, priv, _ := gh.Target(path)
	k, err := ecdh.X25519().NewPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(k.PublicKey().Bytes())
}

func TestGitHubSinkStoresSealedSecretsThatOpenToTheNewKey(t *testing.T) {
	ctx := context.Background()
	gh := awssimtest.StartGitHub(t, "ghp_token")
	gh.AddRepository("acme/api")
	gh.AddEnvironment("acme/api", "prod")
	gh.AddOrganization("acme")
	token := func(context.Context) (secret.Value, error) { return secret.New("ghp_token"), nil }
	k := newKey("AKIAFIRSTFIRSTFIRST1", "first-secret")
	for _, tc := range []struct {
		sink  sink.GitHub
		path  string
		names [2]string
	}{
		{sink.GitHub{Repository: "acme/api"}, "repos/acme/api", [2]string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}},
		{sink.GitHub{Repository: "acme/api", Environment: "prod", KeyIDName: "DEPLOY_{{user}}_KEY_ID", SecretKeyName: "DEPLOY_{{user}}_SECRET"},
			"repos/acme/api/environments/prod", [2]string{"DEPLOY_alice_KEY_ID", "DEPLOY_alice_SECRET"}},
		{sink.GitHub{Organization: "acme", Visibility: "all"}, "orgs/acme", [2]string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}},
	} {
		s := tc.sink
		s.APIURL, s.Credential = gh.URL, token
		if err := s.Stage(ctx, k); err != nil {
			t.Fatalf("%s: stage: %v", tc.path, err)
		}
		if tgt, _, _ := gh.Target(tc.path); len(tgt.Secrets) != 0 {
			t.Fatalf("%s: Stage wrote secrets", tc.path)
		}
		if err := s.Promote(ctx, k); err != nil {
			t.Fatalf("%s: promote: %v", tc.path, err)
		}
		if got := opened(t, gh, tc.path, tc.names[0]); got != "AKIAFIRSTFIRSTFIRST1" {
			t.Errorf("%s: %s opens to %q", tc.path, tc.names[0], got)
		}
		if got := opened(t, gh, tc.path, tc.names[1]); got != "first-secret" {
			t.Errorf("%s: %s opens to the wrong value", tc.path, tc.names[1])
		}
		if loc := s.Location(k); strings.Contains(loc, "first-secret") || !strings.Contains(loc, tc.names[0]) {
			t.Errorf("location %q", loc)
		}
	}
	if tgt, _, _ := gh.Target("orgs/acme"); tgt.Secrets["AWS_ACCESS_KEY_ID"].Visibility != "all" {
		t.Errorf("organization secret visibility: %+v", tgt.Secrets)
	}

	// The next key replaces the values, encrypted with the collection's current key (GitHub
	// rotates them: the sink fetches it on every write).
	gh.RotateKey("repos/acme/api")
	s := sink.GitHub{APIURL: gh.URL, Repository: "acme/api", Credential: token}
	k2 := newKey("AKIASECONDSECONDSEC2", "second-secret")
	if err := s.Promote(ctx, k2); err != nil {
		t.Fatal(err)
	}
	if got := opened(t, gh, "repos/acme/api", "AWS_SECRET_ACCESS_KEY"); got != "second-secret" {
		t.Errorf("after the second key the secret opens to the wrong value")
	}
}

func TestGitHubSinkRefusalsNameTheTargetNeverTheSecret(t *testing.T) {
	ctx := context.Background()
	gh := awssimtest.StartGitHub(t, "ghp_token")
	gh.AddRepository("acme/api")
	k := newKey("AKIAFIRSTFIRSTFIRST1", "first-secret")
	bad := sink.GitHub{APIURL: gh.URL, Repository: "acme/api", Credential: func(context.Context) (secret.Value, error) { return secret.New("ghp_wrong"), nil }}
	err := bad.Stage(ctx, k)
	var ge *sink.GitHubError
	if !errors.As(err, &ge) || ge.Status != 401 || !strings.Contains(err.Error(), "acme/api") {
		t.Fatalf("bad token: %v", err)
	}
	missing := sink.GitHub{APIURL: gh.URL, Repository: "acme/nope", Credential: func(context.Context) (secret.Value, error) { return secret.New("ghp_token"), nil }}
	if err := missing.Stage(ctx, k); !errors.As(err, &ge) || ge.Status != 404 {
		t.Fatalf("unknown repository: %v", err)
	}
	reserved := sink.GitHub{APIURL: gh.URL, Repository: "acme/api", KeyIDName: "GITHUB_KEY", Credential: func(context.Context) (secret.Value, error) { return secret.New("ghp_token"), nil }}
	err = reserved.Promote(ctx, k)
	if !errors.As(err, &ge) || ge.Status != 422 {
		t.Fatalf("reserved name: %v", err)
	}
	for _, e := range []error{err, bad.Stage(ctx, k)} {
		if strings.Contains(e.Error(), "first-secret") || strings.Contains(e.Error(), "ghp_") {
			t.Fatalf("an error carries a secret: %v", e)
		}
	}
	noCred := sink.GitHub{APIURL: gh.URL, Repository: "acme/api", Credential: func(context.Context) (secret.Value, error) { return secret.Value{}, errors.New("AccessDenied") }}
	if err := noCred.Stage(ctx, k); err == nil || !strings.Contains(err.Error(), "credential") {
		t.Fatalf("credential failure: %v", err)
	}
}

func TestGitHubCredentialFormats(t *testing.T) {
	ctx := context.Background()
	gh := awssimtest.StartGitHub(t, "ghp_plain", "ghp_json")
	gh.AddRepository("acme/api")
	now := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	gh.SetClock(func() time.Time { return now })
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	gh.AddApp("12345", "67890", &key.PublicKey)
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	app, _ := json.Marshal(map[string]any{"app_id": 12345, "installation_id": "67890", "private_key": pemKey})
	k := newKey("AKIAFIRSTFIRSTFIRST1", "first-secret")
	for _, raw := range []string{"ghp_plain\n", `{"token": "ghp_json"}`, string(app)} {
		cred, err := sink.ParseGitHubCredential(secret.New(raw), gh.URL, nil, func() time.Time { return now })
		if err != nil {
			t.Fatal(err)
		}
		s := sink.GitHub{APIURL: gh.URL, Repository: "acme/api", Credential: cred}
		if err := s.Promote(ctx, k); err != nil {
			t.Fatalf("credential %.12q: %v", raw, err)
		}
	}
	if got := opened(t, gh, "repos/acme/api", "AWS_ACCESS_KEY_ID"); got != "AKIAFIRSTFIRSTFIRST1" {
		t.Fatalf("opens to %q", got)
	}
	// An App JWT signed by another key is refused.
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	wrong, _ := json.Marshal(map[string]any{"app_id": "12345", "installation_id": "67890",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(other)}))})
	cred, _ := sink.ParseGitHubCredential(secret.New(string(wrong)), gh.URL, nil, func() time.Time { return now })
	if _, err := cred(ctx); err == nil {
		t.Fatal("a JWT signed by another key must be refused")
	}
	for _, raw := range []string{"", `{"app_id": 1}`, `["x"]`} {
		if _, err := sink.ParseGitHubCredential(secret.New(raw), gh.URL, nil, nil); err == nil || strings.Contains(err.Error(), "app_id\": 1") {
			t.Errorf("credential %q: %v", raw, err)
		}
	}
}

// The github sink's fields through the configuration: defaults, and problems with their line and
// field, never repeating a token.
func TestGitHubSinkConfiguration(t *testing.T) {
	cfg, err := config.Parse("k.yaml", []byte(`
delivery:
  - type: secretsmanager
  - type: github
    repository: acme/{{user}}
    environment: prod
    token_secret: keycycle/github-token
  - type: github
    organization: acme
    access_key_id_name: CI_{{user}}_KEY_ID
    secret_access_key_name: CI_{{user}}_SECRET
    token_secret: arn:aws:secretsmanager:eu-west-1:123456789012:secret:gh-app-AbCdEf
    api_url: https://github.example.com/api/v3
    required: false
`))
	if err != nil {
		t.Fatal(err)
	}
	repo, org := cfg.Delivery.Sinks[1], cfg.Delivery.Sinks[2]
	rs, os := repo.Settings.(*sink.GitHubConfig), org.Settings.(*sink.GitHubConfig)
	if repo.Name != "github" || rs.KeyIDName != "AWS_ACCESS_KEY_ID" || rs.SecretKeyName != "AWS_SECRET_ACCESS_KEY" || rs.APIURL != "https://api.github.com" || !repo.Required {
		t.Errorf("repository sink defaults: %+v", repo)
	}
	if org.Name != "github-2" || os.Visibility != "private" || org.Required {
		t.Errorf("organization sink: %+v", org)
	}

	_, err = config.Parse("k.yaml", []byte(`
delivery:
  - type: secretsmanager
  - type: github
    repository: acme
    token: ghp_abc
  - type: github
    repository: acme/api
    organization: acme
    visibility: secret
    access_key_id_name: GITHUB_KEY
    token_secret: "not a secret name"
  - type: github
    organization: acme
    environment: prod
    access_key_id_name: SAME
    secret_access_key_name: SAME
    token_secret: t
    api_url: http://github.example.com
`))
	text := fmt.Sprint(err)
	for _, want := range []string{
		`k.yaml:5: delivery[1].repository: "acme" is not owner/name`,
		`k.yaml:6: delivery[1].token: unknown field "token"`,
		`delivery[1]: a github sink needs token_secret`,
		`k.yaml:9: delivery[2].organization: repository and organization exclude each other`,
		`k.yaml:10: delivery[2].visibility: visibility "secret": want all or private`,
		`k.yaml:11: delivery[2].access_key_id_name: "GITHUB_KEY": a GitHub secret name`,
		`k.yaml:12: delivery[2].token_secret: "not a secret name" is not a Secrets Manager secret name or ARN`,
		`delivery[3].environment: environment applies to a repository`,
		`delivery[3].secret_access_key_name: access_key_id_name and secret_access_key_name must differ`,
		`delivery[3].api_url: the URL must be https`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("problems lack %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "ghp_abc") {
		t.Errorf("a problem repeats the token: %s", text)
	}
}
