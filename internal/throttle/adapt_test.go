package throttle

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
)

func TestRateGrowsToTheCeilingAndNeverBeyond(t *testing.T) {
	now := time.Unix(0, 0)
	a := newAccount(Limits{Read: Budget{PerSecond: 5, Burst: 1, Ceiling: 20}, Write: Budget{PerSecond: 2, Burst: 1}}, func() time.Time { return now })
	for i := 0; i < 20; i++ {
		a.Observe(false, nil)
	}
	if got := a.Stats().ReadRate; got != 10 {
		t.Fatalf("after 20 successes the rate is %v, want 5 + 20 x 5/20 = 10", got)
	}
	for i := 0; i < 1000; i++ {
		a.Observe(false, nil)
		a.Observe(true, nil)
	}
	if s := a.Stats(); s.ReadRate != 20 || s.WriteRate != 2 {
		t.Fatalf("rates %+v, want reads at the ceiling 20 and writes at 2 (no ceiling: never above the start)", s)
	}
	a.Observe(false, &smithy.GenericAPIError{Code: "Throttling"})
	if got := a.Stats().ReadRate; got != 10 {
		t.Fatalf("a throttle halves the rate: %v, want 10", got)
	}
	if err := (Limits{Read: Budget{PerSecond: 1, Burst: 1, Ceiling: -1}, Write: Budget{PerSecond: 1, Burst: 1}}).Validate(); err == nil {
		t.Fatal("a negative ceiling must be refused")
	}
}

// TestDefaultBudgetAdaptsToTheAWSProfile: the sandbox's AWS-like buckets (10 calls/s per IAM
// read action, burst 20) against the default budget (start 5/s, ceiling 20/s), on one fake
// clock. The limiter climbs above its start rate while calls succeed, meets the sandbox's bucket,
// is throttled a few times and halves its rate each time, never goes above its ceiling, and so
// finishes 400 reads in less time than the start rate alone would take.
func TestDefaultBudgetAdaptsToTheAWSProfile(t *testing.T) {
	clock := &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	start := clock.Now()
	sb, cfg := awssimtest.Start(t, awssimtest.WithWallClock(clock.Now), awssimtest.WithFaults(awssim.Faults{RateLimitProfile: awssim.ProfileAWS}))
	lim := NewServicesOn(DefaultLimits(), clock)
	cfg.APIOptions = append(cfg.APIOptions, lim.APIOption)
	cfg.RetryMaxAttempts = 1 // every throttle is counted, none hidden by a retry
	c := iam.NewFromConfig(cfg)
	const calls = 400
	var throttled int
	var peak float64
	for i := 0; i < calls; i++ {
		_, err := c.GetUser(context.Background(), &iam.GetUserInput{UserName: aws.String("alice")})
		switch {
		case IsThrottling(err):
			throttled++
		case err != nil:
			t.Fatalf("call %d: %v", i, err)
		}
		peak = max(peak, lim.For("IAM").Stats().ReadRate)
	}
	st := lim.Stats()
	if peak <= 5 || peak > 20 {
		t.Fatalf("peak read rate %v/s, want above the start 5/s and at most the ceiling 20/s", peak)
	}
	if throttled == 0 || st.Throttled != throttled || throttled > calls/10 {
		t.Fatalf("throttled %d (limiter saw %d), want some (the limiter probes above the bucket) and at most %d", throttled, st.Throttled, calls/10)
	}
	if got := sb.Stats().Throttled["111111111111"]["iam"]["GetUser"]; got != throttled {
		t.Fatalf("the sandbox throttled %d, the client saw %d", got, throttled)
	}
	elapsed := clock.Now().Sub(start)
	fixed := time.Duration(float64(calls-15) / 5 * float64(time.Second))            // the start rate, never adapted
	bound := time.Duration(float64(calls-throttled-20) / 10 * float64(time.Second)) // the sandbox's bucket, for the calls it served
	if elapsed >= fixed || elapsed < bound {
		t.Fatalf("400 reads took %v of the fake clock, want less than %v (the start rate) and at least %v (the sandbox's bucket)", elapsed, fixed, bound)
	}
	t.Logf("400 reads: %v (start rate alone %v, sandbox bound %v), %d throttled, peak %.1f/s", elapsed, fixed, bound, throttled, peak)
}

func TestConfiguredBudgetIsItsOwnCeiling(t *testing.T) {
	d := DefaultLimits()
	if l := Configured(Budget{PerSecond: 5, Burst: 15}, Budget{PerSecond: 2, Burst: 5}); l.Read.Ceiling != d.Read.Ceiling || l.Write.Ceiling != d.Write.Ceiling {
		t.Fatalf("the default budgets keep their ceilings: %+v", l)
	}
	l := Configured(Budget{PerSecond: 3, Burst: 6}, Budget{PerSecond: 2, Burst: 5})
	if l.Read.ceiling() != 3 || l.Write.Ceiling != d.Write.Ceiling || l.Services["STS"].Read.PerSecond != 50 {
		t.Fatalf("a chosen read budget is its own ceiling, the rest stays: %+v", l)
	}
}
