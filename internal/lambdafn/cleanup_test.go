package lambdafn

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// withCleanup turns on short cleanup waits: a standard cleanup queue, a 5-minute wait, and
// thresholds that retire the old key 5 minutes after delivery and delete it 5 minutes later.
func withCleanup(t *testing.T, f *fixture) {
	t.Helper()
	out, err := f.sqs.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String("keycycle-cleanup")})
	if err != nil {
		t.Fatal(err)
	}
	f.h.CleanupQueueURL, f.h.CleanupWait = aws.ToString(out.QueueUrl), 5*time.Minute
	f.h.Now = f.sb.Clock().Now
	th := &f.h.Fleet.Runner.Rules.Default
	th.DeactivateAfter, th.GuardWindow, th.DeleteAfter = 5*time.Minute, 5*time.Minute, 5*time.Minute
}

// receiveFrom drains a queue into an SQS event, as the event source mapping would deliver it.
func (f *fixture) receiveFrom(t *testing.T, url string) events.SQSEvent {
	t.Helper()
	q := f.h.QueueURL
	f.h.QueueURL = url
	defer func() { f.h.QueueURL = q }()
	return f.receive(t)
}

func (f *fixture) handle(t *testing.T, ev events.SQSEvent) {
	t.Helper()
	raw, _ := json.Marshal(ev)
	if resp := invoke(t, f.h, context.Background(), string(raw)).(events.SQSEventResponse); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("batch failures: %+v", resp.BatchItemFailures)
	}
}

func status(t *testing.T, f *fixture, acct, user string) []string {
	t.Helper()
	keys, _ := f.sb.Keys(acct, user)
	var out []string
	for _, k := range keys {
		out = append(out, k.Status)
	}
	return out
}

// TestCleanupWaitRetiresTheOldKeyAfterTheWait: the old key is deactivated the cleanup wait after
// the new key was delivered (not at the next schedule), and deleted one wait later; a key used
// since the delivery stays active (the last-used guard holds); nothing happens before the wait.
func TestCleanupWaitRetiresTheOldKeyAfterTheWait(t *testing.T) {
	f := newFixture(t)
	withCleanup(t, f)
	old, _ := f.sb.Keys("222222222222", "due-b")
	invoke(t, f.h, context.Background(), scheduledEvent)
	f.handle(t, f.receive(t))
	if got := status(t, f, "222222222222", "due-a"); len(got) != 2 {
		t.Fatalf("due-a after the worker: %v", got)
	}
	// due-b's consumer still uses the old key after the delivery.
	f.sb.Clock().Advance(time.Minute)
	used := sts.NewFromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(f.sb.URL),
		Credentials: credentials.NewStaticCredentialsProvider(old[0].AccessKeyID, old[0].SecretAccessKey, "")})
	if _, err := used.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}

	// Nothing is visible before the wait.
	f.sb.Clock().Advance(3 * time.Minute)
	if ev := f.receiveFrom(t, f.h.CleanupQueueURL); len(ev.Records) != 0 {
		t.Fatalf("%d follow-ups visible before the wait", len(ev.Records))
	}
	f.sb.Clock().Advance(time.Minute + time.Second)
	ev := f.receiveFrom(t, f.h.CleanupQueueURL)
	if len(ev.Records) != 3 {
		t.Fatalf("%d follow-ups after the wait, want one per rotated user", len(ev.Records))
	}
	f.handle(t, ev)
	if got := status(t, f, "222222222222", "due-a"); len(got) != 2 || got[0] != "Inactive" || got[1] != "Active" {
		t.Fatalf("due-a after the wait: %v, want the old key inactive, the new one active", got)
	}
	if got := status(t, f, "333333333333", "due-c"); len(got) != 2 || got[0] != "Inactive" {
		t.Fatalf("due-c after the wait: %v", got)
	}
	if got := status(t, f, "222222222222", "due-b"); len(got) != 2 || got[0] != "Active" {
		t.Fatalf("due-b's old key was used after the delivery and must stay active: %v", got)
	}

	// One wait later the deactivated keys are deleted.
	f.sb.Clock().Advance(5*time.Minute + time.Second)
	ev = f.receiveFrom(t, f.h.CleanupQueueURL)
	if len(ev.Records) != 2 {
		t.Fatalf("%d follow-ups after the deactivations, want 2", len(ev.Records))
	}
	f.handle(t, ev)
	if got := status(t, f, "222222222222", "due-a"); len(got) != 1 || got[0] != "Active" {
		t.Fatalf("due-a at the end: %v, want only the new key", got)
	}
	if got := status(t, f, "333333333333", "due-c"); len(got) != 1 {
		t.Fatalf("due-c at the end: %v", got)
	}
	// Nothing left to follow up.
	f.sb.Clock().Advance(time.Hour)
	if ev := f.receiveFrom(t, f.h.CleanupQueueURL); len(ev.Records) != 0 {
		t.Fatalf("%d follow-ups left", len(ev.Records))
	}
}

// TestCleanupLongerThanSQSDelayIsChained: a follow-up due beyond SQS's 15-minute delay is sent
// again with the remaining delay instead of acting early.
func TestCleanupLongerThanSQSDelayIsChained(t *testing.T) {
	f := newFixture(t)
	withCleanup(t, f)
	due := f.sb.Clock().Now().Add(20 * time.Minute)
	body, _ := json.Marshal(CleanupMessage{Keycycle: "cleanup", AccountID: "222222222222", User: "due-a", Due: due})
	f.handle(t, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "early", Body: string(body), EventSource: "aws:sqs"}}})
	f.sb.Clock().Advance(15*time.Minute - time.Second)
	if ev := f.receiveFrom(t, f.h.CleanupQueueURL); len(ev.Records) != 0 {
		t.Fatal("the re-sent follow-up is visible before SQS's 15-minute maximum")
	}
	f.sb.Clock().Advance(time.Second)
	ev := f.receiveFrom(t, f.h.CleanupQueueURL)
	if len(ev.Records) != 1 {
		t.Fatalf("%d re-sent follow-ups, want 1", len(ev.Records))
	}
	var m CleanupMessage
	if err := json.Unmarshal([]byte(ev.Records[0].Body), &m); err != nil || !m.Due.Equal(due) {
		t.Fatalf("re-sent follow-up %s: %v", ev.Records[0].Body, err)
	}
	if got := status(t, f, "222222222222", "due-a"); len(got) != 1 || got[0] != "Active" {
		t.Fatalf("an early follow-up changed due-a: %v", got)
	}
	// Malformed follow-ups fail alone.
	raw, _ := json.Marshal(events.SQSEvent{Records: []events.SQSMessage{{MessageId: "bad", EventSource: "aws:sqs",
		Body: `{"keycycle": "cleanup", "account_id": "12", "user": "x", "due": "2026-11-21T09:00:00Z"}`}}})
	if resp := invoke(t, f.h, context.Background(), string(raw)).(events.SQSEventResponse); len(resp.BatchItemFailures) != 1 {
		t.Fatalf("a follow-up with a bad account id must fail: %+v", resp)
	}
}

// TestDryRunSendsNoFollowUp: in dry run nothing was rotated, so nothing is followed up.
func TestDryRunSendsNoFollowUp(t *testing.T) {
	f := newFixture(t)
	withCleanup(t, f)
	f.h.DryRun = true
	invoke(t, f.h, context.Background(), scheduledEvent)
	f.handle(t, f.receive(t))
	f.sb.Clock().Advance(time.Hour)
	if ev := f.receiveFrom(t, f.h.CleanupQueueURL); len(ev.Records) != 0 {
		t.Fatalf("dry run sent %d follow-ups", len(ev.Records))
	}
}
