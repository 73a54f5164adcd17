package job_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/rotation"
)

const commaScenario = `
start: 2026-11-21T09:00:00Z
accounts:
  - id: "111111111111"
    users:
      - name: "svc,batch"
        access_keys:
          - {id: AKIACOMMACOMMA000001, age_days: 95, status: Active, last_used_days_ago: 1}
`

// Issue 11, point 3 (I5): IAM allows "svc,batch" as a user name, Secrets Manager refuses it in a
// secret name. Before, every apply created a key, failed to store it, deleted it and notified,
// forever. Now the plan blocks the step with the reason and a configuration hint, and an apply of
// an older plan (or a queue message) refuses it before anything is created.
func TestNameASinkCannotHoldIsBlockedAtPlanTime(t *testing.T) {
	e := newEnv(t, awssimtest.WithScenarioYAML(t, commaScenario))

	// The sandbox refuses such a name as AWS does.
	_, err := secretsmanager.NewFromConfig(e.cfg).CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String("keycycle/" + acct + "/svc,batch"), SecretString: aws.String("x")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationException" {
		t.Fatalf("sandbox CreateSecret with a comma: %v, want ValidationException", err)
	}

	p := e.plan(t)
	if n := countActions(p); n["rotate"] != 0 || n["blocked"] != 1 {
		t.Fatalf("plan: %+v", p.Steps)
	}
	var reason string
	for _, s := range p.Steps {
		if s.Action == plan.Blocked {
			reason = s.Reason
		}
	}
	for _, want := range []string{"sink secretsmanager cannot hold this user's key", "','", "secret.name_template", "age 95d >= rotate_after 90d"} {
		if !strings.Contains(reason, want) {
			t.Errorf("blocked reason lacks %q: %s", want, reason)
		}
	}

	for i := 0; i < 2; i++ {
		e.sb.ResetStats()
		if o := outcomes(e.apply(t)); o[rotation.Done]+o[rotation.Failed] != 0 {
			t.Fatalf("apply %d: %v", i, o)
		}
		if _, by := callsOf(e.sb.Stats(), acct); by["iam:CreateAccessKey"]+by["iam:TagUser"]+by["secretsmanager:CreateSecret"] != 0 {
			t.Fatalf("apply %d changed something: %s", i, breakdown(by))
		}
	}

	// An older plan that still says rotate: refused before the intent, nothing changed.
	old := plan.New(e.sb.Clock().Now(), []plan.Step{{AccountID: acct, User: "svc,batch", Credential: plan.AccessKey,
		AccessKeyID: "AKIACOMMACOMMA000001", Action: plan.Rotate, Rule: "default", Reason: "key due",
		Precondition: plan.Precondition{Keys: []plan.KeyState{{ID: "AKIACOMMACOMMA000001", Status: inventory.StatusActive, LastUsed: e.sb.Clock().Now().AddDate(0, 0, -1), LastUsedKnown: true}}}}})
	res, err := e.runner().Apply(context.Background(), old, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Outcome != rotation.Blocked || !strings.Contains(res[0].Detail, "refused, nothing changed") {
		t.Fatalf("old plan: %+v", res)
	}
	if keys := e.keys(t, "svc,batch"); len(keys) != 1 {
		t.Fatalf("a key was created: %+v", keys)
	}
	if tags := e.tags(t, "svc,batch"); tags["keycycle:rotation"] != "" {
		t.Fatalf("intent written: %v", tags)
	}
}
