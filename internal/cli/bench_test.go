package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
)

// BenchmarkCLIPlan runs `keycycle plan` as a user does (defaults: the budget, the report
// polling) on an account of 10,000 users (1 in 100 due) in the AWS-like sandbox: 20 ms a call
// and the "aws" rate-limit profile. Compare with the library's BenchmarkPlanAWSLike
// (internal/job) on the same population (docs/benchmarks.md).
//
//	go test ./internal/cli -run '^$' -bench BenchmarkCLIPlan -benchtime 1x
func BenchmarkCLIPlan(b *testing.B) {
	const n = 10000
	users := make([]awssim.ScenarioUser, n)
	used := 1
	for i := range users {
		age := 30
		if i%100 == 0 {
			age = 120
		}
		users[i] = awssim.ScenarioUser{Name: fmt.Sprintf("user-%06d", i),
			Tags:       map[string]string{"owner": fmt.Sprintf("user-%06d@example.com", i)},
			AccessKeys: []awssim.ScenarioKey{{AgeDays: age, Status: "Active", LastUsedDaysAgo: &used}}}
	}
	sb, _ := awssimtest.Start(b, awssimtest.WithScenario(&awssim.Scenario{Accounts: []awssim.ScenarioAccount{{ID: "111111111111", Users: users}}}),
		awssimtest.WithFaults(awssim.Faults{RateLimitProfile: awssim.ProfileAWS, Latency: []awssim.LatencyRule{{Delay: awssim.Duration(20 * time.Millisecond)}}}))
	cred, _ := sb.OperatorCredential("111111111111")
	dir := b.TempDir()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": sb.URL, "AWS_ACCESS_KEY_ID": cred.AccessKeyID, "AWS_SECRET_ACCESS_KEY": cred.SecretAccessKey,
		"AWS_REGION": "us-east-1", "AWS_PROFILE": "", "AWS_SESSION_TOKEN": "",
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
	} {
		b.Setenv(k, v)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		sb.ResetStats()
		var out, errOut lockedBuffer
		e := &env{stdout: &out, stderr: &errOut, stdin: strings.NewReader("")}
		b.StartTimer()
		if code := mainWith(context.Background(), e, []string{"plan"}); code != exitOK && code != exitPending && code != exitAttention {
			b.Fatalf("plan: exit %d\n%s", code, errOut.String())
		}
		b.StopTimer()
		if !strings.Contains(out.String(), "rotate") {
			b.Fatalf("plan output without rotations:\n%.500s", out.String())
		}
	}
	st := sb.Stats()
	total := 0
	for _, acts := range st.Calls["111111111111"] {
		for _, c := range acts {
			total += c
		}
	}
	b.ReportMetric(float64(total)/float64(b.N), "calls/op")
	b.Logf("users=%d: %d calls per plan (%v)", n, total/b.N, st.Calls["111111111111"])
}
