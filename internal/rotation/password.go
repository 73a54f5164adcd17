package rotation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/keycycle/keycycle/internal/audit"
	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/password"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/secret"
)

// PasswordSink is the optional capability of a sink to deliver console passwords, with the phases
// of Sink and the same idempotency (by secret.Password.Version). A sink without it is left out of
// password deliveries (outcome not-applicable); the primary sink must have it for passwords to be
// rotated. Errors never contain the password.
type PasswordSink interface {
	// PasswordLocation is where the owner fetches the password.
	PasswordLocation(p secret.Password) string
	StagePassword(ctx context.Context, p secret.Password) error
	PromotePassword(ctx context.Context, p secret.Password) error
	AbortPassword(ctx context.Context, p secret.Password) error
}

// SinkNotApplicable is the outcome of a sink that takes no console passwords (Lambda).
const SinkNotApplicable SinkOutcome = "not-applicable"

// The console password protocol, per user (DESIGN.md: "Console passwords follow the same shape"):
//
//	rotate:  intent tag -> read the account password policy -> generate -> stage in every sink
//	         -> UpdateLoginProfile (PasswordResetRequired) -> promote every sink -> completion tag
//	delete:  (after the warning period) DeleteLoginProfile, audited with what was removed
//	warn:    the step that starts the warning period records it on the user
//
// A password cannot be verified the way a key is (there is no API that signs in), and IAM keeps
// no second password: once UpdateLoginProfile succeeded the old password is gone. So every sink is
// staged before the change, and any failure up to it undoes the staging: the old password stays
// and no sink delivers the new one. After it, nothing can be rolled back: a failure to make the
// new password current in the primary sink leaves the intent, and the next apply sets and
// delivers another password.

// passwordStep carries out one password step after a fresh read of the user's login profile.
func (e *Executor) passwordStep(ctx context.Context, st plan.Step) Result {
	if e.Login == nil {
		return Result{Step: st, Outcome: Blocked, Detail: "refused: this executor cannot read login profiles; nothing changed"}
	}
	s, err := e.readUser(ctx, st.User, false)
	if err == nil {
		s.login, err = e.Login(ctx, st.User)
	}
	if err != nil {
		return Result{Step: st, Outcome: Failed, Detail: "cannot re-read the user's console password; nothing changed", Err: err}
	}
	if st.UserID != "" && s.userID != st.UserID {
		why := "user " + st.User + " was deleted and recreated since the plan (new user id)"
		e.audit(st, "", "precondition_changed", Stale, func(r *audit.Record) { r.Reason = why })
		return Result{Step: st, Outcome: Stale, Detail: why}
	}
	raw, interrupted := s.tags[inventory.PasswordIntentTag(e.StatePrefix)]
	if in, err := inventory.ParsePasswordIntent(raw); interrupted && err == nil && in.Live(e.Now(), e.leaseRun()) && st.Action != plan.Warn {
		owner := "an earlier keycycle run"
		if in.Run != "" {
			owner = "run " + in.Run
		}
		why := fmt.Sprintf("left to %s: it holds the password rotation lease on this user until %s", owner, in.End(in.Started).Format(time.RFC3339))
		e.audit(st, "", "lease_held", Busy, func(r *audit.Record) { r.Reason = why })
		return Result{Step: st, Outcome: Busy, Detail: why}
	}
	if r, busy := e.passwordLeaseHeld(st, s.tags); busy && st.Action != plan.Warn {
		return r
	}
	if stale, why := st.Precondition.StaleLogin(s.login, st.Action); stale && !(st.Action == plan.Rotate && interrupted) {
		e.audit(st, "", "precondition_changed", Stale, func(r *audit.Record) { r.Reason = why })
		return Result{Step: st, Outcome: Stale, Detail: why + "; run plan again"}
	}
	if s.login == nil {
		return Result{Step: st, Outcome: Stale, Detail: "the user has no console password (login profile) any more"}
	}
	if m, err := inventory.ParseMark(s.tags[inventory.PasswordRotatedTag(e.StatePrefix)]); err == nil && st.Action == plan.Rotate &&
		st.Precondition.Login != nil && m.At.After(st.Precondition.Login.Rotated) {
		why := "the password was rotated since the plan was made"
		e.audit(st, "", "precondition_changed", Stale, func(r *audit.Record) { r.Reason = why })
		return Result{Step: st, Outcome: Stale, Detail: why + "; run plan again"}
	}
	if r, ok := e.recheck(ctx, st, s); !ok {
		return r
	}
	switch st.Action {
	case plan.Rotate:
		return e.rotatePassword(ctx, st, s)
	case plan.Delete:
		return e.deleteLogin(ctx, st, s)
	case plan.Warn:
		return e.recordWarning(ctx, st, s)
	}
	return Result{Step: st, Outcome: Noted, Detail: st.Reason}
}

// passwordDeliveries returns the sinks of a password rotation: the rule's list, where every sink
// that takes passwords gets it and the primary must.
func (e *Executor) passwordDeliveries(st plan.Step) ([]Delivery, error) {
	ds, err := e.sinksOf(st)
	if err != nil {
		return nil, err
	}
	if _, ok := ds[0].Sink.(PasswordSink); !ok || !ds[0].Required {
		return nil, fmt.Errorf("the first sink of rule %q (%s) takes no console passwords: it must be a required secretsmanager or ssm sink", st.Rule, ds[0].Sink.Name())
	}
	return ds, nil
}

// passwordDelivery is the delivery of a console password to the sinks of ds that take one.
func passwordDelivery(ds []Delivery, p secret.Password, outcome SinkOutcome) *delivery {
	return newDelivery(ds, outcome, func(s Sink) *target {
		ps, ok := s.(PasswordSink)
		if !ok {
			return nil
		}
		return bind(ps.PasswordLocation(p), p, ps.StagePassword, ps.PromotePassword, ps.AbortPassword)
	})
}

// passwordPolicy reads the account's password policy; without one, AWS's default applies.
func (e *Executor) passwordPolicy(ctx context.Context) (password.Policy, error) {
	out, err := e.IAM.GetAccountPasswordPolicy(ctx, &iam.GetAccountPasswordPolicyInput{})
	var nse *iamtypes.NoSuchEntityException
	if errors.As(err, &nse) {
		return password.AWSDefault(), nil
	}
	if err != nil {
		return password.Policy{}, fmt.Errorf("read the password policy of account %s: %w", e.AccountID, err)
	}
	pp := out.PasswordPolicy
	return password.Policy{
		MinLength:       int(aws.ToInt32(pp.MinimumPasswordLength)),
		RequireUpper:    pp.RequireUppercaseCharacters,
		RequireLower:    pp.RequireLowercaseCharacters,
		RequireNumbers:  pp.RequireNumbers,
		RequireSymbols:  pp.RequireSymbols,
		ReusePrevention: int(aws.ToInt32(pp.PasswordReusePrevention)),
	}, nil
}

func (e *Executor) rand() io.Reader {
	if e.Rand != nil {
		return e.Rand
	}
	return rand.Reader
}

// passwordVersion is a new password's version: "keycycle-password-<UTC time>-<8 hex>", 43
// characters, unique and sortable.
func (e *Executor) passwordVersion(now time.Time) (string, error) {
	b := make([]byte, 4)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		return "", err
	}
	return "keycycle-password-" + now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b), nil
}

// retryUnmodifiable runs fn again, with the executor's backoff, while IAM answers
// EntityTemporarilyUnmodifiable (a recent change to the user still settling); other errors are
// returned at once (the SDK retries throttling itself).
func (e *Executor) retryUnmodifiable(ctx context.Context, fn func() error) error {
	var last error
	err := e.retry(ctx, func() error {
		last = fn()
		var tu *iamtypes.EntityTemporarilyUnmodifiableException
		if errors.As(last, &tu) {
			return last
		}
		return nil
	})
	if err != nil {
		return err
	}
	return last
}

func (e *Executor) rotatePassword(ctx context.Context, st plan.Step, s state) Result {
	ds, err := e.passwordDeliveries(st)
	if err != nil {
		return Result{Step: st, Outcome: Blocked, Detail: "refused: the delivery configuration cannot take console passwords; nothing changed", Err: err}
	}
	now := e.Now().UTC()
	probe := secret.Password{AccountID: e.AccountID, UserName: st.User, UserARN: s.arn, Tags: s.tags}
	if why := CheckPasswordNames(ds, probe); why != "" {
		e.audit(st, "", "name_unholdable", Blocked, func(r *audit.Record) { r.Reason = why })
		return Result{Step: st, Outcome: Blocked, Detail: "refused, nothing changed: " + why}
	}
	if e.DryRun {
		d := passwordDelivery(ds, probe, SinkDryRun)
		return Result{Step: st, Outcome: DryRun, Detail: "would rotate the console password: " + st.Reason, Location: d.res[0].Location, Sinks: d.res}
	}

	// The lease. IAM tags have no compare-and-set, so each run writes a lease tag of its own
	// (<prefix>pwlease:<run>), reads the user's tags back and goes on only when no other run's
	// live lease is there. Of two runs, at least the second to read sees the other's lease (each
	// wrote before it read): at most one goes on; when both see each other, both withdraw and the
	// next run rotates (safety over liveness). This relies on IAM answering a read after a write
	// with that write (docs/reliability.md, "Password leases").
	intentKey := inventory.PasswordIntentTag(e.StatePrefix)
	leaseKey := inventory.PasswordLeaseTag(e.StatePrefix, e.RunID)
	intent := inventory.PasswordIntent{Started: now, Lease: inventory.Lease{Run: e.leaseRun(), Until: now.Add(e.lease())}}.TagValue()
	if why := e.tagRoom(s.tags, leaseKey, intentKey, inventory.PasswordRotatedTag(e.StatePrefix)); why != "" {
		e.audit(st, "", "tag_limit", Blocked, func(r *audit.Record) { r.Reason = why })
		return Result{Step: st, Outcome: Blocked, Detail: "refused, nothing changed: " + why}
	}
	if _, err := e.IAM.TagUser(ctx, &iam.TagUserInput{UserName: aws.String(st.User), Tags: []iamtypes.Tag{{Key: aws.String(leaseKey), Value: aws.String(intent)}}}); err != nil {
		return Result{Step: st, Outcome: Failed, Detail: "cannot record the password lease; nothing changed", Err: fmt.Errorf("tag %s: %w", st.User, err)}
	}
	again, err := e.readUser(ctx, st.User, false)
	if err != nil {
		e.untag(ctx, st.User, leaseKey)
		return Result{Step: st, Outcome: Failed, Detail: "cannot read the password lease back; nothing changed", Err: err}
	}
	if r, busy := e.passwordLeaseHeld(st, again.tags); busy {
		e.untag(ctx, st.User, leaseKey)
		r.Detail = "another keycycle run took the password lease at the same time: " + r.Detail + "; nothing changed"
		return r
	}
	if in, err := inventory.ParsePasswordIntent(again.tags[intentKey]); err == nil && in.Live(e.Now(), e.leaseRun()) {
		e.untag(ctx, st.User, leaseKey)
		e.audit(st, e.RunID, "concurrent_rotation", Busy, nil)
		return Result{Step: st, Outcome: Busy, Detail: "another keycycle run is rotating this user's password; left to it, nothing changed"}
	}
	rotationID := e.RunID + "/" + st.User + "/password"
	// What this rotation removes when it is done: its intent, its lease, and the leases of runs
	// that expired (killed runs); never a live lease of another run.
	done := append([]string{intentKey, leaseKey}, e.expiredPasswordLeases(again.tags)...)
	fail := func(r Result) Result {
		e.untag(ctx, st.User, done...)
		return r
	}
	// A run that held the lease before ours may have finished between our first read and our
	// lease: its completion record is newer than the plan's. Changing the password again would
	// rotate it twice (I7).
	if m, err := inventory.ParseMark(again.tags[inventory.PasswordRotatedTag(e.StatePrefix)]); err == nil &&
		st.Precondition.Login != nil && m.At.After(st.Precondition.Login.Rotated) {
		why := "the password was rotated by another run since the plan was made"
		e.audit(st, "", "precondition_changed", Stale, func(r *audit.Record) { r.Reason = why })
		return fail(Result{Step: st, Outcome: Stale, Detail: why + "; nothing changed"})
	}
	// The intent: the record that a rotation is under way, which the next runs (and plans) read.
	if _, err := e.IAM.TagUser(ctx, &iam.TagUserInput{UserName: aws.String(st.User), Tags: []iamtypes.Tag{{Key: aws.String(intentKey), Value: aws.String(intent)}}}); err != nil {
		return fail(Result{Step: st, Outcome: Failed, Detail: "cannot record the password rotation intent; nothing changed", Err: fmt.Errorf("tag %s: %w", st.User, err)})
	}

	pol, err := e.passwordPolicy(ctx)
	if err != nil {
		e.audit(st, rotationID, "password_policy_unreadable", Failed, func(r *audit.Record) { r.Error = err.Error() })
		return fail(Result{Step: st, Outcome: Failed, Detail: "cannot read the account password policy; nothing changed", Err: err})
	}
	version, err := e.passwordVersion(now)
	if err != nil {
		return fail(Result{Step: st, Outcome: Failed, Detail: "no randomness for a password version; nothing changed", Err: err})
	}
	pw, err := password.Generate(pol, e.rand())
	if err != nil {
		return fail(Result{Step: st, Outcome: Failed, Detail: "cannot generate a password; nothing changed", Err: err})
	}
	p := probe
	p.Version, p.Secret, p.Created, p.ResetRequired = version, pw, now, e.PasswordResetRequired
	d := passwordDelivery(ds, p, SinkNotTried)

	// Stage everywhere before the change: a sink that cannot take the password stops it here.
	if err := e.stage(ctx, st, rotationID, d, 0); err != nil {
		abortErr := e.abort(ctx, d)
		e.audit(st, rotationID, "rolled_back", Failed, func(r *audit.Record) {
			r.Reason, r.Error, r.Sinks = "delivery to a required sink failed", errors.Join(err, abortErr).Error(), auditSinks(d.res)
		})
		return fail(Result{Step: st, Outcome: Failed, Location: d.res[0].Location, Sinks: d.res,
			Detail: "delivery to a required sink failed; the password is unchanged and nothing was delivered", Err: errors.Join(err, abortErr)})
	}

	// Our lease must outlast the change by far: after its end another run may take the user.
	if !e.Now().Before(now.Add(e.lease() / 2)) {
		abortErr := e.abort(ctx, d)
		why := fmt.Sprintf("the password lease ran short before the change (half of its %s gone)", e.lease())
		e.audit(st, rotationID, "lease_ran_short", Failed, func(r *audit.Record) { r.Reason, r.Sinks = why, auditSinks(d.res) })
		return fail(Result{Step: st, Outcome: Failed, Location: d.res[0].Location, Sinks: d.res,
			Detail: why + "; the password is unchanged and nothing was delivered", Err: abortErr})
	}

	// The change. Until it succeeds the old password works; after it only the new one does.
	err = e.retryUnmodifiable(ctx, func() error {
		_, err := e.IAM.UpdateLoginProfile(ctx, &iam.UpdateLoginProfileInput{UserName: aws.String(st.User),
			Password: aws.String(p.Secret.Reveal()), PasswordResetRequired: aws.Bool(p.ResetRequired)})
		return err
	})
	if err != nil {
		err = fmt.Errorf("update login profile of %s/%s: %w", e.AccountID, st.User, err)
		why := "UpdateLoginProfile failed"
		var viol *iamtypes.PasswordPolicyViolationException
		var tu *iamtypes.EntityTemporarilyUnmodifiableException
		switch {
		case errors.As(err, &viol):
			why = "the account password policy refused the new password"
		case errors.As(err, &tu):
			why = "IAM answered EntityTemporarilyUnmodifiable (a recent change is settling); the next apply tries again"
		}
		abortErr := e.abort(ctx, d)
		e.audit(st, rotationID, "password_update_failed", Failed, func(r *audit.Record) {
			r.Reason, r.Error, r.Sinks = why, errors.Join(err, abortErr).Error(), auditSinks(d.res)
		})
		return fail(Result{Step: st, Outcome: Failed, Location: d.res[0].Location, Sinks: d.res,
			Detail: why + "; the password is unchanged and nothing was delivered", Err: errors.Join(err, abortErr)})
	}
	e.audit(st, rotationID, "password_set", Done, func(r *audit.Record) { r.Reason = "reset required: " + fmt.Sprint(p.ResetRequired) })

	loc := d.res[0].Location
	f := e.promote(ctx, st, rotationID, d)
	if f != nil && f.index == 0 {
		// The new password is set and held as pending by the primary sink only. An intent newer
		// than any completion makes the next apply set and deliver another one: ours, written
		// again in case a concurrent run replaced it and recorded its own completion meanwhile.
		// Its lease ends now: nobody is working on it any more, the next apply may go ahead.
		again := inventory.PasswordIntent{Started: e.Now().UTC(), Lease: inventory.Lease{Run: e.leaseRun(), Until: e.Now().UTC()}}.TagValue()
		if err := e.retry(ctx, func() error {
			_, err := e.IAM.TagUser(ctx, &iam.TagUserInput{UserName: aws.String(st.User), Tags: []iamtypes.Tag{{Key: aws.String(intentKey), Value: aws.String(again)}}})
			return err
		}); err != nil {
			e.logger().Warn("record password intent", "account_id", e.AccountID, "user", st.User, "error", err)
		}
		e.untag(ctx, st.User, done[1:]...)
		e.audit(st, rotationID, "promote_failed", Failed, func(r *audit.Record) { r.Error, r.Sinks = f.err.Error(), auditSinks(d.res) })
		return Result{Step: st, Outcome: Failed, Location: loc, Sinks: d.res, Err: f.err,
			Detail: "the password was changed and is stored as pending in " + loc + " but is not current there; the next apply sets a new one"}
	}
	if f != nil {
		// A required sink failed after the primary: the promotion stopped there, as for a key.
		// The change cannot be undone; the sinks after it withdraw what they staged, so that none
		// delivers a password the failed one was to announce.
		f.err = errors.Join(f.err, e.abort(ctx, d, staged))
	}
	err = e.retry(ctx, func() error {
		_, err := e.IAM.TagUser(ctx, &iam.TagUserInput{UserName: aws.String(st.User), Tags: []iamtypes.Tag{{
			Key: aws.String(inventory.PasswordRotatedTag(e.StatePrefix)), Value: aws.String(inventory.Mark{At: now}.TagValue())}}})
		return err
	})
	if err != nil {
		e.untag(ctx, st.User, done[1:]...) // the intent stays: the next apply rotates again
		e.audit(st, rotationID, "record_failed", Failed, func(r *audit.Record) { r.Error = err.Error(); r.Sinks = auditSinks(d.res) })
		return Result{Step: st, Outcome: Failed, Location: loc, Sinks: d.res, Err: err,
			Detail: "the new password is delivered to " + loc + " but the completion record failed; the next apply rotates it again"}
	}
	e.untag(ctx, st.User, done...)
	e.audit(st, rotationID, "password_rotated", Done, func(r *audit.Record) {
		r.Sink, r.Reason, r.Sinks = d.res[0].Name, st.Reason, auditSinks(d.res)
	})
	detail := "password rotated: new password delivered to " + loc
	if p.ResetRequired {
		detail += " (to be changed at the next sign-in)"
	}
	if f != nil {
		return Result{Step: st, Outcome: Failed, Location: loc, Sinks: d.res, Err: f.err,
			Detail: detail + "; but required delivery to " + d.res[f.index].Name + " failed, so the sinks after it were not given it, and a changed password cannot be rolled back"}
	}
	if failed := d.failedOptional(); len(failed) > 0 {
		detail += "; optional delivery failed: " + strings.Join(failed, ", ")
	}
	return Result{Step: st, Outcome: Done, Location: loc, Sinks: d.res, Detail: detail}
}

// passwordLeaseHeld reports whether another run holds a live lease on the user's password (a
// lease tag of its own), and the Busy result that leaves the user to it.
func (e *Executor) passwordLeaseHeld(st plan.Step, tags map[string]string) (Result, bool) {
	own := inventory.PasswordLeaseTag(e.StatePrefix, e.RunID)
	for _, k := range sortedKeys(tags) {
		if k == own || !strings.HasPrefix(k, inventory.PasswordLeasePrefix(e.StatePrefix)) {
			continue
		}
		in, err := inventory.ParsePasswordIntent(tags[k])
		if err != nil || !in.Live(e.Now(), e.leaseRun()) {
			continue
		}
		owner := "another keycycle run"
		if in.Run != "" {
			owner = "run " + in.Run
		}
		why := fmt.Sprintf("left to %s: it holds a password lease on this user until %s", owner, in.End(in.Started).Format(time.RFC3339))
		e.audit(st, "", "lease_held", Busy, func(r *audit.Record) { r.Reason = why })
		return Result{Step: st, Outcome: Busy, Detail: why}, true
	}
	return Result{}, false
}

// expiredPasswordLeases are the password lease tags of other runs that ended (or cannot be read):
// runs that were killed. They are removed with this run's own.
func (e *Executor) expiredPasswordLeases(tags map[string]string) []string {
	own := inventory.PasswordLeaseTag(e.StatePrefix, e.RunID)
	var out []string
	for _, k := range sortedKeys(tags) {
		if k == own || !strings.HasPrefix(k, inventory.PasswordLeasePrefix(e.StatePrefix)) {
			continue
		}
		if in, err := inventory.ParsePasswordIntent(tags[k]); err != nil || !in.Live(e.Now(), e.leaseRun()) {
			out = append(out, k)
		}
	}
	return out
}

// maxTagsPerUser is IAM's quota of tags on a user.
const maxTagsPerUser = 50

// tagRoom says why the user's tags leave no room for the given state tags ("" when they do):
// IAM refuses a 51st tag (LimitExceeded), which must not be found out half-way.
func (e *Executor) tagRoom(tags map[string]string, keys ...string) string {
	n := len(tags)
	for _, k := range keys {
		if _, ok := tags[k]; !ok {
			n++
		}
	}
	if n <= maxTagsPerUser {
		return ""
	}
	return fmt.Sprintf("the user has %d tags and a password rotation needs %d more for keycycle's state (IAM allows %d per user); remove some tags", len(tags), n-len(tags), maxTagsPerUser)
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// deleteLogin removes console access after the warning period. The audit record keeps what was
// removed: the profile's creation, the password's last use, the reset flag; never the password.
func (e *Executor) deleteLogin(ctx context.Context, st plan.Step, s state) Result {
	warned := inventory.ConsoleWarnedTag(e.StatePrefix)
	if _, err := inventory.ParseMark(s.tags[warned]); err != nil {
		e.audit(st, "", "precondition_changed", Stale, func(r *audit.Record) { r.Reason = "warning record gone" })
		return Result{Step: st, Outcome: Stale, Detail: "the warning record (tag " + warned + ") is gone; run plan again"}
	}
	if e.DryRun {
		return Result{Step: st, Outcome: DryRun, Detail: "would delete the login profile: " + st.Reason}
	}
	removed := &audit.LoginProfile{Created: s.login.Created.UTC(), ResetRequired: s.login.ResetRequired}
	if !s.login.LastUsed.IsZero() {
		t := s.login.LastUsed.UTC()
		removed.PasswordLastUsed = &t
	}
	err := e.retryUnmodifiable(ctx, func() error {
		_, err := e.IAM.DeleteLoginProfile(ctx, &iam.DeleteLoginProfileInput{UserName: aws.String(st.User)})
		return err
	})
	var nse *iamtypes.NoSuchEntityException
	if errors.As(err, &nse) {
		return Result{Step: st, Outcome: Stale, Detail: "the login profile was deleted meanwhile"}
	}
	if err != nil {
		e.audit(st, "", "delete_failed", Failed, func(r *audit.Record) { r.Error, r.LoginProfile = err.Error(), removed })
		return Result{Step: st, Outcome: Failed, Detail: "deleting the login profile failed; console access unchanged",
			Err: fmt.Errorf("delete login profile of %s/%s: %w", e.AccountID, st.User, err)}
	}
	e.untag(ctx, st.User, warned, inventory.PasswordRotatedTag(e.StatePrefix))
	e.audit(st, "", "login_profile_deleted", Done, func(r *audit.Record) { r.Reason, r.LoginProfile = st.Reason, removed })
	return Result{Step: st, Outcome: Done, Detail: "console access removed: " + st.Reason}
}

// recordWarning starts the warning period of an unused login profile: the console-warned tag.
// A warning already recorded for the same idle spell is kept (idempotent).
func (e *Executor) recordWarning(ctx context.Context, st plan.Step, s state) Result {
	tag := inventory.ConsoleWarnedTag(e.StatePrefix)
	if m, err := inventory.ParseMark(s.tags[tag]); err == nil && !m.At.Before(s.login.Since()) {
		return Result{Step: st, Outcome: Done, Detail: "warning already recorded on " + m.At.UTC().Format(time.RFC3339) + ": " + st.Reason}
	}
	if e.DryRun {
		return Result{Step: st, Outcome: DryRun, Detail: "would record the start of the warning period: " + st.Reason}
	}
	now := e.Now().UTC()
	if _, err := e.IAM.TagUser(ctx, &iam.TagUserInput{UserName: aws.String(st.User), Tags: []iamtypes.Tag{{
		Key: aws.String(tag), Value: aws.String(inventory.Mark{At: now}.TagValue())}}}); err != nil {
		return Result{Step: st, Outcome: Failed, Detail: "cannot record the warning; the warning period has not started", Err: fmt.Errorf("tag %s: %w", st.User, err)}
	}
	e.audit(st, "", "console_warning_recorded", Done, func(r *audit.Record) { r.Reason = st.Reason })
	return Result{Step: st, Outcome: Done, Detail: "warning recorded " + now.Format(time.RFC3339) + ": " + st.Reason}
}
