// Package cli is keycycle's command line: it parses arguments, runs subcommands and renders what
// they produce. It is the only package that writes to stdout.
//
// Every subcommand is one entry in the commands table: a name, a one-line summary, and a setup
// function that declares the subcommand's flags on its own flag.FlagSet and returns the function
// that runs it.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"
)

// Exit codes of Main.
const (
	exitOK    = 0 // success, or help asked for
	exitFail  = 1 // the command ran and failed
	exitUsage = 2 // bad command line or bad input file: nothing was done
)

// env is what a subcommand may touch besides its flags.
type env struct {
	stdout io.Writer // results: plans, reports, sandbox exports
	stderr io.Writer // logs, usage and errors
	stdin  io.Reader // confirmation prompts; nil is os.Stdin
}

// logger returns a text slog logger on stderr; verbose lowers its level to debug.
func (e *env) logger(verbose bool) *slog.Logger {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
}

// runFunc runs a subcommand once its flags are parsed; args are the remaining positional
// arguments. It returns the process exit code.
type runFunc func(ctx context.Context, args []string) int

// command is one subcommand.
type command struct {
	name    string
	args    string // synopsis of the positional arguments, for usage; empty when none
	summary string // one line for `keycycle help`
	// setup declares the subcommand's flags on fs and returns its run function.
	setup func(fs *flag.FlagSet, e *env) runFunc
}

// commands is the table of subcommands, in the order `keycycle help` lists them.
// Adding a subcommand is adding an entry here.
var commands = []command{
	{name: "demo", summary: "walk the whole access-key lifecycle on the built-in sandbox, over simulated days", setup: demoCommand},
	{name: "plan", summary: "show what keycycle would do, and why, like terraform plan", setup: planCommand},
	{name: "apply", args: "[plan.json]", summary: "carry out a plan (re-checking each step against AWS first)", setup: applyCommand},
	{name: "rotate-self", summary: "rotate the access key of your own credentials file profile, verified before it is written", setup: rotateSelfCommand},
	{name: "report", summary: reportSummary, setup: reportCommand},
	{name: "policy", summary: "print the least-privilege IAM policy (JSON) a configuration needs, for the member or the hub role", setup: policyCommand},
	{name: "selftest", summary: "prove the whole lifecycle on a throwaway user of the configured account, then remove it (docs/selftest.md)", setup: selftestCommand},
	{name: "sandbox", summary: "run the built-in AWS sandbox (IAM, STS, Secrets Manager, SSM, SES, SNS, SQS, Lambda, Organizations) in the foreground", setup: sandboxCommand},
	{name: "version", summary: "print keycycle's version", setup: versionCommand},
}

func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// Main runs the keycycle command line with args (without the program name) and returns the
// process exit code: 0 on success, 1 when the command failed, 2 on bad usage.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return mainWith(ctx, &env{stdout: stdout, stderr: stderr}, args)
}

// mainWith is Main with the whole environment given (tests set stdin).
func mainWith(ctx context.Context, e *env, args []string) int {
	stderr := e.stderr
	if len(args) == 0 {
		printUsage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		return help(e, args[1:])
	}
	cmd, ok := lookup(args[0])
	if !ok {
		fmt.Fprintf(stderr, "keycycle: unknown command %q\n\n", args[0])
		printUsage(stderr)
		return exitUsage
	}
	fs, run := newFlagSet(cmd, e)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage // the flag package already printed the problem and the usage
	}
	return run(ctx, fs.Args())
}

// newFlagSet builds cmd's flag set, printing usage and errors to stderr.
func newFlagSet(cmd command, e *env) (*flag.FlagSet, runFunc) {
	fs := flag.NewFlagSet("keycycle "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	run := cmd.setup(fs, e)
	fs.Usage = func() {
		synopsis := "keycycle " + cmd.name
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			synopsis += " [flags]"
		}
		if cmd.args != "" {
			synopsis += " " + cmd.args
		}
		fmt.Fprintf(fs.Output(), "usage: %s\n\n%s.\n", synopsis, upperFirst(cmd.summary))
		if hasFlags {
			fmt.Fprintf(fs.Output(), "\nflags:\n")
			fs.PrintDefaults()
		}
	}
	return fs, run
}

// usageError reports a bad command line for fs's command and returns exitUsage.
func usageError(fs *flag.FlagSet, format string, args ...any) int {
	fmt.Fprintf(fs.Output(), "%s: %s\n", fs.Name(), fmt.Sprintf(format, args...))
	fs.Usage()
	return exitUsage
}

func printUsage(w io.Writer) {
	fmt.Fprintf(w, "keycycle rotates AWS IAM user credentials safely.\n\nusage: keycycle <command> [flags] [arguments]\n\ncommands:\n")
	width := len("help")
	for _, c := range commands {
		width = max(width, len(c.name))
	}
	for _, c := range commands {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.summary)
	}
	fmt.Fprintf(w, "  %-*s  %s\n", width, "help", "show this help, or a command's flags: keycycle help <command>")
}

// help serves `keycycle help [command]`. Like all usage text it goes to stderr.
func help(e *env, args []string) int {
	switch len(args) {
	case 0:
		printUsage(e.stderr)
		return exitOK
	case 1:
		cmd, ok := lookup(args[0])
		if !ok {
			fmt.Fprintf(e.stderr, "keycycle help: unknown command %q\n\n", args[0])
			printUsage(e.stderr)
			return exitUsage
		}
		fs, _ := newFlagSet(cmd, e)
		fs.Usage()
		return exitOK
	default:
		fmt.Fprintf(e.stderr, "usage: keycycle help [command]\n")
		return exitUsage
	}
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
