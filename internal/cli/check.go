package cli

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"strings"

	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/exitcode"
	"github.com/keycycle/keycycle/internal/job"
)

// checkCommand is `keycycle check`, the pre-flight: every configured sink and notifier usable,
// every problem reported at once. apply runs the same checks before it changes anything.
func checkCommand(fs *flag.FlagSet, e *env) runFunc {
	c := commonFlags(fs)
	return func(ctx context.Context, args []string) int {
		if len(args) > 0 {
			return usageError(fs, "unexpected arguments: %s", strings.Join(args, " "))
		}
		r, cfg, code := c.setup(ctx, e)
		if r == nil {
			return code
		}
		fleet, targets, err := scope(ctx, e, cfg, r)
		if err != nil {
			fmt.Fprintf(e.stderr, "keycycle check: %v\n", err)
			return exitcode.Of(err)
		}
		runners := map[string]*job.Runner{}
		for _, t := range targets {
			if t.AccountID == "" {
				runners[""] = r // the credentials' own account
				continue
			}
			runners[t.AccountID] = fleet.RunnerFor(t.AccountID)
		}
		problems, notes := preflight(ctx, runners, cfg)
		if ctx.Err() != nil {
			return exitInterrupted
		}
		for _, n := range notes {
			fmt.Fprintf(e.stderr, "  ? %s\n", n)
		}
		if len(problems) > 0 {
			fmt.Fprintf(e.stderr, "keycycle check: %d problem(s):\n", len(problems))
			for _, p := range problems {
				fmt.Fprintf(e.stderr, "  x %s\n", p)
			}
			return exitUsage
		}
		o, _ := originOf(ctx, r, cfg)
		fmt.Fprintf(e.stdout, "OK: every configured sink and notifier is usable by %s (account %s).\n", o.CallerARN, o.CallerAccount)
		return exitOK
	}
}

// preflight runs the checks in every account of runners (by account id; "" is the credentials'
// own) and returns the problems as lines, each once (a problem found in several accounts names
// them), and apart the checks that could not be made (notes: they do not stop a run).
func preflight(ctx context.Context, runners map[string]*job.Runner, cfg *config.Config) (problems, notes []string) {
	ids := make([]string, 0, len(runners))
	for id := range runners {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	where := map[string][]string{}
	unverified := map[string]bool{}
	var order []string
	for _, id := range ids {
		for _, p := range runners[id].Check(ctx, cfg, job.CheckOptions{}) {
			line := p.String()
			if _, ok := where[line]; !ok {
				order = append(order, line)
			}
			where[line] = append(where[line], id)
			unverified[line] = p.Unverified
		}
	}
	for _, line := range order {
		u := unverified[line]
		if len(runners) > 1 {
			line += " (account " + strings.Join(where[line], ", ") + ")"
		}
		if u {
			notes = append(notes, line)
		} else {
			problems = append(problems, line)
		}
	}
	return problems, notes
}

// checkRunners are the runners apply's pre-flight checks with: one per account that has changes.
func checkRunners(fleet *job.Fleet, planned []job.AccountResult) map[string]*job.Runner {
	out := map[string]*job.Runner{}
	for _, a := range planned {
		if a.Err == nil && changes(a.Scanned.Plan) > 0 {
			out[a.AccountID] = fleet.RunnerFor(a.AccountID)
		}
	}
	return out
}
