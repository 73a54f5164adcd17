package job_test

import (
	"testing"

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
		{&sink.SecretsManager{SinkName: "vault"}, (&sink.SecretsManagerConfig{}).Kind()},
		{&sink.SSM{SinkName: "params"}, (&sink.SSMConfig{}).Kind()},
		{&sink.Webhook{SinkName: "ci"}, (&sink.WebhookConfig{}).Kind()},
		{&sink.Lambda{SinkName: "fn"}, (&sink.LambdaConfig{}).Kind()},
		{&sink.Email{SinkName: "mail"}, (&sink.EmailConfig{}).Kind()},
		{&sink.GitHub{SinkName: "gh"}, (&sink.GitHubConfig{}).Kind()},
		{&sink.CredentialsFile{}, sink.KindCredentialsFile},
	} {
		if got := tc.sink.Kind(); got != tc.want || got.Service() == "" {
			t.Errorf("%T: kind %q (%q), want %q", tc.sink, got, got.Service(), tc.want)
		}
	}
}
