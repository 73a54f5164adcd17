package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/keycycle/keycycle/internal/config"
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
		problems := preflight(ctx, r, cfg)
		if ctx.Err() != nil {
			return exitInterrupted
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

// preflight runs the checks and returns the problems as lines.
func preflight(ctx context.Context, r *job.Runner, cfg *config.Config) []string {
	var out []string
	for _, p := range r.Check(ctx, cfg, job.CheckOptions{}) {
		out = append(out, p.String())
	}
	return out
}
