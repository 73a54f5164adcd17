package job

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/notify"
)

// FromConfig returns a runner for the configuration: rules, secret, delivery, passwords and
// notifications, signed by awsCfg, on the clock now. The CLI and the Lambda function both start here.
func FromConfig(cfg *config.Config, awsCfg aws.Config, now func() time.Time, log *slog.Logger) (*Runner, error) {
	r := &Runner{
		AWS:       awsCfg,
		Rules:     cfg.Rules,
		Secret:    cfg.Secret,
		Delivery:  Delivery{Delivery: cfg.Delivery},
		Passwords: &cfg.Passwords,
		Now:       now,
		Log:       log,
	}
	var err error
	if r.Notify, err = NotifyFromConfig(cfg); err != nil {
		return nil, err
	}
	return r, nil
}

// NotifyFromConfig turns the configuration's notify section into the runner's, loading the mail
// templates (a template that does not render sample data is a configuration error). The CLI and
// the Lambda function both build their runners' notifications with it.
func NotifyFromConfig(cfg *config.Config) (Notify, error) {
	n := cfg.Notify
	out := Notify{Notify: n}
	if e := n.Email; e.SubjectTemplate != "" || e.TextTemplate != "" || e.HTMLTemplate != "" {
		t, err := notify.LoadTemplates(e.SubjectTemplate, e.TextTemplate, e.HTMLTemplate)
		if err != nil {
			return Notify{}, fmt.Errorf("notify.email.templates: %w", err)
		}
		out.Templates = t
	}
	return out, nil
}
