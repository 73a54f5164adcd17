package rotation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/keycycle/keycycle/internal/audit"
	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/secret"
)

// rotate runs the protocol of DESIGN.md for the key st.AccessKeyID:
// intent and record -> CreateAccessKey -> stage in every sink -> verify -> promote every sink ->
// completion. The intent and the rotation record are written in one TagUser at the start, and
// the completion is the removal of the intent (one UntagUser): one TagUser per rotation, the
// action IAM throttles hardest on this path (docs/benchmarks.md). Until the primary sink holds
// the new secret, any failure deletes the new key again (I1); a required sink's failure deletes
// it too, after undoing what the other sinks can undo.
func (e *Executor) rotate(ctx context.Context, st plan.Step, s state) Result {
	ds, err := e.deliveries(st)
	if err != nil {
		return Result{Step: st, Outcome: Blocked, Detail: "refused: the delivery configuration is unusable; nothing changed", Err: err}
	}
	if why := CheckNames(ds, secret.AccessKey{AccountID: e.AccountID, UserName: st.User, UserARN: s.arn, Tags: s.tags}); why != "" {
		e.audit(st, "", "name_unholdable", Blocked, func(r *audit.Record) { r.Reason = why })
		return Result{Step: st, Outcome: Blocked, Detail: "refused, nothing changed: " + why}
	}
	if raw, pending := s.tags[inventory.IntentTag(e.StatePrefix)]; pending {
		// The lease expired (step checked it): the rotation that wrote it was interrupted.
		intent, err := inventory.ParseRotationIntent(raw)
		if err != nil {
			return Result{Step: st, Outcome: Blocked, Detail: "unreadable rotation intent tag; inspect and remove it by hand", Err: err}
		}
		r, done := e.recover(ctx, st, s, ds, intent, raw)
		if done {
			return r
		}
		if s, err = e.read(ctx, st.User); err != nil {
			return Result{Step: st, Outcome: Failed, Detail: "cannot re-read the user after recovery; nothing more changed", Err: err}
		}
	} else if orphan := e.orphan(ctx, st, s); orphan != nil && e.DryRun {
		return Result{Step: st, Outcome: DryRun, Detail: "would recover the orphan key " + orphan.ID.String() + " (deleted unless the primary sink holds it), then rotate: " + st.Reason}
	} else if orphan != nil {
		// A key no record explains: the intent of the rotation that created it was lost.
		r, done := e.recoverOrphan(ctx, st, s, ds, *orphan)
		if done {
			return r
		}
		var err error
		if s, err = e.read(ctx, st.User); err != nil {
			return Result{Step: st, Outcome: Failed, Detail: "cannot re-read the user after recovery; nothing more changed", Err: err}
		}
	}
	old := s.key(st.AccessKeyID)
	if old == nil || !old.Active() {
		return Result{Step: st, Outcome: Stale, Detail: "the key to replace is no longer active"}
	}
	if len(s.keys) >= 2 {
		e.audit(st, "", "no_room", Blocked, nil)
		return Result{Step: st, Outcome: Blocked, Detail: fmt.Sprintf("no room for a new key: the user has %d keys (%v); IAM allows 2", len(s.keys), sortedIDs(s.keys))}
	}
	if e.DryRun {
		probe := secret.AccessKey{AccountID: e.AccountID, UserName: st.User, UserARN: s.arn, Tags: s.tags}
		d := keyDelivery(ds, probe, SinkDryRun)
		return Result{Step: st, Outcome: DryRun, Detail: "would rotate: " + st.Reason, Location: d.res[0].Location, Sinks: d.res}
	}

	// 2. Record intent, with the rotation record (inventory.RotationRecord written at the start);
	// the intent doubles as a lock between concurrent runs (the 2-key quota is the last guard).
	prev := s.tags[inventory.RotatedTag(e.StatePrefix)]
	intent, r, ok := e.startRotation(ctx, st, old.ID)
	if !ok {
		return r
	}
	rotationID := e.RunID + "/" + st.User

	// 3. Create the new key.
	out, err := e.IAM.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(st.User)})
	if err != nil {
		var limit *iamtypes.LimitExceededException
		if errors.As(err, &limit) {
			if k := e.appeared(ctx, st.User, s.keys); k != nil && e.recordedNew(ctx, st.User) == *k {
				// The other run already completed its rotation: nothing to guard.
				e.clearIntent(ctx, st.User, intent)
				why := "another keycycle run rotated this user meanwhile (new key " + k.String() + "); nothing changed"
				e.audit(st, rotationID, "concurrent_rotation", Stale, func(r *audit.Record) { r.Reason = why })
				return Result{Step: st, Outcome: Stale, Detail: why}
			} else if k != nil {
				// Another run wrote its intent just before ours and created this key: our
				// intent, in place of its own, now guards that key. It is left until the other
				// run completes (and removes it) or its lease expires and a later run recovers
				// the key; clearing it would leave that key recorded nowhere (I1).
				why := "another keycycle run created key " + k.String() + " for this user meanwhile; left to it (this run's lease guards it)"
				e.audit(st, rotationID, "concurrent_rotation", Busy, func(r *audit.Record) { r.Reason = why })
				return Result{Step: st, Outcome: Busy, Detail: why}
			}
			e.abandon(ctx, st.User, intent, prev)
			e.audit(st, rotationID, "no_room", Blocked, func(r *audit.Record) { r.Error = err.Error() })
			return Result{Step: st, Outcome: Blocked, Detail: "IAM refused a new key: the user already has 2 (another rotation in progress?)", Err: err}
		}
		e.abandon(ctx, st.User, intent, prev)
		e.audit(st, rotationID, "create_failed", Failed, func(r *audit.Record) { r.Error = err.Error() })
		return Result{Step: st, Outcome: Failed, Detail: "CreateAccessKey failed; nothing changed", Err: fmt.Errorf("create access key for %s/%s: %w", e.AccountID, st.User, err)}
	}
	k := secret.AccessKey{AccountID: e.AccountID, UserName: st.User, UserARN: s.arn,
		KeyID: inventory.KeyID(aws.ToString(out.AccessKey.AccessKeyId)), Secret: secret.New(aws.ToString(out.AccessKey.SecretAccessKey)),
		Created: aws.ToTime(out.AccessKey.CreateDate), Tags: s.tags, Replaces: old.ID}
	out = nil // the only other copy of the secret is in k now
	e.audit(st, rotationID, "key_created", Done, func(r *audit.Record) { r.NewKeyID = k.KeyID.Raw() })

	// 4. Stage in every sink, the primary first. Until the primary holds it, the secret exists
	// only in memory.
	kr := &keyRotation{st: st, id: rotationID, intent: intent, k: k, d: keyDelivery(ds, k, SinkNotTried), recorded: true, prev: prev}
	if err := e.stage(ctx, st, rotationID, kr.d, 0); err != nil {
		return e.rollback(ctx, kr, "delivery to a required sink failed", err)
	}

	// 5. Prove the new key works.
	if err := e.Verifier.Verify(ctx, k.KeyID, k.Secret); err != nil {
		return e.rollback(ctx, kr, "the new key did not authenticate", err)
	}
	e.audit(st, rotationID, "key_verified", Done, func(r *audit.Record) { r.NewKeyID = k.KeyID.Raw() })
	return e.finish(ctx, kr, Done)
}

// keyRotation is one access key rotation in flight: what finish and rollback act on.
type keyRotation struct {
	st     plan.Step
	id     string // the rotation id of its audit records
	intent string // the intent tag value this run holds on the user
	k      secret.AccessKey
	d      *delivery
	// recorded: the rotation record was written with the intent (startRotation), so removing
	// the intent completes the rotation; prev is the record it replaced ("" when none), put back
	// when the rotation is rolled back.
	recorded bool
	prev     string
}

// finish promotes every sink and records the completion: the removal of the intent when the
// rotation record was written with it, else a completion record (with the new key) first. A
// failure of the primary sink or of the completion leaves the intent in place: the secret is
// stored and the key works, so the next run resumes instead of rolling back. A failure of another
// required sink rolls back.
func (e *Executor) finish(ctx context.Context, kr *keyRotation, outcome Outcome) Result {
	st, rotationID, intent, k, d := kr.st, kr.id, kr.intent, kr.k, kr.d
	loc := d.res[0].Location
	if f := e.promote(ctx, st, rotationID, d); f != nil {
		if f.index == 0 {
			e.release(ctx, st.User, intent)
			e.audit(st, rotationID, "promote_failed", Failed, func(r *audit.Record) {
				r.NewKeyID, r.Error, r.Sinks = k.KeyID.Raw(), f.err.Error(), auditSinks(d.res)
			})
			return Result{Step: st, Outcome: Failed, NewKeyID: k.KeyID, Location: loc, Sinks: d.res,
				Detail: "new key stored as pending in " + loc + " but not promoted; the next apply resumes", Err: f.err}
		}
		return e.rollback(ctx, kr, "delivery to required sink "+d.res[f.index].Name+" failed", f.err)
	}
	var err error
	if !kr.recorded {
		rec := inventory.RotationRecord{At: e.Now().UTC(), Old: st.AccessKeyID, New: k.KeyID}
		err = e.retry(ctx, func() error {
			_, err := e.IAM.TagUser(ctx, &iam.TagUserInput{UserName: aws.String(st.User), Tags: []iamtypes.Tag{{Key: aws.String(inventory.RotatedTag(e.StatePrefix)), Value: aws.String(rec.TagValue())}}})
			return err
		})
	} else {
		// The removal of the intent is the completion: the record is on the user since the start.
		// The intent was confirmed ours right after it was written; no other run takes it over
		// while it is live, so it is removed without reading it again.
		err = e.untagErr(ctx, st.User, append([]string{inventory.IntentTag(e.StatePrefix)}, d.ledgerTags(e.StatePrefix)...)...)
	}
	if err != nil {
		e.release(ctx, st.User, intent)
		e.audit(st, rotationID, "record_failed", Failed, func(r *audit.Record) { r.NewKeyID = k.KeyID.Raw(); r.Error = err.Error() })
		return Result{Step: st, Outcome: Failed, NewKeyID: k.KeyID, Location: loc, Sinks: d.res,
			Detail: "new key delivered to " + loc + " but the completion record failed; the next apply records it", Err: err}
	}
	if !kr.recorded {
		// As above: the intent, confirmed ours, is removed without reading it again.
		e.untag(ctx, st.User, append([]string{inventory.IntentTag(e.StatePrefix)}, d.ledgerTags(e.StatePrefix)...)...)
	}
	e.audit(st, rotationID, "rotation_completed", outcome, func(r *audit.Record) {
		r.NewKeyID, r.Sink, r.Reason, r.Sinks = k.KeyID.Raw(), d.res[0].Name, st.Reason, auditSinks(d.res)
	})
	detail := "rotated: new key delivered to " + loc
	if f := d.failedOptional(); len(f) > 0 {
		detail += "; optional delivery failed: " + strings.Join(f, ", ")
	}
	return Result{Step: st, Outcome: outcome, NewKeyID: k.KeyID, Location: loc, Sinks: d.res, Detail: detail}
}

// ledgerTags is the delivery record tag when this rotation may have one.
func (d *delivery) ledgerTags(prefix string) []string {
	if d.led.Key == "" {
		return nil
	}
	return []string{inventory.DeliveredTag(prefix)}
}

// rollback undoes a rotation whose key is not (usably) delivered: undo what the sinks can undo,
// delete the new key, clear the intent. The old key was never touched.
func (e *Executor) rollback(ctx context.Context, kr *keyRotation, why string, cause error) Result {
	st, k, d := kr.st, kr.k, kr.d
	abortErr := e.abort(ctx, d)
	delErr := e.removeKey(ctx, st.User, k.KeyID)
	if delErr == nil && kr.recorded {
		e.abandon(ctx, st.User, kr.intent, kr.prev, d.ledgerTags(e.StatePrefix)...)
	} else if delErr == nil {
		e.clearIntent(ctx, st.User, kr.intent, d.ledgerTags(e.StatePrefix)...)
	} else {
		e.release(ctx, st.User, kr.intent)
	}
	e.audit(st, kr.id, "rolled_back", Failed, func(r *audit.Record) {
		r.NewKeyID, r.Reason, r.Error, r.Sinks = k.KeyID.Raw(), why, errors.Join(cause, abortErr, delErr).Error(), auditSinks(d.res)
	})
	detail := why + "; new key deleted, old key untouched"
	if delErr != nil {
		detail = why + "; deleting the new key also failed: the next apply deletes it (intent recorded), old key untouched"
	}
	return Result{Step: st, Outcome: Failed, NewKeyID: k.KeyID, Location: d.res[0].Location, Sinks: d.res, Detail: detail, Err: errors.Join(cause, abortErr, delErr)}
}

// removeKey deactivates then deletes a key keycycle created whose secret is not delivered.
func (e *Executor) removeKey(ctx context.Context, user string, id inventory.KeyID) error {
	return e.retry(ctx, func() error {
		_, err := e.IAM.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String(user), AccessKeyId: aws.String(id.Raw()), Status: iamtypes.StatusTypeInactive})
		var nse *iamtypes.NoSuchEntityException
		if errors.As(err, &nse) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("deactivate new key %s of %s: %w", id, user, err)
		}
		_, err = e.IAM.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(user), AccessKeyId: aws.String(id.Raw())})
		if errors.As(err, &nse) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("delete new key %s of %s: %w", id, user, err)
		}
		return nil
	})
}

// clearIntent removes the intent tag (and the extra tags of the same rotation) if it is still ours
// (intent == "" removes whatever is there); it reports whether it tried.
func (e *Executor) clearIntent(ctx context.Context, user, intent string, extra ...string) bool {
	if intent != "" {
		if s, err := e.read(ctx, user); err == nil && s.tags[inventory.IntentTag(e.StatePrefix)] != intent {
			return false
		}
	}
	e.untag(ctx, user, append([]string{inventory.IntentTag(e.StatePrefix)}, extra...)...)
	return true
}

// abandon ends a rotation started by startRotation that created no key (or deleted it again):
// it clears the intent if it is still ours and puts back the rotation record the start replaced
// (prev; removed when there was none), so the record tells no rotation that did not happen.
// Either is only tidiness: a record written at the start names no key, and with no key created
// under its lease it records no completed rotation (inventory.RotationRecord).
func (e *Executor) abandon(ctx context.Context, user, intent, prev string, extra ...string) {
	if prev == "" {
		extra = append(extra, inventory.RotatedTag(e.StatePrefix))
	}
	if e.clearIntent(ctx, user, intent, extra...) && prev != "" {
		e.tagOnce(ctx, user, inventory.RotatedTag(e.StatePrefix), prev)
	}
}

// tagOnce writes one tag on the user, logging a failure (a record for reports, nothing a later
// step depends on).
func (e *Executor) tagOnce(ctx context.Context, user, key, value string) {
	if _, err := e.IAM.TagUser(ctx, &iam.TagUserInput{UserName: aws.String(user), Tags: []iamtypes.Tag{{Key: aws.String(key), Value: aws.String(value)}}}); err != nil {
		e.logger().Warn("restore state tag", "account_id", e.AccountID, "user", user, "tag", key, "error", err)
	}
}

// takeLease records this run's intent to rotate old (step 2 of the protocol) and confirms it is
// the one on the user. ok false: the result to return (nothing changed, or another run's intent
// replaced ours and the user is left to it).
func (e *Executor) takeLease(ctx context.Context, st plan.Step, old inventory.KeyID) (intent string, r Result, ok bool) {
	intent = e.newIntent(old)
	return e.writeLease(ctx, st, intent)
}

// startRotation is takeLease for a new rotation of old: the same TagUser also writes the rotation
// record of the rotation starting now (inventory.RotationRecord, New empty), so that removing the
// intent completes it. The record and the intent share their start time: while the intent is on
// the user the record describes a rotation in flight.
func (e *Executor) startRotation(ctx context.Context, st plan.Step, old inventory.KeyID) (string, Result, bool) {
	now := e.Now().UTC()
	in := inventory.RotationIntent{Started: now, Old: old, Lease: inventory.Lease{Run: e.leaseRun(), Until: now.Add(e.lease())}}
	rec := inventory.RotationRecord{At: now, Old: old, By: in.Until}
	return e.writeLease(ctx, st, in.TagValue(), iamtypes.Tag{Key: aws.String(inventory.RotatedTag(e.StatePrefix)), Value: aws.String(rec.TagValue())})
}

// writeLease writes intent as the user's intent tag (with the extra tags, in the same call) and
// reads it back: IAM has no conditional write, so of two runs that write at once the one that
// reads its own value back goes on.
func (e *Executor) writeLease(ctx context.Context, st plan.Step, intent string, extra ...iamtypes.Tag) (string, Result, bool) {
	intentKey := inventory.IntentTag(e.StatePrefix)
	tags := append([]iamtypes.Tag{{Key: aws.String(intentKey), Value: aws.String(intent)}}, extra...)
	if _, err := e.IAM.TagUser(ctx, &iam.TagUserInput{UserName: aws.String(st.User), Tags: tags}); err != nil {
		return "", Result{Step: st, Outcome: Failed, Detail: "cannot record the rotation intent; nothing changed", Err: fmt.Errorf("tag %s: %w", st.User, err)}, false
	}
	// Only the tags are re-read: a key that appeared meanwhile fills the user's second slot, and
	// IAM's two-key quota refuses CreateAccessKey (see rotate).
	if again, err := e.readUser(ctx, st.User, false); err != nil || again.tags[intentKey] != intent {
		// Another run wrote its intent after ours: leave the user to it.
		e.audit(st, e.RunID, "concurrent_rotation", Busy, nil)
		return "", Result{Step: st, Outcome: Busy, Detail: "another keycycle run took the rotation lease on this user at the same time; left to it", Err: err}, false
	}
	return intent, Result{}, true
}

// release ends this run's lease on an intent it leaves behind for the next run to resume (the
// new key is stored but not promoted, or not recorded): the intent stays, with its lease ended
// now, so the next apply recovers it at once instead of waiting out the lease. Nothing is
// written when the intent on the user is no longer intent.
func (e *Executor) release(ctx context.Context, user, intent string) {
	in, err := inventory.ParseRotationIntent(intent)
	if err != nil {
		return
	}
	in.Until = e.Now().UTC()
	if s, err := e.readUser(ctx, user, false); err != nil || s.tags[inventory.IntentTag(e.StatePrefix)] != intent {
		return
	}
	if _, err := e.IAM.TagUser(ctx, &iam.TagUserInput{UserName: aws.String(user), Tags: []iamtypes.Tag{{
		Key: aws.String(inventory.IntentTag(e.StatePrefix)), Value: aws.String(in.TagValue())}}}); err != nil {
		e.logger().Warn("release rotation lease", "account_id", e.AccountID, "user", user, "error", err)
	}
}

// appeared re-reads the user's keys and returns one that is not in before: created by someone
// else since this run read the user.
func (e *Executor) appeared(ctx context.Context, user string, before []inventory.AccessKey) *inventory.KeyID {
	list := e.Keys
	if e.ListKeys != nil {
		list = e.ListKeys // the ids are enough
	}
	keys, err := list(ctx, user)
	if err != nil {
		// Unknown: assume a key appeared, so the intent stays and guards it until its lease ends.
		id := inventory.KeyID("unknown")
		return &id
	}
	seen := map[inventory.KeyID]bool{}
	for _, k := range before {
		seen[k.ID] = true
	}
	for _, k := range keys {
		if !seen[k.ID] {
			return &k.ID
		}
	}
	return nil
}

// recordedNew is the new key of the user's completion record as it is now, "" when none or when
// the record does not name it (written at a rotation's start, as this run's own is).
func (e *Executor) recordedNew(ctx context.Context, user string) inventory.KeyID {
	s, err := e.readUser(ctx, user, false)
	if err != nil {
		return ""
	}
	if r := e.completion(s); r != nil {
		return r.New
	}
	return ""
}

// completion is the user's completion record, nil when none is readable.
func (e *Executor) completion(s state) *inventory.RotationRecord {
	r, err := inventory.ParseRotationRecord(s.tags[inventory.RotatedTag(e.StatePrefix)])
	if err != nil {
		return nil
	}
	return &r
}

// orphan returns the key of s that inventory.OrphanKey finds, reading its last use when the
// fresh read did not (only for a user with two keys and no intent: a rotation that is otherwise
// refused for want of room).
func (e *Executor) orphan(ctx context.Context, st plan.Step, s state) *inventory.AccessKey {
	if len(s.keys) != 2 {
		return nil
	}
	for i := range s.keys {
		k := &s.keys[i]
		if k.ID != st.AccessKeyID && k.Active() && !k.LastUsedKnown && e.LastUse != nil {
			if err := e.LastUse(ctx, st.User, k); err != nil {
				return nil
			}
		}
	}
	return inventory.OrphanKey(s.keys, st.AccessKeyID, e.completion(s), e.Now())
}

// recoverOrphan deals with a key that no intent and no completion record explain (see
// inventory.OrphanKey): under a lease of its own, it recovers it as the interrupted rotation of
// st's key that started when the orphan was created. done as for recover.
func (e *Executor) recoverOrphan(ctx context.Context, st plan.Step, s state, ds []Delivery, orphan inventory.AccessKey) (Result, bool) {
	if !orphan.LastUsedKnown {
		return Result{}, false
	}
	intent, r, ok := e.takeLease(ctx, st, st.AccessKeyID)
	if !ok {
		return r, true
	}
	e.audit(st, e.RunID+"/"+st.User, "orphan_found", Done, func(r *audit.Record) {
		r.NewKeyID, r.Reason = orphan.ID.Raw(), "active, never used, created after the last completion record, no intent: the orphan of an interrupted rotation whose intent was lost"
	})
	return e.recover(ctx, st, s, ds, inventory.RotationIntent{Started: orphan.Created, Old: st.AccessKeyID}, intent)
}

// recover finishes or cleans up the interrupted rotation of intent, whose lease expired; raw is
// the intent tag on the user. It first takes the lease over, so no other run recovers it at the
// same time. done is true when the interrupted rotation was completed or recovery stopped, so
// the step needs nothing more.
func (e *Executor) recover(ctx context.Context, st plan.Step, s state, ds []Delivery, intent inventory.RotationIntent, raw string) (Result, bool) {
	if e.DryRun {
		return Result{Step: st, Outcome: DryRun, Detail: "would recover the rotation interrupted at " + intent.Started.Format("2006-01-02T15:04:05Z")}, true
	}
	if in, err := inventory.ParseRotationIntent(raw); err != nil || in.Run != e.leaseRun() || !e.Now().Before(in.End(in.Started)) {
		// Take the expired lease over: same rotation (start, old key), this run's lease.
		took := inventory.RotationIntent{Started: intent.Started, Old: intent.Old,
			Lease: inventory.Lease{Run: e.leaseRun(), Until: e.Now().UTC().Add(e.lease())}}.TagValue()
		var r Result
		var ok bool
		if raw, r, ok = e.writeLease(ctx, st, took); !ok {
			return r, true
		}
	}
	// Keys keycycle may have created in that run: any key but the old one, created since.
	var candidates []inventory.AccessKey
	for _, k := range s.keys {
		if k.ID != intent.Old && !k.Created.Before(intent.Started.Add(-skew)) {
			candidates = append(candidates, k)
		}
	}
	rotationID := e.RunID + "/" + st.User
	step := st
	step.AccessKeyID = intent.Old
	primary := ds[0].Sink
	for _, c := range candidates {
		k := secret.AccessKey{AccountID: e.AccountID, UserName: st.User, UserARN: s.arn, KeyID: c.ID, Created: c.Created, Tags: s.tags, Replaces: intent.Old}
		held, err := primary.(Holder).Holds(ctx, k)
		if err != nil {
			return Result{Step: st, Outcome: Failed, Detail: "cannot tell whether the interrupted rotation's key was delivered; nothing changed", Err: err}, true
		}
		if !held {
			// I1: its secret is lost; nobody can use it. Remove it and start over.
			if err := e.removeKey(ctx, st.User, c.ID); err != nil {
				e.audit(step, rotationID, "orphan_delete_failed", Failed, func(r *audit.Record) { r.NewKeyID = c.ID.Raw(); r.Error = err.Error() })
				return Result{Step: st, Outcome: Failed, Detail: "cannot delete the orphan key of an interrupted rotation", Err: err}, true
			}
			e.audit(step, rotationID, "orphan_deleted", Done, func(r *audit.Record) {
				r.NewKeyID, r.Reason = c.ID.Raw(), "created by an interrupted rotation and never stored: its secret is lost"
			})
			continue
		}
		sec, err := primary.(Reader).Read(ctx, k)
		if err != nil {
			return Result{Step: st, Outcome: Failed, Detail: "cannot read back the interrupted rotation's key", Err: err}, true
		}
		k.Secret = sec
		// The primary holds the key already; push sinks that the delivery record names got it too.
		kr := &keyRotation{st: step, id: rotationID, intent: raw, k: k, d: keyDelivery(ds, k, SinkNotTried)}
		d := kr.d
		d.phase[0] = staged
		d.led = inventory.ParseDeliveryRecord(s.tags[inventory.DeliveredTag(e.StatePrefix)])
		if d.led.Key != k.KeyID {
			d.led = inventory.DeliveryRecord{}
		}
		if err := e.Verifier.Verify(ctx, k.KeyID, k.Secret); err != nil {
			if !c.Active() {
				err = fmt.Errorf("key is inactive: %w", err)
			}
			r := e.rollback(ctx, kr, "the interrupted rotation's key does not authenticate", err)
			r.Step = st
			return r, true
		}
		for i := 1; i < len(ds); i++ {
			if d.push(i) && d.led.Has(k.KeyID, ds[i].Sink.Name()) {
				d.phase[i], d.res[i].Outcome = skipped, SinkAlready
			}
		}
		if err := e.stage(ctx, step, rotationID, d, 1); err != nil {
			r := e.rollback(ctx, kr, "delivery to a required sink failed", err)
			r.Step = st
			return r, true
		}
		r := e.finish(ctx, kr, Resumed)
		r.Step = st
		return r, true
	}
	var extra []string
	if _, ok := s.tags[inventory.DeliveredTag(e.StatePrefix)]; ok {
		extra = append(extra, inventory.DeliveredTag(e.StatePrefix))
	}
	e.clearIntent(ctx, st.User, raw, extra...)
	e.audit(step, rotationID, "intent_cleared", Done, nil)
	return Result{}, false
}

// skew tolerates a difference between this machine's clock and IAM's when matching keys to an intent.
const skew = 5 * time.Minute
