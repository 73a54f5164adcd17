package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/job"
	"github.com/keycycle/keycycle/internal/plan"
)

// scope is the set of accounts a run covers: the configuration's `accounts:` section, or the
// account the credentials belong to. The fleet and the selection come from job.FleetFromConfig,
// as the Lambda function's do.
func scope(ctx context.Context, e *env, cfg *config.Config, r *job.Runner) (*job.Fleet, []job.Target, error) {
	f, sel := job.FleetFromConfig(cfg, r, job.Deployment{})
	if isTerminal(e.stderr) {
		// Progress for a person only: nothing of it when stderr is piped or redirected.
		start := time.Now()
		f.Progress = func(p job.Progress) {
			fmt.Fprintf(e.stderr, "\r\x1b[Kaccounts %d/%d (last %s), users read %d, steps %d, accounts with errors %d, %s",
				p.Done, p.Accounts, p.Last, p.Users, p.Steps, p.Failed, time.Since(start).Round(100*time.Millisecond))
			if p.Done == p.Accounts {
				fmt.Fprintln(e.stderr)
			}
		}
	}
	if sel.Own {
		return f, []job.Target{{}}, nil
	}
	var org *organizations.Client
	if !sel.List {
		org = organizations.NewFromConfig(r.AWS)
	}
	ts, skipped, err := sel.Targets(ctx, org)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range skipped {
		if s.Name == "" {
			fmt.Fprintf(e.stderr, "keycycle: account %s skipped: %s\n", s.ID, s.Reason)
			continue
		}
		fmt.Fprintf(e.stderr, "keycycle: account %s (%s) skipped: %s\n", s.ID, s.Name, s.Reason)
	}
	return f, ts, nil
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
