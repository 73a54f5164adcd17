package job_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/rotation"
)

// deactivationResult is the result of the run's deactivate step.
func deactivationResult(t *testing.T, rs []rotation.Result) rotation.Result {
	t.Helper()
	for _, r := range rs {
		if r.Step.Credential == plan.AccessKey && r.Step.Action == plan.Deactivate {
			return r
		}
	}
	t.Fatalf("no deactivate result in %+v", rs)
	return rotation.Result{}
}

// rotatedAndDue rotates due's key and lets the deactivation grace pass: the next plan deactivates
// the old key, which it returns.
func rotatedAndDue(t *testing.T, e *env) awssim.KeyInfo {
	t.Helper()
	old := e.keys(t, "due")[0]
	if o := outcomes(e.apply(t)); o[rotation.Done] != 1 {
		t.Fatalf("setup: rotation %v", o)
	}
	e.sb.Clock().Advance(11 * 24 * time.Hour)
	if got := countActions(e.plan(t)); got[plan.Deactivate] != 1 {
		t.Fatalf("setup: after the grace the plan must deactivate the old key: %v", got)
	}
	return old
}

// A deactivation whose record cannot be written must not happen (I4): a key deactivated without
// a record is dated by its last use, and the "make room" rule then deleted it at the next
// rotation, long before delete_after had passed since its deactivation (the chaos harness's
// delete-grace-without-record).
func TestDeactivationWithoutRecordDoesNotHappen(t *testing.T) {
	e := newEnv(t)
	old := rotatedAndDue(t, e)
	rotatedBefore := e.tags(t, "due")["keycycle:rotated"]

	// Every TagUser on the user fails: the deactivation record cannot be written.
	if err := e.sb.SetFaults(awssim.Faults{Errors: []awssim.ErrorRule{
		{Match: awssim.Match{Service: "iam", Action: "TagUser"}, UserName: "due", Code: "ServiceFailure"},
	}}); err != nil {
		t.Fatal(err)
	}
	r := deactivationResult(t, e.apply(t))
	if r.Outcome != rotation.Failed || !strings.Contains(r.Detail, "nothing changed") {
		t.Errorf("want the deactivation failed with nothing changed, got %s: %q", r.Outcome, r.Detail)
	}
	for _, k := range e.keys(t, "due") {
		if k.AccessKeyID == old.AccessKeyID && k.Status != "Active" {
			t.Error("the key was deactivated although its deactivation could not be recorded")
		}
	}
	if err := e.sb.SetFaults(awssim.Faults{}); err != nil {
		t.Fatal(err)
	}
	if got := e.tags(t, "due")["keycycle:rotated"]; got != rotatedBefore {
		t.Fatalf("completion record changed: %q, was %q", got, rotatedBefore)
	}

	// The new key becomes due (a per-user override of 1 day): the next apply must not delete the
	// old key to make room; it deactivates it, recorded, and deletes it only after delete_after.
	if _, err := iam.NewFromConfig(e.cfg).TagUser(context.Background(), &iam.TagUserInput{UserName: aws.String("due"),
		Tags: []iamtypes.Tag{{Key: aws.String("keycycle:rotate-after-days"), Value: aws.String("1")}}}); err != nil {
		t.Fatal(err)
	}
	e.sb.Clock().Advance(5 * time.Hour) // a new credential report (IAM makes one at most every 4 hours)
	now := e.sb.Clock().Now()
	e.apply(t)
	var oldNow *awssim.KeyInfo
	for _, k := range e.keys(t, "due") {
		if k.AccessKeyID == old.AccessKeyID {
			oldNow = &k
		}
	}
	if oldNow == nil {
		t.Fatal("I4: the old key was deleted right after its deactivation (make room), before delete_after")
	}
	if oldNow.Status != "Inactive" {
		t.Fatalf("the old key must be deactivated by this apply: %+v", oldNow)
	}
	rec, err := inventory.ParseDeactivationRecord(e.tags(t, "due")["keycycle:deactivated"])
	if err != nil || rec.Key.Raw() != old.AccessKeyID || rec.At.Before(now.Truncate(time.Second)) {
		t.Fatalf("the deactivation must be recorded with its key and time: %+v %v", rec, err)
	}
	if got := e.tags(t, "due")["keycycle:rotated"]; got != rotatedBefore {
		t.Fatalf("the deactivation rewrote the rotation record: %q, was %q", got, rotatedBefore)
	}
}

// When UpdateAccessKey fails after the record was written, the record stays: it names a key
// that is still active and unused since, which the policy reads as a deactivation that did not
// happen, so the next run deactivates the key again and records the new time (the grace counts
// from the deactivation that happened). Putting the record back instead would erase the record of
// another run that deactivated the key meanwhile (TestConcurrentDeactivationKeepsTheOtherRunsRecord).
func TestFailedDeactivationLeavesItsRecordAndIsRetried(t *testing.T) {
	e := newEnv(t)
	old := rotatedAndDue(t, e)
	if err := e.sb.SetFaults(awssim.Faults{Errors: []awssim.ErrorRule{
		{Match: awssim.Match{Service: "iam", Action: "UpdateAccessKey"}, UserName: "due", Code: "ServiceFailure"},
	}}); err != nil {
		t.Fatal(err)
	}
	r := deactivationResult(t, e.apply(t))
	if r.Outcome != rotation.Failed || !strings.Contains(r.Detail, "deactivation failed") {
		t.Fatalf("want the deactivation failed, got %s: %q", r.Outcome, r.Detail)
	}
	if err := e.sb.SetFaults(awssim.Faults{}); err != nil {
		t.Fatal(err)
	}
	if k := e.keys(t, "due")[0]; k.AccessKeyID != old.AccessKeyID || k.Status != "Active" {
		t.Fatalf("after the failed deactivation: %+v", k)
	}
	first, err := inventory.ParseDeactivationRecord(e.tags(t, "due")["keycycle:deactivated"])
	if err != nil || first.Key != inventory.KeyID(old.AccessKeyID) {
		t.Fatalf("the record written before the failed UpdateAccessKey must stay: %+v %v", first, err)
	}

	e.sb.Clock().Advance(2 * time.Hour)
	later := e.sb.Clock().Now().Truncate(time.Second)
	if r := deactivationResult(t, e.apply(t)); r.Outcome != rotation.Done {
		t.Fatalf("the next apply must deactivate the key: %s %q", r.Outcome, r.Detail)
	}
	if k := e.keys(t, "due")[0]; k.AccessKeyID != old.AccessKeyID || k.Status != "Inactive" {
		t.Fatalf("after the retry: %+v", k)
	}
	rec, err := inventory.ParseDeactivationRecord(e.tags(t, "due")["keycycle:deactivated"])
	if err != nil || rec.At.Before(later) {
		t.Fatalf("the retry must record its own time (%s), not the failed attempt's (%s): %+v %v", later, first.At, rec, err)
	}
}

// Two runs deactivate the same key: run B has read the user and written its record when run A
// deactivates the key (record first, then UpdateAccessKey); B's UpdateAccessKey then fails. B must
// not put back the tag as it read it: that erased A's record of a deactivation that did happen,
// and the key, inactive without a record, was deleted by the make-room rule 6 hours later
// (chaos seed 40001488, I4).
func TestConcurrentDeactivationKeepsTheOtherRunsRecord(t *testing.T) {
	e := newEnv(t)
	old := rotatedAndDue(t, e)
	a, b, _, hb := twoRuns(e)
	pb, err := b.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// A's UpdateAccessKey is the first on the user and succeeds; B's, the second, fails.
	if err := e.sb.SetFaults(awssim.Faults{Errors: []awssim.ErrorRule{
		{Match: awssim.Match{Service: "iam", Action: "UpdateAccessKey"}, UserName: "due", Code: "ServiceFailure", Nth: 2},
	}}); err != nil {
		t.Fatal(err)
	}
	var ra []rotation.Result
	hb.before["UpdateAccessKey"] = func(n int) {
		if n != 1 {
			return
		}
		pa, err := a.Plan(context.Background())
		if err != nil {
			t.Error(err)
			return
		}
		if ra, err = a.Apply(context.Background(), pa.Plan, false); err != nil {
			t.Error(err)
		}
	}
	rb, err := b.Apply(context.Background(), pb.Plan, false)
	if err != nil {
		t.Fatal(err)
	}
	if r := deactivationResult(t, ra); r.Outcome != rotation.Done {
		t.Fatalf("run A: %s %q", r.Outcome, r.Detail)
	}
	if r := deactivationResult(t, rb); r.Outcome != rotation.Failed {
		t.Fatalf("run B: want its UpdateAccessKey failed, got %s %q", r.Outcome, r.Detail)
	}
	if err := e.sb.SetFaults(awssim.Faults{}); err != nil {
		t.Fatal(err)
	}
	if k := e.keys(t, "due")[0]; k.AccessKeyID != old.AccessKeyID || k.Status != "Inactive" {
		t.Fatalf("run A deactivated the key: %+v", k)
	}
	rec, err := inventory.ParseDeactivationRecord(e.tags(t, "due")["keycycle:deactivated"])
	if err != nil || rec.Key != inventory.KeyID(old.AccessKeyID) {
		t.Fatalf("I4: the key is inactive but its deactivation record is gone: %+v %v", rec, err)
	}
}
