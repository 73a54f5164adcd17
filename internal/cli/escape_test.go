package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/rotation"
)

// A plan file can carry any user name: the results summary shows it escaped, never raw.
func TestResultsEscapeControlCharacters(t *testing.T) {
	var b bytes.Buffer
	renderResults(&b, []rotation.Result{{
		Step:    plan.Step{AccountID: "111111111111", User: "eve\x1b[2J\nforged", Credential: plan.AccessKey, AccessKeyID: "AKIAEXAMPLEEXAMPLE01", Action: plan.Rotate},
		Outcome: rotation.Refused, Detail: "refused: \x1b[31m", Err: errors.New("x\ry"),
	}})
	out := b.String()
	if strings.ContainsAny(out, "\x1b\r") || !strings.Contains(out, `eve\x1b[2J\nforged`) {
		t.Fatalf("control characters printed raw:\n%q", out)
	}
	if !strings.Contains(out, "Also: 1 refused by the current policy.") {
		t.Errorf("refused outcome not counted:\n%s", out)
	}
}

// A malformed or hand-forged plan file is invalid input: exit code 2, nothing done, the field
// named (and printed escaped).
func TestApplyRefusesAMalformedPlanFileWithExit2(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"not json":    "{",
		"forged user": `{"version":1,"generated_at":"2026-11-21T09:00:00Z","steps":[{"account_id":"111111111111","user":"eve\u001b[2J","credential":"access_key","access_key_id":"AKIAEXAMPLEEXAMPLE01","action":"rotate","reason":"x","rule":"default","precondition":{"keys":[]}}],"summary":{"rotate":1,"deactivate":0,"delete":0,"warn":0,"blocked":0,"skip":0}}`,
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".json")
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		r := runMain(t, "", "apply", "--yes", "--dry-run=false", path)
		if r.code != 2 || strings.Contains(r.stderr, "\x1b") {
			t.Errorf("%s: exit %d, stderr %q", name, r.code, r.stderr)
		}
		if name == "forged user" && !strings.Contains(r.stderr, `steps[0].user`) {
			t.Errorf("the field is not named: %q", r.stderr)
		}
	}
}
