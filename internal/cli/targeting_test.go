package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keycycle/keycycle/internal/exitcode"
)

const twoDueScenario = `
start: 2026-11-21T09:00:00Z
accounts:
  - id: "111111111111"
    users:
      - name: ci-build
        access_keys:
          - {age_days: 95, status: Active, last_used_days_ago: 1}
      - name: alice
        access_keys:
          - {age_days: 120, status: Active, last_used_days_ago: 1}
      - name: fresh
        access_keys:
          - {age_days: 5, status: Active, last_used_days_ago: 1}
`

// --user and --account narrow plan and apply to the users and accounts they match.
func TestTargeting(t *testing.T) {
	sb := sandboxEnvWith(t, twoDueScenario)
	r := runMain(t, "", "plan", "--user", "ci-*")
	if r.code != exitcode.Pending || !strings.Contains(r.stdout, "ci-build") || strings.Contains(r.stdout, "alice") {
		t.Fatalf("plan --user ci-*: exit %d\n%s", r.code, r.stdout)
	}
	r = runMain(t, "", "plan", "--account", "2222*")
	if r.code != exitcode.Invalid || !strings.Contains(r.stderr, "no account matches --account") {
		t.Fatalf("plan --account 2222*: exit %d\n%s", r.code, r.stderr)
	}
	if r := runMain(t, "", "apply", "--account", "2222*", "--yes"); r.code != exitcode.Invalid {
		t.Fatalf("apply --account 2222*: exit %d\n%s", r.code, r.stderr)
	}
	r = runMain(t, "", "apply", "--user", "alice,nobody", "--account", "1111*", "--yes", "--dry-run=false")
	if r.code != exitcode.OK {
		t.Fatalf("apply --user alice: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if keys, _ := sb.Keys("111111111111", "alice"); len(keys) != 2 {
		t.Fatalf("alice not rotated: %+v", keys)
	}
	if keys, _ := sb.Keys("111111111111", "ci-build"); len(keys) != 1 {
		t.Fatalf("ci-build was not targeted but changed: %+v", keys)
	}
}

// apply --output json prints the documented JSON results and nothing else on stdout.
func TestApplyJSONResults(t *testing.T) {
	sandboxEnv(t)
	r := runMain(t, "", "apply", "--yes", "--dry-run=false", "--output", "json")
	if r.code != exitcode.OK {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	var out struct {
		DryRun  bool `json:"dry_run"`
		Results []struct {
			User, Action, Outcome string
			NewKey                string `json:"new_access_key_id"`
			Sinks                 []struct{ Name, Outcome, Location string }
		} `json:"results"`
		Summary  map[string]int `json:"summary"`
		ExitCode int            `json:"exit_code"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, r.stdout)
	}
	if out.DryRun || len(out.Results) != 1 || out.Results[0].User != "due" || out.Results[0].Outcome != "done" ||
		!strings.HasPrefix(out.Results[0].NewKey, "AKIA") || out.Summary["done"] != 1 || out.ExitCode != 0 ||
		len(out.Results[0].Sinks) != 1 || out.Results[0].Sinks[0].Location != "keycycle/111111111111/due" {
		t.Fatalf("results = %+v", out)
	}
}

// The configuration comes from --config, else KEYCYCLE_CONFIG, else ./keycycle.yaml.
func TestConfigFromEnvironmentAndWorkingDirectory(t *testing.T) {
	sandboxEnv(t)
	bad := writeConf(t, "rotate_afer: 90d\n")
	t.Setenv("KEYCYCLE_CONFIG", bad)
	if r := runMain(t, "", "plan"); r.code != exitcode.Invalid || !strings.Contains(r.stderr, bad) {
		t.Fatalf("KEYCYCLE_CONFIG: exit %d\n%s", r.code, r.stderr)
	}
	t.Setenv("KEYCYCLE_CONFIG", "")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "keycycle.yaml"), []byte("thresholds: {rotate_after: 200d}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	if r := runMain(t, "", "plan"); r.code != exitcode.OK || strings.Contains(r.stdout, "rotate ") {
		t.Fatalf("./keycycle.yaml (rotate_after 200d): exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// rotate forces one user's rotation now; --deactivate-old retires the old key at once, recorded
// in the audit trail with who asked.
func TestRotateNow(t *testing.T) {
	sb := sandboxEnvWith(t, twoDueScenario)
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	before, _ := sb.Keys("111111111111", "fresh")
	r := runMain(t, "", "rotate", "--user", "fresh", "--dry-run=false")
	if r.code != exitcode.Invalid || !strings.Contains(r.stderr, "stdin is not a terminal") {
		t.Fatalf("rotate without --yes: exit %d\n%s", r.code, r.stderr)
	}
	r = runMain(t, "", "rotate", "--user", "fresh", "--yes")
	if r.code != exitcode.Pending || !strings.Contains(r.stdout, "forced rotation requested") {
		t.Fatalf("dry-run rotate: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = runMain(t, "", "rotate", "--user", "fresh", "--yes", "--dry-run=false", "--deactivate-old", "--audit", audit)
	if r.code != exitcode.OK {
		t.Fatalf("rotate: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	keys, _ := sb.Keys("111111111111", "fresh")
	if len(keys) != 2 || keys[0].AccessKeyID != before[0].AccessKeyID || keys[0].Status != "Inactive" || keys[1].Status != "Active" {
		t.Fatalf("after rotate --deactivate-old: %+v", keys)
	}
	trail := string(mustRead(t, audit))
	if !strings.Contains(trail, `"event":"key_deactivated"`) || !strings.Contains(trail, "overriding the unused-since-delivery guard: keycycle rotate --deactivate-old by arn:aws:iam::111111111111:root") {
		t.Fatalf("audit trail lacks the override:\n%s", trail)
	}
	if r := runMain(t, "", "rotate", "--user", "nobody", "--yes"); r.code != exitcode.Failed || !strings.Contains(r.stderr, "nobody") {
		t.Fatalf("unknown user: exit %d\n%s", r.code, r.stderr)
	}
	if r := runMain(t, "", "rotate", "--user", "alice", "--account", "222222222222", "--yes"); r.code != exitcode.Invalid {
		t.Fatalf("another account without accounts: exit %d\n%s", r.code, r.stderr)
	}
}
