package policy

import (
	"time"

	"github.com/keycycle/keycycle/internal/inventory"
)

// reportSkew tolerates the difference between the time a record on the user was written and the
// creation time IAM gave the key it names.
const reportSkew = 5 * time.Minute

// NameReportKeys applies nameReportKeys to every user of acct, so that what reads the inventory
// after the policy (notifications) sees the keys the plan names. Evaluate does it on its own copy.
func NameReportKeys(acct *inventory.Account, rules Rules) {
	for i := range acct.Users {
		nameReportKeys(&acct.Users[i], rules.Tags.StatePrefix)
	}
}

// nameReportKeys gives the keys a plan knows only from the credential report (placeholder ids,
// inventory.ReportKeyID) the ids keycycle's own records on the user name, where the report's
// columns (status, creation) leave one candidate: the rotation record's new key is the newest
// active key and its old key the other one, a deactivation record's key the
// inactive one, an intent's old key the active key created before it. A key no record names
// keeps its placeholder. The names are a plan-time reading only: the executor compares every id
// with a fresh ListAccessKeys before acting, and a wrong one makes the step stale.
func nameReportKeys(u *inventory.User, prefix string) {
	keysAt, loginAt := recordedAfter(u, prefix)
	if !keysAt.IsZero() {
		// The report was generated before keycycle last changed this user's keys: it describes
		// keys that may no longer be there. Unknown until a newer report.
		u.Keys, u.KeysKnown = nil, false
		u.Unknown = staleReport(keysAt, u.ReportTime)
	}
	if !loginAt.IsZero() {
		u.Login, u.LoginKnown, u.LoginUnknown = nil, false, staleReport(loginAt, u.ReportTime)
	}
	report := false
	for _, k := range u.Keys {
		report = report || k.ID.FromReport()
	}
	if !report {
		return
	}
	assign := func(id inventory.KeyID, ok func(inventory.AccessKey) bool) {
		if id == "" || u.Key(id) != nil {
			return
		}
		pick := -1
		for i, k := range u.Keys {
			if k.ID.FromReport() && ok(k) {
				if pick >= 0 {
					return // ambiguous
				}
				pick = i
			}
		}
		if pick >= 0 {
			u.Keys[pick].ID = id
		}
	}
	if r, err := inventory.ParseRotationRecord(u.Tags[inventory.RotatedTag(prefix)]); err == nil {
		// The new key is the user's newest active key created by that rotation (the old one is
		// older, or inactive: the report gives no creation time for inactive keys), the old key
		// the other one. A key created after the rotation is neither (an orphan of a later
		// rotation, or anybody's): it keeps its placeholder.
		before := func(k inventory.AccessKey) bool { return k.Created.IsZero() || !k.Created.After(r.At.Add(reportSkew)) }
		if r.Started() {
			// Written at the rotation's start, naming no new key: the new key is the one created
			// under its lease (it keeps its placeholder), the old one was created before it started.
			nk := r.NewKeyIn(u.Keys)
			before = func(k inventory.AccessKey) bool {
				return (nk == nil || k.ID != nk.ID) && (k.Created.IsZero() || k.Created.Before(r.At.Add(-reportSkew)))
			}
		}
		var newest *inventory.AccessKey
		for i := range u.Keys {
			if k := &u.Keys[i]; k.ID.FromReport() && k.Active() && before(*k) && (newest == nil || k.Created.After(newest.Created)) {
				newest = k
			}
		}
		if newest != nil && !r.Started() {
			at := newest.Created
			assign(r.New, func(k inventory.AccessKey) bool { return k.Active() && k.Created.Equal(at) })
		}
		assign(r.Old, before)
	}
	if r, err := inventory.ParseDeactivationRecord(u.Tags[inventory.DeactivatedTag(prefix)]); err == nil {
		assign(r.Key, func(k inventory.AccessKey) bool { return !k.Active() })
	}
	if r, err := inventory.ParseRotationIntent(u.Tags[inventory.IntentTag(prefix)]); err == nil {
		// The old key was created well before the rotation started; a key created within
		// reportSkew of the intent is the rotation's own new key (an orphan when it never
		// completed), never its old one.
		assign(r.Old, func(k inventory.AccessKey) bool { return k.Active() && k.Created.Before(r.Started.Add(-reportSkew)) })
	}
	inventory.SortKeys(u.Keys)
}

// KeysChangedSinceReport reports whether keycycle recorded a change of u's keys (its state tags)
// after the credential report u's keys come from: the report describes keys that may be gone,
// and a plan must read them fresh (a few users: those keycycle changed in the report's last
// 4 hours) or leave them unknown.
func KeysChangedSinceReport(u inventory.User, rules Rules) bool {
	keys, _ := recordedAfter(&u, rules.Tags.StatePrefix)
	return !keys.IsZero()
}

func staleReport(changed, report time.Time) string {
	return "keycycle changed them at " + fmtTime(changed) + ", after the credential report of " + fmtTime(report) +
		" (IAM regenerates it at most every 4 hours)"
}

// recordedAfter returns the latest times keycycle recorded a change of u's keys and of its
// console password (its state tags) when they are after the credential report u's credentials
// come from, else zero. An intent is no such change: the report still shows the key a resumed
// rotation starts from, and the executor's recovery reads the user fresh.
func recordedAfter(u *inventory.User, prefix string) (keys, login time.Time) {
	if u.ReportTime.IsZero() {
		return time.Time{}, time.Time{}
	}
	after := func(ts ...time.Time) time.Time {
		var last time.Time
		for _, t := range ts {
			if t.After(last) {
				last = t
			}
		}
		// The report's times are whole seconds; a record in the report's own second may be after it.
		if last.Truncate(time.Second).Before(u.ReportTime) {
			return time.Time{}
		}
		return last
	}
	var kt []time.Time
	if r, err := inventory.ParseRotationRecord(u.Tags[inventory.RotatedTag(prefix)]); err == nil {
		kt = append(kt, r.Done(), r.Deactivated)
	}
	if r, err := inventory.ParseDeactivationRecord(u.Tags[inventory.DeactivatedTag(prefix)]); err == nil {
		kt = append(kt, r.At)
	}
	var lt []time.Time
	if m, err := inventory.ParseMark(u.Tags[inventory.PasswordRotatedTag(prefix)]); err == nil {
		lt = append(lt, m.At)
	}
	return after(kt...), after(lt...)
}
