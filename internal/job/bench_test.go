package job_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
	"github.com/keycycle/keycycle/internal/job"
	"github.com/keycycle/keycycle/internal/policy"
)

// accountOf returns a scenario of n users: 1 in 100 due for rotation, 1 in 100 within the warning
// lead time, the rest with young keys.
func accountOf(n int) *awssim.Scenario {
	users := make([]awssim.ScenarioUser, n)
	used := 1
	for i := range users {
		age := 30
		switch i % 100 {
		case 0:
			age = 120
		case 1:
			age = 85
		}
		users[i] = awssim.ScenarioUser{Name: fmt.Sprintf("user-%06d", i),
			Tags:       map[string]string{"owner": fmt.Sprintf("user-%06d@example.com", i)},
			AccessKeys: []awssim.ScenarioKey{{AgeDays: age, Status: "Active", LastUsedDaysAgo: &used}}}
	}
	return &awssim.Scenario{Accounts: []awssim.ScenarioAccount{{ID: "111111111111", Users: users}}}
}

// BenchmarkPlan plans one account of N users on the sandbox with 20 ms latency per call and
// reports the API calls it made, by action (docs/benchmarks.md).
//
//	go test ./internal/job -run '^$' -bench BenchmarkPlan -benchtime 1x
func BenchmarkPlan(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("users=%d/latency=20ms", n), func(b *testing.B) {
			sb, cfg := awssimtest.Start(b, awssimtest.WithScenario(accountOf(n)),
				awssimtest.WithFaults(awssim.Faults{Latency: []awssim.LatencyRule{{Delay: awssim.Duration(20 * time.Millisecond)}}}))
			r := &job.Runner{AWS: cfg, Rules: policy.DefaultRules(), Now: sb.Clock().Now, ReportPoll: 100 * time.Millisecond}
			if _, err := r.Identity(context.Background()); err != nil {
				b.Fatal(err)
			}
			var rotate int
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				sb.ResetStats()
				b.StartTimer()
				s, err := r.Plan(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				rotate = s.Plan.Summary.Rotate
			}
			b.StopTimer()
			st := sb.Stats()
			calls := st.Calls["111111111111"]
			total := 0
			var parts []string
			for svc, acts := range calls {
				for act, c := range acts {
					total += c
					parts = append(parts, fmt.Sprintf("%s:%s=%d", svc, act, c))
				}
			}
			sort.Strings(parts)
			b.ReportMetric(float64(total)/float64(b.N), "calls/op")
			b.ReportMetric(float64(rotate), "rotate-steps")
			b.Logf("users=%d calls per plan: %d (%s)", n, total/b.N, strings.Join(parts, " "))
		})
	}
}
