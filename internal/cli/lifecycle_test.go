package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
)

const lifecycleScenario = `
start: 2026-11-21T09:00:00Z
accounts:
  - id: "111111111111"
    users:
      - name: due
        access_keys:
          - {age_days: 95, status: Active, last_used_days_ago: 1}
      - name: other
        access_keys:
          - {age_days: 5, status: Active}
`

// sandboxEnv starts a sandbox and points the standard AWS chain at it through the environment,
// as a user would with the exports `keycycle sandbox` prints.
func sandboxEnv(t *testing.T) *awssimtest.Sandbox {
	t.Helper()
	return sandboxEnvWith(t, lifecycleScenario)
}

// sandboxEnvWith is sandboxEnv with another scenario; the first account's operator signs.
func sandboxEnvWith(t *testing.T, scenario string) *awssimtest.Sandbox {
	t.Helper()
	sb, _ := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, scenario))
	cred, _ := sb.OperatorCredential("111111111111")
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": sb.URL, "AWS_ACCESS_KEY_ID": cred.AccessKeyID, "AWS_SECRET_ACCESS_KEY": cred.SecretAccessKey,
		"AWS_REGION": "us-east-1", "AWS_PROFILE": "", "AWS_SESSION_TOKEN": "",
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
	} {
		t.Setenv(k, v)
	}
	return sb
}

type run struct {
	code           int
	stdout, stderr string
}

func runMain(t *testing.T, stdin string, args ...string) run {
	t.Helper()
	var out, errOut lockedBuffer
	e := &env{stdout: &out, stderr: &errOut, stdin: strings.NewReader(stdin)}
	code := mainWith(context.Background(), e, args)
	return run{code, out.String(), errOut.String()}
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers, as a terminal or file is: the
// audit trail and the log both write to stderr from the users' goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestPlanJSONAndSavedPlanApply(t *testing.T) {
	sb := sandboxEnv(t)
	dir := t.TempDir()
	planFile := filepath.Join(dir, "plan.json")
	auditFile := filepath.Join(dir, "audit.jsonl")

	r := runMain(t, "", "plan", "--output", "json", "--out", planFile)
	if r.code != 3 { // changes pending
		t.Fatalf("plan: exit %d\n%s", r.code, r.stderr)
	}
	var p struct {
		Version int `json:"version"`
		Steps   []struct {
			User, Action, Credential string
			AccessKeyID              string `json:"access_key_id"`
		} `json:"steps"`
		Summary map[string]int `json:"summary"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
		t.Fatalf("plan JSON: %v\n%s", err, r.stdout)
	}
	if p.Version != 1 || p.Summary["rotate"] != 1 || len(p.Steps) != 1 || p.Steps[0].User != "due" ||
		p.Steps[0].Action != "rotate" || p.Steps[0].Credential != "access_key" || p.Steps[0].AccessKeyID != "report:1" {
		t.Fatalf("plan = %+v", p)
	}
	if st, err := os.Stat(planFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("saved plan: %v %v", st, err)
	}

	// Not a terminal and no --yes: refused, nothing changed.
	r = runMain(t, "yes\n", "apply", "--dry-run=false", planFile)
	if r.code != 2 || !strings.Contains(r.stderr, "stdin is not a terminal") {
		t.Fatalf("apply without --yes: exit %d\n%s", r.code, r.stderr)
	}
	// Dry run (the default): re-checked, nothing changed.
	r = runMain(t, "", "apply", "--yes", "--audit", auditFile, planFile)
	if r.code != 3 || !strings.Contains(r.stdout, "Dry run") || !strings.Contains(r.stdout, "dry-run") {
		t.Fatalf("dry-run apply: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if keys, _ := sb.Keys("111111111111", "due"); len(keys) != 1 {
		t.Fatalf("dry run changed keys: %+v", keys)
	}

	r = runMain(t, "", "apply", "--yes", "--dry-run=false", "--audit", auditFile, planFile)
	if r.code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	keys, _ := sb.Keys("111111111111", "due")
	if len(keys) != 2 || keys[0].Status != "Active" || keys[1].Status != "Active" {
		t.Fatalf("after apply: %+v", keys)
	}
	// The same saved plan again: its precondition no longer holds, so the step is stale.
	r = runMain(t, "", "apply", "--yes", "--dry-run=false", "--audit", auditFile, planFile)
	if r.code != 4 || !strings.Contains(r.stdout, "stale") { // a stale step needs a person: plan again
		t.Fatalf("re-applying a stale plan: exit %d\n%s", r.code, r.stdout)
	}
	if keys, _ := sb.Keys("111111111111", "due"); len(keys) != 2 {
		t.Fatalf("stale plan changed keys: %+v", keys)
	}
}

// consoleUser is a user whose console password is due (70 days) and in use.
const consoleUser = `      - name: human
        mfa: true
        login_profile: {age_days: 100, password_age_days: 70, last_used_days_ago: 1}
`

// TestNoSecretInAnyOutput captures every byte the CLI writes during a rotation (stdout, stderr,
// audit trail, saved plan) and looks for every secret access key and console password the
// sandbox holds or delivered.
func TestNoSecretInAnyOutput(t *testing.T) {
	sb := sandboxEnvWith(t, lifecycleScenario+consoleUser)
	dir := t.TempDir()
	planFile := filepath.Join(dir, "plan.json")
	auditFile := filepath.Join(dir, "audit.jsonl")
	var all strings.Builder
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"plan", "--out", planFile, "--verbose"}, 3},
		{[]string{"plan", "--output", "json"}, 3},
		{[]string{"apply", "--yes", "--dry-run=false", "--audit", auditFile, "--verbose"}, 0},
		{[]string{"apply", "--yes", "--dry-run=false", "--audit", auditFile, "--verbose"}, 0},
	} {
		args := c.args
		r := runMain(t, "", args...)
		if r.code != c.code {
			t.Fatalf("%v: exit %d\n%s", args, r.code, r.stderr)
		}
		all.WriteString(r.stdout + r.stderr)
	}
	for _, f := range []string{planFile, auditFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all.WriteString(string(b))
	}
	var secrets []string
	for _, u := range []string{"due", "other"} {
		keys, _ := sb.Keys("111111111111", u)
		for _, k := range keys {
			if k.SecretAccessKey != "" {
				secrets = append(secrets, k.SecretAccessKey)
			}
		}
	}
	cred, _ := sb.OperatorCredential("111111111111")
	secrets = append(secrets, cred.SecretAccessKey)
	out, err := secretsmanager.NewFromConfig(sb.AccountConfig(t, "111111111111")).GetSecretValue(context.Background(),
		&secretsmanager.GetSecretValueInput{SecretId: aws.String("keycycle/111111111111/due")})
	if err != nil {
		t.Fatalf("the rotation must have delivered a secret: %v", err)
	}
	var v struct{ SecretAccessKey string }
	_ = json.Unmarshal([]byte(aws.ToString(out.SecretString)), &v)
	secrets = append(secrets, v.SecretAccessKey)
	if v.SecretAccessKey == "" || len(secrets) < 3 {
		t.Fatalf("test setup: secrets %d", len(secrets))
	}
	pw, err := secretsmanager.NewFromConfig(sb.AccountConfig(t, "111111111111")).GetSecretValue(context.Background(),
		&secretsmanager.GetSecretValueInput{SecretId: aws.String("keycycle/111111111111/human/console")})
	if err != nil {
		t.Fatalf("the password rotation must have delivered a password: %v", err)
	}
	var p struct{ Password string }
	_ = json.Unmarshal([]byte(aws.ToString(pw.SecretString)), &p)
	if p.Password == "" || !sb.PasswordIs("111111111111", "human", p.Password) {
		t.Fatal("test setup: the delivered password is not in force")
	}
	secrets = append(secrets, p.Password)
	text := all.String()
	if !strings.Contains(text, "rotated: new key delivered") || !strings.Contains(text, "password rotated: new password delivered to keycycle/111111111111/human/console") {
		t.Fatalf("the rotations did not happen:\n%s", text)
	}
	for _, s := range secrets {
		if leaks(text, s) {
			t.Fatalf("a secret access key reached the CLI's output")
		}
	}
}

func TestInvalidConfigRefusedWithLine(t *testing.T) {
	sandboxEnv(t)
	cfg := filepath.Join(t.TempDir(), "keycycle.yaml")
	if err := os.WriteFile(cfg, []byte("thresholds:\n  rotate_after: soon\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runMain(t, "", "plan", "--config", cfg)
	if r.code != 2 || !strings.Contains(r.stderr, "keycycle.yaml:2") {
		t.Fatalf("bad config: exit %d\n%s", r.code, r.stderr)
	}
}

func TestDemoRunsToTheEnd(t *testing.T) {
	r := runMain(t, "", "demo")
	if r.code != 0 {
		t.Fatalf("demo: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"Day 0", "+ rotate", "still in use", "deactivated", "deleted", "Checked: none of the", "Checked: every user that had an active key at the start still has one."} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("demo output lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestApplyRecordsAConsoleWarning: a plan whose only change is the start of an unused login
// profile's warning period is applied (the warning is recorded on the user), not "nothing to
// apply"; the next apply only warns.
func TestApplyRecordsAConsoleWarning(t *testing.T) {
	sb := sandboxEnvWith(t, `
start: 2026-11-21T09:00:00Z
accounts:
  - id: "111111111111"
    users:
      - name: idle
        mfa: true
        login_profile: {age_days: 100, last_used_days_ago: 60}
`)
	r := runMain(t, "", "apply", "--yes", "--dry-run=false")
	if r.code != 0 || strings.Contains(r.stdout, "Nothing to apply") || !strings.Contains(r.stdout, "+ done     warn       idle password  warning recorded") {
		t.Fatalf("apply: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	tags, err := iam.NewFromConfig(sb.AccountConfig(t, "111111111111")).ListUserTags(context.Background(), &iam.ListUserTagsInput{UserName: aws.String("idle")})
	if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "keycycle:console-warned" {
		t.Fatalf("tags %+v %v", tags, err)
	}
	r = runMain(t, "", "apply", "--yes", "--dry-run=false")
	if r.code != 0 || !strings.Contains(r.stdout, "is removed after 2026-12-05 09:00Z") || !strings.Contains(r.stdout, "Nothing to apply") {
		t.Fatalf("second apply: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// leaks reports whether text holds secret as it is, JSON-escaped (json.Marshal escapes & < >)
// or HTML-escaped: a password has symbols, and every output keycycle writes is one of these.
func leaks(text, secret string) bool {
	js, _ := json.Marshal(secret)
	return strings.Contains(text, secret) || strings.Contains(text, strings.Trim(string(js), `"`)) ||
		strings.Contains(text, html.EscapeString(secret))
}
