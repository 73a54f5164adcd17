package policy

import (
	"errors"
	"fmt"
	"path"
)

// Validate checks rules built in code (config.Parse checks a file with line numbers and calls it
// as a backstop). It returns every problem, joined.
func (r Rules) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	check := func(name string, th Thresholds) {
		for field, d := range map[string]int64{
			"rotate_after": int64(th.RotateAfter), "warn_before": int64(th.WarnBefore),
			"deactivate_after": int64(th.DeactivateAfter), "delete_after": int64(th.DeleteAfter),
			"guard_window": int64(th.GuardWindow), "hard_limit": int64(th.HardLimit),
			"password_rotate_after": int64(th.PasswordRotateAfter), "console_unused_after": int64(th.ConsoleUnusedAfter),
			"console_disable_warning": int64(th.ConsoleDisableWarning),
		} {
			if d < 0 {
				bad("rule %q: %s must not be negative", name, field)
			}
		}
		if th.RotateAfter <= 0 {
			bad("rule %q: rotate_after must be more than 0", name)
		}
		if th.WarnBefore >= th.RotateAfter && th.RotateAfter > 0 {
			bad("rule %q: warn_before %s must be less than rotate_after %s", name, FormatDuration(th.WarnBefore), FormatDuration(th.RotateAfter))
		}
		if th.DeleteAfter <= 0 {
			bad("rule %q: delete_after must be more than 0", name)
		}
		if th.HardLimit > 0 && th.HardLimit <= th.RotateAfter {
			bad("rule %q: hard_limit %s must be more than rotate_after %s", name, FormatDuration(th.HardLimit), FormatDuration(th.RotateAfter))
		}
		if th.ConsoleUnusedAfter > 0 && th.ConsoleDisableWarning <= 0 {
			bad("rule %q: console_disable_warning must be more than 0: console access is removed only after a warning period", name)
		}
		if th.HardLimit > 0 && r.Overrides.Max >= th.HardLimit {
			bad("rule %q: overrides max %s must be less than hard_limit %s", name, FormatDuration(r.Overrides.Max), FormatDuration(th.HardLimit))
		}
	}
	check(DefaultRuleName, r.Default)
	seen := map[string]bool{DefaultRuleName: true}
	for i, nr := range r.Named {
		if nr.Name == "" || seen[nr.Name] {
			bad("rules[%d]: name %q empty or used twice", i, nr.Name)
		}
		seen[nr.Name] = true
		if nr.Match.Empty() {
			bad("rule %q: empty match", nr.Name)
		}
		check(nr.Name, nr.Thresholds)
	}
	var matches []Match
	matches = append(matches, r.Selection.Include...)
	matches = append(matches, r.Selection.Exclude...)
	for _, nr := range r.Named {
		matches = append(matches, nr.Match)
	}
	for _, m := range matches {
		for _, g := range m.Users {
			if _, err := path.Match(g, ""); err != nil {
				bad("invalid glob %q", g)
			}
		}
		for _, g := range m.Tags {
			if _, err := path.Match(g, ""); err != nil {
				bad("invalid glob %q", g)
			}
		}
	}
	switch r.Selection.Mode {
	case "", OptOut:
	case OptIn:
		if r.Tags.Owner == "" {
			bad("opt-in mode needs an owner tag name")
		}
	default:
		bad("unknown selection mode %q", r.Selection.Mode)
	}
	switch r.TwoActiveKeys.Mode {
	case "", TwoKeysBlock:
	case TwoKeysDeactivateUnused:
		if r.TwoActiveKeys.UnusedFor <= 0 {
			bad("two_active_keys: unused_for must be more than 0")
		}
	default:
		bad("unknown two_active_keys mode %q", r.TwoActiveKeys.Mode)
	}
	if r.Overrides.Max > 0 && (r.Overrides.Min <= 0 || r.Overrides.Min > r.Overrides.Max) {
		bad("overrides: want 0 < min <= max, got %s and %s", FormatDuration(r.Overrides.Min), FormatDuration(r.Overrides.Max))
	}
	if r.MaxDestructive < -1 {
		bad("max_destructive must be -1 or more")
	}
	if r.Tags.StatePrefix == "" {
		bad("the state tag prefix must not be empty")
	}
	return errors.Join(errs...)
}
