package rotation

import (
	"context"

	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/plan"
)

// readFor is the fresh read a key step starts from, with no more calls than the step needs
// (docs/benchmarks.md, "API calls per step"): the user and its tags (GetUser) and its keys
// (ListAccessKeys), and the last use (GetAccessKeyLastUsed) of the key a deactivation or
// deletion acts on, which guards it (I3) and makes the step stale when the key was used since
// the plan. A rotation needs no last use: it stays due however often the old key is used.
// Without ListKeys and LastUse every key's last use is read (Keys).
//
// A deactivation takes the user and its tags from Scanned when that has a moment-old read (the
// plan's scan, right before this apply) instead of GetUser: the keys and the key's last use it
// acts on are still read fresh, and they are what can change under it. Another run cannot be
// rotating a user with two active keys (no room; docs/reliability.md, "Deactivations take the
// user from the plan's scan"), and the deactivation writes a record of its own
// (keycycle:deactivated) that no other tag's value is built into.
func (e *Executor) readFor(ctx context.Context, st plan.Step) (state, error) {
	if st.Action == plan.Deactivate && e.Scanned != nil {
		if u, ok := e.Scanned(st.User); ok {
			s := state{userID: u.UserID, arn: u.ARN, path: u.Path, tags: make(map[string]string, len(u.Tags))}
			for k, v := range u.Tags {
				s.tags[k] = v
			}
			return e.readKeysFor(ctx, st, s)
		}
	}
	if e.ListKeys == nil || e.LastUse == nil {
		return e.read(ctx, st.User)
	}
	s, err := e.readUser(ctx, st.User, false)
	if err != nil {
		return state{}, err
	}
	return e.readKeysFor(ctx, st, s)
}

// readKeysFor completes s, the user read for st, with its keys and the last use st needs.
func (e *Executor) readKeysFor(ctx context.Context, st plan.Step, s state) (state, error) {
	var err error
	if e.ListKeys == nil || e.LastUse == nil {
		if s.keys, err = e.Keys(ctx, st.User); err != nil {
			return state{}, err
		}
		return s, nil
	}
	if s.keys, err = e.ListKeys(ctx, st.User); err != nil {
		return state{}, err
	}
	if st.Action == plan.Deactivate || st.Action == plan.Delete {
		if k := s.key(st.AccessKeyID); k != nil {
			if err := e.LastUse(ctx, st.User, k); err != nil {
				return state{}, err
			}
		}
	}
	return s, nil
}

// fromReport reports whether a step was decided on the credential report alone: its key, or a
// key of its precondition, is a placeholder (inventory.ReportKeyID) that names no real key.
func fromReport(st plan.Step) bool {
	if st.AccessKeyID.FromReport() {
		return true
	}
	for _, k := range st.Precondition.Keys {
		if k.ID.FromReport() {
			return true
		}
	}
	return false
}

// resolve turns the placeholders of a step decided on the credential report into the ids of the
// fresh keys they describe, and says why not when it cannot: the report's keys must match the
// fresh ones one to one, by status and, where the report gives it, creation time (an active
// key's last_rotated is its creation). Ids this run already resolved for the user come first.
// The resolved step then passes every check a step planned on fresh reads does (precondition,
// last-use guard, no lockout, room), on the same fresh read.
func resolve(st plan.Step, fresh []inventory.AccessKey, known map[inventory.KeyID]inventory.KeyID) (plan.Step, string) {
	out := st
	out.Precondition.Keys = append([]plan.KeyState(nil), st.Precondition.Keys...)
	used := map[inventory.KeyID]bool{}
	for i, k := range out.Precondition.Keys {
		if id, ok := known[k.ID]; ok {
			out.Precondition.Keys[i].ID = id
		}
		if !out.Precondition.Keys[i].ID.FromReport() {
			used[out.Precondition.Keys[i].ID] = true
		}
	}
	if id, ok := known[out.AccessKeyID]; ok {
		out.AccessKeyID = id
	}
	for i, k := range out.Precondition.Keys {
		if !k.ID.FromReport() {
			continue
		}
		var match inventory.KeyID
		for _, f := range fresh {
			if used[f.ID] || f.Status != k.Status || (!k.Created.IsZero() && !f.Created.Equal(k.Created)) {
				continue
			}
			if match != "" {
				return st, "the credential report's key " + k.ID.String() + " matches two of the user's keys"
			}
			match = f.ID
		}
		if match == "" {
			return st, "the user's keys changed since the credential report (no key matches its " + k.ID.String() + ")"
		}
		used[match] = true
		known[k.ID] = match
		if out.AccessKeyID == k.ID {
			out.AccessKeyID = match
		}
		out.Precondition.Keys[i].ID = match
	}
	if out.AccessKeyID.FromReport() {
		return st, "the step's key " + st.AccessKeyID.String() + " is not among the keys the plan saw"
	}
	return out, ""
}
