package job_test

import (
	"context"
	"strings"
	"testing"

	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/rotation"
)

// An inactive key never used is not in the credential report (N/A in every column of its slot),
// so a plan made from the report cannot name it. Apply must neither call the rotation stale
// (planning again gives the same plan, forever) nor lose the user: the policy decides on the
// fresh read: the deletion it plans to make room is carried out first, or the rotation is refused
// with the policy's reason.
const hiddenKeyScenario = `
start: 2026-11-21T09:00:00Z
accounts:
  - id: "111111111111"
    alias: e2e
    users:
      - name: young-hidden
        access_keys:
          - {age_days: 95, status: Active, last_used_days_ago: 1}
          - {age_days: 3, status: Inactive}
      - name: old-hidden
        access_keys:
          - {age_days: 95, status: Active, last_used_days_ago: 1}
          - {age_days: 40, status: Inactive}
`

func TestKeysTheCredentialReportCannotShow(t *testing.T) {
	e := newEnv(t, awssimtest.WithScenarioYAML(t, hiddenKeyScenario))
	r := e.runner()
	s, err := r.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range s.Plan.Steps {
		if st.Action == plan.Delete {
			t.Fatalf("the report cannot show the inactive keys, yet the plan deletes one: %+v", st)
		}
	}
	if got := countActions(s.Plan)[plan.Rotate]; got != 2 {
		t.Fatalf("plan: %d rotations, want 2 (one per user, from the report): %+v", got, s.Plan.Steps)
	}
	oldHidden := e.keys(t, "old-hidden")
	res, err := r.Apply(context.Background(), s.Plan, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range res {
		if x.Outcome == rotation.Stale {
			t.Errorf("%s: stale (%s): planning again would give the same plan", x.Step.User, x.Detail)
		}
		switch x.Step.User {
		case "young-hidden":
			if x.Outcome != rotation.Refused || !strings.Contains(x.Detail, "no room") {
				t.Errorf("young-hidden: %s %s, want refused for no room", x.Outcome, x.Detail)
			}
		case "old-hidden":
			if x.Outcome != rotation.Done || !strings.Contains(x.Detail, "which the credential report does not list") {
				t.Errorf("old-hidden: %s %s, want done after making room", x.Outcome, x.Detail)
			}
		}
	}
	if ks := e.keys(t, "young-hidden"); len(ks) != 2 {
		t.Errorf("young-hidden: %d keys, want both kept", len(ks))
	}
	ks := e.keys(t, "old-hidden")
	if len(ks) != 2 {
		t.Fatalf("old-hidden: %d keys, want the old active key and the new one", len(ks))
	}
	for _, k := range ks {
		if k.Status != "Active" {
			t.Errorf("old-hidden: key %s is %s; the inactive key should be gone", k.AccessKeyID, k.Status)
		}
		for _, o := range oldHidden {
			if o.Status == "Inactive" && o.AccessKeyID == k.AccessKeyID {
				t.Errorf("old-hidden: the hidden inactive key %s is still there", k.AccessKeyID)
			}
		}
	}
	if !strings.Contains(e.audit.String(), `"key_deleted"`) {
		t.Error("the deletion that made room is not in the audit trail")
	}
}
