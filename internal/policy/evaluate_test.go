package policy

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/plan"
)

var now = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

const never = -1

func ago(days float64) time.Time { return now.Add(-time.Duration(days * float64(Day))) }

// kid makes a 20-character key id ending in tail: kid("OLD1") = "AKIAXXXXXXXXXXXXOLD1" ("AKIA...OLD1").
func kid(tail string) inventory.KeyID {
	return inventory.KeyID("AKIA" + strings.Repeat("X", 16-len(tail)) + tail)
}

// key is an access key created ageDays ago, last used usedDaysAgo ago (never: never used).
func key(tail string, status inventory.KeyStatus, ageDays, usedDaysAgo float64) inventory.AccessKey {
	k := inventory.AccessKey{ID: kid(tail), Status: status, Created: ago(ageDays), LastUsedKnown: true}
	if usedDaysAgo != never {
		k.LastUsed = ago(usedDaysAgo)
		k.LastUsedService, k.LastUsedRegion = "s3", "us-east-1"
	}
	return k
}

func active(tail string, ageDays, usedDaysAgo float64) inventory.AccessKey {
	return key(tail, inventory.StatusActive, ageDays, usedDaysAgo)
}

func inactive(tail string, ageDays, usedDaysAgo float64) inventory.AccessKey {
	return key(tail, inventory.StatusInactive, ageDays, usedDaysAgo)
}

func unknownUse(k inventory.AccessKey) inventory.AccessKey {
	k.LastUsedKnown, k.LastUsed, k.LastUsedService, k.LastUsedRegion = false, time.Time{}, "", ""
	return k
}

type userOpt func(*inventory.User)

func tags(kv ...string) userOpt {
	return func(u *inventory.User) {
		for i := 0; i+1 < len(kv); i += 2 {
			u.Tags[kv[i]] = kv[i+1]
		}
	}
}

func groups(g ...string) userOpt {
	return func(u *inventory.User) { u.Groups = append(u.Groups, g...) }
}
func iamPath(p string) userOpt { return func(u *inventory.User) { u.Path = p } }
func keys(k ...inventory.AccessKey) userOpt {
	return func(u *inventory.User) { u.Keys = append(u.Keys, k...) }
}

func user(name string, opts ...userOpt) inventory.User {
	u := inventory.User{
		Name: name, UserID: "AIDA" + strings.ToUpper(name), Path: "/", Created: ago(400),
		ARN: "arn:aws:iam::111111111111:user/" + name, Tags: map[string]string{}, KeysKnown: true,
	}
	for _, o := range opts {
		o(&u)
	}
	return u
}

// rotated is the completion record tag: old replaced by new deliveredDaysAgo; deactivatedDaysAgo
// (never: not deactivated).
func rotated(oldTail, newTail string, deliveredDaysAgo, deactivatedDaysAgo float64) userOpt {
	r := inventory.RotationRecord{At: ago(deliveredDaysAgo), Old: kid(oldTail), New: kid(newTail)}
	if deactivatedDaysAgo != never {
		r.Deactivated = ago(deactivatedDaysAgo)
	}
	return tags(inventory.RotatedTag("keycycle:"), r.TagValue())
}

// started is the rotation record written with the intent at a rotation's start startedDaysAgo,
// naming only the old key (inventory.RotationRecord); the new key is the one created under its
// lease.
func started(oldTail string, startedDaysAgo float64) userOpt {
	r := inventory.RotationRecord{At: ago(startedDaysAgo), Old: kid(oldTail), By: ago(startedDaysAgo).Add(inventory.DefaultLease)}
	return tags(inventory.RotatedTag("keycycle:"), r.TagValue())
}

// want is one expected step: reason is a fragment the step's reason must contain.
type want struct {
	user   string
	action plan.Action
	key    string // key tail, "" for a user-level step
	reason string
}

func project(p plan.Plan, ws []want) []want {
	var got []want
	for i, s := range p.Steps {
		g := want{user: s.User, action: s.Action, reason: s.Reason}
		if s.AccessKeyID != "" {
			g.key = s.AccessKeyID.Raw()[16:]
		}
		if i < len(ws) && strings.Contains(s.Reason, ws[i].reason) {
			g.reason = ws[i].reason
		}
		got = append(got, g)
	}
	return got
}

func TestEvaluate(t *testing.T) {
	deactivateUnused := func(r *Rules) { r.TwoActiveKeys = TwoActiveKeys{Mode: TwoKeysDeactivateUnused, UnusedFor: 30 * Day} }
	hardLimit := func(r *Rules) { r.Default.HardLimit = 120 * Day }
	tests := []struct {
		name  string
		users []inventory.User
		rules func(*Rules)
		want  []want
	}{
		// Age thresholds.
		{name: "not due", users: []inventory.User{user("alice", keys(active("AAA1", 30, 1)))}},
		{name: "warn lead", users: []inventory.User{user("alice", keys(active("AAA1", 80, 1)))},
			want: []want{{"alice", plan.Warn, "AAA1", "key AKIA...AAA1 age 80d: rotation due on 2026-12-01 (rotate_after 90d, warn_before 14d) (rule 'default')"}}},
		{name: "just before the warn lead", users: []inventory.User{user("alice", keys(active("AAA1", 75.9, 1)))}},
		{name: "due", users: []inventory.User{user("alice", keys(active("AAA1", 93, 1)))},
			want: []want{{"alice", plan.Rotate, "AAA1", "key AKIA...AAA1 age 93d >= rotate_after 90d (rule 'default')"}}},
		{name: "due exactly at rotate_after", users: []inventory.User{user("alice", keys(active("AAA1", 90, 1)))},
			want: []want{{"alice", plan.Rotate, "AAA1", "age 90d >= rotate_after 90d"}}},

		// Making room for a rotation.
		{name: "due with a recorded inactive second key past delete grace: delete then rotate",
			users: []inventory.User{user("alice", keys(inactive("OLD0", 120, 25), active("AAA1", 93, 1)), rotated("OLD0", "AAA1", 93, 12))},
			want: []want{
				{"alice", plan.Delete, "OLD0", "inactive key AKIA...OLD0 deactivated by keycycle on 2026-11-09, 12d ago >= delete_after 10d"},
				{"alice", plan.Rotate, "AAA1", "age 93d >= rotate_after 90d"},
			}},
		{name: "due with an idle inactive second key keycycle did not deactivate: delete then rotate",
			users: []inventory.User{user("alice", keys(active("AAA1", 93, 1), inactive("OLD0", 200, 100)))},
			want: []want{
				{"alice", plan.Delete, "OLD0", "idle >= delete_after 10d: deleted to make room for rotating AKIA...AAA1"},
				{"alice", plan.Rotate, "AAA1", "age 93d >= rotate_after 90d"},
			}},
		{name: "due with a recorded inactive second key not yet past delete grace: blocked",
			users: []inventory.User{user("alice", keys(inactive("OLD0", 120, 25), active("AAA1", 93, 1)), rotated("OLD0", "AAA1", 93, 5))},
			want: []want{
				{"alice", plan.Blocked, "AAA1", "no room: inactive key AKIA...OLD0 is not yet deletable"},
				{"alice", plan.Skip, "OLD0", "inactive key AKIA...OLD0 deactivated on 2026-11-16: delete after 2026-11-26 09:00Z (delete_after 10d)"},
			}},
		{name: "due with a recently used inactive second key keycycle did not deactivate: blocked",
			users: []inventory.User{user("alice", keys(active("AAA1", 95, 1), inactive("NEW2", 3, 2)))},
			want:  []want{{"alice", plan.Blocked, "AAA1", "no room: inactive key AKIA...NEW2 (created 2026-11-18, last used 2026-11-19 s3 us-east-1) not deactivated by keycycle and not idle for delete_after 10d"}}},
		{name: "due with an inactive second key whose last use is unknown: blocked",
			users: []inventory.User{user("alice", keys(active("AAA1", 95, 1), unknownUse(inactive("OLD0", 200, never))))},
			want:  []want{{"alice", plan.Blocked, "AAA1", "no room: last use of inactive key AKIA...OLD0 unknown"}}},

		// Two active keys.
		{name: "two active keys, one due: blocked",
			users: []inventory.User{user("alice", keys(active("AAA1", 100, 1), active("BBB2", 40, 1)))},
			want:  []want{{"alice", plan.Blocked, "AAA1", "key AKIA...AAA1 age 100d >= rotate_after 90d, but the user has two active keys (AKIA...AAA1, AKIA...BBB2): retire one by hand or set two_active_keys to deactivate-unused"}}},
		{name: "two active keys, none due: nothing but warnings",
			users: []inventory.User{user("alice", keys(active("AAA1", 80, 1), active("BBB2", 40, 1)))},
			want:  []want{{"alice", plan.Warn, "AAA1", "rotation due on"}}},
		{name: "two active keys, deactivate-unused: the unused one goes",
			users: []inventory.User{user("alice", keys(active("AAA1", 100, 1), active("BBB2", 60, 45)))},
			rules: deactivateUnused,
			want:  []want{{"alice", plan.Deactivate, "BBB2", "two active keys: key AKIA...BBB2 last used 2026-10-07 s3 us-east-1, idle 45d >= 30d (two_active_keys: deactivate-unused); key AKIA...AAA1 stays active"}}},
		{name: "two active keys, deactivate-unused: both idle, the one idle longer goes",
			users: []inventory.User{user("alice", keys(active("AAA1", 100, 50), active("BBB2", 60, never)))},
			rules: deactivateUnused,
			want:  []want{{"alice", plan.Deactivate, "BBB2", "key AKIA...BBB2 never used, idle 60d"}}},
		{name: "two active keys, deactivate-unused: both in use, blocked",
			users: []inventory.User{user("alice", keys(active("AAA1", 100, 1), active("BBB2", 60, 2)))},
			rules: deactivateUnused,
			want:  []want{{"alice", plan.Blocked, "AAA1", "both used within 30d (two_active_keys: deactivate-unused)"}}},
		{name: "two active keys, deactivate-unused: idle within the guard window is not unused",
			users: []inventory.User{user("alice", keys(active("AAA1", 100, 1), active("BBB2", 60, 35)))},
			rules: func(r *Rules) { deactivateUnused(r); r.Default.GuardWindow = 40 * Day },
			want:  []want{{"alice", plan.Blocked, "AAA1", "both used within 40d"}}},
		{name: "two active keys, deactivate-unused: unknown last use, blocked",
			users: []inventory.User{user("alice", keys(active("AAA1", 100, 1), unknownUse(active("BBB2", 60, never))))},
			rules: deactivateUnused,
			want:  []want{{"alice", plan.Blocked, "AAA1", "the last use of AKIA...BBB2 is unknown"}}},

		// After a rotation.
		{name: "after rotation: grace not passed",
			users: []inventory.User{user("alice", keys(active("OLD0", 100, 6), active("NEW1", 5, 1)), rotated("OLD0", "NEW1", 5, never))},
			want:  []want{{"alice", plan.Skip, "OLD0", "key AKIA...OLD0 replaced by AKIA...NEW1 on 2026-11-16: deactivate after 2026-11-26 09:00Z (deactivate_after 10d) if unused since"}}},
		{name: "record written at the start, intent gone: the key created under its lease is the new one, grace not passed",
			users: []inventory.User{user("alice", keys(active("OLD0", 100, 6), active("NEW1", 5, 1)), started("OLD0", 5))},
			want:  []want{{"alice", plan.Skip, "OLD0", "key AKIA...OLD0 replaced by AKIA...NEW1 on 2026-11-16: deactivate after 2026-11-26 09:00Z (deactivate_after 10d) if unused since"}}},
		{name: "record written at the start, grace passed, unused since the start: deactivate",
			users: []inventory.User{user("alice", keys(active("OLD0", 103, 13), active("NEW1", 12, 1)), started("OLD0", 12))},
			want:  []want{{"alice", plan.Deactivate, "OLD0", "key AKIA...OLD0 unused since AKIA...NEW1 was delivered on 2026-11-09, deactivate_after 10d passed"}}},
		{name: "record written at the start, old key used after the start: warn",
			users: []inventory.User{user("alice", keys(active("OLD0", 103, 1), active("NEW1", 12, 1)), started("OLD0", 12))},
			want:  []want{{"alice", plan.Warn, "OLD0", "key AKIA...OLD0 still in use, last used 2026-11-20 s3 us-east-1, after AKIA...NEW1 was delivered on 2026-11-09"}}},
		{name: "record written at the start, no key created under its lease (rolled back): rotate again",
			users: []inventory.User{user("alice", keys(active("OLD0", 103, 1)), started("OLD0", 2))},
			want:  []want{{"alice", plan.Rotate, "OLD0", "key AKIA...OLD0 age 103d >= rotate_after 90d"}}},
		{name: "record written at the start, the other key created long after its lease: not its new key",
			users: []inventory.User{user("alice", keys(active("OLD0", 100, 6), active("NEW1", 5, 1)), started("OLD0", 30))},
			want:  []want{{"alice", plan.Blocked, "OLD0", ""}}},
		{name: "after rotation: grace passed, unused since delivery: deactivate",
			users: []inventory.User{user("alice", keys(active("OLD0", 103, 13), active("NEW1", 12, 1)), rotated("OLD0", "NEW1", 12, never))},
			want:  []want{{"alice", plan.Deactivate, "OLD0", "key AKIA...OLD0 unused since AKIA...NEW1 was delivered on 2026-11-09, deactivate_after 10d passed (rule 'default')"}}},
		{name: "after rotation: old key used after delivery, then idle for the guard window: deactivate",
			users: []inventory.User{user("alice", keys(active("OLD0", 125, 11), active("NEW1", 25, 1)), rotated("OLD0", "NEW1", 25, never))},
			want:  []want{{"alice", plan.Deactivate, "OLD0", "key AKIA...OLD0 last used 2026-11-10 s3 us-east-1, after AKIA...NEW1 was delivered on 2026-10-27, idle since for guard_window 10d (rule 'default')"}}},
		{name: "after rotation: old key still in use: warn",
			users: []inventory.User{user("alice", keys(active("OLD0", 103, 1), active("NEW1", 12, 1)), rotated("OLD0", "NEW1", 12, never))},
			want:  []want{{"alice", plan.Warn, "OLD0", "key AKIA...OLD0 still in use, last used 2026-11-20 s3 us-east-1, after AKIA...NEW1 was delivered on 2026-11-09: not deactivating it"}}},
		{name: "after rotation: used before delivery but within the guard window: warn",
			users: []inventory.User{user("alice", keys(active("OLD0", 103, 13), active("NEW1", 12, 1)), rotated("OLD0", "NEW1", 12, never))},
			rules: func(r *Rules) { r.Default.GuardWindow = 20 * Day },
			want:  []want{{"alice", plan.Warn, "OLD0", "last used 2026-11-08 s3 us-east-1, within guard_window 20d"}}},
		{name: "after rotation: hard limit deactivates a used key",
			users: []inventory.User{user("alice", keys(active("OLD0", 125, 1), active("NEW1", 12, 1)), rotated("OLD0", "NEW1", 12, never))},
			rules: hardLimit,
			want:  []want{{"alice", plan.Deactivate, "OLD0", "key AKIA...OLD0 age 125d >= hard_limit 120d: deactivated although last used 2026-11-20 s3 us-east-1; key AKIA...NEW1 stays active"}}},
		{name: "after rotation: hard limit waits for the delivery grace",
			users: []inventory.User{user("alice", keys(active("OLD0", 125, 1), active("NEW1", 2, 1)), rotated("OLD0", "NEW1", 2, never))},
			rules: hardLimit,
			want:  []want{{"alice", plan.Skip, "OLD0", "deactivate after"}}},
		{name: "after rotation: last use unknown: no deactivation",
			users: []inventory.User{user("alice", keys(unknownUse(active("OLD0", 103, never)), active("NEW1", 12, 1)), rotated("OLD0", "NEW1", 12, never))},
			want:  []want{{"alice", plan.Skip, "OLD0", "last use of key AKIA...OLD0 unknown: not deactivating it"}}},
		{name: "after rotation: last use unknown: no deactivation even past the hard limit",
			users: []inventory.User{user("alice", keys(unknownUse(active("OLD0", 130, never)), active("NEW1", 12, 1)), rotated("OLD0", "NEW1", 12, never))},
			rules: hardLimit,
			want:  []want{{"alice", plan.Skip, "OLD0", "unknown: not deactivating it"}}},
		{name: "after rotation: new key gone: old key stays, is rotated again",
			users: []inventory.User{user("alice", keys(active("OLD0", 103, 1)), rotated("OLD0", "NEW1", 12, never))},
			want: []want{
				{"alice", plan.Rotate, "OLD0", "age 103d >= rotate_after 90d"},
				{"alice", plan.Warn, "OLD0", "rotation on 2026-11-09 replaced key AKIA...OLD0 by AKIA...NEW1, which is not active: key AKIA...OLD0 stays active"},
			}},
		{name: "after rotation: old inactive, deactivated >= delete_after ago: delete",
			users: []inventory.User{user("alice", keys(inactive("OLD0", 115, 25), active("NEW1", 25, 1)), rotated("OLD0", "NEW1", 25, 10))},
			want:  []want{{"alice", plan.Delete, "OLD0", "deactivated by keycycle on 2026-11-11, 10d ago >= delete_after 10d"}}},
		{name: "after rotation: old inactive, used after keycycle deactivated it: not deleted",
			users: []inventory.User{user("alice", keys(inactive("OLD0", 115, 3), active("NEW1", 25, 1)), rotated("OLD0", "NEW1", 25, 12))},
			want:  []want{{"alice", plan.Warn, "OLD0", "was used 2026-11-18 s3 us-east-1, after keycycle deactivated it on 2026-11-09: not deleting it"}}},
		{name: "after rotation: old inactive, last use unknown: not deleted",
			users: []inventory.User{user("alice", keys(unknownUse(inactive("OLD0", 115, never)), active("NEW1", 25, 1)), rotated("OLD0", "NEW1", 25, 12))},
			want:  []want{{"alice", plan.Skip, "OLD0", "last use of inactive key AKIA...OLD0 unknown: not deleting it"}}},
		{name: "never delete an active key: reactivated after keycycle deactivated it",
			users: []inventory.User{user("alice", keys(active("OLD0", 130, 1), active("NEW1", 40, 1)), rotated("OLD0", "NEW1", 40, 30))},
			want:  []want{{"alice", plan.Warn, "OLD0", "key AKIA...OLD0 was reactivated after keycycle deactivated it on 2026-10-22: not deactivating it again"}}},
		{name: "deactivation recorded but never done (active, unused since): retired as usual, no grace from the record",
			users: []inventory.User{user("alice", keys(active("OLD0", 130, 35), active("NEW1", 40, 1)), rotated("OLD0", "NEW1", 40, 30))},
			want:  []want{{"alice", plan.Deactivate, "OLD0", "idle since for guard_window"}}},
		{name: "reactivated after keycycle deactivated it, recorded in the deactivation record: not deactivated again",
			users: []inventory.User{user("alice", keys(active("OLD0", 130, 1), active("NEW1", 40, 1)), rotated("OLD0", "NEW1", 40, never),
				tags("keycycle:deactivated", inventory.DeactivationRecord{At: ago(30), Key: kid("OLD0")}.TagValue()))},
			want: []want{{"alice", plan.Warn, "OLD0", "key AKIA...OLD0 was reactivated after keycycle deactivated it on 2026-10-22: not deactivating it again"}}},
		{name: "after rotation: old inactive, deactivation recorded in the deactivation record: delete after grace",
			users: []inventory.User{user("alice", keys(inactive("OLD0", 115, 25), active("NEW1", 25, 1)), rotated("OLD0", "NEW1", 25, never),
				tags("keycycle:deactivated", inventory.DeactivationRecord{At: ago(10), Key: kid("OLD0")}.TagValue()))},
			want: []want{{"alice", plan.Delete, "OLD0", "deactivated by keycycle on 2026-11-11, 10d ago >= delete_after 10d"}}},
		{name: "a deactivation record from before the rotation is not its retirement: retired as usual",
			users: []inventory.User{user("alice", keys(active("OLD0", 130, 35), active("NEW1", 40, 1)), rotated("OLD0", "NEW1", 40, never),
				tags("keycycle:deactivated", inventory.DeactivationRecord{At: ago(60), Key: kid("OLD0")}.TagValue()))},
			want: []want{{"alice", plan.Deactivate, "OLD0", "idle since for guard_window"}}},
		{name: "deactivation record outside a rotation naming an active key: never a delete",
			users: []inventory.User{user("alice", keys(active("OLD0", 130, 60), active("NEW1", 40, 1)),
				tags("keycycle:deactivated", inventory.DeactivationRecord{At: ago(11), Key: kid("OLD0")}.TagValue()))},
			want: []want{{"alice", plan.Blocked, "OLD0", "two active keys"}}},
		{name: "deactivation record outside a rotation: delete after grace",
			users: []inventory.User{user("alice", keys(inactive("OLD0", 130, 60), active("NEW1", 40, 1)),
				tags("keycycle:deactivated", inventory.DeactivationRecord{At: ago(11), Key: kid("OLD0")}.TagValue()))},
			want: []want{{"alice", plan.Delete, "OLD0", "deactivated by keycycle on 2026-11-10, 11d ago"}}},

		// Users with only inactive keys.
		{name: "only inactive keys keycycle did not deactivate: untouched",
			users: []inventory.User{user("alice", keys(inactive("OLD0", 400, 300), inactive("OLD1", 300, never)))}},
		{name: "only inactive keys, one deactivated by keycycle: that one deleted",
			users: []inventory.User{user("alice", keys(inactive("OLD0", 400, 300), inactive("OLD1", 300, 200)), rotated("OLD1", "GONE", 100, 50))},
			want:  []want{{"alice", plan.Delete, "OLD1", "deactivated by keycycle on 2026-10-02"}}},

		// Hard limit without a rotation record.
		{name: "hard limit, single active key: rotate, never deactivate the last key",
			users: []inventory.User{user("alice", keys(active("AAA1", 200, 1)))},
			rules: hardLimit,
			want:  []want{{"alice", plan.Rotate, "AAA1", "age 200d >= rotate_after 90d"}}},
		{name: "hard limit, two active keys, the other one works: deactivate the old one",
			users: []inventory.User{user("alice", keys(active("AAA1", 200, 1), active("BBB2", 20, 1)))},
			rules: hardLimit,
			want:  []want{{"alice", plan.Deactivate, "AAA1", "age 200d >= hard_limit 120d: deactivated although last used"}}},
		{name: "hard limit, two active keys, the other one never used: blocked",
			users: []inventory.User{user("alice", keys(active("AAA1", 200, 1), active("BBB2", 20, never)))},
			rules: hardLimit,
			want:  []want{{"alice", plan.Blocked, "AAA1", "two active keys"}}},

		// Interrupted rotation.
		{name: "intent without completion: resume",
			users: []inventory.User{user("alice", keys(active("AAA1", 93, 1), active("ORPH", 0.01, never)),
				tags("keycycle:rotation", inventory.RotationIntent{Started: ago(0.02), Old: kid("AAA1")}.TagValue()))},
			want: []want{{"alice", plan.Rotate, "AAA1", "resume the rotation of key AKIA...AAA1 started 2026-11-21 08:31Z: it never recorded completion"}}},
		{name: "intent with a live lease of another run: left to it",
			users: []inventory.User{user("alice", keys(active("AAA1", 93, 1), active("ORPH", 0.001, never)),
				tags("keycycle:rotation", inventory.RotationIntent{Started: now.Add(-time.Minute), Old: kid("AAA1"),
					Lease: inventory.Lease{Run: "run-a", Until: now.Add(10 * time.Minute)}}.TagValue()))},
			want: []want{
				{"alice", plan.Skip, "AAA1", "rotation of key AKIA...AAA1 in progress: run run-a holds the lease until 2026-11-21 09:10Z; left to it"},
				{"alice", plan.Skip, "ORPH", "in progress"},
			}},
		{name: "intent from before leases, started 14 minutes ago: live for 15",
			users: []inventory.User{user("alice", keys(active("AAA1", 93, 1)),
				tags("keycycle:rotation", "started=2026-11-21T08:46:00Z old="+string(kid("AAA1"))))},
			want: []want{{"alice", plan.Skip, "AAA1", "an earlier keycycle run holds the lease until 2026-11-21 09:01Z"}}},
		{name: "orphan without intent, newer than the completion: resume (deleted unless a sink holds it)",
			users: []inventory.User{user("alice", keys(active("NEW1", 100, 1), active("ORPH", 1, never)), rotated("OLD0", "NEW1", 100, 90))},
			want:  []want{{"alice", plan.Rotate, "NEW1", "resume the rotation of key AKIA...NEW1: key AKIA...ORPH (created 2026-11-20 09:00Z, never used) is newer than any completion record and has no intent"}}},
		{name: "second key without any completion record: not an orphan, anybody's",
			users: []inventory.User{user("alice", keys(active("AAA1", 100, 1), active("BBB2", 1, never)))},
			want:  []want{{"alice", plan.Blocked, "AAA1", "two active keys"}}},
		{name: "intent older than completion: ignored",
			users: []inventory.User{user("alice", keys(active("OLD0", 100, 6), active("NEW1", 5, 1)), rotated("OLD0", "NEW1", 5, never),
				tags("keycycle:rotation", inventory.RotationIntent{Started: ago(5.1), Old: kid("OLD0")}.TagValue()))},
			want: []want{{"alice", plan.Skip, "OLD0", "deactivate after"}}},
		{name: "intent in the same second as the completion: still pending, resumed",
			users: []inventory.User{user("alice", keys(active("OLD0", 100, 6), active("NEW1", 5, 1)), rotated("OLD0", "NEW1", 5, never),
				tags("keycycle:rotation", inventory.RotationIntent{Started: ago(5), Old: kid("NEW1")}.TagValue()))},
			want: []want{{"alice", plan.Rotate, "NEW1", "resume the rotation of key AKIA...NEW1"}}},
		{name: "unreadable state tag: warned, ignored",
			users: []inventory.User{user("alice", keys(active("AAA1", 30, 1)), tags("keycycle:rotated", "at=soon"))},
			want:  []want{{"alice", plan.Warn, "", "tag keycycle:rotated unreadable"}}},

		// Unknown state.
		{name: "keys unknown: skip with the reason",
			users: []inventory.User{func() inventory.User {
				u := user("alice")
				u.KeysKnown, u.Unknown = false, "ListAccessKeys: Throttling"
				return u
			}()},
			want: []want{{"alice", plan.Skip, "", "keys unknown (ListAccessKeys: Throttling): no action"}}},

		// Exemptions.
		{name: "exempt by group",
			users: []inventory.User{user("alice", keys(active("AAA1", 200, 1)), groups("developers", "IAMKeyRotationExemptionGroup"))},
			want:  []want{{"alice", plan.Skip, "AAA1", "exempt: member of group IAMKeyRotationExemptionGroup"}}},
		{name: "exempt by tag, no expiry",
			users: []inventory.User{user("alice", keys(active("AAA1", 200, 1)), tags("keycycle:exempt", "reason=vendor appliance OPS-12"))},
			want:  []want{{"alice", plan.Skip, "AAA1", "exempt: vendor appliance OPS-12"}}},
		{name: "exempt by tag, bare value",
			users: []inventory.User{user("alice", keys(active("AAA1", 200, 1)), tags("keycycle:exempt", "true"))},
			want:  []want{{"alice", plan.Skip, "AAA1", "exempt: tag keycycle:exempt"}}},
		{name: "exempt by tag with a future expiry",
			users: []inventory.User{user("alice", keys(active("AAA1", 200, 1)), tags("keycycle:exempt", "until=2027-01-31 reason=migration to SSO"))},
			want:  []want{{"alice", plan.Skip, "AAA1", "exempt until 2027-01-31: migration to SSO"}}},
		{name: "expired exemption: not exempt, warned",
			users: []inventory.User{user("alice", keys(active("AAA1", 200, 1)), tags("keycycle:exempt", "until=2026-11-01 reason=migration to SSO"))},
			want: []want{
				{"alice", plan.Rotate, "AAA1", "age 200d >= rotate_after 90d"},
				{"alice", plan.Warn, "", "exemption expired 2026-11-01: migration to SSO"},
			}},
		{name: "unreadable exemption: not exempt, warned",
			users: []inventory.User{user("alice", keys(active("AAA1", 200, 1)), tags("keycycle:exempt", "until=someday"))},
			want: []want{
				{"alice", plan.Rotate, "AAA1", "age 200d"},
				{"alice", plan.Warn, "", "exemption tag keycycle:exempt unreadable"},
			}},
		{name: "exemption group disabled",
			users: []inventory.User{user("alice", keys(active("AAA1", 200, 1)), groups("IAMKeyRotationExemptionGroup"))},
			rules: func(r *Rules) { r.Selection.ExemptionGroup = "" },
			want:  []want{{"alice", plan.Rotate, "AAA1", "age 200d"}}},

		// Selection.
		{name: "opt-in without owner tag: skip",
			users: []inventory.User{user("alice", keys(active("AAA1", 200, 1))), user("bob", keys(active("BBB1", 30, 1)))},
			rules: func(r *Rules) { r.Selection.Mode = OptIn },
			want:  []want{{"alice", plan.Skip, "AAA1", "not selected (opt-in mode and no tag owner): key AKIA...AAA1 age 200d >= rotate_after 90d"}}},
		{name: "opt-in with owner tag: managed",
			users: []inventory.User{user("alice", keys(active("AAA1", 200, 1)), tags("owner", "alice@example.com"))},
			rules: func(r *Rules) { r.Selection.Mode = OptIn },
			want:  []want{{"alice", plan.Rotate, "AAA1", "age 200d"}}},
		{name: "exclude by name glob",
			users: []inventory.User{user("break-glass-1", keys(active("AAA1", 200, 1))), user("bob", keys(active("BBB1", 200, 1)))},
			rules: func(r *Rules) { r.Selection.Exclude = []Match{{Users: []string{"break-glass-*"}}} },
			want: []want{
				{"bob", plan.Rotate, "BBB1", "age 200d"},
				{"break-glass-1", plan.Skip, "AAA1", "not selected (excluded by selection.exclude[0])"},
			}},
		{name: "include by path prefix",
			users: []inventory.User{user("ci", keys(active("AAA1", 200, 1)), iamPath("/service/ci/")), user("bob", keys(active("BBB1", 200, 1)))},
			rules: func(r *Rules) { r.Selection.Include = []Match{{Paths: []string{"/service/"}}} },
			want: []want{
				{"bob", plan.Skip, "BBB1", "not selected (matches no selection.include entry)"},
				{"ci", plan.Rotate, "AAA1", "age 200d"},
			}},
		{name: "exclude by group and by tag",
			users: []inventory.User{
				user("ann", keys(active("AAA1", 200, 1)), groups("contractors")),
				user("bob", keys(active("BBB1", 200, 1)), tags("team", "data-eng")),
				user("cid", keys(active("CCC1", 200, 1)), tags("team", "web")),
			},
			rules: func(r *Rules) {
				r.Selection.Exclude = []Match{{Groups: []string{"contractors"}}, {Tags: map[string]string{"team": "data-*"}}}
			},
			want: []want{
				{"ann", plan.Skip, "AAA1", "excluded by selection.exclude[0]"},
				{"bob", plan.Skip, "BBB1", "excluded by selection.exclude[1]"},
				{"cid", plan.Rotate, "CCC1", "age 200d"},
			}},
		{name: "match fields are ANDed",
			users: []inventory.User{
				user("ann", keys(active("AAA1", 200, 1)), iamPath("/service/")),
				user("bob", keys(active("BBB1", 200, 1)), iamPath("/service/"), groups("ops")),
			},
			rules: func(r *Rules) { r.Selection.Exclude = []Match{{Paths: []string{"/service/"}, Groups: []string{"ops"}}} },
			want: []want{
				{"ann", plan.Rotate, "AAA1", "age 200d"},
				{"bob", plan.Skip, "BBB1", "excluded"},
			}},
		{name: "not selected and not due: no step",
			users: []inventory.User{user("alice", keys(active("AAA1", 20, 1)))},
			rules: func(r *Rules) { r.Selection.Mode = OptIn }},

		// Named rules.
		{name: "rule precedence: first matching rule wins",
			users: []inventory.User{
				user("ci", keys(active("AAA1", 50, 1)), iamPath("/service/"), tags("tier", "critical")),
				user("svc", keys(active("BBB1", 50, 1)), iamPath("/service/")),
				user("bob", keys(active("CCC1", 50, 1))),
			},
			rules: func(r *Rules) {
				crit, svc := r.Default, r.Default
				crit.RotateAfter, crit.WarnBefore = 30*Day, 7*Day
				svc.RotateAfter, svc.WarnBefore = 45*Day, 7*Day
				r.Named = []Rule{
					{Name: "critical", Match: Match{Tags: map[string]string{"tier": "critical"}}, Thresholds: crit},
					{Name: "services", Match: Match{Paths: []string{"/service/"}}, Thresholds: svc},
				}
			},
			want: []want{
				{"ci", plan.Rotate, "AAA1", "age 50d >= rotate_after 30d (rule 'critical')"},
				{"svc", plan.Rotate, "BBB1", "age 50d >= rotate_after 45d (rule 'services')"},
			}},

		// Per-user override.
		{name: "override within bounds",
			users: []inventory.User{user("alice", keys(active("AAA1", 35, 1)), tags("keycycle:rotate-after-days", "30"))},
			want:  []want{{"alice", plan.Rotate, "AAA1", "key AKIA...AAA1 age 35d >= rotate_after 30d from tag keycycle:rotate-after-days (rule 'default')"}}},
		{name: "override outside bounds: ignored, warned",
			users: []inventory.User{user("alice", keys(active("AAA1", 95, 1)), tags("keycycle:rotate-after-days", "365"))},
			want: []want{
				{"alice", plan.Rotate, "AAA1", "age 95d >= rotate_after 90d (rule 'default')"},
				{"alice", plan.Warn, "", `tag keycycle:rotate-after-days="365" on user alice is outside the allowed 1d to 90d: ignored, rotate_after stays 90d`},
			}},
		{name: "override of 2^48+1 days does not wrap around to 1 day (issue 11)",
			users: []inventory.User{user("alice", keys(active("AAA1", 5, 1)), tags("keycycle:rotate-after-days", "281474976710657"))},
			want:  []want{{"alice", plan.Warn, "", `tag keycycle:rotate-after-days="281474976710657" on user alice is outside the allowed 1d to 90d: ignored, rotate_after stays 90d`}}},
		{name: "override beyond int64: ignored, warned",
			users: []inventory.User{user("alice", keys(active("AAA1", 5, 1)), tags("keycycle:rotate-after-days", "99999999999999999999999"))},
			want:  []want{{"alice", plan.Warn, "", "on user alice is outside the allowed 1d to 90d"}}},
		{name: "override not a number: ignored, warned",
			users: []inventory.User{user("alice", keys(active("AAA1", 35, 1)), tags("keycycle:rotate-after-days", "thirty"))},
			want:  []want{{"alice", plan.Warn, "", "is not a whole number of days"}}},
		{name: "terraform-sqs tags: opt-in by e-mail tag, CliTimeLimit days",
			users: []inventory.User{
				user("alice", keys(active("AAA1", 35, 1)), tags("IamRotateCredentials:Email", "alice@example.com", "IamRotateCredentials:CliTimeLimit", "30")),
				user("bob", keys(active("BBB1", 95, 1))),
			},
			rules: func(r *Rules) { r.Tags = TerraformSQSTagNames(); r.Selection.Mode = OptIn },
			want: []want{
				{"alice", plan.Rotate, "AAA1", "rotate_after 30d from tag IamRotateCredentials:CliTimeLimit"},
				{"bob", plan.Skip, "BBB1", "opt-in mode and no tag IamRotateCredentials:Email"},
			}},
		{name: "overrides disabled",
			users: []inventory.User{user("alice", keys(active("AAA1", 35, 1)), tags("keycycle:rotate-after-days", "30"))},
			rules: func(r *Rules) { r.Overrides = Overrides{} }},

		// Blast radius.
		{name: "blast-radius cap: later destructive steps and the rotations needing them become skips",
			users: []inventory.User{
				user("ann", keys(active("OLD0", 103, 13), active("NEW1", 12, 1)), rotated("OLD0", "NEW1", 12, never)),
				user("bob", keys(inactive("OLD0", 300, 200), active("BBB1", 95, 1))),
				user("cid", keys(active("OLD0", 103, 13), active("NEW1", 12, 1)), rotated("OLD0", "NEW1", 12, never)),
			},
			rules: func(r *Rules) { r.MaxDestructive = 1 },
			want: []want{
				{"ann", plan.Deactivate, "OLD0", "unused since"},
				{"bob", plan.Skip, "BBB1", "blast-radius cap 1 reached; deferred rotate, it needs key AKIA...OLD0 deleted first: key AKIA...BBB1 age 95d"},
				{"bob", plan.Skip, "OLD0", "blast-radius cap 1 reached; deferred delete: inactive key AKIA...OLD0"},
				{"cid", plan.Skip, "OLD0", "blast-radius cap 1 reached; deferred deactivate"},
			}},
		{name: "no cap",
			users: []inventory.User{
				user("ann", keys(active("OLD0", 103, 13), active("NEW1", 12, 1)), rotated("OLD0", "NEW1", 12, never)),
				user("cid", keys(active("OLD0", 103, 13), active("NEW1", 12, 1)), rotated("OLD0", "NEW1", 12, never)),
			},
			rules: func(r *Rules) { r.MaxDestructive = -1 },
			want: []want{
				{"ann", plan.Deactivate, "OLD0", "unused since"},
				{"cid", plan.Deactivate, "OLD0", "unused since"},
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rules := DefaultRules()
			if tc.rules != nil {
				tc.rules(&rules)
			}
			p := Evaluate([]inventory.Account{{ID: "111111111111", Users: tc.users}}, rules, now)
			got := project(p, tc.want)
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("steps (-want +got):\n%s", diff)
			}
			checkInvariants(t, tc.users, rules, p)
		})
	}
}

// checkInvariants asserts what every plan keeps, whatever the rules: nothing active is deleted
// (I4); a deactivation leaves the user another active key (I2); a key used within the guard
// window is deactivated only by a hard limit (I3); every step says why and under which rule.
func checkInvariants(t *testing.T, users []inventory.User, rules Rules, p plan.Plan) {
	t.Helper()
	byID := map[string]inventory.User{}
	for _, u := range users {
		byID[u.UserID] = u
	}
	deactivations := map[string]int{}
	for _, s := range p.Steps {
		if s.Reason == "" || !strings.Contains(s.Reason, "(rule '"+s.Rule+"')") {
			t.Errorf("step without reason or rule: %+v", s)
		}
		if !s.Code.Valid() {
			t.Errorf("step without a known reason code: %+v", s)
		} else if acts := codeActions[s.Code]; !slices.Contains(acts, s.Action) {
			t.Errorf("code %s on a %s step (it belongs on %v): %s", s.Code, s.Action, acts, s.Reason)
		}
		u := byID[s.UserID]
		if s.Credential == plan.Password {
			checkPasswordStep(t, u, rules, s)
			continue
		}
		if s.Precondition.Login != nil || s.StartsWarning {
			t.Errorf("access key step with a login precondition or a warning: %+v", s)
		}
		var k *inventory.AccessKey
		if s.AccessKeyID != "" {
			if k = u.Key(s.AccessKeyID); k == nil {
				t.Errorf("step on a key the user does not have: %+v", s)
				continue
			}
		}
		switch s.Action {
		case plan.Delete:
			if k.Active() {
				t.Errorf("I4: delete of active key: %s", s.Reason)
			}
			if !k.LastUsedKnown {
				t.Errorf("delete with unknown last use: %s", s.Reason)
			}
		case plan.Deactivate:
			deactivations[s.UserID]++
			others := 0
			for _, o := range u.Keys {
				if o.Active() && o.ID != k.ID {
					others++
				}
			}
			if others == 0 || deactivations[s.UserID] > 1 {
				t.Errorf("I2: deactivation leaves no active key: %s", s.Reason)
			}
			if !k.LastUsedKnown {
				t.Errorf("deactivation with unknown last use: %s", s.Reason)
			}
			_, th := rules.ruleFor(&u)
			if !k.LastUsed.IsZero() && now.Sub(k.LastUsed) < th.GuardWindow && !strings.Contains(s.Reason, "hard_limit") {
				t.Errorf("I3: key used within the guard window deactivated: %s", s.Reason)
			}
		}
	}
}

// codeActions is the action each reason code belongs to: a code names why, so a code on another
// action is a policy mistake.
var codeActions = map[plan.Code][]plan.Action{
	plan.CodeNotSelected: {plan.Skip}, plan.CodeExempt: {plan.Skip}, plan.CodeExemptionUnreadable: {plan.Warn},
	plan.CodeExemptionExpired: {plan.Warn}, plan.CodeOverrideIgnored: {plan.Warn}, plan.CodeTagUnreadable: {plan.Warn},
	plan.CodeKeysUnknown: {plan.Skip}, plan.CodeCapReached: {plan.Skip}, plan.CodeLeaseHeld: {plan.Skip},
	plan.CodeResumeRotation: {plan.Rotate}, plan.CodeOrphanKey: {plan.Rotate}, plan.CodeStaleIntent: {plan.Warn},
	plan.CodeLastUseUnknown: {plan.Skip}, plan.CodeAgeUnknown: {plan.Skip}, plan.CodeLoginUnknown: {plan.Skip},
	plan.CodeKeyAgeDue: {plan.Rotate}, plan.CodeRotationUpcoming: {plan.Warn}, plan.CodeMakeRoom: {plan.Delete},
	plan.CodeNoRoom: {plan.Blocked}, plan.CodeAwaitingRetirement: {plan.Blocked}, plan.CodeTwoActiveKeys: {plan.Blocked},
	plan.CodeTwoActiveKeysIdle: {plan.Deactivate}, plan.CodeOldKeyGrace: {plan.Skip}, plan.CodeOldKeyInUse: {plan.Warn},
	plan.CodeOldKeyIdle: {plan.Deactivate}, plan.CodeOldKeyReactivated: {plan.Warn}, plan.CodeNewKeyInactive: {plan.Warn},
	plan.CodeHardLimit: {plan.Deactivate}, plan.CodeInactiveKeyUsed: {plan.Warn}, plan.CodeInactiveWaiting: {plan.Skip},
	plan.CodeInactiveDeleteAfter: {plan.Delete}, plan.CodePasswordAgeDue: {plan.Rotate}, plan.CodeConsoleUnused: {plan.Warn},
	plan.CodeConsoleRemovalDue: {plan.Delete}, plan.CodeMFAMissing: {plan.Warn}, plan.CodeForced: {plan.Deactivate},
}

func TestCodeActionsCoverEveryCode(t *testing.T) {
	if len(codeActions) != len(plan.Codes) {
		t.Errorf("codeActions has %d codes, plan.Codes %d: add the new code to both", len(codeActions), len(plan.Codes))
	}
}

// TestCodes checks the code of the decisions programs act on (notifications tell an old key in
// use from an upcoming rotation by it), whatever the wording of the reason.
func TestCodes(t *testing.T) {
	tests := []struct {
		name  string
		users []inventory.User
		rules func(*Rules)
		want  []plan.Code // in plan order
	}{
		{"due", []inventory.User{user("alice", keys(active("AAA1", 93, 1)))}, nil, []plan.Code{plan.CodeKeyAgeDue}},
		{"warn lead", []inventory.User{user("alice", keys(active("AAA1", 80, 1)))}, nil, []plan.Code{plan.CodeRotationUpcoming}},
		{"make room", []inventory.User{user("alice", keys(inactive("OLD0", 200, 100), active("AAA1", 93, 1)))}, nil,
			[]plan.Code{plan.CodeMakeRoom, plan.CodeKeyAgeDue}},
		{"recorded inactive key past delete_after", []inventory.User{user("alice", keys(inactive("OLD0", 120, 25), active("AAA1", 93, 1)), rotated("OLD0", "AAA1", 93, 12))}, nil,
			[]plan.Code{plan.CodeInactiveDeleteAfter, plan.CodeKeyAgeDue}},
		{"old key in use", []inventory.User{user("bob", keys(active("OLD0", 100, 0.5), active("NEW1", 10, 1)), rotated("OLD0", "NEW1", 10, never))}, nil,
			[]plan.Code{plan.CodeOldKeyInUse}},
		{"old key idle", []inventory.User{user("bob", keys(active("OLD0", 100, 50), active("NEW1", 20, 1)), rotated("OLD0", "NEW1", 20, never))}, nil,
			[]plan.Code{plan.CodeOldKeyIdle}},
		{"two active keys", []inventory.User{user("carl", keys(active("AAA1", 100, 1), active("BBB2", 95, 1)))}, nil,
			[]plan.Code{plan.CodeTwoActiveKeys}},
		{"exempt", []inventory.User{user("dora", keys(active("AAA1", 100, 1)), tags("keycycle:exempt", "legacy"))}, nil,
			[]plan.Code{plan.CodeExempt}},
		{"keys unknown", []inventory.User{func() inventory.User {
			u := user("eve")
			u.KeysKnown, u.Unknown = false, "ListAccessKeys: AccessDenied"
			return u
		}()}, nil, []plan.Code{plan.CodeKeysUnknown}},
		{"cap reached", []inventory.User{user("bob", keys(active("OLD0", 100, 50), active("NEW1", 20, 1)), rotated("OLD0", "NEW1", 20, never))},
			func(r *Rules) { r.MaxDestructive = 0 }, []plan.Code{plan.CodeCapReached}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rules := DefaultRules()
			if tc.rules != nil {
				tc.rules(&rules)
			}
			p := Evaluate([]inventory.Account{{ID: "111111111111", Users: tc.users}}, rules, now)
			var got []plan.Code
			for _, s := range p.Steps {
				got = append(got, s.Code)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("codes (-want +got):\n%s\nplan: %+v", diff, p.Steps)
			}
			checkInvariants(t, tc.users, rules, p)
		})
	}
}
