package awssim

import (
	"crypto"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
)

// GitHub is a stand-in for the part of GitHub's REST API keycycle's github sink calls: an
// Actions secrets collection's public key and the PUT of a secret, for repositories, repository
// environments and organizations (docs.github.com, "REST API endpoints for GitHub Actions
// secrets"), plus a GitHub App installation token exchange. Each collection has a real Curve25519
// key pair, so what is stored is what GitHub would store: a sealed box only its private key opens.
//
// As GitHub: requests without a known bearer token get 401 "Bad credentials"; an unknown
// repository, environment or organization 404 "Not Found"; a PUT whose key_id is not the
// collection's current one, or whose encrypted_value is not a base64 sealed box, 422; a created
// secret 201, an updated one 204. Secret names follow GitHub's rules (letters, digits, _; not
// starting with a digit or GITHUB_).
type GitHub struct {
	mu      sync.Mutex
	tokens  map[string]bool
	targets map[string]*GitHubTarget
	apps    map[string]*gitHubApp
	calls   []string
	now     func() time.Time
}

// GitHubTarget is one secrets collection ("repos/<owner>/<repo>", "repos/<owner>/<repo>/environments/<env>",
// "orgs/<org>") with its key pair and what was stored.
type GitHubTarget struct {
	KeyID   string
	private *ecdh.PrivateKey
	// Secrets maps a secret name to what was PUT.
	Secrets map[string]GitHubSecret
}

// GitHubSecret is a stored secret as GitHub keeps it: the sealed box, never the value.
type GitHubSecret struct {
	EncryptedValue string // base64
	KeyID          string
	Visibility     string
	Updated        int // times written
}

type gitHubApp struct {
	installation string
	key          *rsa.PublicKey
}

// NewGitHub returns a GitHub stand-in accepting the given tokens.
func NewGitHub(tokens ...string) *GitHub {
	g := &GitHub{tokens: map[string]bool{}, targets: map[string]*GitHubTarget{}, apps: map[string]*gitHubApp{}, now: time.Now}
	for _, t := range tokens {
		g.tokens[t] = true
	}
	return g
}

// SetClock makes the stand-in judge App JWT expiry by now (the sandbox clock in tests).
func (g *GitHub) SetClock(now func() time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.now = now
}

// AddRepository, AddEnvironment and AddOrganization create secrets collections.
func (g *GitHub) AddRepository(ownerRepo string) { g.add("repos/" + ownerRepo) }

// AddEnvironment adds a deployment environment to a repository.
func (g *GitHub) AddEnvironment(ownerRepo, env string) {
	g.add("repos/" + ownerRepo + "/environments/" + env)
}

// AddOrganization adds an organization.
func (g *GitHub) AddOrganization(org string) { g.add("orgs/" + org) }

// AddApp registers a GitHub App installation whose JWTs are signed by key.
func (g *GitHub) AddApp(appID, installationID string, key *rsa.PublicKey) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.apps[appID] = &gitHubApp{installation: installationID, key: key}
}

func (g *GitHub) add(path string) {
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(priv.PublicKey().Bytes())
	g.mu.Lock()
	defer g.mu.Unlock()
	g.targets[path] = &GitHubTarget{KeyID: fmt.Sprintf("%x", sum[:8]), private: priv, Secrets: map[string]GitHubSecret{}}
}

// Target returns a copy of a collection's state and its private key (32 bytes), for a test to
// open the sealed boxes.
func (g *GitHub) Target(path string) (GitHubTarget, []byte, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	t, ok := g.targets[path]
	if !ok {
		return GitHubTarget{}, nil, false
	}
	c := GitHubTarget{KeyID: t.KeyID, Secrets: map[string]GitHubSecret{}}
	for k, v := range t.Secrets {
		c.Secrets[k] = v
	}
	return c, t.private.Bytes(), true
}

// RotateKey gives a collection a new key pair (GitHub rotates them): a PUT with the old key_id fails.
func (g *GitHub) RotateKey(path string) {
	g.mu.Lock()
	old := g.targets[path]
	g.mu.Unlock()
	g.add(path)
	g.mu.Lock()
	defer g.mu.Unlock()
	if old != nil {
		g.targets[path].Secrets = old.Secrets
	}
}

// Calls lists the requests served ("GET /repos/a/b/actions/secrets/public-key"), oldest first.
func (g *GitHub) Calls() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.calls...)
}

var (
	ghSecretNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	ghRepoPathRE   = regexp.MustCompile(`^/repos/([^/]+)/([^/]+)/(actions/secrets|environments/([^/]+)/secrets)/([^/]+)$`)
	ghOrgPathRE    = regexp.MustCompile(`^/orgs/([^/]+)/actions/secrets/([^/]+)$`)
	ghInstallRE    = regexp.MustCompile(`^/app/installations/([^/]+)/access_tokens$`)
)

func ghWrite(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

func ghFail(w http.ResponseWriter, status int, msg string) {
	ghWrite(w, status, map[string]string{"message": msg, "documentation_url": "https://docs.github.com/rest"})
}

// ServeHTTP serves the API.
func (g *GitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.calls = append(g.calls, r.Method+" "+r.URL.Path)
	g.mu.Unlock()
	auth, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if m := ghInstallRE.FindStringSubmatch(r.URL.Path); m != nil && r.Method == http.MethodPost {
		g.installationToken(w, auth, m[1])
		return
	}
	g.mu.Lock()
	known := g.tokens[auth]
	g.mu.Unlock()
	if !known {
		ghFail(w, http.StatusUnauthorized, "Bad credentials")
		return
	}
	var path, name string
	if m := ghRepoPathRE.FindStringSubmatch(r.URL.Path); m != nil {
		path, name = "repos/"+m[1]+"/"+m[2], m[5]
		if m[4] != "" {
			path += "/environments/" + m[4]
		}
	} else if m := ghOrgPathRE.FindStringSubmatch(r.URL.Path); m != nil {
		path, name = "orgs/"+m[1], m[2]
	} else {
		ghFail(w, http.StatusNotFound, "Not Found")
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	t, ok := g.targets[path]
	if !ok {
		ghFail(w, http.StatusNotFound, "Not Found")
		return
	}
	switch {
	case name == "public-key" && r.Method == http.MethodGet:
		ghWrite(w, http.StatusOK, map[string]string{"key_id": t.KeyID, "key": base64.StdEncoding.EncodeToString(t.private.PublicKey().Bytes())})
	case r.Method == http.MethodPut:
		if !ghSecretNameRE.MatchString(name) || strings.HasPrefix(strings.ToUpper(name), "GITHUB_") {
			ghFail(w, http.StatusUnprocessableEntity, "Secret names can only contain alphanumeric characters ([a-z], [A-Z], [0-9]) or underscores (_), must not start with a number or GITHUB_.")
			return
		}
		var in struct {
			EncryptedValue string `json:"encrypted_value"`
			KeyID          string `json:"key_id"`
			Visibility     string `json:"visibility"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			ghFail(w, http.StatusBadRequest, "Problems parsing JSON")
			return
		}
		if in.KeyID != t.KeyID {
			ghFail(w, http.StatusUnprocessableEntity, "Invalid key_id: it is not the current public key of this repository")
			return
		}
		if b, err := base64.StdEncoding.DecodeString(in.EncryptedValue); err != nil || len(b) < 48 {
			ghFail(w, http.StatusUnprocessableEntity, "encrypted_value is not a base64 sealed box")
			return
		}
		if strings.HasPrefix(path, "orgs/") {
			switch in.Visibility {
			case "all", "private":
			default:
				ghFail(w, http.StatusUnprocessableEntity, "visibility must be all, private or selected")
				return
			}
		}
		prev, existed := t.Secrets[name]
		t.Secrets[name] = GitHubSecret{EncryptedValue: in.EncryptedValue, KeyID: in.KeyID, Visibility: in.Visibility, Updated: prev.Updated + 1}
		if existed {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		ghWrite(w, http.StatusCreated, map[string]any{})
	default:
		ghFail(w, http.StatusNotFound, "Not Found")
	}
}

// installationToken checks a GitHub App JWT (RS256, iss the app id, not expired by the
// stand-in's clock) and issues an installation token accepted from then on.
func (g *GitHub) installationToken(w http.ResponseWriter, jwt, installation string) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		ghFail(w, http.StatusUnauthorized, "A JSON web token could not be decoded")
		return
	}
	enc := base64.RawURLEncoding
	claimsRaw, err1 := enc.DecodeString(parts[1])
	sig, err2 := enc.DecodeString(parts[2])
	var claims struct {
		Iss any   `json:"iss"`
		Exp int64 `json:"exp"`
	}
	if err1 != nil || err2 != nil || json.Unmarshal(claimsRaw, &claims) != nil {
		ghFail(w, http.StatusUnauthorized, "A JSON web token could not be decoded")
		return
	}
	g.mu.Lock()
	app := g.apps[fmt.Sprint(claims.Iss)]
	g.mu.Unlock()
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if app == nil || rsa.VerifyPKCS1v15(app.key, crypto.SHA256, sum[:], sig) != nil {
		ghFail(w, http.StatusUnauthorized, "'Issuer' claim ('iss') must be an Integer")
		return
	}
	if claims.Exp < g.now().Unix() {
		ghFail(w, http.StatusUnauthorized, "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires")
		return
	}
	if app.installation != installation {
		ghFail(w, http.StatusNotFound, "Not Found")
		return
	}
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	token := "ghs_" + base64.RawURLEncoding.EncodeToString(b)
	g.mu.Lock()
	g.tokens[token] = true
	g.mu.Unlock()
	ghWrite(w, http.StatusCreated, map[string]any{"token": token, "expires_at": g.now().Add(time.Hour).UTC().Format(time.RFC3339)})
}
