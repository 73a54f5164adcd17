package job_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/job"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/policy"
	"github.com/keycycle/keycycle/internal/rotation"
)

// callsOf returns the calls the sandbox counted for the account, total and by "service:action".
func callsOf(st awssim.Stats, account string) (int, map[string]int) {
	by := map[string]int{}
	total := 0
	for svc, acts := range st.Calls[account] {
		for act, n := range acts {
			by[svc+":"+act] += n
			total += n
		}
	}
	return total, by
}

func breakdown(by map[string]int) string {
	parts := make([]string, 0, len(by))
	for k, n := range by {
		parts = append(parts, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// TestCallBudgets walks one user through a key's life on the default path (rotate, deactivate
// the old key, delete it, rotate again with the secret already there), each step a plan and the
// apply right after it, and holds each step to its API-call budget, counted by the sandbox per
// action: a rotation at most 11 calls end to end once its secret exists, with one TagUser (the
// intent and the record together; IAM's per-action bucket for TagUser bounds a whole apply), the
// first one 4 more (it creates the secret and its resource policy, once per user), a deletion at
// most 4, a deactivation 4 (ListAccessKeys, the fresh GetAccessKeyLastUsed of the last-use guard
// I3, which the up to 4 hours old credential report cannot replace, the TagUser that dates the
// deactivation for the delete grace, written first, and UpdateAccessKey; the user and its tags
// come from the plan's scan, moments old, instead of a GetUser: TestStalePlanReadsTagsForADeactivation),
// and the plan before each only account-wide reads whatever the user's state. The policy
// re-evaluation of apply takes the user's groups from the plan's scan, which read them moments
// ago (GroupsFresh; TestStalePlanReadsGroups).
func TestCallBudgets(t *testing.T) {
	e := newEnv(t)
	r := e.runner()
	ctx := context.Background()
	if _, err := r.Identity(ctx); err != nil {
		t.Fatal(err)
	}
	phase := func(name string, want plan.Action, budget, tagUser int) {
		t.Helper()
		e.sb.ResetStats()
		s, err := r.Plan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		planCalls, planBy := callsOf(e.sb.Stats(), acct)
		var steps []plan.Step
		for _, st := range s.Plan.Steps {
			if st.User == "due" && st.Changes() {
				steps = append(steps, st)
			}
		}
		if len(steps) != 1 || steps[0].Action != want {
			t.Fatalf("%s: plan for user due = %+v, want one %s step", name, steps, want)
		}
		e.sb.ResetStats()
		res, err := r.Apply(ctx, plan.New(s.Plan.GeneratedAt, steps), false)
		if err != nil {
			t.Fatal(err)
		}
		var done int
		for _, x := range res {
			if x.Outcome == rotation.Done {
				done++
			} else if x.Step.Changes() {
				t.Fatalf("%s: %s %s: %s %v", name, x.Step.Action, x.Outcome, x.Detail, x.Err)
			}
		}
		if done != 1 {
			t.Fatalf("%s: %d steps done, want 1: %+v", name, done, res)
		}
		calls, by := callsOf(e.sb.Stats(), acct)
		t.Logf("%s: plan %d calls (%s); apply %d calls (%s)", name, planCalls, breakdown(planBy), calls, breakdown(by))
		if calls > budget {
			t.Errorf("%s: %d API calls, budget %d: %s", name, calls, budget, breakdown(by))
		}
		if by["iam:TagUser"] > tagUser || by["iam:ListGroupsForUser"] > 0 {
			t.Errorf("%s: %d TagUser (want at most %d) and %d ListGroupsForUser (want 0): %s", name, by["iam:TagUser"], tagUser, by["iam:ListGroupsForUser"], breakdown(by))
		}
		if planCalls > 5 || planBy["iam:ListAccessKeys"]+planBy["iam:GetAccessKeyLastUsed"]+planBy["iam:GetUser"] > 0 {
			t.Errorf("%s: the plan made %d API calls, want only the account-wide reads (at most 5): %s", name, planCalls, breakdown(planBy))
		}
	}
	phase("first rotation (creates the secret)", plan.Rotate, 11+4, 1)
	if ks := e.keys(t, "due"); len(ks) != 2 {
		t.Fatalf("after the rotation the user has %d keys, want 2", len(ks))
	}
	e.sb.Clock().Advance(11 * policy.Day)
	phase("deactivation", plan.Deactivate, 4, 1)
	e.sb.Clock().Advance(11 * policy.Day)
	phase("deletion", plan.Delete, 4, 0)
	if ks := e.keys(t, "due"); len(ks) != 1 || ks[0].Status != "Active" {
		t.Fatalf("after the deletion the user has %+v, want one active key", ks)
	}
	e.sb.Clock().Advance(70 * policy.Day)
	phase("rotation", plan.Rotate, 11, 1)
	if ks := e.keys(t, "due"); len(ks) != 2 {
		t.Fatalf("after the second rotation the user has %d keys, want 2", len(ks))
	}
}

// TestReportPlanResolvedOnFreshKeys: a plan decided on the credential report names the due key by
// its report slot; when the user's keys change between the plan and the apply (here a key is
// created by hand), the apply cannot match the report's key one to one and changes nothing.
func TestReportPlanResolvedOnFreshKeys(t *testing.T) {
	e := newEnv(t)
	r := e.runner()
	ctx := context.Background()
	s, err := r.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rot plan.Step
	for _, st := range s.Plan.Steps {
		if st.User == "due" && st.Action == plan.Rotate {
			rot = st
		}
	}
	if !rot.AccessKeyID.FromReport() || len(rot.Precondition.Keys) != 1 || rot.Precondition.Keys[0].Created.IsZero() {
		t.Fatalf("the plan must name the key by its report slot, with the report's creation time: %+v", rot)
	}
	if strings.Contains(rot.Reason, "report:") || !strings.Contains(rot.Reason, "#1 (credential report)") {
		t.Fatalf("reason: %q", rot.Reason)
	}
	if _, err := iam.NewFromConfig(e.cfg).CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("due")}); err != nil {
		t.Fatal(err)
	}
	res, err := r.Apply(ctx, plan.New(s.Plan.GeneratedAt, []plan.Step{rot}), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Outcome != rotation.Stale || res[0].NewKeyID != "" {
		t.Fatalf("apply on changed keys: %+v", res)
	}
	if ks := e.keys(t, "due"); len(ks) != 2 {
		t.Fatalf("keys %+v, want the two there were", ks)
	}
	if _, ok := e.tags(t, "due")["keycycle:rotation"]; ok {
		t.Fatal("no intent may be written for a stale step")
	}
}

// TestStalePlanReadsGroups: the policy re-evaluation of apply reads the user's groups fresh
// (ListGroupsForUser) when the plan's scan is not moments old (GroupsFresh passed, or the plan
// comes from elsewhere: a file, a queue message), so a user who joined the exemption group since
// the plan is refused, not rotated; right after the plan, the scan's memberships serve.
func TestStalePlanReadsGroups(t *testing.T) {
	for _, c := range []struct {
		name      string
		stale     func(e *env) // what makes the plan's memberships unusable
		newRunner bool
	}{
		{"same runner, past GroupsFresh", func(e *env) { e.sb.Clock().Advance(job.GroupsFresh + time.Minute) }, false},
		{"another runner (a saved plan)", func(*env) {}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			r := e.runner()
			s, err := r.Plan(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var steps []plan.Step
			for _, st := range s.Plan.Steps {
				if st.User == "due" && st.Changes() {
					steps = append(steps, st)
				}
			}
			if len(steps) != 1 || steps[0].Action != plan.Rotate {
				t.Fatalf("plan for due: %+v", steps)
			}
			c.stale(e)
			c2 := iam.NewFromConfig(e.cfg)
			g := aws.String(policy.DefaultRules().Selection.ExemptionGroup)
			if _, err := c2.CreateGroup(ctx, &iam.CreateGroupInput{GroupName: g}); err != nil {
				var exists *iamtypes.EntityAlreadyExistsException
				if !errors.As(err, &exists) {
					t.Fatal(err)
				}
			}
			if _, err := c2.AddUserToGroup(ctx, &iam.AddUserToGroupInput{GroupName: g, UserName: aws.String("due")}); err != nil {
				t.Fatal(err)
			}
			if c.newRunner {
				r = e.runner()
			}
			e.sb.ResetStats()
			res, err := r.Apply(ctx, plan.New(s.Plan.GeneratedAt, steps), false)
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != 1 || res[0].Outcome != rotation.Refused || !strings.Contains(res[0].Detail, "exempt") {
				t.Fatalf("a user who joined the exemption group since the plan: %+v", res)
			}
			if _, by := callsOf(e.sb.Stats(), acct); by["iam:ListGroupsForUser"] != 1 {
				t.Fatalf("want the groups read fresh once: %s", breakdown(by))
			}
			if ks := e.keys(t, "due"); len(ks) != 1 {
				t.Fatalf("keys %+v: nothing may change", ks)
			}
		})
	}
}
