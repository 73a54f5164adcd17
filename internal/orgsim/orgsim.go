// Package orgsim is a discrete-event simulation of keycycle's two-level Lambda + SQS engine
// (docs/organizations.md) across a large AWS Organization: the schedule lists the accounts and
// fans them out on the account queue; account planners (bounded concurrency, cold starts) plan
// one account each within the account's IAM budget and enqueue its due users on the FIFO work
// queue; workers take batches of user messages and rotate within the same budget, while every
// role session goes through the hub's shared STS budget.
//
// It decides nothing about AWS itself: the calls an account plan and a rotation make, by action,
// are measured by running the real planner and worker against the sandbox (Costs), and the
// simulation only schedules those calls on the modelled resources. Time is simulated: a run of
// 10,000 accounts takes a second of CPU.
package orgsim

import (
	"container/heap"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Costs are what one account plan and one rotation cost, measured on the sandbox with the real
// code (calls by "service/Action").
type Costs struct {
	// Users and Due are the size of the measured account: its users, and those with work.
	Users, Due int
	// Plan are the calls of planning that account (the planner's, in the member account and the
	// hub's SQS sends), Rotation those of one due user's message (the worker's).
	Plan, Rotation map[string]float64
	// ReportWait is how long the planner waits for the credential report to be ready.
	ReportWait time.Duration
	// VerifyWait is how long one rotation waits for its new key to authenticate.
	VerifyWait time.Duration
	// CallOverhead is what a call costs beyond Config.Latency (client signing, the server's
	// work), measured.
	CallOverhead time.Duration
}

// Scaled returns the plan's calls for an account of users users with due of them due: the
// credential report and fixed reads stay, GetAccountAuthorizationDetails pages grow with
// users/1000, per-user reads (ListAccessKeys, GetAccessKeyLastUsed, GetLoginProfile) and the
// work queue's SendMessageBatch grow with the due users.
func (c Costs) Scaled(users, due int) map[string]float64 {
	out := map[string]float64{}
	pages := math.Ceil(float64(users) / 1000)
	measuredPages := math.Ceil(float64(c.Users) / 1000)
	for k, v := range c.Plan {
		switch {
		case k == "iam/GetAccountAuthorizationDetails":
			out[k] = v / measuredPages * pages
		case perUser(k):
			out[k] = v / float64(max(c.Due, 1)) * float64(due)
		case k == "sqs/SendMessageBatch":
			out[k] = math.Ceil(float64(due) / 10)
		default:
			out[k] = v
		}
	}
	return out
}

func perUser(action string) bool {
	switch action {
	case "iam/ListAccessKeys", "iam/GetAccessKeyLastUsed", "iam/GetLoginProfile", "iam/ListUserTags", "iam/GetUser":
		return true
	}
	return false
}

// Config is one simulated run.
type Config struct {
	Accounts, UsersPerAccount int
	// DueFraction of every account's users have work (rounded to whole users).
	DueFraction float64
	Costs       Costs

	// Latency of every API call.
	Latency time.Duration
	// Per-account IAM budget (token buckets, as the sandbox and AWS-FACTS.md model them).
	ReadsPerSecond, WritesPerSecond float64
	ReadBurst, WriteBurst           int
	// HubSTSPerSecond and HubSTSBurst: the hub account's sts:AssumeRole budget, shared by every
	// planner and worker.
	HubSTSPerSecond float64
	HubSTSBurst     int

	// Lambda.
	PlannerConcurrency, WorkerConcurrency int
	PlannerBatch, WorkerBatch             int // records per invocation (1..10)
	PlannerMemoryMB, WorkerMemoryMB       int
	ColdStart                             time.Duration
	// PollDelay is how long a message waits, at least, before the event source mapping hands
	// it to a function (its poll interval).
	PollDelay time.Duration
	// VisibilityTimeout of the work queue: a batch that takes longer is delivered again.
	VisibilityTimeout time.Duration
	// ScheduleSendsInFlight: SendMessageBatch calls of account messages at once (lambdafn: 8).
	ScheduleSendsInFlight int
	// TriageParallel: the planner's parallel per-user reads (scan: 4).
	TriageParallel int
}

// Result is what a run came to.
type Result struct {
	Wall, PlanningDone, ScheduleDone time.Duration
	// Completion is each account's time from the schedule's start to its last rotation done
	// (or its plan, when nothing is due), sorted.
	Completion []time.Duration
	// PlanDuration is each account's planning time, sorted.
	PlanDuration []time.Duration
	// Rotations carried out; Redelivered messages (a batch longer than the visibility timeout).
	Rotations, Redelivered int
	PlannerInvocations     int
	WorkerInvocations      int
	ColdStarts             int
	GBSeconds              float64
	SQSRequests            map[string]int
	Calls                  map[string]float64 // every API call, by service/Action
	// Utilization of each resource over the run (busy time or tokens used over capacity).
	Utilization map[string]float64
	Busiest     string
}

// Percentile returns the p-th percentile (0..100) of sorted durations.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// Mean of durations.
func Mean(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var s time.Duration
	for _, d := range ds {
		s += d
	}
	return s / time.Duration(len(ds))
}

// bucket is a token bucket in simulated time: take reserves a token at or after t and returns
// when it is granted. Requests must arrive in non-decreasing time per bucket, or they are
// served in arrival order (a fair queue).
type bucket struct {
	rate   float64
	burst  float64
	tokens float64
	last   time.Duration
	used   float64
	first  time.Duration
	seen   bool
}

func newBucket(rate float64, burst int) *bucket {
	return &bucket{rate: rate, burst: float64(burst), tokens: float64(burst)}
}

func (b *bucket) take(t time.Duration) time.Duration {
	if !b.seen {
		b.first, b.seen = t, true
	}
	if t < b.last {
		t = b.last // queued behind an earlier grant
	}
	b.tokens = math.Min(b.burst, b.tokens+b.rate*(t-b.last).Seconds())
	b.last = t
	b.used++
	if b.tokens >= 1 {
		b.tokens--
		return t
	}
	wait := time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
	b.tokens = 0
	b.last = t + wait
	return t + wait
}

// utilization is tokens used over what the budget could grant from its first use to end.
func (b *bucket) utilization(end time.Duration) float64 {
	if !b.seen || end <= b.first {
		return 0
	}
	return b.used / (b.burst + b.rate*(end-b.first).Seconds())
}

// account is one member account's state.
type account struct {
	id          int
	reads       *bucket
	writes      *bucket
	due         int
	done        int
	planned     time.Duration
	planTook    time.Duration
	lastRotated time.Duration
}

// message is a queued SQS message.
type message struct {
	acct      int
	available time.Duration
	seq       int
}

// queue is an SQS queue: messages in order of availability, then of sending.
type queue []message

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	if q[i].available != q[j].available {
		return q[i].available < q[j].available
	}
	return q[i].seq < q[j].seq
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(message)) }
func (q *queue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// receive takes up to n messages available at now.
func (q *queue) receive(now time.Duration, n int) []message {
	var out []message
	for len(out) < n && q.Len() > 0 && (*q)[0].available <= now {
		out = append(out, heap.Pop(q).(message))
	}
	return out
}

func (s *sim) enqueue(q *queue, acct int, at time.Duration) {
	s.seq++
	heap.Push(q, message{acct: acct, available: at, seq: s.seq})
}

// event kinds.
const (
	evAccountQueued = iota
	evWorkQueued
	evStep
)

type event struct {
	at   time.Duration
	kind int
	seq  int
	p    *proc // evStep: the invocation whose next step is due
}

type events []event

func (e events) Len() int { return len(e) }
func (e events) Less(i, j int) bool {
	if e[i].at != e[j].at {
		return e[i].at < e[j].at
	}
	return e[i].seq < e[j].seq
}
func (e events) Swap(i, j int) { e[i], e[j] = e[j], e[i] }
func (e *events) Push(x any)   { *e = append(*e, x.(event)) }
func (e *events) Pop() any {
	old := *e
	x := old[len(old)-1]
	*e = old[:len(old)-1]
	return x
}

// instance is a warm Lambda execution environment: which accounts' role sessions it caches.
type instance struct {
	sessions map[int]bool
}

type sim struct {
	cfg      Config
	accts    []*account
	sts      *bucket
	ev       events
	seq      int
	aq, wq   queue // account and work queues
	pBusy    int
	wBusy    int
	pIdle    []*instance
	wIdle    []*instance
	pBusyFor time.Duration
	wBusyFor time.Duration
	res      Result
	plan     map[string]float64
}

func (s *sim) push(at time.Duration, kind int) {
	s.seq++
	heap.Push(&s.ev, event{at: at, kind: kind, seq: s.seq})
}

func (s *sim) pushStep(at time.Duration, p *proc) {
	s.seq++
	heap.Push(&s.ev, event{at: at, kind: evStep, seq: s.seq, p: p})
}

// call runs one call of action at t in account a (nil: the hub) and returns when it answered.
func (s *sim) call(a *account, action string, t time.Duration) time.Duration {
	s.res.Calls[action]++
	svc, op, _ := strings.Cut(action, "/")
	switch {
	case a != nil && svc == "iam" && isWrite(op):
		t = a.writes.take(t)
	case a != nil && svc == "iam":
		t = a.reads.take(t)
	case action == "sts/AssumeRole":
		t = s.sts.take(t)
	}
	if svc == "sqs" {
		s.res.SQSRequests[op]++
	}
	return t + s.cfg.Latency + s.cfg.Costs.CallOverhead
}

func isWrite(op string) bool {
	for _, p := range []string{"Create", "Update", "Delete", "Tag", "Untag", "Put", "Attach", "Detach", "Remove", "Add", "Set"} {
		if strings.HasPrefix(op, p) {
			return true
		}
	}
	return false
}

// calls expands a cost map into a deterministic call list (fractions accumulate per account).
func calls(m map[string]float64, carry map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		carry[k] += m[k]
		n := int(carry[k] + 1e-9)
		carry[k] -= float64(n)
		for range n {
			out = append(out, k)
		}
	}
	return out
}

// Run simulates one schedule and everything it sets off.
func Run(cfg Config) Result {
	if cfg.PlannerBatch <= 0 {
		cfg.PlannerBatch = 1
	}
	if cfg.WorkerBatch <= 0 {
		cfg.WorkerBatch = 10
	}
	if cfg.ScheduleSendsInFlight <= 0 {
		cfg.ScheduleSendsInFlight = 8
	}
	if cfg.TriageParallel <= 0 {
		cfg.TriageParallel = 4
	}
	s := &sim{cfg: cfg, sts: newBucket(cfg.HubSTSPerSecond, cfg.HubSTSBurst)}
	s.res.SQSRequests = map[string]int{}
	s.res.Calls = map[string]float64{}
	due := int(math.Round(cfg.DueFraction * float64(cfg.UsersPerAccount)))
	s.plan = cfg.Costs.Scaled(cfg.UsersPerAccount, due)
	for i := range cfg.Accounts {
		s.accts = append(s.accts, &account{id: i, due: due,
			reads: newBucket(cfg.ReadsPerSecond, cfg.ReadBurst), writes: newBucket(cfg.WritesPerSecond, cfg.WriteBurst)})
	}

	// The schedule: list the organization (20 accounts per ListAccounts page), then send the
	// account messages ten per SendMessageBatch, ScheduleSendsInFlight at once.
	t := cfg.ColdStart
	for range int(math.Ceil(float64(cfg.Accounts) / 20)) {
		t = s.call(nil, "organizations/ListAccounts", t)
	}
	lanes := make([]time.Duration, cfg.ScheduleSendsInFlight)
	for i := range lanes {
		lanes[i] = t
	}
	end := t
	for start := 0; start < cfg.Accounts; start += 10 {
		l := 0
		for j := range lanes {
			if lanes[j] < lanes[l] {
				l = j
			}
		}
		lanes[l] = s.call(nil, "sqs/SendMessageBatch", lanes[l])
		for i := start; i < min(start+10, cfg.Accounts); i++ {
			s.enqueue(&s.aq, i, lanes[l]+cfg.PollDelay)
		}
		s.push(lanes[l]+cfg.PollDelay, evAccountQueued)
		end = max(end, lanes[l])
	}
	s.res.ScheduleDone = end
	s.res.GBSeconds += end.Seconds() * float64(cfg.WorkerMemoryMB) / 1024
	s.res.ColdStarts++

	for s.ev.Len() > 0 {
		e := heap.Pop(&s.ev).(event)
		if e.kind == evStep {
			s.run(e.p, e.at)
			continue
		}
		s.dispatch(e.at)
	}

	for _, a := range s.accts {
		done := a.planned
		if a.due > 0 {
			done = a.lastRotated
		}
		s.res.Completion = append(s.res.Completion, done)
		s.res.PlanDuration = append(s.res.PlanDuration, a.planTook)
		s.res.Wall = max(s.res.Wall, done)
		s.res.PlanningDone = max(s.res.PlanningDone, a.planned)
	}
	sort.Slice(s.res.Completion, func(i, j int) bool { return s.res.Completion[i] < s.res.Completion[j] })
	sort.Slice(s.res.PlanDuration, func(i, j int) bool { return s.res.PlanDuration[i] < s.res.PlanDuration[j] })
	// The event source mappings: one ReceiveMessage and one DeleteMessageBatch per batch.
	s.res.SQSRequests["ReceiveMessage"] += s.res.PlannerInvocations + s.res.WorkerInvocations
	s.res.SQSRequests["DeleteMessageBatch"] += s.res.PlannerInvocations + s.res.WorkerInvocations

	u := map[string]float64{
		"planner concurrency": s.pBusyFor.Seconds() / (float64(cfg.PlannerConcurrency) * s.res.Wall.Seconds()),
		"worker concurrency":  s.wBusyFor.Seconds() / (float64(cfg.WorkerConcurrency) * s.res.Wall.Seconds()),
		"hub STS budget":      s.sts.utilization(s.res.Wall),
	}
	for _, a := range s.accts {
		done := max(a.lastRotated, a.planned)
		u["busiest account's IAM reads"] = max(u["busiest account's IAM reads"], a.reads.utilization(done))
		u["busiest account's IAM writes"] = max(u["busiest account's IAM writes"], a.writes.utilization(done))
	}
	s.res.Utilization = u
	best := -1.0
	for k, v := range u {
		if v > best || (v == best && k < s.res.Busiest) {
			best, s.res.Busiest = v, k
		}
	}
	return s.res
}

// step is one step of an invocation: a call on a budget (acct nil: the hub's), a role session,
// a wait, or parallel calls; after, when set, runs when it completes.
type step struct {
	acct    *account
	action  string
	session bool
	wait    time.Duration
	group   []string
	after   func(t time.Duration)
}

// proc is one invocation in flight: its steps run one after the other, each as an event, so
// every budget sees its requests in time order.
type proc struct {
	steps   []step
	i       int
	start   time.Duration
	planner bool
	inst    *instance
	batch   int
}

// dispatch starts every invocation that can start at now.
func (s *sim) dispatch(now time.Duration) {
	cfg := s.cfg
	for s.pBusy < cfg.PlannerConcurrency && s.aq.Len() > 0 && s.aq[0].available <= now {
		batch := s.aq.receive(now, cfg.PlannerBatch)
		s.pBusy++
		s.res.PlannerInvocations++
		p := &proc{start: now, planner: true, batch: len(batch)}
		p.inst = s.start(p, &s.pIdle)
		for _, m := range batch {
			p.steps = append(p.steps, s.planSteps(s.accts[m.acct])...)
		}
		s.pushStep(now, p)
	}
	for s.wBusy < cfg.WorkerConcurrency && s.wq.Len() > 0 && s.wq[0].available <= now {
		batch := s.wq.receive(now, cfg.WorkerBatch)
		s.wBusy++
		s.res.WorkerInvocations++
		p := &proc{start: now, batch: len(batch)}
		p.inst = s.start(p, &s.wIdle)
		for _, m := range batch {
			p.steps = append(p.steps, s.rotateSteps(s.accts[m.acct])...)
		}
		s.pushStep(now, p)
	}
}

// start gives p a warm instance, or a new one behind a cold start.
func (s *sim) start(p *proc, idle *[]*instance) *instance {
	if n := len(*idle); n > 0 {
		in := (*idle)[n-1]
		*idle = (*idle)[:n-1]
		return in
	}
	s.res.ColdStarts++
	if s.cfg.ColdStart > 0 {
		p.steps = append(p.steps, step{wait: s.cfg.ColdStart})
	}
	return &instance{sessions: map[int]bool{}}
}

// run carries out p's next step at now, or finishes p.
func (s *sim) run(p *proc, now time.Duration) {
	if p.i == len(p.steps) {
		took := now - p.start
		mem := s.cfg.WorkerMemoryMB
		if p.planner {
			s.pBusy--
			s.pIdle = append(s.pIdle, p.inst)
			s.pBusyFor += took
			mem = s.cfg.PlannerMemoryMB
		} else {
			s.wBusy--
			s.wIdle = append(s.wIdle, p.inst)
			s.wBusyFor += took
			if s.cfg.VisibilityTimeout > 0 && took > s.cfg.VisibilityTimeout {
				s.res.Redelivered += p.batch
			}
		}
		s.res.GBSeconds += took.Seconds() * float64(mem) / 1024
		s.dispatch(now)
		return
	}
	st := p.steps[p.i]
	p.i++
	t := now
	switch {
	case st.session:
		if !p.inst.sessions[st.acct.id] {
			p.inst.sessions[st.acct.id] = true
			t = s.call(nil, "sts/AssumeRole", t)
		}
	case st.action != "":
		t = s.call(st.acct, st.action, t)
	case len(st.group) > 0:
		lanes := make([]time.Duration, s.cfg.TriageParallel)
		for i := range lanes {
			lanes[i] = t
		}
		for _, c := range st.group {
			l := 0
			for j := range lanes {
				if lanes[j] < lanes[l] {
					l = j
				}
			}
			lanes[l] = s.call(st.acct, c, lanes[l])
		}
		for _, l := range lanes {
			t = max(t, l)
		}
	default:
		t += st.wait
	}
	if st.after != nil {
		st.after(t)
	}
	s.pushStep(t, p)
}

// planSteps plans one account and enqueues its work as it goes.
func (s *sim) planSteps(a *account) []step {
	var start time.Duration
	steps := []step{{after: func(t time.Duration) { start = t }}, {acct: a, session: true}}
	carry := map[string]float64{}
	var triage []string
	sends := 0
	waited := false
	for _, c := range calls(s.plan, carry) {
		switch {
		case c == "sts/AssumeRole":
			continue // the session step
		case perUser(c):
			triage = append(triage, c)
			continue
		case c == "sqs/SendMessageBatch":
			sends++
			continue
		case c == "iam/GetCredentialReport" && !waited:
			steps = append(steps, step{wait: s.cfg.Costs.ReportWait})
			waited = true
		}
		steps = append(steps, step{acct: a, action: c})
	}
	if len(triage) > 0 {
		steps = append(steps, step{acct: a, group: triage})
	}
	left := a.due
	for range sends {
		n := min(10, left)
		left -= n
		steps = append(steps, step{action: "sqs/SendMessageBatch", after: func(t time.Duration) {
			for range n {
				s.enqueue(&s.wq, a.id, t+s.cfg.PollDelay)
			}
			s.push(t+s.cfg.PollDelay, evWorkQueued)
		}})
	}
	steps = append(steps, step{after: func(t time.Duration) { a.planned, a.planTook = t, t-start }})
	return steps
}

// rotateSteps carries out one user's message.
func (s *sim) rotateSteps(a *account) []step {
	steps := []step{{acct: a, session: true}}
	carry := map[string]float64{}
	verified := false
	for _, c := range calls(s.cfg.Costs.Rotation, carry) {
		if c == "sts/AssumeRole" {
			continue
		}
		if c == "sts/GetCallerIdentity" && !verified {
			steps = append(steps, step{wait: s.cfg.Costs.VerifyWait})
			verified = true
		}
		steps = append(steps, step{acct: a, action: c})
	}
	return append(steps, step{after: func(t time.Duration) {
		a.done++
		a.lastRotated = max(a.lastRotated, t)
		s.res.Rotations++
	}})
}

// Summary is the result in a few lines, for a benchmark log or a document.
func (r Result) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "wall %s (schedule %s, planning done %s); rotations %d, redelivered %d\n",
		r.Wall.Round(time.Second), r.ScheduleDone.Round(time.Millisecond), r.PlanningDone.Round(time.Second), r.Rotations, r.Redelivered)
	fmt.Fprintf(&b, "per-account completion p50 %s p90 %s p99 %s max %s; plan p50 %s max %s\n",
		Percentile(r.Completion, 50).Round(time.Second), Percentile(r.Completion, 90).Round(time.Second),
		Percentile(r.Completion, 99).Round(time.Second), Percentile(r.Completion, 100).Round(time.Second),
		Percentile(r.PlanDuration, 50).Round(100*time.Millisecond), Percentile(r.PlanDuration, 100).Round(100*time.Millisecond))
	keys := make([]string, 0, len(r.Utilization))
	for k := range r.Utilization {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "utilization %s %.0f%%\n", k, 100*r.Utilization[k])
	}
	fmt.Fprintf(&b, "busiest: %s; Lambda %d planner + %d worker invocations, %d cold starts, %.0f GB-s; SQS %v",
		r.Busiest, r.PlannerInvocations, r.WorkerInvocations, r.ColdStarts, r.GBSeconds, r.SQSRequests)
	return b.String()
}
