package sink

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/keycycle/keycycle/internal/backoff"
	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/secret"
	"github.com/keycycle/keycycle/internal/sinkname"
)

// Webhook headers.
const (
	HeaderTimestamp = "X-Keycycle-Timestamp" // Unix seconds when the body was signed
	HeaderSignature = "X-Keycycle-Signature" // "sha256=" + hex HMAC-SHA256(key, timestamp + "." + body)
	HeaderEvent     = "X-Keycycle-Event"     // the body's event
	HeaderDelivery  = "X-Keycycle-Delivery"  // "<event>:<access key id or password version>": the same for every retry, to dedupe on
)

// Webhook events.
const (
	EventRotated = "access_key_rotated"
	EventRevoked = "access_key_revoked"
)

// WebhookBody is the JSON a webhook receives (version 1). SecretAccessKey is present only when
// the sink's configuration includes the secret explicitly.
type WebhookBody struct {
	Version         int       `json:"version"`
	Event           string    `json:"event"`
	AccountID       string    `json:"account_id"`
	User            string    `json:"user"`
	AccessKeyID     string    `json:"access_key_id"`
	Created         time.Time `json:"created,omitzero"`
	Location        string    `json:"location,omitempty"`
	SecretAccessKey string    `json:"secret_access_key,omitempty"`
}

// Webhook POSTs a signed JSON body to an HTTPS endpoint for each new key.
//
// Phases: Stage only checks the configuration (nothing is sent before the key is verified);
// Promote sends access_key_rotated and requires a 2xx answer, retrying network errors, 408, 425,
// 429 and 5xx with doubling waits (honouring Retry-After) up to Attempts times; any other answer
// is a permanent refusal. Redirects are not followed: the body may carry a secret. Abort, when
// this process delivered the key, sends access_key_revoked (never with the secret): the receiver
// learns that the key it got was deleted.
//
// The signature lets the receiver check origin and freshness: HMAC-SHA256 with the shared key
// over the timestamp header, a ".", and the raw body.
type Webhook struct {
	// URL is the endpoint; it is printed without its query string.
	URL string
	// Key is the HMAC-SHA256 key shared with the receiver.
	Key secret.Value
	// IncludeSecret puts the secret access key in the body; off unless configured.
	IncludeSecret bool
	// StoredAt names where the key is stored (the primary sink's location), for the body;
	// PasswordStoredAt the same for a console password.
	StoredAt         func(k secret.AccessKey) string
	PasswordStoredAt func(p secret.Password) string
	// Attempts (default 4), Backoff (first wait, default 1s), MaxBackoff (default 30s).
	Attempts   int
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Client sends the requests; nil uses a client with a 10s timeout. Redirects are never followed.
	Client *http.Client
	// Now stamps the signature; nil is time.Now.
	Now func() time.Time
	// SinkName names the sink in reports and records; empty is "webhook".
	SinkName string

	mu   sync.Mutex
	sent map[inventory.KeyID]bool
}

// Name identifies the sink.
func (w *Webhook) Name() string {
	if w.SinkName != "" {
		return w.SinkName
	}
	return "webhook"
}

// Location is the endpoint without its query string or user information.
func (w *Webhook) Location(secret.AccessKey) string { return RedactURL(w.URL) }

// RedactURL drops the user information, query and fragment of a URL (they may carry tokens).
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// RetriesItself: the webhook applies its own retry policy.
func (w *Webhook) RetriesItself() bool { return true }

// Stage checks the configuration; nothing is sent.
func (w *Webhook) Stage(_ context.Context, k secret.AccessKey) error {
	if w.Key.IsZero() {
		return fmt.Errorf("webhook %s: no signing key", w.Location(k))
	}
	if _, err := url.Parse(w.URL); err != nil {
		return fmt.Errorf("webhook: bad URL")
	}
	return nil
}

// Promote sends the rotated event.
func (w *Webhook) Promote(ctx context.Context, k secret.AccessKey) error {
	b := WebhookBody{Version: 1, Event: EventRotated, AccountID: k.AccountID, User: k.UserName, AccessKeyID: k.KeyID.Raw(), Created: k.Created.UTC()}
	if w.StoredAt != nil {
		b.Location = w.StoredAt(k)
	}
	if w.IncludeSecret {
		b.SecretAccessKey = k.Secret.Reveal()
	}
	if err := w.send(ctx, k, b); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sent == nil {
		w.sent = map[inventory.KeyID]bool{}
	}
	w.sent[k.KeyID] = true
	return nil
}

// Abort sends the revoked event when this process delivered k.
func (w *Webhook) Abort(ctx context.Context, k secret.AccessKey) error {
	w.mu.Lock()
	sent := w.sent[k.KeyID]
	w.mu.Unlock()
	if !sent {
		return nil
	}
	return w.send(ctx, k, WebhookBody{Version: 1, Event: EventRevoked, AccountID: k.AccountID, User: k.UserName, AccessKeyID: k.KeyID.Raw()})
}

// Sign returns the signature header value of body signed at ts.
func Sign(key []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// errPermanent marks an answer that retrying will not change.
var errPermanent = errors.New("not retried")

func (w *Webhook) send(ctx context.Context, k secret.AccessKey, b WebhookBody) error {
	body, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("encode webhook body: %w", err)
	}
	return w.sendBody(ctx, b.Event, b.Event+":"+k.KeyID.Raw(), "key "+k.KeyID.String(), body)
}

// sendBody posts body with the retry policy; delivery is the X-Keycycle-Delivery header, what
// names the credential in errors.
func (w *Webhook) sendBody(ctx context.Context, event, delivery, what string, body []byte) error {
	p := backoff.Policy{Attempts: w.Attempts, Initial: w.Backoff, Max: w.MaxBackoff}.With(backoff.Policy{Attempts: 4, Initial: time.Second, Max: 30 * time.Second})
	err := p.Retry(ctx, func() (time.Duration, error) {
		after, err := w.post(ctx, event, delivery, body)
		if errors.Is(err, errPermanent) {
			return 0, backoff.Permanent(err)
		}
		return after, err
	})
	if err != nil {
		return fmt.Errorf("webhook %s, %s: %w", RedactURL(w.URL), what, err)
	}
	return nil
}

// post makes one attempt. after is the wait the receiver asked for (Retry-After), if any.
func (w *Webhook) post(ctx context.Context, event, delivery string, body []byte) (after time.Duration, err error) {
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	ts := strconv.FormatInt(now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("build request: %w", errPermanent)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "keycycle")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign([]byte(w.Key.Reveal()), ts, body))
	req.Header.Set(HeaderEvent, event)
	req.Header.Set(HeaderDelivery, delivery)
	resp, err := w.client().Do(req)
	if err != nil {
		// *url.Error repeats the whole URL; say only what failed.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, fmt.Errorf("POST failed: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // never read into an error: it may echo the body
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return 0, nil
	case c == http.StatusRequestTimeout || c == http.StatusTooEarly || c == http.StatusTooManyRequests || c >= 500:
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			after = time.Duration(s) * time.Second
		}
		return after, fmt.Errorf("answered %d", c)
	default:
		return 0, fmt.Errorf("answered %d: %w", c, errPermanent)
	}
}

func (w *Webhook) client() *http.Client {
	c := w.Client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	cp := *c
	cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cp
}

// Kind is the kind of sink, whatever its configured name.
func (*Webhook) Kind() sinkname.Kind { return KindWebhook }

// KindWebhook is the kind of a webhook sink.
const KindWebhook sinkname.Kind = "webhook"

// DefaultWebhookAttempts is how often a webhook sink posts at most, by default.
const DefaultWebhookAttempts = 4

// WebhookConfig are the settings of a webhook sink: it posts a signed JSON body to URL (https;
// http only to a loopback address); SigningSecretEnv names the environment variable holding the
// HMAC key; the body carries the secret access key only with IncludeSecret; Attempts bounds
// retries (default 4).
type WebhookConfig struct {
	URL              string `yaml:"url"`
	SigningSecretEnv string `yaml:"signing_secret_env"`
	IncludeSecret    bool   `yaml:"include_secret"`
	Attempts         int    `yaml:"attempts"`
}

// Kind is KindWebhook.
func (*WebhookConfig) Kind() sinkname.Kind { return KindWebhook }

// Access is the signing key's environment variable and the URL.
func (s *WebhookConfig) Access(config.Secret) config.SinkAccess {
	return config.SinkAccess{Env: s.SigningSecretEnv, URL: s.URL}
}

// Check checks the URL, the signing key's variable and the attempts, and fills their default.
func (s *WebhookConfig) Check(c *config.SinkCheck) {
	if msg := config.CheckURL(s.URL); msg == "is empty" {
		c.Problem("a webhook sink needs url", "url")
	} else if msg != "" {
		c.Problem(msg, "url")
	}
	if s.SigningSecretEnv == "" {
		c.Problem("a webhook sink needs signing_secret_env: the environment variable holding the HMAC-SHA256 key", "")
	} else if !config.ValidEnvName(s.SigningSecretEnv) {
		c.Problem(fmt.Sprintf("%q is not an environment variable name", s.SigningSecretEnv), "signing_secret_env")
	}
	if !c.Set("attempts") {
		s.Attempts = DefaultWebhookAttempts
	} else if s.Attempts < 1 || s.Attempts > 10 {
		c.Problem("must be 1 to 10", "attempts")
	}
}

func init() {
	registerType(config.SinkType{Kind: KindWebhook, About: sinkname.About{Service: "a webhook"},
		New: func() config.SinkSettings { return &WebhookConfig{} }},
		func(s *WebhookConfig, c config.Sink, env *Env) (Built, error) {
			key, ok := env.lookupEnv(s.SigningSecretEnv)
			if !ok || key == "" {
				return nil, fmt.Errorf("environment variable %s (the webhook's signing key) is not set", s.SigningSecretEnv)
			}
			return &Webhook{URL: s.URL, Key: secret.New(key), IncludeSecret: s.IncludeSecret, StoredAt: env.Stored,
				PasswordStoredAt: env.StoredPassword, Attempts: s.Attempts, Backoff: env.Backoff, Now: env.Now, SinkName: c.Name}, nil
		})
}
