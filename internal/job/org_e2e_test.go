package job_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/keycycle/keycycle/internal/awscfg"
	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
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
	var throttled []awssim.RateLimitRule
	for _, id := range []string{"200000000004", "200000000012"} {
		throttled = append(throttled, awssim.RateLimitRule{Match: awssim.Match{Service: "iam", Account: id}, PerSecond: 4, Burst: 4})
	}
	sb, hub := awssimtest.Start(t, awssimtest.WithScenario(orgScenario()), awssimtest.WithFaults(awssim.Faults{RateLimits: throttled}))
	hub.RetryMaxAttempts = 0
	hub.Retryer = awscfg.Retryer
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
	f := &job.Fleet{
		Hub:         hub,
		Role:        job.Role{Name: "KeycycleMember"},
		Limits:      throttle.NewRegistry(throttle.Limits{Read: throttle.Budget{PerSecond: 20, Burst: 20}, Write: throttle.Budget{PerSecond: 10, Burst: 10}}),
		Concurrency: 6,
		Runner: job.Runner{Rules: policy.DefaultRules(), Secret: job.Secret{NameTemplate: "keycycle/{{account}}/{{user}}"},
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
	// The throttled accounts were throttled, and still completed.
	st := sb.Stats()
	for _, id := range []string{"200000000004", "200000000012"} {
		n := 0
		for _, c := range st.Throttled[id]["iam"] {
			n += c
		}
		if n == 0 {
			t.Errorf("account %s: the sandbox throttled nothing (the test's budget must exceed it)", id)
		}
	}
}
