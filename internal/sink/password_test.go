package sink_test

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
	"github.com/keycycle/keycycle/internal/secret"
	"github.com/keycycle/keycycle/internal/sink"
)

func newPassword(version, pw string) secret.Password {
	return secret.Password{AccountID: "111111111111", UserName: "alice", UserARN: "arn:aws:iam::111111111111:user/alice",
		Version: "keycycle-password-" + version, Secret: secret.New(pw), Created: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC),
		ResetRequired: true}
}

// TestSecretsManagerKeepsPasswordsInTheirOwnSecret: a password goes to its own secret, pending
// at Stage, current at Promote, withdrawn by Abort; the access key secret is untouched.
func TestSecretsManagerKeepsPasswordsInTheirOwnSecret(t *testing.T) {
	ctx := context.Background()
	_, cfg := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, sinkScenario))
	api := secretsmanager.NewFromConfig(cfg)
	s := &sink.SecretsManager{API: api, NameTemplate: "keycycle/{{account}}/{{user}}", PasswordTemplate: "keycycle/{{account}}/{{user}}/console"}
	p1 := newPassword("20261121T090000Z-00000001", "First-Password-1!")
	if loc := s.PasswordLocation(p1); loc != "keycycle/111111111111/alice/console" {
		t.Fatalf("location %s", loc)
	}
	if err := s.StagePassword(ctx, p1); err != nil {
		t.Fatal(err)
	}
	// The secret starts with a placeholder holding no password: the staged password is not current.
	if cur, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("keycycle/111111111111/alice/console")}); err != nil ||
		strings.Contains(aws.ToString(cur.SecretString), "First-Password-1!") || aws.ToString(cur.VersionId) == p1.Version {
		t.Fatalf("a staged password must not be current: %v", err)
	}
	if err := s.PromotePassword(ctx, p1); err != nil {
		t.Fatal(err)
	}
	if err := s.PromotePassword(ctx, p1); err != nil { // idempotent
		t.Fatal(err)
	}
	cur, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("keycycle/111111111111/alice/console")})
	if err != nil {
		t.Fatal(err)
	}
	var v sink.PasswordValue
	if err := json.Unmarshal([]byte(aws.ToString(cur.SecretString)), &v); err != nil {
		t.Fatal(err)
	}
	if v.Password != "First-Password-1!" || v.UserName != "alice" || !v.ResetRequired || v.SignInURL != "https://111111111111.signin.aws.amazon.com/console" {
		t.Fatalf("value %+v", v)
	}
	d, err := api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("keycycle/111111111111/alice/console")})
	if err != nil || !strings.Contains(aws.ToString(d.Description), "Console password") {
		t.Fatalf("describe %+v %v", d, err)
	}

	// A second password staged and withdrawn: the first stays current, nothing is pending.
	p2 := newPassword("20261122T090000Z-00000002", "Second-Password-2!")
	if err := s.StagePassword(ctx, p2); err != nil {
		t.Fatal(err)
	}
	if cur, _ := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("keycycle/111111111111/alice/console")}); aws.ToString(cur.VersionId) != p1.Version {
		t.Fatal("a staged password must not be current")
	}
	if err := s.AbortPassword(ctx, p2); err != nil {
		t.Fatal(err)
	}
	if _, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("keycycle/111111111111/alice/console"), VersionStage: aws.String("AWSPENDING")}); err == nil {
		t.Fatal("the withdrawn password is still pending")
	}
	if cur, _ := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("keycycle/111111111111/alice/console")}); aws.ToString(cur.VersionId) != p1.Version {
		t.Fatal("the first password must stay current")
	}
	if _, err := api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("keycycle/111111111111/alice")}); err == nil {
		t.Fatal("the access key secret must not be created by a password")
	}

	// A sink without a password name refuses; a malformed version is refused before any call.
	if err := (&sink.SecretsManager{API: api, NameTemplate: "x/{{user}}"}).StagePassword(ctx, p1); err == nil {
		t.Fatal("no password template: refused")
	}
	bad := p1
	bad.Version = "short"
	if err := s.StagePassword(ctx, bad); err == nil {
		t.Fatal("a version Secrets Manager cannot take must be refused")
	}
}

func TestSSMKeepsPasswordsInTheirOwnParameter(t *testing.T) {
	ctx := context.Background()
	_, cfg := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, sinkScenario))
	api := ssm.NewFromConfig(cfg)
	s := &sink.SSM{API: api, NameTemplate: "/keycycle/{{account}}/{{user}}", PasswordTemplate: "/keycycle/{{account}}/{{user}}/console"}
	p1 := newPassword("20261121T090000Z-00000001", "First-Password-1!")
	for _, step := range []func(context.Context, secret.Password) error{s.StagePassword, s.PromotePassword, s.PromotePassword} {
		if err := step(ctx, p1); err != nil {
			t.Fatal(err)
		}
	}
	read := func() sink.PasswordValue {
		out, err := api.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/keycycle/111111111111/alice/console"), WithDecryption: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		var v sink.PasswordValue
		_ = json.Unmarshal([]byte(aws.ToString(out.Parameter.Value)), &v)
		return v
	}
	if v := read(); v.Password != "First-Password-1!" || v.Version != p1.Version {
		t.Fatalf("value %+v", v)
	}
	p2 := newPassword("20261122T090000Z-00000002", "Second-Password-2!")
	for _, step := range []func(context.Context, secret.Password) error{s.StagePassword, s.PromotePassword, s.AbortPassword} {
		if err := step(ctx, p2); err != nil {
			t.Fatal(err)
		}
	}
	if v := read(); v.Password != "First-Password-1!" {
		t.Fatal("abort must write back the password the new one replaced")
	}
}

func TestEmailSendsPasswordsEncrypted(t *testing.T) {
	ctx := context.Background()
	sb, m, id := emailSink(t, "")
	p := newPassword("20261121T090000Z-00000001", "Mail-Password-1!")
	p.Tags = map[string]string{"owner": "alice@example.com"}
	if err := m.StagePassword(ctx, p); err == nil || !strings.Contains(err.Error(), "in clear") {
		t.Fatalf("no public key: %v", err)
	}
	p.Tags["keycycle:age-recipient"] = id.Recipient().String()
	if err := m.StagePassword(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := m.PromotePassword(ctx, p); err != nil {
		t.Fatal(err)
	}
	mails := sb.Outbox().Emails
	if len(mails) != 1 || !strings.Contains(mails[0].Subject, "console password") {
		t.Fatalf("mails %+v", mails)
	}
	text := mails[0].Text
	if strings.Contains(text, "Mail-Password-1!") || !strings.Contains(text, "choose a new password") {
		t.Fatalf("the password must be encrypted, the reset said:\n%s", text)
	}
	r, err := age.Decrypt(armor.NewReader(strings.NewReader(text[strings.Index(text, "-----BEGIN AGE"):])), id)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(r)
	if !strings.Contains(string(plain), "password:    Mail-Password-1!\n") || !strings.Contains(string(plain), "signin.aws.amazon.com") {
		t.Fatalf("decrypted:\n%s", plain)
	}
}

// TestWebhookGetsAPointerNeverThePassword: even with include_secret, the password event names
// where the password is stored and carries nothing of it.
func TestWebhookGetsAPointerNeverThePassword(t *testing.T) {
	ctx := context.Background()
	hook := awssimtest.StartWebhook(t)
	w := &sink.Webhook{URL: hook.URL, Key: secret.New("hmac-key"), IncludeSecret: true, Backoff: time.Millisecond,
		PasswordStoredAt: func(secret.Password) string { return "keycycle/111111111111/alice/console" }}
	p := newPassword("20261121T090000Z-00000001", "Hook-Password-1!")
	if err := w.StagePassword(ctx, p); err != nil || len(hook.Requests()) != 0 {
		t.Fatalf("Stage: %v, %d requests", err, len(hook.Requests()))
	}
	if err := w.PromotePassword(ctx, p); err != nil {
		t.Fatal(err)
	}
	r := hook.Requests()[0]
	var b sink.WebhookBody
	if err := json.Unmarshal(r.Body, &b); err != nil {
		t.Fatal(err)
	}
	if b.Event != sink.EventPasswordRotated || b.Location != "keycycle/111111111111/alice/console" || b.User != "alice" ||
		r.Header.Get(sink.HeaderDelivery) != "console_password_rotated:"+p.Version {
		t.Fatalf("body %s, headers %v", r.Body, r.Header)
	}
	if strings.Contains(string(r.Body), "Hook-Password-1!") || b.SecretAccessKey != "" {
		t.Fatal("the webhook got the password")
	}
}
