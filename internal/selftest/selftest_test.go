package selftest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/iampolicy"
	"github.com/keycycle/keycycle/internal/job"
	"github.com/keycycle/keycycle/internal/selftest"
)

// wall is a fake real-time clock: every wait (the sandbox's latency, the SDK's retry backoff,
// the verifier's and the selftest's sleeps) moves it instead of sleeping. With endpoint set it
// moves the sandbox clock too, as real time moves AWS's.
type wall struct {
	mu       sync.Mutex
	t        time.Time
	endpoint *awssimtest.Sandbox
}

func (w *wall) Now() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.t
}

func (w *wall) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w.mu.Lock()
	w.t = w.t.Add(d)
	sb := w.endpoint
	w.mu.Unlock()
	if sb != nil {
		sb.Clock().Advance(d)
	}
	return nil
}

// BackoffDelay waits out the SDK's retry backoff on the fake clock; the SDK then retries at once.
func (w *wall) BackoffDelay(attempt int, _ error) (time.Duration, error) {
	_ = w.Sleep(context.Background(), time.Duration(attempt)*500*time.Millisecond)
	return 0, nil
}

// awsLike are the sandbox's AWS-like latencies, propagation delay and throttling: a round trip
// of tens of milliseconds, new keys failing for 8 seconds, IAM throttled at the polite estimate of
// AWS-FACTS.md (5 requests/s, bursts of 15).
func awsLike() awssim.Faults {
	return awssim.Faults{
		Latency:             []awssim.LatencyRule{{Delay: awssim.Duration(40 * time.Millisecond)}},
		RateLimits:          []awssim.RateLimitRule{{Match: awssim.Match{Service: "iam"}, PerSecond: 5, Burst: 15}},
		KeyPropagationDelay: awssim.Duration(8 * time.Second),
	}
}

const scenario = `
start: 2026-11-21T09:00:00Z
accounts:
  - id: "111111111111"
    alias: acme-sandbox
    users:
      - {name: alice, access_keys: [{age_days: 200, status: Active}]}
`

type fixture struct {
	sb   *awssimtest.Sandbox
	wall *wall
	cfg  *config.Config
	aws  aws.Config
}

func newFixture(t *testing.T, cfgYAML string, opts ...awssimtest.Option) *fixture {
	t.Helper()
	w := &wall{t: time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)}
	opts = append([]awssimtest.Option{awssimtest.WithScenarioYAML(t, scenario), awssimtest.WithWallClock(w.Now), awssimtest.WithSleep(w.Sleep)}, opts...)
	sb, awsCfg := awssimtest.Start(t, opts...)
	awsCfg.RetryMaxAttempts = 0
	awsCfg.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 10
			o.RateLimiter = ratelimit.None
			o.Backoff = w
		})
	}
	cfg, err := config.Parse("keycycle.yaml", []byte(cfgYAML))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{sb: sb, wall: w, cfg: cfg, aws: awsCfg}
}

func (f *fixture) options(t *testing.T) selftest.Options {
	t.Helper()
	r, err := job.FromConfig(f.cfg, f.aws, f.sb.Clock().Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.ReportPoll = time.Millisecond
	return selftest.Options{Runner: r, Config: f.cfg, Wall: f.wall.Now, Sleep: f.wall.Sleep, Fast: true,
		Admin: &selftest.Admin{URL: f.sb.URL}}
}

// leftovers lists what a selftest may have left: users under its path, secrets of its users.
func (f *fixture) leftovers(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	users, err := iam.NewFromConfig(f.aws).ListUsers(ctx, &iam.ListUsersInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users.Users {
		if strings.HasPrefix(aws.ToString(u.UserName), selftest.NamePrefix) || aws.ToString(u.Path) == selftest.Path {
			out = append(out, "user "+aws.ToString(u.UserName))
		}
	}
	secrets, err := secretsmanager.NewFromConfig(f.aws).ListSecrets(ctx, &secretsmanager.ListSecretsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets.SecretList {
		if strings.Contains(aws.ToString(s.Name), selftest.NamePrefix) {
			out = append(out, "secret "+aws.ToString(s.Name))
		}
	}
	return out
}

const allowed = `
dry_run: false
selftest: {allowed_aliases: ["*-sandbox"]}
delivery:
  - type: secretsmanager
  - type: ssm
    parameter: /keycycle/{{user}}
`

// TestFastSelftestOnAWSLikeSandbox is the CI run of issue 18: `selftest --fast` against the
// sandbox with latency, propagation delay and throttling on, every stage passing and nothing
// left behind.
func TestFastSelftestOnAWSLikeSandbox(t *testing.T) {
	f := newFixture(t, allowed, awssimtest.WithFaults(awsLike()))
	var seen []string
	var logs bytes.Buffer
	var delivered string // the new key's secret, read from the sink as its consumer would
	o := f.options(t)
	o.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o.Runner.Log = o.Log
	o.Progress = func(s selftest.Stage) {
		seen = append(seen, s.Name)
		if s.Name == "apply rotates" {
			out, err := secretsmanager.NewFromConfig(f.aws).ListSecrets(context.Background(), &secretsmanager.ListSecretsInput{})
			if err != nil || len(out.SecretList) == 0 {
				t.Fatalf("no secret delivered: %v", err)
			}
			v, err := secretsmanager.NewFromConfig(f.aws).GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: out.SecretList[0].Name})
			if err != nil {
				t.Fatal(err)
			}
			var body struct{ SecretAccessKey string }
			if err := json.Unmarshal([]byte(aws.ToString(v.SecretString)), &body); err != nil || body.SecretAccessKey == "" {
				t.Fatalf("secret value: %v", err)
			}
			delivered = body.SecretAccessKey
		}
	}
	rep, err := selftest.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	st := f.sb.Stats() // before the test's own calls
	for _, s := range rep.Stages {
		if s.Status != selftest.Passed || len(s.Checked) == 0 {
			t.Errorf("stage %q: %s %s %v", s.Name, s.Status, s.Error, s.Checked)
		}
	}
	if len(rep.Stages) != len(selftest.StageNames()) || len(seen) != len(rep.Stages) {
		t.Fatalf("stages %d, progress %d, want %d", len(rep.Stages), len(seen), len(selftest.StageNames()))
	}
	if !rep.CleanedUp || len(rep.Leftovers) > 0 || rep.Failed() {
		t.Fatalf("cleanup: %v", rep.Leftovers)
	}
	if left := f.leftovers(t); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
	// The measured propagation is the sandbox's delay, seen through the real code path.
	var prop time.Duration
	for _, tm := range rep.Stages[0].Timings {
		if strings.HasPrefix(tm.Name, "new key propagation") {
			prop = time.Duration(tm.Value)
		}
	}
	if prop < 8*time.Second || prop > 12*time.Second {
		t.Fatalf("measured propagation %s, the sandbox delays new keys 8s", prop)
	}
	throttled := 0
	for _, bySvc := range st.Throttled {
		for _, byAction := range bySvc {
			for _, n := range byAction {
				throttled += n
			}
		}
	}
	if throttled == 0 {
		t.Fatal("the run must have met throttling (IAM at 5/s), and come through it")
	}
	// Alice, not the selftest's, is untouched: one key, as the scenario made it.
	keys, err := iam.NewFromConfig(f.aws).ListAccessKeys(context.Background(), &iam.ListAccessKeysInput{UserName: aws.String("alice")})
	if err != nil || len(keys.AccessKeyMetadata) != 1 {
		t.Fatalf("alice: %v %v", keys, err)
	}
	// Every call the selftest made is one `keycycle policy --selftest` grants.
	doc, err := iampolicy.Policy(f.cfg, iampolicy.Member, iampolicy.Options{Selftest: true})
	if err != nil {
		t.Fatal(err)
	}
	granted := map[string]bool{}
	for _, a := range doc.Actions() {
		granted[a] = true
	}
	for _, bySvc := range st.Calls {
		for svc, byAction := range bySvc {
			for op := range byAction {
				if svc+"/"+op == "secretsmanager/ListSecrets" {
					continue // the test's own look-up of the delivered secret, above
				}
				action, ok := iampolicy.OperationAction(svc, op)
				if !ok || (action != "" && !granted[action]) {
					t.Errorf("the selftest called %s/%s, which the --selftest policy does not grant", svc, op)
				}
			}
		}
	}
	b, _ := json.Marshal(rep)
	if delivered == "" || strings.Contains(string(b), delivered) || strings.Contains(logs.String(), delivered) {
		t.Fatal("the report and the log must carry no secret")
	}
}

func TestCancelMidRunLeavesNothing(t *testing.T) {
	f := newFixture(t, allowed)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := f.options(t)
	o.Progress = func(s selftest.Stage) {
		if s.Name == "apply rotates" { // a second key and a secret exist now
			cancel()
		}
	}
	rep, err := selftest.Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Failed() && len(rep.Stages) == len(selftest.StageNames()) && rep.Stages[len(rep.Stages)-1].Status == selftest.Passed {
		t.Fatal("a cancelled run must not pass")
	}
	if !rep.CleanedUp {
		t.Fatalf("cleanup after Ctrl-C: %v", rep.Leftovers)
	}
	if left := f.leftovers(t); len(left) > 0 {
		t.Fatalf("left behind after Ctrl-C: %v", left)
	}
}

func TestFailedStageStillCleansUp(t *testing.T) {
	f := newFixture(t, allowed, awssimtest.WithFaults(awssim.Faults{Errors: []awssim.ErrorRule{
		{Match: awssim.Match{Service: "iam", Action: "UpdateAccessKey"}, Code: "AccessDenied", Status: 403},
	}}))
	rep, err := selftest.Run(context.Background(), f.options(t))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Failed() {
		t.Fatal("deactivation was refused: the run must fail")
	}
	var failed, skipped int
	for _, s := range rep.Stages {
		switch s.Status {
		case selftest.Failed:
			failed++
		case selftest.Skipped:
			skipped++
		}
	}
	if failed != 1 || skipped == 0 {
		t.Fatalf("without --keep-going the stages after the failure are skipped: %+v", rep.Stages)
	}
	if left := f.leftovers(t); len(left) > 0 || !rep.CleanedUp {
		t.Fatalf("left behind after a failure: %v %v", left, rep.Leftovers)
	}
}

func TestRefusesWithoutMarker(t *testing.T) {
	f := newFixture(t, "dry_run: false\nselftest: {allowed_aliases: [\"*-dev\"]}\n")
	_, err := selftest.Run(context.Background(), f.options(t))
	if !errors.Is(err, selftest.ErrNotAllowed) || !strings.Contains(err.Error(), "111111111111") {
		t.Fatalf("err = %v", err)
	}
	if left := f.leftovers(t); len(left) > 0 {
		t.Fatalf("a refused run must create nothing: %v", left)
	}
	// The account id, or --yes, lets it run.
	f.cfg.Selftest.AllowedAccounts = []string{"111111111111"}
	if rep, err := selftest.Run(context.Background(), f.options(t)); err != nil || rep.Failed() {
		t.Fatalf("allowed by account id: %v %+v", err, rep)
	}
}

// TestDeferResumeAndCleanup: without --fast, waits longer than MaxWait are deferred and the run
// resumes from the state kept on the user; --cleanup removes a deferred run's user.
func TestDeferResumeAndCleanup(t *testing.T) {
	f := newFixture(t, allowed)
	f.wall.endpoint = f.sb // real time: waiting moves the endpoint's clock too
	o := f.options(t)
	o.Fast, o.MaxWait = false, 5*time.Minute
	rep, err := selftest.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	last := rep.Stages[len(rep.Stages)-1]
	if !rep.Deferred || last.Name != "idle old key is deactivated" || last.Status != selftest.NeedsTime ||
		!strings.Contains(last.Error, "needs 21 min of real time") {
		t.Fatalf("want the guard window deferred: %+v", rep)
	}
	if left := f.leftovers(t); len(left) == 0 || !strings.HasPrefix(left[0], "user "+selftest.NamePrefix) {
		t.Fatalf("a deferred run keeps its user: %v", left)
	}
	o.Resume, o.MaxWait = rep.ID, time.Hour
	resumed, err := selftest.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if resumed.Failed() || resumed.Deferred || len(resumed.Stages) != len(selftest.StageNames())-4 || !resumed.CleanedUp {
		t.Fatalf("resumed: %+v", resumed)
	}
	if left := f.leftovers(t); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}

	// Another deferred run, then --cleanup finds it by its tag.
	o.Resume, o.MaxWait = "", 5*time.Minute
	if rep, err := selftest.Run(context.Background(), o); err != nil || !rep.Deferred {
		t.Fatalf("setup: %v %+v", err, rep)
	}
	removed, leftovers, err := selftest.Cleanup(context.Background(), o)
	if err != nil || len(removed) != 1 || len(leftovers) > 0 {
		t.Fatalf("cleanup: removed %v, left %v, %v", removed, leftovers, err)
	}
	if left := f.leftovers(t); len(left) > 0 {
		t.Fatalf("left behind after --cleanup: %v", left)
	}
}

func TestMarkerFromOrganizationsTag(t *testing.T) {
	org := func(value string) string {
		return `
start: 2026-11-21T09:00:00Z
accounts:
  - {id: "111111111111", alias: acme-org}
  - {id: "222222222222", alias: acme-dev}
organization:
  management_account: "111111111111"
  account_tags:
    "111111111111": {keycycle:selftest-allowed: "` + value + `"}
`
	}
	const cfg = "dry_run: false\nselftest: {allowed_tag: keycycle:selftest-allowed}\n"
	f := newFixture(t, cfg, awssimtest.WithScenarioYAML(t, org("false")))
	if _, err := selftest.Run(context.Background(), f.options(t)); !errors.Is(err, selftest.ErrNotAllowed) {
		t.Fatalf("a marker tag set to false is no marker: %v", err)
	}
	// A member account cannot read Organizations tags (AWS answers AccessDenied): no marker, no run.
	f.aws = f.sb.AccountConfig(t, "222222222222")
	if _, err := selftest.Run(context.Background(), f.options(t)); err == nil || !strings.Contains(err.Error(), "organizations:ListTagsForResource") {
		t.Fatalf("an unreadable marker must refuse, naming the permission: %v", err)
	}
	if left := f.leftovers(t); len(left) > 0 {
		t.Fatalf("a refused run created %v", left)
	}
	f = newFixture(t, cfg, awssimtest.WithScenarioYAML(t, org("yes")))
	rep, err := selftest.Run(context.Background(), f.options(t))
	if err != nil || rep.Failed() {
		t.Fatalf("tagged account: %v %+v", err, rep)
	}
}

func TestKeepGoingRunsLaterStages(t *testing.T) {
	f := newFixture(t, allowed, awssimtest.WithFaults(awssim.Faults{Errors: []awssim.ErrorRule{
		{Match: awssim.Match{Service: "iam", Action: "UpdateAccessKey"}, Code: "AccessDenied", Status: 403},
	}}))
	o := f.options(t)
	o.KeepGoing = true
	rep, err := selftest.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]selftest.Stage{}
	for _, s := range rep.Stages {
		status[s.Name] = s
		if s.Status == selftest.Skipped {
			t.Errorf("with --keep-going no stage is skipped: %s", s.Name)
		}
	}
	if status["idle old key is deactivated"].Status != selftest.Failed {
		t.Fatalf("deactivation must fail: %+v", status)
	}
	// The later stages ran against the real state: the still-due deactivation fails again first,
	// and the user's password is rotated all the same (a user's keys and password do not depend
	// on each other, issue 11: a failing key step must not keep the password from being reached).
	if pw := status["console password rotated to the password policy"]; pw.Status != selftest.Passed {
		t.Fatalf("password stage: %+v", pw)
	}
	if !rep.Failed() || !rep.CleanedUp {
		t.Fatalf("failed %t, cleaned up %t %v", rep.Failed(), rep.CleanedUp, rep.Leftovers)
	}
}
