package policy

import (
	"fmt"
	"time"

	"github.com/keycycle/keycycle/internal/inventory"
)

// RotationDue returns when key k of user u is due for rotation: its creation plus the rotate_after
// of the rule that applies to u, after the per-user override tag when it is accepted.
func (r *Rules) RotationDue(u inventory.User, k inventory.AccessKey) time.Time {
	_, th := r.ruleFor(&u)
	th, _, _ = r.override(&u, th)
	return k.Created.Add(th.RotateAfter)
}

// ExemptionNotice reports whether u's exemption tag expires within the given lead time after now,
// with the exemption and a reason in words. Only users the selection manages and who are not in
// the exemption group (whose exemption never expires) get a notice; an exemption without an
// expiry, an unreadable one or one already expired (the plan warns about that) gets none.
func ExemptionNotice(u inventory.User, rules Rules, now time.Time, within time.Duration) (Exemption, string, bool) {
	tag := rules.Tags.Exempt
	v, ok := u.Tags[tag]
	if tag == "" || !ok || within <= 0 {
		return Exemption{}, "", false
	}
	if sel, _ := rules.selected(&u); !sel {
		return Exemption{}, "", false
	}
	if g := rules.Selection.ExemptionGroup; g != "" && u.InGroup(g) {
		return Exemption{}, "", false
	}
	ex, err := ParseExemption(v)
	if err != nil || ex.Until.IsZero() || !now.Before(ex.Until) || ex.Until.Sub(now) > within {
		return Exemption{}, "", false
	}
	why := fmt.Sprintf("exemption (tag %s) expires %s, within %s: %s", tag, fmtDate(ex.Until), FormatDuration(within),
		orDefault(ex.Reason, "no reason given"))
	return ex, why, true
}

// ConsoleRemoval reports whether u's console access is unused long enough to be removed under
// the rules at now (console_unused_after, with a known last use), and when it is removed: the
// recorded start of the warning period (or now, when none is recorded yet for this idle spell)
// plus console_disable_warning of u's rule.
func ConsoleRemoval(u inventory.User, rules Rules, now time.Time) (time.Time, bool) {
	l := u.Login
	if !u.LoginKnown || l == nil || !l.LastUsedKnown {
		return time.Time{}, false
	}
	_, th := rules.ruleFor(&u)
	since := l.Since()
	if th.ConsoleUnusedAfter <= 0 || since.IsZero() || now.Sub(since) < th.ConsoleUnusedAfter {
		return time.Time{}, false
	}
	start := now
	if m, err := inventory.ParseMark(u.Tags[inventory.ConsoleWarnedTag(rules.Tags.StatePrefix)]); err == nil && !m.At.Before(since) {
		start = m.At
	}
	return start.Add(th.ConsoleDisableWarning), true
}
