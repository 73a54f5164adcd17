package sink

import (
	"testing"

	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/secret"
	"github.com/keycycle/keycycle/internal/sinkname"
)

// Every sink type the configuration knows builds a sink of that kind, named as configured; later
// sinks see the first one's location.
func TestEveryConfiguredTypeBuilds(t *testing.T) {
	settings := map[sinkname.Kind]config.SinkSettings{
		sinkname.SecretsManager: &config.SecretsManagerSink{},
		sinkname.SSM:            &config.SSMSink{Parameter: config.DefaultParameterTemplate},
		sinkname.Lambda:         &config.LambdaSink{Function: "handler"},
		sinkname.Webhook:        &config.WebhookSink{URL: "https://hooks.example.com/k", SigningSecretEnv: "K", Attempts: 1},
		sinkname.Email:          &config.EmailSink{From: "k@example.com", OwnerTag: "owner", RecipientTag: config.DefaultRecipientTag},
		sinkname.GitHub:         &config.GitHubSink{Repository: "o/r", TokenSecret: "t", APIURL: "https://api.github.com"},
	}
	env := &Env{Secret: config.Secret{NameTemplate: config.DefaultSecretTemplate},
		LookupEnv: func(name string) (string, bool) { return "key", name == "K" }}
	first := config.Sink{Name: "primary", Required: true, Settings: &config.SecretsManagerSink{}}
	if _, err := env.Build(first); err != nil {
		t.Fatal(err)
	}
	k := secret.AccessKey{AccountID: "111122223333", UserName: "alice"}
	if got := env.Stored(k); got != "keycycle/111122223333/alice" {
		t.Errorf("stored at %q", got)
	}
	for _, kind := range config.SinkKinds() {
		st, ok := settings[kind]
		if !ok {
			t.Errorf("no test settings for sink type %s", kind)
			continue
		}
		s, err := env.Build(config.Sink{Name: "n-" + string(kind), Settings: st})
		if err != nil {
			t.Errorf("%s: %v", kind, err)
			continue
		}
		if s.Kind() != kind || s.Name() != "n-"+string(kind) {
			t.Errorf("%s: built %T named %q of kind %s", kind, s, s.Name(), s.Kind())
		}
	}
	if _, err := env.Build(config.Sink{Name: "w", Settings: &config.WebhookSink{SigningSecretEnv: "UNSET"}}); err == nil {
		t.Error("a webhook without its signing key built")
	}
}
