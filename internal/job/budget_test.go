package job_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/keycycle/keycycle/internal/awssim"
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
// the old key, delete it, rotate again with the secret already there) and holds each step to its
// API-call budget, counted by the sandbox per action: a rotation at most 12 calls end to end
// once its secret exists (the first one also creates the secret and its resource policy: 4
// more, once per user), a deletion at most 4, a deactivation 5 (the fifth is the fresh
// GetAccessKeyLastUsed of the last-use guard I3, which the up to 4 hours old credential report
// cannot replace), and the plan before each only account-wide reads whatever the user's state.
// Each step has one call more, ListGroupsForUser: apply re-evaluates the policy on the live user
// (a plan is an upper bound, never a grant), and the default rules exempt a group's members.
func TestCallBudgets(t *testing.T) {
	e := newEnv(t)
	r := e.runner()
	ctx := context.Background()
	if _, err := r.Identity(ctx); err != nil {
		t.Fatal(err)
	}
	phase := func(name string, want plan.Action, budget int) {
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
		if planCalls > 5 || planBy["iam:ListAccessKeys"]+planBy["iam:GetAccessKeyLastUsed"]+planBy["iam:GetUser"] > 0 {
			t.Errorf("%s: the plan made %d API calls, want only the account-wide reads (at most 5): %s", name, planCalls, breakdown(planBy))
		}
	}
	const groups = 1 // ListGroupsForUser of the policy re-evaluation
	phase("first rotation (creates the secret)", plan.Rotate, 12+4+groups)
	if ks := e.keys(t, "due"); len(ks) != 2 {
		t.Fatalf("after the rotation the user has %d keys, want 2", len(ks))
	}
	e.sb.Clock().Advance(11 * policy.Day)
	phase("deactivation", plan.Deactivate, 5+groups)
	e.sb.Clock().Advance(11 * policy.Day)
	phase("deletion", plan.Delete, 4+groups)
	if ks := e.keys(t, "due"); len(ks) != 1 || ks[0].Status != "Active" {
		t.Fatalf("after the deletion the user has %+v, want one active key", ks)
	}
	e.sb.Clock().Advance(70 * policy.Day)
	phase("rotation", plan.Rotate, 12+groups)
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
