package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/keycycle/keycycle/internal/inventory"
)

func TestExemptionNotice(t *testing.T) {
	now := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	rules := DefaultRules()
	user := func(tag string, groups ...string) inventory.User {
		return inventory.User{Name: "u", Tags: map[string]string{"keycycle:exempt": tag}, Groups: groups}
	}
	tests := []struct {
		name string
		u    inventory.User
		want bool
	}{
		{"expires within", user("until=2026-11-30 reason=vendor OPS-1"), true},
		{"bare date", user("2026-12-01"), true},
		{"expires later", user("until=2027-01-31"), false},
		{"no expiry", user("reason=break-glass"), false},
		{"already expired", user("until=2026-11-01"), false},
		{"unreadable", user("until=soon"), false},
		{"exemption group never expires", user("until=2026-11-30", "IAMKeyRotationExemptionGroup"), false},
		{"no tag", inventory.User{Name: "u"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ex, why, ok := ExemptionNotice(tc.u, rules, now, 14*Day)
			if ok != tc.want {
				t.Fatalf("ExemptionNotice = %v (%q), want %v", ok, why, tc.want)
			}
			if ok && (ex.Until.IsZero() || !strings.Contains(why, "expires 2026-1")) {
				t.Fatalf("exemption %+v, why %q", ex, why)
			}
		})
	}
	if _, _, ok := ExemptionNotice(user("until=2026-11-30"), rules, now, 0); ok {
		t.Fatal("a zero lead time gives no notice")
	}
	optIn := rules
	optIn.Selection.Mode = OptIn
	if _, _, ok := ExemptionNotice(user("until=2026-11-30"), optIn, now, 14*Day); ok {
		t.Fatal("a user the selection does not manage gets no notice")
	}
}

func TestRotationDue(t *testing.T) {
	rules := DefaultRules()
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	k := inventory.AccessKey{Created: created}
	if got := rules.RotationDue(inventory.User{}, k); !got.Equal(created.Add(90 * Day)) {
		t.Fatalf("default: %v", got)
	}
	u := inventory.User{Tags: map[string]string{"keycycle:rotate-after-days": "30"}}
	if got := rules.RotationDue(u, k); !got.Equal(created.Add(30 * Day)) {
		t.Fatalf("override: %v", got)
	}
	rules.Named = []Rule{{Name: "ci", Match: Match{Users: []string{"ci-*"}}, Thresholds: Thresholds{RotateAfter: 60 * Day}}}
	if got := rules.RotationDue(inventory.User{Name: "ci-1"}, k); !got.Equal(created.Add(60 * Day)) {
		t.Fatalf("named rule: %v", got)
	}
}
