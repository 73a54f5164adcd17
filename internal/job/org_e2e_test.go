package job_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/job"
	"github.com/keycycle/keycycle/internal/policy"
	"github.com/keycycle/keycycle/internal/rotation"
	"github.com/keycycle/keycycle/internal/scan"
	"github.com/keycycle/keycycle/internal/throttle"
)

// orgScenario: a management account and 20 members in 3 OUs (Prod 8 with a nested Prod/Payments
// of 3 of them, Dev 8, Sandbox 4). Every member has a due user and a young one; the role is
// missing in one Prod account; one Dev account is suspended.
func orgScenario() *awssim.Scenario {
	sc := &awssim.Scenario{Accounts: []awssim.ScenarioAccount{{ID: "100000000000", Alias: "mgmt"}}}
	org := &awssim.ScenarioOrganization{ManagementAccount: "100000000000"}
	ous := map[string][]string{}
	for i := 1; i <= 20; i++ {
		id := fmt.Sprintf("2000000000%02d", i)
		a := awssim.ScenarioAccount{ID: id, Users: []awssim.ScenarioUser{
			{Name: "due", AccessKeys: []awssim.ScenarioKey{{AgeDays: 100, Status: "Active"}}},
			{Name: "young", AccessKeys: []awssim.ScenarioKey{{AgeDays: 5, Status: "Active"}}},
		}}
		if id != "200000000002" {
			a.Roles = []awssim.ScenarioRole{{Name: "KeycycleMember", TrustedAccounts: []string{"100000000000"}}}
		}
		sc.Accounts = append(sc.Accounts, a)
		switch {
		case i <= 3:
			ous["Payments"] = append(ous["Payments"], id)
		case i <= 8:
			ous["Prod"] = append(ous["Prod"], id)
		case i <= 16:
			ous["Dev"] = append(ous["Dev"], id)
		default:
			ous["Sandbox"] = append(ous["Sandbox"], id)
		}
	}
	org.OUs = []awssim.ScenarioOU{{Name: "Prod", Accounts: ous["Prod"]}, {Name: "Payments", Parent: "Prod", Accounts: ous["Payments"]},
		{Name: "Dev", Accounts: ous["Dev"]}, {Name: "Sandbox", Accounts: ous["Sandbox"]}}
	org.Suspended = []string{"200000000010"}
	sc.Organization = org
	return sc
}

func TestOrganizationRotatesSelectedOUsOnce(t *testing.T) {
	// Two accounts' IAM answer Throttling on their 3rd and 4th calls: deterministic, whatever the
	// machine's speed.
	var throttled []awssim.ErrorRule
	for _, id := range []string{"200000000004", "200000000012"} {
		throttled = append(throttled, awssim.ErrorRule{Match: awssim.Match{Service: "iam", Account: id}, Code: "Throttling", Message: "Rate exceeded", Nth: 3, Times: 2})
	}
	sb, hub := awssimtest.Start(t, awssimtest.WithScenario(orgScenario()), awssimtest.WithFaults(awssim.Faults{Errors: throttled}))
	hub.RetryMaxAttempts = 0
	hub.Retryer = quickRetryer
	ctx := context.Background()

	// Select Prod (recursively: Payments too) and Dev by OU id.
	org := organizations.NewFromConfig(hub)
	roots, err := org.ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil {
		t.Fatal(err)
	}
	ouIDs := map[string]string{}
	out, err := org.ListOrganizationalUnitsForParent(ctx, &organizations.ListOrganizationalUnitsForParentInput{ParentId: roots.Roots[0].Id})
	if err != nil {
		t.Fatal(err)
	}
	for _, ou := range out.OrganizationalUnits {
		ouIDs[*ou.Name] = *ou.Id
	}
	accts, skipped, err := scan.OrgAccounts(ctx, org, scan.AccountFilter{OUs: []string{ouIDs["Prod"], ouIDs["Dev"]}})
	if err != nil {
		t.Fatal(err)
	}
	if len(accts) != 15 || len(skipped) != 1 || skipped[0].ID != "200000000010" || !strings.Contains(skipped[0].Reason, "SUSPENDED") {
		t.Fatalf("selected %d accounts, skipped %+v", len(accts), skipped)
	}
	targets := make([]job.Target, len(accts))
	for i, a := range accts {
		targets[i] = job.Target{AccountID: a.ID, Name: a.Name}
	}
	limits := throttle.NewRegistry(throttle.Limits{Read: throttle.Budget{PerSecond: 20, Burst: 20}, Write: throttle.Budget{PerSecond: 10, Burst: 10}})
	f := &job.Fleet{
		Hub:         hub,
		Role:        job.Role{Name: "KeycycleMember"},
		Limits:      limits,
		Concurrency: 6,
		Runner: job.Runner{Rules: policy.DefaultRules(), Secret: config.Secret{NameTemplate: "keycycle/{{account}}/{{user}}"},
			Verify: job.Verify{Interval: 10 * time.Millisecond, Timeout: 10 * time.Second}, Now: sb.Clock().Now, ReportPoll: 5 * time.Millisecond},
	}
	res := f.Apply(ctx, targets, false)
	for _, r := range res {
		if r.AccountID == "200000000002" {
			if r.Err == nil || !strings.Contains(r.Err.Error(), "AccessDenied") {
				t.Fatalf("missing role must be reported: %v", r.Err)
			}
			continue
		}
		if r.Err != nil {
			t.Fatalf("account %s: %v", r.AccountID, r.Err)
		}
		for _, x := range r.Results {
			if x.Outcome == rotation.Failed {
				t.Fatalf("account %s: %+v", r.AccountID, x)
			}
		}
	}
	// Every due user of the selected, reachable accounts rotated exactly once; the rest untouched.
	for i := 1; i <= 20; i++ {
		id := fmt.Sprintf("2000000000%02d", i)
		want := 2
		if i > 16 || id == "200000000002" || id == "200000000010" {
			want = 1
		}
		if keys, _ := sb.Keys(id, "due"); len(keys) != want {
			t.Errorf("account %s: due has %d keys, want %d", id, len(keys), want)
		}
		if keys, _ := sb.Keys(id, "young"); len(keys) != 1 {
			t.Errorf("account %s: young was touched", id)
		}
	}
	// The throttled accounts were throttled, slowed down, and still completed; the others were
	// not slowed by them.
	st := sb.Stats()
	for _, id := range []string{"200000000004", "200000000012"} {
		n := 0
		for _, c := range st.Injected[id]["iam"] {
			n += c
		}
		if n != 2 {
			t.Errorf("account %s: the sandbox injected %d Throttling answers, want 2", id, n)
		}
		if got := limits.For(id).Stats().Throttled; got != 2 {
			t.Errorf("account %s: keycycle's limiter saw %d throttles, want 2", id, got)
		}
	}
	if got := limits.For("200000000005").Stats().Throttled; got != 0 {
		t.Errorf("account 200000000005 was slowed by other accounts' throttling: %d", got)
	}
	if got := st.Calls["100000000000"]["sts"]["AssumeRole"]; got != 15 {
		t.Errorf("sessions are cached: %d AssumeRole calls for 15 accounts (one refused)", got)
	}
}
