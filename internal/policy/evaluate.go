package policy

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/plan"
)

// Evaluate decides what to do with every access key and console password of every user in
// accounts at time now.
// The plan is deterministic: the same inputs give the same plan, steps sorted (plan.Sort).
// Destructive steps past Rules.MaxDestructive, in plan order, become skips, and so does a
// rotation that needed one of them to make room.
func Evaluate(accounts []inventory.Account, rules Rules, now time.Time) plan.Plan {
	now = now.UTC()
	var drafts []draft
	for _, a := range accounts {
		for _, u := range a.Users {
			drafts = append(drafts, evaluateUser(a.ID, u, &rules, now)...)
		}
	}
	sortDrafts(drafts)
	applyCap(drafts, rules.MaxDestructive)
	steps := make([]plan.Step, len(drafts))
	for i := range drafts {
		steps[i] = drafts[i].Step
	}
	return plan.New(now, steps)
}

// Triage says, from what the credential report gives (key count, status, ages, last-use dates;
// key ids may be empty), whether the scan must read this user's keys in full (ListAccessKeys,
// GetAccessKeyLastUsed) before Evaluate. It errs towards true: for users with unknown keys, with
// keycycle state tags, and for any user Evaluate would give a step other than skip. A key whose
// creation time the report does not give (zero Created) looks very old, which again means true.
// The report can be 4 hours stale, so a key that became due within that time waits a run.
func Triage(u inventory.User, rules Rules, now time.Time) bool {
	if !u.KeysKnown {
		return true
	}
	p := rules.Tags.StatePrefix
	// Password state tags need no fresh read: the policy reads them as they are, and a user they
	// concern gets a step other than skip below.
	for _, k := range []string{inventory.IntentTag(p), inventory.RotatedTag(p), inventory.DeactivatedTag(p)} {
		if _, ok := u.Tags[k]; ok {
			return true
		}
	}
	for _, d := range evaluateUser("", u, &rules, now.UTC()) {
		if d.Action != plan.Skip {
			return true
		}
	}
	return false
}

// draft is a step under construction; needs names a key whose deletion (planned in the same run)
// the step depends on.
type draft struct {
	plan.Step
	needs inventory.KeyID
}

func sortDrafts(ds []draft) {
	sort.SliceStable(ds, func(i, j int) bool { return plan.Less(ds[i].Step, ds[j].Step) })
}

// applyCap turns destructive steps past the cap into skips, in plan order, and with them the
// rotations that depended on a deferred delete.
func applyCap(ds []draft, limit int) {
	if limit < 0 {
		return
	}
	type key struct {
		acct, user string
		id         inventory.KeyID
	}
	deferred := map[key]bool{}
	used := 0
	for i := range ds {
		d := &ds[i]
		switch {
		case d.Action.Destructive():
			if used < limit {
				used++
				continue
			}
			deferred[key{d.AccountID, d.UserID + "/" + d.User, d.AccessKeyID}] = true
			d.Reason = fmt.Sprintf("blast-radius cap %d reached; deferred %s: %s", limit, d.Action, d.Reason)
			d.Action, d.Code = plan.Skip, plan.CodeCapReached
		case d.Action == plan.Rotate && d.needs != "" && deferred[key{d.AccountID, d.UserID + "/" + d.User, d.needs}]:
			d.Reason = fmt.Sprintf("blast-radius cap %d reached; deferred rotate, it needs key %s deleted first: %s",
				limit, d.needs, d.Reason)
			d.Action, d.Code = plan.Skip, plan.CodeCapReached
		}
	}
}

// userEval holds what one user's evaluation needs.
type userEval struct {
	rules   *Rules
	now     time.Time
	u       *inventory.User
	base    plan.Step
	th      Thresholds
	raSrc   string // where rotate_after came from, " from tag ..." or ""
	out     []draft
	handled map[inventory.KeyID]bool
	deletes map[inventory.KeyID]bool // deletes planned in this run
}

func evaluateUser(acct string, in inventory.User, rules *Rules, now time.Time) []draft {
	u := in
	u.Keys = append([]inventory.AccessKey(nil), in.Keys...)
	inventory.SortKeys(u.Keys)
	nameReportKeys(&u, rules.Tags.StatePrefix)
	e := &userEval{
		rules:   rules,
		now:     now,
		u:       &u,
		handled: map[inventory.KeyID]bool{},
		deletes: map[inventory.KeyID]bool{},
	}
	ruleName, th := rules.ruleFor(&u)
	e.th = th
	e.base = plan.Step{
		AccountID:    acct,
		User:         u.Name,
		UserID:       u.UserID,
		Credential:   plan.AccessKey,
		Rule:         ruleName,
		Precondition: plan.PreconditionOf(u),
	}

	if ok, why := rules.selected(&u); !ok {
		// Not managed. Only an overdue active key or password is worth a line in the plan.
		for i, k := range u.Keys {
			if k.Active() && e.age(k) >= th.RotateAfter {
				e.add(plan.CodeNotSelected, plan.Skip, k.ID, "not selected (%s): %s age %s >= rotate_after %s",
					why, e.keyName(i), fmtAge(e.age(k)), FormatDuration(th.RotateAfter))
			}
		}
		e.passwordNotSelected(why)
		return e.out
	}
	if g := rules.Selection.ExemptionGroup; g != "" && u.InGroup(g) {
		e.skipAll(plan.CodeExempt, "exempt: member of group %s", g)
		return e.out
	}
	if tag := rules.Tags.Exempt; tag != "" {
		if v, ok := u.Tags[tag]; ok {
			ex, err := ParseExemption(v)
			switch {
			case err != nil:
				e.add(plan.CodeExemptionUnreadable, plan.Warn, "", "exemption tag %s unreadable (%v): not exempt", tag, err)
			case ex.Until.IsZero():
				e.skipAll(plan.CodeExempt, "exempt: %s", orDefault(ex.Reason, "tag "+tag))
				return e.out
			case now.Before(ex.Until):
				e.skipAll(plan.CodeExempt, "exempt until %s: %s", fmtDate(ex.Until), orDefault(ex.Reason, "tag "+tag))
				return e.out
			default:
				e.add(plan.CodeExemptionExpired, plan.Warn, "", "exemption expired %s: %s; the user is managed again (remove or renew tag %s)",
					fmtDate(ex.Until), orDefault(ex.Reason, "no reason given"), tag)
			}
		}
	}
	e.evaluatePassword()
	if !u.KeysKnown {
		e.add(plan.CodeKeysUnknown, plan.Skip, "", plan.ReasonKeysUnknown+" (%s): no action", orDefault(u.Unknown, "not read"))
		return e.out
	}
	var warn string
	e.th, e.raSrc, warn = rules.override(&u, th)
	if warn != "" {
		e.add(plan.CodeOverrideIgnored, plan.Warn, "", "%s", warn)
	}
	e.evaluateKeys()
	return e.out
}

// state is keycycle's own record on the user.
type state struct {
	intent      *inventory.RotationIntent
	rotated     *inventory.RotationRecord
	deactivated map[inventory.KeyID]time.Time // keys keycycle deactivated, and when
}

func (e *userEval) readState() state {
	st := state{deactivated: map[inventory.KeyID]time.Time{}}
	p := e.rules.Tags.StatePrefix
	if v, ok := e.u.Tags[inventory.IntentTag(p)]; ok {
		if r, err := inventory.ParseRotationIntent(v); err != nil {
			e.add(plan.CodeTagUnreadable, plan.Warn, "", "tag %s unreadable (%v): ignored", inventory.IntentTag(p), err)
		} else {
			st.intent = &r
		}
	}
	if v, ok := e.u.Tags[inventory.RotatedTag(p)]; ok {
		if r, err := inventory.ParseRotationRecord(v); err != nil {
			e.add(plan.CodeTagUnreadable, plan.Warn, "", "tag %s unreadable (%v): ignored", inventory.RotatedTag(p), err)
		} else {
			st.rotated = &r
			if !r.Deactivated.IsZero() {
				st.deactivated[r.Old] = r.Deactivated
			}
		}
	}
	if v, ok := e.u.Tags[inventory.DeactivatedTag(p)]; ok {
		if r, err := inventory.ParseDeactivationRecord(v); err != nil {
			e.add(plan.CodeTagUnreadable, plan.Warn, "", "tag %s unreadable (%v): ignored", inventory.DeactivatedTag(p), err)
		} else if t, seen := st.deactivated[r.Key]; !seen || r.At.After(t) {
			st.deactivated[r.Key] = r.At
		}
	}
	return st
}

func (e *userEval) evaluateKeys() {
	st := e.readState()
	th := e.th

	// An interrupted rotation is resumed first: the executor's recovery deals with a key created
	// after the intent (an orphan) before anything else, so no other rule applies to this user.
	if in := st.intent; in != nil && (st.rotated == nil || !in.Started.Before(st.rotated.At)) { // same second: still pending
		if in.Live(e.now, "") {
			// Another run holds the lease: it is working on this user now.
			owner := "an earlier keycycle run"
			if in.Run != "" {
				owner = "run " + in.Run
			}
			e.skipKeys(plan.CodeLeaseHeld, "rotation of key %s in progress: %s holds the lease until %s; left to it", in.Old, owner, fmtTime(in.End(in.Started)))
			return
		}
		if old := e.u.Key(in.Old); old != nil && old.Active() {
			e.add(plan.CodeResumeRotation, plan.Rotate, old.ID, "resume the rotation of key %s started %s: it never recorded completion",
				old.ID, fmtTime(in.Started))
			return
		}
		e.add(plan.CodeStaleIntent, plan.Warn, "", "stale rotation intent for key %s started %s: the key is no longer active; the executor clears it",
			in.Old, fmtTime(in.Started))
	}

	// A key that no record explains, in a rotation's place: its intent was lost (see
	// inventory.OrphanKey). The rotation of the other key is resumed; the executor deletes the
	// orphan when no sink holds it (its secret is lost), or completes its delivery when one does.
	if st.intent == nil && len(e.u.Keys) == 2 {
		for _, k := range e.u.Keys {
			if k.Active() && e.age(k) >= th.RotateAfter {
				if o := inventory.OrphanKey(e.u.Keys, k.ID, st.rotated, e.now); o != nil {
					e.add(plan.CodeOrphanKey, plan.Rotate, k.ID, "resume the rotation of key %s: key %s (created %s, never used) is newer than any completion record and has no intent: the orphan of an interrupted rotation, deleted unless a sink holds it",
						k.ID, o.ID, fmtTime(o.Created))
					return
				}
			}
		}
	}

	// After a rotation: retire the old key. A record written at the start of a rotation (no new
	// key named) whose lease created no key records no completed rotation: it was rolled back.
	if rec := st.rotated; rec != nil && (!rec.Started() || rec.NewKeyIn(e.u.Keys) != nil) {
		old, nw := e.u.Key(rec.Old), rec.NewKeyIn(e.u.Keys)
		if old != nil && old.Active() {
			// keycycle's deactivation of old in this rotation's retirement: the deactivation record
			// (keycycle:deactivated), or in records of earlier versions the rotation record's
			// deactivated=, whichever is later; one from before the rotation started is not it.
			deactivated, wasDeactivated := st.deactivated[old.ID]
			wasDeactivated = wasDeactivated && !deactivated.Before(rec.At)
			switch {
			case nw == nil || !nw.Active():
				newID := rec.New
				if nw != nil {
					newID = nw.ID
				}
				e.add(plan.CodeNewKeyInactive, plan.Warn, old.ID, "rotation on %s replaced key %s by %s, which is not active: key %s stays active",
					fmtDate(rec.At), old.ID, newID, old.ID)
			case wasDeactivated && (!old.LastUsedKnown || old.LastUsed.After(deactivated)):
				// Someone reactivated the key keycycle had deactivated: it was needed. (A record
				// of a key active and unused since is a deactivation that did not happen: the
				// executor records before it deactivates. It is retired as if unrecorded, and
				// its deactivation writes a new time: the record never shortens a grace.)
				e.handled[old.ID] = true
				if !e.hardLimit(*old, *nw) {
					e.add(plan.CodeOldKeyReactivated, plan.Warn, old.ID, "key %s was reactivated after keycycle deactivated it on %s: not deactivating it again; retire it by hand",
						old.ID, fmtDate(deactivated))
				}
			default:
				e.handled[old.ID] = true
				e.retire(*old, *nw, *rec)
			}
		}
	}

	// Inactive keys keycycle deactivated: delete after the grace.
	for _, k := range e.u.Keys {
		t, ok := st.deactivated[k.ID]
		if !ok || k.Active() || e.handled[k.ID] {
			continue
		}
		e.handled[k.ID] = true
		switch {
		case !k.LastUsedKnown:
			e.add(plan.CodeLastUseUnknown, plan.Skip, k.ID, "last use of inactive key %s unknown: not deleting it", k.ID)
		case k.LastUsed.After(t):
			e.add(plan.CodeInactiveKeyUsed, plan.Warn, k.ID, "inactive key %s was used %s, after keycycle deactivated it on %s: not deleting it",
				k.ID, fmtLastUsed(k), fmtDate(t))
		case e.now.Sub(t) >= th.DeleteAfter:
			e.deletes[k.ID] = true
			e.add(plan.CodeInactiveDeleteAfter, plan.Delete, k.ID, "inactive key %s deactivated by keycycle on %s, %s ago >= delete_after %s",
				k.ID, fmtDate(t), fmtAge(e.now.Sub(t)), FormatDuration(th.DeleteAfter))
		default:
			e.add(plan.CodeInactiveWaiting, plan.Skip, k.ID, "inactive key %s deactivated on %s: delete after %s (delete_after %s)",
				k.ID, fmtDate(t), fmtTime(t.Add(th.DeleteAfter)), FormatDuration(th.DeleteAfter))
		}
	}

	var active []inventory.AccessKey
	for _, k := range e.u.Keys {
		if k.Active() && !e.handled[k.ID] {
			active = append(active, k)
		}
	}
	switch len(active) {
	case 0:
		// Only inactive keys keycycle did not deactivate: untouched.
	case 1:
		e.single(active[0])
	default:
		e.twoActive(active[0], active[1], st)
	}
}

// retire decides about old, replaced by nw (active) by the rotation rec. A record written at the
// rotation's start (inventory.RotationRecord) dates the delivery on the safe side of each check:
// a use of old after the start counts as after the delivery, and the grace counts from nw's
// creation, which IAM dated between the start and the delivery (seconds before it).
func (e *userEval) retire(old, nw inventory.AccessKey, rec inventory.RotationRecord) {
	th := e.th
	deliveredAt := rec.At
	graceFrom := rec.At
	if rec.Started() && nw.Created.After(graceFrom) {
		graceFrom = nw.Created
	}
	graceEnd := graceFrom.Add(th.DeactivateAfter)
	switch {
	case e.now.Before(graceEnd):
		e.add(plan.CodeOldKeyGrace, plan.Skip, old.ID, "key %s replaced by %s on %s: deactivate after %s (deactivate_after %s) if unused since",
			old.ID, nw.ID, fmtDate(deliveredAt), fmtTime(graceEnd), FormatDuration(th.DeactivateAfter))
	case !old.LastUsedKnown:
		e.add(plan.CodeLastUseUnknown, plan.Skip, old.ID, "last use of key %s unknown: not deactivating it", old.ID)
	case old.LastUsed.After(deliveredAt) && e.now.Sub(old.LastUsed) < th.GuardWindow:
		if !e.hardLimit(old, nw) {
			e.add(plan.CodeOldKeyInUse, plan.Warn, old.ID, "key %s still in use, last used %s, after %s was delivered on %s: not deactivating it",
				old.ID, fmtLastUsed(old), nw.ID, fmtDate(deliveredAt))
		}
	case old.LastUsed.After(deliveredAt):
		// Used after the delivery, then idle for the whole guard window: its consumer moved on.
		e.add(plan.CodeOldKeyIdle, plan.Deactivate, old.ID, "key %s last used %s, after %s was delivered on %s, idle since for guard_window %s",
			old.ID, fmtLastUsed(old), nw.ID, fmtDate(deliveredAt), FormatDuration(th.GuardWindow))
	case !old.LastUsed.IsZero() && e.now.Sub(old.LastUsed) < th.GuardWindow:
		if !e.hardLimit(old, nw) {
			e.add(plan.CodeOldKeyInUse, plan.Warn, old.ID, "key %s last used %s, within guard_window %s: not deactivating it",
				old.ID, fmtLastUsed(old), FormatDuration(th.GuardWindow))
		}
	default:
		e.add(plan.CodeOldKeyIdle, plan.Deactivate, old.ID, "key %s unused since %s was delivered on %s, deactivate_after %s passed",
			old.ID, nw.ID, fmtDate(deliveredAt), FormatDuration(th.DeactivateAfter))
	}
}

// hardLimit adds a deactivate step for k when it is past the hard limit and other is a working
// active key, and reports whether it did.
func (e *userEval) hardLimit(k, other inventory.AccessKey) bool {
	th := e.th
	if th.HardLimit <= 0 || e.age(k) < th.HardLimit || !other.Active() || !k.LastUsedKnown {
		return false
	}
	e.add(plan.CodeHardLimit, plan.Deactivate, k.ID, "key %s age %s >= hard_limit %s: deactivated although %s; key %s stays active",
		k.ID, fmtAge(e.age(k)), FormatDuration(th.HardLimit), usedWords(k), other.ID)
	return true
}

// single decides about the user's one active key a not yet handled.
func (e *userEval) single(a inventory.AccessKey) {
	th := e.th
	age := e.age(a)
	if age < th.RotateAfter {
		e.warnLead(a)
		return
	}
	due := fmt.Sprintf("key %s age %s >= rotate_after %s%s", a.ID, fmtAge(age), FormatDuration(th.RotateAfter), e.raSrc)
	// Room: IAM allows two keys per user, inactive ones included.
	var others []inventory.AccessKey
	for _, k := range e.u.Keys {
		if k.ID != a.ID && !e.deletes[k.ID] {
			others = append(others, k)
		}
	}
	var needs inventory.KeyID
	for _, k := range e.u.Keys {
		if e.deletes[k.ID] {
			needs = k.ID
		}
	}
	if len(others) == 0 {
		e.addNeeds(plan.CodeKeyAgeDue, plan.Rotate, a.ID, needs, "%s", due)
		return
	}
	o := others[0]
	switch {
	case o.Active():
		e.add(plan.CodeAwaitingRetirement, plan.Blocked, a.ID, "%s, but key %s is still active awaiting retirement: rotate after it is retired", due, o.ID)
	case e.handled[o.ID]:
		e.add(plan.CodeNoRoom, plan.Blocked, a.ID, "%s, but no room: inactive key %s is not yet deletable", due, o.ID)
	case !o.LastUsedKnown:
		e.add(plan.CodeNoRoom, plan.Blocked, a.ID, "%s, but no room: last use of inactive key %s unknown", due, o.ID)
	case e.now.Sub(o.Created) < th.DeleteAfter ||
		(!o.LastUsed.IsZero() && e.now.Sub(o.LastUsed) < th.DeleteAfter):
		e.add(plan.CodeNoRoom, plan.Blocked, a.ID, "%s, but no room: inactive key %s (created %s, %s) not deactivated by keycycle and not idle for delete_after %s",
			due, o.ID, fmtDate(o.Created), usedWords(o), FormatDuration(th.DeleteAfter))
	default:
		e.deletes[o.ID] = true
		e.add(plan.CodeMakeRoom, plan.Delete, o.ID, "inactive key %s (created %s, %s) idle >= delete_after %s: deleted to make room for rotating %s",
			o.ID, fmtDate(o.Created), usedWords(o), FormatDuration(th.DeleteAfter), a.ID)
		e.addNeeds(plan.CodeKeyAgeDue, plan.Rotate, a.ID, o.ID, "%s", due)
	}
}

func (e *userEval) warnLead(a inventory.AccessKey) {
	th := e.th
	age := e.age(a)
	if th.WarnBefore <= 0 || age < th.RotateAfter-th.WarnBefore {
		return
	}
	e.add(plan.CodeRotationUpcoming, plan.Warn, a.ID, "key %s age %s: rotation due on %s (rotate_after %s%s, warn_before %s)",
		a.ID, fmtAge(age), fmtDate(a.Created.Add(th.RotateAfter)), FormatDuration(th.RotateAfter), e.raSrc,
		FormatDuration(th.WarnBefore))
}

// twoActive decides about a user with two active keys (a older than b) and no rotation record
// that explains them.
func (e *userEval) twoActive(a, b inventory.AccessKey, st state) {
	th := e.th
	// Hard limit: the older key past it goes, when the other one is known to work.
	if th.HardLimit > 0 {
		for _, pair := range [][2]inventory.AccessKey{{a, b}, {b, a}} {
			k, other := pair[0], pair[1]
			if e.age(k) >= th.HardLimit && e.working(other, st) && e.hardLimit(k, other) {
				return
			}
		}
	}
	var due []inventory.AccessKey
	for _, k := range []inventory.AccessKey{a, b} {
		if e.age(k) >= th.RotateAfter {
			due = append(due, k)
		}
	}
	if len(due) == 0 {
		e.warnLead(a)
		e.warnLead(b)
		return
	}
	d := due[0]
	dueWords := fmt.Sprintf("key %s age %s >= rotate_after %s%s", d.ID, fmtAge(e.age(d)), FormatDuration(th.RotateAfter), e.raSrc)
	tk := e.rules.TwoActiveKeys
	if tk.Mode != TwoKeysDeactivateUnused {
		e.add(plan.CodeTwoActiveKeys, plan.Blocked, d.ID, "%s, but the user has two active keys (%s, %s): retire one by hand or set two_active_keys to deactivate-unused",
			dueWords, a.ID, b.ID)
		return
	}
	idle := max(tk.UnusedFor, th.GuardWindow)
	var pick *inventory.AccessKey
	var pickSince time.Time
	for _, k := range []inventory.AccessKey{a, b} {
		if !k.LastUsedKnown {
			e.add(plan.CodeTwoActiveKeys, plan.Blocked, d.ID, "%s, but the user has two active keys and the last use of %s is unknown", dueWords, k.ID)
			return
		}
		since := k.LastUsed
		if since.IsZero() {
			since = k.Created
		}
		if e.now.Sub(since) >= idle && (pick == nil || since.Before(pickSince)) {
			pick, pickSince = &k, since
		}
	}
	if pick == nil {
		e.add(plan.CodeTwoActiveKeys, plan.Blocked, d.ID, "%s, but the user has two active keys (%s, %s), both used within %s (two_active_keys: deactivate-unused)",
			dueWords, a.ID, b.ID, FormatDuration(idle))
		return
	}
	other := a
	if other.ID == pick.ID {
		other = b
	}
	e.add(plan.CodeTwoActiveKeysIdle, plan.Deactivate, pick.ID, "two active keys: key %s %s, idle %s >= %s (two_active_keys: deactivate-unused); key %s stays active",
		pick.ID, usedWords(*pick), fmtAge(e.now.Sub(pickSince)), FormatDuration(idle), other.ID)
}

// working reports whether k is an active key known to work: delivered by keycycle, or used.
func (e *userEval) working(k inventory.AccessKey, st state) bool {
	if !k.Active() {
		return false
	}
	if st.rotated != nil && st.rotated.New == k.ID {
		return true
	}
	return k.LastUsedKnown && !k.LastUsed.IsZero()
}

func (e *userEval) age(k inventory.AccessKey) time.Duration { return e.now.Sub(k.Created) }

// keyName names the i-th key in a reason: the masked id, or "key #n" when the id is not known.
func (e *userEval) keyName(i int) string {
	if id := e.u.Keys[i].ID; id != "" {
		return "key " + id.String()
	}
	return fmt.Sprintf("key #%d", i+1)
}

func (e *userEval) add(c plan.Code, a plan.Action, id inventory.KeyID, format string, args ...any) {
	e.addNeeds(c, a, id, "", format, args...)
}

func (e *userEval) addNeeds(c plan.Code, a plan.Action, id, needs inventory.KeyID, format string, args ...any) {
	s := e.base
	s.Action = a
	s.Code = c
	s.AccessKeyID = id
	s.Reason = fmt.Sprintf(format, args...) + " (rule '" + s.Rule + "')"
	e.out = append(e.out, draft{Step: s, needs: needs})
}

// skipKeys adds a skip step for every key of the user.
func (e *userEval) skipKeys(c plan.Code, format string, args ...any) {
	for _, k := range e.u.Keys {
		e.add(c, plan.Skip, k.ID, format, args...)
	}
}

// skipAll adds a skip step for every key and the console password of the user; a user without
// either gets none.
func (e *userEval) skipAll(c plan.Code, format string, args ...any) {
	for _, k := range e.u.Keys {
		e.add(c, plan.Skip, k.ID, format, args...)
	}
	e.skipPassword(c, format, args...)
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

// fmtAge writes an age in whole days, or hours/minutes below a day.
func fmtAge(d time.Duration) string {
	switch {
	case d >= Day:
		return fmt.Sprintf("%dd", d/Day)
	case d >= time.Hour:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d < 0:
		return "0m"
	}
	return fmt.Sprintf("%dm", d/time.Minute)
}

// fmtDate writes a day, "2026-11-20", or "unknown" for a date no source gave (the credential
// report has no creation date for an inactive key).
func fmtDate(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format("2006-01-02")
}

// fmtTime writes a moment to the minute, for deadlines: "2026-11-26 09:00Z".
func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04Z") }

// fmtLastUsed writes "2026-11-20 s3 us-east-1", leaving out what AWS reports as N/A.
func fmtLastUsed(k inventory.AccessKey) string {
	parts := []string{fmtDate(k.LastUsed)}
	for _, s := range []string{k.LastUsedService, k.LastUsedRegion} {
		if s != "" && s != "N/A" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, " ")
}

// usedWords says how a key was used: "last used <...>", "never used" or "last use unknown".
func usedWords(k inventory.AccessKey) string {
	switch {
	case !k.LastUsedKnown:
		return "last use unknown"
	case k.LastUsed.IsZero():
		return "never used"
	}
	return "last used " + fmtLastUsed(k)
}
