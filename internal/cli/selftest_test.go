package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
	"github.com/keycycle/keycycle/internal/selftest"
)

const selftestScenario = `
start: 2026-11-21T09:00:00Z
accounts:
  - id: "111111111111"
    alias: acme-prod
    users:
      - {name: alice, access_keys: [{age_days: 200, status: Active}]}
`

func selftestUsers(t *testing.T, sb *awssimtest.Sandbox) []string {
	t.Helper()
	out, err := iam.NewFromConfig(sb.AccountConfig(t, "111111111111")).ListUsers(context.Background(),
		&iam.ListUsersInput{PathPrefix: aws.String(selftest.Path)})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range out.Users {
		names = append(names, aws.ToString(u.UserName))
	}
	return names
}

func TestSelftestCommand(t *testing.T) {
	sb := sandboxEnvWith(t, selftestScenario)

	// acme-prod carries no marker: refused, nothing created, exit 2.
	r := runMain(t, "", "selftest", "--fast")
	if r.code != exitUsage || !strings.Contains(r.stderr, "keycycle:selftest-allowed") || !strings.Contains(r.stderr, "111111111111") {
		t.Fatalf("without the marker: %d %q", r.code, r.stderr)
	}
	if u := selftestUsers(t, sb); len(u) > 0 {
		t.Fatalf("a refused selftest created %v", u)
	}

	// With the alias pattern in the configuration it runs, prints each stage, and cleans up.
	cfg := filepath.Join(t.TempDir(), "keycycle.yaml")
	if err := os.WriteFile(cfg, []byte("selftest: {allowed_aliases: [\"acme-*\"]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runMain(t, "", "selftest", "--fast", "--config", cfg)
	if r.code != exitOK {
		t.Fatalf("selftest --fast: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"+ apply rotates", "measured: new key propagation", "+ second apply changes nothing", "9 passed, 0 failed", "Cleaned up"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if u := selftestUsers(t, sb); len(u) > 0 {
		t.Fatalf("left behind: %v", u)
	}

	// A deferred run (no --fast: the sandbox clock does not move) keeps its user; --cleanup
	// finds it by the tag.
	r = runMain(t, "", "selftest", "--yes", "--max-wait", "1s", "--output", "json")
	if r.code != exitOK || !strings.Contains(r.stdout, `"deferred": true`) || !strings.Contains(r.stdout, `"status": "needs-time"`) {
		t.Fatalf("deferred run: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if u := selftestUsers(t, sb); len(u) != 1 {
		t.Fatalf("the deferred run's user: %v", u)
	}
	r = runMain(t, "", "selftest", "--cleanup")
	if r.code != exitOK || !strings.Contains(r.stdout, "1 selftest users removed") {
		t.Fatalf("--cleanup: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if u := selftestUsers(t, sb); len(u) > 0 {
		t.Fatalf("left behind after --cleanup: %v", u)
	}

	// keycycle policy --selftest adds the throwaway user's permissions.
	r = runMain(t, "", "policy", "--selftest")
	if r.code != exitOK || !strings.Contains(r.stdout, `"iam:CreateUser"`) || !strings.Contains(r.stdout, "user/keycycle-selftest/*") {
		t.Fatalf("policy --selftest: %d\n%s", r.code, r.stdout)
	}
	if r := runMain(t, "", "policy"); strings.Contains(r.stdout, "iam:CreateUser") {
		t.Fatal("the plain member policy must not create users")
	}
}
