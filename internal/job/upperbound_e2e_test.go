package job_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/rotation"
	"github.com/keycycle/keycycle/internal/scan"
)

// The attacks of issue 11, point 2: an edited plan file asks for what the policy never plans.
const upperBoundScenario = `
start: 2026-11-21T09:00:00Z
accounts:
  - id: "111111111111"
    users:
      - name: used
        tags: {"keycycle:rotated": "at=2026-11-21T09:00:00Z old=AKIAUSEDOLD000000001 new=AKIAUSEDNEW000000002"}
        access_keys:
          - {id: AKIAUSEDOLD000000001, age_days: 100, status: Active, last_used_days_ago: 1}
          - {id: AKIAUSEDNEW000000002, age_days: 0, status: Active}
      - name: inactive
        access_keys:
          - {id: AKIAINACTIVE00000001, age_days: 200, status: Inactive, last_used_days_ago: 150}
          - {id: AKIAINACTIVE00000002, age_days: 30, status: Active, last_used_days_ago: 1}
      - name: exempt
        tags: {"keycycle:exempt": "reason=payments-batch"}
        access_keys:
          - {id: AKIAEXEMPT0000000001, age_days: 120, status: Active, last_used_days_ago: 1}
`

// edited is the step an attacker writes into a plan file: right user, right key, a live
// precondition (so it is not stale), any action.
func edited(t *testing.T, e *env, user, key string, a plan.Action) plan.Step {
	t.Helper()
	c := iam.NewFromConfig(e.cfg)
	keys, err := scan.ReadKeys(context.Background(), c, user)
	if err != nil {
		t.Fatal(err)
	}
	return plan.Step{AccountID: acct, User: user, Credential: plan.AccessKey, AccessKeyID: inventory.KeyID(key), Action: a,
		Reason: "edited by hand", Rule: "default", Precondition: plan.PreconditionOf(inventory.User{Keys: keys})}
}

func TestEditedPlanIsAnUpperBoundNotAGrant(t *testing.T) {
	for _, c := range []struct {
		name, user, key string
		action          plan.Action
		policySays      string
		check           func(t *testing.T, e *env)
	}{
		{"I3: deactivate a key used yesterday, 0 minutes after its replacement", "used", "AKIAUSEDOLD000000001", plan.Deactivate,
			"deactivate after", func(t *testing.T, e *env) {
				if k := e.keys(t, "used"); k[0].Status != "Active" || k[1].Status != "Active" {
					t.Fatalf("keys %+v", k)
				}
			}},
		{"I4: delete an inactive key keycycle never deactivated", "inactive", "AKIAINACTIVE00000001", plan.Delete,
			"plans nothing for it", func(t *testing.T, e *env) {
				if k := e.keys(t, "inactive"); len(k) != 2 {
					t.Fatalf("keys %+v", k)
				}
			}},
		{"rotate an exempt user", "exempt", "AKIAEXEMPT0000000001", plan.Rotate,
			"exempt: payments-batch", func(t *testing.T, e *env) {
				if k := e.keys(t, "exempt"); len(k) != 1 {
					t.Fatalf("keys %+v", k)
				}
				if _, ok := e.tags(t, "exempt")["keycycle:rotation"]; ok {
					t.Fatal("intent written for a refused step")
				}
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, dry := range []bool{true, false} {
				e := newEnv(t, awssimtest.WithScenarioYAML(t, upperBoundScenario))
				p := plan.New(e.sb.Clock().Now(), []plan.Step{edited(t, e, c.user, c.key, c.action)})
				res, err := e.runner().Apply(context.Background(), p, dry)
				if err != nil {
					t.Fatal(err)
				}
				if len(res) != 1 || res[0].Outcome != rotation.Refused {
					t.Fatalf("dry-run %v: want refused, got %+v", dry, res)
				}
				if !strings.Contains(res[0].Detail, c.policySays) || !strings.HasPrefix(res[0].Detail, "refused: ") {
					t.Errorf("the refusal must say what the policy plans instead (%q): %q", c.policySays, res[0].Detail)
				}
				c.check(t, e)
				if !dry && !strings.Contains(e.audit.String(), `"event":"refused_by_policy"`) {
					t.Error("refusal not audited")
				}
			}
		})
	}
}

// A step the policy does plan is carried out from the same kind of hand-made plan: the rule
// refuses what the policy would not do, nothing more.
func TestEditedPlanStepThePolicyPlansIsCarriedOut(t *testing.T) {
	e := newEnv(t, awssimtest.WithScenarioYAML(t, upperBoundScenario))
	e.sb.Clock().Advance(11 * 24 * time.Hour) // past deactivate_after; still used 12 days ago: idle past the guard window
	p := plan.New(e.sb.Clock().Now(), []plan.Step{edited(t, e, "used", "AKIAUSEDOLD000000001", plan.Deactivate)})
	res, err := e.runner().Apply(context.Background(), p, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Outcome != rotation.Done {
		t.Fatalf("want done, got %+v", res)
	}
	if k := e.keys(t, "used"); k[0].Status != "Inactive" {
		t.Fatalf("keys %+v", k)
	}
}
