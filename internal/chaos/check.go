package chaos

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/keycycle/keycycle/internal/audit"
	"github.com/keycycle/keycycle/internal/inventory"
)

// check asserts the invariants over one round: before and after are the sandbox's users around
// the round's runs, outs what the runs wrote.
func (h *harness) check(idx int, rd Round, before, after map[string]userState, outs []*runOut) {
	now := h.sb.Clock().Now()
	th := h.s.Rules.Default
	for _, u := range h.users {
		b, a := before[u], after[u]
		exempt := h.exempt(u)
		// I2: a user who had a working key still has one.
		if working(b) && !working(a) {
			h.violate("I2", idx, "user %q had a working active key and has none now: %s", u, keysText(a))
		}
		for _, k := range a.Keys {
			if _, seen := h.deactivated[k.AccessKeyID]; seen || k.Status != "Inactive" {
				continue
			}
			if bk, ok := b.key(k.AccessKeyID); ok && bk.Status == "Active" {
				h.deactivated[k.AccessKeyID] = now
				// I3: no key used within the guard window is deactivated, unless a hard limit says so.
				hard := th.HardLimit > 0 && now.Sub(k.CreateDate) >= th.HardLimit
				if !k.LastUsed.IsZero() && now.Sub(k.LastUsed) < th.GuardWindow && !hard {
					h.violate("I3", idx, "user %q: key %s used %s ago was deactivated (guard window %s)", u, k.AccessKeyID, now.Sub(k.LastUsed), th.GuardWindow)
				}
				// The last-use guard: an old key used after its replacement was delivered stays.
				if r, err := inventory.ParseRotationRecord(a.Tags[inventory.RotatedTag(h.s.Rules.Tags.StatePrefix)]); err == nil &&
					r.Old.Raw() == k.AccessKeyID && k.LastUsed.After(r.At) && !hard {
					h.violate("I3", idx, "user %q: key %s used %s, after its replacement was delivered %s, was deactivated", u, k.AccessKeyID, k.LastUsed, r.At)
				}
				if exempt {
					h.violate("I8", idx, "exempt user %q: key %s was deactivated", u, k.AccessKeyID)
				}
			}
		}
		for _, k := range b.Keys {
			if _, ok := a.key(k.AccessKeyID); ok {
				continue
			}
			// I4: nothing active is deleted, but a key keycycle created and never delivered (an
			// orphan whose secret is in no sink, or a rotation's new key still AWSPENDING that the
			// protocol gives up); deletes follow keycycle's deactivation and its grace.
			switch {
			case exempt:
				h.violate("I8", idx, "exempt user %q: key %s was deleted", u, k.AccessKeyID)
			case k.Status == "Active" && (h.seeded[k.AccessKeyID] || k.Delivered):
				h.violate("I4", idx, "user %q: active key %s (delivered in the sink: %t) was deleted", u, k.AccessKeyID, k.Delivered)
			case k.Status == "Inactive" && !h.seeded[k.AccessKeyID] && !h.delivered[k.AccessKeyID]:
				// A key keycycle created and never delivered (no snapshot saw its secret promoted),
				// deactivated by a rollback that could not delete it: the orphan's cleanup deletes it
				// without a grace (no consumer ever had it).
			case k.Status == "Inactive":
				at, ok := h.deactivated[k.AccessKeyID]
				idle := k.LastUsed
				if idle.IsZero() {
					idle = k.CreateDate
				}
				// The policy may delete an inactive key it never deactivated only when it has been
				// idle for delete_after, to make room for a rotation.
				if !ok && now.Sub(idle) < th.DeleteAfter {
					h.violate("I4", idx, "user %q: inactive key %s that keycycle never deactivated, idle %s, was deleted", u, k.AccessKeyID, now.Sub(idle))
				} else if ok && now.Sub(at) < th.DeleteAfter {
					h.violate("I4", idx, "user %q: key %s deleted %s after its deactivation (delete_after %s)", u, k.AccessKeyID, now.Sub(at), th.DeleteAfter)
				}
			}
		}
		// I7: concurrent runs never rotate the same user twice: at most one new key per round
		// ends up delivered and active.
		fresh := 0
		for _, k := range a.Keys {
			if _, old := b.key(k.AccessKeyID); !old && k.Status == "Active" && k.Stored {
				fresh++
			}
			if _, old := b.key(k.AccessKeyID); !old && exempt {
				h.violate("I8", idx, "exempt user %q: key %s was created", u, k.AccessKeyID)
			}
		}
		if fresh > 1 {
			h.violate("I7", idx, "user %q was rotated %d times in one round: %s", u, fresh, keysText(a))
		}
		// I1, checked after a clean run: every active key keycycle created has its secret in the
		// primary sink.
		if rd.Clean {
			for _, k := range a.Keys {
				if !h.seeded[k.AccessKeyID] && k.Status == "Active" && !k.Stored {
					h.violate("I1", idx, "user %q: key %s that keycycle created is active and its secret is in no sink (tags %q)", u, k.AccessKeyID, a.Tags)
				}
			}
		}
	}
	// Completions in the audit trails: distinct new keys per user (a run that resumes another's
	// rotation completes the same key), and password changes per user.
	completions := map[string]map[string]bool{}
	for i, o := range outs {
		sc := bufio.NewScanner(bytes.NewReader(o.audit.Bytes()))
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			var rec audit.Record
			if json.Unmarshal(sc.Bytes(), &rec) != nil || (rec.Event != "rotation_completed" && rec.Event != "password_rotated") {
				continue
			}
			what, which := rec.Event+" of "+rec.User, rec.NewKeyID
			if rec.Event == "password_rotated" {
				which = fmt.Sprint("run ", i)
			}
			if completions[what] == nil {
				completions[what] = map[string]bool{}
			}
			completions[what][which] = true
		}
	}
	for what, set := range completions {
		if n := len(set); n > 1 && len(outs) > 1 {
			h.violate("I7", idx, "%s recorded %d times by concurrent runs", what, n)
		}
	}
	h.checkSecrets(idx, outs)
}

// exempt reports whether the scenario exempts the user for the whole schedule (an exemption tag
// without an end date, or the exemption group).
func (h *harness) exempt(user string) bool {
	for _, u := range h.s.Scenario.Accounts[0].Users {
		if u.Name != user {
			continue
		}
		if v, ok := u.Tags["keycycle:exempt"]; ok && !strings.Contains(v, "until=") {
			return true
		}
		for _, g := range u.Groups {
			if g == "IAMKeyRotationExemptionGroup" {
				return true
			}
		}
	}
	return false
}

// working: the user has an active key whose secret its consumer holds (seeded with the user, or
// delivered to the primary sink).
func working(u userState) bool {
	for _, k := range u.Keys {
		if k.Status == "Active" && (k.SecretAccessKey != "" || k.Stored) {
			return true
		}
	}
	return false
}

func keysText(u userState) string {
	var b strings.Builder
	for _, k := range u.Keys {
		b.WriteString(k.AccessKeyID + ":" + k.Status)
		if k.Stored {
			b.WriteString("(stored)")
		}
		b.WriteString(" ")
	}
	return strings.TrimSpace(b.String())
}

// checkSecrets asserts I6: no secret the sandbox issued or was given (keys, sessions, passwords)
// appears, whole or as a 20-character head or tail, in any byte the runs wrote (output, logs,
// audit, plans) or the sandbox sent out (mails, SNS, SQS, webhooks, Lambda payloads).
func (h *harness) checkSecrets(idx int, outs []*runOut) {
	var hay [][]byte
	for _, o := range outs {
		hay = append(hay, o.out.Bytes(), o.logs.Bytes(), o.audit.Bytes())
	}
	box, _ := json.Marshal(h.sb.Outbox())
	hay = append(hay, box)
	h.sb.ClearOutbox()
	for _, sec := range h.sb.IssuedSecrets() {
		needles := []string{sec}
		if len(sec) >= 30 {
			needles = append(needles, sec[:20], sec[len(sec)-20:])
		}
		for _, b := range hay {
			for _, n := range needles {
				if i := bytes.Index(b, []byte(n)); i >= 0 {
					lo, hi := max(0, i-60), min(len(b), i+len(n)+20)
					ctx := strings.ReplaceAll(string(b[lo:hi]), n, "<SECRET>")
					h.violate("I6", idx, "a secret is in the output: ...%s...", ctx)
					return
				}
			}
		}
	}
}
