package cli_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/keycycle/keycycle/internal/cli"
)

func run(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = cli.Main(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		code       int
		stderrHas  []string
		stdoutNone bool
	}{
		{name: "no arguments", args: nil, code: 2, stderrHas: []string{"usage: keycycle <command>", "sandbox"}},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, stderrHas: []string{`unknown command "frobnicate"`, "sandbox", "version"}},
		{name: "help", args: []string{"help"}, code: 0, stderrHas: []string{"commands:", "sandbox", "version", "help"}},
		{name: "-h", args: []string{"-h"}, code: 0, stderrHas: []string{"commands:"}},
		{name: "--help", args: []string{"--help"}, code: 0, stderrHas: []string{"commands:"}},
		{name: "help sandbox", args: []string{"help", "sandbox"}, code: 0, stderrHas: []string{"usage: keycycle sandbox [flags]", "-listen", "127.0.0.1:4566", "-scenario", "-verbose"}},
		{name: "help unknown", args: []string{"help", "frobnicate"}, code: 2, stderrHas: []string{`unknown command "frobnicate"`}},
		{name: "sandbox -h", args: []string{"sandbox", "-h"}, code: 0, stderrHas: []string{"usage: keycycle sandbox", "-listen"}},
		{name: "bad flag", args: []string{"sandbox", "--bogus"}, code: 2, stderrHas: []string{"-bogus", "usage: keycycle sandbox"}},
		{name: "bad flag value", args: []string{"sandbox", "--verbose=maybe"}, code: 2, stderrHas: []string{"verbose"}},
		{name: "stray argument", args: []string{"sandbox", "extra"}, code: 2, stderrHas: []string{"unexpected arguments: extra"}},
		{name: "version argument", args: []string{"version", "extra"}, code: 2, stderrHas: []string{"takes no arguments"}},
		{name: "mistyped command", args: []string{"aply"}, code: 2, stderrHas: []string{`unknown command "aply"`, "Did you mean this?", "apply"}},
		{name: "mistyped flag", args: []string{"plan", "--otput", "json"}, code: 2, stderrHas: []string{"unknown flag: --otput", "did you mean --output?", "usage: keycycle plan"}},
		{name: "help with examples", args: []string{"help", "plan"}, code: 0, stderrHas: []string{"usage: keycycle plan [flags]", "--account", "--user", "examples:", "keycycle plan --out plan.json", "global flags:", "--log-format"}},
		{name: "help mistyped", args: []string{"help", "aply"}, code: 2, stderrHas: []string{`unknown command "aply"`, `did you mean "apply"?`}},
		{name: "single-dash long flag", args: []string{"sandbox", "-listen", "not an address", "extra"}, code: 2, stderrHas: []string{"unexpected arguments: extra"}},
		{name: "bad log format", args: []string{"version", "--log-format", "xml"}, code: 2, stderrHas: []string{"--log-format must be text or json"}},
		{name: "rotate needs a user", args: []string{"rotate"}, code: 2, stderrHas: []string{"--user is required"}},
		{name: "bad glob", args: []string{"plan", "--user", "[a"}, code: 2, stderrHas: []string{`bad glob "[a"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(tt.args...)
			if code != tt.code {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", code, tt.code, stderr)
			}
			for _, want := range tt.stderrHas {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing: usage goes to stderr", stdout)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, stdout, stderr := run(args...)
		if code != 0 || !strings.HasPrefix(stdout, "keycycle ") || !strings.HasSuffix(stdout, "\n") || stderr != "" {
			t.Fatalf("%v: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
}

// Shell completion: a script per shell on stdout, and completion of commands and flag values.
func TestCompletion(t *testing.T) {
	for shell, want := range map[string]string{"bash": "__start_keycycle", "zsh": "#compdef keycycle", "fish": "complete -c keycycle"} {
		code, stdout, stderr := run("completion", shell)
		if code != 0 || !strings.Contains(stdout, want) {
			t.Errorf("completion %s: exit %d, stdout lacks %q; stderr %s", shell, code, want, stderr)
		}
	}
	code, stdout, _ := run("__complete", "ap")
	if code != 0 || !strings.Contains(stdout, "apply") {
		t.Errorf("complete commands: exit %d, %q", code, stdout)
	}
	code, stdout, _ = run("__complete", "plan", "--output", "")
	if code != 0 || !strings.Contains(stdout, "text") || !strings.Contains(stdout, "json") {
		t.Errorf("complete --output: exit %d, %q", code, stdout)
	}
}

// The overall help text lists every command with its summary.
func ExampleMain_help() {
	cli.Main(context.Background(), []string{"help"}, os.Stdout, os.Stdout)
	// Output:
	// keycycle rotates AWS IAM user credentials safely.
	//
	// usage: keycycle <command> [flags] [arguments]
	//
	// commands:
	//   demo         walk the whole access-key lifecycle on the built-in sandbox, over simulated days
	//   plan         show what keycycle would do, and why, like terraform plan
	//   apply        carry out a plan (re-checking each step against AWS first)
	//   rotate       rotate one user's access key now, whatever its age (a leaked key)
	//   check        pre-flight: verify every configured sink and notifier is usable, and report every problem at once
	//   rotate-self  rotate the access key of your own credentials file profile, verified before it is written
	//   report       report every user: inventory, compliance (CIS, Security Hub), a forecast of the next days, history (docs/report.md)
	//   policy       print the least-privilege IAM policy (JSON) a configuration needs, for the member or the hub role
	//   selftest     prove the whole lifecycle on a throwaway user of the configured account, then remove it (docs/selftest.md)
	//   sandbox      run the built-in AWS sandbox (IAM, STS, Secrets Manager, SSM, SES, SNS, SQS, Lambda, Organizations) in the foreground
	//   version      print keycycle's version
	//   completion   print the shell completion script: keycycle completion bash|zsh|fish
	//   help         show this help, or a command's flags and examples: keycycle help <command>
	//
	// global flags: --verbose (debug logs), --log-format text|json, --version
	// exit codes: 0 ok, 1 failed, 2 invalid or refused, 3 changes pending, 4 needs a person, 130 interrupted (docs/cli.md)
}
