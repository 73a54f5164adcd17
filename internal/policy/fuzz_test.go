package policy

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/plan"
)

// FuzzUserTags evaluates a user whose tags keycycle reads (rotate-after and password overrides,
// exemption, its own state tags) hold arbitrary values. The user has one active key and a console
// password, both 5 days old and used yesterday. Whatever the tags say: no panic; the key or the
// password is rotated only when its override is a whole number of days within the allowed bounds
// (1..90) and at most 5, or a valid intent tag resumes an interrupted rotation; an exemption with no end date rotates nothing; and the only active key is
// never deactivated or deleted (no lockout, I2).
func FuzzUserTags(f *testing.F) {
	f.Add("3", "", "", "")
	f.Add("90", "2", "", "started=2026-11-21T09:30:15Z old=AKIAIOSFODNN7EXAMPLE")
	f.Add("abc", "0", "reason=legacy", "at=2026-11-01T00:00:00Z old=AKIAIOSFODNN7EXAMPLE new=AKIAI44QH8DHBEXAMPLE")
	f.Add("-1", "+4", "until=2020-01-01 reason=old", "at=2026-11-01T00:00:00Z key=AKIAIOSFODNN7EXAMPLE")
	f.Add("7", "", "", "at=2026-11-16T09:00:00Z old=AKIAI44QH8DHBEXAMPLE by=2026-11-16T09:15:00Z")
	f.Add("5 ", "05", "until=2099-01-01", "\x1b[2J")
	f.Add("281474976710657", "281474976710657", "", "") // 2^48+1 days once wrapped to 1 day
	f.Add("9223372036854775807", "1e3", "", "")
	f.Fuzz(func(t *testing.T, override, pwOverride, exempt, state string) {
		now := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
		rules := DefaultRules()
		tags := map[string]string{rules.Tags.RotateAfterDays: override, rules.Tags.PasswordRotateAfterDays: pwOverride,
			inventory.IntentTag(rules.Tags.StatePrefix): state, inventory.RotatedTag(rules.Tags.StatePrefix): state,
			inventory.DeactivatedTag(rules.Tags.StatePrefix): state, inventory.PasswordIntentTag(rules.Tags.StatePrefix): state,
			inventory.PasswordRotatedTag(rules.Tags.StatePrefix): state, inventory.ConsoleWarnedTag(rules.Tags.StatePrefix): state}
		if exempt != "" {
			tags[rules.Tags.Exempt] = exempt
		}
		// A bare date is an exemption until that day (ParseExemption): seeded as
		// testdata/fuzz/FuzzUserTags/a62dc756862f8af1, once taken for a bare reason by this test.
		created, used := now.Add(-5*Day), now.Add(-Day)
		u := inventory.User{Name: "fuzz", UserID: "AIDAFUZZ", Path: "/", Created: now.Add(-400 * Day), Tags: tags,
			Keys:      []inventory.AccessKey{{ID: "AKIAIOSFODNN7EXAMPLE", Status: inventory.StatusActive, Created: created, LastUsed: used, LastUsedKnown: true}},
			KeysKnown: true, MFA: true, MFAKnown: true, LoginKnown: true,
			Login: &inventory.LoginProfile{Created: created, PasswordChanged: created, LastUsed: used, LastUsedKnown: true}}
		p := Evaluate([]inventory.Account{{ID: "111111111111", Users: []inventory.User{u}}}, rules, now)
		allowed := func(v string) bool {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			return err == nil && n >= 1 && n <= 5
		}
		// A valid intent tag resumes an interrupted rotation, whatever its age.
		_, keyIntent := inventory.ParseRotationIntent(state)
		_, pwIntent := inventory.ParsePasswordIntent(state)
		// An exemption without an end: a bare reason, or until= left out (a bare date is an end).
		ex, exErr := ParseExemption(exempt)
		bareExemption := strings.TrimSpace(exempt) != "" && exErr == nil && ex.Until.IsZero()
		for _, st := range p.Steps {
			switch st.Action {
			case plan.Rotate:
				if bareExemption {
					t.Fatalf("exempt user (%q) rotated: %s", exempt, st.Reason)
				}
				if st.Credential == plan.Password && pwIntent != nil && !allowed(pwOverride) {
					t.Fatalf("5-day-old password rotated with override %q: %s", pwOverride, st.Reason)
				}
				if st.Credential != plan.Password && keyIntent != nil && !allowed(override) {
					t.Fatalf("5-day-old key rotated with override %q: %s", override, st.Reason)
				}
			case plan.Deactivate, plan.Delete:
				if st.Credential != plan.Password {
					t.Fatalf("the only active key is retired: %s %s", st.Action, st.Reason)
				}
			}
		}
	})
}
