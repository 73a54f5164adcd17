package cli

import (
	"context"
	"flag"
	"fmt"
	"github.com/keycycle/keycycle/internal/exitcode"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keycycle/keycycle/internal/awscfg"
	"github.com/keycycle/keycycle/internal/job"
	"github.com/keycycle/keycycle/internal/rotation"
)

// rotateSelfCommand is `keycycle rotate-self`: like aws-rotate-key, but the new key is proven to
// work before the credentials file is rewritten, and the old key is only deactivated by default.
func rotateSelfCommand(fs *flag.FlagSet, e *env) runFunc {
	profile := fs.String("profile", "", "credentials file `profile` whose key to rotate (default: AWS_PROFILE, else default)")
	yes := fs.Bool("yes", false, "rotate without asking (required when stdin is not a terminal)")
	del := fs.Bool("delete", false, "delete the old key instead of deactivating it")
	region := fs.String("region", "", "AWS `region` for STS (default: from the profile or environment)")
	verifyTimeout := fs.Duration("verify-timeout", 2*time.Minute, "how long to wait for the new key to authenticate (IAM is eventually consistent) before giving up and deleting it")
	return func(ctx context.Context, args []string) int {
		if len(args) > 0 {
			return usageError(fs, "unexpected arguments: %s", strings.Join(args, " "))
		}
		p := *profile
		if p == "" {
			p = os.Getenv("AWS_PROFILE")
		}
		if p == "" {
			p = "default"
		}
		file, err := credentialsFile()
		if err != nil {
			fmt.Fprintf(e.stderr, "keycycle rotate-self: %v\n", err)
			return exitUsage
		}
		if *verifyTimeout <= 0 {
			return usageError(fs, "--verify-timeout must be more than 0")
		}
		self := &job.SelfRotation{File: file, Profile: p, Delete: *del,
			Verify: job.Verify{Timeout: *verifyTimeout, Interval: min(time.Second, *verifyTimeout/10)}}
		if _, err := self.Key(); err != nil {
			fmt.Fprintf(e.stderr, "keycycle rotate-self: %v\nNothing was changed.\n", err)
			return exitFail
		}
		if self.AWS, _, err = awscfg.Load(ctx, awscfg.Options{Profile: p, Region: *region, CredentialsFile: file}); err != nil {
			fmt.Fprintf(e.stderr, "keycycle rotate-self: %v\n", err)
			return exitUsage
		}
		t, err := self.Target(ctx)
		if err != nil {
			fmt.Fprintf(e.stderr, "keycycle rotate-self: %v\nNothing was changed.\n", err)
			return exitFail
		}
		then := "deactivate"
		if *del {
			then = "delete"
		}
		fmt.Fprintf(e.stdout, "Rotate access key %s of %s\n  stored in %s:\n  create a new key, check that it authenticates, write it to the file, then %s the old key.\n",
			t.KeyID, t.UserARN, t.Location, then)
		if !*yes {
			ok, err := confirm(e, "rotate", "\nRotate this key? Only 'yes' is accepted: ")
			if err != nil {
				fmt.Fprintf(e.stderr, "keycycle rotate-self: %v\n", err)
				return exitcode.Of(err)
			}
			if !ok {
				fmt.Fprintln(e.stderr, "Rotation cancelled; nothing was changed.")
				return exitInterrupted
			}
		}
		res, err := self.Rotate(ctx, t)
		if err != nil {
			fmt.Fprintf(e.stderr, "keycycle rotate-self: %v\n", err)
			if res.New != "" && res.OldKey == "active" {
				fmt.Fprintf(e.stdout, "The new key %s is in %s; the old key %s is still active.\n", res.New, res.Location, res.Old)
			}
			return exitFail
		}
		fmt.Fprintf(e.stdout, "Rotated: %s now holds %s (verified); the old key %s is %s.\n", res.Location, res.New, res.Old, res.OldKey)
		return exitOK
	}
}

// credentialsFile is the shared credentials file the AWS CLI reads.
func credentialsFile() (string, error) {
	if f := os.Getenv("AWS_SHARED_CREDENTIALS_FILE"); f != "" {
		return f, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no home directory for ~/.aws/credentials: %w", err)
	}
	return filepath.Join(home, ".aws", "credentials"), nil
}

// renderSinks prints what became of each delivery of a rotate step, under its result line.
func renderSinks(w io.Writer, sinks []rotation.SinkResult) {
	for _, s := range sinks {
		req := "required"
		if !s.Required {
			req = "optional"
		}
		line := fmt.Sprintf("      %-18s %-8s %-17s %s", s.Name, req, s.Outcome, s.Location)
		if s.Err != nil {
			line += ": " + s.Err.Error()
		}
		fmt.Fprintln(w, line)
	}
}
