package job_test

import (
	"testing"

	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/rotation"
	"github.com/keycycle/keycycle/internal/sink"
	"github.com/keycycle/keycycle/internal/sinkname"
)

// Every sink says its kind, and the kind is the configuration's type name, whatever the sink is
// named: notices tell owners how to fetch a credential by it.
func TestEverySinkSaysItsKind(t *testing.T) {
	for _, tc := range []struct {
		sink rotation.Kinded
		want sinkname.Kind
	}{
		{&sink.SecretsManager{SinkName: "vault"}, (&config.SecretsManagerSink{}).Kind()},
		{&sink.SSM{SinkName: "params"}, (&config.SSMSink{}).Kind()},
		{&sink.Webhook{SinkName: "ci"}, (&config.WebhookSink{}).Kind()},
		{&sink.Lambda{SinkName: "fn"}, (&config.LambdaSink{}).Kind()},
		{&sink.Email{SinkName: "mail"}, (&config.EmailSink{}).Kind()},
		{&sink.GitHub{SinkName: "gh"}, (&config.GitHubSink{}).Kind()},
		{&sink.CredentialsFile{}, sinkname.CredentialsFile},
	} {
		if got := tc.sink.Kind(); got != tc.want || got.Service() == "" {
			t.Errorf("%T: kind %q (%q), want %q", tc.sink, got, got.Service(), tc.want)
		}
	}
}
