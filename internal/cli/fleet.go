package cli

import (
	"context"
	"fmt"
	"io"
	"path"
	"sort"

	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/job"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/scan"
	"github.com/keycycle/keycycle/internal/throttle"
)

// scope is the set of accounts a run covers: the configuration's `accounts:` section, or the
// account the credentials belong to.
func scope(ctx context.Context, e *env, cfg *config.Config, r *job.Runner) (*job.Fleet, []job.Target, error) {
	f := &job.Fleet{Hub: r.AWS, Runner: *r, Concurrency: 1, Limits: throttle.NewRegistry(throttle.DefaultLimits())}
	a := cfg.Accounts
	if a == nil {
		return f, []job.Target{{}}, nil
	}
	f.Role = job.Role{Name: a.Role, ExternalID: a.ExternalID, SessionName: a.SessionName}
	f.Concurrency = a.Concurrency
	f.Limits = throttle.NewRegistry(throttle.Limits{
		Read:     throttle.Budget{PerSecond: a.ReadsPerSecond, Burst: a.ReadBurst},
		Write:    throttle.Budget{PerSecond: a.WritesPerSecond, Burst: a.WriteBurst},
		Services: throttle.DefaultLimits().Services,
	})
	if isTerminal(e.stderr) {
		f.Progress = func(p job.Progress) {
			fmt.Fprintf(e.stderr, "\r\x1b[Kaccounts %d/%d, steps %d, accounts with errors %d", p.Done, p.Accounts, p.Steps, p.Failed)
			if p.Done == p.Accounts {
				fmt.Fprintln(e.stderr)
			}
		}
	}
	if a.Source == config.SourceList {
		var ts []job.Target
		for _, id := range a.IDs {
			if !anyGlob(a.Exclude, id) {
				ts = append(ts, job.Target{AccountID: id})
			}
		}
		return f, ts, nil
	}
	accts, skipped, err := scan.OrgAccounts(ctx, organizations.NewFromConfig(r.AWS), scan.AccountFilter{
		OUs: a.OUs, Include: a.IDs, Exclude: a.Exclude, Tags: a.Tags})
	if err != nil {
		return nil, nil, fmt.Errorf("list the organization's accounts: %w", err)
	}
	for _, s := range skipped {
		fmt.Fprintf(e.stderr, "keycycle: account %s (%s) skipped: %s\n", s.ID, s.Name, s.Reason)
	}
	ts := make([]job.Target, 0, len(accts))
	for _, ac := range accts {
		ts = append(ts, job.Target{AccountID: ac.ID, Name: ac.Name})
	}
	return f, ts, nil
}

func anyGlob(patterns []string, v string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, v); ok {
			return true
		}
	}
	return false
}

// targetsOf lists the accounts of a saved plan, one AccountResult each with its steps.
func targetsOf(p plan.Plan) []job.AccountResult {
	by := map[string][]plan.Step{}
	for _, s := range p.Steps {
		by[s.AccountID] = append(by[s.AccountID], s)
	}
	ids := make([]string, 0, len(by))
	for id := range by {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]job.AccountResult, 0, len(ids))
	for _, id := range ids {
		out = append(out, job.AccountResult{Target: job.Target{AccountID: id}, Scanned: job.Scanned{Plan: plan.New(p.GeneratedAt, by[id])}})
	}
	return out
}

// reportAccountErrors prints the accounts that could not be worked on and returns how many.
func reportAccountErrors(w io.Writer, results []job.AccountResult) int {
	n := 0
	for _, r := range results {
		if r.Err != nil {
			n++
			fmt.Fprintf(w, "keycycle: %v\n", r.Err)
		}
	}
	return n
}
