package job

import (
	"context"
	"fmt"
	"path"

	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/scan"
	"github.com/keycycle/keycycle/internal/throttle"
)

// Deployment is what a deployment sets over the configuration's accounts section (the Lambda
// function's environment); zero values leave the configuration's.
type Deployment struct {
	Role, ExternalID string
	Concurrency      int
	// IDs, OUs and Exclude, when any is set, replace the configuration's ids, ous, exclude and
	// tags: IDs alone is a fixed list, OUs an organization's units.
	IDs, OUs, Exclude []string
	// Organization: with no accounts section and no IDs or OUs, the whole organization (the
	// Lambda's default); false: the credentials' own account (the CLI's).
	Organization bool
}

// Selection says which accounts a run covers; build it with FleetFromConfig.
type Selection struct {
	// Own: no account list, the account the credentials belong to.
	Own bool
	// List: a fixed list (IDs), else Organizations discovery with OUs, IDs as an include filter
	// and Tags.
	List    bool
	IDs     []string
	OUs     []string
	Exclude []string
	Tags    map[string]string
}

// Targets lists the selected accounts: a fixed list without Exclude's matches, or the
// organization's accounts the filter keeps (every page; skipped ones with their reason).
func (s Selection) Targets(ctx context.Context, org scan.OrgAPI) ([]Target, []scan.SkippedAccount, error) {
	switch {
	case s.Own:
		return []Target{{}}, nil, nil
	case s.List:
		var ts []Target
		var skipped []scan.SkippedAccount
		for _, id := range s.IDs {
			if anyGlob(s.Exclude, id) {
				skipped = append(skipped, scan.SkippedAccount{ID: id, Reason: "excluded by the account filter"})
				continue
			}
			ts = append(ts, Target{AccountID: id})
		}
		return ts, skipped, nil
	}
	accts, skipped, err := scan.OrgAccounts(ctx, org, scan.AccountFilter{OUs: s.OUs, Include: s.IDs, Exclude: s.Exclude, Tags: s.Tags})
	if err != nil {
		return nil, nil, fmt.Errorf("list the organization's accounts: %w", err)
	}
	ts := make([]Target, 0, len(accts))
	for _, a := range accts {
		ts = append(ts, Target{AccountID: a.ID, Name: a.Name})
	}
	return ts, skipped, nil
}

func anyGlob(patterns []string, v string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, v); ok {
			return true
		}
	}
	return false
}

// FleetFromConfig is the one place the CLI and the Lambda function turn a configuration's
// accounts section (and a deployment's overrides) into a fleet and an account selection: the
// same member role (config.DefaultMemberRole unless set), session name, ExternalId, rate limits
// and concurrency, and the same include/exclude rules for both sources. r is the runner
// template (job.FromConfig).
func FleetFromConfig(cfg *config.Config, r *Runner, d Deployment) (*Fleet, Selection) {
	a := config.Accounts{Role: config.DefaultMemberRole, SessionName: config.DefaultSessionName, Concurrency: 8,
		ReadsPerSecond: 5, ReadBurst: 15, WritesPerSecond: 2, WriteBurst: 5}
	sel := Selection{Own: true}
	if cfg.Accounts != nil {
		a = *cfg.Accounts
		sel = Selection{List: a.Source == config.SourceList, IDs: a.IDs, OUs: a.OUs, Exclude: a.Exclude, Tags: a.Tags}
	} else if d.Organization {
		sel = Selection{}
	}
	if len(d.IDs) > 0 || len(d.OUs) > 0 || len(d.Exclude) > 0 {
		switch {
		case len(d.IDs) > 0:
			sel = Selection{List: true, IDs: d.IDs, Exclude: d.Exclude}
		case len(d.OUs) > 0:
			sel = Selection{OUs: d.OUs, Exclude: d.Exclude}
		default:
			// Exclude alone: the configuration's selection (or the organization) less these.
			if sel.Own {
				sel = Selection{}
			}
			sel.Exclude = d.Exclude
		}
	}
	if d.Role != "" {
		a.Role = d.Role
	}
	if d.ExternalID != "" {
		a.ExternalID = d.ExternalID
	}
	if d.Concurrency > 0 {
		a.Concurrency = d.Concurrency
	}
	f := &Fleet{Hub: r.AWS, Runner: *r, Concurrency: a.Concurrency,
		// The configured budgets; left at the defaults, they adapt upwards to the default ceilings.
		Limits: throttle.NewRegistry(throttle.Configured(throttle.Budget{PerSecond: a.ReadsPerSecond, Burst: a.ReadBurst},
			throttle.Budget{PerSecond: a.WritesPerSecond, Burst: a.WriteBurst}))}
	if !sel.Own {
		f.Role = Role{Name: a.Role, ExternalID: a.ExternalID, SessionName: a.SessionName}
	}
	return f, sel
}
