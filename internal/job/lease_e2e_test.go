package job_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/job"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/rotation"
)

// hooked returns cfg with a hook run before every call of the named operation, and a switch that
// makes every later call of the runner fail (the process was killed: it sends nothing more).
// The hook sees the call number (from 1). It interleaves runs deterministically: no sleeps.
type hooked struct {
	mu     sync.Mutex
	calls  map[string]int
	before map[string]func(n int)
	after  map[string]func(n int)
	dead   bool
}

var errKilled = errors.New("process killed (test)")

func (h *hooked) config(cfg aws.Config) aws.Config {
	cfg = cfg.Copy()
	cfg.APIOptions = append(cfg.APIOptions, func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("test-hook", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			op := awsmiddleware.GetOperationName(ctx)
			h.mu.Lock()
			if h.dead {
				h.mu.Unlock()
				return middleware.InitializeOutput{}, middleware.Metadata{}, errKilled
			}
			h.calls[op]++
			n := h.calls[op]
			before, after := h.before[op], h.after[op]
			h.mu.Unlock()
			if before != nil {
				before(n)
			}
			out, md, err := next.HandleInitialize(ctx, in)
			if after != nil {
				after(n)
			}
			return out, md, err
		}), middleware.Before)
	})
	return cfg
}

// twoRuns are two runs "run-a" and "run-b" of e, as two processes (their own user locks), each
// with its hook.
func twoRuns(e *env) (a, b *job.Runner, ha, hb *hooked) {
	ha, hb = newHooked(), newHooked()
	a, b = e.runner(), e.runner()
	a.AWS, a.RunID, a.Locker = ha.config(e.cfg), "run-a", rotation.NewMemLocker()
	b.AWS, b.RunID, b.Locker = hb.config(e.cfg), "run-b", rotation.NewMemLocker()
	return a, b, ha, hb
}

func newHooked() *hooked {
	return &hooked{calls: map[string]int{}, before: map[string]func(int){}, after: map[string]func(int){}}
}

func (h *hooked) kill() { h.mu.Lock(); h.dead = true; h.mu.Unlock() }

// TestLiveLeaseIsLeftToItsOwner is the lost rotation of issue 11 (I1, I7): run B sees run A's
// fresh intent before A has created its key; A is killed right after CreateAccessKey. B must leave
// A's lease alone (before leases, B cleared it, and nothing ever recorded A's key again); once the
// lease expired, a later run finds A's key in no sink, deletes it and rotates.
func TestLiveLeaseIsLeftToItsOwner(t *testing.T) {
	e := newEnv(t)
	old := e.keys(t, "due")[0]
	p := e.plan(t)

	a, b, ha, hb := twoRuns(e)

	var bRes []rotation.Result
	ha.before["CreateAccessKey"] = func(int) {
		// A has written and confirmed its intent; B applies the same plan now. Should B reach
		// CreateAccessKey, A's key is created first (the interleaving of the attack).
		hb.before["CreateAccessKey"] = func(int) {}
		var err error
		if bRes, err = b.Apply(context.Background(), p, false); err != nil {
			t.Error(err)
		}
	}
	ha.after["CreateAccessKey"] = func(int) { ha.kill() }
	_, _ = a.Apply(context.Background(), p, false)

	if o := outcomes(bRes); o[rotation.Busy] != 1 || o[rotation.Failed] != 0 {
		t.Fatalf("run B: want busy (A holds the lease), got %v %+v", o, bRes)
	}
	if !strings.Contains(bRes[0].Detail, "run-a") {
		t.Errorf("busy reason must name the owner: %q", bRes[0].Detail)
	}
	keys := e.keys(t, "due")
	if len(keys) != 2 {
		t.Fatalf("setup: A's key must exist (A was killed after CreateAccessKey): %+v", keys)
	}
	orphan := keys[1].AccessKeyID
	intent, err := inventory.ParseRotationIntent(e.tags(t, "due")["keycycle:rotation"])
	if err != nil || intent.Run != "run-a" {
		t.Fatalf("A's intent must stay on the user: %+v %v", intent, err)
	}

	// While the lease is live every run leaves the user alone: a fresh plan skips it, and the
	// saved plan's rotation is left to A.
	fresh := e.plan(t)
	if n := countActions(fresh); n["rotate"] != 0 || !strings.Contains(fresh.Steps[0].Reason, "run-a holds the lease") {
		t.Fatalf("plan during the lease: %+v", fresh.Steps)
	}
	c := e.runner()
	c.Locker = rotation.NewMemLocker()
	if res, err := c.Apply(context.Background(), p, false); err != nil || outcomes(res)[rotation.Busy] != 1 {
		t.Fatalf("saved plan during the lease: %+v %v", res, err)
	}
	// After it, the interrupted rotation is recovered: A's key (its secret lost) deleted, a new
	// key delivered.
	e.sb.Clock().Advance(inventory.DefaultLease + 1)
	res := e.apply(t)
	if o := outcomes(res); o[rotation.Done] != 1 {
		t.Fatalf("run after the lease: %v %+v", o, res)
	}
	keys = e.keys(t, "due")
	id, sec, ok := e.secretValue(t, "due", "AWSCURRENT")
	if len(keys) != 2 || keys[0].AccessKeyID != old.AccessKeyID || !ok || keys[1].AccessKeyID != id || id == orphan {
		t.Fatalf("after recovery: keys %+v, current secret %s, orphan %s", keys, id, orphan)
	}
	mustAuth(t, e, id, sec)
	if _, ok := e.tags(t, "due")["keycycle:rotation"]; ok {
		t.Fatal("intent left after the recovery completed")
	}
}

// TestPendingSecretIsResumedAfterAConcurrentRun: A's promotion fails ("stored as pending, the
// next apply resumes") while B runs; B must not remove A's record, and the next apply promotes
// A's key: no AWSPENDING secret is left unresumed.
func TestPendingSecretIsResumedAfterAConcurrentRun(t *testing.T) {
	e := newEnv(t)
	p := e.plan(t)
	a, b, ha, _ := twoRuns(e)
	var bRes []rotation.Result
	ha.before["UpdateSecretVersionStage"] = func(int) {
		// A stored its key as pending and is about to promote it: B runs now.
		var err error
		if bRes, err = b.Apply(context.Background(), p, false); err != nil {
			t.Error(err)
		}
		// And A's promotion fails for good.
		_ = e.sb.SetFaults(awssim.Faults{Errors: []awssim.ErrorRule{{Match: awssim.Match{Service: "secretsmanager", Action: "UpdateSecretVersionStage"}, Code: "InternalServiceError"}}})
	}
	aRes, err := a.Apply(context.Background(), p, false)
	if err != nil {
		t.Fatal(err)
	}
	if o := outcomes(bRes); o[rotation.Busy] != 1 {
		t.Fatalf("run B: want busy, got %v %+v", o, bRes)
	}
	if o := outcomes(aRes); o[rotation.Failed] != 1 {
		t.Fatalf("run A: want its promotion to fail, got %v %+v", o, aRes)
	}
	pending, _, ok := e.secretValue(t, "due", "AWSPENDING")
	if !ok {
		t.Fatal("setup: A's key must be pending")
	}
	if err := e.sb.SetFaults(awssim.Faults{}); err != nil {
		t.Fatal(err)
	}
	// A released its lease when it gave up: the next apply resumes at once.
	if o := outcomes(e.apply(t)); o[rotation.Resumed] != 1 {
		t.Fatalf("next apply: want resumed, got %v", o)
	}
	if id, _, ok := e.secretValue(t, "due", "AWSCURRENT"); !ok || id != pending {
		t.Fatalf("current %s, want A's key %s", id, pending)
	}
	if keys := e.keys(t, "due"); len(keys) != 2 {
		t.Fatalf("one rotation, one new key: %+v", keys)
	}
}

// TestOrphanWithoutIntentIsCleanedUp: a key created by a rotation whose intent tag was lost
// (removed by hand, or by an old keycycle) is newer than the last completion, never used and in
// no sink: it is deleted and the rotation starts over, instead of "two active keys" forever.
func TestOrphanWithoutIntentIsCleanedUp(t *testing.T) {
	e := newEnv(t, awssimtest.WithFaults(awssim.Faults{Errors: []awssim.ErrorRule{
		{Match: awssim.Match{Service: "secretsmanager", Action: "PutSecretValue"}, Code: "InternalServiceError"},
		{Match: awssim.Match{Service: "iam", Action: "UpdateAccessKey"}, Code: "ServiceFailure"},
	}}))
	old := e.keys(t, "due")[0]
	// keycycle rotated this user before: its key is the new one of a completion record.
	rec := inventory.RotationRecord{At: old.CreateDate, Old: "AKIAEARLIEREARLIER01", New: inventory.KeyID(old.AccessKeyID)}
	if _, err := iam.NewFromConfig(e.cfg).TagUser(context.Background(), &iam.TagUserInput{UserName: aws.String("due"),
		Tags: []iamtypes.Tag{{Key: aws.String("keycycle:rotated"), Value: aws.String(rec.TagValue())}}}); err != nil {
		t.Fatal(err)
	}
	e.apply(t) // leaves the new key and the intent behind
	keys := e.keys(t, "due")
	if len(keys) != 2 {
		t.Fatalf("setup: %+v", keys)
	}
	orphan := keys[1].AccessKeyID
	if err := e.sb.SetFaults(awssim.Faults{}); err != nil {
		t.Fatal(err)
	}
	r := e.runner()
	if _, err := iamUntag(r, "due", "keycycle:rotation"); err != nil {
		t.Fatal(err)
	}
	// Too young to be an orphan (a live run may still be storing it): left alone.
	if res := e.apply(t); outcomes(res)[rotation.Done] != 0 || len(e.keys(t, "due")) != 2 || e.keys(t, "due")[1].AccessKeyID != orphan {
		t.Fatalf("a key younger than the lease must not be taken for an orphan: %+v", res)
	}
	// Past the lease, and past the credential report's 4 hours, so the plan sees the orphan too.
	e.sb.Clock().Advance(5 * time.Hour)
	res := e.apply(t)
	if o := outcomes(res); o[rotation.Done] != 1 {
		t.Fatalf("want the orphan cleaned and the key rotated: %v %+v", o, res)
	}
	keys = e.keys(t, "due")
	id, _, ok := e.secretValue(t, "due", "AWSCURRENT")
	if len(keys) != 2 || keys[0].AccessKeyID != old.AccessKeyID || keys[1].AccessKeyID == orphan || !ok || id != keys[1].AccessKeyID {
		t.Fatalf("keys %+v current %s orphan %s", keys, id, orphan)
	}
	if !strings.Contains(e.audit.String(), `"event":"orphan_found"`) || !strings.Contains(e.audit.String(), `"event":"orphan_deleted"`) {
		t.Fatal("orphan not audited")
	}
}

func iamUntag(r *job.Runner, user, key string) (*iam.UntagUserOutput, error) {
	return iam.NewFromConfig(r.AWS).UntagUser(context.Background(), &iam.UntagUserInput{UserName: aws.String(user), TagKeys: []string{key}})
}

const goneScenario = `
start: 2026-11-21T09:00:00Z
accounts:
  - id: "111111111111"
    users:
      - name: due
        tags: {"keycycle:deactivated": "at=2026-11-01T09:00:00Z key=AKIAGONEGONE00000001"}
        access_keys:
          - {id: AKIAGONEGONE00000001, age_days: 200, status: Inactive, last_used_days_ago: 150}
          - {id: AKIAGONEKEEP00000002, age_days: 30, status: Active, last_used_days_ago: 1}
`

// TestDeletionOfAKeyAnotherRunDeletedSaysSo (issue 11, point 5): between this run's fresh read
// and its DeleteAccessKey another run deletes the key. That is not "deletion failed; key still
// there": the outcome is stale, with the truth, and the run does not fail.
func TestDeletionOfAKeyAnotherRunDeletedSaysSo(t *testing.T) {
	e := newEnv(t, awssimtest.WithScenarioYAML(t, goneScenario))
	p := e.plan(t)
	if countActions(p)["delete"] != 1 {
		t.Fatalf("setup: want one delete, got %+v", p.Steps)
	}
	h := newHooked()
	r := e.runner()
	r.AWS = h.config(e.cfg)
	h.before["DeleteAccessKey"] = func(n int) {
		if n == 1 {
			if _, err := iam.NewFromConfig(e.cfg).DeleteAccessKey(context.Background(), &iam.DeleteAccessKeyInput{
				UserName: aws.String("due"), AccessKeyId: aws.String("AKIAGONEGONE00000001")}); err != nil {
				t.Error(err)
			}
		}
	}
	res, err := r.Apply(context.Background(), p, false)
	if err != nil {
		t.Fatal(err)
	}
	var del rotation.Result
	for _, x := range res {
		if x.Step.Action == "delete" {
			del = x
		}
	}
	if del.Outcome != rotation.Stale || !strings.Contains(del.Detail, "already deleted") || strings.Contains(del.Detail, "still there") {
		t.Fatalf("want stale 'already deleted', got %s: %q %v", del.Outcome, del.Detail, del.Err)
	}
}

// The console password has the same lease: a saved plan's password rotation is left to the run
// that holds it, and the password is not changed twice.
func TestLivePasswordLeaseIsLeftToItsOwner(t *testing.T) {
	e := newPasswordEnv(t)
	p := e.plan(t)
	passwordStep(t, p, "console", plan.Rotate)
	now := e.sb.Clock().Now()
	in := inventory.PasswordIntent{Started: now, Lease: inventory.Lease{Run: "run-a", Until: now.Add(10 * time.Minute)}}
	if _, err := iam.NewFromConfig(e.cfg).TagUser(context.Background(), &iam.TagUserInput{UserName: aws.String("console"),
		Tags: []iamtypes.Tag{{Key: aws.String("keycycle:password-rotation"), Value: aws.String(in.TagValue())}}}); err != nil {
		t.Fatal(err)
	}
	res, err := e.runner().Apply(context.Background(), p, false)
	if err != nil {
		t.Fatal(err)
	}
	r := passwordResult(t, res, "console", plan.Rotate)
	if r.Outcome != rotation.Busy || !strings.Contains(r.Detail, "run-a") {
		t.Fatalf("want busy, left to run-a: %+v", r)
	}
	if v := storedPassword(t, e, "console", "AWSCURRENT"); v.Password != "" {
		t.Fatal("a password was delivered while another run held the lease")
	}
	if e.tags(t, "console")["keycycle:password-rotation"] != in.TagValue() {
		t.Fatal("the other run's lease was touched")
	}
}

// TestSimultaneousIntentsKeepTheWinnersKeyGuarded: A and B write their intents so close together
// that each reads its own back; A creates its key and is killed; B's CreateAccessKey then meets
// IAM's two-key quota. B must leave its intent (now guarding A's key) instead of clearing it:
// otherwise A's key stays active with its secret stored nowhere and no record, and every later
// run reports "two active keys" forever. The interleaving is forced with channels at given API
// calls; the only timer is a deadlock guard.
func TestSimultaneousIntentsKeepTheWinnersKeyGuarded(t *testing.T) {
	e := newEnv(t)
	old := e.keys(t, "due")[0]
	p := e.plan(t)
	a, b, ha, hb := twoRuns(e)
	bReady, aConfirmed, bConfirmed, aCreated := make(chan struct{}), make(chan struct{}), make(chan struct{}), make(chan struct{})
	wait := func(ch chan struct{}, what string) {
		select {
		case <-ch:
		case <-time.After(20 * time.Second):
			t.Errorf("deadlock guard: %s never happened", what)
		}
	}
	hb.before["TagUser"] = func(n int) {
		if n == 1 { // B read the user (no intent) and is about to write its own
			close(bReady)
			wait(aConfirmed, "A confirmed its intent")
		}
	}
	hb.after["GetUser"] = func(n int) {
		if n == 2 { // B read its own intent back
			close(bConfirmed)
		}
	}
	hb.before["CreateAccessKey"] = func(int) { wait(aCreated, "A created its key") }
	ha.before["CreateAccessKey"] = func(int) {
		close(aConfirmed)
		wait(bConfirmed, "B confirmed its intent")
	}
	ha.after["CreateAccessKey"] = func(int) {
		ha.kill()
		close(aCreated)
	}
	var bRes []rotation.Result
	done := make(chan struct{})
	go func() {
		defer close(done)
		bRes, _ = b.Apply(context.Background(), p, false)
	}()
	wait(bReady, "B ready")
	_, _ = a.Apply(context.Background(), p, false)
	wait(done, "B finished")

	if o := outcomes(bRes); o[rotation.Busy] != 1 {
		t.Fatalf("run B: want busy (another run's key appeared), got %v %+v", o, bRes)
	}
	keys := e.keys(t, "due")
	if len(keys) != 2 {
		t.Fatalf("setup: A's key must exist: %+v", keys)
	}
	orphan := keys[1].AccessKeyID
	intent, err := inventory.ParseRotationIntent(e.tags(t, "due")["keycycle:rotation"])
	if err != nil || intent.Run != "run-b" {
		t.Fatalf("B's intent must stay and guard A's key: %+v %v", intent, err)
	}
	e.sb.Clock().Advance(inventory.DefaultLease + time.Second)
	if o := outcomes(e.apply(t)); o[rotation.Done] != 1 {
		t.Fatalf("run after the lease: %v", o)
	}
	keys = e.keys(t, "due")
	id, _, ok := e.secretValue(t, "due", "AWSCURRENT")
	if len(keys) != 2 || keys[0].AccessKeyID != old.AccessKeyID || !ok || keys[1].AccessKeyID != id || id == orphan {
		t.Fatalf("after recovery: keys %+v, current %s, orphan %s", keys, id, orphan)
	}
}

// Run A finishes a password rotation between run B's fresh read and B's intent: B's lease is then
// free and its own, but A's completion record is newer than B's plan. B must not change the
// password a second time (I7; found by the chaos harness as "password-rotated-twice").
func TestPasswordRotatedByAnotherRunAfterOurReadIsNotRotatedAgain(t *testing.T) {
	e := newPasswordEnv(t)
	full := e.plan(t)
	p := plan.New(full.GeneratedAt, []plan.Step{passwordStep(t, full, "console", plan.Rotate)})
	a, b := e.runner(), e.runner()
	a.Locker, b.Locker = rotation.NewMemLocker(), rotation.NewMemLocker() // two processes
	hb := newHooked()
	b.AWS = hb.config(b.AWS)
	var resA []rotation.Result
	var errA error
	hb.before["TagUser"] = func(n int) {
		if n == 1 { // B has read the user fresh and is about to write its intent: A runs the same plan to the end first
			resA, errA = a.Apply(context.Background(), p, false)
		}
	}
	resB, err := b.Apply(context.Background(), p, false)
	if err != nil || errA != nil {
		t.Fatal(err, errA)
	}
	if r := passwordResult(t, resA, "console", plan.Rotate); r.Outcome != rotation.Done {
		t.Fatalf("run A: %+v", r)
	}
	afterA := storedPassword(t, e, "console", "AWSCURRENT")
	r := passwordResult(t, resB, "console", plan.Rotate)
	if r.Outcome != rotation.Stale || !strings.Contains(r.Detail, "rotated by another run") {
		t.Fatalf("run B: want stale (rotated by another run), got %s: %s", r.Outcome, r.Detail)
	}
	if got := storedPassword(t, e, "console", "AWSCURRENT"); got.Password == "" || got.Password != afterA.Password {
		t.Fatal("run B changed the password A had just rotated")
	}
	if _, ok := e.tags(t, "console")["keycycle:password-rotation"]; ok {
		t.Fatal("run B left its intent behind")
	}
}

// concurrentPasswordRuns are run A and run B of a password rotation of console, as two processes.
func concurrentPasswordRuns(t *testing.T, e *env) (p plan.Plan, a, b *job.Runner, ha, hb *hooked) {
	t.Helper()
	full := e.plan(t)
	p = plan.New(full.GeneratedAt, []plan.Step{passwordStep(t, full, "console", plan.Rotate)})
	a, b, ha, hb = twoRuns(e)
	return p, a, b, ha, hb
}

// waitFor waits for ch; the timer only guards against a deadlock of the test itself.
func waitFor(t *testing.T, ch chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Errorf("deadlock guard: %s never happened", what)
	}
}

// passwordChanges counts the console password changes the runs made (their audit records).
func passwordChanges(e *env) int { return strings.Count(e.audit.String(), `"event":"password_set"`) }

// Run B reads the user before run A takes its lease; A gets as far as UpdateLoginProfile (past
// every check); B now takes the password lease, and A changes the password after B. IAM tags have
// no compare-and-set and no quota stops a second password change: before per-run leases, B's
// intent overwrote A's, B read its own back and both changed the password (I7, the chaos
// harness's password-rotated-twice). B must find A's lease and leave the user to it.
func TestPasswordLeaseTakenAfterAnotherRunsChecksIsLeftToIt(t *testing.T) {
	e := newPasswordEnv(t)
	p, a, b, ha, hb := concurrentPasswordRuns(t, e)
	bReady, aAtChange, bDone := make(chan struct{}), make(chan struct{}), make(chan struct{})
	hb.before["TagUser"] = func(n int) {
		if n == 1 { // B has read the user (no lease, no intent) and is about to take its lease
			close(bReady)
			waitFor(t, aAtChange, "A at UpdateLoginProfile")
		}
	}
	ha.before["UpdateLoginProfile"] = func(n int) {
		if n == 1 { // A passed every check: B goes on to its end first
			close(aAtChange)
			waitFor(t, bDone, "B finished")
		}
	}
	var resB []rotation.Result
	go func() {
		defer close(bDone)
		resB, _ = b.Apply(context.Background(), p, false)
	}()
	waitFor(t, bReady, "B ready")
	resA, err := a.Apply(context.Background(), p, false)
	if err != nil {
		t.Fatal(err)
	}
	<-bDone

	if n := passwordChanges(e); n != 1 {
		t.Errorf("I7: the password was changed %d times by two concurrent runs", n)
	}
	if r := passwordResult(t, resA, "console", plan.Rotate); r.Outcome != rotation.Done {
		t.Errorf("run A: %s %q", r.Outcome, r.Detail)
	}
	if r := passwordResult(t, resB, "console", plan.Rotate); r.Outcome != rotation.Busy || !strings.Contains(r.Detail, "run-a") {
		t.Errorf("run B: want busy, left to run-a: %s %q", r.Outcome, r.Detail)
	}
	if v := storedPassword(t, e, "console", "AWSCURRENT"); v.Password == "" || !e.sb.PasswordIs(acct, "console", v.Password) {
		t.Error("the delivered password is not the console password")
	}
	for k := range e.tags(t, "console") {
		if strings.HasPrefix(k, "keycycle:pwlease:") || k == "keycycle:password-rotation" {
			t.Errorf("tag %s left behind", k)
		}
	}
}

// Both runs take their lease before either reads it back: each sees the other's and both
// withdraw (safety over liveness); nothing changes, no lease stays, and the next run rotates.
func TestSimultaneousPasswordLeasesBothWithdraw(t *testing.T) {
	e := newPasswordEnv(t)
	p, a, b, ha, hb := concurrentPasswordRuns(t, e)
	aReady, bReady, aLeased, bLeased, aRead, bRead := make(chan struct{}), make(chan struct{}), make(chan struct{}), make(chan struct{}), make(chan struct{}), make(chan struct{})
	// Both read the user before either takes its lease; both take it before either reads it
	// back; both read back before either withdraws.
	ha.before["TagUser"] = func(n int) {
		if n == 1 {
			close(aReady)
			waitFor(t, bReady, "B read the user")
		}
	}
	hb.before["TagUser"] = func(n int) {
		if n == 1 {
			close(bReady)
			waitFor(t, aReady, "A read the user")
		}
	}
	ha.after["TagUser"] = func(n int) {
		if n == 1 {
			close(aLeased)
			waitFor(t, bLeased, "B took its lease")
		}
	}
	hb.after["TagUser"] = func(n int) {
		if n == 1 {
			close(bLeased)
			waitFor(t, aLeased, "A took its lease")
		}
	}
	// The first GetUser after the lease is the read back (the login profile's read uses GetUser
	// too, before it).
	readBack := func(h *hooked, mine, other chan struct{}, what string) {
		h.after["GetUser"] = func(int) {
			h.mu.Lock()
			leased := h.calls["TagUser"] == 1
			h.mu.Unlock()
			if leased && mine != nil {
				close(mine)
				mine = nil
				waitFor(t, other, what)
			}
		}
	}
	readBack(ha, aRead, bRead, "B read its lease back")
	readBack(hb, bRead, aRead, "A read its lease back")
	var resB []rotation.Result
	bDone := make(chan struct{})
	go func() {
		defer close(bDone)
		resB, _ = b.Apply(context.Background(), p, false)
	}()
	resA, err := a.Apply(context.Background(), p, false)
	if err != nil {
		t.Fatal(err)
	}
	<-bDone
	if n := passwordChanges(e); n > 1 {
		t.Fatalf("I7: the password was changed %d times by two concurrent runs", n)
	}
	for name, rs := range map[string][]rotation.Result{"A": resA, "B": resB} {
		if r := passwordResult(t, rs, "console", plan.Rotate); r.Outcome != rotation.Busy {
			t.Errorf("run %s: want busy (it saw the other's lease), got %s %q", name, r.Outcome, r.Detail)
		}
	}
	for k := range e.tags(t, "console") {
		if strings.HasPrefix(k, "keycycle:pwlease:") || k == "keycycle:password-rotation" {
			t.Errorf("tag %s left behind by runs that withdrew", k)
		}
	}
	if r := passwordResult(t, e.apply(t), "console", plan.Rotate); r.Outcome != rotation.Done || passwordChanges(e) != 1 {
		t.Fatalf("the next run must rotate: %s %q", r.Outcome, r.Detail)
	}
}

// A killed run's lease is ignored once it expired, and removed by the next rotation; a live one
// is left to its run.
func TestPasswordLeaseOfAKilledRun(t *testing.T) {
	e := newPasswordEnv(t)
	now := e.sb.Clock().Now()
	lease := func(run string, until time.Time) {
		v := inventory.PasswordIntent{Started: now.Add(-time.Hour), Lease: inventory.Lease{Run: run, Until: until}}.TagValue()
		if _, err := iam.NewFromConfig(e.cfg).TagUser(context.Background(), &iam.TagUserInput{UserName: aws.String("console"),
			Tags: []iamtypes.Tag{{Key: aws.String("keycycle:pwlease:" + run), Value: aws.String(v)}}}); err != nil {
			t.Fatal(err)
		}
	}
	lease("run-live", now.Add(10*time.Minute))
	if r := passwordResult(t, e.apply(t), "console", plan.Rotate); r.Outcome != rotation.Busy || !strings.Contains(r.Detail, "run-live") {
		t.Fatalf("a live lease of another run: want busy, got %s %q", r.Outcome, r.Detail)
	}
	if _, ok := e.tags(t, "console")["keycycle:pwlease:run-live"]; !ok {
		t.Fatal("another run's live lease was removed")
	}
	e.sb.Clock().Advance(11 * time.Minute)
	lease("run-killed", now.Add(-time.Minute))
	if r := passwordResult(t, e.apply(t), "console", plan.Rotate); r.Outcome != rotation.Done {
		t.Fatalf("expired leases: want the rotation done, got %s %q", r.Outcome, r.Detail)
	}
	for k := range e.tags(t, "console") {
		if strings.HasPrefix(k, "keycycle:pwlease:") {
			t.Errorf("expired lease %s not removed", k)
		}
	}
}

// IAM allows 50 tags per user and refuses the 51st (LimitExceeded): a password rotation that
// could not write its lease, intent and completion record is refused before anything changes,
// never found out after the password was changed.
func TestPasswordRotationNeedsRoomForItsTags(t *testing.T) {
	e := newPasswordEnv(t)
	c := iam.NewFromConfig(e.cfg)
	for i := len(e.tags(t, "console")); i < 48; i++ {
		if _, err := c.TagUser(context.Background(), &iam.TagUserInput{UserName: aws.String("console"),
			Tags: []iamtypes.Tag{{Key: aws.String(fmt.Sprintf("team-%02d", i)), Value: aws.String("x")}}}); err != nil {
			t.Fatal(err)
		}
	}
	full := e.plan(t)
	p := plan.New(full.GeneratedAt, []plan.Step{passwordStep(t, full, "console", plan.Rotate)})
	apply := func() rotation.Result {
		res, err := e.runner().Apply(context.Background(), p, false)
		if err != nil {
			t.Fatal(err)
		}
		return passwordResult(t, res, "console", plan.Rotate)
	}
	r := apply()
	if r.Outcome != rotation.Blocked || !strings.Contains(r.Detail, "48 tags") || !strings.Contains(r.Detail, "50") {
		t.Fatalf("want blocked for the tag limit, got %s %q", r.Outcome, r.Detail)
	}
	if passwordChanges(e) != 0 || len(e.tags(t, "console")) != 48 {
		t.Fatalf("something changed: %d password changes, %d tags", passwordChanges(e), len(e.tags(t, "console")))
	}
	// With room for the three, it goes through.
	if _, err := c.UntagUser(context.Background(), &iam.UntagUserInput{UserName: aws.String("console"), TagKeys: []string{"team-46", "team-47"}}); err != nil {
		t.Fatal(err)
	}
	if r := apply(); r.Outcome != rotation.Done {
		t.Fatalf("with 46 tags: %s %q", r.Outcome, r.Detail)
	}
}
