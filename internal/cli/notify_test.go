package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
)

// TestNotificationsAndNoSecretInTheOutbox runs apply with every notification channel on and
// reads what the sandbox received: mail, SNS messages and webhook bodies, with the CLI's own
// output, must hold no secret access key and no whole access key id; users without an owner are
// listed in the report.
func TestNotificationsAndNoSecretInTheOutbox(t *testing.T) {
	sb := sandboxEnv(t)
	ctx := context.Background()
	cfg := sb.AccountConfig(t, "111111111111")
	if _, err := sesv2.NewFromConfig(cfg).CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("example.com")}); err != nil {
		t.Fatal(err)
	}
	topic, err := sns.NewFromConfig(cfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("keycycle-events")})
	if err != nil {
		t.Fatal(err)
	}
	hook := awssimtest.StartWebhook(t, sb)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "subject.tmpl"), []byte("{{.AccountName}}: {{.Summary}}"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "keycycle.yaml")
	if err := os.WriteFile(conf, []byte(`notify:
  owners:
    fallback: security@example.com
  email:
    from: keycycle@example.com
    account_name: sandbox-prod
    templates:
      subject: subject.tmpl
  sns:
    topic_arn: `+aws.ToString(topic.TopicArn)+`
  slack:
    webhook_url: `+hook.URL+`/services/T000/B000/TOKEN
`), 0o600); err != nil {
		t.Fatal(err)
	}

	// A dry run says what it would send and sends nothing.
	r := runMain(t, "", "apply", "--config", conf, "--yes")
	if r.code != 3 || !strings.Contains(r.stdout, "? email   would send 1 event (dry run: nothing sent)") {
		t.Fatalf("dry run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	sent := 0 // the pre-flight check's POST "{}" to Slack posts nothing (Slack answers 400 no_text)
	for _, w := range sb.Outbox().Webhooks {
		if w.Body != "{}" {
			sent++
		}
	}
	if o := sb.Outbox(); len(o.Emails)+len(o.SNS)+sent != 0 {
		t.Fatalf("a dry run sent notifications: %+v", o)
	}

	r = runMain(t, "", "apply", "--config", conf, "--yes", "--dry-run=false", "--verbose")
	if r.code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"Notifications: 1 (1 rotated)", "+ email   sent 1 event", "+ sns     sent 1 event", "+ slack   sent 1 event",
		"Users without an owner", "due: notices went to the fallback security@example.com"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("report lacks %q:\n%s", want, r.stdout)
		}
	}
	out := sb.Outbox()
	slack := 0 // the pre-flight check posted "{}" (Slack answers 400 no_text and posts nothing); one notice
	for _, w := range out.Webhooks {
		if w.Body != "{}" {
			slack++
		}
	}
	if len(out.Emails) != 1 || out.Emails[0].To[0] != "security@example.com" || out.Emails[0].Subject != "sandbox-prod: New access key delivered for due" ||
		len(out.SNS) != 1 || slack != 1 {
		t.Fatalf("outbox: %d mails %+v, %d sns, %d webhooks", len(out.Emails), out.Emails, len(out.SNS), slack)
	}

	all := r.stdout + r.stderr
	for _, m := range out.Emails {
		all += m.Subject + m.Text + m.HTML
	}
	for _, m := range out.SNS {
		all += m.Subject + m.Message
	}
	for _, w := range out.Webhooks {
		all += w.Body
	}
	if !strings.Contains(all, "get-secret-value --secret-id keycycle/111111111111/due") {
		t.Fatal("the notices do not say where to fetch the key")
	}
	var secrets, ids []string
	for _, u := range []string{"due", "other"} {
		keys, _ := sb.Keys("111111111111", u)
		for _, k := range keys {
			ids = append(ids, k.AccessKeyID)
			if k.SecretAccessKey != "" {
				secrets = append(secrets, k.SecretAccessKey)
			}
		}
	}
	v, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("keycycle/111111111111/due")})
	if err != nil {
		t.Fatal(err)
	}
	var s struct{ SecretAccessKey string }
	_ = json.Unmarshal([]byte(aws.ToString(v.SecretString)), &s)
	secrets = append(secrets, s.SecretAccessKey)
	if s.SecretAccessKey == "" || len(secrets) < 3 {
		t.Fatalf("test setup: %d secrets", len(secrets))
	}
	for _, sec := range secrets {
		if strings.Contains(all, sec) {
			t.Fatal("a secret access key reached a notification or the CLI's output")
		}
	}
	notices := strings.TrimPrefix(all, r.stdout+r.stderr)
	for _, id := range ids {
		if strings.Contains(notices, id) {
			t.Fatal("a whole access key id reached a notification")
		}
	}
	if strings.Contains(all, "TOKEN") {
		t.Fatal("the webhook URL reached the output")
	}
}

func TestBadNotifyTemplateRefusedBeforeAnything(t *testing.T) {
	sb := sandboxEnv(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "text.tmpl"), []byte("{{.Secret}}"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "keycycle.yaml")
	if err := os.WriteFile(conf, []byte("notify:\n  email:\n    from: keycycle@example.com\n    templates: {text: text.tmpl}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runMain(t, "", "apply", "--config", conf, "--yes", "--dry-run=false")
	if r.code != 2 || !strings.Contains(r.stderr, "notify.email.templates") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if keys, _ := sb.Keys("111111111111", "due"); len(keys) != 1 {
		t.Fatal("a bad template must stop keycycle before it changes anything")
	}
}

// TestPasswordNoticesCarryNoPassword: a console password rotation tells the owner where the new
// password is stored, by mail, SNS and Slack; no notice, and nothing the CLI prints, holds it.
func TestPasswordNoticesCarryNoPassword(t *testing.T) {
	sb := sandboxEnvWith(t, lifecycleScenario+`      - name: human
        tags: {owner: human@example.com}
        mfa: true
        login_profile: {age_days: 100, password_age_days: 70, last_used_days_ago: 1}
`)
	ctx := context.Background()
	cfg := sb.AccountConfig(t, "111111111111")
	if _, err := sesv2.NewFromConfig(cfg).CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("example.com")}); err != nil {
		t.Fatal(err)
	}
	topic, err := sns.NewFromConfig(cfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("keycycle-events")})
	if err != nil {
		t.Fatal(err)
	}
	hook := awssimtest.StartWebhook(t, sb)
	conf := filepath.Join(t.TempDir(), "keycycle.yaml")
	if err := os.WriteFile(conf, []byte(`notify:
  email: {from: keycycle@example.com}
  sns: {topic_arn: `+aws.ToString(topic.TopicArn)+`}
  slack: {webhook_url: `+hook.URL+`/services/T000/B000/TOKEN}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runMain(t, "", "apply", "--config", conf, "--yes", "--dry-run=false", "--verbose")
	if r.code != 0 || !strings.Contains(r.stdout, "Notifications: 2 (1 rotated, 1 password rotated)") {
		t.Fatalf("apply: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	v, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("keycycle/111111111111/human/console")})
	if err != nil {
		t.Fatal(err)
	}
	var p struct{ Password string }
	_ = json.Unmarshal([]byte(aws.ToString(v.SecretString)), &p)
	if p.Password == "" || !sb.PasswordIs("111111111111", "human", p.Password) {
		t.Fatal("test setup: no password delivered")
	}
	out := sb.Outbox()
	all := r.stdout + r.stderr
	var mail string
	for _, m := range out.Emails {
		all += m.Subject + m.Text + m.HTML
		if m.To[0] == "human@example.com" {
			mail = m.Text
		}
	}
	for _, m := range out.SNS {
		all += m.Subject + m.Message
	}
	for _, w := range out.Webhooks {
		all += w.Body
	}
	if !strings.Contains(mail, "New console password delivered") ||
		!strings.Contains(mail, "get-secret-value --secret-id keycycle/111111111111/human/console") {
		t.Fatalf("the owner's mail does not say where to fetch the password:\n%s", mail)
	}
	if leaks(all, p.Password) {
		t.Fatal("a console password reached a notification or the CLI's output")
	}
}
