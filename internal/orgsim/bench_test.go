package orgsim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"

	"github.com/keycycle/keycycle/internal/awscfg"
	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/job"
	"github.com/keycycle/keycycle/internal/lambdafn"
	"github.com/keycycle/keycycle/internal/lambdafn/lambdafntest"
	"github.com/keycycle/keycycle/internal/orgsim"
	"github.com/keycycle/keycycle/internal/policy"
	"github.com/keycycle/keycycle/internal/throttle"
)

const (
	hub     = "100000000000"
	latency = 20 * time.Millisecond
	// reportDelay and keyDelay: how long the sandbox keeps the credential report in progress and
	// a new key failing to authenticate (AWS: seconds for both).
	reportDelay = 2 * time.Second
	keyDelay    = 2 * time.Second
)

// engine is the sandbox with an organization of n accounts x users users (1 in 50 due), the
// hub's account queue and work queue, AWS-like latency and per-account IAM rate limits.
type engine struct {
	// calls and callTime: every HTTP round trip the engine made, and their total time.
	calls, callTime atomic.Int64
	sb              *awssimtest.Sandbox
	hubCfg          aws.Config
	q               *sqs.Client
	accounts        string
	work            string
	targets         []job.Target
}

func startEngine(b *testing.B, n, users int) *engine {
	sc := &awssim.Scenario{Accounts: []awssim.ScenarioAccount{{ID: hub, Queues: []awssim.ScenarioQueue{
		{Name: "keycycle-accounts", Attributes: map[string]string{"VisibilityTimeout": "5400"}},
		{Name: "keycycle.fifo", Attributes: map[string]string{"FifoQueue": "true", "VisibilityTimeout": "5400"}},
	}}}}
	e := &engine{}
	for i := 1; i <= n; i++ {
		a := awssim.ScenarioAccount{ID: fmt.Sprintf("3%011d", i), Roles: []awssim.ScenarioRole{{Name: "KeycycleMember", TrustedAccounts: []string{hub}}}}
		for u := 0; u < users; u++ {
			age := 30
			if u%50 == 0 {
				age = 120 // 2 % due
			}
			a.Users = append(a.Users, awssim.ScenarioUser{Name: fmt.Sprintf("user-%05d", u), AccessKeys: []awssim.ScenarioKey{{AgeDays: age, Status: "Active"}}})
		}
		sc.Accounts = append(sc.Accounts, a)
		e.targets = append(e.targets, job.Target{AccountID: a.ID})
	}
	reads := []string{"Get*", "List*", "Describe*", "Generate*"}
	e.sb, e.hubCfg = awssimtest.Start(b, awssimtest.WithScenario(sc), awssimtest.WithFaults(awssim.Faults{
		Latency:             []awssim.LatencyRule{{Delay: awssim.Duration(latency)}},
		ReportDelay:         awssim.Duration(reportDelay),
		KeyPropagationDelay: awssim.Duration(keyDelay),
		RateLimits: []awssim.RateLimitRule{
			{Match: awssim.Match{Service: "iam", Actions: reads}, PerSecond: 5, Burst: 15},
			{Match: awssim.Match{Service: "iam", Actions: []string{"Create*", "Update*", "Delete*", "Tag*", "Untag*"}}, PerSecond: 2, Burst: 5},
		},
	}))
	e.hubCfg.RetryMaxAttempts = 0
	e.hubCfg.Retryer = awscfg.Retryer
	// Time every round trip (the innermost step: no rate-limit waits, no retries' backoff).
	e.hubCfg.APIOptions = append(e.hubCfg.APIOptions, func(st *middleware.Stack) error {
		return st.Deserialize.Add(middleware.DeserializeMiddlewareFunc("orgsimTiming", func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			t0 := time.Now()
			out, md, err := next.HandleDeserialize(ctx, in)
			e.callTime.Add(int64(time.Since(t0)))
			e.calls.Add(1)
			return out, md, err
		}), middleware.Before)
	})
	e.q = sqs.NewFromConfig(e.hubCfg)
	for name, dst := range map[string]*string{"keycycle-accounts": &e.accounts, "keycycle.fifo": &e.work} {
		out, err := e.q.GetQueueUrl(context.Background(), &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
		if err != nil {
			b.Fatal(err)
		}
		*dst = aws.ToString(out.QueueUrl)
	}
	return e
}

// The pace keycycle's limiter keeps, a tenth under the sandbox's budget (BenchmarkFleet).
var limits = throttle.Limits{Read: throttle.Budget{PerSecond: 4.5, Burst: 13}, Write: throttle.Budget{PerSecond: 1.8, Burst: 4},
	Services: throttle.DefaultLimits().Services}

func (e *engine) handler() *lambdafn.Handler {
	fleet := &job.Fleet{Hub: e.hubCfg, Role: job.Role{Name: "KeycycleMember"}, Limits: throttle.NewRegistry(limits),
		Runner: job.Runner{Rules: policy.DefaultRules(), Secret: config.Secret{NameTemplate: "keycycle/{{account}}/{{user}}"},
			Verify: job.Verify{Timeout: time.Minute}, Now: e.sb.Clock().Now, ReportPoll: time.Second}}
	return &lambdafn.Handler{Fleet: fleet, Targets: func(context.Context) ([]job.Target, error) { return e.targets, nil },
		SQS: e.q, QueueURL: e.work, AccountQueueURL: e.accounts, DryRun: false, Now: e.sb.Clock().Now}
}

// observed is what a real run of the engine did, per account.
type observed struct {
	wall       time.Duration
	plan       map[string]time.Duration // account -> planning time
	completion map[string]time.Duration // account -> schedule start to its last message done
	rotation   []time.Duration          // one worker invocation of one message
	stats      awssim.Stats
}

// run drives the three handlers: the schedule, planners planners at once on the account queue
// (one account per invocation), workers workers at once on the work queue (batches of up to
// batch messages), until both queues are empty.
func (e *engine) run(b *testing.B, planners, workers, batch int) observed {
	ctx := context.Background()
	h := e.handler()
	e.sb.ResetStats()
	ob := observed{plan: map[string]time.Duration{}, completion: map[string]time.Duration{}}
	var mu sync.Mutex
	start := time.Now()
	raw := `{"version":"0","id":"bench","detail-type":"Scheduled Event","source":"aws.events","account":"` + hub + `","detail":{}}`
	out, err := h.Handle(ctx, json.RawMessage(raw))
	if err != nil || len(out.(lambdafn.Report).Errors) > 0 {
		b.Fatalf("schedule: %v %+v", err, out)
	}
	timed := func(planner bool) lambdafntest.Invoke {
		return func(ctx context.Context, ev json.RawMessage) (any, error) {
			var sev events.SQSEvent
			_ = json.Unmarshal(ev, &sev)
			t0 := time.Now()
			res, err := h.Handle(ctx, ev)
			t1 := time.Now()
			mu.Lock()
			defer mu.Unlock()
			for _, r := range sev.Records {
				var m struct {
					AccountID string `json:"account_id"`
				}
				_ = json.Unmarshal([]byte(r.Body), &m)
				if planner {
					ob.plan[m.AccountID] = t1.Sub(t0)
					ob.completion[m.AccountID] = max(ob.completion[m.AccountID], t1.Sub(start))
				} else {
					ob.completion[m.AccountID] = max(ob.completion[m.AccountID], t1.Sub(start))
				}
			}
			if !planner && len(sev.Records) == 1 {
				ob.rotation = append(ob.rotation, t1.Sub(t0))
			}
			return res, err
		}
	}
	var planning sync.WaitGroup
	var plannersDone sync.WaitGroup
	for range planners {
		planning.Add(1)
		plannersDone.Add(1)
		go func() {
			defer planning.Done()
			defer plannersDone.Done()
			m := &lambdafntest.Mapping{SQS: e.q, QueueURL: e.accounts, BatchSize: 1, Invoke: timed(true)}
			if st, err := m.Drain(ctx); err != nil || st.Failed > 0 {
				b.Errorf("planner: %+v %v", st, err)
			}
		}()
	}
	done := make(chan struct{})
	go func() { plannersDone.Wait(); close(done) }()
	var working sync.WaitGroup
	for range workers {
		working.Add(1)
		go func() {
			defer working.Done()
			m := &lambdafntest.Mapping{SQS: e.q, QueueURL: e.work, BatchSize: batch, Invoke: timed(false)}
			for {
				finished := false
				select {
				case <-done:
					finished = true
				default:
				}
				st, err := m.Drain(ctx)
				if err != nil || st.Failed > 0 {
					b.Errorf("worker: %+v %v", st, err)
					return
				}
				if finished && st.Invocations == 0 {
					return
				}
				if st.Invocations == 0 {
					select {
					case <-done:
					case <-time.After(50 * time.Millisecond): // the event source mapping's poll
					}
				}
			}
		}()
	}
	planning.Wait()
	working.Wait()
	ob.wall = time.Since(start)
	ob.stats = e.sb.Stats()
	return ob
}

// measure runs the real planner and worker on one account of users users and returns the
// calls of its plan and of one rotation, by action, and the waits the model does not derive
// from calls (credential report, new key's propagation).
func measure(b *testing.B, users int) orgsim.Costs {
	e := startEngine(b, 1, users)
	ctx := context.Background()
	h := e.handler()
	e.sb.ResetStats()
	if _, err := h.Handle(ctx, json.RawMessage(`{"keycycle":"schedule"}`)); err != nil {
		b.Fatal(err)
	}
	e.sb.ResetStats()
	var planTook time.Duration
	m := &lambdafntest.Mapping{SQS: e.q, QueueURL: e.accounts, BatchSize: 1, Invoke: func(ctx context.Context, ev json.RawMessage) (any, error) {
		t0 := time.Now()
		defer func() { planTook = time.Since(t0) }()
		return h.Handle(ctx, ev)
	}}
	if st, err := m.Drain(ctx); err != nil || st.Handled != 1 {
		b.Fatalf("planner: %+v %v", st, err)
	}
	planStats := e.sb.Stats()
	e.sb.ResetStats()
	var rotTook []time.Duration
	w := &lambdafntest.Mapping{SQS: e.q, QueueURL: e.work, BatchSize: 1, Invoke: func(ctx context.Context, ev json.RawMessage) (any, error) {
		t0 := time.Now()
		defer func() { rotTook = append(rotTook, time.Since(t0)) }()
		return h.Handle(ctx, ev)
	}}
	st, err := w.Drain(ctx)
	if err != nil || st.Failed > 0 || st.Handled == 0 {
		b.Fatalf("worker: %+v %v", st, err)
	}
	rotStats := e.sb.Stats()
	c := orgsim.Costs{Users: users, Due: st.Handled, Plan: map[string]float64{}, Rotation: map[string]float64{}}
	add := func(dst map[string]float64, s awssim.Stats, per float64) {
		for a, svcs := range s.Calls {
			for svc, ops := range svcs {
				for op, n := range ops {
					k := svc + "/" + op
					if a == hub && svc == "sqs" && op != "SendMessageBatch" {
						continue // the event source mapping's, counted by the model per batch
					}
					if k == "sts/AssumeRole" {
						continue // sessions: the model counts them per instance and account
					}
					dst[k] += float64(n) / per
				}
			}
		}
	}
	add(c.Plan, planStats, 1)
	add(c.Rotation, rotStats, float64(st.Handled))
	// The waits are the sandbox's delays as keycycle's schedules meet them: the scanner polls
	// the report after 250 ms, doubling to ReportPoll (1 s); the verifier retries a new key
	// after 1 s, doubling to 10 s.
	c.ReportWait = scheduleWait(reportDelay, 250*time.Millisecond, time.Second)
	c.VerifyWait = scheduleWait(keyDelay, time.Second, 10*time.Second)
	// What a call costs beyond the injected latency (signing, the sandbox's work, this machine's
	// load), measured on the calibration's rotations: the model's rotations at 20 ms per call
	// against the real ones.
	base := orgsim.Run(simConfig(1, users, c, 1, 1, 1))
	modelRot := (base.Wall - base.PlanningDone) / time.Duration(c.Due)
	perRot := 0.0
	for _, v := range c.Rotation {
		perRot += v
	}
	c.CallOverhead = max(orgsim.Mean(rotTook)-modelRot, 0) / time.Duration(perRot)
	b.Logf("calibration: plan took %v (model %v), rotations %v each (model %v): %v per call beyond the latency",
		planTook.Round(time.Millisecond), base.PlanDuration[0].Round(time.Millisecond), orgsim.Mean(rotTook).Round(time.Millisecond),
		modelRot.Round(time.Millisecond), c.CallOverhead.Round(100*time.Microsecond))
	return c
}

// scheduleWait is when a poller that first waits first, doubling up to most, finds ready what
// becomes ready after delay.
func scheduleWait(delay, first, most time.Duration) time.Duration {
	var t time.Duration
	for w := first; t < delay; w = min(2*w, most) {
		t += w
	}
	return t
}

// simConfig is the model of the in-process run: no cold starts, no poll delay, keycycle's pace.
func simConfig(accounts, users int, c orgsim.Costs, planners, workers, batch int) orgsim.Config {
	return orgsim.Config{Accounts: accounts, UsersPerAccount: users, DueFraction: 0.02, Costs: c, Latency: latency,
		ReadsPerSecond: limits.Read.PerSecond, ReadBurst: limits.Read.Burst, WritesPerSecond: limits.Write.PerSecond, WriteBurst: limits.Write.Burst,
		HubSTSPerSecond: 50, HubSTSBurst: 100, PlannerConcurrency: planners, WorkerConcurrency: workers, PlannerBatch: 1, WorkerBatch: batch,
		PlannerMemoryMB: 512, WorkerMemoryMB: 512, VisibilityTimeout: 5400 * time.Second}
}

func costLine(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	total := 0.0
	for _, k := range keys {
		total += m[k]
		parts = append(parts, fmt.Sprintf("%s %.4g", k, m[k]))
	}
	return fmt.Sprintf("%.4g calls: %s", total, strings.Join(parts, ", "))
}

// BenchmarkOrgSim measures the per-account costs with the real planner and worker on the
// sandbox (one account of 500 users, 2 % due, 20 ms per call, the sandbox's per-account rate
// limits on), runs the real engine's three handlers in process for 200 accounts x 100 users to
// check the simulation's per-account figures against it, then simulates 10,000 accounts x 500
// users.
//
//	go test ./internal/orgsim -run '^$' -bench BenchmarkOrgSim -benchtime 1x -timeout 30m
func BenchmarkOrgSim(b *testing.B) {
	const realAccounts, realUsers, planners, workers, batch = 200, 100, 20, 20, 10
	for i := 0; i < b.N; i++ {
		c := measure(b, 500)
		b.Logf("measured on 1 account x 500 users (%d due): plan %s", c.Due, costLine(c.Plan))
		b.Logf("measured rotation: %s; report wait %v, verify wait %v", costLine(c.Rotation), c.ReportWait.Round(time.Millisecond), c.VerifyWait.Round(time.Millisecond))

		// The real engine, in process, against the model of the same run.
		e := startEngine(b, realAccounts, realUsers)
		ob := e.run(b, planners, workers, batch)
		sim := orgsim.Run(simConfig(realAccounts, realUsers, c, planners, workers, batch))
		var plans, comps []time.Duration
		for _, d := range ob.plan {
			plans = append(plans, d)
		}
		for _, d := range ob.completion {
			comps = append(comps, d)
		}
		sort.Slice(plans, func(i, j int) bool { return plans[i] < plans[j] })
		sort.Slice(comps, func(i, j int) bool { return comps[i] < comps[j] })
		realCalls := 0
		for a, svcs := range ob.stats.Calls {
			if a == hub {
				continue
			}
			for _, ops := range svcs {
				for _, n := range ops {
					realCalls += n
				}
			}
		}
		simCalls := 0.0
		for k, v := range sim.Calls {
			if !strings.HasPrefix(k, "sqs/") && k != "sts/AssumeRole" && !strings.HasPrefix(k, "organizations/") {
				simCalls += v
			}
		}
		throttled := 0
		for _, svcs := range ob.stats.Throttled {
			for _, ops := range svcs {
				for _, n := range ops {
					throttled += n
				}
			}
		}
		row := func(name string, real, simd float64, unit string) {
			// Printed, not logged: a benchmark's log is cut after a few lines.
			fmt.Printf("%-36s real %10.2f %s   sim %10.2f %s   sim/real %.2f\n", name, real, unit, simd, unit, simd/real)
		}
		fmt.Printf("real run %d accounts x %d users, %d planners, %d workers (batch %d); %d throttled answers\n", realAccounts, realUsers, planners, workers, batch, throttled)
		row("member calls per account", float64(realCalls)/realAccounts, simCalls/realAccounts, "")
		row("plan duration, mean", orgsim.Mean(plans).Seconds(), orgsim.Mean(sim.PlanDuration).Seconds(), "s")
		row("account completion, mean", orgsim.Mean(comps).Seconds(), orgsim.Mean(sim.Completion).Seconds(), "s")
		row("account completion, p90", orgsim.Percentile(comps, 90).Seconds(), orgsim.Percentile(sim.Completion, 90).Seconds(), "s")
		row("wall time", ob.wall.Seconds(), sim.Wall.Seconds(), "s")
		b.ReportMetric(orgsim.Mean(sim.Completion).Seconds()/orgsim.Mean(comps).Seconds(), "sim/real-completion")
		// The same model with the round-trip time this run's calls really took on this machine
		// (shared cores, the sandbox in the same process): what the calibration could not see.
		observed := time.Duration(e.callTime.Load() / max(e.calls.Load(), 1))
		lc := c
		lc.CallOverhead = max(observed-latency, 0)
		loaded := orgsim.Run(simConfig(realAccounts, realUsers, lc, planners, workers, batch))
		fmt.Printf("round trip observed in the real run: %v per call (calibration: %v + %v)\n", observed.Round(100*time.Microsecond), latency, c.CallOverhead.Round(100*time.Microsecond))
		row("with it: plan duration, mean", orgsim.Mean(plans).Seconds(), orgsim.Mean(loaded.PlanDuration).Seconds(), "s")
		row("with it: account completion, mean", orgsim.Mean(comps).Seconds(), orgsim.Mean(loaded.Completion).Seconds(), "s")
		row("with it: account completion, p90", orgsim.Percentile(comps, 90).Seconds(), orgsim.Percentile(loaded.Completion, 90).Seconds(), "s")
		row("with it: wall time", ob.wall.Seconds(), loaded.Wall.Seconds(), "s")

		// The Organization of the issue: 10,000 accounts x 500 users, 2 % due, on Lambda.
		big := simConfig(10000, 500, c, 200, 500, 10)
		big.ColdStart, big.PollDelay = 400*time.Millisecond, 500*time.Millisecond
		big.WritesPerSecond, big.WriteBurst, big.ReadsPerSecond, big.ReadBurst = limits.Write.PerSecond, limits.Write.Burst, limits.Read.PerSecond, limits.Read.Burst
		big.HubSTSPerSecond, big.HubSTSBurst = 100, 100
		big.VisibilityTimeout = 5400 * time.Second
		r := orgsim.Run(big)
		fmt.Printf("10,000 accounts x 500 users, 200 planners, 500 workers:\n%s\n", r.Summary())
		b.ReportMetric(r.Wall.Seconds(), "org-wall-s")
		b.ReportMetric(r.PlanningDone.Seconds(), "org-planning-s")
		b.ReportMetric(r.GBSeconds, "org-GB-s")
	}
}
