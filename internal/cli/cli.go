// Package cli is keycycle's command line: it parses arguments, runs subcommands and renders what
// they produce. It is the only package that writes to stdout.
//
// Every subcommand is one entry in the commands table: a name, a one-line summary, examples, and a
// setup function that declares the subcommand's flags on its own flag.FlagSet and returns the
// function that runs it. spf13/cobra turns the table into the command tree: help, "did you mean",
// shell completion (keycycle completion bash|zsh|fish) and --version. docs/cli.md is the reference.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keycycle/keycycle/internal/exitcode"
	"github.com/keycycle/keycycle/internal/yamlfile"
)

// Exit codes of Main: the table of internal/exitcode (docs/cli.md).
const (
	exitOK          = exitcode.OK          // success, nothing left to do, or help asked for
	exitFail        = exitcode.Failed      // the command ran and something failed
	exitUsage       = exitcode.Invalid     // bad command line or bad input, refused plan: nothing was done
	exitPending     = exitcode.Pending     // a plan or dry run found changes to make
	exitAttention   = exitcode.Attention   // done, but something needs a person
	exitInterrupted = exitcode.Interrupted // Ctrl-C or a declined prompt
)

// env is what a subcommand may touch besides its flags.
type env struct {
	stdout io.Writer // results: plans, reports, sandbox exports
	stderr io.Writer // logs, usage, errors and progress
	stdin  io.Reader // confirmation prompts; nil is os.Stdin
	// tty receives confirmation prompts; nil: the controlling terminal (/dev/tty), else stderr.
	// Prompts never go to stdout, which may be redirected to a file.
	tty io.Writer
	// getenv reads the environment; nil is os.Getenv.
	getenv func(string) string

	// Global flags.
	verbose   bool   // --verbose: debug logs
	logFormat string // --log-format: text or json
}

func (e *env) env(key string) string {
	if e.getenv != nil {
		return e.getenv(key)
	}
	return os.Getenv(key)
}

// logger returns the slog logger on stderr. It is quiet by default (errors only: what a run
// warns about is in its report, and a failure is not printed twice); verbose (the argument or
// --verbose) lowers it to debug; --log-format json switches to JSON.
func (e *env) logger(verbose bool) *slog.Logger {
	return e.loggerAt(slog.LevelError, verbose)
}

// loggerAt is logger with another default level (the sandbox, a server, logs at info).
func (e *env) loggerAt(level slog.Level, verbose bool) *slog.Logger {
	if verbose || e.verbose {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	if e.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(e.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(e.stderr, opts))
}

// runFunc runs a subcommand once its flags are parsed; args are the remaining positional
// arguments. It returns the process exit code.
type runFunc func(ctx context.Context, args []string) int

// command is one subcommand.
type command struct {
	name    string
	args    string // synopsis of the positional arguments, for usage; empty when none
	summary string // one line for `keycycle help`
	// examples are shown by `keycycle help <command>`, one command line each, with a comment.
	examples string
	// setup declares the subcommand's flags on fs and returns its run function.
	setup func(fs *flag.FlagSet, e *env) runFunc
	// complete lists the values shell completion offers for flags, by flag name.
	complete map[string][]string
}

// commands is the table of subcommands, in the order `keycycle help` lists them.
// Adding a subcommand is adding an entry here.
var commands = []command{
	{name: "demo", summary: "walk the whole access-key lifecycle on the built-in sandbox, over simulated days", setup: demoCommand,
		examples: "keycycle demo\nkeycycle demo --audit audit.jsonl   # also keep the audit trail"},
	{name: "plan", summary: "show what keycycle would do, and why, like terraform plan", setup: planCommand,
		examples: "keycycle plan --config keycycle.yaml\nkeycycle plan --out plan.json                 # save it for keycycle apply plan.json\nkeycycle plan --account '1111*' --user 'ci-*'  # only these accounts and users\nkeycycle plan --output json | jq .summary",
		complete: map[string][]string{"output": {"text", "json"}, "color": colourValues}},
	{name: "apply", args: "[plan.json]", summary: "carry out a plan (re-checking each step against AWS first)", setup: applyCommand,
		examples: "keycycle apply                                  # plan now, show it, ask, then act (dry run unless --dry-run=false)\nkeycycle apply plan.json --dry-run=false --yes  # a saved plan, without asking\nkeycycle apply --user alice --dry-run=false --audit audit.jsonl",
		complete: map[string][]string{"output": {"text", "json"}, "color": colourValues, "dry-run": {"true", "false"}}},
	{name: "rotate", summary: "rotate one user's access key now, whatever its age (a leaked key)", setup: rotateCommand,
		examples: "keycycle rotate --user alice --dry-run=false --yes\nkeycycle rotate --account 111111111111 --user alice --deactivate-old --dry-run=false --yes",
		complete: map[string][]string{"dry-run": {"true", "false"}}},
	{name: "check", summary: "pre-flight: verify every configured sink and notifier is usable, and report every problem at once", setup: checkCommand,
		examples: "keycycle check --config keycycle.yaml"},
	{name: "rotate-self", summary: "rotate the access key of your own credentials file profile, verified before it is written", setup: rotateSelfCommand,
		examples: "keycycle rotate-self --profile dev"},
	{name: "report", summary: reportSummary, setup: reportCommand,
		examples: "keycycle report                                  # the table on the terminal\nkeycycle report --format html --out report.html  # one self-contained file\nkeycycle report --format json --days 60\nkeycycle report --history --user alice --audit audit.jsonl",
		complete: map[string][]string{"format": {"table", "json", "csv", "markdown", "html"}}},
	{name: "policy", summary: "print the least-privilege IAM policy (JSON) a configuration needs, for the member or the hub role", setup: iamPolicyCommand,
		examples: "keycycle policy --config keycycle.yaml\nkeycycle policy --role hub --discovery accounts",
		complete: map[string][]string{"role": {"member", "hub"}, "discovery": {"organization", "ous", "accounts"}, "engine": {"lambda", "cli"}, "partition": {"aws", "aws-us-gov", "aws-cn"}}},
	{name: "selftest", summary: "prove the whole lifecycle on a throwaway user of the configured account, then remove it (docs/selftest.md)", setup: selftestCommand,
		examples: "keycycle selftest --profile dev-admin\nkeycycle selftest --fast   # against the sandbox",
		complete: map[string][]string{"output": {"text", "json"}}},
	{name: "sandbox", summary: "run the built-in AWS sandbox (IAM, STS, Secrets Manager, SSM, SES, SNS, SQS, Lambda, Organizations) in the foreground", setup: sandboxCommand,
		examples: "keycycle sandbox\nkeycycle sandbox --listen 127.0.0.1:0 --scenario my-accounts.yaml"},
	{name: "version", summary: "print keycycle's version", setup: versionCommand, examples: "keycycle version\nkeycycle --version"},
}

var colourValues = []string{"auto", "always", "never"}

// Main runs the keycycle command line with args (without the program name) and returns the
// process exit code (docs/cli.md, internal/exitcode): 0 success with nothing left to do, 1 failed,
// 2 bad input or refused, 3 changes pending, 4 needs a person, 130 interrupted.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return mainWith(ctx, &env{stdout: stdout, stderr: stderr}, args)
}

// mainWith is Main with the whole environment given (tests set stdin and the terminal).
func mainWith(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 {
		printUsage(e.stderr)
		return exitUsage
	}
	code := exitOK
	root := newRoot(e, &code)
	root.SetArgs(longFlags(root, args))
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(e.stderr, "keycycle: %v\n", err)
		var ue usageErr
		if errors.As(err, &ue) && ue.cmd != nil {
			fmt.Fprintf(e.stderr, "\n")
			printCommandUsage(e.stderr, ue.cmd)
		} else {
			fmt.Fprintln(e.stderr)
			printUsage(e.stderr)
		}
		return exitUsage
	}
	return code
}

// usageErr is a bad command line for cmd.
type usageErr struct {
	cmd *cobra.Command
	err error
}

func (u usageErr) Error() string { return u.err.Error() }

// newRoot builds the command tree from the commands table; the code of the command run is stored
// in *code.
func newRoot(e *env, code *int) *cobra.Command {
	root := &cobra.Command{
		Use:           "keycycle",
		Short:         "keycycle rotates AWS IAM user credentials safely.",
		Version:       version(),
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          nil, // legacy: an unknown command is an error with "did you mean"
	}
	root.SetOut(e.stdout) // --version and completion scripts; help goes to stderr (below)
	root.SetErr(e.stderr)
	root.SetVersionTemplate("keycycle {{.Version}}\n")
	root.PersistentFlags().BoolVar(&e.verbose, "verbose", false, "debug logging on stderr")
	root.PersistentFlags().StringVar(&e.logFormat, "log-format", "text", "log format on stderr: text or json")
	_ = root.RegisterFlagCompletionFunc("log-format", fixed([]string{"text", "json"}))
	root.PersistentPreRunE = func(c *cobra.Command, _ []string) error {
		if e.logFormat != "text" && e.logFormat != "json" {
			return usageErr{c, fmt.Errorf("--log-format must be text or json, got %q", e.logFormat)}
		}
		return nil
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErr{c, suggestFlag(c, err)}
	})
	root.SetHelpFunc(func(c *cobra.Command, _ []string) {
		if c == root {
			printUsage(e.stderr)
			return
		}
		printCommandUsage(e.stderr, c)
	})
	root.SetHelpCommand(&cobra.Command{
		Use:   "help [command]",
		Short: "show this help, or a command's flags and examples: keycycle help <command>",
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return commandNames(), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			switch len(args) {
			case 0:
				printUsage(e.stderr)
				return nil
			case 1:
				sub, _, err := root.Find(args)
				if err != nil || sub == root {
					return usageErr{nil, fmt.Errorf("help: unknown command %q%s", args[0], suggestCommand(root, args[0]))}
				}
				printCommandUsage(e.stderr, sub)
				return nil
			}
			return usageErr{c, errors.New("help takes at most one command")}
		},
	})
	for _, spec := range commands {
		root.AddCommand(cobraCommand(spec, e, code))
	}
	return root
}

// cobraCommand turns a table entry into a cobra command. The flags are declared on a standard
// library FlagSet (as every command's setup does) and handed to cobra's pflag.
func cobraCommand(spec command, e *env, code *int) *cobra.Command {
	fs := flag.NewFlagSet("keycycle "+spec.name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	run := spec.setup(fs, e)
	c := &cobra.Command{
		Use:     strings.TrimSpace("keycycle " + spec.name + " " + spec.args)[len("keycycle "):],
		Short:   spec.summary,
		Example: indent(spec.examples),
	}
	c.Flags().AddGoFlagSet(fs)
	for name, values := range spec.complete {
		_ = c.RegisterFlagCompletionFunc(name, fixed(values))
	}
	if spec.args == "" {
		c.ValidArgsFunction = cobra.NoFileCompletions
	}
	c.RunE = func(c *cobra.Command, args []string) error {
		*code = run(c.Context(), args)
		return nil
	}
	return c
}

func fixed(values []string) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}

func commandNames() []string {
	names := make([]string, 0, len(commands))
	for _, c := range commands {
		names = append(names, c.name)
	}
	return names
}

// longFlags rewrites Go-style single-dash long flags (-config x) of the command args name into
// --config x, so command lines written for the standard flag package keep working.
func longFlags(root *cobra.Command, args []string) []string {
	c, _, err := root.Find(args)
	if err != nil {
		return args
	}
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			name, _, _ := strings.Cut(a[1:], "=")
			if len(name) > 1 && (c.Flags().Lookup(name) != nil || c.InheritedFlags().Lookup(name) != nil || root.PersistentFlags().Lookup(name) != nil) {
				a = "-" + a
			}
		}
		out = append(out, a)
	}
	return out
}

// suggestFlag adds "did you mean --x?" to an unknown flag error.
func suggestFlag(c *cobra.Command, err error) error {
	msg := err.Error()
	name, ok := strings.CutPrefix(msg, "unknown flag: --")
	if !ok {
		return err
	}
	var names []string
	c.Flags().VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	c.InheritedFlags().VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	if best := yamlfile.Nearest(name, names); best != "" {
		return fmt.Errorf("%s (did you mean --%s?)", msg, best)
	}
	return err
}

// suggestCommand is cobra's "did you mean" for a command name that is not one.
func suggestCommand(root *cobra.Command, name string) string {
	s := root.SuggestionsFor(name)
	if len(s) == 0 {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", s[0])
}

// usageError reports a bad command line for fs's command and returns exitUsage.
func usageError(fs *flag.FlagSet, format string, args ...any) int {
	fmt.Fprintf(fs.Output(), "%s: %s\n", fs.Name(), fmt.Sprintf(format, args...))
	fmt.Fprintf(fs.Output(), "Run 'keycycle help %s' for its flags and examples.\n", strings.TrimPrefix(fs.Name(), "keycycle "))
	return exitUsage
}

func printUsage(w io.Writer) {
	fmt.Fprintf(w, "keycycle rotates AWS IAM user credentials safely.\n\nusage: keycycle <command> [flags] [arguments]\n\ncommands:\n")
	width := len("completion")
	for _, c := range commands {
		width = max(width, len(c.name))
	}
	for _, c := range commands {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.summary)
	}
	fmt.Fprintf(w, "  %-*s  %s\n", width, "completion", "print the shell completion script: keycycle completion bash|zsh|fish")
	fmt.Fprintf(w, "  %-*s  %s\n", width, "help", "show this help, or a command's flags and examples: keycycle help <command>")
	fmt.Fprintf(w, "\nglobal flags: --verbose (debug logs), --log-format text|json, --version\n")
	fmt.Fprintf(w, "exit codes: 0 ok, 1 failed, 2 invalid or refused, 3 changes pending, 4 needs a person, 130 interrupted (docs/cli.md)\n")
}

// printCommandUsage prints a command's synopsis, summary, flags and examples.
func printCommandUsage(w io.Writer, c *cobra.Command) {
	synopsis := c.CommandPath()
	if c.HasAvailableLocalFlags() {
		synopsis += " [flags]"
	}
	if _, rest, ok := strings.Cut(c.Use, " "); ok {
		synopsis += " " + rest
	}
	fmt.Fprintf(w, "usage: %s\n\n%s.\n", synopsis, upperFirst(strings.TrimSuffix(c.Short, ".")))
	if c.HasAvailableLocalFlags() {
		fmt.Fprintf(w, "\nflags:\n%s", c.LocalFlags().FlagUsages())
	}
	if c.HasAvailableInheritedFlags() {
		fmt.Fprintf(w, "\nglobal flags:\n%s", c.InheritedFlags().FlagUsages())
	}
	if c.Example != "" {
		fmt.Fprintf(w, "\nexamples:\n%s\n", c.Example)
	}
	if c.HasAvailableSubCommands() {
		fmt.Fprintf(w, "\ncommands:\n")
		for _, s := range c.Commands() {
			if s.IsAvailableCommand() {
				fmt.Fprintf(w, "  %-12s %s\n", s.Name(), s.Short)
			}
		}
	}
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n")
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func versionCommand(fs *flag.FlagSet, e *env) runFunc {
	return func(_ context.Context, args []string) int {
		if len(args) > 0 {
			return usageError(fs, "takes no arguments")
		}
		fmt.Fprintf(e.stdout, "keycycle %s\n", version())
		return exitOK
	}
}

// version is the module version the binary was built from (go install, go build in a VCS
// checkout), with the VCS revision when the module version is only "(devel)".
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	if v == "(devel)" {
		var rev, modified string
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if rev != "" {
			if len(rev) > 12 {
				rev = rev[:12]
			}
			v += " " + rev
			if modified == "true" {
				v += "+dirty"
			}
		}
	}
	if info.GoVersion != "" {
		v += " (" + info.GoVersion + ")"
	}
	return v
}
