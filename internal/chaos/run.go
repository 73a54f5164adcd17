package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keycycle/keycycle/internal/audit"
	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/job"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/rotation"
)

// SecretTemplate names the primary sink's secret of a user in every schedule.
const SecretTemplate = "keycycle/{{account}}/{{user}}"

func secretName(user string) string { return "keycycle/" + AccountID + "/" + user }

// Violation is one broken invariant.
type Violation struct {
	Invariant string // I1 .. I8
	Round     int    // index in Schedule.Rounds
	Detail    string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s (round %d): %s", v.Invariant, v.Round, v.Detail)
}

// Result is what one schedule came to.
type Result struct {
	Violations []Violation
	// Coverage of the schedule.
	Calls, Faults, Interrupted, Runs, ConcurrentRounds, Rounds int
	// Output is what the runs printed, round by round (plans and results), for debugging.
	Output string
	// Setup is a failure of the harness itself (not of keycycle).
	Setup error
}

// Execute runs s against a fresh sandbox and checks the invariants after every round.
func Execute(ctx context.Context, s Schedule) Result {
	h, err := newHarness(s)
	if err != nil {
		return Result{Setup: err}
	}
	for i, rd := range s.Rounds {
		if err := h.round(ctx, i, rd); err != nil {
			h.res.Setup = fmt.Errorf("round %d: %w", i, err)
			break
		}
		if len(h.res.Violations) > 0 {
			break
		}
	}
	st := h.sb.Stats()
	h.res.Calls = st.Total
	h.res.Faults = sum(st.Injected) + sum(st.Throttled)
	h.res.Output = h.output.String()
	return h.res
}

func sum(m map[string]map[string]map[string]int) int {
	n := 0
	for _, svcs := range m {
		for _, acts := range svcs {
			for _, v := range acts {
				n += v
			}
		}
	}
	return n
}

type harness struct {
	s      Schedule
	sb     *awssim.Server
	op     aws.Config // the operator, without faults' retries or interruptions
	users  []string
	seeded map[string]bool // access key ids from the scenario
	// delivered are the keys any snapshot saw promoted in the primary sink: a key keycycle created
	// and never delivered is an orphan its cleanup may delete at once.
	delivered map[string]bool
	topic     string
	res       Result
	// deactivated: sandbox time at which a key was first seen inactive after being active.
	deactivated map[string]time.Time
	plans       []plan.Plan // plans of earlier rounds, for stale runs
	output      bytes.Buffer
}

func newHarness(s Schedule) (*harness, error) {
	sb, err := awssim.New(awssim.Options{Scenario: s.Scenario, RecordSecrets: true})
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	cred, _ := sb.OperatorCredential(AccountID)
	h := &harness{s: s, sb: sb, seeded: map[string]bool{}, delivered: map[string]bool{}, deactivated: map[string]time.Time{}}
	h.op = h.config(cred, &transport{h: sb}, 1)
	for _, u := range s.Scenario.Accounts[0].Users {
		h.users = append(h.users, u.Name)
		ks, _ := sb.Keys(AccountID, u.Name)
		for _, k := range ks {
			h.seeded[k.AccessKeyID] = true
		}
	}
	out, err := sns.NewFromConfig(h.op).CreateTopic(context.Background(), &sns.CreateTopicInput{Name: aws.String("keycycle-events")})
	if err != nil {
		return nil, fmt.Errorf("create topic: %w", err)
	}
	h.topic = aws.ToString(out.TopicArn)
	if _, err := sesv2.NewFromConfig(h.op).CreateEmailIdentity(context.Background(), &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("keycycle@example.com")}); err != nil {
		return nil, fmt.Errorf("verify the sender: %w", err)
	}
	return h, nil
}

// config is an SDK configuration on the in-memory transport t, retrying like keycycle's
// (awscfg.Retryer) but without waiting: the sandbox's faults are not in wall time.
func (h *harness) config(cred awssim.Credential, t aws.HTTPClient, attempts int) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://sandbox.chaos"),
		Credentials:  credentials.NewStaticCredentialsProvider(cred.AccessKeyID, cred.SecretAccessKey, ""),
		HTTPClient:   t,
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = attempts
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
				o.RateLimiter = ratelimit.None
			})
		},
	}
}

// transport serves SDK requests from the sandbox in memory; with cancelAt > 0 it cancels the
// run's context before the cancelAt-th call (an interruption at a random API call).
type transport struct {
	h        http.Handler
	calls    atomic.Int64
	cancelAt int64
	cancel   context.CancelFunc
	fired    atomic.Bool
}

func (t *transport) Do(r *http.Request) (*http.Response, error) {
	n := t.calls.Add(1)
	if t.cancelAt > 0 && n == t.cancelAt {
		t.fired.Store(true)
		t.cancel()
	}
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	// Served as a server would see it: the Host header set, a body present.
	if r.Host == "" {
		r.Host = r.URL.Host
	}
	if r.Body == nil {
		r.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	// A request whose context ended while it was served gets the context's error, as from
	// net/http, not the half answer the handler gave up on.
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	return rec.Result(), nil
}

// runOut is everything one run wrote: what a user or another system would see.
type runOut struct {
	out, logs, audit bytes.Buffer
	plan             *plan.Plan
}

func (h *harness) round(ctx context.Context, idx int, rd Round) error {
	clock := h.sb.Clock()
	clock.Advance(rd.Advance)
	if rd.Clean {
		clock.Advance(6 * time.Hour) // past the lease of any interrupted run
	}
	h.use(ctx, rd.Use)
	before, err := h.snapshot(ctx)
	if err != nil {
		return err
	}
	if err := h.sb.SetFaults(rd.Faults); err != nil {
		return fmt.Errorf("faults: %w", err)
	}
	outs := make([]*runOut, len(rd.Runs))
	var wg sync.WaitGroup
	for i, rp := range rd.Runs {
		outs[i] = &runOut{}
		var stale *plan.Plan
		if rp.Stale && len(h.plans) > 0 {
			stale = &h.plans[(idx+i)%len(h.plans)]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.run(ctx, fmt.Sprintf("chaos-r%d-%d", idx, i), rp, stale, outs[i])
		}()
	}
	wg.Wait()
	if err := h.sb.SetFaults(awssim.Faults{}); err != nil {
		return err
	}
	if afterRuns != nil {
		afterRuns(ctx, h, idx)
	}
	h.res.Rounds++
	h.res.Runs += len(rd.Runs)
	if len(rd.Runs) > 1 {
		h.res.ConcurrentRounds++
	}
	for _, o := range outs {
		if o.plan != nil {
			h.plans = append(h.plans, *o.plan)
		}
	}
	after, err := h.snapshot(ctx)
	if err != nil {
		return err
	}
	h.check(idx, rd, before, after, outs)
	h.record(idx, outs)
	if !rd.Clean || len(h.res.Violations) > 0 {
		return nil
	}
	// A second apply with no time passing makes zero changes (I5). The blast-radius cap
	// (max_destructive) defers steps to later runs by design: those run first.
	last := outs[0]
	for i := 0; i < 20 && strings.Contains(last.out.String(), "blast-radius cap"); i++ {
		last = &runOut{}
		h.run(ctx, fmt.Sprintf("chaos-r%d-cap%d", idx, i), RunPlan{}, nil, last)
		h.res.Runs++
		h.checkSecrets(idx, []*runOut{last})
	}
	calls := mutations(h.sb.Stats())
	again := &runOut{}
	h.run(ctx, fmt.Sprintf("chaos-r%d-again", idx), RunPlan{}, nil, again)
	h.res.Runs++
	if d := diff(calls, mutations(h.sb.Stats())); d != "" {
		h.violate("I5", idx, "a second apply with no time passing changed: %s", d)
	}
	final, err := h.snapshot(ctx)
	if err != nil {
		return err
	}
	h.check(idx, Round{Clean: true}, after, final, []*runOut{again})
	h.record(idx, []*runOut{again})
	return nil
}

// use signs a request with one active key of each user whose secret a consumer holds (seeded,
// or read from the primary sink): the key's last-used date becomes now.
func (h *harness) use(ctx context.Context, users []string) {
	for _, u := range users {
		ks, ok := h.sb.Keys(AccountID, u)
		if !ok {
			continue
		}
		stored := h.stored(ctx, u)
		for i := len(ks) - 1; i >= 0; i-- {
			k := ks[i]
			if k.Status != "Active" {
				continue
			}
			sec := k.SecretAccessKey
			if sec == "" {
				sec = stored[k.AccessKeyID].secret
			}
			if sec == "" {
				continue
			}
			cfg := h.config(awssim.Credential{AccessKeyID: k.AccessKeyID, SecretAccessKey: sec}, &transport{h: h.sb}, 1)
			_, _ = sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			break
		}
	}
}

func (h *harness) run(ctx context.Context, runID string, rp RunPlan, stale *plan.Plan, o *runOut) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cred, _ := h.sb.OperatorCredential(AccountID)
	t := &transport{h: h.sb, cancelAt: int64(rp.CancelAt), cancel: cancel}
	r := &job.Runner{
		AWS:    h.config(cred, t, 8),
		Rules:  h.s.Rules,
		Secret: config.Secret{NameTemplate: SecretTemplate},
		Verify: job.Verify{Successes: 2, Interval: time.Millisecond, MaxInterval: 4 * time.Millisecond, Timeout: 300 * time.Millisecond},
		Now:    h.sb.Clock().Now,
		Log:    slog.New(slog.NewJSONHandler(&o.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Audit:  audit.NewWriter(&o.audit),
		RunID:  runID,
		// Each run plays its own process (a CLI run, a Lambda invocation): no shared user locks.
		Locker:       rotation.NewMemLocker(),
		RetryBackoff: time.Millisecond,
		Notify:       job.Notify{Notify: config.Notify{FallbackEmail: "ops@example.com", Email: config.Email{From: "keycycle@example.com"}, SNSTopicARN: h.topic}},
		// The credential report is ready at once in the sandbox.
		ReportPoll: time.Millisecond,
	}
	defer func() {
		if t.fired.Load() {
			h.interrupted()
		}
	}()
	sc, err := r.Plan(ctx)
	if err != nil {
		fmt.Fprintf(&o.out, "plan: %v\n", err)
		return
	}
	o.plan = &sc.Plan
	_ = plan.RenderText(&o.out, sc.Plan, false)
	_ = plan.WriteJSON(&o.out, sc.Plan)
	p := sc.Plan
	if stale != nil {
		p = *stale
	}
	res, err := r.Apply(ctx, p, false)
	if err != nil {
		fmt.Fprintf(&o.out, "apply: %v\n", err)
		return
	}
	for _, rs := range res {
		fmt.Fprintf(&o.out, "%s %s %s %s: %s", rs.Step.User, rs.Step.Action, rs.Step.AccessKeyID, rs.Outcome, rs.Detail)
		if rs.Err != nil {
			fmt.Fprintf(&o.out, " error: %v", rs.Err)
		}
		fmt.Fprintf(&o.out, " %+v\n", rs)
	}
	rep := r.NotifyRun(ctx, sc.Account, p, res, false)
	fmt.Fprintf(&o.out, "%+v %v\n", rep, rep.Err())
}

var mu sync.Mutex

// afterRuns, when set (tests of the harness), acts on the sandbox after each round's runs, before
// the checker reads it: a stand-in for a bug in keycycle.
var afterRuns func(ctx context.Context, h *harness, round int)

// record keeps what the runs printed (not their logs), for Result.Output.
func (h *harness) record(idx int, outs []*runOut) {
	for i, o := range outs {
		fmt.Fprintf(&h.output, "--- round %d run %d\n%s", idx, i, o.out.String())
	}
}

func (h *harness) interrupted() {
	mu.Lock()
	h.res.Interrupted++
	mu.Unlock()
}

func (h *harness) violate(inv string, round int, format string, args ...any) {
	h.res.Violations = append(h.res.Violations, Violation{Invariant: inv, Round: round, Detail: fmt.Sprintf(format, args...)})
}

// mutations counts the calls that change state in IAM, Secrets Manager and SSM.
func mutations(st awssim.Stats) map[string]int {
	out := map[string]int{}
	for _, svcs := range st.Calls {
		for svc, acts := range svcs {
			if svc != "iam" && svc != "secretsmanager" && svc != "ssm" {
				continue
			}
			for a, n := range acts {
				for _, p := range []string{"Create", "Update", "Delete", "Tag", "Untag", "Put", "Add", "Remove", "Attach", "Detach", "Restore"} {
					if strings.HasPrefix(a, p) {
						out[svc+":"+a] += n
					}
				}
			}
		}
	}
	return out
}

func diff(a, b map[string]int) string {
	var d []string
	for k, n := range b {
		if n != a[k] {
			d = append(d, fmt.Sprintf("%s x%d", k, n-a[k]))
		}
	}
	sort.Strings(d)
	return strings.Join(d, ", ")
}

// keyState is one access key as the checker sees it.
type keyState struct {
	awssim.KeyInfo
	Stored bool // its real secret is in the primary sink, staged AWSCURRENT, AWSPENDING or AWSPREVIOUS
	// Delivered: promoted (AWSCURRENT or AWSPREVIOUS, no longer AWSPENDING), where consumers read
	// it; a key still AWSPENDING belongs to a rotation not yet promoted, which the protocol may
	// still give up (and delete the key).
	Delivered bool
}

// userState is one user as the checker sees it.
type userState struct {
	Keys []keyState
	Tags map[string]string
}

func (u userState) key(id string) (keyState, bool) {
	for _, k := range u.Keys {
		if k.AccessKeyID == id {
			return k, true
		}
	}
	return keyState{}, false
}

func (h *harness) snapshot(ctx context.Context) (map[string]userState, error) {
	out := map[string]userState{}
	ic := iam.NewFromConfig(h.op)
	for _, u := range h.users {
		ks, ok := h.sb.Keys(AccountID, u)
		if !ok {
			return nil, fmt.Errorf("user %s is gone", u)
		}
		stored := h.stored(ctx, u)
		st := userState{Tags: map[string]string{}}
		for _, k := range ks {
			sv, ok := stored[k.AccessKeyID]
			ok = ok && h.sb.AccessKeySecretIs(AccountID, u, k.AccessKeyID, sv.secret)
			st.Keys = append(st.Keys, keyState{KeyInfo: k, Stored: ok, Delivered: ok && sv.delivered})
			if ok && sv.delivered {
				h.delivered[k.AccessKeyID] = true
			}
		}
		tags, err := ic.ListUserTags(ctx, &iam.ListUserTagsInput{UserName: aws.String(u)})
		if err != nil {
			return nil, fmt.Errorf("tags of %s: %w", u, err)
		}
		for _, t := range tags.Tags {
			st.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
		out[u] = st
	}
	return out, nil
}

// storedSecret is a key's secret as the primary sink holds it.
type storedSecret struct {
	secret string
	// delivered: at AWSCURRENT or AWSPREVIOUS and not AWSPENDING. A secret's first version is
	// AWSCURRENT as soon as it is written (Secrets Manager labels a first version AWSCURRENT
	// whatever the call asks), and stays AWSPENDING too until the rotation promotes it.
	delivered         bool
	labelled, pending bool
}

// stored reads the user's primary-sink secret at AWSCURRENT, AWSPENDING and AWSPREVIOUS (the
// key a rotation replaced, still active until retired): key id -> secret.
func (h *harness) stored(ctx context.Context, user string) map[string]storedSecret {
	out := map[string]storedSecret{}
	c := secretsmanager.NewFromConfig(h.op)
	for _, stage := range []string{"AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"} {
		v, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretName(user)), VersionStage: aws.String(stage)})
		if err != nil {
			continue
		}
		var kv struct{ AccessKeyId, SecretAccessKey string }
		if json.Unmarshal([]byte(aws.ToString(v.SecretString)), &kv) == nil && kv.AccessKeyId != "" {
			sv := out[kv.AccessKeyId]
			sv.secret = kv.SecretAccessKey
			if stage == "AWSPENDING" {
				sv.pending = true
			} else {
				sv.labelled = true
			}
			sv.delivered = sv.labelled && !sv.pending
			out[kv.AccessKeyId] = sv
		}
	}
	return out
}
