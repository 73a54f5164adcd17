package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/keycycle/keycycle/internal/backoff"
	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/secret"
	"github.com/keycycle/keycycle/internal/sinkname"
)

// KindVault is the kind of a vault sink: a secret of a HashiCorp Vault KV version 2 engine.
const KindVault sinkname.Kind = "vault"

// Defaults of a vault sink.
const (
	DefaultVaultMount = "secret"
	DefaultVaultPath  = "keycycle/{{account}}/{{user}}"
)

// VaultConfig are the settings of a vault sink: the key becomes a new version of the secret at
// Path ({{account}}, {{user}}) of the KV version 2 engine mounted at Mount of the Vault server at
// Address (https; http only to a loopback address), in Namespace (Vault Enterprise) when set.
// TokenSecret is the Secrets Manager secret (name or ARN) holding the Vault token.
type VaultConfig struct {
	Address     string `yaml:"address"`
	Mount       string `yaml:"mount"`
	Path        string `yaml:"path"`
	Namespace   string `yaml:"namespace"`
	TokenSecret string `yaml:"token_secret"`
}

// Kind is KindVault.
func (*VaultConfig) Kind() sinkname.Kind { return KindVault }

// Access is the secret holding the token (Vault itself is no AWS resource).
func (s *VaultConfig) Access(config.Secret) config.SinkAccess {
	return config.SinkAccess{ReadSecret: s.TokenSecret}
}

// vaultPathRE: segments of letters, digits and the characters IAM user names may hold, between
// single slashes.
var vaultPathRE = regexp.MustCompile(`^[A-Za-z0-9_.@+=,-]+(/[A-Za-z0-9_.@+=,-]+)*$`)

// checkVaultPath returns the problem with a mount, path or namespace p (its placeholders
// replaced), "" for none; shown is p as configured.
func checkVaultPath(shown, p, what string) string {
	if !vaultPathRE.MatchString(p) {
		return fmt.Sprintf("%q: a Vault %s is segments of letters, digits and _.@+=,- between single slashes, with no leading or trailing slash", shown, what)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return fmt.Sprintf("%q: a Vault %s has no . or .. segment", shown, what)
		}
	}
	return ""
}

// Check checks the address, the mount, the path template, the namespace and the token's secret,
// and fills the defaults.
func (s *VaultConfig) Check(c *config.SinkCheck) {
	if s.Address == "" {
		c.Problem("a vault sink needs address: the Vault server's URL, such as https://vault.example.com:8200", "")
	} else if msg := config.CheckURL(s.Address); msg != "" {
		c.Problem(msg, "address")
	}
	if s.Mount == "" && !c.Set("mount") {
		s.Mount = DefaultVaultMount
	} else if msg := checkVaultPath(s.Mount, s.Mount, "mount"); msg != "" {
		c.Problem(msg, "mount")
	}
	if s.Path == "" && !c.Set("path") {
		s.Path = DefaultVaultPath
	} else if msg := config.CheckPlaceholders(s.Path); msg != "" {
		c.Problem(msg, "path")
	} else if !strings.Contains(s.Path, "{{user}}") {
		c.Problem(fmt.Sprintf("%q must contain {{user}}: otherwise users would share one secret", s.Path), "path")
	} else if msg := checkVaultPath(s.Path, config.TemplateLiteral(s.Path), "path"); msg != "" {
		c.Problem(msg, "path")
	}
	if s.Namespace != "" {
		if msg := checkVaultPath(s.Namespace, s.Namespace, "namespace"); msg != "" {
			c.Problem(msg, "namespace")
		}
	}
	if s.TokenSecret == "" {
		c.Problem("a vault sink needs token_secret: the Secrets Manager secret holding the Vault token (never the token itself)", "")
	} else if !config.ValidSecretID(s.TokenSecret) {
		c.Problem(fmt.Sprintf("%q is not a Secrets Manager secret name or ARN", s.TokenSecret), "token_secret")
	}
}

func init() {
	registerType(config.SinkType{Kind: KindVault, About: sinkname.About{Service: "a HashiCorp Vault KV secret"},
		New: func() config.SinkSettings { return &VaultConfig{} }},
		func(s *VaultConfig, c config.Sink, env *Env) (Built, error) {
			return &Vault{Address: s.Address, Mount: s.Mount, Path: s.Path, Namespace: s.Namespace, SinkName: c.Name,
				Token: vaultToken(secretsManagerClient(env), s.TokenSecret)}, nil
		})
}

// vaultToken reads the token from Secrets Manager when first needed (the secret's string is the
// token, or {"token": "..."}) and keeps it for the sink's life (one run).
func vaultToken(sm SecretsManagerAPI, secretID string) func(context.Context) (secret.Value, error) {
	return credentialOnce(sm, secretID, func(_ context.Context, stored secret.Value) (secret.Value, error) {
		raw := strings.TrimSpace(stored.Reveal())
		if strings.HasPrefix(raw, "{") {
			var v struct {
				Token string `json:"token"`
			}
			if json.Unmarshal([]byte(raw), &v) != nil || v.Token == "" {
				return secret.Value{}, fmt.Errorf("secret %s is JSON without a \"token\" string", secretID)
			}
			raw = v.Token
		}
		return secret.New(raw), nil
	})
}

// Vault keeps each new key as a new version of a KV version 2 secret holding
// {"AccessKeyId","SecretAccessKey"} (the Secrets Manager sink's JSON, as the secret's fields).
//
// Phases:
//   - Stage checks the token (auth/token/lookup-self) and remembers the secret's current version
//     (its metadata; 0 when it does not exist); nothing is written;
//   - Promote writes the key as a new version with check-and-set on the version Stage saw, so a
//     version written by someone else since is never clobbered (Vault refuses the write); it
//     does nothing when the current version already holds the key;
//   - Abort, when the current version holds the key, writes the version it replaced back as a
//     new version (check-and-set on the key's version), or soft-deletes the key's version when
//     nothing readable was there before.
//
// Holds tells whether the current version holds a key, so the executor treats the sink as a
// store (a rollback withdraws the key; no delivery record on the user), not as a push sink. It is
// no primary sink: console passwords do not go to it and the key is not read back from it.
//
// The token's policy needs read on <mount>/metadata/<path>, create and update on
// <mount>/data/<path>, read on <mount>/data/<path> and update on <mount>/delete/<path>.
type Vault struct {
	// Address is the server's URL; Mount the KV v2 engine's path; Path the secret's path
	// template ({{account}}, {{user}}); Namespace, when set, is sent as X-Vault-Namespace.
	Address, Mount, Path, Namespace string
	// Token returns the Vault token; it is read from Secrets Manager by the caller, never from
	// the configuration file.
	Token func(ctx context.Context) (secret.Value, error)
	// Client sends the requests; nil uses a client with a 10s timeout. Redirects are not followed.
	Client *http.Client
	// SinkName names the sink in reports and records; empty is "vault".
	SinkName string

	mu   sync.Mutex
	seen map[string]int // by access key id: the current version seen at Stage; 0: no secret
}

var _ interface {
	Name() string
	Kind() sinkname.Kind
	Location(secret.AccessKey) string
	Stage(context.Context, secret.AccessKey) error
	Promote(context.Context, secret.AccessKey) error
	Abort(context.Context, secret.AccessKey) error
	Holds(context.Context, secret.AccessKey) (bool, error)
} = (*Vault)(nil)

// Name identifies the sink.
func (v *Vault) Name() string {
	if v.SinkName != "" {
		return v.SinkName
	}
	return "vault"
}

// Kind is KindVault, whatever the sink's configured name.
func (*Vault) Kind() sinkname.Kind { return KindVault }

// Location names the secret: "secret/keycycle/111111111111/alice (vault https://vault.example.com:8200)".
func (v *Vault) Location(k secret.AccessKey) string {
	return v.Mount + "/" + SecretName(v.Path, k.AccountID, k.UserName) + " (vault " + RedactURL(v.Address) + ")"
}

// api is the URL of an API path below /v1/ of the mount: what is "data", "metadata" or "delete".
func (v *Vault) api(what string, k secret.AccessKey) (string, error) {
	p := SecretName(v.Path, k.AccountID, k.UserName)
	segs := strings.Split(p, "/")
	for i, s := range segs {
		// A user name may be "..": never let it climb out of the mount.
		if s == "" || s == "." || s == ".." {
			return "", fmt.Errorf("vault path %q for user %s has an empty, . or .. segment", p, k.UserName)
		}
		segs[i] = url.PathEscape(s)
	}
	return strings.TrimSuffix(v.Address, "/") + "/v1/" + v.Mount + "/" + what + "/" + strings.Join(segs, "/"), nil
}

// VaultError is a refusal from Vault: the status and Vault's errors (which never hold the token
// or a secret value: Vault does not echo them).
type VaultError struct {
	Status int
	Errors []string
}

func (e *VaultError) Error() string {
	if len(e.Errors) == 0 {
		return fmt.Sprintf("Vault answered %d", e.Status)
	}
	return fmt.Sprintf("Vault answered %d: %s", e.Status, strings.Join(e.Errors, "; "))
}

// refusal marks err backoff.Permanent when Vault refused the request in a way retrying cannot
// change (a bad token, a denied path, a lost check-and-set: 4xx); 412 (a standby not yet caught
// up), 429, 5xx (sealed, unavailable) and transport errors stay retryable.
func refusal(err error) error {
	st := vaultStatus(err)
	if st >= 400 && st < 500 && st != http.StatusPreconditionFailed && st != http.StatusTooManyRequests {
		return backoff.Permanent(err)
	}
	return err
}

func vaultStatus(err error) int {
	var ve *VaultError
	if errors.As(err, &ve) {
		return ve.Status
	}
	return 0
}

func (v *Vault) client() *http.Client { return apiClient(v.Client) }

// do sends one request with the token; a status outside 2xx is a *VaultError.
func (v *Vault) do(ctx context.Context, method, u string, token secret.Value, in, out any) error {
	h := http.Header{}
	h.Set("X-Vault-Token", token.Reveal())
	h.Set("X-Vault-Request", "true")
	if v.Namespace != "" {
		h.Set("X-Vault-Namespace", v.Namespace)
	}
	return callJSON(ctx, v.client(), method, u, h, in, out, func(status int, body []byte) error {
		var e struct {
			Errors []string `json:"errors"`
		}
		_ = json.Unmarshal(body, &e)
		return &VaultError{Status: status, Errors: e.Errors}
	})
}

func (v *Vault) token(ctx context.Context, k secret.AccessKey) (secret.Value, error) {
	return sinkToken(ctx, v.Token, "vault "+v.Location(k), "token")
}

// vaultVersion is one version of a secret as GET <mount>/data/<path> gives it.
type vaultVersion struct {
	Data struct {
		Data     map[string]any `json:"data"`
		Metadata struct {
			Version int `json:"version"`
		} `json:"metadata"`
	} `json:"data"`
}

// holds says whether the version's fields are k's key.
func (vv *vaultVersion) holds(k secret.AccessKey) bool {
	id, _ := vv.Data.Data["AccessKeyId"].(string)
	return id == k.KeyID.Raw()
}

// read returns a version of the secret (0: the current one); ok is false when it does not
// exist, is deleted or destroyed (Vault answers 404).
func (v *Vault) read(ctx context.Context, k secret.AccessKey, token secret.Value, version int) (vv vaultVersion, ok bool, err error) {
	u, err := v.api("data", k)
	if err != nil {
		return vv, false, err
	}
	if version > 0 {
		u += "?version=" + strconv.Itoa(version)
	}
	err = v.do(ctx, http.MethodGet, u, token, nil, &vv)
	if vaultStatus(err) == http.StatusNotFound {
		return vaultVersion{}, false, nil
	}
	if err != nil {
		return vv, false, fmt.Errorf("vault: read %s: %w", v.Location(k), err)
	}
	return vv, true, nil
}

// currentVersion is the secret's current version from its metadata, 0 when it does not exist.
func (v *Vault) currentVersion(ctx context.Context, k secret.AccessKey, token secret.Value) (int, error) {
	u, err := v.api("metadata", k)
	if err != nil {
		return 0, err
	}
	var md struct {
		Data struct {
			CurrentVersion int `json:"current_version"`
		} `json:"data"`
	}
	err = v.do(ctx, http.MethodGet, u, token, nil, &md)
	if vaultStatus(err) == http.StatusNotFound {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("vault: metadata of %s: %w", v.Location(k), err)
	}
	return md.Data.CurrentVersion, nil
}

// write adds a version holding fields, if the current version is still cas; a version written
// meanwhile makes Vault refuse it (400).
func (v *Vault) write(ctx context.Context, k secret.AccessKey, token secret.Value, cas int, fields map[string]any) error {
	u, err := v.api("data", k)
	if err != nil {
		return err
	}
	body := map[string]any{"options": map[string]any{"cas": cas}, "data": fields}
	if err := v.do(ctx, http.MethodPost, u, token, body, nil); err != nil {
		if vaultStatus(err) == http.StatusBadRequest {
			// Tell a lost check-and-set from another refusal by the state, not by the message.
			if now, rerr := v.currentVersion(ctx, k, token); rerr == nil && now != cas {
				return fmt.Errorf("%s changed since version %d (now version %d); not overwritten: %w", v.Location(k), cas, now, err)
			}
		}
		return err
	}
	return nil
}

// Stage checks the token and remembers the secret's current version.
func (v *Vault) Stage(ctx context.Context, k secret.AccessKey) error { return refusal(v.stage(ctx, k)) }

func (v *Vault) stage(ctx context.Context, k secret.AccessKey) error {
	token, err := v.token(ctx, k)
	if err != nil {
		return err
	}
	if err := v.do(ctx, http.MethodGet, strings.TrimSuffix(v.Address, "/")+"/v1/auth/token/lookup-self", token, nil, nil); err != nil {
		return fmt.Errorf("vault %s: the token does not work: %w", RedactURL(v.Address), err)
	}
	cur, err := v.currentVersion(ctx, k, token)
	if err != nil {
		return fmt.Errorf("stage key %s: %w", k.KeyID, err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.seen == nil {
		v.seen = map[string]int{}
	}
	v.seen[k.KeyID.Raw()] = cur
	return nil
}

// Promote writes k as the secret's new version, if the secret is still as Stage saw it.
func (v *Vault) Promote(ctx context.Context, k secret.AccessKey) error {
	return refusal(v.promote(ctx, k))
}

func (v *Vault) promote(ctx context.Context, k secret.AccessKey) error {
	token, err := v.token(ctx, k)
	if err != nil {
		return err
	}
	cur, ok, err := v.read(ctx, k, token, 0)
	if err != nil {
		return fmt.Errorf("promote key %s: %w", k.KeyID, err)
	}
	if ok && cur.holds(k) {
		return nil
	}
	v.mu.Lock()
	seen, staged := v.seen[k.KeyID.Raw()]
	v.mu.Unlock()
	if !staged {
		return fmt.Errorf("promote key %s in %s: not staged", k.KeyID, v.Location(k))
	}
	fields := map[string]any{"AccessKeyId": k.KeyID.Raw(), "SecretAccessKey": k.Secret.Reveal()}
	if err := v.write(ctx, k, token, seen, fields); err != nil {
		return fmt.Errorf("promote key %s: %w", k.KeyID, err)
	}
	return nil
}

// Abort, when the current version holds k, puts back what k replaced: the previous readable
// version written again, or nothing (k's version soft-deleted).
func (v *Vault) Abort(ctx context.Context, k secret.AccessKey) error { return refusal(v.abort(ctx, k)) }

func (v *Vault) abort(ctx context.Context, k secret.AccessKey) error {
	token, err := v.token(ctx, k)
	if err != nil {
		return err
	}
	cur, ok, err := v.read(ctx, k, token, 0)
	if err != nil {
		return fmt.Errorf("abort key %s: %w", k.KeyID, err)
	}
	if !ok || !cur.holds(k) {
		return nil
	}
	ours := cur.Data.Metadata.Version
	// The version before k's (check-and-set made it the one k replaced), skipping versions that
	// hold k too; a deleted or destroyed one means nothing readable was there.
	for p := ours - 1; p >= 1; p-- {
		prev, ok, err := v.read(ctx, k, token, p)
		if err != nil {
			return fmt.Errorf("abort key %s: %w", k.KeyID, err)
		}
		if !ok {
			break
		}
		if prev.holds(k) {
			continue
		}
		if err := v.write(ctx, k, token, ours, prev.Data.Data); err != nil {
			return fmt.Errorf("abort key %s: restore version %d: %w", k.KeyID, p, err)
		}
		return nil
	}
	u, err := v.api("delete", k)
	if err != nil {
		return err
	}
	if err := v.do(ctx, http.MethodPost, u, token, map[string]any{"versions": []int{ours}}, nil); err != nil {
		return fmt.Errorf("abort key %s: delete version %d of %s: %w", k.KeyID, ours, v.Location(k), err)
	}
	return nil
}

// Holds reports whether the secret's current version holds k's key: the sink is a store the
// executor can ask (no delivery record on the user; a rollback withdraws the key).
func (v *Vault) Holds(ctx context.Context, k secret.AccessKey) (bool, error) {
	token, err := v.token(ctx, k)
	if err != nil {
		return false, err
	}
	cur, ok, err := v.read(ctx, k, token, 0)
	return ok && cur.holds(k), err
}
