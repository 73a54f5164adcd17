package sink_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/google/go-cmp/cmp"

	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
	"github.com/keycycle/keycycle/internal/cli"
	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/exitcode"
	"github.com/keycycle/keycycle/internal/iampolicy"
	"github.com/keycycle/keycycle/internal/secret"
	"github.com/keycycle/keycycle/internal/sink"
)

// kvModel is a Vault server with one KV version 2 engine, as Vault's API documentation describes
// it (api-docs/secret/kv/kv-v2, auth/token lookup-self):
//   - every request carries X-Vault-Token; an unknown token is 403 {"errors":["permission denied"]},
//     as is a write with a read-only token;
//   - GET <mount>/data/<path>[?version=n] is 200 {"data":{"data":{...},"metadata":{"version":n,...}}};
//     a secret or version that does not exist is 404 {"errors":[]}; a deleted or destroyed one is
//     404 with its metadata;
//   - POST/PUT <mount>/data/<path> {"options":{"cas":n},"data":{...}} adds version current+1,
//     200 {"data":{"version":...}}; with cas, a current version other than n (0: the secret must
//     not exist) is 400 {"errors":["check-and-set parameter did not match the current version"]};
//   - GET <mount>/metadata/<path> is 200 {"data":{"current_version":n,"versions":{...}}}, 404 when
//     the secret does not exist;
//   - POST <mount>/delete/<path> {"versions":[n...]} soft-deletes those versions: 204;
//   - another mount is 404 (no handler for the route).
type kvModel struct {
	mount    string
	tokens   map[string]bool // token -> may write
	now      time.Time
	mu       sync.Mutex
	secrets  map[string]*kvSecret
	requests []string // "METHOD path" of every request
}

type kvSecret struct {
	current  int
	versions map[int]*kvVersion
}

type kvVersion struct {
	data    map[string]any
	created time.Time
	deleted bool
}

func startKV(t *testing.T, mount string, tokens map[string]bool) (*kvModel, string) {
	t.Helper()
	m := &kvModel{mount: mount, tokens: tokens, now: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC), secrets: map[string]*kvSecret{}}
	ts := httptest.NewServer(m)
	t.Cleanup(ts.Close)
	return m, ts.URL
}

func kvAnswer(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if body != nil {
		_ = json.NewEncoder(w).Encode(body)
	}
}

func kvErrors(w http.ResponseWriter, status int, errs ...string) {
	if errs == nil {
		errs = []string{}
	}
	kvAnswer(w, status, map[string]any{"errors": errs})
}

func (v *kvVersion) metadata(n int) map[string]any {
	del := ""
	if v.deleted {
		del = v.created.Add(time.Minute).Format(time.RFC3339Nano)
	}
	return map[string]any{"version": n, "created_time": v.created.Format(time.RFC3339Nano), "deletion_time": del, "destroyed": false, "custom_metadata": nil}
}

func (m *kvModel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests = append(m.requests, r.Method+" "+r.URL.Path)
	canWrite, known := m.tokens[r.Header.Get("X-Vault-Token")]
	if !known {
		kvErrors(w, http.StatusForbidden, "permission denied")
		return
	}
	if r.URL.Path == "/v1/auth/token/lookup-self" && r.Method == http.MethodGet {
		kvAnswer(w, http.StatusOK, map[string]any{"data": map[string]any{"policies": []string{"default", "keycycle"}, "ttl": 3600}})
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1/"+m.mount+"/")
	what, path, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || path == "" {
		kvErrors(w, http.StatusNotFound, fmt.Sprintf("no handler for route %q. route entry not found.", strings.TrimPrefix(r.URL.Path, "/v1/")))
		return
	}
	s := m.secrets[path]
	switch {
	case what == "data" && r.Method == http.MethodGet:
		if s == nil {
			kvErrors(w, http.StatusNotFound)
			return
		}
		n := s.current
		if q := r.URL.Query().Get("version"); q != "" {
			n, _ = strconv.Atoi(q)
		}
		v := s.versions[n]
		if v == nil {
			kvErrors(w, http.StatusNotFound)
			return
		}
		if v.deleted {
			kvAnswer(w, http.StatusNotFound, map[string]any{"data": map[string]any{"data": nil, "metadata": v.metadata(n)}})
			return
		}
		kvAnswer(w, http.StatusOK, map[string]any{"data": map[string]any{"data": v.data, "metadata": v.metadata(n)}})
	case what == "data" && (r.Method == http.MethodPost || r.Method == http.MethodPut):
		if !canWrite {
			kvErrors(w, http.StatusForbidden, "permission denied")
			return
		}
		var in struct {
			Options struct {
				CAS *int `json:"cas"`
			} `json:"options"`
			Data map[string]any `json:"data"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Data == nil {
			kvErrors(w, http.StatusBadRequest, "no data provided")
			return
		}
		cur := 0
		if s != nil {
			cur = s.current
		}
		if in.Options.CAS != nil && *in.Options.CAS != cur {
			kvErrors(w, http.StatusBadRequest, "check-and-set parameter did not match the current version")
			return
		}
		if s == nil {
			s = &kvSecret{versions: map[int]*kvVersion{}}
			m.secrets[path] = s
		}
		s.current++
		m.now = m.now.Add(time.Second)
		s.versions[s.current] = &kvVersion{data: in.Data, created: m.now}
		kvAnswer(w, http.StatusOK, map[string]any{"data": s.versions[s.current].metadata(s.current)})
	case what == "metadata" && r.Method == http.MethodGet:
		if s == nil {
			kvErrors(w, http.StatusNotFound)
			return
		}
		versions := map[string]any{}
		for n, v := range s.versions {
			md := v.metadata(n)
			delete(md, "version")
			delete(md, "custom_metadata")
			versions[strconv.Itoa(n)] = md
		}
		kvAnswer(w, http.StatusOK, map[string]any{"data": map[string]any{"current_version": s.current, "oldest_version": 0,
			"max_versions": 0, "cas_required": false, "versions": versions}})
	case what == "delete" && (r.Method == http.MethodPost || r.Method == http.MethodPut):
		if !canWrite {
			kvErrors(w, http.StatusForbidden, "permission denied")
			return
		}
		var in struct {
			Versions []int `json:"versions"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || len(in.Versions) == 0 {
			kvErrors(w, http.StatusBadRequest, "no version number provided")
			return
		}
		for _, n := range in.Versions {
			if s != nil && s.versions[n] != nil {
				s.versions[n].deleted = true
			}
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		kvErrors(w, http.StatusMethodNotAllowed, "unsupported operation")
	}
}

// put writes a version as another client would.
func (m *kvModel) put(path string, data map[string]any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.secrets[path]
	if s == nil {
		s = &kvSecret{versions: map[int]*kvVersion{}}
		m.secrets[path] = s
	}
	s.current++
	s.versions[s.current] = &kvVersion{data: data, created: m.now}
}

// latest is the readable current version's fields and number; nil when none is readable.
func (m *kvModel) latest(path string) (map[string]any, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.secrets[path]
	if s == nil || s.versions[s.current] == nil || s.versions[s.current].deleted {
		return nil, 0
	}
	return s.versions[s.current].data, s.current
}

func (m *kvModel) writes() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, r := range m.requests {
		if !strings.HasPrefix(r, "GET ") {
			n++
		}
	}
	return n
}

func vaultSink(addr, token string) *sink.Vault {
	return &sink.Vault{Address: addr, Mount: "kv", Path: "keycycle/{{account}}/{{user}}",
		Token: func(context.Context) (secret.Value, error) { return secret.New(token), nil }}
}

func keyFields(k secret.AccessKey) map[string]any {
	return map[string]any{"AccessKeyId": k.KeyID.Raw(), "SecretAccessKey": k.Secret.Reveal()}
}

// A first key: Stage writes nothing, Promote creates version 1, a second Promote adds nothing,
// Abort soft-deletes it (nothing was there before).
func TestVaultSinkFirstKeyAndItsRollback(t *testing.T) {
	ctx := context.Background()
	m, addr := startKV(t, "kv", map[string]bool{"s.root": true})
	v := vaultSink(addr, "s.root")
	k := newKey("AKIAFIRSTFIRSTFIRST1", "first-secret")
	const path = "keycycle/111111111111/alice"
	if got := v.Location(k); got != "kv/"+path+" (vault "+addr+")" {
		t.Errorf("location %q", got)
	}
	if err := v.Stage(ctx, k); err != nil {
		t.Fatal(err)
	}
	if m.writes() != 0 {
		t.Fatalf("Stage wrote: %v", m.requests)
	}
	if err := v.Promote(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := v.Promote(ctx, k); err != nil {
		t.Fatal(err)
	}
	data, n := m.latest(path)
	if n != 1 || cmp.Diff(keyFields(k), data) != "" {
		t.Fatalf("after Promote: version %d %v", n, data)
	}
	if held, err := v.Holds(ctx, k); err != nil || !held {
		t.Fatalf("Holds after Promote: %v %v", held, err)
	}
	if err := v.Abort(ctx, k); err != nil {
		t.Fatal(err)
	}
	if data, _ := m.latest(path); data != nil {
		t.Fatalf("after Abort the key is still readable: %v", data)
	}
	if held, err := v.Holds(ctx, k); err != nil || held {
		t.Fatalf("Holds after Abort: %v %v", held, err)
	}
	// Abort again: nothing readable holds the key, nothing to do.
	before := m.writes()
	if err := v.Abort(ctx, k); err != nil || m.writes() != before {
		t.Fatalf("second Abort: %v, %d writes", err, m.writes()-before)
	}
}

// A later key: Promote adds a version over the previous key's; Abort writes the previous
// version back as the current one (consumers keep reading a working key).
func TestVaultSinkRestoresThePreviousVersion(t *testing.T) {
	ctx := context.Background()
	m, addr := startKV(t, "kv", map[string]bool{"s.root": true})
	const path = "keycycle/111111111111/alice"
	old := newKey("AKIAOLDOLDOLDOLDOLD1", "old-secret")
	m.put(path, keyFields(old))
	v := vaultSink(addr, "s.root")
	k := newKey("AKIASECONDSECONDSEC2", "second-secret")
	if err := v.Stage(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := v.Promote(ctx, k); err != nil {
		t.Fatal(err)
	}
	if data, n := m.latest(path); n != 2 || cmp.Diff(keyFields(k), data) != "" {
		t.Fatalf("after Promote: version %d %v", n, data)
	}
	if err := v.Abort(ctx, k); err != nil {
		t.Fatal(err)
	}
	if data, n := m.latest(path); n != 3 || cmp.Diff(keyFields(old), data) != "" {
		t.Fatalf("after Abort: version %d %v, want the old key as version 3", n, data)
	}
}

// A version written by someone else between Stage and Promote is never clobbered: check-and-set
// makes Vault refuse the write, and the error says so. Abort then leaves their version alone.
func TestVaultSinkNeverOverwritesAConcurrentWrite(t *testing.T) {
	ctx := context.Background()
	m, addr := startKV(t, "kv", map[string]bool{"s.root": true})
	const path = "keycycle/111111111111/alice"
	v := vaultSink(addr, "s.root")
	k := newKey("AKIAFIRSTFIRSTFIRST1", "first-secret")
	if err := v.Stage(ctx, k); err != nil {
		t.Fatal(err)
	}
	theirs := map[string]any{"note": "written by someone else"}
	m.put(path, theirs)
	err := v.Promote(ctx, k)
	if err == nil || !strings.Contains(err.Error(), "changed since version 0 (now version 1); not overwritten") {
		t.Fatalf("Promote over a concurrent write: %v", err)
	}
	if err := v.Abort(ctx, k); err != nil {
		t.Fatal(err)
	}
	if data, n := m.latest(path); n != 1 || cmp.Diff(theirs, data) != "" {
		t.Fatalf("their version was touched: %d %v", n, data)
	}
	// Promote without Stage refuses too.
	other := newKey("AKIAOTHEROTHEROTHER3", "other-secret")
	if err := v.Promote(ctx, other); err == nil || !strings.Contains(err.Error(), "not staged") {
		t.Fatalf("Promote without Stage: %v", err)
	}
}

// A token Vault refuses fails Stage, before anything is written, with an error naming the server
// and never the token; a read-only token fails Promote and leaves the secret as it was.
func TestVaultSinkRefusedTokens(t *testing.T) {
	ctx := context.Background()
	m, addr := startKV(t, "kv", map[string]bool{"s.reader": false})
	k := newKey("AKIAFIRSTFIRSTFIRST1", "first-secret")
	err := vaultSink(addr, "s.wrong-token").Stage(ctx, k)
	if err == nil || !strings.Contains(err.Error(), "the token does not work") || !strings.Contains(err.Error(), "403: permission denied") ||
		!strings.Contains(err.Error(), addr) || strings.Contains(err.Error(), "s.wrong-token") {
		t.Fatalf("Stage with a refused token: %v", err)
	}
	reader := vaultSink(addr, "s.reader")
	if err := reader.Stage(ctx, k); err != nil {
		t.Fatal(err)
	}
	err = reader.Promote(ctx, k)
	if err == nil || !strings.Contains(err.Error(), "403") || strings.Contains(err.Error(), "first-secret") {
		t.Fatalf("Promote with a read-only token: %v", err)
	}
	if data, _ := m.latest("keycycle/111111111111/alice"); data != nil {
		t.Fatalf("written: %v", data)
	}
	empty := vaultSink(addr, "")
	if err := empty.Stage(ctx, k); err == nil || !strings.Contains(err.Error(), "the token is empty") {
		t.Fatalf("empty token: %v", err)
	}
}

// A user name IAM allows may be "..": the sink never sends a path that climbs out of the mount.
func TestVaultSinkRefusesAPathThatClimbs(t *testing.T) {
	m, addr := startKV(t, "kv", map[string]bool{"s.root": true})
	v := vaultSink(addr, "s.root")
	k := secret.AccessKey{AccountID: "111111111111", UserName: "..", KeyID: "AKIAFIRSTFIRSTFIRST1", Secret: secret.New("s")}
	if err := v.Stage(context.Background(), k); err == nil || !strings.Contains(err.Error(), ". or .. segment") {
		t.Fatalf("Stage: %v", err)
	}
	for _, r := range m.requests {
		if strings.Contains(r, "/data/") || strings.Contains(r, "/metadata/") {
			t.Fatalf("sent %s", r)
		}
	}
}

// The vault sink through the configuration: its fields, defaults and problems, built by the
// registry, its token read from Secrets Manager (the sandbox), and `keycycle policy` granting the
// read of that secret.
func TestVaultSinkFromTheConfiguration(t *testing.T) {
	ctx := context.Background()
	m, addr := startKV(t, "secret", map[string]bool{"s.from-secrets-manager": true})
	cfg, err := config.Parse("k.yaml", []byte(`
delivery:
  - type: secretsmanager
  - type: vault
    address: `+addr+`
    token_secret: keycycle/vault-token
`))
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.Delivery.Sinks[1]
	want := &sink.VaultConfig{Address: addr, Mount: "secret", Path: "keycycle/{{account}}/{{user}}", TokenSecret: "keycycle/vault-token"}
	if got.Name != "vault" || !got.Required || cmp.Diff(config.SinkSettings(want), got.Settings) != "" {
		t.Fatalf("vault sink %+v %+v", got, got.Settings)
	}

	_, awsCfg := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, sinkScenario))
	if _, err := secretsmanager.NewFromConfig(awsCfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("keycycle/vault-token"), SecretString: aws.String(`{"token": "s.from-secrets-manager"}`)}); err != nil {
		t.Fatal(err)
	}
	env := &sink.Env{AWS: awsCfg, Secret: cfg.Secret, Passwords: cfg.Passwords}
	var built []sink.Built
	for _, c := range cfg.Delivery.Sinks {
		b, err := env.Build(c)
		if err != nil {
			t.Fatal(err)
		}
		built = append(built, b)
	}
	v, ok := built[1].(*sink.Vault)
	if !ok || v.Kind() != sink.KindVault || v.Kind().Service() == "" {
		t.Fatalf("built %T", built[1])
	}
	k := newKey("AKIAFIRSTFIRSTFIRST1", "first-secret")
	if err := v.Stage(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := v.Promote(ctx, k); err != nil {
		t.Fatal(err)
	}
	if data, n := m.latest("keycycle/111111111111/alice"); n != 1 || cmp.Diff(keyFields(k), data) != "" {
		t.Fatalf("stored %d %v", n, data)
	}

	// A JSON secret without a token is refused, naming the secret, never its content.
	if _, err := secretsmanager.NewFromConfig(awsCfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("keycycle/bad-token"), SecretString: aws.String(`{"tokn": "s.misspelt"}`)}); err != nil {
		t.Fatal(err)
	}
	bad, err := env.Build(config.Sink{Name: "bad", Settings: &sink.VaultConfig{Address: addr, Mount: "secret", Path: "p/{{user}}", TokenSecret: "keycycle/bad-token"}})
	if err != nil {
		t.Fatal(err)
	}
	err = bad.(*sink.Vault).Stage(ctx, k)
	if err == nil || !strings.Contains(err.Error(), `secret keycycle/bad-token is JSON without a "token" string`) || strings.Contains(err.Error(), "misspelt") {
		t.Fatalf("Stage with a JSON secret without token: %v", err)
	}

	d, err := iampolicy.Policy(cfg, iampolicy.Member, iampolicy.Options{Region: "eu-west-1", Account: "123456789012"})
	if err != nil {
		t.Fatal(err)
	}
	var granted bool
	for _, st := range d.Statement {
		if slicesContain(st.Action, "secretsmanager:GetSecretValue") && slicesContain(st.Resource, "arn:aws:secretsmanager:eu-west-1:123456789012:secret:keycycle/vault-token-??????") {
			granted = true
		}
	}
	if !granted {
		t.Fatalf("the policy does not grant reading the vault token's secret:\n%+v", d.Statement)
	}
}

func slicesContain(list iampolicy.Strings, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Problems of a vault entry name their line and field; a misplaced field of another type is
// refused; the unknown-type problem lists vault.
func TestVaultSinkConfigurationProblems(t *testing.T) {
	_, err := config.Parse("k.yaml", []byte(`delivery:
  - type: secretsmanager
  - type: vault
    address: http://vault.example.com:8200
    mount: /secret/
    path: apps/{{team}}/{{user}}
    token_secret: "not a secret name"
  - type: vault
    address: https://vault.example.com
    path: shared/aws
    namespace: a//b
    repository: acme/api
  - type: vault
    path: keycycle/../{{user}}
  - type: pigeon
`))
	if err == nil {
		t.Fatal("want problems")
	}
	text := err.Error()
	for _, want := range []string{
		`k.yaml:4: delivery[1].address: the URL must be https (http only to a loopback address)`,
		`k.yaml:5: delivery[1].mount: "/secret/": a Vault mount is segments`,
		`k.yaml:6: delivery[1].path: unknown placeholder {{team}} in "apps/{{team}}/{{user}}"`,
		`k.yaml:7: delivery[1].token_secret: "not a secret name" is not a Secrets Manager secret name or ARN`,
		`k.yaml:10: delivery[2].path: "shared/aws" must contain {{user}}`,
		`k.yaml:11: delivery[2].namespace: "a//b": a Vault namespace is segments`,
		`k.yaml:12: delivery[2].repository: repository does not apply to a vault sink`,
		`delivery[2]: a vault sink needs token_secret`,
		`delivery[3]: a vault sink needs address`,
		`k.yaml:14: delivery[3].path: "keycycle/../{{user}}": a Vault path has no . or .. segment`,
		`k.yaml:15: delivery[4].type: unknown sink type "pigeon": want `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("problems lack %q:\n%s", want, text)
		}
	}
	if !strings.Contains(text, ", vault or webhook") {
		t.Errorf("the unknown-type problem does not list vault:\n%s", text)
	}
	// A vault sink cannot be the primary one: it is no store keycycle reads back.
	_, err = config.Parse("k.yaml", []byte("delivery:\n  - type: vault\n    address: https://v.example.com\n    token_secret: t\n"))
	if err == nil || !strings.Contains(err.Error(), "the first sink is the primary one, which keeps the key for recovery: want secretsmanager or ssm, got vault") {
		t.Fatalf("vault as the primary sink: %v", err)
	}
}

// The whole rotation through `keycycle apply` with a vault sink after the primary one: the CLI
// knows the type with no other change. The vault secret then holds the new key that Secrets
// Manager holds; with a token Vault lets only read, the required vault sink fails, the rotation
// is rolled back (the new key deleted, the old one kept) and Vault is left as it was.
func TestVaultSinkInARotation(t *testing.T) {
	for _, tc := range []struct {
		name  string
		token string
		ok    bool
	}{{"delivered", "s.writer", true}, {"rolled back", "s.reader", false}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			m, addr := startKV(t, "secret", map[string]bool{"s.writer": true, "s.reader": false})
			const path = "keycycle/111111111111/alice"
			before := map[string]any{"note": "what the consumers read before"}
			m.put(path, before)
			sb, awsCfg := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, sinkScenario))
			sm := secretsmanager.NewFromConfig(awsCfg)
			if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("keycycle/vault-token"), SecretString: aws.String(tc.token)}); err != nil {
				t.Fatal(err)
			}
			// The previous rotation's secret, so that a rollback has a version to restore.
			old, _ := sb.Keys("111111111111", "alice")
			if len(old) != 1 {
				t.Fatalf("scenario keys %+v", old)
			}
			prev, _ := json.Marshal(map[string]string{"AccessKeyId": old[0].AccessKeyID, "SecretAccessKey": old[0].SecretAccessKey})
			if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("keycycle/111111111111/alice"), SecretString: aws.String(string(prev))}); err != nil {
				t.Fatal(err)
			}
			cred, _ := sb.OperatorCredential("111111111111")
			dir := t.TempDir()
			for k, v := range map[string]string{
				"AWS_ENDPOINT_URL": sb.URL, "AWS_ACCESS_KEY_ID": cred.AccessKeyID, "AWS_SECRET_ACCESS_KEY": cred.SecretAccessKey,
				"AWS_REGION": "us-east-1", "AWS_PROFILE": "", "AWS_SESSION_TOKEN": "", "KEYCYCLE_CONFIG": "",
				"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
			} {
				t.Setenv(k, v)
			}
			conf := filepath.Join(dir, "keycycle.yaml")
			if err := os.WriteFile(conf, []byte("delivery:\n  - type: secretsmanager\n  - type: vault\n    address: "+addr+"\n    token_secret: keycycle/vault-token\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errOut strings.Builder
			code := cli.Main(ctx, []string{"apply", "--config", conf, "--yes", "--dry-run=false", "--skip-check"}, &out, &errOut)
			keys, _ := sb.Keys("111111111111", "alice")
			data, _ := m.latest(path)
			if strings.Contains(out.String()+errOut.String(), tc.token) {
				t.Fatalf("the token is printed:\n%s\n%s", out.String(), errOut.String())
			}
			if !tc.ok {
				if code == exitcode.OK || len(keys) != 1 || keys[0].AccessKeyID != old[0].AccessKeyID || cmp.Diff(before, data) != "" ||
					!regexp.MustCompile(`vault +required failed .*Vault answered 403: permission denied`).MatchString(out.String()) {
					t.Fatalf("exit %d, keys %+v, vault %v\n%s\n%s", code, keys, data, out.String(), errOut.String())
				}
				// A refusal is not retried: one write was tried.
				if n := m.writes(); n != 1 {
					t.Fatalf("%d writes to Vault, want 1: %v", n, m.requests)
				}
				return
			}
			if code != exitcode.OK || len(keys) != 2 {
				t.Fatalf("exit %d, keys %+v\n%s\n%s", code, keys, out.String(), errOut.String())
			}
			cur, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("keycycle/111111111111/alice")})
			if err != nil {
				t.Fatal(err)
			}
			var stored map[string]any
			if err := json.Unmarshal([]byte(aws.ToString(cur.SecretString)), &stored); err != nil {
				t.Fatal(err)
			}
			if data == nil || cmp.Diff(stored, data) != "" {
				t.Fatalf("vault holds %v, Secrets Manager %v", data != nil, stored["AccessKeyId"])
			}
		})
	}
}
