package job_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keycycle/keycycle/internal/awscfg"
	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/job"
	"github.com/keycycle/keycycle/internal/policy"
	"github.com/keycycle/keycycle/internal/throttle"
)

// fleetOf is a hub and n member accounts of users users each (1 in 200 due), each with the role.
func fleetOf(n, users int) *awssim.Scenario {
	sc := &awssim.Scenario{Accounts: []awssim.ScenarioAccount{{ID: "100000000000"}}}
	for i := 1; i <= n; i++ {
		a := accountOf(0).Accounts[0]
		a.ID = fmt.Sprintf("3%011d", i)
		a.Roles = []awssim.ScenarioRole{{Name: "KeycycleMember", TrustedAccounts: []string{"100000000000"}}}
		for u := 0; u < users; u++ {
			age := 30
			if u%200 == 0 {
				age = 120
			}
			a.Users = append(a.Users, awssim.ScenarioUser{Name: fmt.Sprintf("user-%05d", u),
				AccessKeys: []awssim.ScenarioKey{{AgeDays: age, Status: "Active"}}})
		}
		sc.Accounts = append(sc.Accounts, a)
	}
	return sc
}

// BenchmarkFleet plans and applies 100 accounts x 1,000 users on the sandbox with 20 ms per call
// and a per-account rate limit of 5 reads/s (burst 15) and 2 writes/s (burst 5) enforced by the
// sandbox, keycycle's limiter at the same budget. It reports the wall time against the bound that
// budget sets for the busiest account, calls per account, throttled answers, and peak heap.
//
//	go test ./internal/job -run '^$' -bench BenchmarkFleet -benchtime 1x -timeout 30m
func BenchmarkFleet(b *testing.B) {
	const accounts, users = 100, 1000
	reads := []string{"Get*", "List*", "Describe*", "Generate*"}
	sb, hub := awssimtest.Start(b, awssimtest.WithScenario(fleetOf(accounts, users)), awssimtest.WithFaults(awssim.Faults{
		Latency: []awssim.LatencyRule{{Delay: awssim.Duration(20 * time.Millisecond)}},
		RateLimits: []awssim.RateLimitRule{
			{Match: awssim.Match{Service: "iam", Actions: reads}, PerSecond: 5, Burst: 15},
			{Match: awssim.Match{Service: "iam", Actions: []string{"Create*", "Update*", "Delete*", "Tag*", "Untag*"}}, PerSecond: 2, Burst: 5},
		},
	}))
	hub.RetryMaxAttempts = 0
	hub.Retryer = awscfg.Retryer
	targets := make([]job.Target, accounts)
	for i := range targets {
		targets[i] = job.Target{AccountID: fmt.Sprintf("3%011d", i+1)}
	}
	for i := 0; i < b.N; i++ {
		f := &job.Fleet{
			Hub:  hub,
			Role: job.Role{Name: "KeycycleMember"},
			// keycycle paces itself a tenth under the account's budget: pacing at exactly the
			// budget meets a bucket that is empty to the millisecond, and every jitter is a
			// throttled call.
			Limits: throttle.NewRegistry(throttle.Limits{Read: throttle.Budget{PerSecond: 4.5, Burst: 13}, Write: throttle.Budget{PerSecond: 1.8, Burst: 4},
				Services: throttle.DefaultLimits().Services}),
			Concurrency: accounts,
			Runner: job.Runner{Rules: policy.DefaultRules(), Secret: config.Secret{NameTemplate: "keycycle/{{account}}/{{user}}"},
				Verify: job.Verify{Interval: 100 * time.Millisecond, Timeout: time.Minute}, Now: sb.Clock().Now, ReportPoll: time.Second},
		}
		sb.ResetStats()
		peak := watchHeap()
		start := time.Now()
		res := f.Apply(context.Background(), targets, false)
		took := time.Since(start)
		heap := peak()
		if err := job.Errors(res); err != nil {
			b.Fatal(err)
		}
		st := sb.Stats()
		var bound time.Duration
		var totalCalls, throttled int
		for _, t := range targets {
			r, w := 0, 0
			for svc, acts := range st.Calls[t.AccountID] {
				for act, n := range acts {
					totalCalls += n
					if svc != "iam" {
						continue
					}
					if throttle.IsWrite(act) {
						w += n
					} else {
						r += n
					}
				}
			}
			for _, acts := range st.Throttled[t.AccountID] {
				for _, n := range acts {
					throttled += n
				}
			}
			bound = max(bound, time.Duration(float64(max(r-15, 0))/5*float64(time.Second)), time.Duration(float64(max(w-5, 0))/2*float64(time.Second)))
		}
		b.ReportMetric(took.Seconds(), "wall-s")
		b.ReportMetric(bound.Seconds(), "bound-s")
		b.ReportMetric(float64(totalCalls)/accounts, "calls/account")
		b.ReportMetric(float64(throttled), "throttled")
		b.ReportMetric(float64(heap)/(1<<20), "peak-heap-MiB")
		b.Logf("%d accounts x %d users: %v (bound %v for the busiest account), %d calls per account, %d throttled, peak heap %d MiB",
			accounts, users, took.Round(time.Second), bound.Round(time.Second), totalCalls/accounts, throttled, heap>>20)
		b.StopTimer()
		if err := sb.Reset(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkPlanMemory plans one account of N users served by a sandbox in another process, and
// reports keycycle's own peak heap (sampled every 10 ms) and the process's peak RSS.
//
//	go test ./internal/job -run '^$' -bench BenchmarkPlanMemory -benchtime 1x -timeout 30m
func BenchmarkPlanMemory(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			cfg := externalSandbox(b, n)
			for i := 0; i < b.N; i++ {
				r := &job.Runner{AWS: cfg, Rules: policy.DefaultRules(), Now: func() time.Time { return awssim.DefaultStart }, ReportPoll: 100 * time.Millisecond}
				runtime.GC()
				peak := watchHeap()
				s, err := r.Plan(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				heap := peak()
				b.ReportMetric(float64(heap)/(1<<20), "peak-heap-MiB")
				b.ReportMetric(float64(maxRSS())/(1<<20), "peak-rss-MiB")
				b.Logf("%d users: %d steps, peak heap %d MiB, peak RSS %d MiB", n, len(s.Plan.Steps), heap>>20, maxRSS()>>20)
			}
		})
	}
}

// maxRSS is the process's peak resident set size (Linux VmHWM), 0 when unknown.
func maxRSS() uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			var kb uint64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:")), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}

// watchHeap samples HeapInuse every 10ms until the returned function is called, which returns the peak.
func watchHeap() func() uint64 {
	var peakV atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peakV.Load() {
				peakV.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(stop)
		wg.Wait()
		return peakV.Load()
	}
}
