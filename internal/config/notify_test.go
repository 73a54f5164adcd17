package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keycycle/keycycle/internal/yamlfile"
)

func TestNotifySection(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "subject.tmpl"), []byte("[{{.AccountName}}] {{.Summary}}"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "keycycle.yaml")
	src := `tag_preset: terraform-sqs
notify:
  exemption_notice: 7d
  email:
    from: "keycycle <keycycle@example.com>"
    reply_to: [security@example.com]
    account_name: production
    region: eu-west-1
    templates:
      subject: subject.tmpl
  sns:
    topic_arn: arn:aws:sns:us-east-1:111111111111:keycycle-events
  slack:
    webhook_url: https://hooks.slack.com/services/T000/B000/XXXX
  owners:
    group_defaults:
      developers: dev-leads@example.com
    fallback: cloud-security@example.com
`
	c, err := Parse(file, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := Notify{
		FallbackEmail:   "cloud-security@example.com",
		GroupOwners:     map[string]string{"developers": "dev-leads@example.com"},
		ExemptionNotice: 7 * day,
		Email: Email{From: "keycycle <keycycle@example.com>", ReplyTo: []string{"security@example.com"}, AccountName: "production",
			Region: "eu-west-1", SubjectTemplate: filepath.Join(dir, "subject.tmpl")},
		SNSTopicARN:     "arn:aws:sns:us-east-1:111111111111:keycycle-events",
		SlackWebhookURL: "https://hooks.slack.com/services/T000/B000/XXXX",
	}
	if diff := cmp.Diff(want, c.Notify); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	// The preset's owner tag is the Terraform module's.
	if c.Rules.Tags.Owner != "IamRotateCredentials:Email" {
		t.Fatalf("owner tag %q", c.Rules.Tags.Owner)
	}
	if d := Default().Notify; d.ExemptionNotice != DefaultExemptionNotice || d.Email.From != "" {
		t.Fatalf("defaults %+v", d)
	}
}

func TestNotifyProblems(t *testing.T) {
	src := `notify:
  fallback_email: a@example.com
  exemption_notice: soon
  email:
    reply_to: ["not an address"]
    region: Mars
    templates:
      text: missing.tmpl
  sns:
    topic_arn: arn:aws:sqs:us-east-1:111111111111:q
  slack:
    webhook_url: http://hooks.example.com/services/T000/B000/SECRETTOKEN
  owners:
    group_defaults:
      "bad group!": x@example.com
      ops: nobody
    fallback: b@example.com
`
	_, err := Parse("bad.yaml", []byte(src))
	var ps yamlfile.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("want problems, got %v", err)
	}
	want := map[string]int{
		"notify.owners.fallback":                  17,
		"notify.exemption_notice":                 3,
		"notify.email":                            4,
		"notify.email.reply_to[0]":                5,
		"notify.email.region":                     6,
		"notify.email.templates.text":             8,
		"notify.sns.topic_arn":                    10,
		"notify.slack.webhook_url":                12,
		"notify.owners.group_defaults.bad group!": 15,
		"notify.owners.group_defaults.ops":        16,
	}
	got := map[string]int{}
	for _, p := range ps {
		got[p.Field] = p.Line
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s\n%v", diff, err)
	}
	if strings.Contains(err.Error(), "SECRETTOKEN") {
		t.Fatal("a problem repeated the webhook URL, which holds a token")
	}
}

func TestWebhookURLCheck(t *testing.T) {
	for u, ok := range map[string]bool{
		"https://hooks.slack.com/services/x": true, "http://127.0.0.1:8080/hook": true, "http://localhost/x": true,
		"http://[::1]:9/x": true, "http://example.com/x": false, "ftp://example.com": false, "hooks.slack.com/x": false,
	} {
		if got := checkWebhookURL(u) == ""; got != ok {
			t.Errorf("checkWebhookURL(%q) ok=%v, want %v", u, got, ok)
		}
	}
}
