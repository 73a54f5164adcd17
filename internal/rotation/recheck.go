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
	u := inventory.User{Name: st.User, UserID: s.userID, ARN: s.arn, Path: s.path, Tags: s.tags}
	if e.Groups != nil {
		// Read once per user and Apply: a user's steps follow each other within moments.
		if g, ok := e.groups.Load(st.User); ok {
			u.Groups = g.([]string)
		} else {
			g, err := e.Groups(ctx, st.User)
			if err != nil {
				return Result{Step: st, Outcome: Failed, Detail: "cannot re-read the user's groups to re-evaluate the policy; nothing changed", Err: err}, false
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
