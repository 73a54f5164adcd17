package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/keycycle/keycycle/internal/audit"
	"github.com/keycycle/keycycle/internal/awscfg"
	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/job"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/rotation"
)

// common are the flags plan and apply share.
type common struct {
	config  *string
	profile *string
	region  *string
	colour  *string
	verbose *bool
}

func commonFlags(fs *flag.FlagSet) common {
	return common{
		config:  fs.String("config", "", "configuration `file` (YAML, see docs/configuration.md); none: the documented defaults"),
		profile: fs.String("profile", "", "AWS shared config `profile` (default: the standard chain: AWS_PROFILE, env, SSO, ...)"),
		region:  fs.String("region", "", "AWS `region` for Secrets Manager and STS (default: from the profile or environment)"),
		colour:  fs.String("color", "auto", "colour output: auto (on a terminal only), always, never"),
		verbose: fs.Bool("verbose", false, "debug logging on stderr"),
	}
}

// setup loads the configuration and the AWS configuration into a runner. It prints what is wrong
// and returns a non-zero exit code when it cannot.
func (c common) setup(ctx context.Context, e *env) (*job.Runner, *config.Config, int) {
	cfg, err := config.Load(*c.config)
	if err != nil {
		fmt.Fprintf(e.stderr, "keycycle: invalid configuration, nothing was done:\n%v\n", err)
		return nil, nil, exitUsage
	}
	awsCfg, clock, err := awscfg.Load(ctx, awscfg.Options{Profile: *c.profile, Region: *c.region})
	if err != nil {
		fmt.Fprintf(e.stderr, "keycycle: %v\n", err)
		return nil, nil, exitUsage
	}
	r, err := job.FromConfig(cfg, awsCfg, clock.Now, e.logger(*c.verbose))
	if err != nil {
		fmt.Fprintf(e.stderr, "keycycle: invalid configuration, nothing was done:\n%v\n", err)
		return nil, nil, exitUsage
	}
	return r, cfg, exitOK
}

func (c common) useColour(w io.Writer) bool {
	switch *c.colour {
	case "always":
		return true
	case "never":
		return false
	}
	return isTerminal(w) && os.Getenv("NO_COLOR") == ""
}

func planCommand(fs *flag.FlagSet, e *env) runFunc {
	c := commonFlags(fs)
	output := fs.String("output", "text", "output format: text or json")
	out := fs.String("out", "", "also save the plan as JSON to `file`, for `keycycle apply file`")
	return func(ctx context.Context, args []string) int {
		if len(args) > 0 {
			return usageError(fs, "unexpected arguments: %s", strings.Join(args, " "))
		}
		if *output != "text" && *output != "json" {
			return usageError(fs, "--output must be text or json, got %q", *output)
		}
		r, cfg, code := c.setup(ctx, e)
		if r == nil {
			return code
		}
		fleet, targets, err := scope(ctx, e, cfg, r)
		if err != nil {
			fmt.Fprintf(e.stderr, "keycycle plan: %v\n", err)
			return exitFail
		}
		results := fleet.Plan(ctx, targets)
		failedAccounts := reportAccountErrors(e.stderr, results)
		if failedAccounts == len(results) {
			return exitFail
		}
		scanned := job.Scanned{Plan: job.Merge(results, r.Now())}
		if *out != "" {
			if err := savePlan(*out, scanned.Plan); err != nil {
				fmt.Fprintf(e.stderr, "keycycle plan: %v\n", err)
				return exitFail
			}
		}
		if *output == "json" {
			err = plan.WriteJSON(e.stdout, scanned.Plan)
		} else {
			err = plan.RenderText(e.stdout, scanned.Plan, c.useColour(e.stdout))
		}
		if err != nil {
			fmt.Fprintf(e.stderr, "keycycle plan: write: %v\n", err)
			return exitFail
		}
		if failedAccounts > 0 {
			return exitFail
		}
		return exitOK
	}
}

// savePlan writes the plan atomically, readable by its owner only.
func savePlan(path string, p plan.Plan) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".plan-*.json")
	if err != nil {
		return fmt.Errorf("save plan: %w", err)
	}
	defer os.Remove(f.Name())
	if err := plan.WriteJSON(f, p); err != nil {
		f.Close()
		return fmt.Errorf("save plan: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save plan: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("save plan: %w", err)
	}
	return nil
}

func loadPlan(path string) (plan.Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return plan.Plan{}, fmt.Errorf("read plan: %w", err)
	}
	var p plan.Plan
	if err := p.UnmarshalJSON(data); err != nil {
		return plan.Plan{}, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

func applyCommand(fs *flag.FlagSet, e *env) runFunc {
	c := commonFlags(fs)
	yes := fs.Bool("yes", false, "apply without asking (required when stdin is not a terminal)")
	dryRun := fs.String("dry-run", "", "true: re-check every step and report, change nothing; false: change AWS (default: the configuration's dry_run, true by default)")
	auditFile := fs.String("audit", "", "append the audit trail (JSON lines) to `file`; default: the configuration's audit.file, else stderr")
	return func(ctx context.Context, args []string) int {
		if len(args) > 1 {
			return usageError(fs, "takes at most one argument, a saved plan file")
		}
		if *dryRun != "" && *dryRun != "true" && *dryRun != "false" {
			return usageError(fs, "--dry-run must be true or false, got %q", *dryRun)
		}
		var saved *plan.Plan
		if len(args) == 1 {
			p, err := loadPlan(args[0])
			if err != nil {
				fmt.Fprintf(e.stderr, "keycycle apply: %v\n", err)
				return exitUsage
			}
			saved = &p
		}
		r, cfg, code := c.setup(ctx, e)
		if r == nil {
			return code
		}
		dry := cfg.DryRun
		if *dryRun != "" {
			dry = *dryRun == "true"
		}
		auditPath := *auditFile
		if auditPath == "" {
			auditPath = cfg.Audit.File
		}
		aw, closeAudit, err := openAudit(auditPath, e.stderr)
		if err != nil {
			fmt.Fprintf(e.stderr, "keycycle apply: %v\n", err)
			return exitUsage
		}
		defer closeAudit()
		r.Audit = aw

		fleet, targets, err := scope(ctx, e, cfg, r)
		if err != nil {
			fmt.Fprintf(e.stderr, "keycycle apply: %v\n", err)
			return exitFail
		}
		var planned []job.AccountResult
		if saved != nil {
			planned = targetsOf(*saved)
			if cfg.Accounts == nil && len(planned) > 1 {
				fmt.Fprintf(e.stderr, "keycycle apply: the plan covers %d accounts; configure accounts: to apply it\n", len(planned))
				return exitUsage
			}
		} else {
			planned = fleet.Plan(ctx, targets)
		}
		failedAccounts := reportAccountErrors(e.stderr, planned)
		if failedAccounts == len(planned) && len(planned) > 0 {
			return exitFail
		}
		p := job.Merge(planned, r.Now())
		if saved != nil {
			p = *saved
		}
		colour := c.useColour(e.stdout)
		if err := plan.RenderText(e.stdout, p, colour); err != nil {
			return exitFail
		}
		changes := 0
		for _, st := range p.Steps {
			if st.Changes() {
				changes++
			}
		}
		if changes == 0 {
			fmt.Fprintln(e.stdout, "\nNothing to apply.")
			for _, a := range planned {
				if a.Runner != nil {
					renderNotifications(e.stdout, a.Runner.NotifyRun(ctx, a.Scanned.Account, a.Scanned.Plan, nil, dry))
				}
			}
			return exitCode(failedAccounts > 0)
		}
		if dry {
			fmt.Fprintln(e.stdout, "\nDry run (configuration dry_run, or --dry-run=true): every step is re-checked against AWS, nothing is changed.")
		} else if !*yes {
			ok, err := confirm(e, "\nApply these changes to AWS? Only 'yes' is accepted: ")
			if err != nil {
				fmt.Fprintf(e.stderr, "keycycle apply: %v\n", err)
				return exitUsage
			}
			if !ok {
				fmt.Fprintln(e.stdout, "Apply cancelled; nothing was changed.")
				return exitOK
			}
		}
		applied := fleet.ApplyPlans(ctx, planned, dry)
		failedAccounts += reportAccountErrors(e.stderr, applied)
		fmt.Fprintln(e.stdout)
		var all []rotation.Result
		for _, a := range applied {
			all = append(all, a.Results...)
		}
		renderResults(e.stdout, all)
		scannedBy := map[string]inventory.Account{}
		for _, a := range planned {
			scannedBy[a.AccountID] = a.Scanned.Account
		}
		for _, a := range applied {
			if a.Runner != nil && a.Err == nil {
				renderNotifications(e.stdout, a.Runner.NotifyRun(ctx, scannedBy[a.AccountID], a.Scanned.Plan, a.Results, dry))
			}
		}
		if err := aw.Err(); err != nil {
			fmt.Fprintf(e.stderr, "keycycle apply: audit trail: %v\n", err)
			return exitFail
		}
		for _, res := range all {
			if res.Outcome == rotation.Failed {
				return exitFail
			}
		}
		return exitCode(failedAccounts > 0)
	}
}

func exitCode(failed bool) int {
	if failed {
		return exitFail
	}
	return exitOK
}

// openAudit opens the audit trail: a file appended to (created 0600), or stderr.
func openAudit(path string, stderr io.Writer) (*audit.Writer, func(), error) {
	if path == "" {
		return audit.NewWriter(stderr), func() {}, nil
	}
	f, err := openFileAppend(path)
	if err != nil {
		return nil, nil, err
	}
	return audit.NewWriter(f), func() { _ = f.Close() }, nil
}

// errNotTerminal is returned when confirmation is needed but nobody can give it.
var errNotTerminal = errors.New("refusing to apply without --yes: stdin is not a terminal")

func confirm(e *env, prompt string) (bool, error) {
	in := e.stdin
	if in == nil {
		in = os.Stdin
	}
	if !isTerminal(in) {
		return false, errNotTerminal
	}
	fmt.Fprint(e.stdout, prompt)
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && line == "" {
		return false, nil
	}
	return strings.TrimSpace(line) == "yes", nil
}

// isTerminal reports whether v is a character device (a terminal); e.isTerm overrides it in tests.
func isTerminal(v any) bool {
	if t, ok := v.(interface{ IsTerminal() bool }); ok {
		return t.IsTerminal()
	}
	f, ok := v.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

var outcomeSymbols = map[rotation.Outcome]string{
	rotation.Done: "+", rotation.Resumed: "+", rotation.DryRun: "?", rotation.Stale: "!",
	rotation.Blocked: "x", rotation.Failed: "x", rotation.Skipped: ".", rotation.Noted: "!",
	rotation.Busy: ".", rotation.Refused: "x",
}

// renderResults prints one line per step that was acted on, then a summary line.
func renderResults(w io.Writer, results []rotation.Result) {
	counts := map[rotation.Outcome]int{}
	userW := 0
	accounts := map[string]bool{}
	for _, r := range results {
		userW = max(userW, len(plan.Printable(r.Step.User)))
		accounts[r.Step.AccountID] = true
	}
	fmt.Fprintln(w, "Results:")
	for _, r := range results {
		counts[r.Outcome]++
		if r.Outcome == rotation.Noted && r.Step.Action != plan.Warn && r.Step.Action != plan.Blocked {
			continue
		}
		who := fmt.Sprintf("%-*s", userW, plan.Printable(r.Step.User))
		if len(accounts) > 1 { // several accounts: say whose user it is
			who = r.Step.AccountID + " " + who
		}
		cred := r.Step.AccessKeyID.String()
		if r.Step.Credential == plan.Password {
			cred = "password"
		}
		line := fmt.Sprintf("  %s %-8s %-10s %s %s", outcomeSymbols[r.Outcome], r.Outcome, r.Step.Action, who, cred)
		if r.NewKeyID != "" {
			line += " -> " + r.NewKeyID.String()
		}
		line += "  " + plan.Printable(r.Detail)
		if r.Err != nil {
			line += ": " + plan.Printable(r.Err.Error())
		}
		fmt.Fprintln(w, line)
		renderSinks(w, r.Sinks)
	}
	fmt.Fprintf(w, "Apply: %d done, %d resumed, %d dry-run, %d stale, %d blocked, %d failed, %d not tried.\n",
		counts[rotation.Done], counts[rotation.Resumed], counts[rotation.DryRun], counts[rotation.Stale],
		counts[rotation.Blocked], counts[rotation.Failed], counts[rotation.Skipped])
	if n := rotation.SummaryExtra(counts); n != "" {
		fmt.Fprintln(w, n)
	}
}

func openFileAppend(path string) (io.WriteCloser, error) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open audit file: %w", err)
	}
	return f, nil
}
