package cli

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"golang.org/x/term"

	"github.com/keycycle/keycycle/internal/audit"
	"github.com/keycycle/keycycle/internal/awscfg"
	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/exitcode"
	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/job"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/rotation"
)

// DefaultConfigFile is the configuration read when neither --config nor KEYCYCLE_CONFIG names
// one and it exists in the working directory.
const DefaultConfigFile = "keycycle.yaml"

// common are the flags plan, apply, rotate and check share.
type common struct {
	config  *string
	profile *string
	region  *string
	colour  *string
	verbose *bool
}

func commonFlags(fs *flag.FlagSet) common {
	return common{
		config:  fs.String("config", "", "configuration `file` (YAML, see docs/configuration.md); default: $KEYCYCLE_CONFIG, else ./keycycle.yaml when it exists, else the documented defaults"),
		profile: fs.String("profile", "", "AWS shared config `profile` (default: the standard chain: AWS_PROFILE, env, SSO, ...)"),
		region:  fs.String("region", "", "AWS `region` for Secrets Manager and STS (default: from the profile or environment)"),
		colour:  fs.String("color", "auto", "colour output: auto (on a terminal only), always, never"),
		verbose: fs.Bool("verbose", false, "debug logging on stderr"),
	}
}

// configPath is the configuration file a command reads: the flag, else $KEYCYCLE_CONFIG, else
// ./keycycle.yaml when it exists; "" is the documented defaults.
func configPath(e *env, flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if v := e.env("KEYCYCLE_CONFIG"); v != "" {
		return v
	}
	if st, err := os.Stat(DefaultConfigFile); err == nil && st.Mode().IsRegular() {
		return DefaultConfigFile
	}
	return ""
}

// loadConfig loads the configuration a command reads (configPath), or says what is wrong.
func loadConfig(e *env, flagValue string) (*config.Config, error) {
	cfg, err := config.Load(configPath(e, flagValue))
	if err != nil {
		return nil, exitcode.With(exitcode.Invalid, fmt.Errorf("invalid configuration, nothing was done:\n%w", err))
	}
	return cfg, nil
}

// setup loads the configuration and the AWS configuration into a runner. It prints what is wrong
// and returns a non-zero exit code when it cannot.
func (c common) setup(ctx context.Context, e *env) (*job.Runner, *config.Config, int) {
	cfg, err := loadConfig(e, *c.config)
	if err != nil {
		fmt.Fprintf(e.stderr, "keycycle: %v\n", err)
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

// targeting is --account and --user: globs (path.Match) that narrow a run, like terraform's
// -target. Several patterns are separated by commas; empty matches everything.
type targeting struct {
	accounts *string
	users    *string
}

func targetingFlags(fs *flag.FlagSet) targeting {
	return targeting{
		accounts: fs.String("account", "", "only accounts whose id or name matches the `glob` (comma-separated globs: '1111*,prod-*')"),
		users:    fs.String("user", "", "only users whose name matches the `glob` (comma-separated globs: 'ci-*,alice')"),
	}
}

func globs(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// validate checks the patterns' syntax.
func (t targeting) validate() error {
	for _, p := range append(globs(*t.accounts), globs(*t.users)...) {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("bad glob %q: %w", p, err)
		}
	}
	return nil
}

func matchAny(patterns []string, vs ...string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		for _, v := range vs {
			if ok, _ := path.Match(p, v); ok && v != "" {
				return true
			}
		}
	}
	return false
}

// targets keeps the targets --account selects. A target whose account is not known yet (the
// credentials' own account) is kept and filtered after planning.
func (t targeting) targets(ts []job.Target) []job.Target {
	pats := globs(*t.accounts)
	var out []job.Target
	for _, x := range ts {
		if x.AccountID == "" || matchAny(pats, x.AccountID, x.Name) {
			out = append(out, x)
		}
	}
	return out
}

// results keeps the accounts and the steps of the users selected.
func (t targeting) results(rs []job.AccountResult) []job.AccountResult {
	accts, users := globs(*t.accounts), globs(*t.users)
	var out []job.AccountResult
	for _, r := range rs {
		if !matchAny(accts, r.AccountID, r.Name) {
			continue
		}
		if len(users) > 0 {
			var steps []plan.Step
			for _, s := range r.Scanned.Plan.Steps {
				if matchAny(users, s.User) {
					steps = append(steps, s)
				}
			}
			r.Scanned.Plan = plan.New(r.Scanned.Plan.GeneratedAt, steps)
		}
		out = append(out, r)
	}
	return out
}

func (t targeting) set() bool { return *t.accounts != "" || *t.users != "" }

// status collects what a run came to and turns it into the exit code (exitcode's table; the
// most serious wins: interrupted, failed, needs a person, changes pending, ok).
type status struct {
	interrupted, failed, attention, pending bool
}

func (s status) code() int {
	switch {
	case s.interrupted:
		return exitInterrupted
	case s.failed:
		return exitFail
	case s.attention:
		return exitAttention
	case s.pending:
		return exitPending
	}
	return exitOK
}

// planStatus is what a plan alone calls for: changes pending, or a person (blocked users, users
// whose keys could not be read).
func planStatus(p plan.Plan) status {
	var s status
	for _, st := range p.Steps {
		switch {
		case st.Changes():
			s.pending = true
		case st.Action == plan.Blocked || st.KeysUnknown():
			s.attention = true
		}
	}
	return s
}

func planCommand(fs *flag.FlagSet, e *env) runFunc {
	c := commonFlags(fs)
	t := targetingFlags(fs)
	output := fs.String("output", "text", "output format: text or json")
	out := fs.String("out", "", "also save the plan as JSON to `file`, for `keycycle apply file`")
	return func(ctx context.Context, args []string) int {
		if len(args) > 0 {
			return usageError(fs, "unexpected arguments: %s", strings.Join(args, " "))
		}
		if *output != "text" && *output != "json" {
			return usageError(fs, "--output must be text or json, got %q", *output)
		}
		if err := t.validate(); err != nil {
			return usageError(fs, "%v", err)
		}
		r, cfg, code := c.setup(ctx, e)
		if r == nil {
			return code
		}
		fleet, targets, err := scope(ctx, e, cfg, r)
		if err != nil {
			fmt.Fprintf(e.stderr, "keycycle plan: %v\n", err)
			return exitcode.Of(err)
		}
		results := t.results(fleet.Plan(ctx, t.targets(targets)))
		if ctx.Err() != nil {
			fmt.Fprintln(e.stderr, "keycycle plan: interrupted")
			return exitInterrupted
		}
		failedAccounts := reportAccountErrors(e.stderr, results)
		if failedAccounts == len(results) && len(results) > 0 {
			return exitFail
		}
		if len(results) == 0 && t.set() {
			fmt.Fprintln(e.stderr, "keycycle plan: no account matches --account")
			return exitUsage
		}
		p := job.Merge(results, r.Now())
		if *out != "" {
			o, err := originOf(ctx, r, cfg)
			if err != nil {
				fmt.Fprintf(e.stderr, "keycycle plan: %v\n", err)
				return exitFail
			}
			saved := p
			saved.Origin = &o
			if err := savePlan(*out, saved); err != nil {
				fmt.Fprintf(e.stderr, "keycycle plan: %v\n", err)
				return exitFail
			}
		}
		if *output == "json" {
			err = plan.WriteJSON(e.stdout, p)
		} else {
			err = plan.RenderText(e.stdout, p, c.useColour(e.stdout))
		}
		if err != nil {
			fmt.Fprintf(e.stderr, "keycycle plan: write: %v\n", err)
			return exitFail
		}
		st := planStatus(p)
		st.failed = failedAccounts > 0
		return st.code()
	}
}

// originOf is what a saved plan records of what made it: the configuration's digest and the
// identity keycycle signs as.
func originOf(ctx context.Context, r *job.Runner, cfg *config.Config) (plan.Origin, error) {
	id, err := r.Identity(ctx)
	if err != nil {
		return plan.Origin{}, err
	}
	return plan.Origin{ConfigDigest: cfg.Digest(), CallerAccount: aws.ToString(id.Account), CallerARN: job.PrincipalARN(aws.ToString(id.Arn))}, nil
}

// checkOrigin refuses a saved plan made under another configuration or identity than now.
func checkOrigin(file string, saved *plan.Origin, now plan.Origin) error {
	if saved == nil {
		return fmt.Errorf("%s does not record the configuration and identity that made it (plans saved before keycycle recorded them); run keycycle plan --out %s again", file, file)
	}
	var problems []string
	if saved.ConfigDigest != now.ConfigDigest {
		problems = append(problems, fmt.Sprintf("it was made with another configuration (digest %s, now %s): pass the same --config (or KEYCYCLE_CONFIG) as when planning, or plan again", short(saved.ConfigDigest), short(now.ConfigDigest)))
	}
	if saved.CallerAccount != now.CallerAccount || saved.CallerARN != now.CallerARN {
		problems = append(problems, fmt.Sprintf("it was made as %s (account %s), but keycycle now signs as %s (account %s): use the same --profile, or plan again",
			saved.CallerARN, saved.CallerAccount, now.CallerARN, now.CallerAccount))
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("refusing %s, nothing was done: %s", file, strings.Join(problems, "; "))
}

func short(digest string) string {
	if len(digest) > len("sha256:")+12 {
		return digest[:len("sha256:")+12]
	}
	return digest
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
	t := targetingFlags(fs)
	yes := fs.Bool("yes", false, "apply without asking (required when stdin is not a terminal)")
	dryRun := fs.String("dry-run", "", "true: re-check every step and report, change nothing; false: change AWS (default: the configuration's dry_run, true by default)")
	auditFile := fs.String("audit", "", "append the audit trail (JSON lines) to `file`; default: the configuration's audit.file, else none")
	output := fs.String("output", "text", "output format of the results: text or json (docs/cli.md)")
	noCheck := fs.Bool("skip-check", false, "do not run the pre-flight check of sinks and notifiers (keycycle check) before changing AWS")
	return func(ctx context.Context, args []string) int {
		if len(args) > 1 {
			return usageError(fs, "takes at most one argument, a saved plan file")
		}
		if *dryRun != "" && *dryRun != "true" && *dryRun != "false" {
			return usageError(fs, "--dry-run must be true or false, got %q", *dryRun)
		}
		if *output != "text" && *output != "json" {
			return usageError(fs, "--output must be text or json, got %q", *output)
		}
		if err := t.validate(); err != nil {
			return usageError(fs, "%v", err)
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
		origin, err := originOf(ctx, r, cfg)
		if err != nil {
			fmt.Fprintf(e.stderr, "keycycle apply: %v\n", err)
			return exitcode.Of(err)
		}
		if saved != nil {
			if err := checkOrigin(args[0], saved.Origin, origin); err != nil {
				fmt.Fprintf(e.stderr, "keycycle apply: %v\n", err)
				return exitUsage
			}
		}
		dry := cfg.DryRun
		if *dryRun != "" {
			dry = *dryRun == "true"
		}
		auditPath := *auditFile
		if auditPath == "" {
			auditPath = cfg.Audit.File
		}
		aw, closeAudit, err := openAudit(auditPath)
		if err != nil {
			fmt.Fprintf(e.stderr, "keycycle apply: %v\n", err)
			return exitUsage
		}
		defer closeAudit()
		r.Audit = aw

		fleet, targets, err := scope(ctx, e, cfg, r)
		if err != nil {
			fmt.Fprintf(e.stderr, "keycycle apply: %v\n", err)
			return exitcode.Of(err)
		}
		var planned []job.AccountResult
		if saved != nil {
			planned = targetsOf(*saved)
			if cfg.Accounts == nil && len(planned) > 1 {
				fmt.Fprintf(e.stderr, "keycycle apply: the plan covers %d accounts; configure accounts: to apply it\n", len(planned))
				return exitUsage
			}
			planned = t.results(planned)
		} else {
			planned = t.results(fleet.Plan(ctx, t.targets(targets)))
		}
		if ctx.Err() != nil {
			fmt.Fprintln(e.stderr, "keycycle apply: interrupted while planning; nothing was changed")
			return exitInterrupted
		}
		if len(planned) == 0 && *t.accounts != "" {
			fmt.Fprintln(e.stderr, "keycycle apply: no account matches --account; nothing was done")
			return exitUsage
		}
		var st status
		failedAccounts := reportAccountErrors(e.stderr, planned)
		if failedAccounts == len(planned) && len(planned) > 0 {
			return exitFail
		}
		st.failed = failedAccounts > 0
		generated := r.Now()
		if saved != nil {
			generated = saved.GeneratedAt
		}
		p := job.Merge(planned, generated)
		text := *output == "text"
		out := e.stdout
		if !text {
			out = io.Discard // stdout holds the JSON results only
		}
		colour := c.useColour(e.stdout)
		if err := plan.RenderText(out, p, colour); err != nil {
			return exitFail
		}
		ps := planStatus(p)
		st.attention = ps.attention
		if !ps.pending {
			fmt.Fprintln(out, "\nNothing to apply.")
			var notices []job.NotifyReport
			for _, a := range planned {
				if a.Runner != nil {
					rep := a.Runner.NotifyRun(ctx, a.Scanned.Account, a.Scanned.Plan, nil, dry)
					renderNotifications(out, rep)
					notices = append(notices, rep)
					st.attention = st.attention || rep.Err() != nil
				}
			}
			if !text {
				writeResultsJSON(e.stdout, dry, nil, notices, st.code())
			}
			return st.code()
		}
		// The pre-flight runs for a dry run too: it says whether the real run could deliver.
		if !*noCheck && problemsOrNil(ctx, e, checkRunners(fleet, planned), cfg) {
			return exitUsage
		}
		if dry {
			fmt.Fprintln(out, "\nDry run (configuration dry_run, or --dry-run=true): every step is re-checked against AWS, nothing is changed.")
		} else if !*yes {
			accounts := make([]string, 0, len(planned))
			for _, a := range planned {
				if a.Err == nil {
					accounts = append(accounts, a.AccountID)
				}
			}
			prompt := fmt.Sprintf("\nApply %d change(s) to AWS account(s) %s, acting as %s (account %s)?\nOnly 'yes' is accepted: ",
				changes(p), strings.Join(accounts, ", "), origin.CallerARN, origin.CallerAccount)
			ok, err := confirm(e, "apply", prompt)
			if err != nil {
				fmt.Fprintf(e.stderr, "keycycle apply: %v\n", err)
				return exitcode.Of(err)
			}
			if !ok {
				fmt.Fprintln(e.stderr, "Apply cancelled; nothing was changed.")
				return exitInterrupted
			}
		}
		applied := fleet.ApplyPlans(ctx, planned, dry)
		st.failed = reportAccountErrors(e.stderr, applied) > 0 || st.failed
		fmt.Fprintln(out)
		var all []rotation.Result
		for _, a := range applied {
			all = append(all, a.Results...)
		}
		renderResults(out, all)
		scannedBy := map[string]inventory.Account{}
		for _, a := range planned {
			scannedBy[a.AccountID] = a.Scanned.Account
		}
		var notices []job.NotifyReport
		for _, a := range applied {
			if a.Runner != nil && a.Err == nil && ctx.Err() == nil {
				rep := a.Runner.NotifyRun(ctx, scannedBy[a.AccountID], a.Scanned.Plan, a.Results, dry)
				renderNotifications(out, rep)
				notices = append(notices, rep)
				st.attention = st.attention || rep.Err() != nil
			}
		}
		if aw != nil {
			if err := aw.Err(); err != nil {
				fmt.Fprintf(e.stderr, "keycycle apply: audit trail: %v\n", err)
				st.failed = true
			}
		}
		rs := resultStatus(all)
		st.failed = st.failed || rs.failed
		st.attention = st.attention || rs.attention
		st.pending = rs.pending
		st.interrupted = ctx.Err() != nil
		if st.interrupted {
			fmt.Fprintln(e.stderr, "keycycle apply: interrupted; the steps not tried are listed above, run plan again to finish")
		}
		if !text {
			writeResultsJSON(e.stdout, dry, all, notices, st.code())
		}
		return st.code()
	}
}

// resultStatus is what the results of an apply call for.
func resultStatus(all []rotation.Result) status {
	var s status
	for _, res := range all {
		switch {
		case res.Outcome == rotation.Failed:
			s.failed = true
		case res.Outcome == rotation.DryRun:
			s.pending = true
		case res.Outcome == rotation.Blocked, res.Outcome == rotation.Stale, res.Outcome == rotation.Refused,
			res.Step.Action == plan.Blocked, res.Step.KeysUnknown():
			s.attention = true
		}
	}
	return s
}

func changes(p plan.Plan) int {
	n := 0
	for _, st := range p.Steps {
		if st.Changes() {
			n++
		}
	}
	return n
}

// openAudit opens the audit trail: a file appended to (created 0600), or none (nil).
func openAudit(path string) (*audit.Writer, func(), error) {
	if path == "" {
		return nil, func() {}, nil
	}
	f, err := openFileAppend(path)
	if err != nil {
		return nil, nil, err
	}
	return audit.NewWriter(f), func() { _ = f.Close() }, nil
}

// errNotTerminal is returned when confirmation is needed but nobody can give it.
func errNotTerminal(what string) error {
	return exitcode.With(exitcode.Invalid, fmt.Errorf("refusing to %s without --yes: stdin is not a terminal, so nobody can confirm; review the plan, then run again with --yes", what))
}

// confirm asks on the terminal and reports whether the answer was "yes". It refuses (exit code
// 2) when stdin is not a terminal: a cron job or a pipe never sees a prompt. The prompt goes to
// the terminal (/dev/tty), not to stdout, which may be redirected.
func confirm(e *env, what, prompt string) (bool, error) {
	in := e.stdin
	if in == nil {
		in = os.Stdin
	}
	if !isTerminal(in) {
		return false, errNotTerminal(what)
	}
	w := e.tty
	if w == nil {
		if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
			defer tty.Close()
			w = tty
		} else {
			w = e.stderr
		}
	}
	fmt.Fprint(w, prompt)
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(w)
		return false, nil
	}
	return strings.TrimSpace(line) == "yes", nil
}

// isTerminal reports whether v is a terminal (golang.org/x/term: a character device such as
// /dev/null is not); a value with an IsTerminal method (tests) answers for itself.
func isTerminal(v any) bool {
	if t, ok := v.(interface{ IsTerminal() bool }); ok {
		return t.IsTerminal()
	}
	f, ok := v.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

var outcomeSymbols = map[rotation.Outcome]string{
	rotation.Done: "+", rotation.Resumed: "+", rotation.DryRun: "?", rotation.Stale: "!",
	rotation.Blocked: "x", rotation.Failed: "x", rotation.Skipped: ".", rotation.Noted: "!",
	rotation.Busy: ".", rotation.Refused: "x",
}

// resultCounts counts results for the summary line: a blocked plan step (noted at apply) counts as
// blocked, as the row printed for it says.
func resultCounts(results []rotation.Result) map[rotation.Outcome]int {
	counts := map[rotation.Outcome]int{}
	for _, r := range results {
		o := r.Outcome
		if o == rotation.Noted && r.Step.Action == plan.Blocked {
			o = rotation.Blocked
		}
		counts[o]++
	}
	return counts
}

// renderResults prints one line per step that was acted on, then a summary line.
func renderResults(w io.Writer, results []rotation.Result) {
	userW := 0
	accounts := map[string]bool{}
	for _, r := range results {
		userW = max(userW, len(plan.Printable(r.Step.User)))
		accounts[r.Step.AccountID] = true
	}
	fmt.Fprintln(w, "Results:")
	for _, r := range results {
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
	counts := resultCounts(results)
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

func exitCode(failed bool) int {
	if failed {
		return exitFail
	}
	return exitOK
}
