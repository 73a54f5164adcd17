package policy

import (
	"fmt"
	"time"

	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/plan"
)

// Console passwords (login profiles) follow the shape of access keys with the differences IAM
// imposes: a user has at most one password, it cannot be deactivated, and a new one replaces the
// old one at once. So:
//   - an unused login profile (no sign-in for console_unused_after) is first warned about: the
//     first warn step (StartsWarning) records the warning on the user when applied, and once
//     console_disable_warning has passed since, with the password still unused, the login profile
//     is deleted (a destructive step, under the blast-radius cap). An unused password is never
//     rotated: nobody would read the new one;
//   - a password older than password_rotate_after (since its last change) is rotated;
//   - a user with console access and no MFA device is flagged (FlagMissingMFA).

// passwordState is keycycle's own password records on the user.
type passwordState struct {
	intent  *inventory.PasswordIntent
	rotated *inventory.Mark
	warned  *inventory.Mark
}

func (e *userEval) readPasswordState() passwordState {
	var st passwordState
	p := e.rules.Tags.StatePrefix
	if v, ok := e.u.Tags[inventory.PasswordIntentTag(p)]; ok {
		if r, err := inventory.ParsePasswordIntent(v); err != nil {
			e.addPassword(plan.Warn, false, "tag %s unreadable (%v): ignored", inventory.PasswordIntentTag(p), err)
		} else {
			st.intent = &r
		}
	}
	for _, t := range []struct {
		tag string
		dst **inventory.Mark
	}{{inventory.PasswordRotatedTag(p), &st.rotated}, {inventory.ConsoleWarnedTag(p), &st.warned}} {
		v, ok := e.u.Tags[t.tag]
		if !ok {
			continue
		}
		m, err := inventory.ParseMark(v)
		if err != nil {
			e.addPassword(plan.Warn, false, "tag %s unreadable (%v): ignored", t.tag, err)
			continue
		}
		*t.dst = &m
	}
	return st
}

// evaluatePassword decides about the user's console password: the MFA flag, unused console
// access (which wins over rotation), then rotation. Unknown ages and last uses change nothing.
func (e *userEval) evaluatePassword() {
	u := e.u
	if !u.LoginKnown {
		if u.LoginUnknown != "" {
			e.addPassword(plan.Skip, false, "console password unknown (%s): no action", u.LoginUnknown)
		}
		return
	}
	l := u.Login
	if l == nil {
		return
	}
	th, src, warn := e.rules.passwordOverride(u, e.th)
	if warn != "" {
		e.addPassword(plan.Warn, false, "%s", warn)
	}
	st := e.readPasswordState()
	if in := st.intent; in != nil && in.Live(e.now, "") && (st.rotated == nil || !in.Started.Before(st.rotated.At)) {
		owner := "an earlier keycycle run"
		if in.Run != "" {
			owner = "run " + in.Run
		}
		e.addPassword(plan.Skip, false, "password rotation in progress: %s holds the lease until %s; left to it", owner, fmtTime(in.End(in.Started)))
		return
	}
	if e.rules.FlagMissingMFA && u.MFAKnown && !u.MFA {
		e.addPassword(plan.Warn, false, "console access without an MFA device: assign one to user %s, or remove its console password", u.Name)
	}

	// Unused console access: warn, then delete the login profile.
	if th.ConsoleUnusedAfter > 0 {
		since := l.Since()
		switch {
		case !l.LastUsedKnown || since.IsZero():
			e.addPassword(plan.Skip, false, "last use of the console password unknown: not judging whether console access is unused")
		case e.now.Sub(since) >= th.ConsoleUnusedAfter:
			e.unusedConsole(*l, since, st, th)
			return
		}
	}

	if th.PasswordRotateAfter <= 0 {
		return
	}
	if in := st.intent; in != nil && (st.rotated == nil || !in.Started.Before(st.rotated.At)) { // same second: an intent left after a completion is still pending
		e.addPassword(plan.Rotate, false, "resume the password rotation started %s: it never recorded completion; a new password is set",
			fmtTime(in.Started))
		return
	}
	changed, how := l.PasswordChanged, "changed"
	if st.rotated != nil && st.rotated.At.After(changed) {
		// The credential report lags a rotation by up to 4 hours; keycycle's record does not.
		changed, how = st.rotated.At, "rotated by keycycle"
	}
	if changed.IsZero() {
		changed, how = l.Created, "set when the login profile was created"
	}
	if changed.IsZero() {
		e.addPassword(plan.Skip, false, "age of the console password unknown: not rotating it")
		return
	}
	if age := e.now.Sub(changed); age >= th.PasswordRotateAfter {
		e.addPassword(plan.Rotate, false, "password age %s (%s %s) >= password_rotate_after %s%s",
			fmtAge(age), how, fmtDate(changed), FormatDuration(th.PasswordRotateAfter), src)
	}
}

// unusedConsole decides about a login profile whose password has been unused since since, for at
// least console_unused_after.
func (e *userEval) unusedConsole(l inventory.LoginProfile, since time.Time, st passwordState, th Thresholds) {
	unused := fmt.Sprintf("console password %s %s (%s) >= console_unused_after %s",
		passwordUse(l), fmtAge(e.now.Sub(since)), fmtDate(since), FormatDuration(th.ConsoleUnusedAfter))
	w := st.warned
	// A warning recorded before the last use belongs to an earlier idle spell: it does not count.
	if w == nil || w.At.Before(since) {
		e.addPassword(plan.Warn, true, "%s: console access (the login profile) is removed %s after this warning is recorded, unless the password is used",
			unused, FormatDuration(th.ConsoleDisableWarning))
		return
	}
	end := w.At.Add(th.ConsoleDisableWarning)
	if e.now.Before(end) {
		e.addPassword(plan.Warn, false, "%s: console access (the login profile) is removed after %s (warned %s, console_disable_warning %s), unless the password is used",
			unused, fmtTime(end), fmtDate(w.At), FormatDuration(th.ConsoleDisableWarning))
		return
	}
	e.addPassword(plan.Delete, false, "%s, warned %s, console_disable_warning %s passed: console access removed (login profile deleted)",
		unused, fmtDate(w.At), FormatDuration(th.ConsoleDisableWarning))
}

// passwordUse says how the idle time of a password is counted: "unused for" since its last use,
// or "never used, for" since the login profile was created.
func passwordUse(l inventory.LoginProfile) string {
	if l.LastUsed.IsZero() {
		return "never used, idle"
	}
	return "unused for"
}

// passwordNotSelected adds the skip line of a user the selection does not manage when its
// console password is overdue.
func (e *userEval) passwordNotSelected(why string) {
	u := e.u
	if !u.LoginKnown || u.Login == nil || e.th.PasswordRotateAfter <= 0 {
		return
	}
	changed := u.Login.PasswordChanged
	if changed.IsZero() {
		changed = u.Login.Created
	}
	if !changed.IsZero() && e.now.Sub(changed) >= e.th.PasswordRotateAfter {
		e.addPassword(plan.Skip, false, "not selected (%s): password age %s >= password_rotate_after %s",
			why, fmtAge(e.now.Sub(changed)), FormatDuration(e.th.PasswordRotateAfter))
	}
}

// skipPassword adds a skip step for the user's console password, if it has one.
func (e *userEval) skipPassword(format string, args ...any) {
	if e.u.LoginKnown && e.u.Login != nil {
		e.addPassword(plan.Skip, false, format, args...)
	}
}

func (e *userEval) addPassword(a plan.Action, startsWarning bool, format string, args ...any) {
	s := e.base
	s.Credential = plan.Password
	s.Action = a
	s.AccessKeyID = ""
	s.Precondition = plan.LoginPreconditionOf(*e.u)
	if m, err := inventory.ParseMark(e.u.Tags[inventory.PasswordRotatedTag(e.rules.Tags.StatePrefix)]); err == nil {
		s.Precondition.Login.Rotated = m.At
	}
	s.StartsWarning = startsWarning
	s.Reason = fmt.Sprintf(format, args...) + " (rule '" + s.Rule + "')"
	e.out = append(e.out, draft{Step: s})
}

// passwordOverride applies the per-user password_rotate_after tag, within Overrides, when the
// rule rotates passwords at all. It returns the thresholds, the words saying where the value came
// from, and a warning when the tag was ignored.
func (r *Rules) passwordOverride(u *inventory.User, th Thresholds) (Thresholds, string, string) {
	if th.PasswordRotateAfter <= 0 {
		return th, "", ""
	}
	d, from, warn := r.dayOverride(u, r.Tags.PasswordRotateAfterDays, "password_rotate_after", th.PasswordRotateAfter)
	th.PasswordRotateAfter = d
	return th, from, warn
}
