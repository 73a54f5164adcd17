package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/exitcode"
	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/job"
	"github.com/keycycle/keycycle/internal/plan"
)

// rotateCommand is `keycycle rotate --user U [--account A] [--deactivate-old]`: rotate one user's
// access key (and console password, when password rotation is on) now, whatever its age, as for
// a leaked key. --deactivate-old retires the old key at once, an explicit override of the guard
// that waits for it to stand unused, recorded in the audit trail.
func rotateCommand(fs *flag.FlagSet, e *env) runFunc {
	c := commonFlags(fs)
	account := fs.String("account", "", "the user's account `id` (required when the configuration has accounts:; default: the credentials' own account)")
	user := fs.String("user", "", "the IAM user `name` (required)")
	deactivateOld := fs.Bool("deactivate-old", false, "deactivate the old key right after the new one is delivered, without waiting for it to stand unused (a leaked key)")
	yes := fs.Bool("yes", false, "rotate without asking (required when stdin is not a terminal)")
	dryRun := fs.String("dry-run", "", "true: re-check and report, change nothing; false: change AWS (default: the configuration's dry_run, true by default)")
	auditFile := fs.String("audit", "", "append the audit trail (JSON lines) to `file`; default: the configuration's audit.file, else none")
	output := fs.String("output", "text", "output format of the results: text or json")
	noCheck := fs.Bool("skip-check", false, "do not run the pre-flight check of sinks and notifiers (keycycle check) before changing AWS")
	return func(ctx context.Context, args []string) int {
		switch {
		case len(args) > 0:
			return usageError(fs, "unexpected arguments: %s", strings.Join(args, " "))
		case *user == "":
			return usageError(fs, "--user is required")
		case *dryRun != "" && *dryRun != "true" && *dryRun != "false":
			return usageError(fs, "--dry-run must be true or false, got %q", *dryRun)
		case *output != "text" && *output != "json":
			return usageError(fs, "--output must be text or json, got %q", *output)
		}
		r, cfg, code := c.setup(ctx, e)
		if r == nil {
			return code
		}
		origin, err := originOf(ctx, r, cfg)
		if err != nil {
			fmt.Fprintf(e.stderr, "keycycle rotate: %v\n", err)
			return exitcode.Of(err)
		}
		acct := *account
		if cfg.Accounts == nil {
			if acct != "" && acct != origin.CallerAccount {
				fmt.Fprintf(e.stderr, "keycycle rotate: --account %s is not the credentials' account %s, and the configuration has no accounts: section to reach it\n", acct, origin.CallerAccount)
				return exitUsage
			}
			acct = origin.CallerAccount
		} else if acct == "" {
			fmt.Fprintln(e.stderr, "keycycle rotate: the configuration covers several accounts: name the user's with --account")
			return exitUsage
		}
		dry := cfg.DryRun
		if *dryRun != "" {
			dry = *dryRun == "true"
		}
		aw, closeAudit, err := openAudit(auditPathOf(*auditFile, cfg.Audit.File))
		if err != nil {
			fmt.Fprintf(e.stderr, "keycycle rotate: %v\n", err)
			return exitUsage
		}
		defer closeAudit()
		fleet, _ := job.FleetFromConfig(cfg, r, job.Deployment{})
		ar := fleet.RunnerFor(acct)
		ar.Audit = aw
		p, err := ar.PlanForce(ctx, *user)
		if err != nil {
			fmt.Fprintf(e.stderr, "keycycle rotate: account %s: %v\n", acct, err)
			return exitcode.Of(err)
		}
		out := e.stdout
		if *output == "json" {
			out = io.Discard
		}
		if err := plan.RenderText(out, p, c.useColour(e.stdout)); err != nil {
			return exitFail
		}
		var old string
		for _, st := range p.Steps {
			if st.Action == plan.Rotate && st.Credential == plan.AccessKey {
				old = st.AccessKeyID.String()
			}
		}
		if *deactivateOld && old != "" {
			fmt.Fprintf(out, "\nThen deactivate the old key %s at once (--deactivate-old: the guard that waits for it to stand unused is overridden).\n", old)
		}
		if changes(p) == 0 {
			fmt.Fprintln(out, "\nNothing to rotate.")
			return planStatus(p).code()
		}
		if !*noCheck && problemsOrNil(ctx, e, map[string]*job.Runner{acct: ar}, cfg) {
			return exitUsage
		}
		if dry {
			fmt.Fprintln(out, "\nDry run (configuration dry_run, or --dry-run=true): every step is re-checked against AWS, nothing is changed.")
		} else if !*yes {
			prompt := fmt.Sprintf("\nRotate %s in account %s now, acting as %s (account %s)?\nOnly 'yes' is accepted: ", *user, acct, origin.CallerARN, origin.CallerAccount)
			ok, err := confirm(e, "rotate", prompt)
			if err != nil {
				fmt.Fprintf(e.stderr, "keycycle rotate: %v\n", err)
				return exitcode.Of(err)
			}
			if !ok {
				fmt.Fprintln(e.stderr, "Rotation cancelled; nothing was changed.")
				return exitInterrupted
			}
		}
		results, err := ar.ApplyForce(ctx, p, job.ForceOptions{DeactivateOld: *deactivateOld,
			Why: fmt.Sprintf("keycycle rotate --deactivate-old by %s", origin.CallerARN)}, dry)
		if err != nil {
			fmt.Fprintf(e.stderr, "keycycle rotate: %v\n", err)
		}
		fmt.Fprintln(out)
		renderResults(out, results)
		var notices []job.NotifyReport
		if ctx.Err() == nil {
			rep := ar.NotifyRun(ctx, accountOf(acct), p, results, dry)
			renderNotifications(out, rep)
			notices = append(notices, rep)
		}
		st := resultStatus(results)
		st.failed = st.failed || err != nil
		for _, n := range notices {
			st.attention = st.attention || n.Err() != nil
		}
		if aw != nil && aw.Err() != nil {
			fmt.Fprintf(e.stderr, "keycycle rotate: audit trail: %v\n", aw.Err())
			st.failed = true
		}
		st.interrupted = ctx.Err() != nil
		if *output == "json" {
			writeResultsJSON(e.stdout, dry, results, notices, st.code())
		}
		return st.code()
	}
}

func auditPathOf(flagValue, configured string) string {
	if flagValue != "" {
		return flagValue
	}
	return configured
}

// problemsOrNil runs the pre-flight check and prints its problems; it reports whether there were any.
func problemsOrNil(ctx context.Context, e *env, runners map[string]*job.Runner, cfg *config.Config) bool {
	problems, notes := preflight(ctx, runners, cfg)
	for _, n := range notes {
		fmt.Fprintf(e.stderr, "keycycle: pre-flight: %s\n", n)
	}
	if len(problems) == 0 {
		return false
	}
	fmt.Fprintf(e.stderr, "keycycle: the pre-flight check found %d problem(s); nothing was changed:\n", len(problems))
	for _, pr := range problems {
		fmt.Fprintf(e.stderr, "  x %s\n", pr)
	}
	fmt.Fprintln(e.stderr, "Fix them (keycycle check shows them again), or pass --skip-check to apply anyway.")
	return true
}

func accountOf(id string) inventory.Account { return inventory.Account{ID: id} }
