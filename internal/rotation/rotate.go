package rotation

import (
	"context"
	"errors"
	"fmt"
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
// intent -> CreateAccessKey -> stage in the sink -> verify -> promote -> completion record.
// Until the sink holds the new secret, any failure deletes the new key again (I1).
func (e *Executor) rotate(ctx context.Context, st plan.Step, s state) Result {
	if _, pending := s.tags[inventory.IntentTag(e.StatePrefix)]; pending {
		r, done := e.recover(ctx, st, s)
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
		return Result{Step: st, Outcome: DryRun, Detail: "would rotate: " + st.Reason, Location: e.Sink.Location(secret.AccessKey{AccountID: e.AccountID, UserName: st.User})}
	}

	// 2. Record intent; it doubles as a lock between concurrent runs (the 2-key quota is the last guard).
	intentKey := inventory.IntentTag(e.StatePrefix)
	intent := inventory.RotationIntent{Started: e.Now().UTC(), Old: old.ID}.TagValue() + " run=" + e.RunID
	if _, err := e.IAM.TagUser(ctx, &iam.TagUserInput{UserName: aws.String(st.User), Tags: []iamtypes.Tag{{Key: aws.String(intentKey), Value: aws.String(intent)}}}); err != nil {
		return Result{Step: st, Outcome: Failed, Detail: "cannot record the rotation intent; nothing changed", Err: fmt.Errorf("tag %s: %w", st.User, err)}
	}
	if again, err := e.read(ctx, st.User); err != nil || again.tags[intentKey] != intent || len(again.keys) != len(s.keys) {
		// Another run wrote its intent after ours, or a key appeared: leave the user to it.
		e.audit(st, e.RunID, "concurrent_rotation", Blocked, nil)
		return Result{Step: st, Outcome: Blocked, Detail: "another keycycle run is rotating this user; left to it", Err: err}
	}
	rotationID := e.RunID + "/" + st.User

	// 3. Create the new key.
	out, err := e.IAM.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(st.User)})
	if err != nil {
		e.clearIntent(ctx, st.User, intent)
		var limit *iamtypes.LimitExceededException
		if errors.As(err, &limit) {
			e.audit(st, rotationID, "no_room", Blocked, func(r *audit.Record) { r.Error = err.Error() })
			return Result{Step: st, Outcome: Blocked, Detail: "IAM refused a new key: the user already has 2 (another rotation in progress?)", Err: err}
		}
		e.audit(st, rotationID, "create_failed", Failed, func(r *audit.Record) { r.Error = err.Error() })
		return Result{Step: st, Outcome: Failed, Detail: "CreateAccessKey failed; nothing changed", Err: fmt.Errorf("create access key for %s/%s: %w", e.AccountID, st.User, err)}
	}
	k := secret.AccessKey{AccountID: e.AccountID, UserName: st.User, UserARN: s.arn,
		KeyID: inventory.KeyID(aws.ToString(out.AccessKey.AccessKeyId)), Secret: secret.New(aws.ToString(out.AccessKey.SecretAccessKey)),
		Created: aws.ToTime(out.AccessKey.CreateDate)}
	out = nil // the only other copy of the secret is in k now
	e.audit(st, rotationID, "key_created", Done, func(r *audit.Record) { r.NewKeyID = k.KeyID.Raw() })

	// 4. Stage in the primary sink. Until this succeeds the secret exists only in memory.
	if err := e.retry(ctx, func() error { return e.Sink.Stage(ctx, k) }); err != nil {
		return e.rollback(ctx, st, rotationID, intent, k, "delivery to "+e.Sink.Name()+" failed", err)
	}
	e.audit(st, rotationID, "secret_staged", Done, func(r *audit.Record) { r.NewKeyID = k.KeyID.Raw(); r.Sink = e.Sink.Name() })

	// 5. Prove the new key works.
	if err := e.Verifier.Verify(ctx, k.KeyID, k.Secret); err != nil {
		return e.rollback(ctx, st, rotationID, intent, k, "the new key did not authenticate", err)
	}
	e.audit(st, rotationID, "key_verified", Done, func(r *audit.Record) { r.NewKeyID = k.KeyID.Raw() })
	return e.finish(ctx, st, rotationID, intent, k, Done)
}

// finish promotes k and records the completion. A failure here leaves the intent in place: the
// secret is stored and the key works, so the next run resumes instead of rolling back.
func (e *Executor) finish(ctx context.Context, st plan.Step, rotationID, intent string, k secret.AccessKey, outcome Outcome) Result {
	loc := e.Sink.Location(k)
	if err := e.retry(ctx, func() error { return e.Sink.Promote(ctx, k) }); err != nil {
		e.audit(st, rotationID, "promote_failed", Failed, func(r *audit.Record) { r.NewKeyID = k.KeyID.Raw(); r.Error = err.Error() })
		return Result{Step: st, Outcome: Failed, NewKeyID: k.KeyID, Location: loc,
			Detail: "new key stored as pending in " + loc + " but not promoted; the next apply resumes", Err: err}
	}
	e.audit(st, rotationID, "secret_promoted", Done, func(r *audit.Record) { r.NewKeyID = k.KeyID.Raw(); r.Sink = e.Sink.Name() })
	rec := inventory.RotationRecord{At: e.Now().UTC(), Old: st.AccessKeyID, New: k.KeyID}
	err := e.retry(ctx, func() error {
		_, err := e.IAM.TagUser(ctx, &iam.TagUserInput{UserName: aws.String(st.User), Tags: []iamtypes.Tag{{Key: aws.String(inventory.RotatedTag(e.StatePrefix)), Value: aws.String(rec.TagValue())}}})
		return err
	})
	if err != nil {
		e.audit(st, rotationID, "record_failed", Failed, func(r *audit.Record) { r.NewKeyID = k.KeyID.Raw(); r.Error = err.Error() })
		return Result{Step: st, Outcome: Failed, NewKeyID: k.KeyID, Location: loc,
			Detail: "new key delivered to " + loc + " but the completion record failed; the next apply records it", Err: err}
	}
	e.clearIntent(ctx, st.User, intent)
	e.audit(st, rotationID, "rotation_completed", outcome, func(r *audit.Record) { r.NewKeyID = k.KeyID.Raw(); r.Sink = e.Sink.Name(); r.Reason = st.Reason })
	return Result{Step: st, Outcome: outcome, NewKeyID: k.KeyID, Location: loc, Detail: "rotated: new key delivered to " + loc}
}

// rollback undoes a rotation whose key is not (usably) stored: withdraw it from the sink, delete
// the new key, clear the intent. The old key was never touched.
func (e *Executor) rollback(ctx context.Context, st plan.Step, rotationID, intent string, k secret.AccessKey, why string, cause error) Result {
	abortErr := e.retry(ctx, func() error { return e.Sink.Abort(ctx, k) })
	delErr := e.removeKey(ctx, st.User, k.KeyID)
	if delErr == nil {
		e.clearIntent(ctx, st.User, intent)
	}
	e.audit(st, rotationID, "rolled_back", Failed, func(r *audit.Record) {
		r.NewKeyID, r.Reason, r.Error = k.KeyID.Raw(), why, errors.Join(cause, abortErr, delErr).Error()
	})
	detail := why + "; new key deleted, old key untouched"
	if delErr != nil {
		detail = why + "; deleting the new key also failed: the next apply deletes it (intent recorded), old key untouched"
	}
	return Result{Step: st, Outcome: Failed, NewKeyID: k.KeyID, Detail: detail, Err: errors.Join(cause, abortErr, delErr)}
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

// clearIntent removes the intent tag if it is still ours (intent == "" removes whatever is there).
func (e *Executor) clearIntent(ctx context.Context, user, intent string) {
	if intent != "" {
		if s, err := e.read(ctx, user); err == nil && s.tags[inventory.IntentTag(e.StatePrefix)] != intent {
			return
		}
	}
	e.untag(ctx, user, inventory.IntentTag(e.StatePrefix))
}

// recover finishes or cleans up an interrupted rotation recorded by an intent tag. done is true
// when the interrupted rotation was completed, so the step needs nothing more.
func (e *Executor) recover(ctx context.Context, st plan.Step, s state) (Result, bool) {
	raw := s.tags[inventory.IntentTag(e.StatePrefix)]
	intent, err := inventory.ParseRotationIntent(raw)
	if err != nil {
		return Result{Step: st, Outcome: Blocked, Detail: "unreadable rotation intent tag; inspect and remove it by hand", Err: err}, true
	}
	if e.DryRun {
		return Result{Step: st, Outcome: DryRun, Detail: "would recover the rotation interrupted at " + intent.Started.Format("2006-01-02T15:04:05Z")}, true
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
	for _, c := range candidates {
		k := secret.AccessKey{AccountID: e.AccountID, UserName: st.User, UserARN: s.arn, KeyID: c.ID, Created: c.Created}
		held, err := e.Sink.Holds(ctx, k)
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
		reader, ok := e.Sink.(Reader)
		if !ok {
			return Result{Step: st, Outcome: Blocked, Detail: "the sink cannot give the stored key back for verification; resume by hand"}, true
		}
		sec, err := reader.Read(ctx, k)
		if err != nil {
			return Result{Step: st, Outcome: Failed, Detail: "cannot read back the interrupted rotation's key", Err: err}, true
		}
		k.Secret = sec
		if err := e.Verifier.Verify(ctx, k.KeyID, k.Secret); err != nil {
			if !c.Active() {
				err = fmt.Errorf("key is inactive: %w", err)
			}
			return e.rollback(ctx, step, rotationID, raw, k, "the interrupted rotation's key does not authenticate", err), true
		}
		r := e.finish(ctx, step, rotationID, raw, k, Resumed)
		r.Step = st
		return r, true
	}
	e.clearIntent(ctx, st.User, raw)
	e.audit(step, rotationID, "intent_cleared", Done, nil)
	return Result{}, false
}

// skew tolerates a difference between this machine's clock and IAM's when matching keys to an intent.
const skew = 5 * time.Minute
