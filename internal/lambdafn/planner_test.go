package lambdafn

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/job"
	"github.com/keycycle/keycycle/internal/lambdafn/lambdafntest"
	"github.com/keycycle/keycycle/internal/policy"
	"github.com/keycycle/keycycle/internal/throttle"
)

// twoLevelScenario: a hub holding the account queue (standard, redrive to its DLQ after 2
// receives) and the work queue (FIFO); two member accounts with the member role and one
// (444...) without it, whose planning fails.
const twoLevelScenario = `
start: 2026-11-21T09:00:00Z
accounts:
  - id: "111111111111"
    alias: hub
    queues:
      - {name: keycycle-accounts-dlq}
      - name: keycycle-accounts
        attributes:
          VisibilityTimeout: "60"
          RedrivePolicy: '{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:111111111111:keycycle-accounts-dlq","maxReceiveCount":2}'
      - {name: keycycle.fifo, attributes: {FifoQueue: "true", VisibilityTimeout: "60"}}
  - id: "222222222222"
    roles: [{name: KeycycleMember, trusted_accounts: ["111111111111"]}]
    users:
      - {name: due-a, access_keys: [{age_days: 100, status: Active}]}
      - {name: young, access_keys: [{age_days: 10, status: Active}]}
      - name: idle
        login_profile: {age_days: 300, password_age_days: 10, last_used_days_ago: 100}
  - id: "333333333333"
    roles: [{name: KeycycleMember, trusted_accounts: ["111111111111"]}]
    users:
      - {name: due-c, access_keys: [{age_days: 120, status: Active}]}
  - id: "444444444444"
    users:
      - {name: unreachable, access_keys: [{age_days: 120, status: Active}]}
`

type twoLevel struct {
	sb                *awssimtest.Sandbox
	hub               aws.Config
	q                 *sqs.Client
	accounts, work    string
	accountsDLQ       string
	accountsARN       string
	targets           []job.Target
	planners, workers *lambdafntest.Mapping
}

func newTwoLevel(t *testing.T) *twoLevel {
	t.Helper()
	sb, hub := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, twoLevelScenario))
	tl := &twoLevel{sb: sb, hub: hub, q: sqs.NewFromConfig(hub),
		targets: []job.Target{{AccountID: "222222222222"}, {AccountID: "333333333333"}, {AccountID: "444444444444"}}}
	for name, dst := range map[string]*string{"keycycle-accounts": &tl.accounts, "keycycle.fifo": &tl.work, "keycycle-accounts-dlq": &tl.accountsDLQ} {
		out, err := tl.q.GetQueueUrl(context.Background(), &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		*dst = aws.ToString(out.QueueUrl)
	}
	tl.accountsARN = "arn:aws:sqs:us-east-1:111111111111:keycycle-accounts"
	return tl
}

// handler is a fresh Lambda instance (its role sessions are valid on the sandbox's current time).
func (tl *twoLevel) handler() *Handler {
	fleet := &job.Fleet{
		Hub:    tl.hub,
		Role:   job.Role{Name: "KeycycleMember"},
		Limits: throttle.NewRegistry(throttle.Limits{Read: throttle.Budget{PerSecond: 100, Burst: 100}, Write: throttle.Budget{PerSecond: 100, Burst: 100}}),
		Runner: job.Runner{Rules: policy.DefaultRules(), Secret: config.Secret{NameTemplate: "keycycle/{{account}}/{{user}}"},
			Verify: job.Verify{Interval: 10 * time.Millisecond, Timeout: 5 * time.Second}, Now: tl.sb.Clock().Now, ReportPoll: 5 * time.Millisecond},
	}
	h := &Handler{Fleet: fleet, Targets: func(context.Context) ([]job.Target, error) { return tl.targets, nil },
		SQS: tl.q, QueueURL: tl.work, AccountQueueURL: tl.accounts, Now: tl.sb.Clock().Now}
	tl.planners = &lambdafntest.Mapping{SQS: tl.q, QueueURL: tl.accounts, QueueARN: tl.accountsARN, Region: "us-east-1", BatchSize: 10, Invoke: h.Handle}
	tl.workers = &lambdafntest.Mapping{SQS: tl.q, QueueURL: tl.work, Region: "us-east-1", BatchSize: 10, Invoke: h.Handle}
	return h
}

func (tl *twoLevel) drain(t *testing.T, m *lambdafntest.Mapping) lambdafntest.Stats {
	t.Helper()
	st, err := m.Drain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (tl *twoLevel) bodies(t *testing.T, url string) []string {
	t.Helper()
	out, err := tl.q.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	var bs []string
	for _, m := range out.Messages {
		bs = append(bs, aws.ToString(m.Body))
	}
	return bs
}

func TestScheduleEnqueuesOneMessagePerAccountAndPlannersFeedTheWorkers(t *testing.T) {
	tl := newTwoLevel(t)
	h := tl.handler()
	rep := invoke(t, h, context.Background(), scheduledEvent).(Report)
	if rep.Accounts != 3 || rep.Queued != 3 || rep.Planned != 0 || rep.Enqueued != 0 || len(rep.Errors) != 0 {
		t.Fatalf("schedule report = %+v, want 3 accounts queued and nothing planned", rep)
	}
	if keys, _ := tl.sb.Keys("222222222222", "due-a"); len(keys) != 1 {
		t.Fatal("the schedule changed an account")
	}

	// The planners: 444 has no member role and fails alone; the others feed the work queue.
	st := tl.drain(t, tl.planners)
	if st.Handled != 2 || st.Failed != 1 {
		t.Fatalf("planners: %+v, want 2 handled and 1 failed", st)
	}
	st = tl.drain(t, tl.workers)
	// due-a, due-c, and idle's console warning (a step that records its start on the user).
	if st.Handled != 3 || st.Failed != 0 {
		t.Fatalf("workers: %+v, want 3 handled", st)
	}
	for acct, u := range map[string]string{"222222222222": "due-a", "333333333333": "due-c"} {
		if keys, _ := tl.sb.Keys(acct, u); len(keys) != 2 {
			t.Fatalf("%s/%s: keys %+v, want the new key beside the old", acct, u, keys)
		}
	}
	if keys, _ := tl.sb.Keys("222222222222", "young"); len(keys) != 1 {
		t.Fatal("young was touched")
	}

	// The failed account is retried alone after its visibility timeout, and after
	// maxReceiveCount (2) lands in the account DLQ; nothing else is redelivered.
	tl.sb.Clock().Advance(61 * time.Second)
	if st := tl.drain(t, tl.planners); st.Handled != 0 || st.Failed != 1 {
		t.Fatalf("second receive: %+v, want the one failed account again", st)
	}
	tl.sb.Clock().Advance(61 * time.Second)
	if st := tl.drain(t, tl.planners); st.Invocations != 0 {
		t.Fatalf("third receive: %+v, want the message moved to the DLQ", st)
	}
	dlq := tl.bodies(t, tl.accountsDLQ)
	if len(dlq) != 1 || !strings.Contains(dlq[0], `"account_id":"444444444444"`) {
		t.Fatalf("account DLQ holds %q, want the unreachable account's message", dlq)
	}
}

func TestScheduleRotatesTheOrderOfAccounts(t *testing.T) {
	var ts []job.Target
	for _, id := range []string{"555555555555", "111111111111", "333333333333", "222222222222", "444444444444"} {
		ts = append(ts, job.Target{AccountID: id})
	}
	firsts := map[string]bool{}
	for seed := uint64(0); seed < 50; seed++ {
		got := order(ts, seed)
		if len(got) != len(ts) {
			t.Fatalf("seed %d: %d accounts, want %d", seed, len(got), len(ts))
		}
		// A rotation of the sorted list: every account once, in sorted order from the start.
		k := strings.Index("12345", got[0].AccountID[:1])
		for i, g := range got {
			if want := string("12345"[(k+i)%5]); g.AccountID[:1] != want {
				t.Fatalf("seed %d: %v is not a rotation of the sorted accounts", seed, got)
			}
		}
		firsts[got[0].AccountID] = true
	}
	if len(firsts) != len(ts) {
		t.Fatalf("over 50 schedules the first account was only %v: some account is never first", firsts)
	}
	if a, b := order(ts, 7), order(ts, 7); a[0] != b[0] {
		t.Fatal("the same schedule time must give the same order")
	}
}

// TestLambdaRemovesUnusedConsoleAccessAsApplyDoes: the warning that starts an unused console
// password's warning period is recorded by a worker, and once the period has passed the next
// schedule removes the console access, as `keycycle apply` does.
func TestLambdaRemovesUnusedConsoleAccessAsApplyDoes(t *testing.T) {
	tl := newTwoLevel(t)
	tl.targets = tl.targets[:1]
	iamc := iam.NewFromConfig(tl.sb.AccountConfig(t, "222222222222"))
	run := func() {
		t.Helper()
		h := tl.handler()
		invoke(t, h, context.Background(), scheduledEvent)
		if st := tl.drain(t, tl.planners); st.Failed != 0 {
			t.Fatalf("planner: %+v", st)
		}
		if st := tl.drain(t, tl.workers); st.Failed != 0 {
			t.Fatalf("worker: %+v", st)
		}
	}
	run()
	tags, err := iamc.ListUserTags(context.Background(), &iam.ListUserTagsInput{UserName: aws.String("idle")})
	if err != nil {
		t.Fatal(err)
	}
	warned := false
	for _, tg := range tags.Tags {
		warned = warned || aws.ToString(tg.Key) == inventory.ConsoleWarnedTag(policy.DefaultRules().Tags.StatePrefix)
	}
	if !warned {
		t.Fatalf("idle's console warning was not recorded: tags %+v", tags.Tags)
	}
	if _, err := iamc.GetLoginProfile(context.Background(), &iam.GetLoginProfileInput{UserName: aws.String("idle")}); err != nil {
		t.Fatalf("console access removed before the warning period: %v", err)
	}
	tl.sb.Clock().Advance(policy.DefaultRules().Default.ConsoleDisableWarning + 24*time.Hour)
	run()
	_, err = iamc.GetLoginProfile(context.Background(), &iam.GetLoginProfileInput{UserName: aws.String("idle")})
	var nse *iamtypes.NoSuchEntityException
	if !errors.As(err, &nse) {
		t.Fatalf("console access of idle after the warning period: %v, want NoSuchEntity", err)
	}
}

func TestPlannerRefusesAMalformedAccountMessage(t *testing.T) {
	tl := newTwoLevel(t)
	h := tl.handler()
	for _, body := range []string{`{"keycycle":"account","account_id":"12345"}`, `{"keycycle":"account"}`} {
		raw, _ := json.Marshal(map[string]any{"Records": []map[string]any{{"messageId": "m1", "body": body, "eventSource": "aws:sqs"}}})
		resp := invoke(t, h, context.Background(), string(raw))
		b, _ := json.Marshal(resp)
		if !strings.Contains(string(b), `"itemIdentifier":"m1"`) {
			t.Fatalf("%s: answer %s, want a batch item failure", body, b)
		}
	}
}
