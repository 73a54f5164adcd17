package cli

import (
	"bytes"
	"errors"
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
