package policy

import (
	"testing"
	"time"

	"github.com/keycycle/keycycle/internal/inventory"
)

func TestStandingOf(t *testing.T) {
	now := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	rules := DefaultRules()
	rules.Named = []Rule{{Name: "ci", Match: Match{Paths: []string{"/ci/"}}, Thresholds: DefaultThresholds()}}
	rules.Named[0].RotateAfter = 30 * Day
	for _, tc := range []struct {
		name string
		u    inventory.User
		want Standing
	}{
		{"default rule, managed", inventory.User{Name: "a", Path: "/"},
			Standing{Rule: "default", Thresholds: rules.Default, Managed: true}},
		{"named rule with an accepted override", inventory.User{Name: "b", Path: "/ci/", Tags: map[string]string{"keycycle:rotate-after-days": "20"}},
			Standing{Rule: "ci", Thresholds: func() Thresholds { th := rules.Named[0].Thresholds; th.RotateAfter = 20 * Day; return th }(), Managed: true}},
		{"exemption group", inventory.User{Name: "c", Groups: []string{"IAMKeyRotationExemptionGroup"}},
			Standing{Rule: "default", Thresholds: rules.Default, Managed: true, Exempt: true, ExemptReason: "member of group IAMKeyRotationExemptionGroup"}},
		{"exemption until", inventory.User{Name: "d", Tags: map[string]string{"keycycle:exempt": "until=2026-12-01 reason=vendor"}},
			Standing{Rule: "default", Thresholds: rules.Default, Managed: true, Exempt: true, ExemptReason: "vendor", ExemptUntil: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}},
		{"exemption expired", inventory.User{Name: "e", Tags: map[string]string{"keycycle:exempt": "until=2026-11-01"}},
			Standing{Rule: "default", Thresholds: rules.Default, Managed: true, ExemptionExpired: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := StandingOf(tc.u, rules, now); got != tc.want {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
	opt := rules
	opt.Selection.Mode = OptIn
	if got := StandingOf(inventory.User{Name: "f"}, opt, now); got.Managed || got.NotManaged != "opt-in mode and no tag owner" {
		t.Fatalf("opt-in: %+v", got)
	}
}
