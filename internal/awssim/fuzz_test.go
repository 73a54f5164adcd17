package awssim_test

import (
	"os"
	"strings"
	"testing"

	"github.com/keycycle/keycycle/internal/awssim"
)

// FuzzParseScenario feeds the scenario parser arbitrary files, seeded with the built-in scenario
// and small variants. It never panics, a refusal names the file, and every scenario it accepts
// loads into a sandbox (validation catches all that Load would refuse).
func FuzzParseScenario(f *testing.F) {
	def, err := os.ReadFile("default_scenario.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(def))
	for _, s := range []string{
		"", "accounts: []\n", "accounts:\n  - id: \"111111111111\"\n    users:\n      - {name: a, access_keys: [{age_days: 3}, {age_days: 4}, {age_days: 5}]}\n",
		"accounts:\n  - id: \"1\"\n", "accounts:\n  - id: \"111111111111\"\n    users: [{name: \"svc,batch\", tags: {k: \"\\u001b\"}}, {name: SVC,batch}]\n",
		"start: yesterday\n", "seed: -1\n",
		"accounts:\n  - id: \"111111111111\"\n    queues: [{name: q, attributes: {RedrivePolicy: x}}]\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		sc, err := awssim.ParseScenario("fuzz.yaml", []byte(src))
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if _, err := awssim.New(awssim.Options{Scenario: sc}); err != nil {
			t.Fatalf("a scenario that parsed does not load: %v", err)
		}
	})
}
