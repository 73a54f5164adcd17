package sink

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"golang.org/x/crypto/nacl/box"

	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/secret"
	"github.com/keycycle/keycycle/internal/sinkname"
)

// GitHubAPI is GitHub's REST API root (GitHub Enterprise Server: https://<host>/api/v3).
const GitHubAPI = "https://api.github.com"

// Default names of the two Actions secrets a key is written as.
const (
	DefaultGitHubKeyIDName     = "AWS_ACCESS_KEY_ID"
	DefaultGitHubSecretKeyName = "AWS_SECRET_ACCESS_KEY"
)

// GitHub writes each new key as two GitHub Actions secrets (the key id and the secret access
// key) of a repository, a repository environment or an organization. Each value is encrypted
// with the target's public key in libsodium's sealed-box format, as GitHub requires, and PUT;
// GitHub never gives a secret's value back.
//
// Phases: Stage obtains a credential and fetches the target's public key (the token works, the
// target exists, nothing is written); Promote encrypts and PUTs both secrets; Abort, when this
// process wrote them, has nothing to restore (GitHub cannot return the previous values): the
// rollback deletes the key they carry, the report says the sink's delivery was revoked, and the
// user stays due, so the next run writes a working key. Put the sink last in its list.
//
// Repository, Environment, Organization and both names may hold {{account}} and {{user}}.
type GitHub struct {
	// APIURL is the API root; empty is GitHubAPI.
	APIURL string
	// Repository ("owner/name") or Organization names the target; Environment, with Repository,
	// selects a deployment environment's secrets.
	Repository, Environment, Organization string
	// Visibility of organization secrets: "all" or "private" (default).
	Visibility string
	// KeyIDName and SecretKeyName name the secrets (defaults AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).
	KeyIDName, SecretKeyName string
	// Credential returns the bearer token (a token, or a GitHub App installation token); it is
	// read from Secrets Manager by the caller, never from the configuration file.
	Credential func(ctx context.Context) (secret.Value, error)
	// Client sends the requests; nil uses a client with a 10s timeout. Redirects are not followed.
	Client *http.Client
	// SinkName names the sink in reports and records; empty is "github".
	SinkName string
}

var _ interface {
	Name() string
	Location(secret.AccessKey) string
	Stage(context.Context, secret.AccessKey) error
	Promote(context.Context, secret.AccessKey) error
	Abort(context.Context, secret.AccessKey) error
} = (*GitHub)(nil)

// Name identifies the sink.
func (g *GitHub) Name() string {
	if g.SinkName != "" {
		return g.SinkName
	}
	return "github"
}

// Location names the target and the secrets, e.g. "github:acme/api (env prod): AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY".
func (g *GitHub) Location(k secret.AccessKey) string {
	id, sec := g.names(k)
	return "github:" + g.target(k) + ": " + id + ", " + sec
}

func (g *GitHub) fill(t string, k secret.AccessKey) string {
	return strings.NewReplacer("{{account}}", k.AccountID, "{{user}}", k.UserName).Replace(t)
}

func (g *GitHub) target(k secret.AccessKey) string {
	switch {
	case g.Organization != "":
		return "org " + g.fill(g.Organization, k)
	case g.Environment != "":
		return g.fill(g.Repository, k) + " (environment " + g.fill(g.Environment, k) + ")"
	}
	return g.fill(g.Repository, k)
}

func (g *GitHub) names(k secret.AccessKey) (string, string) {
	id, sec := g.KeyIDName, g.SecretKeyName
	if id == "" {
		id = DefaultGitHubKeyIDName
	}
	if sec == "" {
		sec = DefaultGitHubSecretKeyName
	}
	return g.fill(id, k), g.fill(sec, k)
}

// base is the target's secrets collection: .../actions/secrets or .../environments/<env>/secrets.
func (g *GitHub) base(k secret.AccessKey) string {
	root := strings.TrimSuffix(g.APIURL, "/")
	if root == "" {
		root = GitHubAPI
	}
	switch {
	case g.Organization != "":
		return root + "/orgs/" + url.PathEscape(g.fill(g.Organization, k)) + "/actions/secrets"
	case g.Environment != "":
		owner, repo, _ := strings.Cut(g.fill(g.Repository, k), "/")
		return root + "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(repo) + "/environments/" + url.PathEscape(g.fill(g.Environment, k)) + "/secrets"
	}
	owner, repo, _ := strings.Cut(g.fill(g.Repository, k), "/")
	return root + "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(repo) + "/actions/secrets"
}

// githubPublicKey is the answer of GET .../secrets/public-key.
type githubPublicKey struct {
	KeyID string `json:"key_id"`
	Key   string `json:"key"`
}

// Stage checks the credential and the target by fetching its public key.
func (g *GitHub) Stage(ctx context.Context, k secret.AccessKey) error {
	token, err := g.token(ctx, k)
	if err != nil {
		return err
	}
	_, _, err = g.publicKey(ctx, k, token)
	return err
}

// Promote encrypts both values with the target's public key and PUTs them.
func (g *GitHub) Promote(ctx context.Context, k secret.AccessKey) error {
	token, err := g.token(ctx, k)
	if err != nil {
		return err
	}
	keyID, pub, err := g.publicKey(ctx, k, token)
	if err != nil {
		return err
	}
	idName, secName := g.names(k)
	for _, s := range []struct{ name, value string }{{idName, k.KeyID.Raw()}, {secName, k.Secret.Reveal()}} {
		sealed, err := box.SealAnonymous(nil, []byte(s.value), pub, rand.Reader)
		if err != nil {
			return fmt.Errorf("github %s: encrypt %s for key %s: %w", g.target(k), s.name, k.KeyID, err)
		}
		body := map[string]any{"encrypted_value": base64.StdEncoding.EncodeToString(sealed), "key_id": keyID}
		if g.Organization != "" {
			v := g.Visibility
			if v == "" {
				v = "private"
			}
			body["visibility"] = v
		}
		if err := g.do(ctx, http.MethodPut, g.base(k)+"/"+url.PathEscape(s.name), token, body, nil); err != nil {
			return fmt.Errorf("github %s: write secret %s for key %s: %w", g.target(k), s.name, k.KeyID, err)
		}
	}
	return nil
}

// Abort has nothing to undo: GitHub cannot give the previous values back (see GitHub).
func (g *GitHub) Abort(context.Context, secret.AccessKey) error { return nil }

func (g *GitHub) token(ctx context.Context, k secret.AccessKey) (secret.Value, error) {
	return sinkToken(ctx, g.Credential, "github "+g.target(k), "credential")
}

func (g *GitHub) publicKey(ctx context.Context, k secret.AccessKey, token secret.Value) (string, *[32]byte, error) {
	var pk githubPublicKey
	if err := g.do(ctx, http.MethodGet, g.base(k)+"/public-key", token, nil, &pk); err != nil {
		return "", nil, fmt.Errorf("github %s: public key: %w", g.target(k), err)
	}
	raw, err := base64.StdEncoding.DecodeString(pk.Key)
	if err != nil || len(raw) != 32 || pk.KeyID == "" {
		return "", nil, fmt.Errorf("github %s: the public key is not a base64 Curve25519 key with a key_id", g.target(k))
	}
	var pub [32]byte
	copy(pub[:], raw)
	return pk.KeyID, &pub, nil
}

// GitHubError is a refusal from GitHub: the status and GitHub's message (which never holds the
// token or a secret value: GitHub does not echo them).
type GitHubError struct {
	Status  int
	Message string
}

func (e *GitHubError) Error() string {
	return fmt.Sprintf("GitHub answered %d: %s", e.Status, e.Message)
}

func (g *GitHub) client() *http.Client { return apiClient(g.Client) }

func (g *GitHub) do(ctx context.Context, method, u string, token secret.Value, in, out any) error {
	return githubDo(ctx, g.client(), method, u, "Bearer "+token.Reveal(), in, out)
}

func githubDo(ctx context.Context, c *http.Client, method, u, auth string, in, out any) error {
	h := http.Header{}
	h.Set("Accept", "application/vnd.github+json")
	h.Set("X-GitHub-Api-Version", "2022-11-28")
	h.Set("Authorization", auth)
	h.Set("User-Agent", "keycycle")
	return callJSON(ctx, c, method, u, h, in, out, func(status int, body []byte) error {
		var m struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(body, &m)
		return &GitHubError{Status: status, Message: m.Message}
	})
}

// GitHubApp is a GitHub App installation: its token is obtained with a JWT signed by the app's
// private key (RS256), valid ten minutes, exchanged at POST /app/installations/<id>/access_tokens.
type GitHubApp struct {
	APIURL         string
	AppID          string
	InstallationID string
	PrivateKey     secret.Value // PEM, PKCS#1 or PKCS#8 RSA
	Client         *http.Client
	Now            func() time.Time
}

// Token returns an installation access token.
func (a *GitHubApp) Token(ctx context.Context) (secret.Value, error) {
	block, _ := pem.Decode([]byte(a.PrivateKey.Reveal()))
	if block == nil {
		return secret.Value{}, fmt.Errorf("github app %s: private_key is not PEM", a.AppID)
	}
	var key *rsa.PrivateKey
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		key = k
	} else if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if rk, ok := k.(*rsa.PrivateKey); ok {
			key = rk
		}
	}
	if key == nil {
		return secret.Value{}, fmt.Errorf("github app %s: private_key is not an RSA key", a.AppID)
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	t := now().Unix()
	enc := base64.RawURLEncoding
	head := enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	claims, _ := json.Marshal(map[string]any{"iat": t - 60, "exp": t + 540, "iss": a.AppID})
	signing := head + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return secret.Value{}, fmt.Errorf("github app %s: sign: %w", a.AppID, err)
	}
	root := strings.TrimSuffix(a.APIURL, "/")
	if root == "" {
		root = GitHubAPI
	}
	c := a.Client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	var out struct {
		Token string `json:"token"`
	}
	u := root + "/app/installations/" + url.PathEscape(a.InstallationID) + "/access_tokens"
	if err := githubDo(ctx, c, http.MethodPost, u, "Bearer "+signing+"."+enc.EncodeToString(sig), nil, &out); err != nil {
		return secret.Value{}, fmt.Errorf("github app %s installation %s: %w", a.AppID, a.InstallationID, err)
	}
	return secret.New(out.Token), nil
}

// ParseGitHubCredential reads the Secrets Manager value holding a GitHub credential: a token as
// plain text or {"token": "..."}, or a GitHub App as {"app_id", "installation_id", "private_key"}.
// It returns a function that yields a token.
func ParseGitHubCredential(v secret.Value, apiURL string, client *http.Client, now func() time.Time) (func(context.Context) (secret.Value, error), error) {
	raw := strings.TrimSpace(v.Reveal())
	if !strings.HasPrefix(raw, "{") {
		if raw == "" {
			return nil, errors.New("the credential secret is empty")
		}
		if strings.Trim(raw, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") != "" {
			return nil, errors.New("the credential secret is neither a token (letters, digits, _-.) nor a JSON object")
		}
		return func(context.Context) (secret.Value, error) { return secret.New(raw), nil }, nil
	}
	var f struct {
		Token          string          `json:"token"`
		AppID          json.RawMessage `json:"app_id"`
		InstallationID json.RawMessage `json:"installation_id"`
		PrivateKey     string          `json:"private_key"`
	}
	if err := json.Unmarshal([]byte(raw), &f); err != nil {
		return nil, errors.New("the credential secret is JSON but not an object with token, or app_id, installation_id and private_key")
	}
	switch {
	case f.Token != "":
		return func(context.Context) (secret.Value, error) { return secret.New(f.Token), nil }, nil
	case len(f.AppID) > 0 && len(f.InstallationID) > 0 && f.PrivateKey != "":
		app := &GitHubApp{APIURL: apiURL, AppID: strings.Trim(string(f.AppID), `"`), InstallationID: strings.Trim(string(f.InstallationID), `"`),
			PrivateKey: secret.New(f.PrivateKey), Client: client, Now: now}
		return app.Token, nil
	}
	return nil, errors.New("the credential secret has neither token nor app_id, installation_id and private_key")
}

// Kind is the kind of sink, whatever its configured name.
func (*GitHub) Kind() sinkname.Kind { return KindGitHub }

// KindGitHub is the kind of a github sink.
const KindGitHub sinkname.Kind = "github"

// GitHubConfig are the settings of a github sink: the key becomes two GitHub Actions secrets
// (KeyIDName, SecretKeyName) of Repository ("owner/name", with Environment: that environment's)
// or Organization (with Visibility); TokenSecret is the Secrets Manager secret (name or ARN)
// holding the token or GitHub App credential; APIURL is the API root (GitHub Enterprise Server).
// Templates take {{account}}, {{user}}.
type GitHubConfig struct {
	Repository    string `yaml:"repository"`
	Environment   string `yaml:"environment"`
	Organization  string `yaml:"organization"`
	Visibility    string `yaml:"visibility"`
	KeyIDName     string `yaml:"access_key_id_name"`
	SecretKeyName string `yaml:"secret_access_key_name"`
	TokenSecret   string `yaml:"token_secret"`
	APIURL        string `yaml:"api_url"`
}

// Kind is KindGitHub.
func (*GitHubConfig) Kind() sinkname.Kind { return KindGitHub }

// Access is the secret holding the token or GitHub App credential (GitHub itself is no AWS
// resource).
func (s *GitHubConfig) Access(config.Secret) config.SinkAccess {
	return config.SinkAccess{ReadSecret: s.TokenSecret}
}

var (
	githubNameRE   = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	githubSecretRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Check checks the target, the secret names, the token's secret and the API URL, and fills their
// defaults.
func (s *GitHubConfig) Check(c *config.SinkCheck) {
	lit := config.TemplateLiteral
	for _, f := range []struct{ field, value string }{{"repository", s.Repository}, {"environment", s.Environment}, {"organization", s.Organization},
		{"access_key_id_name", s.KeyIDName}, {"secret_access_key_name", s.SecretKeyName}} {
		if msg := config.CheckPlaceholders(f.value); msg != "" {
			c.Problem(msg, f.field)
		}
	}
	switch {
	case s.Repository == "" && s.Organization == "":
		c.Problem("a github sink needs repository (owner/name) or organization", "")
	case s.Repository != "" && s.Organization != "":
		c.Problem("repository and organization exclude each other", "organization")
	case s.Repository != "":
		owner, repo, ok := strings.Cut(lit(s.Repository), "/")
		if !ok || !githubNameRE.MatchString(owner) || !githubNameRE.MatchString(repo) {
			c.Problem(fmt.Sprintf("%q is not owner/name", s.Repository), "repository")
		}
	default:
		if !githubNameRE.MatchString(lit(s.Organization)) {
			c.Problem(fmt.Sprintf("%q is not an organization name", s.Organization), "organization")
		}
		if s.Environment != "" {
			c.Problem("environment applies to a repository", "environment")
		}
	}
	if s.Environment != "" && strings.ContainsAny(s.Environment, "/ ") {
		c.Problem(fmt.Sprintf("%q is not an environment name", s.Environment), "environment")
	}
	switch s.Visibility {
	case "":
		if s.Organization != "" {
			s.Visibility = "private"
		}
	case "all", "private":
		if s.Organization == "" {
			c.Problem("visibility applies to organization secrets", "visibility")
		}
	default:
		c.Problem(fmt.Sprintf("visibility %q: want all or private", s.Visibility), "visibility")
	}
	if s.KeyIDName == "" {
		s.KeyIDName = "AWS_ACCESS_KEY_ID"
	}
	if s.SecretKeyName == "" {
		s.SecretKeyName = "AWS_SECRET_ACCESS_KEY"
	}
	for _, f := range []struct{ field, value string }{{"access_key_id_name", s.KeyIDName}, {"secret_access_key_name", s.SecretKeyName}} {
		if n := lit(f.value); !githubSecretRE.MatchString(n) || strings.HasPrefix(strings.ToUpper(n), "GITHUB_") {
			c.Problem(fmt.Sprintf("%q: a GitHub secret name has letters, digits and _, starts with neither a digit nor GITHUB_", f.value), f.field)
		}
	}
	if s.KeyIDName == s.SecretKeyName {
		c.Problem("access_key_id_name and secret_access_key_name must differ", "secret_access_key_name")
	}
	if s.TokenSecret == "" {
		c.Problem("a github sink needs token_secret: the Secrets Manager secret holding the token or GitHub App credential (never the token itself)", "")
	} else if !config.ValidSecretID(s.TokenSecret) {
		c.Problem(fmt.Sprintf("%q is not a Secrets Manager secret name or ARN", s.TokenSecret), "token_secret")
	}
	if s.APIURL == "" {
		s.APIURL = "https://api.github.com"
	} else if msg := config.CheckURL(s.APIURL); msg != "" {
		c.Problem(msg, "api_url")
	}
}

func init() {
	registerType(config.SinkType{Kind: KindGitHub, About: sinkname.About{Service: "GitHub Actions secrets"},
		New: func() config.SinkSettings { return &GitHubConfig{} }},
		func(s *GitHubConfig, c config.Sink, env *Env) (Built, error) {
			return &GitHub{APIURL: s.APIURL, Repository: s.Repository, Environment: s.Environment, Organization: s.Organization,
				Visibility: s.Visibility, KeyIDName: s.KeyIDName, SecretKeyName: s.SecretKeyName, SinkName: c.Name,
				Credential: gitHubCredential(secretsManagerClient(env), s.TokenSecret, s.APIURL, env.Now)}, nil
		})
}

// gitHubCredential reads the github sink's credential from Secrets Manager when first needed and
// keeps the token it yields for the sink's life (one run).
func gitHubCredential(sm SecretsManagerAPI, secretID, apiURL string, now func() time.Time) func(context.Context) (secret.Value, error) {
	return credentialOnce(sm, secretID, func(ctx context.Context, stored secret.Value) (secret.Value, error) {
		get, err := ParseGitHubCredential(stored, apiURL, nil, now)
		if err != nil {
			return secret.Value{}, fmt.Errorf("secret %s: %w", secretID, err)
		}
		return get(ctx)
	})
}
