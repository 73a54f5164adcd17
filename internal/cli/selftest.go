package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/keycycle/keycycle/internal/awscfg"
	"github.com/keycycle/keycycle/internal/job"
	"github.com/keycycle/keycycle/internal/selftest"
)

// selftestCommand is `keycycle selftest`: the whole lifecycle on a throwaway user of the account
// the AWS configuration points at (docs/selftest.md).
func selftestCommand(fs *flag.FlagSet, e *env) runFunc {
	cfgFile := fs.String("config", "", "configuration `file` (YAML): its sinks, tag names, passwords and selftest marker are used; none: the documented defaults")
	profile := fs.String("profile", "", "AWS shared config `profile` (default: the standard chain)")
	region := fs.String("region", "", "AWS `region` (default: from the profile or environment)")
	keepGoing := fs.Bool("keep-going", false, "run the later stages after a failed one")
	output := fs.String("output", "text", "output format: text or json")
	fast := fs.Bool("fast", false, "move the endpoint's clock (the sandbox's POST /_sandbox/clock) instead of waiting real time")
	resume := fs.String("resume", "", "resume the deferred selftest with this `id`")
	cleanup := fs.Bool("cleanup", false, "remove every selftest user left in the account (found by the keycycle:selftest tag), and what was delivered for it")
	yes := fs.Bool("yes", false, "run even on an account without the keycycle:selftest-allowed marker")
	maxWait := fs.Duration("max-wait", 30*time.Minute, "longest real-time `wait` of a stage before it is deferred for --resume")
	verbose := fs.Bool("verbose", false, "debug logging on stderr")
	return func(ctx context.Context, args []string) int {
		if len(args) > 0 {
			return usageError(fs, "unexpected arguments: %s", strings.Join(args, " "))
		}
		if *output != "text" && *output != "json" {
			return usageError(fs, "--output must be text or json, got %q", *output)
		}
		if *cleanup && (*resume != "" || *fast) {
			return usageError(fs, "--cleanup takes no --resume or --fast")
		}
		cfg, err := loadConfig(e, *cfgFile)
		if err != nil {
			fmt.Fprintf(e.stderr, "keycycle: %v\n", err)
			return exitUsage
		}
		awsCfg, clock, err := awscfg.Load(ctx, awscfg.Options{Profile: *profile, Region: *region})
		if err != nil {
			fmt.Fprintf(e.stderr, "keycycle: %v\n", err)
			return exitUsage
		}
		log := e.logger(*verbose)
		r, err := job.FromConfig(cfg, awsCfg, clock.Now, log)
		if err != nil {
			fmt.Fprintf(e.stderr, "keycycle: invalid configuration, nothing was done:\n%v\n", err)
			return exitUsage
		}
		r.Audit = nil
		o := selftest.Options{Runner: r, Config: cfg, Fast: *fast, MaxWait: *maxWait, KeepGoing: *keepGoing,
			Yes: *yes, Resume: *resume, Log: log}
		if *cleanup {
			removed, left, err := selftest.Cleanup(ctx, o)
			if err != nil {
				fmt.Fprintf(e.stderr, "keycycle selftest: %v\n", err)
				return exitFail
			}
			for _, u := range removed {
				fmt.Fprintf(e.stdout, "removed %s\n", u)
			}
			for _, l := range left {
				fmt.Fprintf(e.stdout, "left behind: %s\n", l)
			}
			fmt.Fprintf(e.stdout, "Cleanup: %d selftest users removed, %d problems.\n", len(removed), len(left))
			return exitCode(len(left) > 0)
		}
		if *output == "text" {
			o.Progress = func(s selftest.Stage) { renderStage(e.stdout, s) }
		}
		rep, err := selftest.Run(ctx, o)
		if err != nil {
			fmt.Fprintf(e.stderr, "keycycle selftest: %v\n", err)
			if errors.Is(err, selftest.ErrNotAllowed) {
				return exitUsage
			}
			return exitFail
		}
		if *output == "json" {
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(rep); err != nil {
				return exitFail
			}
		} else {
			renderSelftestSummary(e.stdout, rep)
		}
		return exitCode(rep.Failed())
	}
}

var stageSymbols = map[selftest.Status]string{selftest.Passed: "+", selftest.Failed: "x", selftest.NeedsTime: "~", selftest.Skipped: "."}

func renderStage(w io.Writer, s selftest.Stage) {
	fmt.Fprintf(w, "%s %-50s %s\n", stageSymbols[s.Status], s.Name, s.Status)
	for _, c := range s.Checked {
		fmt.Fprintf(w, "    checked: %s\n", c)
	}
	for _, t := range s.Timings {
		fmt.Fprintf(w, "    measured: %s: %s (%s clock)\n", t.Name, time.Duration(t.Value).Round(time.Millisecond), t.Clock)
	}
	if s.Error != "" {
		fmt.Fprintf(w, "    %s\n", s.Error)
	}
}

func renderSelftestSummary(w io.Writer, rep selftest.Report) {
	acct := rep.AccountID
	if rep.Alias != "" {
		acct += " (" + rep.Alias + ")"
	}
	counts := map[selftest.Status]int{}
	for _, s := range rep.Stages {
		counts[s.Status]++
	}
	fmt.Fprintf(w, "\nSelftest %s on account %s, user %s: %d passed, %d failed, %d skipped, %d need real time.\n",
		rep.ID, acct, rep.User, counts[selftest.Passed], counts[selftest.Failed], counts[selftest.Skipped], counts[selftest.NeedsTime])
	switch {
	case rep.Deferred:
		fmt.Fprintf(w, "Deferred: the user is kept; resume after %s with: keycycle selftest --resume %s (or remove it: keycycle selftest --cleanup)\n",
			rep.ResumeAfter.UTC().Format(time.RFC3339), rep.ID)
	case rep.CleanedUp:
		fmt.Fprintln(w, "Cleaned up: the user, its keys, login profile, tags, secrets and parameters are gone.")
	default:
		fmt.Fprintln(w, "Cleanup left something behind (run keycycle selftest --cleanup):")
		for _, l := range rep.Leftovers {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
}
