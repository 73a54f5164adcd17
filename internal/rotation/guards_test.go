package rotation_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/rotation"
	"github.com/keycycle/keycycle/internal/scan"
)

// The executor's own safety checks hold whatever plan it is handed: a hand-edited or stale plan
// can never delete an active key (I4), take away a user's last active key (I2), or act on keys
// that changed since the plan.

const guardScenario = `
start: 2026-11-21T09:00:00Z
accounts:
  - id: "111111111111"
    users:
      - name: solo
        access_keys: [{age_days: 200, status: Active, last_used_days_ago: 1}]
      - name: pair
        access_keys:
          - {age_days: 200, status: Active, last_used_days_ago: 30}
          - {age_days: 20, status: Active, last_used_days_ago: 1}
`

func executor(t *testing.T) (*awssimtest.Sandbox, *rotation.Executor) {
	t.Helper()
	sb, cfg := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, guardScenario))
	c := iam.NewFromConfig(cfg)
	return sb, &rotation.Executor{
		AccountID: "111111111111",
		IAM:       c,
		Keys: func(ctx context.Context, user string) ([]inventory.AccessKey, error) {
			return scan.ReadKeys(ctx, c, user)
		},
		Now:         sb.Clock().Now,
		StatePrefix: "keycycle:",
		RunID:       "test",
	}
}

// step builds a step on the user's key as a fresh read sees it (so the precondition holds).
func step(t *testing.T, sb *awssimtest.Sandbox, e *rotation.Executor, user string, key int, action plan.Action) plan.Step {
	t.Helper()
	keys, err := e.Keys(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	return plan.Step{AccountID: "111111111111", User: user, Credential: plan.AccessKey, AccessKeyID: keys[key].ID,
		Action: action, Reason: "hand-made", Precondition: plan.PreconditionOf(inventory.User{Keys: keys})}
}

func apply(t *testing.T, e *rotation.Executor, st plan.Step) rotation.Result {
	t.Helper()
	res := e.Apply(context.Background(), plan.New(e.Now(), []plan.Step{st}))
	if len(res) != 1 {
		t.Fatalf("results = %+v", res)
	}
	return res[0]
}

func TestExecutorRefusesToDeleteAnActiveKey(t *testing.T) {
	sb, e := executor(t)
	r := apply(t, e, step(t, sb, e, "pair", 0, plan.Delete))
	if r.Outcome != rotation.Blocked {
		t.Fatalf("delete of an active key: %s %s", r.Outcome, r.Detail)
	}
	if keys, _ := sb.Keys("111111111111", "pair"); len(keys) != 2 {
		t.Fatal("I4: an active key was deleted")
	}
}

func TestExecutorRefusesToDeactivateTheLastActiveKey(t *testing.T) {
	sb, e := executor(t)
	r := apply(t, e, step(t, sb, e, "solo", 0, plan.Deactivate))
	if r.Outcome != rotation.Blocked {
		t.Fatalf("deactivating the only active key: %s %s", r.Outcome, r.Detail)
	}
	if keys, _ := sb.Keys("111111111111", "solo"); keys[0].Status != "Active" {
		t.Fatal("I2: the user's last active key was deactivated")
	}
	// With another active key, the same step is carried out.
	r = apply(t, e, step(t, sb, e, "pair", 0, plan.Deactivate))
	if r.Outcome != rotation.Done {
		t.Fatalf("deactivating one of two active keys: %s %s", r.Outcome, r.Detail)
	}
	if keys, _ := sb.Keys("111111111111", "pair"); keys[0].Status != "Inactive" || keys[1].Status != "Active" {
		t.Fatalf("keys = %+v", keys)
	}
}

func TestExecutorSkipsAStepWhoseKeysChanged(t *testing.T) {
	sb, e := executor(t)
	st := step(t, sb, e, "pair", 0, plan.Deactivate)
	// The application uses the old key after the plan was made.
	keys, _ := sb.Keys("111111111111", "pair")
	sb.Clock().Advance(48 * time.Hour)
	cfg := sb.Config(keys[0].AccessKeyID, keys[0].SecretAccessKey, "")
	if _, err := iam.NewFromConfig(cfg).ListAccessKeys(context.Background(), &iam.ListAccessKeysInput{}); err != nil {
		t.Fatal(err)
	}
	r := apply(t, e, st)
	if r.Outcome != rotation.Stale {
		t.Fatalf("a key used since the plan: %s %s", r.Outcome, r.Detail)
	}
	if keys, _ := sb.Keys("111111111111", "pair"); keys[0].Status != "Active" {
		t.Fatal("I3: a key used since the plan was deactivated")
	}
}

func TestExecutorSkipsARecreatedUser(t *testing.T) {
	sb, e := executor(t)
	st := step(t, sb, e, "pair", 0, plan.Deactivate)
	st.UserID = "AIDAXXXXXXXXXXXXXXXX" // the plan saw another user of the same name
	if r := apply(t, e, st); r.Outcome != rotation.Stale {
		t.Fatalf("a recreated user: %s %s", r.Outcome, r.Detail)
	}
	if keys, _ := sb.Keys("111111111111", "pair"); keys[0].Status != "Active" {
		t.Fatal("a step planned for another user of the same name was carried out")
	}
}
