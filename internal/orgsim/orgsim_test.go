package orgsim

import (
	"testing"
	"time"
)

func TestBucketGrantsTheBurstThenAtItsRate(t *testing.T) {
	b := newBucket(2, 5)
	var got []time.Duration
	for range 7 {
		got = append(got, b.take(0))
	}
	want := []time.Duration{0, 0, 0, 0, 0, 500 * time.Millisecond, time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("grants %v, want %v", got, want)
		}
	}
	// Idle for 10 s refills to the burst, not beyond.
	if g := b.take(11 * time.Second); g != 11*time.Second || b.tokens != 4 {
		t.Fatalf("after idling: grant %v, tokens %v", g, b.tokens)
	}
}

func TestScaledGrowsPagesWithUsersAndReadsWithDueUsers(t *testing.T) {
	c := Costs{Users: 500, Due: 10, Plan: map[string]float64{"iam/GetAccountAuthorizationDetails": 1, "iam/ListAccessKeys": 10,
		"iam/GenerateCredentialReport": 2, "sqs/SendMessageBatch": 1}}
	got := c.Scaled(2500, 50)
	want := map[string]float64{"iam/GetAccountAuthorizationDetails": 3, "iam/ListAccessKeys": 50, "iam/GenerateCredentialReport": 2, "sqs/SendMessageBatch": 5}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// tiny is two accounts of one due user each, every call 1 s, budgets that never bind, one
// planner and one worker: every figure can be worked out by hand.
func tiny() Config {
	return Config{Accounts: 2, UsersPerAccount: 100, DueFraction: 0.01,
		Costs: Costs{Users: 100, Due: 1,
			Plan:     map[string]float64{"iam/GetAccountAuthorizationDetails": 1, "iam/ListAccessKeys": 1, "sqs/SendMessageBatch": 1},
			Rotation: map[string]float64{"iam/CreateAccessKey": 1}},
		Latency: time.Second, ReadsPerSecond: 1000, ReadBurst: 1000, WritesPerSecond: 1000, WriteBurst: 1000,
		HubSTSPerSecond: 1000, HubSTSBurst: 1000, PlannerConcurrency: 1, WorkerConcurrency: 1,
		PlannerMemoryMB: 1024, WorkerMemoryMB: 1024}
}

func TestRunByHand(t *testing.T) {
	r := Run(tiny())
	// Schedule: ListAccounts 1 s, SendMessageBatch 2 s. Planner: account 0 from 2 s (AssumeRole,
	// GAAD, ListAccessKeys, SendMessageBatch) to 6 s, account 1 from 6 s to 10 s. Worker:
	// account 0 from 6 s (AssumeRole, CreateAccessKey) to 8 s, account 1 from 10 s to 12 s.
	if r.ScheduleDone != 2*time.Second || r.PlanningDone != 10*time.Second || r.Wall != 12*time.Second {
		t.Fatalf("schedule %v, planning %v, wall %v; want 2s, 10s, 12s", r.ScheduleDone, r.PlanningDone, r.Wall)
	}
	if r.Completion[0] != 8*time.Second || r.Completion[1] != 12*time.Second || r.PlanDuration[0] != 4*time.Second {
		t.Fatalf("completion %v, plan durations %v", r.Completion, r.PlanDuration)
	}
	// Schedule 2 s + planners 8 s + workers 4 s at 1 GB; cold: the schedule, one planner, one worker.
	if r.GBSeconds != 14 || r.ColdStarts != 3 || r.Rotations != 2 || r.Calls["sts/AssumeRole"] != 4 {
		t.Fatalf("GB-s %v, cold starts %d, rotations %d, AssumeRole %v", r.GBSeconds, r.ColdStarts, r.Rotations, r.Calls["sts/AssumeRole"])
	}
	if r.SQSRequests["SendMessageBatch"] != 3 || r.SQSRequests["ReceiveMessage"] != 4 || r.SQSRequests["DeleteMessageBatch"] != 4 {
		t.Fatalf("SQS %v", r.SQSRequests)
	}
}

func TestTheAccountsWriteBudgetBindsAndIsReportedBusiest(t *testing.T) {
	c := tiny()
	c.Accounts, c.DueFraction = 1, 0.1 // 10 due users in one account
	c.Costs.Rotation = map[string]float64{"iam/CreateAccessKey": 1}
	c.Latency = time.Millisecond
	c.WritesPerSecond, c.WriteBurst = 1, 1
	c.WorkerConcurrency, c.WorkerBatch = 10, 1
	r := Run(c)
	// Ten writes at 1/s after a burst of 1: the last is granted 9 s after the first.
	first := r.PlanningDone
	if got := r.Wall - first; got < 9*time.Second || got > 9*time.Second+10*time.Millisecond {
		t.Fatalf("rotations took %v after planning, want about 9 s (the write budget)", got)
	}
	if r.Busiest != "busiest account's IAM writes" {
		t.Fatalf("busiest %q, want the account's IAM writes: %v", r.Busiest, r.Utilization)
	}
}

func TestAColdStartIsPaidOncePerInstance(t *testing.T) {
	c := tiny()
	c.ColdStart = 500 * time.Millisecond
	c.Accounts = 4
	c.PlannerConcurrency = 2
	r := Run(c)
	// The schedule, two planner instances (reused for the next two accounts), one worker.
	if r.ColdStarts != 4 {
		t.Fatalf("cold starts %d, want 4", r.ColdStarts)
	}
}
