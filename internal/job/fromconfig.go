package job

import (
	"fmt"

	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/notify"
)

// NotifyFromConfig turns the configuration's notify section into the runner's, loading the mail
// templates (a template that does not render sample data is a configuration error). The CLI and
// the Lambda function both build their runners' notifications with it.
func NotifyFromConfig(cfg *config.Config) (Notify, error) {
	n := cfg.Notify
	out := Notify{
		GroupOwners: n.GroupOwners, Fallback: n.FallbackEmail, ExemptionNotice: n.ExemptionNotice,
		AccountName: n.Email.AccountName, EmailFrom: n.Email.From, EmailReplyTo: n.Email.ReplyTo,
		EmailRegion: n.Email.Region, SNSTopicARN: n.SNSTopicARN, SlackWebhookURL: n.SlackWebhookURL,
	}
	if e := n.Email; e.SubjectTemplate != "" || e.TextTemplate != "" || e.HTMLTemplate != "" {
		t, err := notify.LoadTemplates(e.SubjectTemplate, e.TextTemplate, e.HTMLTemplate)
		if err != nil {
			return Notify{}, fmt.Errorf("notify.email.templates: %w", err)
		}
		out.Templates = t
	}
	return out, nil
}
