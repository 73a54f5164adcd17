package plan

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// FuzzPlanJSON feeds the plan file reader arbitrary files (plan files are outside input: they can
// be edited between plan and apply), seeded with the golden plans of the policy package. It never
// panics, and a plan it accepts writes back to a file that reads as the same plan (a round trip).
func FuzzPlanJSON(f *testing.F) {
	for _, p := range []string{"../policy/testdata/defaults.json.golden", "../policy/testdata/custom.json.golden"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(bytes.Replace(b, []byte(`"rotate"`), []byte(`"delete"`), 1))
	}
	for _, s := range []string{`{}`, `{"version": 1}`, `{"version": 2, "steps": []}`, `{"version": 1, "steps": [{"action": "explode"}]}`,
		`{"version": 1, "generated_at": "2026-11-21T09:00:00Z", "steps": null, "summary": {"rotate": 1}}`, `[]`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var p Plan
		if err := json.Unmarshal(data, &p); err != nil {
			// Not JSON at all is refused by encoding/json before the plan reader sees it.
			if json.Valid(data) && !strings.HasPrefix(err.Error(), "plan") {
				t.Fatalf("error does not say it is about the plan: %v", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := WriteJSON(&buf, p); err != nil {
			t.Fatalf("an accepted plan does not write: %v", err)
		}
		var q Plan
		if err := json.Unmarshal(buf.Bytes(), &q); err != nil {
			t.Fatalf("a written plan does not read back: %v\n%s", err, buf.Bytes())
		}
		var again bytes.Buffer
		if err := WriteJSON(&again, q); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), again.Bytes()) {
			t.Fatalf("round trip changed the plan:\n%s\n%s", buf.Bytes(), again.Bytes())
		}
		var text bytes.Buffer
		if err := RenderText(&text, q, false); err != nil {
			t.Fatalf("an accepted plan does not render: %v", err)
		}
	})
}
