package chaos

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/policy"
)

// checkerFixture is a harness over one user with two seeded active keys, one used today.
func checkerFixture(t *testing.T) (*harness, string, []awssim.KeyInfo) {
	t.Helper()
	used, idle := 0, 60
	sc := &awssim.Scenario{Start: Start, Seed: 7, Accounts: []awssim.ScenarioAccount{{ID: AccountID,
		Users: []awssim.ScenarioUser{{Name: "victim", AccessKeys: []awssim.ScenarioKey{
			{AgeDays: 100, Status: "Active", LastUsedDaysAgo: &idle}, {AgeDays: 20, Status: "Active", LastUsedDaysAgo: &used}}}}}}}
	h, err := newHarness(Schedule{Seed: 7, Scenario: sc, Rules: policy.DefaultRules()})
	if err != nil {
		t.Fatal(err)
	}
	ks, _ := h.sb.Keys(AccountID, "victim")
	return h, "victim", ks
}

func invariants(vs []Violation) string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Invariant)
	}
	return strings.Join(out, ",")
}

// The checker is only worth its runs if it catches what it checks: each breach below, made by
// hand between two snapshots, is reported under its invariant.
func TestCheckerCatchesBreaches(t *testing.T) {
	ctx := context.Background()
	t.Run("I3 used key deactivated", func(t *testing.T) {
		h, u, ks := checkerFixture(t)
		before, _ := h.snapshot(ctx)
		_, err := iam.NewFromConfig(h.op).UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String(u),
			AccessKeyId: aws.String(ks[1].AccessKeyID), Status: iamtypes.StatusTypeInactive})
		if err != nil {
			t.Fatal(err)
		}
		after, _ := h.snapshot(ctx)
		h.check(0, Round{}, before, after, nil)
		if got := invariants(h.res.Violations); got != "I3" {
			t.Fatalf("violations %q, want I3: %v", got, h.res.Violations)
		}
	})
	t.Run("I4 active key deleted and I2 lockout", func(t *testing.T) {
		h, u, ks := checkerFixture(t)
		before, _ := h.snapshot(ctx)
		for _, k := range ks {
			if _, err := iam.NewFromConfig(h.op).DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(u), AccessKeyId: aws.String(k.AccessKeyID)}); err != nil {
				t.Fatal(err)
			}
		}
		after, _ := h.snapshot(ctx)
		h.check(0, Round{}, before, after, nil)
		if got := invariants(h.res.Violations); got != "I2,I4,I4" {
			t.Fatalf("violations %q, want I2,I4,I4: %v", got, h.res.Violations)
		}
	})
	t.Run("I1 created key not stored", func(t *testing.T) {
		h, u, ks := checkerFixture(t)
		if _, err := iam.NewFromConfig(h.op).DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(u), AccessKeyId: aws.String(ks[0].AccessKeyID)}); err != nil {
			t.Fatal(err)
		}
		before, _ := h.snapshot(ctx)
		if _, err := iam.NewFromConfig(h.op).CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(u)}); err != nil {
			t.Fatal(err)
		}
		after, _ := h.snapshot(ctx)
		h.check(0, Round{Clean: true}, before, after, nil)
		if got := invariants(h.res.Violations); got != "I1" {
			t.Fatalf("violations %q, want I1: %v", got, h.res.Violations)
		}
	})
	t.Run("I6 secret in the output", func(t *testing.T) {
		h, _, ks := checkerFixture(t)
		o := &runOut{}
		o.logs.WriteString(`{"msg":"oops","secret":"` + ks[0].SecretAccessKey[:20] + `"}`)
		h.checkSecrets(0, []*runOut{o})
		if got := invariants(h.res.Violations); got != "I6" {
			t.Fatalf("violations %q, want I6: %v", got, h.res.Violations)
		}
		if strings.Contains(h.res.Violations[0].Detail, ks[0].SecretAccessKey[:20]) {
			t.Fatal("the violation repeats the secret")
		}
	})
}

// A schedule is a function of its seed and limits, and the limits survive the replay command.
func TestDrawIsDeterministicAndLimitsRoundTrip(t *testing.T) {
	a, b := Draw(42, Full()), Draw(42, Full())
	if len(a.Rounds) != len(b.Rounds) || len(a.Scenario.Accounts[0].Users) != len(b.Scenario.Accounts[0].Users) ||
		a.Scenario.Accounts[0].Users[0].Name != b.Scenario.Accounts[0].Users[0].Name {
		t.Fatal("two draws of one seed differ")
	}
	lim := Limits{Users: 2, Rounds: 3, Runs: 1, Faults: 0, Interrupt: false, Stale: true}
	got, err := ParseLimits(lim.String())
	if err != nil || got != lim {
		t.Fatalf("ParseLimits(%q) = %+v, %v", lim.String(), got, err)
	}
	s := Draw(42, lim)
	if n := len(s.Scenario.Accounts[0].Users); n > 2 {
		t.Errorf("users limit 2, drew %d", n)
	}
	if len(s.Rounds) > 4 {
		t.Errorf("rounds limit 3 (+ the final clean round), drew %d", len(s.Rounds))
	}
	for _, r := range s.Rounds {
		if len(r.Runs) > 1 || len(r.Faults.Errors) > 0 {
			t.Errorf("round beyond its limits: %+v", r)
		}
		for _, rp := range r.Runs {
			if rp.CancelAt != 0 {
				t.Error("interruption drawn with interrupt=false")
			}
		}
	}
	if _, err := ParseLimits("users=x"); err == nil || !strings.Contains(err.Error(), "users") {
		t.Errorf("bad limits: %v", err)
	}
	if !strings.Contains(Replay(42, lim), "-chaos.seed=42 -chaos.schedules=1 -chaos.limits="+lim.String()) {
		t.Errorf("replay command: %s", Replay(42, lim))
	}
}

// A failing schedule shrinks to the smallest limits that still fail: a stand-in bug deletes the
// first user's active seeded keys from round 1 on, whatever the runs, faults and interruptions.
func TestShrinkFindsTheSmallSchedule(t *testing.T) {
	afterRuns = func(ctx context.Context, h *harness, round int) {
		if round < 1 {
			return
		}
		u := h.users[0]
		ks, _ := h.sb.Keys(AccountID, u)
		for _, k := range ks {
			if k.Status == "Active" && h.seeded[k.AccessKeyID] {
				_, _ = iam.NewFromConfig(h.op).DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(u), AccessKeyId: aws.String(k.AccessKeyID)})
			}
		}
	}
	t.Cleanup(func() { afterRuns = nil })
	// A seed whose first user has an active seeded key and that runs at least two rounds.
	var seed uint64
	var res Result
	for seed = 1; seed < 200; seed++ {
		s := Draw(seed, Full())
		u := s.Scenario.Accounts[0].Users[0]
		if len(s.Rounds) < 3 || len(u.AccessKeys) == 0 || u.AccessKeys[0].Status != "Active" || len(s.Scenario.Accounts[0].Users) < 3 {
			continue
		}
		if res = Execute(context.Background(), s); len(res.Violations) > 0 && res.Violations[0].Invariant == "I4" {
			break
		}
	}
	if len(res.Violations) == 0 {
		t.Fatal("the stand-in bug was not caught in 200 seeds")
	}
	lim, vs := Shrink(seed, Full(), res.Violations)
	if lim.Users != 1 || lim.Runs != 1 || lim.Faults != 0 || lim.Interrupt || lim.Stale || lim.Rounds > 2 {
		t.Errorf("seed %d shrank to %s, want users=1,rounds<=2,runs=1,faults=0,interrupt=false,stale=false", seed, lim)
	}
	if len(vs) == 0 || vs[0].Invariant != "I4" {
		t.Errorf("shrunk violations %v, want I4", vs)
	}
}

// The last-use guard: an old key used after its replacement was delivered is not deactivated,
// however long ago that was.
func TestCheckerCatchesDeactivationAfterUseSinceDelivery(t *testing.T) {
	ctx := context.Background()
	h, u, ks := checkerFixture(t)
	h.s.Rules.Default.GuardWindow = 0
	old := ks[1]
	rec := inventory.RotationRecord{At: Start.Add(-2 * policy.Day), Old: inventory.KeyID(old.AccessKeyID), New: inventory.KeyID(ks[0].AccessKeyID)}
	c := iam.NewFromConfig(h.op)
	if _, err := c.TagUser(ctx, &iam.TagUserInput{UserName: aws.String(u), Tags: []iamtypes.Tag{{Key: aws.String("keycycle:rotated"), Value: aws.String(rec.TagValue())}}}); err != nil {
		t.Fatal(err)
	}
	before, _ := h.snapshot(ctx)
	if _, err := c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String(u), AccessKeyId: aws.String(old.AccessKeyID), Status: iamtypes.StatusTypeInactive}); err != nil {
		t.Fatal(err)
	}
	after, _ := h.snapshot(ctx)
	h.check(0, Round{}, before, after, nil)
	if got := invariants(h.res.Violations); got != "I3" || !strings.Contains(h.res.Violations[0].Detail, "after its replacement") {
		t.Fatalf("violations %v, want the I3 last-use guard", h.res.Violations)
	}
}

// A rotation that gives up deletes its new key even when the secret's first version, written as
// AWSPENDING, is also AWSCURRENT (Secrets Manager labels a first version so): not an I4 breach.
// Once promoted (AWSPENDING gone), deleting that active key is one.
func TestCheckerPendingFirstVersionMayBeDeleted(t *testing.T) {
	for _, promote := range []bool{false, true} {
		t.Run(fmt.Sprint("promoted=", promote), func(t *testing.T) { pendingFirstVersion(t, promote) })
	}
}

func pendingFirstVersion(t *testing.T, promote bool) {
	ctx := context.Background()
	h, u, ks := checkerFixture(t)
	c := iam.NewFromConfig(h.op)
	sm := secretsmanager.NewFromConfig(h.op)
	_, err := c.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(u), AccessKeyId: aws.String(ks[0].AccessKeyID)})
	var k *iam.CreateAccessKeyOutput
	if err == nil {
		k, err = c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(u)})
	}
	if err == nil {
		_, err = sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(secretName(u))})
	}
	if err == nil {
		body := `{"AccessKeyId":"` + aws.ToString(k.AccessKey.AccessKeyId) + `","SecretAccessKey":"` + aws.ToString(k.AccessKey.SecretAccessKey) + `"}`
		_, err = sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(secretName(u)), SecretString: aws.String(body),
			ClientRequestToken: aws.String("00000000-0000-4000-8000-000000000001"), VersionStages: []string{"AWSPENDING"}})
	}
	if err == nil && promote {
		_, err = sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(secretName(u)),
			VersionStage: aws.String("AWSPENDING"), RemoveFromVersionId: aws.String("00000000-0000-4000-8000-000000000001")})
	}
	if err != nil {
		t.Fatal(err)
	}
	del := func() {
		if _, err := c.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(u), AccessKeyId: k.AccessKey.AccessKeyId}); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := h.snapshot(ctx)
	if kst, _ := before[u].key(aws.ToString(k.AccessKey.AccessKeyId)); !kst.Stored || kst.Delivered != promote {
		t.Fatalf("stored %t, delivered %t; want stored, delivered %t", kst.Stored, kst.Delivered, promote)
	}
	del()
	after, _ := h.snapshot(ctx)
	h.check(0, Round{}, before, after, nil)
	want := ""
	if promote {
		want = "I4"
	}
	if got := invariants(h.res.Violations); got != want {
		t.Fatalf("violations %q, want %q: %v", got, want, h.res.Violations)
	}
}
