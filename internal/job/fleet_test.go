package job_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keycycle/keycycle/internal/awscfg"
	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
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

func TestFleetAcrossAccountsWithAMissingRoleAndThrottling(t *testing.T) {
	sb, hub := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, fleetScenario), awssimtest.WithFaults(awssim.Faults{
		RateLimits: []awssim.RateLimitRule{{Match: awssim.Match{Service: "iam", Account: "333333333333"}, PerSecond: 3, Burst: 3}},
	}))
	hub.RetryMaxAttempts = 0
	hub.Retryer = awscfg.Retryer
	var progress []job.Progress
	f := &job.Fleet{
		Hub:    hub,
		Role:   job.Role{Name: "KeycycleMember", ExternalID: "ext-1"},
		Limits: throttle.NewRegistry(throttle.Limits{Read: throttle.Budget{PerSecond: 6, Burst: 6}, Write: throttle.Budget{PerSecond: 6, Burst: 6}}),
		Runner: job.Runner{Rules: policy.DefaultRules(), Secret: job.Secret{NameTemplate: "keycycle/{{account}}/{{user}}"},
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
}
