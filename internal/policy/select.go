package policy

import (
	"errors"
	"fmt"
	"math"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/plan"
)

// Matches reports whether u satisfies every criterion m sets.
func (m Match) Matches(u *inventory.User) bool {
	if len(m.Users) > 0 && !anyOf(m.Users, func(g string) bool { ok, _ := path.Match(g, u.Name); return ok }) {
		return false
	}
	if len(m.Paths) > 0 && !anyOf(m.Paths, func(p string) bool { return strings.HasPrefix(u.Path, p) }) {
		return false
	}
	if len(m.Groups) > 0 && !anyOf(m.Groups, u.InGroup) {
		return false
	}
	for k, glob := range m.Tags {
		v, ok := u.Tags[k]
		if !ok {
			return false
		}
		if glob == "*" {
			continue
		}
		if ok, _ := path.Match(glob, v); !ok {
			return false
		}
	}
	return true
}

func anyOf(xs []string, f func(string) bool) bool {
	for _, x := range xs {
		if f(x) {
			return true
		}
	}
	return false
}

// selected reports whether the selection manages u, and when not, why.
func (r *Rules) selected(u *inventory.User) (bool, string) {
	s := r.Selection
	if s.Mode == OptIn {
		if strings.TrimSpace(u.Tags[r.Tags.Owner]) == "" {
			return false, fmt.Sprintf("opt-in mode and no tag %s", r.Tags.Owner)
		}
	}
	if len(s.Include) > 0 {
		in := false
		for _, m := range s.Include {
			if m.Matches(u) {
				in = true
				break
			}
		}
		if !in {
			return false, "matches no selection.include entry"
		}
	}
	for i, m := range s.Exclude {
		if m.Matches(u) {
			return false, fmt.Sprintf("excluded by selection.exclude[%d]", i)
		}
	}
	return true, ""
}

// ruleFor returns the first named rule matching u, or the default thresholds.
func (r *Rules) ruleFor(u *inventory.User) (string, Thresholds) {
	for _, nr := range r.Named {
		if nr.Match.Matches(u) {
			return nr.Name, nr.Thresholds
		}
	}
	return DefaultRuleName, r.Default
}

// Exemption is a parsed exemption tag value.
type Exemption struct {
	Until  time.Time // zero: no expiry
	Reason string
}

// ParseExemption reads an exemption tag value. Accepted forms (IAM tag values allow letters,
// digits, spaces and _ . : / = + - @):
//
//	until=2027-01-31 reason=vendor appliance OPS-123   expires at 00:00 UTC on that date
//	reason=break-glass account                          never expires
//	until=2027-01-31                                    expires, no reason
//	2027-01-31                                          the same
//	anything else, also "" or "true"                    never expires; the value is the reason
//
// until may also be an RFC 3339 time.
func ParseExemption(v string) (Exemption, error) {
	v = strings.TrimSpace(v)
	if t, err := parseDate(v); err == nil {
		return Exemption{Until: t}, nil
	}
	if !strings.HasPrefix(v, "until=") && !strings.HasPrefix(v, "reason=") {
		if strings.EqualFold(v, "true") {
			v = ""
		}
		return Exemption{Reason: v}, nil
	}
	var e Exemption
	head := v
	if i := strings.Index(v, "reason="); i >= 0 {
		e.Reason = strings.TrimSpace(v[i+len("reason="):])
		head = v[:i]
	}
	for _, tok := range strings.Fields(head) {
		d, ok := strings.CutPrefix(tok, "until=")
		if !ok {
			return Exemption{}, fmt.Errorf("unexpected %q: want until=<YYYY-MM-DD> reason=<text>", tok)
		}
		if !e.Until.IsZero() {
			return Exemption{}, errors.New("until given twice")
		}
		t, err := parseDate(d)
		if err != nil {
			return Exemption{}, fmt.Errorf("until=%s is not a date (YYYY-MM-DD)", d)
		}
		e.Until = t
	}
	return e, nil
}

func parseDate(s string) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	return t.UTC(), err
}

// override applies the per-user rotate_after tag. It returns the thresholds, the words saying
// where rotate_after came from (empty for the rule) and a warning when the tag was ignored.
func (r *Rules) override(u *inventory.User, th Thresholds) (Thresholds, string, string) {
	d, from, warn := r.dayOverride(u, r.Tags.RotateAfterDays, "rotate_after", th.RotateAfter)
	th.RotateAfter = d
	return th, from, warn
}

// dayOverride reads a per-user override of field (current value cur) from the tag name, in whole
// days within the bounds of Overrides. It returns the value to use, the words saying where it
// came from (empty: the rule) and a warning when the tag was there but ignored.
func (r *Rules) dayOverride(u *inventory.User, name, field string, cur time.Duration) (time.Duration, string, string) {
	if name == "" || r.Overrides.Max <= 0 {
		return cur, "", ""
	}
	v, ok := u.Tags[name]
	if !ok {
		return cur, "", ""
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	var ne *strconv.NumError
	if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) && !strings.HasPrefix(strings.TrimSpace(v), "-") {
		n, err = math.MaxInt64, nil // far above any bound: refused below, never wrapped around
	}
	if err != nil || n <= 0 {
		return cur, "", fmt.Sprintf("tag %s=%q on user %s is not a whole number of days: ignored, %s stays %s",
			name, v, u.Name, field, FormatDuration(cur))
	}
	// Compared in days: n days as a time.Duration overflows past about 106,751 days (2^63 ns),
	// and a wrapped value could fall inside the bounds (2^48+1 days became 1 day).
	if n < int64(r.Overrides.Min/Day) || (r.Overrides.Min%Day != 0 && n == int64(r.Overrides.Min/Day)) || n > int64(r.Overrides.Max/Day) {
		return cur, "", fmt.Sprintf("tag %s=%q on user %s is outside the allowed %s to %s: ignored, %s stays %s",
			name, v, u.Name, FormatDuration(r.Overrides.Min), FormatDuration(r.Overrides.Max), field, FormatDuration(cur))
	}
	return time.Duration(n) * Day, " from tag " + name, ""
}

// UsesGroups reports whether deciding about a user needs its group memberships: a selection,
// exclusion or rule by group, or an exemption group.
func (r Rules) UsesGroups() bool {
	if r.Selection.ExemptionGroup != "" {
		return true
	}
	for _, ms := range [][]Match{r.Selection.Include, r.Selection.Exclude} {
		for _, m := range ms {
			if len(m.Groups) > 0 {
				return true
			}
		}
	}
	for _, n := range r.Named {
		if len(n.Match.Groups) > 0 {
			return true
		}
	}
	return false
}

// EvaluateUser is what the current policy plans now for one user of account accountID: the
// executor re-evaluates every step of a saved plan or queue message with it, on a fresh read.
func EvaluateUser(accountID string, u inventory.User, rules Rules, now time.Time) []plan.Step {
	return Evaluate([]inventory.Account{{ID: accountID, Users: []inventory.User{u}}}, rules, now).Steps
}
