package rotation

import (
	"context"
	"fmt"
	"strings"

	"github.com/keycycle/keycycle/internal/audit"
	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/plan"
)

// recheck is the plan-as-upper-bound rule (DESIGN.md, I8): a step of a saved plan or a queue
// message is carried out only when the current policy (e.Policy), evaluated on the fresh read s
// the step starts from, plans the same action on the same credential now. ok false: the Refused
// result, with the policy's own words for what it plans instead. Without e.Policy every step is
// allowed (tests of the protocol alone).
//
// The fresh read of a key step holds only the last use the step needs (calls.go). A key whose
// last use is unknown only ever makes the policy more careful (it neither deactivates, deletes
// nor counts the key as working), so a step the policy allows on that read it also allows on a
// fuller one; when it does not, the missing last uses are read and the policy asked again.
func (e *Executor) recheck(ctx context.Context, st plan.Step, s state) (Result, bool) {
	if e.Policy == nil {
		return Result{}, true
	}
	u, fail := e.liveUser(ctx, st, s)
	if fail != nil {
		return *fail, false
	}
	now, why := e.allowed(st, u)
	if now == nil {
		return Result{}, true
	}
	if st.Credential == plan.AccessKey && e.LastUse != nil {
		filled := false
		for i := range u.Keys {
			if !u.Keys[i].LastUsedKnown {
				if err := e.LastUse(ctx, st.User, &u.Keys[i]); err != nil {
					return Result{Step: st, Outcome: Failed, Detail: "cannot re-read a key's last use to re-evaluate the policy; nothing changed", Err: err}, false
				}
				filled = true
			}
		}
		if filled {
			if now, why = e.allowed(st, u); now == nil {
				return Result{}, true
			}
		}
	}
	detail := "refused: the plan asks to " + string(st.Action) + " " + credentialName(st) + ", but the current policy, on the user's live state, " + why
	e.audit(st, "", "refused_by_policy", Refused, func(r *audit.Record) { r.Reason = detail })
	return Result{Step: st, Outcome: Refused, Detail: detail}, false
}

// allowed evaluates the policy on u; nil when it plans st's action on st's credential now, else
// the steps it plans for that credential and why not, in words.
func (e *Executor) allowed(st plan.Step, u inventory.User) ([]plan.Step, string) {
	var same []plan.Step
	for _, p := range e.Policy(u) {
		if p.Credential != st.Credential || p.User != st.User {
			continue
		}
		if st.Credential == plan.AccessKey && p.AccessKeyID != st.AccessKeyID {
			continue
		}
		if p.Action == st.Action && p.Changes() == st.Changes() {
			return nil, ""
		}
		same = append(same, p)
	}
	if len(same) == 0 {
		return []plan.Step{}, "plans nothing for it"
	}
	return same, fmt.Sprintf("plans %s: %s", same[0].Action, same[0].Reason)
}

func credentialName(st plan.Step) string {
	if st.Credential == plan.Password {
		return "the console password"
	}
	return "key " + st.AccessKeyID.String()
}

// SummaryExtra is the line a results summary adds for the outcomes of leases and the
// plan-as-upper-bound rule, "" when there were none: "Also: 1 refused by the current policy, 2 left
// to another run (lease)."
func SummaryExtra(counts map[Outcome]int) string {
	var parts []string
	if n := counts[Refused]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d refused by the current policy", n))
	}
	if n := counts[Busy]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d left to another run (lease)", n))
	}
	if len(parts) == 0 {
		return ""
	}
	return "Also: " + strings.Join(parts, ", ") + "."
}

// liveUser is the user as the policy sees it on the fresh read s of step st: keys or login
// profile (whichever st is about), tags, path and groups (read once per user and Apply).
func (e *Executor) liveUser(ctx context.Context, st plan.Step, s state) (inventory.User, *Result) {
	u := inventory.User{Name: st.User, UserID: s.userID, ARN: s.arn, Path: s.path, Tags: s.tags}
	if e.Groups != nil {
		// Read once per user and Apply: a user's steps follow each other within moments.
		if g, ok := e.groups.Load(st.User); ok {
			u.Groups = g.([]string)
		} else {
			g, err := e.Groups(ctx, st.User)
			if err != nil {
				return u, &Result{Step: st, Outcome: Failed, Detail: "cannot re-read the user's groups to re-evaluate the policy; nothing changed", Err: err}
			}
			e.groups.Store(st.User, g)
			u.Groups = g
		}
	}
	if st.Credential == plan.Password {
		u.Login, u.LoginKnown = s.login, true
		u.KeysKnown, u.Unknown = false, "not read for a password step"
	} else {
		u.Keys, u.KeysKnown = append([]inventory.AccessKey(nil), s.keys...), true
		u.LoginKnown, u.LoginUnknown = false, "not read for an access key step"
	}
	inventory.SortKeys(u.Keys)
	return u, nil
}

// makeRoom carries out, before a rotation decided on the credential report, the deletion the
// current policy plans to make room for it when the fresh read s shows an inactive key the report
// did not list (a key never used has N/A in every column of its slot, AWS-FACTS, so no plan made
// from the report can name it; without this the user would never be rotated). Only a deletion the
// policy itself plans on the live state, of an inactive key, for this rotation: the executor's
// checks of a deletion hold (I4). It returns the read with the key gone (or, in a dry run, as if
// gone) and words for the result; a failed deletion is the rotation's result.
func (e *Executor) makeRoom(ctx context.Context, st plan.Step, s state) (state, string, *Result) {
	if e.Policy == nil || st.Action != plan.Rotate || st.Credential != plan.AccessKey {
		return s, "", nil
	}
	known := map[inventory.KeyID]bool{}
	for _, k := range st.Precondition.Keys {
		known[k.ID] = true
	}
	hidden := map[inventory.KeyID]bool{}
	for i := range s.keys {
		k := &s.keys[i]
		if known[k.ID] || k.Active() {
			continue
		}
		if !k.LastUsedKnown && e.LastUse != nil {
			if err := e.LastUse(ctx, st.User, k); err != nil {
				return s, "", &Result{Step: st, Outcome: Failed, Detail: "cannot read the last use of an inactive key the credential report did not list; nothing changed", Err: err}
			}
		}
		// Only a key the report cannot show: inactive and never used. An inactive key that was
		// used (one deactivated since the report, by keycycle or a person) is a change the
		// policy decides on (recheck), never a deletion made here.
		if k.LastUsedKnown && k.LastUsed.IsZero() {
			hidden[k.ID] = true
		}
	}
	if len(hidden) == 0 {
		return s, "", nil
	}
	u, fail := e.liveUser(ctx, st, s)
	if fail != nil {
		return s, "", fail
	}
	var del *plan.Step
	rotates := false
	for _, p := range e.Policy(u) {
		switch {
		case p.Credential != plan.AccessKey:
		case p.Action == plan.Delete && hidden[p.AccessKeyID] && del == nil:
			d := p
			del = &d
		case p.Action == plan.Rotate && p.AccessKeyID == st.AccessKeyID:
			rotates = true
		}
	}
	if del == nil || !rotates {
		return s, "", nil // the policy decides (recheck): blocked for no room, or something else
	}
	del.Reason += " (the credential report does not list it)"
	r := e.delete(ctx, *del, s)
	switch r.Outcome {
	case Done, DryRun, Stale:
	default:
		r.Step = st
		r.Detail = "could not make room: " + r.Detail
		return s, "", &r
	}
	rest := make([]inventory.AccessKey, 0, len(s.keys))
	for _, k := range s.keys {
		if k.ID != del.AccessKeyID {
			rest = append(rest, k)
		}
	}
	s.keys = rest
	if e.DryRun {
		return s, "would first delete inactive key " + del.AccessKeyID.String() + ", which the credential report does not list, to make room; ", nil
	}
	return s, "deleted inactive key " + del.AccessKeyID.String() + " first, which the credential report does not list, to make room; ", nil
}
