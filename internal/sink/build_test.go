package sink

import (
	"strings"
	"testing"

	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/secret"
	"github.com/keycycle/keycycle/internal/sinkname"
)

// Every registered sink type builds a sink of its kind from its settings, named as configured,
// without being listed here; later sinks see the first one's location.
func TestEveryConfiguredTypeBuilds(t *testing.T) {
	env := &Env{Secret: config.Secret{NameTemplate: config.DefaultSecretTemplate},
		LookupEnv: func(name string) (string, bool) { return "key", name != "UNSET" }}
	first := config.Sink{Name: "primary", Required: true, Settings: &SecretsManagerConfig{}}
	if _, err := env.Build(first); err != nil {
		t.Fatal(err)
	}
	k := secret.AccessKey{AccountID: "111122223333", UserName: "alice"}
	if got := env.Stored(k); got != "keycycle/111122223333/alice" {
		t.Errorf("stored at %q", got)
	}
	kinds := config.SinkKinds()
	if len(kinds) < 6 {
		t.Fatalf("sink types %v", kinds)
	}
	for _, kind := range kinds {
		st, _ := config.NewSinkSettings(kind)
		s, err := env.Build(config.Sink{Name: "n-" + string(kind), Settings: st})
		if err != nil {
			t.Errorf("%s: %v", kind, err)
			continue
		}
		if s.Kind() != kind || s.Name() != "n-"+string(kind) || kind.Service() == "" {
			t.Errorf("%s: built %T named %q of kind %s (%q)", kind, s, s.Name(), s.Kind(), kind.Service())
		}
	}
	if _, err := env.Build(config.Sink{Name: "w", Settings: &WebhookConfig{SigningSecretEnv: "UNSET"}}); err == nil {
		t.Error("a webhook without its signing key built")
	}
	// Settings of one type given to the builder of another are refused, not a panic.
	if _, err := env.Build(config.Sink{Name: "x", Settings: mislabelled{}}); err == nil || !strings.Contains(err.Error(), "not of type ssm") {
		t.Errorf("mislabelled settings: %v", err)
	}
}

// mislabelled says it is of kind ssm but is no *SSMConfig.
type mislabelled struct{}

func (mislabelled) Kind() sinkname.Kind                    { return sinkname.SSM }
func (mislabelled) Check(*config.SinkCheck)                {}
func (mislabelled) Access(config.Secret) config.SinkAccess { return config.SinkAccess{} }
