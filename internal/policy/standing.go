package policy

import (
	"time"

	"github.com/keycycle/keycycle/internal/inventory"
)

// Standing is how the rules see a user, whatever is due: the rule that applies and its
// thresholds (after the user's accepted override tags), whether the selection manages the user,
// and the user's exemption. Reports read it; Evaluate decides on the same functions.
type Standing struct {
	Rule       string
	Thresholds Thresholds
	// Managed: the selection manages the user; NotManaged says why not.
	Managed    bool
	NotManaged string
	// Exempt: the user is exempt at the given time (exemption group, or an exemption tag that
	// has not expired); ExemptReason says by what, ExemptUntil when it ends (zero: never).
	Exempt       bool
	ExemptReason string
	ExemptUntil  time.Time
	// ExemptionExpired is when an exemption tag expired (zero: none expired).
	ExemptionExpired time.Time
}

// StandingOf returns how rules see u at now.
func StandingOf(u inventory.User, rules Rules, now time.Time) Standing {
	var s Standing
	s.Rule, s.Thresholds = rules.ruleFor(&u)
	s.Thresholds, _, _ = rules.override(&u, s.Thresholds)
	s.Thresholds, _, _ = rules.passwordOverride(&u, s.Thresholds)
	s.Managed, s.NotManaged = rules.selected(&u)
	if !s.Managed {
		return s
	}
	if g := rules.Selection.ExemptionGroup; g != "" && u.InGroup(g) {
		s.Exempt, s.ExemptReason = true, "member of group "+g
		return s
	}
	tag := rules.Tags.Exempt
	v, ok := u.Tags[tag]
	if tag == "" || !ok {
		return s
	}
	ex, err := ParseExemption(v)
	switch {
	case err != nil:
	case ex.Until.IsZero() || now.Before(ex.Until):
		s.Exempt, s.ExemptReason, s.ExemptUntil = true, orDefault(ex.Reason, "tag "+tag), ex.Until
	default:
		s.ExemptionExpired = ex.Until
	}
	return s
}
