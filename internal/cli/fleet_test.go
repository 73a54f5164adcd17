package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const orgScenario = `
start: 2026-11-21T09:00:00Z
accounts:
  - id: "111111111111"
    alias: mgmt
  - id: "222222222222"
    roles: [{name: KeycycleMember, trusted_accounts: ["111111111111"]}]
    users: [{name: due, access_keys: [{age_days: 100, status: Active}]}]
  - id: "333333333333"
    roles: [{name: KeycycleMember, trusted_accounts: ["111111111111"]}]
    users: [{name: due, access_keys: [{age_days: 100, status: Active}]}]
  - id: "444444444444"
    users: [{name: due, access_keys: [{age_days: 100, status: Active}]}]
organization:
  management_account: "111111111111"
  ous:
    - {name: Prod, accounts: ["222222222222", "444444444444"]}
    - {name: Dev, accounts: ["333333333333"]}
`

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "keycycle.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPlanAndApplyAcrossAnOrganization(t *testing.T) {
	sb := sandboxEnvWith(t, orgScenario)
	cfg := writeConfig(t, "dry_run: false\naccounts:\n  source: organization\n  role: KeycycleMember\n  exclude: [\"111111111111\"]\n")
	r := runMain(t, "", "plan", "--config", cfg, "--output", "json")
	// 444444444444 has no role: reported, exit 1, the others planned.
	if r.code != 1 || !strings.Contains(r.stderr, "444444444444") || !strings.Contains(r.stderr, "AccessDenied") {
		t.Fatalf("plan: exit %d\n%s", r.code, r.stderr)
	}
	var p struct {
		Steps []struct {
			AccountID string `json:"account_id"`
			Action    string
		} `json:"steps"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range p.Steps {
		got[s.AccountID] = s.Action
	}
	if len(got) != 2 || got["222222222222"] != "rotate" || got["333333333333"] != "rotate" {
		t.Fatalf("steps by account = %v", got)
	}
	r = runMain(t, "", "apply", "--config", cfg, "--yes")
	if r.code != 1 {
		t.Fatalf("apply: exit %d (one account has no role)\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "222222222222 due") || !strings.Contains(r.stdout, "333333333333 due") {
		t.Fatalf("results must name the account of each user:\n%s", r.stdout)
	}
	for id, want := range map[string]int{"222222222222": 2, "333333333333": 2, "444444444444": 1} {
		if keys, _ := sb.Keys(id, "due"); len(keys) != want {
			t.Fatalf("account %s: %d keys, want %d", id, len(keys), want)
		}
	}
}

func TestAccountListLimitsTheRun(t *testing.T) {
	sb := sandboxEnvWith(t, orgScenario)
	cfg := writeConfig(t, "dry_run: false\naccounts:\n  source: list\n  ids: [\"333333333333\"]\n  role: KeycycleMember\n")
	r := runMain(t, "", "apply", "--config", cfg, "--yes")
	if r.code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for id, want := range map[string]int{"222222222222": 1, "333333333333": 2} {
		if keys, _ := sb.Keys(id, "due"); len(keys) != want {
			t.Fatalf("account %s: %d keys, want %d", id, len(keys), want)
		}
	}
}
