package job_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/keycycle/keycycle/internal/audit"
	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/job"
	"github.com/keycycle/keycycle/internal/notify"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/policy"
	"github.com/keycycle/keycycle/internal/rotation"
	"github.com/keycycle/keycycle/internal/sink"
	"github.com/keycycle/keycycle/internal/sinkname"
)

const notifyScenario = `
start: 2026-11-21T09:00:00Z
accounts:
  - id: "111111111111"
    alias: e2e
    groups: [developers]
    users:
      - name: due
        tags: {owner: due@example.com}
        access_keys:
          - {age_days: 95, status: Active, last_used_days_ago: 1, last_used_service: s3, last_used_region: eu-west-1}
      - name: soon
        groups: [developers]
        access_keys:
          - {age_days: 80, status: Active, last_used_days_ago: 1}
      - name: twokeys
        tags: {owner: "not an address"}
        access_keys:
          - {age_days: 100, status: Active, last_used_days_ago: 1}
          - {age_days: 50, status: Active, last_used_days_ago: 1}
      - name: exempt
        tags: {"keycycle:exempt": "until=2026-11-28 reason=vendor appliance"}
        access_keys:
          - {age_days: 200, status: Active}
`

// recorder is a notifier that keeps what it is given.
type recorder struct {
	mu   sync.Mutex
	runs [][]notify.Event
	err  error
}

func (r *recorder) Name() string { return "recorder" }

func (r *recorder) Notify(_ context.Context, evs []notify.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs = append(r.runs, evs)
	return r.err
}

func (r *recorder) last() []notify.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.runs) == 0 {
		return nil
	}
	return r.runs[len(r.runs)-1]
}

type notifyEnv struct {
	sb    *awssimtest.Sandbox
	audit *bytes.Buffer
	n     job.Notify
}

func newNotifyEnv(t *testing.T, n job.Notify, opts ...awssimtest.Option) *notifyEnv {
	t.Helper()
	opts = append([]awssimtest.Option{awssimtest.WithScenarioYAML(t, notifyScenario)}, opts...)
	sb, _ := awssimtest.Start(t, opts...)
	return &notifyEnv{sb: sb, audit: &bytes.Buffer{}, n: n}
}

func (e *notifyEnv) runner(t *testing.T) *job.Runner {
	t.Helper()
	return &job.Runner{
		AWS:        e.sb.AccountConfig(t, acct),
		Rules:      policy.DefaultRules(),
		Secret:     config.Secret{NameTemplate: "keycycle/{{account}}/{{user}}"},
		Verify:     job.Verify{Successes: 2, Interval: 10 * time.Millisecond, MaxInterval: 50 * time.Millisecond, Timeout: 5 * time.Second},
		Now:        e.sb.Clock().Now,
		Audit:      audit.NewWriter(e.audit),
		ReportPoll: 5 * time.Millisecond,
		Notify:     e.n,
	}
}

// run plans, applies and notifies, as `keycycle apply` does.
func (e *notifyEnv) run(t *testing.T, dryRun bool) ([]rotation.Result, job.NotifyReport) {
	t.Helper()
	r := e.runner(t)
	s, err := r.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Apply(context.Background(), s.Plan, dryRun)
	if err != nil {
		t.Fatal(err)
	}
	return res, r.NotifyRun(context.Background(), s.Account, s.Plan, res, dryRun)
}

func byKind(evs []notify.Event) map[notify.Kind][]notify.Event {
	m := map[notify.Kind][]notify.Event{}
	for _, e := range evs {
		m[e.Kind] = append(m[e.Kind], e)
	}
	return m
}

func TestNotifyEventsAcrossTheLifecycle(t *testing.T) {
	rec := &recorder{}
	e := newNotifyEnv(t, job.Notify{Notify: config.Notify{GroupOwners: map[string]string{"developers": "dev-leads@example.com"},
		FallbackEmail: "security@example.com", ExemptionNotice: 14 * policy.Day}, Notifiers: []notify.Notifier{rec}})
	keys, _ := e.sb.Keys(acct, "due")
	old := keys[0]

	_, rep := e.run(t, false)
	if err := rep.Err(); err != nil {
		t.Fatal(err)
	}
	got := byKind(rec.last())
	day0 := e.sb.Clock().Now()
	if r := got[notify.Rotated]; len(r) != 1 || r[0].User != "due" || r[0].Owner != "due@example.com" ||
		r[0].AccessKeyID.Raw() != old.AccessKeyID || r[0].NewAccessKeyID == "" || r[0].AccountName != "e2e" ||
		r[0].Location != (notify.Location{Kind: sinkname.SecretsManager, Name: "keycycle/111111111111/due", Region: "us-east-1",
			FetchCommand: "aws secretsmanager get-secret-value --secret-id keycycle/111111111111/due --region us-east-1 --query SecretString --output text"}) {
		t.Fatalf("rotated: %+v", r)
	}
	if u := got[notify.UpcomingRotation]; len(u) != 1 || u[0].User != "soon" || u[0].Owner != "dev-leads@example.com" ||
		u[0].When.Sub(day0.Add(10*policy.Day)).Abs() > time.Minute {
		t.Fatalf("upcoming: %+v", u)
	}
	if b := got[notify.Blocked]; len(b) != 1 || b[0].User != "twokeys" || b[0].Owner != "security@example.com" ||
		!strings.Contains(b[0].Reason, "two active keys") {
		t.Fatalf("blocked: %+v", b)
	}
	if x := got[notify.ExemptionExpiring]; len(x) != 1 || x[0].User != "exempt" || x[0].When.Format("2006-01-02") != "2026-11-28" ||
		!strings.Contains(x[0].Reason, "vendor appliance") {
		t.Fatalf("exemption: %+v", x)
	}
	if len(rec.last()) != 4 {
		t.Fatalf("events: %+v", rec.last())
	}
	// Users without an owner are reported, with why a tag was not used.
	if len(rep.Unowned) != 2 || rep.Unowned[0].User != "exempt" || rep.Unowned[1].User != "twokeys" ||
		rep.Unowned[1].Fallback != "security@example.com" || !strings.Contains(rep.Unowned[1].Problem, "not an e-mail address") {
		t.Fatalf("unowned: %+v", rep.Unowned)
	}
	if !strings.Contains(e.audit.String(), `"action":"notify"`) || !strings.Contains(e.audit.String(), `"event":"notification_sent"`) {
		t.Fatalf("notification not audited:\n%s", e.audit.String())
	}

	// The old key is still used after the delivery: its owner hears it every run, with where.
	e.sb.Clock().Advance(2 * policy.Day)
	mustAuthSB(t, e.sb, old.AccessKeyID, old.SecretAccessKey)
	e.sb.Clock().Advance(9 * policy.Day)
	e.run(t, false)
	inUse := byKind(rec.last())[notify.OldKeyInUse]
	if len(inUse) != 1 || inUse[0].User != "due" || inUse[0].AccessKeyID.Raw() != old.AccessKeyID || inUse[0].NewAccessKeyID == "" ||
		inUse[0].LastUsed.Date.IsZero() || inUse[0].LastUsed.Service != "sts" {
		t.Fatalf("old key in use: %+v", inUse)
	}
	e.run(t, false)
	if again := byKind(rec.last())[notify.OldKeyInUse]; len(again) != 1 {
		t.Fatalf("the warning must repeat every run: %+v", rec.last())
	}

	// Idle for the guard window: deactivated; after the delete grace: deleted.
	e.sb.Clock().Advance(2 * policy.Day)
	e.run(t, false)
	if d := byKind(rec.last())[notify.Deactivated]; len(d) != 1 || d[0].User != "due" || d[0].AccessKeyID.Raw() != old.AccessKeyID {
		t.Fatalf("deactivated: %+v", rec.last())
	}
	e.sb.Clock().Advance(11 * policy.Day)
	e.run(t, false)
	if d := byKind(rec.last())[notify.Deleted]; len(d) != 1 || d[0].User != "due" || d[0].AccessKeyID.Raw() != old.AccessKeyID {
		t.Fatalf("deleted: %+v", rec.last())
	}
}

func TestNotifyDryRunSendsNothing(t *testing.T) {
	rec := &recorder{}
	e := newNotifyEnv(t, job.Notify{Notify: config.Notify{FallbackEmail: "security@example.com"}, Notifiers: []notify.Notifier{rec}})
	_, rep := e.run(t, true)
	if len(rec.runs) != 0 || !rep.DryRun || len(rep.Events) == 0 || len(rep.Channels) != 1 {
		t.Fatalf("dry run: sent %d, report %+v", len(rec.runs), rep)
	}
	if !strings.Contains(e.audit.String(), `"event":"notification_planned"`) {
		t.Fatal("planned notification not audited")
	}
}

func TestNotifyFailureDoesNotFailTheRotation(t *testing.T) {
	rec := &recorder{err: errors.New("channel down")}
	e := newNotifyEnv(t, job.Notify{Notify: config.Notify{FallbackEmail: "security@example.com"}, Notifiers: []notify.Notifier{rec}})
	res, rep := e.run(t, false)
	done := 0
	for _, r := range res {
		if r.Outcome == rotation.Done {
			done++
		}
	}
	if done != 1 || rep.Err() == nil || !strings.Contains(rep.Err().Error(), "channel down") {
		t.Fatalf("rotation %d done, notify error %v", done, rep.Err())
	}
	if keys, _ := e.sb.Keys(acct, "due"); len(keys) != 2 {
		t.Fatalf("the rotation must stand: %+v", keys)
	}
	if !strings.Contains(e.audit.String(), `"event":"notification_failed"`) {
		t.Fatal("failure not audited")
	}
}

// A saved plan has no inventory with it: the owners are read again.
func TestNotifyReadsOwnersForASavedPlan(t *testing.T) {
	rec := &recorder{}
	e := newNotifyEnv(t, job.Notify{Notifiers: []notify.Notifier{rec}, Notify: config.Notify{FallbackEmail: "security@example.com"}})
	r := e.runner(t)
	s, err := r.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Apply(context.Background(), s.Plan, false)
	if err != nil {
		t.Fatal(err)
	}
	rep := e.runner(t).NotifyRun(context.Background(), inventory.Account{}, s.Plan, res, false)
	if r := byKind(rep.Events)[notify.Rotated]; len(r) != 1 || r[0].Owner != "due@example.com" {
		t.Fatalf("events %+v", rep.Events)
	}
}

func mustAuthSB(t *testing.T, sb *awssimtest.Sandbox, id, sec string) {
	t.Helper()
	if _, err := sts.NewFromConfig(sb.Config(id, sec, "")).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("key %s does not authenticate: %v", id, err)
	}
}

// notifySandbox starts the notify scenario with a verified sender (keycycle@example.com) and an
// SNS topic (keycycle-events).
func notifySandbox(t *testing.T) (*awssimtest.Sandbox, aws.Config, *sns.CreateTopicOutput) {
	t.Helper()
	sb, cfg := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, notifyScenario))
	ctx := context.Background()
	if _, err := sesv2.NewFromConfig(cfg).CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("keycycle@example.com")}); err != nil {
		t.Fatal(err)
	}
	topic, err := sns.NewFromConfig(cfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("keycycle-events")})
	if err != nil {
		t.Fatal(err)
	}
	return sb, cfg, topic
}

// TestNotifyChannelsOnSandbox sends a run's notices through SES, SNS and a webhook on the sandbox
// and reads them back from its outbox, where no secret may appear.
func TestNotifyChannelsOnSandbox(t *testing.T) {
	sb, cfg, topic := notifySandbox(t)
	hook := awssimtest.StartWebhook(t, sb)
	e := &notifyEnv{sb: sb, audit: &bytes.Buffer{}, n: job.Notify{Notify: config.Notify{
		GroupOwners: map[string]string{"developers": "dev-leads@example.com"}, FallbackEmail: "security@example.com",
		ExemptionNotice: 14 * policy.Day,
		Email:           config.Email{AccountName: "production", From: "keycycle@example.com", ReplyTo: []string{"security@example.com"}},
		SNSTopicARN:     aws.ToString(topic.TopicArn), SlackWebhookURL: hook.URL + "/services/T000/B000/TOKEN",
	}}}
	_, rep := e.run(t, false)
	if err := rep.Err(); err != nil || len(rep.Channels) != 3 {
		t.Fatalf("channels %+v: %v", rep.Channels, err)
	}
	out := sb.Outbox()
	to := map[string]string{}
	for _, m := range out.Emails {
		to[m.To[0]] = m.Subject
	}
	want := map[string]string{
		"due@example.com":       "[production] keycycle: New access key delivered for due",
		"dev-leads@example.com": "[production] keycycle: Access key rotation coming up for soon",
		"security@example.com":  "[production] keycycle: 2 access key notices for exempt, twokeys",
	}
	if len(out.Emails) != 3 || len(to) != 3 {
		t.Fatalf("mails: %+v", out.Emails)
	}
	for addr, subj := range want {
		if to[addr] != subj {
			t.Errorf("mail to %s: subject %q, want %q", addr, to[addr], subj)
		}
	}
	if len(out.SNS) != 4 || len(out.Webhooks) != 1 {
		t.Fatalf("sns %d, webhooks %d", len(out.SNS), len(out.Webhooks))
	}
	var all strings.Builder
	for _, m := range out.Emails {
		all.WriteString(m.Subject + m.Text + m.HTML)
	}
	for _, m := range out.SNS {
		all.WriteString(m.Subject + m.Message)
	}
	for _, w := range out.Webhooks {
		all.WriteString(w.Body)
	}
	if !strings.Contains(all.String(), "keycycle/111111111111/due") {
		t.Fatal("the rotation's location is missing from the notices")
	}
	for _, s := range sandboxSecrets(t, sb, cfg) {
		if strings.Contains(all.String(), s) {
			t.Fatal("a secret access key reached a notification")
		}
	}
	for _, u := range []string{"due", "soon", "twokeys", "exempt"} {
		ks, _ := sb.Keys(acct, u)
		for _, k := range ks {
			if strings.Contains(all.String(), k.AccessKeyID) {
				t.Fatalf("a whole access key id of %s reached a notification", u)
			}
		}
	}
}

// sandboxSecrets is every secret access key the scenario seeded, the operator's, and the one
// delivered to Secrets Manager for user due.
func sandboxSecrets(t *testing.T, sb *awssimtest.Sandbox, cfg aws.Config) []string {
	t.Helper()
	var out []string
	for _, u := range []string{"due", "soon", "twokeys", "exempt"} {
		ks, _ := sb.Keys(acct, u)
		for _, k := range ks {
			if k.SecretAccessKey != "" { // seeded keys; the new key's secret is read from Secrets Manager below
				out = append(out, k.SecretAccessKey)
			}
		}
	}
	cred, _ := sb.OperatorCredential(acct)
	out = append(out, cred.SecretAccessKey)
	v, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(context.Background(),
		&secretsmanager.GetSecretValueInput{SecretId: aws.String("keycycle/" + acct + "/due")})
	if err != nil {
		t.Fatal(err)
	}
	var s struct{ SecretAccessKey string }
	if err := json.Unmarshal([]byte(aws.ToString(v.SecretString)), &s); err != nil || s.SecretAccessKey == "" {
		t.Fatalf("delivered secret: %v", err)
	}
	return append(out, s.SecretAccessKey)
}

// One channel failing (SES throttled) does not stop the others, nor the rotation.
func TestNotifyOneChannelFailsOthersGoOn(t *testing.T) {
	sb, cfg := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, notifyScenario), awssimtest.WithFaults(awssim.Faults{Errors: []awssim.ErrorRule{
		{Match: awssim.Match{Service: "ses", Action: "SendEmail"}, Code: "TooManyRequestsException", Status: 429},
	}}))
	ctx := context.Background()
	if _, err := sesv2.NewFromConfig(cfg).CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("example.com")}); err != nil {
		t.Fatal(err)
	}
	topic, err := sns.NewFromConfig(cfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("keycycle-events")})
	if err != nil {
		t.Fatal(err)
	}
	e := &notifyEnv{sb: sb, audit: &bytes.Buffer{}, n: job.Notify{Notify: config.Notify{FallbackEmail: "security@example.com",
		Email: config.Email{From: "keycycle@example.com"}, SNSTopicARN: aws.ToString(topic.TopicArn)}}}
	res, rep := e.run(t, false)
	if o := outcomesOf(res); o[rotation.Done] != 1 {
		t.Fatalf("the rotation must not depend on notifications: %v", o)
	}
	var errEmail, errSNS error
	for _, c := range rep.Channels {
		switch c.Name {
		case "email":
			errEmail = c.Err
		case "sns":
			errSNS = c.Err
		}
	}
	var api smithy.APIError
	if !errors.As(errEmail, &api) || api.ErrorCode() != "TooManyRequestsException" || errSNS != nil {
		t.Fatalf("email %v, sns %v", errEmail, errSNS)
	}
	if out := sb.Outbox(); len(out.Emails) != 0 || len(out.SNS) == 0 {
		t.Fatalf("outbox: %d mails, %d sns", len(out.Emails), len(out.SNS))
	}
	failed := false
	for _, line := range strings.Split(strings.TrimSpace(e.audit.String()), "\n") {
		var r audit.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		failed = failed || (r.Action == "notify" && r.Sink == "email" && r.Event == "notification_failed" &&
			strings.Contains(r.Error, "TooManyRequestsException"))
	}
	if !failed {
		t.Fatalf("the failed mail is not audited:\n%s", e.audit.String())
	}
}

func outcomesOf(rs []rotation.Result) map[rotation.Outcome]int {
	m := map[rotation.Outcome]int{}
	for _, r := range rs {
		m[r.Outcome]++
	}
	return m
}

// With nothing to apply, the plan's warnings and blocks are still told.
func TestNotifyWithNothingToApply(t *testing.T) {
	rec := &recorder{}
	e := newNotifyEnv(t, job.Notify{Notify: config.Notify{FallbackEmail: "security@example.com"}, Notifiers: []notify.Notifier{rec}})
	r := e.runner(t)
	s, err := r.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rep := r.NotifyRun(context.Background(), s.Account, s.Plan, nil, false)
	got := byKind(rec.last())
	if len(got[notify.UpcomingRotation]) != 1 || len(got[notify.Blocked]) != 1 || len(got[notify.Rotated]) != 0 || rep.Err() != nil {
		t.Fatalf("events %+v", rec.last())
	}
}

// An owner whose primary sink is SSM Parameter Store is told to fetch the new key with
// `aws ssm get-parameter --with-decryption`, never a Secrets Manager command (issue 12): the
// notice follows the kind of the sink the key went to, whatever the sink is named. End to end on
// the sandbox: plan, apply, mail through SES and an SNS message, then the command's call.
func TestNotifyFetchCommandFollowsAnSSMPrimarySink(t *testing.T) {
	sb, cfg, topic := notifySandbox(t)
	ctx := context.Background()
	e := &notifyEnv{sb: sb, audit: &bytes.Buffer{}, n: job.Notify{Notify: config.Notify{
		FallbackEmail: "security@example.com", Email: config.Email{From: "keycycle@example.com"}, SNSTopicARN: aws.ToString(topic.TopicArn)}}}
	r := e.runner(t)
	r.Delivery = job.Delivery{Delivery: config.Delivery{Sinks: []config.Sink{
		{Name: "params", Required: true, Settings: &sink.SSMConfig{Parameter: config.DefaultParameterTemplate}}}}}
	s, err := r.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Apply(ctx, s.Plan, false)
	if err != nil {
		t.Fatal(err)
	}
	var rotated rotation.Result
	for _, x := range res {
		if x.Step.User == "due" {
			rotated = x
		}
	}
	if rotated.Outcome != rotation.Done || len(rotated.Sinks) != 1 || rotated.Sinks[0].Kind != sinkname.SSM {
		t.Fatalf("rotation of due: %+v", rotated)
	}
	if rep := r.NotifyRun(ctx, s.Account, s.Plan, res, false); rep.Err() != nil {
		t.Fatal(rep.Err())
	}

	const param = "/keycycle/111111111111/due"
	const cmd = "aws ssm get-parameter --name " + param + " --with-decryption --region us-east-1 --query Parameter.Value --output text"
	out := sb.Outbox()
	var mail string
	for _, m := range out.Emails {
		if m.To[0] == "due@example.com" {
			mail = m.Text + m.HTML
		}
	}
	if !strings.Contains(mail, cmd) || !strings.Contains(mail, "AWS Systems Manager Parameter Store") {
		t.Fatalf("the owner's mail does not say to fetch the key from SSM with %q:\n%s", cmd, mail)
	}
	var sent strings.Builder
	for _, m := range out.Emails {
		sent.WriteString(m.Subject + m.Text + m.HTML)
	}
	var sawSNS bool
	for _, m := range out.SNS {
		sent.WriteString(m.Message)
		var msg notify.SNSMessage
		if err := json.Unmarshal([]byte(m.Message), &msg); err != nil {
			t.Fatal(err)
		}
		if msg.Kind == notify.Rotated {
			sawSNS = true
			if msg.Location == nil || msg.Location.Sink != sinkname.SSM || msg.Location.SecretName != param || msg.Location.FetchCommand != cmd {
				t.Errorf("SNS location %+v", msg.Location)
			}
		}
	}
	if !sawSNS {
		t.Fatal("no SNS message for the rotation")
	}
	if strings.Contains(sent.String(), "secretsmanager") || strings.Contains(sent.String(), "Secrets Manager") {
		t.Fatalf("a notice points at Secrets Manager, where nothing was delivered:\n%s", sent.String())
	}

	// The command works: the parameter holds the new key (what `--query Parameter.Value` prints),
	// and its secret reached no notice.
	p, err := ssm.NewFromConfig(cfg).GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(param), WithDecryption: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ AccessKeyId, SecretAccessKey string }
	if err := json.Unmarshal([]byte(aws.ToString(p.Parameter.Value)), &v); err != nil || v.AccessKeyId != rotated.NewKeyID.Raw() || v.SecretAccessKey == "" {
		t.Fatalf("parameter %s holds %q (%v), want the new key %s", param, v.AccessKeyId, err, rotated.NewKeyID)
	}
	if strings.Contains(sent.String(), v.SecretAccessKey) || strings.Contains(sent.String(), v.AccessKeyId) {
		t.Fatal("the new key's secret or whole id reached a notification")
	}
}

// Owner notices about a warning are chosen by the step's code, not by reading the user's state
// tags: an old key in use is told with the key that replaced it (from the plan's precondition),
// an upcoming rotation with its due date; other warnings, and warnings of a plan saved before
// codes existed, are the operator's.
func TestNotifyWarningsFollowCodes(t *testing.T) {
	now := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	oldID, newID := inventory.KeyID("AKIAOLDKEY0000000001"), inventory.KeyID("AKIANEWKEY0000000002")
	u := inventory.User{Name: "app", UserID: "AIDAAPP", Tags: map[string]string{"owner": "app@example.com"}, KeysKnown: true,
		Keys: []inventory.AccessKey{
			{ID: oldID, Status: inventory.StatusActive, Created: now.AddDate(0, 0, -100), LastUsed: now.Add(-time.Hour), LastUsedKnown: true, LastUsedService: "s3"},
			{ID: newID, Status: inventory.StatusActive, Created: now.AddDate(0, 0, -5), LastUsedKnown: true},
		}}
	acctInv := inventory.Account{ID: "111111111111", Users: []inventory.User{u}}
	pre := plan.PreconditionOf(u)
	step := func(c plan.Code, id inventory.KeyID) rotation.Result {
		return rotation.Result{Outcome: rotation.Noted, Step: plan.Step{AccountID: acctInv.ID, User: "app", UserID: "AIDAAPP",
			Credential: plan.AccessKey, AccessKeyID: id, Action: plan.Warn, Code: c, Reason: "words", Rule: "default", Precondition: pre}}
	}
	r := &job.Runner{Rules: policy.DefaultRules(), Now: func() time.Time { return now }}
	for _, tc := range []struct {
		res  rotation.Result
		kind notify.Kind // "": no notice
	}{
		{step(plan.CodeOldKeyInUse, oldID), notify.OldKeyInUse},
		{step(plan.CodeOldKeyReactivated, oldID), notify.OldKeyInUse},
		{step(plan.CodeRotationUpcoming, newID), notify.UpcomingRotation},
		{step(plan.CodeTagUnreadable, oldID), ""},
		{step("", oldID), ""}, // a plan saved before codes
	} {
		evs, _ := r.Events(acctInv, []rotation.Result{tc.res})
		var got notify.Kind
		if len(evs) == 1 {
			got = evs[0].Kind
		}
		if len(evs) > 1 || got != tc.kind {
			t.Errorf("code %q: events %+v, want kind %q", tc.res.Step.Code, evs, tc.kind)
			continue
		}
		switch got {
		case notify.OldKeyInUse:
			if evs[0].NewAccessKeyID != newID || evs[0].LastUsed.Service != "s3" || evs[0].Owner != "app@example.com" {
				t.Errorf("old key in use: %+v", evs[0])
			}
		case notify.UpcomingRotation:
			if !evs[0].When.Equal(u.Keys[1].Created.Add(policy.DefaultRules().Default.RotateAfter)) {
				t.Errorf("upcoming rotation due %s", evs[0].When)
			}
		}
	}
}
