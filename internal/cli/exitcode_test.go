package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
	"github.com/keycycle/keycycle/internal/exitcode"
)

// terminal is stdin that says it is a terminal, answering with its text.
type terminal struct{ io.Reader }

func (terminal) IsTerminal() bool { return true }

// runTerm runs the CLI with a terminal on stdin answering answer; the prompt is returned apart.
func runTerm(t *testing.T, ctx context.Context, answer string, args ...string) (r run, prompt string) {
	t.Helper()
	var out, errOut, tty lockedBuffer
	e := &env{stdout: &out, stderr: &errOut, stdin: terminal{strings.NewReader(answer)}, tty: &tty}
	code := mainWith(ctx, e, args)
	return run{code, out.String(), errOut.String()}, tty.String()
}

func writeConf(t *testing.T, body string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "keycycle.yaml")
	if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

const notDueScenario = `
start: 2026-11-21T09:00:00Z
accounts:
  - id: "111111111111"
    users:
      - name: fresh
        access_keys:
          - {age_days: 5, status: Active}
`

// blockedScenario has one user keycycle must not touch: two active keys, both in use.
const blockedScenario = `
start: 2026-11-21T09:00:00Z
accounts:
  - id: "111111111111"
    users:
      - name: twokeys
        access_keys:
          - {age_days: 95, status: Active, last_used_days_ago: 1}
          - {age_days: 50, status: Active, last_used_days_ago: 1}
`

// Every row of the exit-code table (internal/exitcode, docs/cli.md), through Main against the
// sandbox.
func TestExitCodeTable(t *testing.T) {
	t.Run("0 nothing to do", func(t *testing.T) {
		sandboxEnvWith(t, notDueScenario)
		for _, args := range [][]string{{"plan"}, {"apply", "--yes", "--dry-run=false"}} {
			if r := runMain(t, "", args...); r.code != exitcode.OK {
				t.Errorf("%v: exit %d, want 0\n%s\n%s", args, r.code, r.stdout, r.stderr)
			}
		}
	})
	t.Run("3 changes pending", func(t *testing.T) {
		sb := sandboxEnv(t)
		for _, args := range [][]string{{"plan"}, {"plan", "--output", "json"}, {"apply", "--yes"}, {"apply", "--yes", "--dry-run=true"}} {
			if r := runMain(t, "", args...); r.code != exitcode.Pending {
				t.Errorf("%v: exit %d, want 3\n%s", args, r.code, r.stderr)
			}
		}
		if keys, _ := sb.Keys("111111111111", "due"); len(keys) != 1 {
			t.Fatalf("a dry run changed keys: %+v", keys)
		}
	})
	t.Run("4 blocked user", func(t *testing.T) {
		sandboxEnvWith(t, blockedScenario)
		r := runMain(t, "", "plan")
		if r.code != exitcode.Attention || !strings.Contains(r.stdout, "two active keys") {
			t.Fatalf("plan: exit %d, want 4\n%s", r.code, r.stdout)
		}
		r = runMain(t, "", "apply", "--yes", "--dry-run=false")
		if r.code != exitcode.Attention || !strings.Contains(r.stdout, "1 blocked") {
			t.Fatalf("apply: exit %d, want 4, and the summary must count the blocked row\n%s", r.code, r.stdout)
		}
	})
	t.Run("4 unreadable users", func(t *testing.T) {
		// After a rotation the credential report (cached) is older than keycycle's record on the
		// user, so the next plan reads the user's keys fresh: ListAccessKeys is refused.
		sb := sandboxEnv(t)
		if r := runMain(t, "", "apply", "--yes", "--dry-run=false"); r.code != exitcode.OK {
			t.Fatalf("apply: exit %d\n%s", r.code, r.stderr)
		}
		if err := sb.SetFaults(awssim.Faults{Errors: []awssim.ErrorRule{
			{Match: awssim.Match{Service: "iam", Action: "ListAccessKeys"}, Code: "AccessDenied", Status: 403, Times: 100},
		}}); err != nil {
			t.Fatal(err)
		}
		r := runMain(t, "", "plan")
		if r.code != exitcode.Attention || !strings.Contains(r.stdout, "keys unknown") {
			t.Fatalf("plan: exit %d, want 4\n%s\n%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("4 failed notification", func(t *testing.T) {
		sb := sandboxEnv(t)
		// The sender is no SES identity: sending fails. --skip-check lets the run go on.
		conf := writeConf(t, "notify:\n  owners:\n    fallback: security@example.com\n  email:\n    from: keycycle@unverified.example\n")
		r := runMain(t, "", "apply", "--config", conf, "--yes", "--dry-run=false", "--skip-check")
		if r.code != exitcode.Attention || !strings.Contains(r.stdout, "x email   failed") {
			t.Fatalf("exit %d, want 4\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		if keys, _ := sb.Keys("111111111111", "due"); len(keys) != 2 {
			t.Fatalf("the rotation itself must be done: %+v", keys)
		}
	})
	t.Run("1 step failed", func(t *testing.T) {
		sandboxEnvWithFaults(t, lifecycleScenario, awssim.Faults{Errors: []awssim.ErrorRule{
			{Match: awssim.Match{Service: "iam", Action: "CreateAccessKey"}, Code: "AccessDenied", Status: 403, Times: 100},
		}})
		r := runMain(t, "", "apply", "--yes", "--dry-run=false")
		if r.code != exitcode.Failed || !strings.Contains(r.stdout, "1 failed") {
			t.Fatalf("exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("2 invalid configuration", func(t *testing.T) {
		sandboxEnv(t)
		conf := writeConf(t, "rotate_afer: 90d\n")
		r := runMain(t, "", "plan", "--config", conf)
		if r.code != exitcode.Invalid || !strings.Contains(r.stderr, "rotate_afer") {
			t.Fatalf("exit %d, want 2\n%s", r.code, r.stderr)
		}
	})
	t.Run("2 no terminal and no --yes", func(t *testing.T) {
		sb := sandboxEnv(t)
		devNull, err := os.Open(os.DevNull) // a character device, yet not a terminal (cron)
		if err != nil {
			t.Fatal(err)
		}
		defer devNull.Close()
		var out, errOut, tty lockedBuffer
		code := mainWith(context.Background(), &env{stdout: &out, stderr: &errOut, stdin: devNull, tty: &tty}, []string{"apply", "--dry-run=false"})
		if code != exitcode.Invalid || !strings.Contains(errOut.String(), "stdin is not a terminal") || !strings.Contains(errOut.String(), "--yes") {
			t.Fatalf("exit %d, want 2\n%s", code, errOut.String())
		}
		if tty.String() != "" || strings.Contains(out.String(), "Only 'yes'") {
			t.Fatalf("a prompt was shown without a terminal: %q %q", tty.String(), out.String())
		}
		if keys, _ := sb.Keys("111111111111", "due"); len(keys) != 1 {
			t.Fatalf("keys changed: %+v", keys)
		}
	})
	t.Run("130 declined prompt", func(t *testing.T) {
		sb := sandboxEnv(t)
		r, prompt := runTerm(t, context.Background(), "no\n", "apply", "--dry-run=false")
		if r.code != exitcode.Interrupted || !strings.Contains(r.stderr, "cancelled") {
			t.Fatalf("exit %d, want 130\n%s", r.code, r.stderr)
		}
		// The prompt goes to the terminal, not stdout, and names the accounts and the identity.
		for _, want := range []string{"111111111111", "arn:aws:iam::111111111111:", "Only 'yes'"} {
			if !strings.Contains(prompt, want) {
				t.Errorf("prompt lacks %q: %q", want, prompt)
			}
		}
		if strings.Contains(r.stdout, "Only 'yes'") {
			t.Errorf("the prompt went to stdout:\n%s", r.stdout)
		}
		if keys, _ := sb.Keys("111111111111", "due"); len(keys) != 1 {
			t.Fatalf("keys changed: %+v", keys)
		}
		r, _ = runTerm(t, context.Background(), "yes\n", "apply", "--dry-run=false")
		if r.code != exitcode.OK {
			t.Fatalf("confirmed: exit %d\n%s", r.code, r.stderr)
		}
	})
	t.Run("130 interrupted apply", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// Ctrl-C arrives while the sandbox holds the CreateAccessKey call.
		sb, _ := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, lifecycleScenario),
			awssimtest.WithFaults(awssim.Faults{Latency: []awssim.LatencyRule{{Match: awssim.Match{Service: "iam", Action: "CreateAccessKey"}, Delay: awssim.Duration(time.Hour)}}}),
			awssimtest.WithSleep(func(c context.Context, d time.Duration) error { cancel(); <-c.Done(); return c.Err() }))
		pointEnvAt(t, sb)
		var out, errOut lockedBuffer
		code := mainWith(ctx, &env{stdout: &out, stderr: &errOut, stdin: strings.NewReader("")}, []string{"apply", "--yes", "--dry-run=false"})
		if code != exitcode.Interrupted || !strings.Contains(errOut.String(), "interrupted") {
			t.Fatalf("exit %d, want 130\n%s\n%s", code, out.String(), errOut.String())
		}
	})
}

// sandboxEnvWithFaults is sandboxEnvWith with injected faults.
func sandboxEnvWithFaults(t *testing.T, scenario string, f awssim.Faults) *awssimtest.Sandbox {
	t.Helper()
	sb, _ := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, scenario), awssimtest.WithFaults(f))
	pointEnvAt(t, sb)
	return sb
}

// pointEnvAt points the standard AWS chain at sb, signed by the first account's operator.
func pointEnvAt(t *testing.T, sb *awssimtest.Sandbox) {
	t.Helper()
	cred, _ := sb.OperatorCredential("111111111111")
	setEnv(t, sb, cred.AccessKeyID, cred.SecretAccessKey)
}

func setEnv(t *testing.T, sb *awssimtest.Sandbox, id, secret string) {
	t.Helper()
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": sb.URL, "AWS_ACCESS_KEY_ID": id, "AWS_SECRET_ACCESS_KEY": secret,
		"AWS_REGION": "us-east-1", "AWS_PROFILE": "", "AWS_SESSION_TOKEN": "", "KEYCYCLE_CONFIG": "",
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
	} {
		t.Setenv(k, v)
	}
}

// A saved plan is bound to the configuration and the identity that made it.
func TestSavedPlanBinding(t *testing.T) {
	sb := sandboxEnvWith(t, lifecycleScenario+`
  - id: "222222222222"
    users:
      - name: someone
        access_keys:
          - {age_days: 5, status: Active}
`)
	planFile := filepath.Join(t.TempDir(), "plan.json")
	ssmConf := writeConf(t, "delivery:\n  - type: ssm\n")
	if r := runMain(t, "", "plan", "--config", ssmConf, "--out", planFile); r.code != exitcode.Pending {
		t.Fatalf("plan: exit %d\n%s", r.code, r.stderr)
	}
	b, _ := os.ReadFile(planFile)
	for _, want := range []string{`"config_digest": "sha256:`, `"account": "111111111111"`, `"arn": "arn:aws:iam::111111111111:`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Fatalf("saved plan lacks %s:\n%s", want, b)
		}
	}
	// Without --config: another configuration (the defaults deliver to Secrets Manager).
	r := runMain(t, "", "apply", "--yes", "--dry-run=false", planFile)
	if r.code != exitcode.Invalid || !strings.Contains(r.stderr, "another configuration") || !strings.Contains(r.stderr, "--config") {
		t.Fatalf("apply without --config: exit %d\n%s", r.code, r.stderr)
	}
	// Another identity.
	cred, _ := sb.OperatorCredential("222222222222")
	setEnv(t, sb, cred.AccessKeyID, cred.SecretAccessKey)
	r = runMain(t, "", "apply", "--config", ssmConf, "--yes", "--dry-run=false", planFile)
	if r.code != exitcode.Invalid || !strings.Contains(r.stderr, "keycycle now signs as") || !strings.Contains(r.stderr, "222222222222") {
		t.Fatalf("apply as another identity: exit %d\n%s", r.code, r.stderr)
	}
	if keys, _ := sb.Keys("111111111111", "due"); len(keys) != 1 {
		t.Fatalf("a refused plan changed keys: %+v", keys)
	}
	// The same configuration and identity: applied, to SSM. Flags may follow the file.
	pointEnvAt(t, sb)
	r = runMain(t, "", "apply", planFile, "--config", ssmConf, "--yes", "--dry-run=false")
	if r.code != exitcode.OK || !strings.Contains(r.stdout, "/keycycle/111111111111/due") {
		t.Fatalf("apply: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// `keycycle check` reports every unusable sink and notifier at once; apply refuses to start.
func TestCheck(t *testing.T) {
	sb := sandboxEnv(t)
	ctx := context.Background()
	cfg := sb.AccountConfig(t, "111111111111")
	hook := awssimtest.StartWebhook(t, sb)
	bad := writeConf(t, `delivery:
  - type: secretsmanager
  - type: webhook
    url: http://127.0.0.1:1/hook
    signing_secret_env: KEYCYCLE_TEST_UNSET_KEY
    required: false
notify:
  email:
    from: keycycle@unverified.example
  sns:
    topic_arn: arn:aws:sns:us-east-1:111111111111:missing
  slack:
    webhook_url: `+hook.URL+`/services/T000/B000/SECRETTOKEN
`)
	hook.SetStatus(404) // a revoked Slack URL
	r := runMain(t, "", "check", "--config", bad)
	if r.code != exitcode.Invalid {
		t.Fatalf("check: exit %d, want 2\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"5 problem(s)", "KEYCYCLE_TEST_UNSET_KEY", "webhook does not answer", "notify.email.from: sender keycycle@unverified.example is not verified in SES",
		"notify.sns.topic_arn: SNS topic arn:aws:sns:us-east-1:111111111111:missing does not exist", "notify.slack.webhook_url: Slack refuses the webhook URL (HTTP 404)"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("check output lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stdout+r.stderr, "SECRETTOKEN") {
		t.Errorf("the Slack URL's token was printed:\n%s", r.stderr)
	}
	r = runMain(t, "", "apply", "--config", bad, "--yes", "--dry-run=false")
	if r.code != exitcode.Invalid || !strings.Contains(r.stderr, "pre-flight check found 5 problem(s); nothing was changed") {
		t.Fatalf("apply: exit %d\n%s", r.code, r.stderr)
	}
	if keys, _ := sb.Keys("111111111111", "due"); len(keys) != 1 {
		t.Fatalf("a refused apply changed keys: %+v", keys)
	}

	// Fixed: the identity verified, the topic created, the signing key set, a live webhook.
	hook.SetStatus(200)
	if _, err := sesv2.NewFromConfig(cfg).CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("unverified.example")}); err != nil {
		t.Fatal(err)
	}
	if _, err := sns.NewFromConfig(cfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("missing")}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KEYCYCLE_TEST_UNSET_KEY", "k")
	good := strings.Replace(string(mustRead(t, bad)), "http://127.0.0.1:1/hook", hook.URL+"/hook", 1)
	r = runMain(t, "", "check", "--config", writeConf(t, good))
	if r.code != exitcode.OK || !strings.Contains(r.stdout, "OK: every configured sink and notifier is usable") {
		t.Fatalf("check: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// An identity without the verification-only read (keycycle policy --check): noted, not a
	// problem; the run may work.
	if err := sb.SetFaults(awssim.Faults{Errors: []awssim.ErrorRule{
		{Match: awssim.Match{Service: "ses", Action: "GetEmailIdentity"}, Code: "AccessDeniedException", Status: 403, Times: 100},
	}}); err != nil {
		t.Fatal(err)
	}
	r = runMain(t, "", "check", "--config", writeConf(t, good))
	if r.code != exitcode.OK || !strings.Contains(r.stderr, "? notify.email.from: cannot verify the sender: SES refuses ses:GetEmailIdentity") ||
		!strings.Contains(r.stderr, "keycycle policy --check") {
		t.Fatalf("check without ses:GetEmailIdentity: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

func mustRead(t *testing.T, f string) []byte {
	t.Helper()
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A normal run is quiet: no log lines, no audit records on stderr; --verbose and --log-format
// json bring the logs; --audit FILE gets the audit trail.
func TestQuietByDefault(t *testing.T) {
	sandboxEnv(t)
	r := runMain(t, "", "apply", "--yes", "--dry-run=false")
	if r.code != exitcode.OK || r.stderr != "" {
		t.Fatalf("apply: exit %d, stderr must be empty:\n%s", r.code, r.stderr)
	}
	r = runMain(t, "", "plan", "--verbose", "--log-format", "json")
	if !strings.Contains(r.stderr, `"level":"INFO","msg":"planned"`) {
		t.Fatalf("--verbose --log-format json: no JSON log line:\n%s", r.stderr)
	}
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	sandboxEnv(t)
	r = runMain(t, "", "apply", "--yes", "--dry-run=false", "--audit", audit)
	if r.code != exitcode.OK || r.stderr != "" || !strings.Contains(string(mustRead(t, audit)), `"event":"rotation_completed"`) {
		t.Fatalf("apply --audit: exit %d\n%s\n%s", r.code, r.stderr, mustRead(t, audit))
	}
}

// terminalBuffer is stderr that says it is a terminal.
type terminalBuffer struct{ lockedBuffer }

func (*terminalBuffer) IsTerminal() bool { return true }

// Progress (accounts, users read, steps) appears on a terminal only.
func TestProgressOnATerminalOnly(t *testing.T) {
	sandboxEnv(t)
	var out lockedBuffer
	var term terminalBuffer
	if code := mainWith(context.Background(), &env{stdout: &out, stderr: &term, stdin: strings.NewReader("")}, []string{"plan"}); code != exitcode.Pending {
		t.Fatalf("plan: exit %d\n%s", code, term.String())
	}
	if !strings.Contains(term.String(), "accounts 1/1 (last 111111111111), users read 2, steps 1") {
		t.Fatalf("no progress on the terminal: %q", term.String())
	}
	if strings.Contains(out.String(), "accounts 1/1") {
		t.Fatalf("progress went to stdout:\n%s", out.String())
	}
	if r := runMain(t, "", "plan"); strings.Contains(r.stderr, "accounts 1/1") {
		t.Fatalf("progress when stderr is not a terminal: %q", r.stderr)
	}
}

// A sender whose SES verification is pending is a problem: SES would refuse to send from it.
func TestCheckPendingSender(t *testing.T) {
	sandboxEnvWith(t, lifecycleScenario+`    email_identities:
      - {identity: keycycle@example.com, verified: false}
`)
	conf := writeConf(t, "notify:\n  email:\n    from: keycycle@example.com\n")
	r := runMain(t, "", "check", "--config", conf)
	if r.code != exitcode.Invalid || !strings.Contains(r.stderr, "notify.email.from: SES identity keycycle@example.com (verification PENDING) is not verified for sending in us-east-1 yet") {
		t.Fatalf("check: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}
