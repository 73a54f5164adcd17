package job_test

import (
	"testing"

	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/rotation"
	"github.com/keycycle/keycycle/internal/sink"
)

// What the sinks that are no primary sink offer beyond rotation.Sink: webhook and e-mail retry by
// themselves and take console passwords (Lambda's handler contract is about keys); the
// credentials file of rotate-self keeps and reads back the key.
var (
	_ rotation.Retrier      = (*sink.Webhook)(nil)
	_ rotation.Retrier      = (*sink.Email)(nil)
	_ rotation.PasswordSink = (*sink.Webhook)(nil)
	_ rotation.PasswordSink = (*sink.Email)(nil)
	_ rotation.Holder       = (*sink.CredentialsFile)(nil)
	_ rotation.Reader       = (*sink.CredentialsFile)(nil)
)

// Every sink type the configuration registers builds a rotation.Sink; one that may be the primary
// sink keeps the key for recovery (Holder, Reader) and takes console passwords (PasswordSink).
// A new sink type is checked here without being listed.
func TestEverySinkTypeIsARotationSink(t *testing.T) {
	env := &sink.Env{Secret: config.Secret{NameTemplate: config.DefaultSecretTemplate},
		Passwords: config.DefaultPasswords(), LookupEnv: func(string) (string, bool) { return "key", true }}
	if _, err := env.Build(config.DefaultSinks()[0]); err != nil {
		t.Fatal(err)
	}
	kinds := config.SinkKinds()
	if len(kinds) == 0 {
		t.Fatal("no sink types registered")
	}
	for _, k := range kinds {
		settings, primary := config.NewSinkSettings(k)
		b, err := env.Build(config.Sink{Name: "s", Required: true, Settings: settings})
		if err != nil {
			t.Errorf("%s: %v", k, err)
			continue
		}
		if _, ok := b.(rotation.Sink); !ok {
			t.Errorf("%s: %T is no rotation.Sink", k, b)
		}
		if !primary {
			continue
		}
		_, holder := b.(rotation.Holder)
		_, reader := b.(rotation.Reader)
		_, pw := b.(rotation.PasswordSink)
		if !holder || !reader || !pw {
			t.Errorf("primary sink type %s: Holder %v, Reader %v, PasswordSink %v", k, holder, reader, pw)
		}
	}
}
