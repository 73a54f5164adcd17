package config

import (
	"fmt"

	"github.com/keycycle/keycycle/internal/sinkname"
)

// WebhookSink posts a signed JSON body to URL (https; http only to a loopback address);
// SigningSecretEnv names the environment variable holding the HMAC key; the body carries the
// secret access key only with IncludeSecret; Attempts bounds retries (default 4).
type WebhookSink struct {
	URL              string `yaml:"url"`
	SigningSecretEnv string `yaml:"signing_secret_env"`
	IncludeSecret    bool   `yaml:"include_secret"`
	Attempts         int    `yaml:"attempts"`
}

func init() {
	registerSink(sinkType{kind: sinkname.Webhook, new: func() SinkSettings { return &WebhookSink{} }})
}

// Kind is sinkname.Webhook.
func (*WebhookSink) Kind() sinkname.Kind { return sinkname.Webhook }

// Access is the signing key's environment variable and the URL.
func (s *WebhookSink) Access(Secret) SinkAccess {
	return SinkAccess{Env: s.SigningSecretEnv, URL: s.URL}
}

func (s *WebhookSink) check(c *sinkCheck) {
	if msg := checkSinkURL(s.URL); msg != "" {
		c.problem(msg, "url")
	}
	if s.SigningSecretEnv == "" {
		c.problem("a webhook sink needs signing_secret_env: the environment variable holding the HMAC-SHA256 key", "")
	} else if !envNameRE.MatchString(s.SigningSecretEnv) {
		c.problem(fmt.Sprintf("%q is not an environment variable name", s.SigningSecretEnv), "signing_secret_env")
	}
	if !c.set("attempts") {
		s.Attempts = DefaultWebhookAttempts
	} else if s.Attempts < 1 || s.Attempts > 10 {
		c.problem("must be 1 to 10", "attempts")
	}
}
