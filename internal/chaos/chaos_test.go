package chaos

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"
)

var (
	flagSeed      = flag.Uint64("chaos.seed", 1, "first schedule's seed; schedule i uses seed+i")
	flagSchedules = flag.Int("chaos.schedules", 0, "schedules to run; 0: the CI default (fewer under -race)")
	flagDuration  = flag.Duration("chaos.duration", 0, "stop starting schedules after this much wall time; 0: no limit")
	flagLimits    = flag.String("chaos.limits", "", "shrunk limits to replay (printed with a failure), such as users=1,rounds=2,runs=1,faults=0,interrupt=false,stale=false")
	flagOutput    = flag.Bool("chaos.output", false, "print what the runs of a failing schedule printed")
	flagStrict    = flag.Bool("chaos.strict", false, "fail on known open issues (knownIssues) too")
	flagMaxFail   = flag.Int("chaos.maxfail", 5, "stop after this many failing schedules")
	flagNoShrink  = flag.Bool("chaos.noshrink", false, "report failures without shrinking them")
)

// defaultSchedules keeps the default run to about a minute on two cores.
func defaultSchedules() int {
	if raceEnabled {
		return 60
	}
	return 500
}

// Replay is the one-line command that runs schedule seed under lim again.
func Replay(seed uint64, lim Limits) string {
	return fmt.Sprintf("go test ./internal/chaos -run 'TestChaos$' -chaos.seed=%d -chaos.schedules=1 -chaos.limits=%s", seed, lim)
}

func TestChaos(t *testing.T) {
	lim, err := ParseLimits(*flagLimits)
	if err != nil {
		t.Fatal(err)
	}
	n := *flagSchedules
	if n == 0 {
		n = defaultSchedules()
		if testing.Short() {
			n /= 10
		}
	}
	var total Result
	knownSeen := map[string]int{}
	start := time.Now() // wall time only bounds how long the run goes on; no result depends on it
	ran, failed := 0, 0
	for i := 0; i < n; i++ {
		if *flagDuration > 0 && time.Since(start) > *flagDuration {
			break
		}
		seed := *flagSeed + uint64(i)
		t0 := time.Now()
		res := Execute(context.Background(), Draw(seed, lim))
		if testing.Verbose() {
			t.Logf("seed %d: %d calls in %s", seed, res.Calls, time.Since(t0))
		}
		ran++
		if res.Setup != nil {
			t.Errorf("seed %d: harness: %v\nreplay: %s", seed, res.Setup, Replay(seed, lim))
			failed++
			continue
		}
		total.Calls += res.Calls
		total.Faults += res.Faults
		total.Interrupted += res.Interrupted
		total.Runs += res.Runs
		total.ConcurrentRounds += res.ConcurrentRounds
		total.Rounds += res.Rounds
		if len(res.Violations) == 0 {
			continue
		}
		if id := known(res.Violations, res.Output); id != "" && !*flagStrict {
			knownSeen[id]++
			t.Logf("seed %d: known open issue %s (not failing; -chaos.strict fails on it)%s\nreplay: %s -chaos.strict",
				seed, id, violationsText(res.Violations), Replay(seed, lim))
			continue
		}
		failed++
		if *flagOutput {
			t.Log(res.Output)
		}
		small, v := lim, res.Violations
		if !*flagNoShrink {
			small, v = Shrink(seed, lim, res.Violations)
		}
		t.Errorf("seed %d violates %s\nreplay: %s", seed, violationsText(v), Replay(seed, small))
		if failed >= *flagMaxFail {
			t.Logf("stopping after %d failing schedules", failed)
			break
		}
	}
	t.Logf("known open issues hit: %v", knownSeen)
	t.Logf("schedules=%d failed=%d rounds=%d runs=%d concurrent_rounds=%d interrupted=%d api_calls=%d faults=%d wall=%s",
		ran, failed, total.Rounds, total.Runs, total.ConcurrentRounds, total.Interrupted, total.Calls, total.Faults, time.Since(start).Round(time.Second))
}

func violationsText(vs []Violation) string {
	var b strings.Builder
	for _, v := range vs {
		b.WriteString("\n  " + v.String())
	}
	return b.String()
}

// Shrink looks for smaller limits under which schedule seed still breaks an invariant it broke:
// fewer rounds, runs, faults and users, no interruptions or stale plans. Concurrent schedules are
// not fully deterministic, so each candidate gets two tries.
func Shrink(seed uint64, lim Limits, vs []Violation) (Limits, []Violation) {
	want := map[string]bool{}
	last := 0
	for _, v := range vs {
		want[v.Invariant] = true
		last = max(last, v.Round)
	}
	fails := func(l Limits) []Violation {
		for try := 0; try < 2; try++ {
			res := Execute(context.Background(), Draw(seed, l))
			for _, v := range res.Violations {
				if want[v.Invariant] {
					return res.Violations
				}
			}
		}
		return nil
	}
	cur := lim
	if cur.Rounds > last+1 {
		cur.Rounds = last + 1
		if got := fails(cur); got != nil {
			vs = got
		} else {
			cur = lim
		}
	}
	try := func(change func(*Limits) bool) {
		for {
			next := cur
			if !change(&next) {
				return
			}
			got := fails(next)
			if got == nil {
				return
			}
			cur, vs = next, got
		}
	}
	try(func(l *Limits) bool { l.Interrupt = false; return cur.Interrupt })
	try(func(l *Limits) bool { l.Stale = false; return cur.Stale })
	try(func(l *Limits) bool { l.Faults = 0; return cur.Faults > 0 })
	try(func(l *Limits) bool {
		l.Faults = min(cur.Faults, 8) - 1
		return l.Faults >= 0 && cur.Faults > 0
	})
	try(func(l *Limits) bool { l.Runs = cur.Runs - 1; return cur.Runs > 1 })
	try(func(l *Limits) bool { l.Rounds = min(cur.Rounds, 10) - 1; return l.Rounds >= 0 })
	try(func(l *Limits) bool { l.Users = min(cur.Users, 6) - 1; return l.Users >= 1 })
	return cur, vs
}

// knownIssue is a violation the harness found that is reported and not fixed yet: it is logged
// with its replay command instead of failing the run, unless -chaos.strict. Remove an entry when
// its fix lands; docs/reliability.md lists them.
type knownIssue struct {
	id    string
	match func(v Violation, output string) bool
}

// None open: password-rotated-twice (I7) and delete-grace-without-record (I4) were closed by
// per-run password leases and record-first deactivation (docs/reliability.md).
var knownIssues = []knownIssue{}

// known returns the id of the known issue that explains every violation, or "".
func known(vs []Violation, output string) string {
	id := ""
	for _, v := range vs {
		hit := ""
		for _, k := range knownIssues {
			if k.match(v, output) {
				hit = k.id
				break
			}
		}
		if hit == "" {
			return ""
		}
		id = hit
	}
	return id
}
