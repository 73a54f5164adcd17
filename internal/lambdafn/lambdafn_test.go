package lambdafn

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/job"
	"github.com/keycycle/keycycle/internal/policy"
	"github.com/keycycle/keycycle/internal/sink"
	"github.com/keycycle/keycycle/internal/throttle"
)

const scenario = `
start: 2026-11-21T09:00:00Z
accounts:
  - id: "111111111111"
    alias: hub
  - id: "222222222222"
    roles: [{name: KeycycleMember, trusted_accounts: ["111111111111"]}]
    users:
      - {name: due-a, access_keys: [{age_days: 100, status: Active}]}
      - {name: due-b, access_keys: [{age_days: 95, status: Active}]}
      - {name: young, access_keys: [{age_days: 10, status: Active}]}
      - {name: soon, access_keys: [{age_days: 85, status: Active}]}
  - id: "333333333333"
    roles: [{name: KeycycleMember, trusted_accounts: ["111111111111"]}]
    users:
      - {name: due-c, access_keys: [{age_days: 120, status: Active}]}
      - {name: svc, access_keys: [{age_days: 20, status: Active}]}
      - {name: console-user, login_profile: {age_days: 10}, access_keys: [{age_days: 20, status: Active}]}
`

type fixture struct {
	sb  *awssimtest.Sandbox
	h   *Handler
	sqs *sqs.Client
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureScenario(t, scenario)
}

func newFixtureScenario(t *testing.T, sc string) *fixture {
	t.Helper()
	sb, hub := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, sc))
	q := sqs.NewFromConfig(hub)
	out, err := q.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String("keycycle.fifo"),
		Attributes: map[string]string{"FifoQueue": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	fleet := &job.Fleet{
		Hub:    hub,
		Role:   job.Role{Name: "KeycycleMember"},
		Limits: throttle.NewRegistry(throttle.Limits{Read: throttle.Budget{PerSecond: 100, Burst: 100}, Write: throttle.Budget{PerSecond: 100, Burst: 100}}),
		Runner: job.Runner{Rules: policy.DefaultRules(), Secret: config.Secret{NameTemplate: "keycycle/{{account}}/{{user}}"},
			Verify: job.Verify{Interval: 10 * time.Millisecond, Timeout: 5 * time.Second}, Now: sb.Clock().Now, ReportPoll: 5 * time.Millisecond},
	}
	h := &Handler{
		Fleet: fleet,
		Targets: func(context.Context) ([]job.Target, error) {
			return []job.Target{{AccountID: "222222222222"}, {AccountID: "333333333333"}}, nil
		},
		DefaultAccount: "222222222222",
		SQS:            q,
		QueueURL:       aws.ToString(out.QueueUrl),
	}
	return &fixture{sb: sb, h: h, sqs: q}
}

// receive drains the queue into an SQS Lambda event, as the event source mapping would deliver it.
func (f *fixture) receive(t *testing.T) events.SQSEvent {
	t.Helper()
	var ev events.SQSEvent
	for {
		out, err := f.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(f.h.QueueURL), MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			return ev
		}
		for _, m := range out.Messages {
			ev.Records = append(ev.Records, events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
				Body: aws.ToString(m.Body), EventSource: "aws:sqs"})
			if _, err := f.sqs.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(f.h.QueueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func invoke(t *testing.T, h *Handler, ctx context.Context, event string) any {
	t.Helper()
	out, err := h.Handle(ctx, json.RawMessage(event))
	if err != nil {
		t.Fatalf("Handle(%s): %v", event, err)
	}
	return out
}

const scheduledEvent = `{"version":"0","id":"53dc4d37","detail-type":"Scheduled Event","source":"aws.events","account":"111111111111",
"time":"2026-11-21T09:00:00Z","region":"us-east-1","resources":["arn:aws:events:us-east-1:111111111111:rule/keycycle"],"detail":{}}`

func TestScheduleThenWorkerRotatesEveryDueUserOnce(t *testing.T) {
	f := newFixture(t)
	rep := invoke(t, f.h, context.Background(), scheduledEvent).(Report)
	if rep.Planned != 2 || rep.Enqueued != 3 || len(rep.Errors) != 0 {
		t.Fatalf("schedule report = %+v", rep)
	}
	// The same schedule again (a retry within minutes) enqueues nothing new: deduplication.
	invoke(t, f.h, context.Background(), scheduledEvent)
	ev := f.receive(t)
	if len(ev.Records) != 3 {
		t.Fatalf("queue holds %d messages, want 3 (one per due user)", len(ev.Records))
	}
	for _, r := range ev.Records {
		var m Message
		if err := json.Unmarshal([]byte(r.Body), &m); err != nil || m.Keycycle != "steps" || !strings.HasPrefix(m.User, "due-") {
			t.Fatalf("message %s: %v", r.Body, err)
		}
	}
	raw, _ := json.Marshal(ev)
	resp := invoke(t, f.h, context.Background(), string(raw)).(events.SQSEventResponse)
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("batch failures: %+v", resp.BatchItemFailures)
	}
	for acct, users := range map[string][]string{"222222222222": {"due-a", "due-b"}, "333333333333": {"due-c"}} {
		for _, u := range users {
			if keys, _ := f.sb.Keys(acct, u); len(keys) != 2 {
				t.Fatalf("%s/%s: keys %+v, want the new one beside the old", acct, u, keys)
			}
		}
	}
	for acct, u := range map[string]string{"222222222222": "young", "333333333333": "svc"} {
		if keys, _ := f.sb.Keys(acct, u); len(keys) != 1 {
			t.Fatalf("%s/%s was touched", acct, u)
		}
	}
	// Redelivered (at-least-once): the stale precondition makes it a no-op, not a second key.
	resp = invoke(t, f.h, context.Background(), string(raw)).(events.SQSEventResponse)
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("redelivery: %+v", resp.BatchItemFailures)
	}
	if keys, _ := f.sb.Keys("222222222222", "due-a"); len(keys) != 2 {
		t.Fatalf("a redelivered message rotated again: %+v", keys)
	}
}

func TestMalformedMessageFailsOnlyItself(t *testing.T) {
	f := newFixture(t)
	ev := events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "bad-json", Body: "{not json", EventSource: "aws:sqs"},
		{MessageId: "tf-force", Body: `{"user_name": "young", "force": "true"}`, EventSource: "aws:sqs"},
		{MessageId: "bad-force", Body: `{"user_name": "young", "force": "maybe"}`, EventSource: "aws:sqs"},
		{MessageId: "unknown", Body: `{"hello": "world"}`, EventSource: "aws:sqs"},
	}}
	raw, _ := json.Marshal(ev)
	resp := invoke(t, f.h, context.Background(), string(raw)).(events.SQSEventResponse)
	var failed []string
	for _, x := range resp.BatchItemFailures {
		failed = append(failed, x.ItemIdentifier)
	}
	if fmt.Sprint(failed) != "[bad-json bad-force unknown]" {
		t.Fatalf("failed items = %v", failed)
	}
	if keys, _ := f.sb.Keys("222222222222", "young"); len(keys) != 2 {
		t.Fatalf("the Terraform+SQS force message must rotate young in the default account: %+v", keys)
	}
}

func TestForceFormatsDirectInvoke(t *testing.T) {
	f := newFixture(t)
	rep := invoke(t, f.h, context.Background(), `{"account": "333333333333", "ForceRotate": "svc"}`).(Report)
	if len(rep.Errors) != 0 || len(rep.Results) == 0 || !strings.HasPrefix(rep.Results[0], "done rotate svc") {
		t.Fatalf("CloudFormation ForceRotate: %+v", rep)
	}
	if keys, _ := f.sb.Keys("333333333333", "svc"); len(keys) != 2 {
		t.Fatal("svc not rotated")
	}
	rep = invoke(t, f.h, context.Background(), `{"keycycle": "force", "account_id": "222222222222", "user": "young"}`).(Report)
	if len(rep.Errors) != 0 {
		t.Fatalf("keycycle force: %+v", rep)
	}
	rep = invoke(t, f.h, context.Background(), `{"account": "333333333333", "ForceRotate": "nobody"}`).(Report)
	if len(rep.Errors) != 1 || !strings.Contains(rep.Errors[0], "NoSuchEntity") {
		t.Fatalf("unknown user: %+v", rep)
	}
	if _, err := f.h.Handle(context.Background(), json.RawMessage(`{"account": "12", "ForceRotate": "svc"}`)); err == nil {
		t.Fatal("a bad account id must be refused")
	}
	if _, err := f.h.Handle(context.Background(), json.RawMessage(`{"what": "ever"}`)); err == nil {
		t.Fatal("an unknown event must be refused")
	}
}

func TestDeadlineDefersInsteadOfStarting(t *testing.T) {
	f := newFixture(t)
	f.h.Margin = time.Hour // the deadline below is already within the margin
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep := invoke(t, f.h, ctx, scheduledEvent).(Report)
	if len(rep.Deferred) != 2 || rep.Planned != 0 || rep.Enqueued != 0 {
		t.Fatalf("report = %+v", rep)
	}
	ev := events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: `{"user_name": "young", "force": "true"}`}}}
	raw, _ := json.Marshal(ev)
	resp := invoke(t, f.h, ctx, string(raw)).(events.SQSEventResponse)
	if len(resp.BatchItemFailures) != 1 {
		t.Fatalf("a message not started must be returned for redelivery: %+v", resp)
	}
	if keys, _ := f.sb.Keys("222222222222", "young"); len(keys) != 1 {
		t.Fatal("nothing may start after the deadline margin")
	}
}

func TestWorkerNotifiesTheOwnerFromTheMessage(t *testing.T) {
	f := newFixture(t)
	member := f.sb.AccountConfig(t, "222222222222")
	topic, err := sns.NewFromConfig(member).CreateTopic(context.Background(), &sns.CreateTopicInput{Name: aws.String("keycycle")})
	if err != nil {
		t.Fatal(err)
	}
	f.h.Fleet.Runner.Notify = job.Notify{Notify: config.Notify{SNSTopicARN: aws.ToString(topic.TopicArn), FallbackEmail: "ops@example.com"}}
	f.h.Targets = func(context.Context) ([]job.Target, error) { return []job.Target{{AccountID: "222222222222"}}, nil }
	invoke(t, f.h, context.Background(), scheduledEvent)
	upcoming := 0
	for _, m := range f.sb.Outbox().SNS {
		if strings.Contains(m.Message, "upcoming_rotation") && strings.Contains(m.Message, `"user":"soon"`) {
			upcoming++
		}
	}
	if upcoming != 1 {
		t.Fatalf("the schedule itself must send the upcoming-rotation notice of soon: %+v", f.sb.Outbox().SNS)
	}
	ev := f.receive(t)
	for _, r := range ev.Records {
		var m Message
		if err := json.Unmarshal([]byte(r.Body), &m); err != nil || m.Subject == nil || m.Subject.Name != m.User {
			t.Fatalf("the message must carry its user: %s", r.Body)
		}
	}
	before := len(f.sb.Outbox().SNS)
	raw, _ := json.Marshal(ev)
	if resp := invoke(t, f.h, context.Background(), string(raw)).(events.SQSEventResponse); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("failures: %+v", resp)
	}
	sent := f.sb.Outbox().SNS[before:]
	if len(sent) != 2 {
		t.Fatalf("want a rotated notice for due-a and due-b, got %d SNS messages", len(sent))
	}
	for _, m := range sent {
		if !strings.Contains(m.Message, "rotated") || !strings.Contains(m.Message, "ops@example.com") {
			t.Fatalf("notice = %s", m)
		}
	}
}

func TestForceRotatesTheConsolePasswordToo(t *testing.T) {
	f := newFixture(t)
	rep := invoke(t, f.h, context.Background(), `{"account": "333333333333", "ForceRotate": "console-user"}`).(Report)
	if len(rep.Errors) != 0 || len(rep.Results) != 2 {
		t.Fatalf("force: %+v", rep)
	}
	if keys, _ := f.sb.Keys("333333333333", "console-user"); len(keys) != 2 {
		t.Fatal("the access key was not rotated")
	}
	out, err := secretsmanager.NewFromConfig(f.sb.AccountConfig(t, "333333333333")).GetSecretValue(context.Background(),
		&secretsmanager.GetSecretValueInput{SecretId: aws.String("keycycle/333333333333/console-user/console")})
	if err != nil {
		t.Fatalf("the new password was not stored: %v", err)
	}
	var v sink.PasswordValue
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &v); err != nil || !f.sb.PasswordIs("333333333333", "console-user", v.Password) {
		t.Fatalf("the stored password is not the one in force (%v)", err)
	}
}

// keycycle's force message with "deactivate_old": true retires the old key at once (a leaked
// key); a string is not a yes.
func TestForceDeactivateOld(t *testing.T) {
	f := newFixture(t)
	before, _ := f.sb.Keys("222222222222", "young")
	if _, err := f.h.Handle(context.Background(), json.RawMessage(`{"keycycle": "force", "account_id": "222222222222", "user": "young", "deactivate_old": "yes"}`)); err == nil {
		t.Fatal(`"deactivate_old": "yes" must be refused`)
	}
	rep := invoke(t, f.h, context.Background(), `{"keycycle": "force", "account_id": "222222222222", "user": "young", "deactivate_old": true}`).(Report)
	if len(rep.Errors) != 0 || len(rep.Results) != 2 || !strings.HasPrefix(rep.Results[1], "done deactivate young") {
		t.Fatalf("force with deactivate_old: %+v", rep)
	}
	keys, _ := f.sb.Keys("222222222222", "young")
	if len(keys) != 2 || keys[0].AccessKeyID != before[0].AccessKeyID || keys[0].Status != "Inactive" || keys[1].Status != "Active" {
		t.Fatalf("keys after force with deactivate_old: %+v", keys)
	}
}
