package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const reportScenario = `
start: 2026-11-21T09:00:00Z
accounts:
  - id: "111111111111"
    alias: mgmt
    users:
      - name: due
        tags: {owner: due@example.com}
        access_keys: [{age_days: 100, status: Active, last_used_days_ago: 1}]
      - name: fresh
        access_keys: [{age_days: 5, status: Active, last_used_days_ago: 1}]
`

func TestReportCommand(t *testing.T) {
	sandboxEnvWith(t, reportScenario)
	r := runMain(t, "", "report", "--format", "json", "--days", "5")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	var rep struct {
		Users []struct {
			User     string            `json:"user"`
			Controls map[string]string `json:"controls"`
		} `json:"users"`
		Forecast struct {
			Days   int `json:"days"`
			Events []struct {
				User, Action string
			} `json:"events"`
		} `json:"forecast"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if len(rep.Users) != 2 || rep.Users[0].User != "due" || rep.Users[0].Controls["CIS-1.14"] != "fail" || rep.Users[1].Controls["CIS-1.14"] != "pass" {
		t.Fatalf("users %+v", rep.Users)
	}
	if rep.Forecast.Days != 5 || len(rep.Forecast.Events) == 0 || rep.Forecast.Events[0].User != "due" || rep.Forecast.Events[0].Action != "rotate" {
		t.Fatalf("forecast %+v", rep.Forecast)
	}

	// --out writes the file, stdout stays empty; every format is accepted.
	dir := t.TempDir()
	for _, f := range []string{"table", "csv", "markdown", "html"} {
		path := filepath.Join(dir, "r."+f)
		r = runMain(t, "", "report", "--format", f, "--out", path)
		data, err := os.ReadFile(path)
		if r.code != 0 || r.stdout != "" || err != nil || !strings.Contains(string(data), "due") {
			t.Fatalf("%s: exit %d, stdout %q, %v\n%s", f, r.code, r.stdout, err, r.stderr)
		}
	}
}

func TestReportUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"report", "--format", "pdf"},
		{"report", "--days", "-1"},
		{"report", "--user", "x"},
		{"report", "--history"},
		{"report", "extra"},
	} {
		r := runMain(t, "", args...)
		if r.code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s", args, r.code, r.stderr)
		}
	}
	r := runMain(t, "", "report", "--history", "--audit", filepath.Join(t.TempDir(), "missing.jsonl"))
	if r.code != 2 || !strings.Contains(r.stderr, "missing.jsonl") {
		t.Errorf("missing audit file: exit %d\n%s", r.code, r.stderr)
	}
}

func TestReportHistoryOfAUser(t *testing.T) {
	sandboxEnvWith(t, reportScenario)
	cfg := writeConfig(t, "dry_run: false\n")
	auditFile := filepath.Join(t.TempDir(), "audit.jsonl")
	if r := runMain(t, "", "apply", "--config", cfg, "--yes", "--audit", auditFile); r.code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	raw, err := os.ReadFile(auditFile)
	if err != nil || !strings.Contains(string(raw), `"rotation_completed"`) {
		t.Fatalf("audit %v\n%s", err, raw)
	}
	// A log line around the records (as in exported Lambda logs) is skipped.
	if err := os.WriteFile(auditFile, append([]byte("START RequestId: 1 Version: $LATEST\n"), raw...), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runMain(t, "", "report", "--history", "--user", "due", "--audit", auditFile, "--format", "json")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	var rep struct {
		History struct {
			User    string `json:"user"`
			Skipped int    `json:"skipped_lines"`
			Entries []struct {
				User, Event, Key string
				NewKey           string `json:"new_key"`
			} `json:"entries"`
		} `json:"history"`
		Users []any `json:"users"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	h := rep.History
	if h.User != "due" || h.Skipped != 1 || len(h.Entries) == 0 || len(rep.Users) != 0 {
		t.Fatalf("history %+v", rep)
	}
	done := false
	for _, e := range h.Entries {
		if e.User != "due" {
			t.Fatalf("entry of %s in the history of due", e.User)
		}
		if e.Event == "rotation_completed" {
			done = true
			if !strings.Contains(e.NewKey, "...") || strings.Contains(string(raw), `"`+e.NewKey+`"`) {
				t.Fatalf("new key %q not masked", e.NewKey)
			}
		}
	}
	if !done {
		t.Fatalf("no rotation_completed in %+v", h.Entries)
	}
	r = runMain(t, "", "report", "--history", "--user", "due", "--audit", auditFile)
	if r.code != 0 || !strings.Contains(r.stdout, "History of user due") || !strings.Contains(r.stdout, "rotation_completed") {
		t.Fatalf("table: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestReportAcrossAnOrganization: one report of every account the configuration selects, with a
// roll-up per account; an account that cannot be read is named, and the command exits 1.
func TestReportAcrossAnOrganization(t *testing.T) {
	sandboxEnvWith(t, orgScenario)
	cfg := writeConfig(t, "accounts:\n  source: organization\n  role: KeycycleMember\n  exclude: [\"111111111111\"]\n")
	r := runMain(t, "", "report", "--config", cfg, "--format", "json", "--days", "0")
	if r.code != 1 || !strings.Contains(r.stderr, "444444444444") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	var rep struct {
		Accounts []struct {
			ID         string  `json:"account_id"`
			Users      int     `json:"users"`
			Compliance float64 `json:"compliance_percent"`
		} `json:"accounts"`
		Failed []struct {
			ID string `json:"account_id"`
		} `json:"failed_accounts"`
		Forecast *struct{} `json:"forecast"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if len(rep.Accounts) != 2 || rep.Accounts[0].ID != "222222222222" || rep.Accounts[1].ID != "333333333333" ||
		rep.Accounts[0].Users != 1 || len(rep.Failed) != 1 || rep.Failed[0].ID != "444444444444" || rep.Forecast != nil {
		t.Fatalf("report %+v", rep)
	}
}
