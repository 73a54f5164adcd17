package policy

import (
	"bytes"
	"encoding/json"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/plan"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenAccounts is a small organisation with users in every state the policy knows.
func goldenAccounts() []inventory.Account {
	return []inventory.Account{
		{ID: "111111111111", Alias: "acme-prod", Users: []inventory.User{
			user("alice", iamPath("/people/"), tags("owner", "alice@example.com"), groups("developers"),
				keys(active("ALC1", 95, 1), inactive("ALC0", 200, 120))),
			user("bob", tags("owner", "bob@example.com"), keys(active("BOB1", 30, 0))),
			user("carol", tags("owner", "carol@example.com"), keys(active("CAR1", 80, 2))),
			user("ci-deployer", iamPath("/service/"), tags("owner", "platform@example.com"),
				keys(active("CID0", 110, 15), active("CID1", 15, 0.5)), rotated("CID0", "CID1", 15, never)),
			user("dave", keys(active("DAV0", 100, 1), active("DAV1", 12, 0.2)), rotated("DAV0", "DAV1", 12, never)),
			user("erin", keys(inactive("ERN0", 120, 40), active("ERN1", 30, 0.1)), rotated("ERN0", "ERN1", 30, 18)),
			user("frank", keys(active("FRK0", 140, 3), active("FRK1", 60, 1))),
			user("legacy-batch", iamPath("/service/"), groups("IAMKeyRotationExemptionGroup"), keys(active("LEG0", 400, never))),
			user("mallory", tags("keycycle:exempt", "until=2026-11-01 reason=migration to SSO"), keys(active("MAL0", 150, 5))),
			user("oscar", tags("keycycle:exempt", "until=2027-03-31 reason=vendor appliance OPS-77"), keys(active("OSC0", 150, 5))),
			user("trent", tags("keycycle:rotate-after-days", "30"), keys(active("TRE0", 40, 1))),
			user("victor", tags("keycycle:rotate-after-days", "400"), keys(active("VIC0", 20, 1))),
			func() inventory.User {
				u := user("walter")
				u.KeysKnown, u.Unknown = false, "ListAccessKeys: AccessDenied"
				return u
			}(),
		}},
		{ID: "222222222222", Alias: "acme-security", Users: []inventory.User{
			user("auditor", tags("owner", "security@example.com"), keys(active("AUD0", 10, 1))),
			user("scanner", keys(unknownUse(active("SCN0", 105, never)), active("SCN1", 14, 1)), rotated("SCN0", "SCN1", 14, never)),
		}},
	}
}

func goldenRules() map[string]Rules {
	custom := DefaultRules()
	custom.Default.HardLimit = 120 * Day
	custom.TwoActiveKeys = TwoActiveKeys{Mode: TwoKeysDeactivateUnused, UnusedFor: 30 * Day}
	svc := custom.Default
	svc.RotateAfter, svc.WarnBefore = 180*Day, 30*Day
	svc.HardLimit = 0
	custom.Named = []Rule{{Name: "services", Match: Match{Paths: []string{"/service/"}}, Thresholds: svc}}
	custom.Selection.Exclude = []Match{{Users: []string{"legacy-*"}}}
	custom.MaxDestructive = 2
	return map[string]Rules{"defaults": DefaultRules(), "custom": custom}
}

// TestGolden pins the whole plan, text and JSON, for a realistic inventory. Regenerate with
// go test ./internal/policy -update, and read the diff.
func TestGolden(t *testing.T) {
	for name, rules := range goldenRules() {
		t.Run(name, func(t *testing.T) {
			p := Evaluate(goldenAccounts(), rules, now)
			checkInvariants(t, flatten(goldenAccounts()), rules, p)
			var text bytes.Buffer
			if err := plan.RenderText(&text, p, false); err != nil {
				t.Fatal(err)
			}
			var jsb bytes.Buffer
			if err := plan.WriteJSON(&jsb, p); err != nil {
				t.Fatal(err)
			}
			js := jsb.Bytes()
			golden(t, filepath.Join("testdata", name+".txt.golden"), text.Bytes())
			golden(t, filepath.Join("testdata", name+".json.golden"), js)

			var back plan.Plan
			if err := json.Unmarshal(js, &back); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(p, back); diff != "" {
				t.Fatalf("JSON round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func golden(t *testing.T, file string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/policy -update)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", file, diff)
	}
}

func flatten(accts []inventory.Account) []inventory.User {
	var us []inventory.User
	for _, a := range accts {
		us = append(us, a.Users...)
	}
	return us
}

// TestDeterministic: the order of accounts, users and keys in the inventory does not change the
// plan, and Evaluate does not modify its input.
func TestDeterministic(t *testing.T) {
	for name, rules := range goldenRules() {
		want := Evaluate(goldenAccounts(), rules, now)
		rng := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < 20; i++ {
			accts := goldenAccounts()
			rng.Shuffle(len(accts), func(i, j int) { accts[i], accts[j] = accts[j], accts[i] })
			for _, a := range accts {
				rng.Shuffle(len(a.Users), func(i, j int) { a.Users[i], a.Users[j] = a.Users[j], a.Users[i] })
				for _, u := range a.Users {
					rng.Shuffle(len(u.Keys), func(i, j int) { u.Keys[i], u.Keys[j] = u.Keys[j], u.Keys[i] })
				}
			}
			before := cloneAccounts(accts)
			got := Evaluate(accts, rules, now)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("%s: shuffled input changed the plan (-want +got):\n%s", name, diff)
			}
			if diff := cmp.Diff(before, accts); diff != "" {
				t.Fatalf("%s: Evaluate modified its input:\n%s", name, diff)
			}
		}
	}
}

func cloneAccounts(in []inventory.Account) []inventory.Account {
	b, _ := json.Marshal(in)
	var out []inventory.Account
	_ = json.Unmarshal(b, &out)
	return out
}

// TestInvariantsRandom evaluates many random users under random rules and checks the invariants
// that hold for every plan.
func TestInvariantsRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	tails := []string{"KEY0", "KEY1", "KEY2"}
	for i := 0; i < 3000; i++ {
		rules := DefaultRules()
		if rng.IntN(2) == 0 {
			rules.Default.HardLimit = Day * time.Duration(100+rng.IntN(100))
		}
		if rng.IntN(2) == 0 {
			rules.TwoActiveKeys = TwoActiveKeys{Mode: TwoKeysDeactivateUnused, UnusedFor: Day * time.Duration(1+rng.IntN(60))}
		}
		rules.Default.GuardWindow = Day * time.Duration(rng.IntN(40))
		rules.MaxDestructive = rng.IntN(4) - 1
		var ks []inventory.AccessKey
		for j := 0; j < 1+rng.IntN(2); j++ {
			age := float64(rng.IntN(300))
			used := float64(never)
			if rng.IntN(4) > 0 {
				used = float64(rng.IntN(int(age) + 1))
			}
			k := key(tails[j], []inventory.KeyStatus{inventory.StatusActive, inventory.StatusInactive}[rng.IntN(2)], age, used)
			if rng.IntN(8) == 0 {
				k = unknownUse(k)
			}
			ks = append(ks, k)
		}
		opts := []userOpt{keys(ks...)}
		if len(ks) == 2 && rng.IntN(2) == 0 {
			deact := float64(never)
			if rng.IntN(2) == 0 {
				deact = float64(rng.IntN(30))
			}
			opts = append(opts, rotated("KEY0", "KEY1", float64(rng.IntN(40)), deact))
		}
		u := user("u", opts...)
		p := Evaluate([]inventory.Account{{ID: "111111111111", Users: []inventory.User{u}}}, rules, now)
		checkInvariants(t, []inventory.User{u}, rules, p)
		if t.Failed() {
			t.Fatalf("user %+v", u)
		}
	}
}
