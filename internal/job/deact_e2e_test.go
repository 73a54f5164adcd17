package job_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/job"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/rotation"
)

// deactivationStep plans with r and returns the plan's one change for user due, which must be
// the deactivation of old.
func deactivationStep(t *testing.T, r *job.Runner, old awssim.KeyInfo) plan.Plan {
	t.Helper()
	s, err := r.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var steps []plan.Step
	for _, st := range s.Plan.Steps {
		if st.User == "due" && st.Changes() {
			steps = append(steps, st)
		}
	}
	if len(steps) != 1 || steps[0].Action != plan.Deactivate || steps[0].AccessKeyID.Raw() != old.AccessKeyID {
		t.Fatalf("plan for due: %+v, want the deactivation of %s", steps, old.AccessKeyID)
	}
	return plan.New(s.Plan.GeneratedAt, steps)
}

// TestStalePlanReadsTagsForADeactivation: a deactivation right after its plan takes the user's
// tags from the plan's scan (no GetUser, within job.GroupsFresh); when the scan is not moments old
// (GroupsFresh passed, or the plan comes from elsewhere: a file, a queue message) it reads them
// with GetUser, so a user tagged exempt since the plan keeps its key.
func TestStalePlanReadsTagsForADeactivation(t *testing.T) {
	for _, c := range []struct {
		name      string
		stale     func(e *env)
		newRunner bool
		fresh     bool // the scan's tags serve: the exemption added since is not seen
	}{
		{"same runner, right after the plan", func(*env) {}, false, true},
		{"same runner, past GroupsFresh", func(e *env) { e.sb.Clock().Advance(job.GroupsFresh + time.Minute) }, false, false},
		{"another runner (a saved plan)", func(*env) {}, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			old := rotatedAndDue(t, e)
			r := e.runner()
			p := deactivationStep(t, r, old)
			c.stale(e)
			if _, err := iam.NewFromConfig(e.cfg).TagUser(ctx, &iam.TagUserInput{UserName: aws.String("due"),
				Tags: []iamtypes.Tag{{Key: aws.String("keycycle:exempt"), Value: aws.String("audit in progress")}}}); err != nil {
				t.Fatal(err)
			}
			if c.newRunner {
				r = e.runner()
			}
			e.sb.ResetStats()
			res, err := r.Apply(ctx, p, false)
			if err != nil {
				t.Fatal(err)
			}
			_, by := callsOf(e.sb.Stats(), acct)
			var status string
			for _, k := range e.keys(t, "due") {
				if k.AccessKeyID == old.AccessKeyID {
					status = k.Status
				}
			}
			if c.fresh {
				if len(res) != 1 || res[0].Outcome != rotation.Done || by["iam:GetUser"] != 0 || status != "Inactive" {
					t.Fatalf("right after the plan: want the deactivation done on the scan's tags (no GetUser): %+v, %s, key %s", res, breakdown(by), status)
				}
				return
			}
			if len(res) != 1 || res[0].Outcome != rotation.Refused || !strings.Contains(res[0].Detail, "exempt") {
				t.Fatalf("a user tagged exempt since a stale plan: %+v", res)
			}
			if by["iam:GetUser"] != 1 {
				t.Fatalf("want the user read fresh once: %s", breakdown(by))
			}
			if status != "Active" {
				t.Fatalf("key %s, want it still active", status)
			}
			if _, ok := e.tags(t, "due")["keycycle:deactivated"]; ok {
				t.Fatal("a refused deactivation wrote a record")
			}
		})
	}
}

// TestFailedDeactivationKeepsTheRecordOfAKeyDeactivatedAllTheSame: when this run's
// UpdateAccessKey fails but the key is inactive all the same (another run deactivated it
// meanwhile, or IAM made the change before the call failed), the deactivation record stays: a key
// inactive without one would be dated by its last use and deleted before delete_after (I4). The
// record is never put back (TestConcurrentDeactivationKeepsTheOtherRunsRecord).
func TestFailedDeactivationKeepsTheRecordOfAKeyDeactivatedAllTheSame(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	old := rotatedAndDue(t, e)
	h := newHooked()
	r := e.runner()
	r.AWS = h.config(e.cfg)
	p := deactivationStep(t, r, old)
	other := iam.NewFromConfig(e.cfg)
	h.before["UpdateAccessKey"] = func(n int) {
		if n != 1 {
			return
		}
		// Another run deactivates the key first (its record, then the key), then this run's
		// call fails.
		if _, err := other.TagUser(ctx, &iam.TagUserInput{UserName: aws.String("due"), Tags: []iamtypes.Tag{{Key: aws.String("keycycle:deactivated"),
			Value: aws.String(inventory.DeactivationRecord{At: e.sb.Clock().Now(), Key: inventory.KeyID(old.AccessKeyID)}.TagValue())}}}); err != nil {
			t.Error(err)
		}
		if _, err := other.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("due"), AccessKeyId: aws.String(old.AccessKeyID), Status: iamtypes.StatusTypeInactive}); err != nil {
			t.Error(err)
		}
		if err := e.sb.SetFaults(awssim.Faults{Errors: []awssim.ErrorRule{
			{Match: awssim.Match{Service: "iam", Action: "UpdateAccessKey"}, UserName: "due", Code: "ServiceFailure"},
		}}); err != nil {
			t.Error(err)
		}
	}
	res, err := r.Apply(ctx, p, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.sb.SetFaults(awssim.Faults{}); err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Outcome != rotation.Failed || !strings.Contains(res[0].Detail, "record stays") {
		t.Fatalf("want the failure reported with the record kept: %+v", res)
	}
	rec, err := inventory.ParseDeactivationRecord(e.tags(t, "due")["keycycle:deactivated"])
	if err != nil || rec.Key.Raw() != old.AccessKeyID {
		t.Fatalf("I4: the key is inactive and its deactivation record was removed: %+v %v", rec, err)
	}
}

// TestDeactivationOnAUserWithFiftyTags: IAM allows 50 tags per user (the sandbox refuses the 51st
// with LimitExceeded); a user whose tags fill every slot after its rotation has no room for
// keycycle:deactivated, so the deactivation records itself in the rotation record, as earlier
// versions did, read fresh, and the key's delete grace counts from it.
func TestDeactivationOnAUserWithFiftyTags(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	old := rotatedAndDue(t, e)
	var fill []iamtypes.Tag
	for i := len(e.tags(t, "due")); i < 50; i++ {
		fill = append(fill, iamtypes.Tag{Key: aws.String(fmt.Sprintf("team:%02d", i)), Value: aws.String("x")})
	}
	if _, err := iam.NewFromConfig(e.cfg).TagUser(ctx, &iam.TagUserInput{UserName: aws.String("due"), Tags: fill}); err != nil {
		t.Fatal(err)
	}
	now := e.sb.Clock().Now()
	if r := deactivationResult(t, e.apply(t)); r.Outcome != rotation.Done {
		t.Fatalf("deactivation on a user with 50 tags: %s %q %v", r.Outcome, r.Detail, r.Err)
	}
	tags := e.tags(t, "due")
	rec, err := inventory.ParseRotationRecord(tags["keycycle:rotated"])
	if err != nil || rec.Old.Raw() != old.AccessKeyID || rec.Deactivated.Before(now.Truncate(time.Second)) {
		t.Fatalf("want the deactivation in the rotation record: %+v %v", rec, err)
	}
	if _, ok := tags["keycycle:deactivated"]; ok || len(tags) != 50 {
		t.Fatalf("%d tags, keycycle:deactivated %v", len(tags), ok)
	}
	for _, k := range e.keys(t, "due") {
		if k.AccessKeyID == old.AccessKeyID && k.Status != "Inactive" {
			t.Fatalf("key %+v, want it inactive", k)
		}
	}
}
