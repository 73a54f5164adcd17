package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds the configuration parser arbitrary files, seeded with every example of
// docs/configuration.md (testdata/doc-example-*.yaml, extracted from the document) and damaged
// variants. It never panics; a refusal names the file; a file it accepts parses the same way
// twice and keeps its invariants (delete never before deactivate).
func FuzzParse(f *testing.F) {
	docs, _ := filepath.Glob("testdata/doc-example-*.yaml")
	for _, p := range docs {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"", "dry_run: true\n---\ndry_run: false\n", "thresholds: {rotate_after: 281474976710657d}\n",
		"thresholds: {rotate_after: -1d, delete_after: 1d}\n", "secret: {name_template: \"{{user}}\\u001b\"}\n",
		"selection: {exclude: [{users: [\"[\"]}]}\n", "unknown: 1\n", "tags: {owner: \"\"}\n", "&a [*a, *a]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			_, again := Parse("fuzz.yaml", data)
			if again == nil || again.Error() != err.Error() {
				t.Fatalf("parsing twice gave %v, then %v", err, again)
			}
			return
		}
		if cfg == nil {
			t.Fatal("no configuration and no error")
		}
		d := cfg.Rules.Default
		if d.RotateAfter <= 0 || d.DeactivateAfter < 0 || d.DeleteAfter < 0 {
			t.Fatalf("accepted thresholds out of range: %+v", d)
		}
	})
}
