package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sestypes "github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
	"github.com/keycycle/keycycle/internal/notify"
	"github.com/keycycle/keycycle/internal/sinkname"
)

const account = "111111111111"

func events() []notify.Event {
	when := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	name := "keycycle/" + account + "/app"
	return []notify.Event{
		{Kind: notify.Rotated, AccountID: account, AccountName: "prod", User: "app", Owner: "alice@example.com",
			AccessKeyID: "AKIAOLDKEY0000000001", NewAccessKeyID: "AKIANEWKEY0000000002",
			Location: notify.NewLocation(sinkname.SecretsManager, name, "us-east-1"),
			Reason:   "due", When: when},
		{Kind: notify.OldKeyInUse, AccountID: account, AccountName: "prod", User: "batch", Owner: "alice@example.com",
			AccessKeyID: "AKIAOLDKEY0000000003", LastUsed: notify.LastUsed{Date: when, Service: "s3", Region: "eu-west-1"}, When: when},
		{Kind: notify.Blocked, AccountID: account, AccountName: "prod", User: "ci", Owner: "bob@example.com", Reason: "two active keys", When: when},
	}
}

func TestMailThroughSES(t *testing.T) {
	sb, cfg := awssimtest.Start(t)
	ses := sesv2.NewFromConfig(cfg)
	m := &notify.Mail{API: ses, From: "keycycle@example.com", ReplyTo: []string{"security@example.com"}}

	// An unverified sender is refused by SES, for every owner, and said so.
	err := m.Notify(context.Background(), events())
	var rejected *sestypes.MessageRejected
	if !errors.As(err, &rejected) || !strings.Contains(err.Error(), "alice@example.com") || !strings.Contains(err.Error(), "bob@example.com") {
		t.Fatalf("unverified sender: %v", err)
	}

	if _, err := ses.CreateEmailIdentity(context.Background(), &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("example.com")}); err != nil {
		t.Fatal(err)
	}
	if err := m.Notify(context.Background(), events()); err != nil {
		t.Fatal(err)
	}
	mails := sb.Outbox().Emails
	if len(mails) != 2 {
		t.Fatalf("want one mail per owner, got %d", len(mails))
	}
	a := mails[0]
	if a.From != "keycycle@example.com" || len(a.To) != 1 || a.To[0] != "alice@example.com" || len(a.ReplyTo) != 1 ||
		a.Subject != "[prod] keycycle: 2 access key notices for app, batch" ||
		!strings.Contains(a.Text, "aws secretsmanager get-secret-value --secret-id keycycle/111111111111/app --region us-east-1") ||
		!strings.Contains(a.HTML, "s3 in eu-west-1") {
		t.Fatalf("mail to alice: %+v", a)
	}
	if b := mails[1]; b.To[0] != "bob@example.com" || !strings.Contains(b.Text, "two active keys") {
		t.Fatalf("mail to bob: %+v", b)
	}
}

func TestSNSOneMessagePerEvent(t *testing.T) {
	sb, cfg := awssimtest.Start(t)
	client := sns.NewFromConfig(cfg)
	missing := &notify.SNS{API: client, TopicARN: "arn:aws:sns:us-east-1:" + account + ":missing"}
	var nf *snstypes.NotFoundException
	if err := missing.Notify(context.Background(), events()[:1]); !errors.As(err, &nf) {
		t.Fatalf("unknown topic: %v", err)
	}
	topic, err := client.CreateTopic(context.Background(), &sns.CreateTopicInput{Name: aws.String("keycycle-events")})
	if err != nil {
		t.Fatal(err)
	}
	s := &notify.SNS{API: client, TopicARN: aws.ToString(topic.TopicArn)}
	if err := s.Notify(context.Background(), events()); err != nil {
		t.Fatal(err)
	}
	msgs := sb.Outbox().SNS
	if len(msgs) != 3 {
		t.Fatalf("want 3 messages, got %d", len(msgs))
	}
	var first notify.SNSMessage
	if err := json.Unmarshal([]byte(msgs[0].Message), &first); err != nil {
		t.Fatal(err)
	}
	if first.Version != 1 || first.Kind != notify.Rotated || first.User != "app" || first.AccessKeyID != "AKIA...0001" ||
		first.Location == nil || first.Location.SecretName != "keycycle/111111111111/app" ||
		msgs[0].Subject != "keycycle [prod] New access key delivered: app" ||
		msgs[0].Attributes["kind"].StringValue != "rotated" || msgs[0].Attributes["account_id"].StringValue != account {
		t.Fatalf("first message: %+v %+v", first, msgs[0])
	}
	var second notify.SNSMessage
	if err := json.Unmarshal([]byte(msgs[1].Message), &second); err != nil {
		t.Fatal(err)
	}
	if second.Kind != notify.OldKeyInUse || second.LastUsed == nil || second.LastUsed.Service != "s3" || second.LastUsed.Date == nil {
		t.Fatalf("second message: %+v", second)
	}
}

func TestSlackThroughWebhookReceiver(t *testing.T) {
	sb, _ := awssimtest.Start(t)
	hook := awssimtest.StartWebhook(t, sb)
	s := &notify.Slack{URL: hook.URL + "/services/T000/B000/TOKEN", Backoff: time.Millisecond}
	hook.FailNext(2)
	if err := s.Notify(context.Background(), events()); err != nil {
		t.Fatal(err)
	}
	got := sb.Outbox().Webhooks
	if len(got) != 3 || got[0].Status != 500 || got[2].Status != 200 || got[2].Body != got[0].Body ||
		got[2].Header.Get("Content-Type") != "application/json" {
		t.Fatalf("webhook calls: %+v", got)
	}
	var body map[string]string
	if err := json.Unmarshal([]byte(got[2].Body), &body); err != nil || len(body) != 1 ||
		!strings.Contains(body["text"], "*keycycle* · AWS account *prod* (111111111111): 3 notices") {
		t.Fatalf("body %q: %v", got[2].Body, err)
	}
	hook.SetStatus(403)
	if err := s.Notify(context.Background(), events()); err == nil || strings.Contains(err.Error(), "TOKEN") {
		t.Fatalf("403: %v", err)
	}
	if n := len(sb.Outbox().Webhooks); n != 4 {
		t.Fatalf("a 403 must not be retried: %d calls", n)
	}
}
