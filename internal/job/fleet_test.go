package job_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/keycycle/keycycle/internal/awscfg"
	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/job"
	"github.com/keycycle/keycycle/internal/policy"
	"github.com/keycycle/keycycle/internal/rotation"
	"github.com/keycycle/keycycle/internal/throttle"
)

const fleetScenario = `
start: 2026-11-21T09:00:00Z
accounts:
  - id: "111111111111"
    alias: hub
  - id: "222222222222"
    roles: [{name: KeycycleMember, trusted_accounts: ["111111111111"], external_id: ext-1}]
    users:
      - {name: due, access_keys: [{age_days: 100, status: Active}]}
      - {name: young, access_keys: [{age_days: 10, status: Active}]}
  - id: "333333333333"
    roles: [{name: KeycycleMember, trusted_accounts: ["111111111111"], external_id: ext-1}]
    users:
      - {name: due, access_keys: [{age_days: 120, status: Active}]}
  - id: "444444444444"
    users:
      - {name: due, access_keys: [{age_days: 120, status: Active}]}
`

// TestFleetAcrossAccountsWithAMissingRoleAndThrottling runs with the sandbox clock two years
// before and two years after the real date: the outcome, and one AssumeRole per account, must not
// depend on how the two clocks relate (session expirations are compared with the real clock).
func TestFleetAcrossAccountsWithAMissingRoleAndThrottling(t *testing.T) {
	real := time.Now().UTC().Truncate(time.Hour)
	for name, start := range map[string]time.Time{"two years before": real.AddDate(-2, 0, 0), "two years after": real.AddDate(2, 0, 0)} {
		t.Run(name, func(t *testing.T) { testFleet(t, start) })
	}
}

func testFleet(t *testing.T, start time.Time) {
	sc, err := awssim.ParseScenario("fleet.yaml", []byte(fleetScenario))
	if err != nil {
		t.Fatal(err)
	}
	sc.Start = start
	// IAM of 333333333333 answers Throttling on its 2nd and 3rd calls: a deterministic storm.
	sb, hub := awssimtest.Start(t, awssimtest.WithScenario(sc), awssimtest.WithFaults(awssim.Faults{
		Errors: []awssim.ErrorRule{{Match: awssim.Match{Service: "iam", Account: "333333333333"}, Code: "Throttling", Message: "Rate exceeded", Nth: 2, Times: 2}},
	}))
	hub.RetryMaxAttempts = 0
	hub.Retryer = quickRetryer
	var progress []job.Progress
	limits := throttle.NewRegistry(throttle.Limits{Read: throttle.Budget{PerSecond: 50, Burst: 50}, Write: throttle.Budget{PerSecond: 50, Burst: 50}})
	f := &job.Fleet{
		Hub:    hub,
		Role:   job.Role{Name: "KeycycleMember", ExternalID: "ext-1"},
		Limits: limits,
		Runner: job.Runner{Rules: policy.DefaultRules(), Secret: config.Secret{NameTemplate: "keycycle/{{account}}/{{user}}"},
			Verify: job.Verify{Interval: 10 * time.Millisecond, Timeout: 5 * time.Second}, Now: sb.Clock().Now, ReportPoll: 5 * time.Millisecond},
		Progress: func(p job.Progress) { progress = append(progress, p) },
	}
	res := f.Apply(context.Background(), []job.Target{{AccountID: "222222222222"}, {AccountID: "333333333333"}, {AccountID: "444444444444"}}, false)
	for _, r := range res {
		switch r.AccountID {
		case "444444444444":
			if r.Err == nil || !strings.Contains(r.Err.Error(), "AccessDenied") {
				t.Fatalf("missing role: want AccessDenied, got %v", r.Err)
			}
			if keys, _ := sb.Keys(r.AccountID, "due"); len(keys) != 1 {
				t.Fatal("the account without a role must be untouched")
			}
		default:
			if r.Err != nil {
				t.Fatalf("account %s: %v", r.AccountID, r.Err)
			}
			done := 0
			for _, x := range r.Results {
				if x.Outcome == rotation.Done {
					done++
				}
			}
			if keys, _ := sb.Keys(r.AccountID, "due"); done != 1 || len(keys) != 2 {
				t.Fatalf("account %s: %d done, keys %+v", r.AccountID, done, keys)
			}
		}
	}
	if young, _ := sb.Keys("222222222222", "young"); len(young) != 1 {
		t.Fatal("a user not due was touched")
	}
	if len(progress) != 3 || progress[2].Done != 3 || progress[2].Failed != 1 {
		t.Fatalf("progress = %+v", progress)
	}
	if err := job.Errors(res); err == nil || !strings.Contains(err.Error(), "444444444444") {
		t.Fatalf("Errors = %v", err)
	}
	if got := sb.Stats().Calls["111111111111"]["sts"]["AssumeRole"]; got != 3 {
		t.Fatalf("sessions are cached: %d AssumeRole calls for 3 accounts", got)
	}
	// The storm reached keycycle's limiter, which slowed that account down, and only that one.
	if got := sb.Stats().Injected["333333333333"]["iam"]; len(got) == 0 {
		t.Fatal("the sandbox injected no Throttling")
	}
	if st := limits.For("333333333333").Stats(); st.Throttled != 2 {
		t.Fatalf("account 333333333333: limiter saw %d throttles, want 2", st.Throttled)
	}
	if st := limits.For("222222222222").Stats(); st.Throttled != 0 {
		t.Fatalf("account 222222222222 was slowed by another account's throttling: %+v", st)
	}
}

// quickRetryer is keycycle's retryer (awscfg.Retryer) with its backoff capped at 10ms: tests
// arrange throttling with the sandbox's fault rules and assert what happened, not how long the
// SDK waited.
func quickRetryer() aws.Retryer {
	return retry.AddWithMaxBackoffDelay(awscfg.Retryer(), 10*time.Millisecond)
}
