package throttle

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
)

func TestBucketPacesAfterBurst(t *testing.T) {
	now := time.Unix(0, 0)
	a := newAccount(Limits{Read: Budget{PerSecond: 2, Burst: 3}, Write: Budget{PerSecond: 1, Burst: 1}}, func() time.Time { return now })
	for i := 0; i < 3; i++ {
		if d := a.read.reserve(); d != 0 {
			t.Fatalf("burst call %d waited %v", i, d)
		}
	}
	if d := a.read.reserve(); d != 500*time.Millisecond {
		t.Fatalf("4th read waits %v, want 500ms at 2/s", d)
	}
	if d := a.write.reserve(); d != 0 {
		t.Fatalf("writes have their own budget: waited %v", d)
	}
	now = now.Add(10 * time.Second)
	if d := a.read.reserve(); d != 0 {
		t.Fatalf("after refilling: waited %v", d)
	}
}

func TestThrottlingHalvesThenRecovers(t *testing.T) {
	now := time.Unix(0, 0)
	a := newAccount(Limits{Read: Budget{PerSecond: 8, Burst: 1}, Write: Budget{PerSecond: 1, Burst: 1}}, func() time.Time { return now })
	throttled := &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}
	a.Observe(false, throttled)
	a.Observe(false, throttled)
	if got := a.Stats().ReadRate; got != 2 {
		t.Fatalf("after two throttles rate = %v, want 2", got)
	}
	for i := 0; i < 100; i++ {
		a.Observe(false, nil)
	}
	if s := a.Stats(); s.ReadRate != 8 || s.Throttled != 2 {
		t.Fatalf("after successes: %+v, want the configured 8/s back", s)
	}
	for i := 0; i < 20; i++ {
		a.Observe(false, throttled)
	}
	if got := a.Stats().ReadRate; got != 0.5 {
		t.Fatalf("floor: rate = %v, want 8/16", got)
	}
	a.Observe(false, errors.New("network down"))
	if got := a.Stats().ReadRate; got != 0.5 {
		t.Fatal("other errors do not change the rate")
	}
}

func TestIsWrite(t *testing.T) {
	for op, want := range map[string]bool{"ListAccessKeys": false, "GetCredentialReport": false, "GenerateCredentialReport": false,
		"DescribeSecret": false, "CreateAccessKey": true, "UpdateAccessKey": true, "TagUser": true, "PutSecretValue": true} {
		if IsWrite(op) != want {
			t.Errorf("IsWrite(%s) = %v", op, !want)
		}
	}
}

// fakeClock is a Clock whose Sleep moves Now: pacing is exact and takes no real time.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if d > 0 {
		c.mu.Lock()
		c.now = c.now.Add(d)
		c.mu.Unlock()
	}
	return ctx.Err()
}

// TestLimiterKeepsUnderTheSandboxBudget: the sandbox throttles above 10 calls/s (burst 10); a
// client limited to 8/s (burst 8) making 30 calls is never throttled, and waits exactly what the
// budget says. The limiter and the sandbox share one fake clock, so the result does not depend on
// the machine's speed.
func TestLimiterKeepsUnderTheSandboxBudget(t *testing.T) {
	clock := &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	sb, cfg := awssimtest.Start(t, awssimtest.WithWallClock(clock.Now), awssimtest.WithFaults(awssim.Faults{RateLimits: []awssim.RateLimitRule{
		{Match: awssim.Match{Service: "iam"}, PerSecond: 10, Burst: 10}}}))
	lim := NewServicesOn(Limits{Read: Budget{PerSecond: 8, Burst: 8}, Write: Budget{PerSecond: 1, Burst: 1}}, clock)
	cfg.APIOptions = append(cfg.APIOptions, lim.APIOption)
	cfg.RetryMaxAttempts = 1 // a throttled call fails the test instead of being retried
	c := iam.NewFromConfig(cfg)
	for i := 0; i < 30; i++ {
		if _, err := c.GetUser(context.Background(), &iam.GetUserInput{UserName: aws.String("alice")}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	// 22 calls beyond the burst, 125ms apart at 8/s: 2.75s of waiting in all.
	if s := lim.Stats(); s.Throttled != 0 || s.Waited.Round(time.Millisecond) != 2750*time.Millisecond {
		t.Fatalf("stats %+v, want no throttling and 2.75s of waiting", s)
	}
	if got := sb.Stats().Throttled; len(got) != 0 {
		t.Fatalf("the sandbox throttled %v", got)
	}
	// Another service of the same account has its own budget.
	if s := lim.For("Secrets Manager").Stats(); s.Waited != 0 {
		t.Fatalf("secrets manager limiter used by IAM calls: %+v", s)
	}
}

// TestLimiterAboveTheSandboxBudgetIsThrottledAndSlowsDown: the same sandbox, a limiter that
// allows 20/s (burst 20): the sandbox throttles the 11th call at once, the limiter halves its
// rate, and as it creeps back up it is throttled again now and then: a few throttles in 30 calls,
// every one of them seen by the limiter.
func TestLimiterAboveTheSandboxBudgetIsThrottledAndSlowsDown(t *testing.T) {
	clock := &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	_, cfg := awssimtest.Start(t, awssimtest.WithWallClock(clock.Now), awssimtest.WithFaults(awssim.Faults{RateLimits: []awssim.RateLimitRule{
		{Match: awssim.Match{Service: "iam"}, PerSecond: 10, Burst: 10}}}))
	lim := NewServicesOn(Limits{Read: Budget{PerSecond: 20, Burst: 20}, Write: Budget{PerSecond: 1, Burst: 1}}, clock)
	cfg.APIOptions = append(cfg.APIOptions, lim.APIOption)
	cfg.RetryMaxAttempts = 1
	c := iam.NewFromConfig(cfg)
	var failed []int
	for i := 0; i < 30; i++ {
		if _, err := c.GetUser(context.Background(), &iam.GetUserInput{UserName: aws.String("alice")}); err != nil {
			if !IsThrottling(err) {
				t.Fatalf("call %d: %v", i, err)
			}
			failed = append(failed, i)
		}
	}
	if len(failed) == 0 || failed[0] != 10 || len(failed) > 3 {
		t.Fatalf("throttled calls %v, want the 11th (index 10) first and at most 3 in all", failed)
	}
	if s := lim.Stats(); s.Throttled != len(failed) || s.ReadRate >= 20 {
		t.Fatalf("stats %+v, want %d throttles seen and a lowered rate", s, len(failed))
	}
}

func TestServicesHaveTheirOwnBudgets(t *testing.T) {
	s := NewServices(DefaultLimits())
	if got := s.For("IAM").Stats().WriteRate; got != 2 {
		t.Fatalf("IAM writes %v/s, want 2", got)
	}
	if got := s.For("STS").Stats().WriteRate; got != 50 {
		t.Fatalf("STS AssumeRole is not paced like an IAM write: %v/s", got)
	}
	if got := s.For("Organizations").Stats().ReadRate; got != 5 {
		t.Fatalf("services without their own budget use the account's: %v/s", got)
	}
}

func TestRegistrySharesPerAccount(t *testing.T) {
	r := NewRegistry(DefaultLimits())
	if r.For("111111111111") != r.For("111111111111") || r.For("111111111111") == r.For("222222222222") {
		t.Fatal("one limiter per account, shared")
	}
	if err := (Limits{}).Validate(); err == nil {
		t.Fatal("zero limits must be refused")
	}
}
