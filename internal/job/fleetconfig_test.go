package job_test

import (
	"context"
	"testing"

	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/job"
)

// TestFleetFromConfigIsOneSelectionForCLIAndLambda: the CLI (no deployment) and the Lambda
// function (its environment as a Deployment) get the same member role, session name and
// include/exclude rules from the same accounts section.
func TestFleetFromConfigIsOneSelectionForCLIAndLambda(t *testing.T) {
	parse := func(doc string) *config.Config {
		t.Helper()
		cfg, err := config.Parse("keycycle.yaml", []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	list := parse("accounts:\n  source: list\n  ids: [\"111111111111\", \"222222222222\", \"333333333333\"]\n  exclude: [\"2222*\"]\n")
	for _, d := range []job.Deployment{{}, {Organization: true}} {
		f, sel := job.FleetFromConfig(list, &job.Runner{}, d)
		if f.Role.Name != "KeycycleMember" || f.Role.SessionName != "keycycle" {
			t.Fatalf("deployment %+v: role %+v, want KeycycleMember with session keycycle", d, f.Role)
		}
		ts, skipped, err := sel.Targets(context.Background(), nil)
		if err != nil || len(ts) != 2 || ts[0].AccountID != "111111111111" || ts[1].AccountID != "333333333333" ||
			len(skipped) != 1 || skipped[0].ID != "222222222222" {
			t.Fatalf("deployment %+v: targets %+v, skipped %+v, %v: exclude must apply to a list too", d, ts, skipped, err)
		}
	}

	// No accounts section: the CLI's own account, the Lambda's organization.
	none := parse("dry_run: true\n")
	if f, sel := job.FleetFromConfig(none, &job.Runner{}, job.Deployment{}); !sel.Own || f.Role.Name != "" {
		t.Fatalf("CLI without accounts: %+v role %+v, want its own account", sel, f.Role)
	}
	f, sel := job.FleetFromConfig(none, &job.Runner{}, job.Deployment{Organization: true})
	if sel.Own || sel.List || f.Role.Name != "KeycycleMember" || f.Concurrency != 8 {
		t.Fatalf("Lambda without accounts: %+v role %+v concurrency %d, want the organization through KeycycleMember", sel, f.Role, f.Concurrency)
	}

	// The deployment wins: a fixed list with its exclude, role, ExternalId and concurrency.
	org := parse("accounts:\n  source: organization\n  ous: [ou-ab12-cdef3456]\n  tags: {keycycle: enabled}\n  external_id: cfg\n  concurrency: 4\n")
	f, sel = job.FleetFromConfig(org, &job.Runner{}, job.Deployment{IDs: []string{"444444444444", "555555555555"}, Exclude: []string{"5*"},
		Role: "Deployed", Concurrency: 16, Organization: true})
	ts, _, err := sel.Targets(context.Background(), nil)
	if err != nil || len(ts) != 1 || ts[0].AccountID != "444444444444" || f.Role.Name != "Deployed" || f.Role.ExternalID != "cfg" || f.Concurrency != 16 {
		t.Fatalf("deployment over configuration: targets %+v (%v), role %+v, concurrency %d", ts, err, f.Role, f.Concurrency)
	}
	// Exclude alone keeps the configuration's OUs and tags.
	_, sel = job.FleetFromConfig(org, &job.Runner{}, job.Deployment{Exclude: []string{"666666666666"}, Organization: true})
	if sel.List || len(sel.OUs) != 1 || sel.Tags["keycycle"] != "enabled" || len(sel.Exclude) != 1 {
		t.Fatalf("exclude alone: %+v", sel)
	}
}
