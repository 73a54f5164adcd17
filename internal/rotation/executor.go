// Package rotation carries out a plan: the staged, crash-safe rotation protocol of DESIGN.md for
// each access key, and the later deactivation and deletion of old keys. Every step re-reads the
// user's keys right before mutating and is skipped as stale when they changed since the plan.
package rotation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/keycycle/keycycle/internal/audit"
	"github.com/keycycle/keycycle/internal/backoff"
	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/secret"
)

// IAMAPI is the part of the IAM client the executor calls; *iam.Client satisfies it.
type IAMAPI interface {
	CreateAccessKey(ctx context.Context, in *iam.CreateAccessKeyInput, optFns ...func(*iam.Options)) (*iam.CreateAccessKeyOutput, error)
	UpdateAccessKey(ctx context.Context, in *iam.UpdateAccessKeyInput, optFns ...func(*iam.Options)) (*iam.UpdateAccessKeyOutput, error)
	DeleteAccessKey(ctx context.Context, in *iam.DeleteAccessKeyInput, optFns ...func(*iam.Options)) (*iam.DeleteAccessKeyOutput, error)
	GetUser(ctx context.Context, in *iam.GetUserInput, optFns ...func(*iam.Options)) (*iam.GetUserOutput, error)
	TagUser(ctx context.Context, in *iam.TagUserInput, optFns ...func(*iam.Options)) (*iam.TagUserOutput, error)
	UntagUser(ctx context.Context, in *iam.UntagUserInput, optFns ...func(*iam.Options)) (*iam.UntagUserOutput, error)
	iam.ListUserTagsAPIClient
	UpdateLoginProfile(ctx context.Context, in *iam.UpdateLoginProfileInput, optFns ...func(*iam.Options)) (*iam.UpdateLoginProfileOutput, error)
	DeleteLoginProfile(ctx context.Context, in *iam.DeleteLoginProfileInput, optFns ...func(*iam.Options)) (*iam.DeleteLoginProfileOutput, error)
	GetAccountPasswordPolicy(ctx context.Context, in *iam.GetAccountPasswordPolicyInput, optFns ...func(*iam.Options)) (*iam.GetAccountPasswordPolicyOutput, error)
}

var _ IAMAPI = (*iam.Client)(nil)

// Sink delivers a new access key to where its consumer picks it up, in two phases so that a key
// is never current anywhere before it is proven to work: Stage before the key is verified,
// Promote after. What the phases mean depends on the sink:
//   - a store with a pending state (Secrets Manager) writes the key as pending at Stage and makes
//     it current at Promote; Abort withdraws the pending version, or the current one (restoring
//     the previous) when Promote already ran;
//   - a store without a pending state (SSM Parameter Store, a credentials file) checks at Stage
//     that it can take the key and writes it at Promote; Abort writes back what the key replaced;
//   - a push sink (webhook, Lambda, e-mail) checks its preconditions at Stage (the function
//     answers, the owner has an encryption key) and sends at Promote. A send cannot be undone:
//     Abort at most tells the receiver that the key it got is revoked.
//
// Every method must be idempotent for the same key id: the executor retries, and a run that
// crashed is resumed by a later one. A push sink cannot tell what it sent before, so the executor
// records its deliveries on the user (see Executor) and does not call Promote twice for one key.
// Errors are returned as they come (wrapped with the key id and location, never the secret); the
// executor decides whether to retry, roll back or resume.
type Sink interface {
	// Name identifies the sink in reports, audit records and the delivery record on the user.
	Name() string
	// Location is where the owner fetches the key (a secret name, a parameter path, ...).
	Location(k secret.AccessKey) string
	// Stage prepares k's delivery without making k what consumers read as current.
	Stage(ctx context.Context, k secret.AccessKey) error
	// Promote makes k current (or sends it).
	Promote(ctx context.Context, k secret.AccessKey) error
	// Abort undoes what Stage and, where the sink can, Promote did for k; no error when there is
	// nothing to undo.
	Abort(ctx context.Context, k secret.AccessKey) error
}

// Holder is the optional capability of a store to tell whether it holds a version for k's key id
// (pending or current). The primary sink needs it: recovery asks it whether an interrupted
// rotation's key was stored.
type Holder interface {
	Holds(ctx context.Context, k secret.AccessKey) (bool, error)
}

// Reader is the optional capability of a sink to give a stored secret back; the primary sink
// needs it for resuming an interrupted rotation (verify before promote).
type Reader interface {
	Read(ctx context.Context, k secret.AccessKey) (secret.Value, error)
}

// Retrier is the optional capability of a sink that retries its own calls with its own backoff
// (a webhook honouring Retry-After, telling permanent refusals from transient ones). The executor
// calls such a sink once per phase instead of retrying it.
type Retrier interface {
	RetriesItself() bool
}

// Delivery is one configured destination of new keys. A Required delivery that fails (after
// retries) rolls the rotation back: the new key is deleted and the old one stays. An optional
// one's failure is reported and the rotation goes on.
type Delivery struct {
	Sink     Sink
	Required bool
}

// Outcome is what became of a step.
type Outcome string

// Outcomes.
const (
	Done    Outcome = "done"    // carried out
	Resumed Outcome = "resumed" // an interrupted rotation was completed instead
	Stale   Outcome = "stale"   // skipped: the user's keys changed since the plan
	Blocked Outcome = "blocked" // refused by a safety check at apply time
	Failed  Outcome = "failed"  // tried and failed; see Err
	DryRun  Outcome = "dry-run" // would be carried out
	Noted   Outcome = "noted"   // warn/skip/blocked plan steps: nothing to carry out
	Skipped Outcome = "skipped" // not tried because an earlier step of the same user failed
	// Busy: left alone because another run holds a live lease on the user (its intent tag).
	Busy Outcome = "busy"
	// Refused: the plan (a file, a queue message) asked for a step the current policy would not
	// plan on the user's live state; nothing changed (the plan is an upper bound, never a grant).
	Refused Outcome = "refused"
)

// Result is the outcome of one plan step.
type Result struct {
	Step     plan.Step
	Outcome  Outcome
	Detail   string          // for a person; never a secret
	NewKeyID inventory.KeyID // rotate: the new key
	Location string          // rotate: where the new key was delivered (the primary sink)
	// Sinks is what became of each delivery of a rotate step, in the configured order.
	Sinks []SinkResult
	Err   error
}

// Executor applies plan steps to one account. Set every field but Log, Audit, DryRun, RunID;
// Keys reads a user's keys fresh (scan.ReadKeys).
//
// Besides the intent and completion records (inventory), a rotation with push sinks (sinks that
// are not a Holder) keeps a delivery record on the user while it is in flight, tag
// <StatePrefix>delivered = "key=<new key id> sinks=<name>/<name>", so that a resumed rotation
// sends each push sink a key exactly once. It is removed with the intent.
type Executor struct {
	AccountID string
	IAM       IAMAPI
	Keys      func(ctx context.Context, user string) ([]inventory.AccessKey, error)
	// ListKeys and LastUse, when both set, split Keys so that a step reads only the last use it
	// needs (calls.go): ListKeys lists the keys without their last use (LastUsedKnown false),
	// LastUse fills in one key's.
	ListKeys func(ctx context.Context, user string) ([]inventory.AccessKey, error)
	LastUse  func(ctx context.Context, user string, k *inventory.AccessKey) error
	// Sinks says where a rotate step's new key is delivered, in order. The first is the primary
	// sink: required, a Holder and a Reader. Called once per rotate step, so rules can differ.
	Sinks       func(st plan.Step) []Delivery
	Verifier    Verifier
	Now         func() time.Time
	StatePrefix string
	RunID       string
	DryRun      bool
	Audit       *audit.Writer
	Log         *slog.Logger
	// Attempts and Backoff bound retries of sink writes and clean-up calls (default 3, 500ms).
	Attempts int
	Backoff  time.Duration
	// Policy is the current policy: the steps it plans now for u, a fresh read of one user (keys
	// or login profile, tags, path, groups). When set, a step is carried out only when Policy
	// plans the same action on the same credential (recheck.go): a plan file or a queue message
	// is an upper bound, never a grant. nil: no re-evaluation.
	Policy func(u inventory.User) []plan.Step
	// Scanned, when set, gives the user as a moment-old read of the account saw it (the scan of
	// the plan this apply follows), ok false when it has none fresh enough: a deactivation takes
	// the user's id, path and tags from it instead of a GetUser (calls.go). nil: always GetUser.
	Scanned func(user string) (inventory.User, bool)
	// Groups reads a user's group names for Policy; nil when the rules select by no group.
	Groups func(ctx context.Context, user string) ([]string, error)
	// Lease is how long an intent this executor writes keeps other runs away from the user
	// (default inventory.DefaultLease). It must exceed the longest rotation (verification waits
	// included): a run that finds an expired lease recovers the rotation as interrupted.
	Lease time.Duration
	// Concurrency is how many users are worked on at once (default 4).
	Concurrency int
	// Locker keeps this process's workers off a user another one is working on, by account and
	// user name (nil: one Locker for the whole process). Tests that play separate processes in
	// one give each its own (NewMemLocker).
	Locker Locker

	// Console passwords (password.go). Login reads a user's login profile fresh (scan.ReadLogin;
	// nil: none); it is required for password steps. PasswordResetRequired is set on every new
	// password. Rand is the randomness of new passwords (nil: crypto/rand.Reader).
	Login                 func(ctx context.Context, user string) (*inventory.LoginProfile, error)
	PasswordResetRequired bool
	Rand                  io.Reader

	groups sync.Map // user name -> []string: Groups, read once per user (recheck.go)
}

// Apply carries out the steps of p that belong to e.AccountID, user by user, and returns one
// result per step in plan order. A failure stops the remaining steps of that user only.
func (e *Executor) Apply(ctx context.Context, p plan.Plan) []Result {
	type group struct{ idx []int }
	var order []string
	groups := map[string]*group{}
	for i, st := range p.Steps {
		if st.AccountID != e.AccountID {
			continue
		}
		g := groups[st.User]
		if g == nil {
			g = &group{}
			groups[st.User] = g
			order = append(order, st.User)
		}
		g.idx = append(g.idx, i)
	}
	results := make([]*Result, len(p.Steps))
	n := e.Concurrency
	if n <= 0 {
		n = 4
	}
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for _, name := range order {
		g := groups[name]
		steps := make([]plan.Step, len(g.idx))
		for j, i := range g.idx {
			steps[j] = p.Steps[i]
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			rs := e.user(ctx, name, steps)
			for j, i := range g.idx {
				results[i] = &rs[j]
			}
		}()
	}
	wg.Wait()
	out := make([]Result, 0, len(p.Steps))
	for _, r := range results {
		if r != nil {
			out = append(out, *r)
		}
	}
	return out
}

// onlyHiddenFromReport reports whether fresh differs from the precondition p of a step decided on
// the credential report only by inactive keys it does not list: the report cannot show an inactive
// key never used (N/A in every column of its slot, AWS-FACTS), and one created inactive since the
// report is no change to the keys the step acts on. Such a step is not stale (planning again would
// give the same plan, forever): the current policy decides on the fresh read instead (recheck,
// which reads the last uses it needs), so this needs e.Policy.
func (e *Executor) onlyHiddenFromReport(p plan.Precondition, fresh []inventory.AccessKey, reportStep bool) bool {
	if !reportStep || e.Policy == nil {
		return false
	}
	known := map[inventory.KeyID]bool{}
	for _, k := range p.Keys {
		known[k.ID] = true
	}
	var shown []inventory.AccessKey
	hidden := 0
	for _, k := range fresh {
		if !known[k.ID] && !k.Active() {
			hidden++
			continue
		}
		shown = append(shown, k)
	}
	stale, _ := p.Stale(shown)
	return hidden > 0 && !stale
}

// changes are what this run already did to a user, so later steps' preconditions expect them.
type changes struct {
	deleted     map[inventory.KeyID]bool
	deactivated map[inventory.KeyID]bool
	// resolved maps the credential report's placeholder ids to the keys they were found to be.
	resolved map[inventory.KeyID]inventory.KeyID
}

func (c changes) expect(p plan.Precondition) plan.Precondition {
	out := plan.Precondition{}
	for _, k := range p.Keys {
		if c.deleted[k.ID] {
			continue
		}
		if c.deactivated[k.ID] {
			k.Status = inventory.StatusInactive
		}
		out.Keys = append(out.Keys, k)
	}
	return out
}

func (e *Executor) user(ctx context.Context, name string, steps []plan.Step) []Result {
	// Across processes the intent tags and IAM's two-key quota guard access keys; for console
	// passwords, which IAM changes without any conditional write, see docs/passwords.md.
	unlock, err := e.locker().Lock(ctx, e.AccountID+"/"+name)
	if err != nil {
		out := make([]Result, len(steps))
		for i, st := range steps {
			out[i] = Result{Step: st, Outcome: Skipped, Detail: "not tried: run cancelled", Err: err}
		}
		return out
	}
	defer unlock()
	ch := changes{deleted: map[inventory.KeyID]bool{}, deactivated: map[inventory.KeyID]bool{}, resolved: map[inventory.KeyID]inventory.KeyID{}}
	out := make([]Result, 0, len(steps))
	// A step that did not complete stops the later steps of the same credential: a user's access
	// keys and console password do not depend on each other.
	stopped := map[plan.Credential]bool{}
	for _, st := range steps {
		if !st.Changes() {
			out = append(out, Result{Step: st, Outcome: Noted, Detail: st.Reason})
			continue
		}
		if stopped[st.Credential] {
			out = append(out, Result{Step: st, Outcome: Skipped, Detail: "not tried: an earlier step for this user did not complete"})
			continue
		}
		if err := ctx.Err(); err != nil {
			out = append(out, Result{Step: st, Outcome: Skipped, Detail: "not tried: run cancelled", Err: err})
			continue
		}
		r := e.step(ctx, st, ch)
		switch r.Outcome {
		case Done, Resumed, DryRun:
			switch st.Action {
			case plan.Delete:
				ch.deleted[r.Step.AccessKeyID] = true
			case plan.Deactivate:
				ch.deactivated[r.Step.AccessKeyID] = true
			}
		default:
			stopped[st.Credential] = true
		}
		e.logResult(r)
		out = append(out, r)
	}
	return out
}

func (e *Executor) logger() *slog.Logger {
	if e.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Log
}

func (e *Executor) logResult(r Result) {
	lvl := slog.LevelInfo
	if r.Outcome == Failed {
		lvl = slog.LevelError
	} else if r.Outcome == Stale || r.Outcome == Blocked {
		lvl = slog.LevelWarn
	}
	attrs := []any{"account_id", r.Step.AccountID, "user", r.Step.User, "credential", string(r.Step.Credential), "access_key_id", r.Step.AccessKeyID,
		"step", string(r.Step.Action), "outcome", string(r.Outcome), "reason", r.Detail}
	if r.NewKeyID != "" {
		attrs = append(attrs, "new_access_key_id", r.NewKeyID)
	}
	if r.Err != nil {
		attrs = append(attrs, "error", r.Err.Error())
	}
	e.logger().Log(context.Background(), lvl, "step", attrs...)
}

func (e *Executor) audit(st plan.Step, rotationID, event string, outcome Outcome, extra func(*audit.Record)) {
	rec := audit.Record{Time: e.Now().UTC(), RunID: e.RunID, RotationID: rotationID, AccountID: st.AccountID,
		User: st.User, UserID: st.UserID, Credential: string(st.Credential), Action: string(st.Action),
		Event: event, Outcome: string(outcome), AccessKeyID: st.AccessKeyID.Raw(), DryRun: e.DryRun}
	if extra != nil {
		extra(&rec)
	}
	e.Audit.Write(rec)
}

// state is a fresh read of one user.
type state struct {
	userID string
	arn    string
	path   string
	keys   []inventory.AccessKey
	tags   map[string]string
	login  *inventory.LoginProfile // password steps only; nil: no login profile
}

func (s state) key(id inventory.KeyID) *inventory.AccessKey {
	for i := range s.keys {
		if s.keys[i].ID == id {
			return &s.keys[i]
		}
	}
	return nil
}

func (s state) active() int {
	n := 0
	for _, k := range s.keys {
		if k.Active() {
			n++
		}
	}
	return n
}

func (e *Executor) read(ctx context.Context, user string) (state, error) {
	return e.readUser(ctx, user, true)
}

// readUser reads the user with its tags (GetUser answers every tag: IAM allows 50 per user)
// and, withKeys, its access keys.
func (e *Executor) readUser(ctx context.Context, user string, withKeys bool) (state, error) {
	u, err := e.IAM.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(user)})
	if err != nil {
		return state{}, fmt.Errorf("get user %s: %w", user, err)
	}
	var keys []inventory.AccessKey
	if withKeys {
		if keys, err = e.Keys(ctx, user); err != nil {
			return state{}, err
		}
	}
	tags := make(map[string]string, len(u.User.Tags))
	for _, t := range u.User.Tags {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return state{userID: aws.ToString(u.User.UserId), arn: aws.ToString(u.User.Arn), path: aws.ToString(u.User.Path), keys: keys, tags: tags}, nil
}

func (e *Executor) step(ctx context.Context, st plan.Step, ch changes) Result {
	if st.Credential == plan.Password {
		return e.passwordStep(ctx, st)
	}
	s, err := e.readFor(ctx, st)
	if err != nil {
		return Result{Step: st, Outcome: Failed, Detail: "cannot re-read the user's keys; nothing changed", Err: err}
	}
	reportStep := fromReport(st)
	if reportStep {
		// Decided on the credential report: find the keys it meant on this fresh read (calls.go).
		rs, why := resolve(st, s.keys, ch.resolved)
		if why != "" {
			e.audit(st, "", "precondition_changed", Stale, func(r *audit.Record) { r.Reason = why })
			return Result{Step: st, Outcome: Stale, Detail: why + "; run plan again"}
		}
		st = rs
		if k := s.key(st.AccessKeyID); k != nil && !k.LastUsedKnown && e.LastUse != nil && (st.Action == plan.Deactivate || st.Action == plan.Delete) {
			if err := e.LastUse(ctx, st.User, k); err != nil {
				return Result{Step: st, Outcome: Failed, Detail: "cannot re-read the last use of the key; nothing changed", Err: err}
			}
		}
	}
	if st.UserID != "" && s.userID != st.UserID {
		why := "user " + st.User + " was deleted and recreated since the plan (new user id)"
		e.audit(st, "", "precondition_changed", Stale, func(r *audit.Record) { r.Reason = why })
		return Result{Step: st, Outcome: Stale, Detail: why}
	}
	if stale, why := ch.expect(st.Precondition).Stale(s.keys); stale && !e.resumable(st, s) && !e.onlyHiddenFromReport(ch.expect(st.Precondition), s.keys, reportStep) {
		e.audit(st, "", "precondition_changed", Stale, func(r *audit.Record) { r.Reason = why })
		return Result{Step: st, Outcome: Stale, Detail: why + "; run plan again"}
	}
	if r, busy := e.leased(st, s); busy {
		return r
	}
	room := ""
	if reportStep {
		var fail *Result
		if s, room, fail = e.makeRoom(ctx, st, s); fail != nil {
			return *fail
		}
	}
	if r, ok := e.recheck(ctx, st, s); !ok {
		return r
	}
	switch st.Action {
	case plan.Rotate:
		r := e.rotate(ctx, st, s)
		r.Detail = room + r.Detail
		return r
	case plan.Deactivate:
		return e.deactivate(ctx, st, s)
	case plan.Delete:
		return e.delete(ctx, st, s)
	}
	return Result{Step: st, Outcome: Noted, Detail: st.Reason}
}

// leaseRun is the run id this executor writes in its leases.
func (e *Executor) leaseRun() string { return inventory.LeaseRunID(e.RunID) }

func (e *Executor) lease() time.Duration {
	if e.Lease <= 0 {
		return inventory.DefaultLease
	}
	return e.Lease
}

// newIntent is the intent of a rotation of old starting now, under this run's lease.
func (e *Executor) newIntent(old inventory.KeyID) string {
	now := e.Now().UTC()
	return inventory.RotationIntent{Started: now, Old: old, Lease: inventory.Lease{Run: e.leaseRun(), Until: now.Add(e.lease())}}.TagValue()
}

// leased reports whether another run holds a live lease on the user's access keys (its rotation
// intent), and the Busy result that leaves the user to it.
func (e *Executor) leased(st plan.Step, s state) (Result, bool) {
	raw, ok := s.tags[inventory.IntentTag(e.StatePrefix)]
	if !ok {
		return Result{}, false
	}
	in, err := inventory.ParseRotationIntent(raw)
	if err != nil || !in.Live(e.Now(), e.leaseRun()) {
		return Result{}, false
	}
	owner := in.Run
	if owner == "" {
		owner = "an earlier keycycle run"
	} else {
		owner = "run " + owner
	}
	why := fmt.Sprintf("left to %s: it holds the rotation lease on this user until %s", owner, in.End(in.Started).Format(time.RFC3339))
	e.audit(st, "", "lease_held", Busy, func(r *audit.Record) { r.Reason = why })
	return Result{Step: st, Outcome: Busy, Detail: why}, true
}

// resumable: a rotate step on a user with an intent record is carried out even when the keys
// changed (the interrupted run's key is the change): recovery decides what to do.
func (e *Executor) resumable(st plan.Step, s state) bool {
	_, ok := s.tags[inventory.IntentTag(e.StatePrefix)]
	return st.Action == plan.Rotate && ok
}

func (e *Executor) deactivate(ctx context.Context, st plan.Step, s state) Result {
	k := s.key(st.AccessKeyID)
	if k == nil || !k.Active() {
		return Result{Step: st, Outcome: Stale, Detail: "key is no longer active"}
	}
	if s.active() < 2 {
		// I2: never take away a user's last active key.
		e.audit(st, "", "refused_last_active_key", Blocked, nil)
		return Result{Step: st, Outcome: Blocked, Detail: "refused: it is the user's only active key (no lockout)"}
	}
	if e.DryRun {
		return Result{Step: st, Outcome: DryRun, Detail: "would deactivate: " + st.Reason}
	}
	// Record first, then deactivate: the later delete counts its grace from the record, so no
	// key may be deactivated without one (a key deactivated without a record would be dated by
	// its last use, and deleted sooner than delete_after after its deactivation: I4). A record
	// naming a key that is still active shortens nothing: the policy reads deactivation records
	// of inactive keys only.
	now := e.Now().UTC()
	recTag := e.deactivationRecord(k.ID, now)
	_, err := e.IAM.TagUser(ctx, &iam.TagUserInput{UserName: aws.String(st.User), Tags: []iamtypes.Tag{recTag}})
	var full *iamtypes.LimitExceededException
	if errors.As(err, &full) {
		// No room for a tag of its own (IAM allows 50): record it in the rotation record, as
		// earlier versions did, rewritten from a fresh read.
		if t, ok := e.recordInRotation(ctx, st.User, k.ID, now); ok {
			recTag = t
			_, err = e.IAM.TagUser(ctx, &iam.TagUserInput{UserName: aws.String(st.User), Tags: []iamtypes.Tag{recTag}})
		}
	}
	if err != nil {
		e.audit(st, "", "deactivate_failed", Failed, func(r *audit.Record) { r.Error = err.Error() })
		return Result{Step: st, Outcome: Failed, Detail: "cannot record the deactivation time; key still active, nothing changed",
			Err: fmt.Errorf("record the deactivation of %s on %s: %w", k.ID, st.User, err)}
	}
	if _, err := e.IAM.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String(st.User), AccessKeyId: aws.String(k.ID.Raw()), Status: iamtypes.StatusTypeInactive}); err != nil {
		// The record stays. It names a key that is still active and unused since, which the
		// policy reads as a deactivation that did not happen: the next run deactivates again
		// and records its own time. Putting back the tag as this run read it would erase the
		// record of another run that deactivated the key meanwhile (I4).
		if gone(err) {
			// The record names a key that no longer exists: nothing reads it.
			why := "the key was deleted meanwhile (by another run or a person); nothing to deactivate"
			e.audit(st, "", "precondition_changed", Stale, func(r *audit.Record) { r.Reason = why })
			return Result{Step: st, Outcome: Stale, Detail: why}
		}
		e.audit(st, "", "deactivate_failed", Failed, func(r *audit.Record) { r.Error = err.Error() })
		return Result{Step: st, Outcome: Failed, Detail: "deactivation failed: the key stays active unless another run deactivated it meanwhile; its deactivation record stays on the user and counts only once the key is inactive",
			Err: fmt.Errorf("deactivate %s of %s: %w", k.ID, st.User, err)}
	}
	e.audit(st, "", "key_deactivated", Done, func(r *audit.Record) { r.Reason = st.Reason })
	return Result{Step: st, Outcome: Done, Detail: "deactivated: " + st.Reason}
}

// deactivationRecord is the tag recording that key id is deactivated at now: the deactivation
// record, for every deactivation (earlier versions added deactivated= to the completion record
// when id was the key its rotation replaced; the policy still reads that). Its value is built from
// nothing on the user, so a read of the user's tags that is moments old (Executor.Scanned) cannot
// carry anything stale into it.
func (e *Executor) deactivationRecord(id inventory.KeyID, now time.Time) iamtypes.Tag {
	return iamtypes.Tag{Key: aws.String(inventory.DeactivatedTag(e.StatePrefix)), Value: aws.String(inventory.DeactivationRecord{At: now, Key: id}.TagValue())}
}

// recordInRotation is the rotation record of user, read fresh, with id's deactivation at now,
// when id is the key that record's rotation replaced (ok false otherwise, or when the read fails):
// the record of a deactivation on a user with no room for keycycle:deactivated.
func (e *Executor) recordInRotation(ctx context.Context, user string, id inventory.KeyID, now time.Time) (tag iamtypes.Tag, ok bool) {
	s, err := e.readUser(ctx, user, false)
	if err != nil {
		return tag, false
	}
	key := inventory.RotatedTag(e.StatePrefix)
	rec, err := inventory.ParseRotationRecord(s.tags[key])
	if err != nil || rec.Old != id {
		return tag, false
	}
	rec.Deactivated = now
	return iamtypes.Tag{Key: aws.String(key), Value: aws.String(rec.TagValue())}, true
}

func (e *Executor) delete(ctx context.Context, st plan.Step, s state) Result {
	k := s.key(st.AccessKeyID)
	if k == nil {
		return Result{Step: st, Outcome: Stale, Detail: "key no longer exists"}
	}
	if k.Active() {
		// I4: nothing active is ever deleted.
		e.audit(st, "", "refused_active_key", Blocked, nil)
		return Result{Step: st, Outcome: Blocked, Detail: "refused: the key is active (only inactive keys are deleted)"}
	}
	if e.DryRun {
		return Result{Step: st, Outcome: DryRun, Detail: "would delete: " + st.Reason}
	}
	if _, err := e.IAM.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(st.User), AccessKeyId: aws.String(k.ID.Raw())}); err != nil {
		if gone(err) {
			// Another run (or a person) deleted it between our read and our call: the step's
			// goal is reached, not failed.
			why := "the key was already deleted (by another run or a person); nothing left to delete"
			e.audit(st, "", "already_deleted", Stale, func(r *audit.Record) { r.Reason = why })
			return Result{Step: st, Outcome: Stale, Detail: why}
		}
		e.audit(st, "", "delete_failed", Failed, func(r *audit.Record) { r.Error = err.Error() })
		return Result{Step: st, Outcome: Failed, Detail: "deletion failed; key still there (inactive)", Err: fmt.Errorf("delete %s of %s: %w", k.ID, st.User, err)}
	}
	// The deactivation record of a key deactivated outside a rotation is removed with the key; that
	// of a rotation's old key stays, like the rotation record naming it, until the next
	// deactivation overwrites it (no further call on a deletion's default path).
	if d, err := inventory.ParseDeactivationRecord(s.tags[inventory.DeactivatedTag(e.StatePrefix)]); err == nil && d.Key == k.ID {
		if rec, err := inventory.ParseRotationRecord(s.tags[inventory.RotatedTag(e.StatePrefix)]); err != nil || rec.Old != k.ID {
			e.untag(ctx, st.User, inventory.DeactivatedTag(e.StatePrefix))
		}
	}
	e.audit(st, "", "key_deleted", Done, func(r *audit.Record) { r.Reason = st.Reason })
	return Result{Step: st, Outcome: Done, Detail: "deleted: " + st.Reason}
}

// gone reports whether IAM answered that the key (or its user) does not exist.
func gone(err error) bool {
	var nse *iamtypes.NoSuchEntityException
	return errors.As(err, &nse)
}

func (e *Executor) untag(ctx context.Context, user string, keys ...string) {
	if err := e.untagErr(ctx, user, keys...); err != nil {
		e.logger().Warn("remove state tag", "account_id", e.AccountID, "user", user, "tags", keys, "error", err)
	}
}

// untagErr removes tags from the user, with retries, and returns the last error.
func (e *Executor) untagErr(ctx context.Context, user string, keys ...string) error {
	return e.retry(ctx, func() error {
		_, err := e.IAM.UntagUser(ctx, &iam.UntagUserInput{UserName: aws.String(user), TagKeys: keys})
		return err
	})
}

// retry runs fn up to e.Attempts times with doubling waits; it stops early on ctx.
func (e *Executor) retry(ctx context.Context, fn func() error) error {
	p := backoff.Policy{Attempts: e.Attempts, Initial: e.Backoff}.With(backoff.Policy{Attempts: 3, Initial: 500 * time.Millisecond, Max: 10 * time.Second})
	return p.Retry(ctx, func() (time.Duration, error) { return 0, fn() })
}

func sortedIDs(keys []inventory.AccessKey) []string {
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k.ID.String())
	}
	sort.Strings(out)
	return out
}
