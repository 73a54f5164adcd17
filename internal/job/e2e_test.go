package job_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keycycle/keycycle/internal/audit"
	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/job"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/policy"
	"github.com/keycycle/keycycle/internal/rotation"
)

const acct = "111111111111"

const scenario = `
start: 2026-11-21T09:00:00Z
accounts:
  - id: "111111111111"
    alias: e2e
    users:
      - name: due
        tags: {owner: due@example.com}
        access_keys:
          - {age_days: 95, status: Active, last_used_days_ago: 1}
      - name: fresh
        access_keys:
          - {age_days: 10, status: Active, last_used_days_ago: 1}
`

type env struct {
	sb     *awssimtest.Sandbox
	cfg    aws.Config
	audit  *bytes.Buffer
	runner func() *job.Runner
}

func newEnv(t *testing.T, opts ...awssimtest.Option) *env {
	t.Helper()
	opts = append([]awssimtest.Option{awssimtest.WithScenarioYAML(t, scenario)}, opts...)
	sb, cfg := awssimtest.Start(t, opts...)
	e := &env{sb: sb, cfg: cfg, audit: &bytes.Buffer{}}
	aw := audit.NewWriter(e.audit)
	e.runner = func() *job.Runner {
		return &job.Runner{
			AWS:        cfg,
			Rules:      policy.DefaultRules(),
			Secret:     config.Secret{NameTemplate: "keycycle/{{account}}/{{user}}"},
			Verify:     job.Verify{Successes: 3, Interval: 10 * time.Millisecond, MaxInterval: 100 * time.Millisecond, Timeout: 5 * time.Second},
			Now:        sb.Clock().Now,
			Audit:      aw,
			ReportPoll: 5 * time.Millisecond,
		}
	}
	return e
}

func (e *env) plan(t *testing.T) plan.Plan {
	t.Helper()
	s, err := e.runner().Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s.Plan
}

func (e *env) apply(t *testing.T) []rotation.Result {
	t.Helper()
	r := e.runner()
	s, err := r.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Apply(context.Background(), s.Plan, false)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (e *env) keys(t *testing.T, user string) []awssim.KeyInfo {
	t.Helper()
	ks, ok := e.sb.Keys(acct, user)
	if !ok {
		t.Fatalf("no user %s", user)
	}
	return ks
}

// recordedNew is the new key the user's rotation record leads to (inventory.RotationRecord), ""
// when none.
func (e *env) recordedNew(t *testing.T, user string) string {
	t.Helper()
	rec, err := inventory.ParseRotationRecord(e.tags(t, user)["keycycle:rotated"])
	if err != nil {
		t.Fatal(err)
	}
	var keys []inventory.AccessKey
	for _, k := range e.keys(t, user) {
		keys = append(keys, inventory.AccessKey{ID: inventory.KeyID(k.AccessKeyID), Status: inventory.KeyStatus(k.Status), Created: k.CreateDate})
	}
	if k := rec.NewKeyIn(keys); k != nil {
		return k.ID.Raw()
	}
	return ""
}

func (e *env) tags(t *testing.T, user string) map[string]string {
	t.Helper()
	out, err := iam.NewFromConfig(e.cfg).ListUserTags(context.Background(), &iam.ListUserTagsInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, tg := range out.Tags {
		m[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return m
}

// secretValue reads the user's secret at a stage; ok false when the secret or stage is absent.
func (e *env) secretValue(t *testing.T, user, stage string) (id, sec string, ok bool) {
	t.Helper()
	out, err := secretsmanager.NewFromConfig(e.cfg).GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{
		SecretId: aws.String("keycycle/" + acct + "/" + user), VersionStage: aws.String(stage)})
	if err != nil {
		return "", "", false
	}
	var v struct{ AccessKeyId, SecretAccessKey string }
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &v); err != nil {
		t.Fatal(err)
	}
	return v.AccessKeyId, v.SecretAccessKey, true
}

func countActions(p plan.Plan) map[plan.Action]int {
	m := map[plan.Action]int{}
	for _, s := range p.Steps {
		m[s.Action]++
	}
	return m
}

func outcomes(rs []rotation.Result) map[rotation.Outcome]int {
	m := map[rotation.Outcome]int{}
	for _, r := range rs {
		m[r.Outcome]++
	}
	return m
}

func mustAuth(t *testing.T, e *env, id, sec string) {
	t.Helper()
	_, err := sts.NewFromConfig(e.sb.Config(id, sec, "")).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("key %s does not authenticate: %v", id, err)
	}
}

func TestLifecycleRotateDeactivateDelete(t *testing.T) {
	e := newEnv(t)
	oldKey := e.keys(t, "due")[0]

	p := e.plan(t)
	if got := countActions(p); got[plan.Rotate] != 1 {
		t.Fatalf("plan = %+v, want one rotate", p.Steps)
	}
	res := e.apply(t)
	if o := outcomes(res); o[rotation.Done] != 1 || o[rotation.Failed] != 0 {
		t.Fatalf("apply outcomes %v: %+v", o, res)
	}
	keys := e.keys(t, "due")
	if len(keys) != 2 || keys[0].AccessKeyID != oldKey.AccessKeyID || keys[0].Status != "Active" || keys[1].Status != "Active" {
		t.Fatalf("after rotation keys = %+v", keys)
	}
	id, sec, ok := e.secretValue(t, "due", "AWSCURRENT")
	if !ok || id != keys[1].AccessKeyID {
		t.Fatalf("AWSCURRENT holds %q, want the new key %s", id, keys[1].AccessKeyID)
	}
	// AWSPENDING may stay on the promoted version (AWS's own completed-rotation state), never
	// on another one.
	if pid, _, pending := e.secretValue(t, "due", "AWSPENDING"); pending && pid != id {
		t.Fatalf("AWSPENDING left on key %s, not on the current key", pid)
	}
	mustAuth(t, e, id, sec) // I1: the stored secret works
	tags := e.tags(t, "due")
	if _, ok := tags["keycycle:rotation"]; ok {
		t.Fatal("intent tag left behind")
	}
	// The record, written with the intent at the start, names the old key and dates the lease the
	// new key was created under; the intent's removal completed it.
	if got := e.recordedNew(t, "due"); got != id || !strings.Contains(tags["keycycle:rotated"], "by=") {
		t.Fatalf("completion record = %q leads to key %q, want %s", tags["keycycle:rotated"], got, id)
	}

	// I5: a second apply with no time passing changes nothing.
	before := e.sb.Stats()
	res = e.apply(t)
	for _, r := range res {
		if r.Outcome != rotation.Noted {
			t.Fatalf("second apply did something: %+v", r)
		}
	}
	after := e.sb.Stats()
	for _, write := range []string{"CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey", "TagUser", "UntagUser"} {
		if after.Calls[acct]["iam"][write] != before.Calls[acct]["iam"][write] {
			t.Fatalf("second apply called %s", write)
		}
	}

	// Grace passes, old key unused since delivery: deactivate.
	e.sb.Clock().Advance(11 * 24 * time.Hour)
	if got := countActions(e.plan(t)); got[plan.Deactivate] != 1 {
		t.Fatalf("after grace: plan %v, want a deactivation", got)
	}
	e.apply(t)
	keys = e.keys(t, "due")
	if keys[0].Status != "Inactive" || keys[1].Status != "Active" {
		t.Fatalf("after deactivation keys = %+v", keys)
	}
	// Delete grace passes: delete the inactive old key, never the active one (I4).
	e.sb.Clock().Advance(11 * 24 * time.Hour)
	e.apply(t)
	keys = e.keys(t, "due")
	if len(keys) != 1 || keys[0].AccessKeyID != id || keys[0].Status != "Active" {
		t.Fatalf("after delete keys = %+v", keys)
	}
	if fresh := e.keys(t, "fresh"); len(fresh) != 1 || fresh[0].Status != "Active" {
		t.Fatalf("a user not due was touched: %+v", fresh)
	}
}

func TestOldKeyStillUsedIsNotDeactivated(t *testing.T) {
	e := newEnv(t)
	old := e.keys(t, "due")[0]
	e.apply(t)
	// The application still uses the old key after delivery.
	e.sb.Clock().Advance(2 * 24 * time.Hour)
	mustAuth(t, e, old.AccessKeyID, old.SecretAccessKey)
	e.sb.Clock().Advance(9 * 24 * time.Hour)
	p := e.plan(t)
	if got := countActions(p); got[plan.Deactivate] != 0 || got[plan.Warn] == 0 {
		t.Fatalf("old key in use: plan %v, want a warning and no deactivation: %+v", got, p.Steps)
	}
	e.apply(t)
	if k := e.keys(t, "due")[0]; k.AccessKeyID != old.AccessKeyID || k.Status != "Active" {
		t.Fatalf("I3: a used key was deactivated: %+v", k)
	}
}

func TestDeliveryFailureDeletesNewKeyAndKeepsOld(t *testing.T) {
	e := newEnv(t, awssimtest.WithFaults(awssim.Faults{Errors: []awssim.ErrorRule{
		{Match: awssim.Match{Service: "secretsmanager", Action: "PutSecretValue"}, Code: "InternalServiceError"},
	}}))
	old := e.keys(t, "due")[0]
	res := e.apply(t)
	if o := outcomes(res); o[rotation.Failed] != 1 {
		t.Fatalf("want one failure, got %v", o)
	}
	keys := e.keys(t, "due")
	if len(keys) != 1 || keys[0].AccessKeyID != old.AccessKeyID || keys[0].Status != "Active" {
		t.Fatalf("I1/I2: after failed delivery keys = %+v", keys)
	}
	if _, ok := e.tags(t, "due")["keycycle:rotation"]; ok {
		t.Fatal("intent tag left after a clean rollback")
	}
}

func TestCrashAfterCreateThenRerunDeletesOrphan(t *testing.T) {
	// Delivery fails and so does the clean-up: the new key is left behind with the intent
	// recorded, as if the process had died right after CreateAccessKey.
	e := newEnv(t, awssimtest.WithFaults(awssim.Faults{Errors: []awssim.ErrorRule{
		{Match: awssim.Match{Service: "secretsmanager", Action: "PutSecretValue"}, Code: "InternalServiceError"},
		{Match: awssim.Match{Service: "iam", Action: "UpdateAccessKey"}, Code: "ServiceFailure"},
	}}))
	old := e.keys(t, "due")[0]
	e.apply(t)
	if keys := e.keys(t, "due"); len(keys) != 2 {
		t.Fatalf("setup: want the orphan key left, got %+v", keys)
	}
	if _, ok := e.tags(t, "due")["keycycle:rotation"]; !ok {
		t.Fatal("setup: intent must stay when clean-up fails")
	}
	if err := e.sb.SetFaults(awssim.Faults{}); err != nil {
		t.Fatal(err)
	}
	res := e.apply(t)
	if o := outcomes(res); o[rotation.Done] != 1 {
		t.Fatalf("re-run: %v %+v", o, res)
	}
	keys := e.keys(t, "due")
	id, sec, ok := e.secretValue(t, "due", "AWSCURRENT")
	if len(keys) != 2 || keys[0].AccessKeyID != old.AccessKeyID || !ok || keys[1].AccessKeyID != id {
		t.Fatalf("after recovery keys=%+v current=%s", keys, id)
	}
	mustAuth(t, e, id, sec)
	if !strings.Contains(e.audit.String(), `"event":"orphan_deleted"`) {
		t.Fatal("orphan deletion not audited")
	}
}

func TestCrashAfterStagingThenRerunResumes(t *testing.T) {
	e := newEnv(t, awssimtest.WithFaults(awssim.Faults{Errors: []awssim.ErrorRule{
		{Match: awssim.Match{Service: "secretsmanager", Action: "UpdateSecretVersionStage"}, Code: "InternalServiceError"},
	}}))
	res := e.apply(t)
	if o := outcomes(res); o[rotation.Failed] != 1 {
		t.Fatalf("want the promotion to fail, got %v", o)
	}
	pendingID, _, ok := e.secretValue(t, "due", "AWSPENDING")
	if !ok || len(e.keys(t, "due")) != 2 {
		t.Fatal("setup: the new key must stay, staged as pending")
	}
	if err := e.sb.SetFaults(awssim.Faults{}); err != nil {
		t.Fatal(err)
	}
	res = e.apply(t)
	if o := outcomes(res); o[rotation.Resumed] != 1 {
		t.Fatalf("re-run: want resumed, got %v %+v", o, res)
	}
	id, sec, ok := e.secretValue(t, "due", "AWSCURRENT")
	if !ok || id != pendingID || len(e.keys(t, "due")) != 2 {
		t.Fatalf("resume promoted %s, want %s", id, pendingID)
	}
	mustAuth(t, e, id, sec)
}

func TestPropagationDelayIsWaitedOut(t *testing.T) {
	e := newEnv(t, awssimtest.WithFaults(awssim.Faults{KeyPropagationDelay: awssim.Duration(400 * time.Millisecond)}))
	res := e.apply(t)
	if o := outcomes(res); o[rotation.Done] != 1 {
		t.Fatalf("rotation with propagation delay: %v %+v", o, res)
	}
}

func TestConcurrentAppliesRotateOnce(t *testing.T) {
	e := newEnv(t)
	p := e.plan(t)
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.runner()
			r.Locker = rotation.NewMemLocker() // three separate processes: no shared lock
			_, _ = r.Apply(context.Background(), p, false)
		}()
	}
	wg.Wait()
	keys := e.keys(t, "due")
	if len(keys) != 2 {
		t.Fatalf("I7: want exactly one new key, got %+v", keys)
	}
	id, _, ok := e.secretValue(t, "due", "AWSCURRENT")
	if !ok || id != keys[1].AccessKeyID {
		t.Fatalf("I1: current secret %s, new key %s", id, keys[1].AccessKeyID)
	}
	// I7: no run cleared an intent another run owned (issue 11: before leases, most
	// intent_cleared events of concurrent runs did).
	if strings.Contains(e.audit.String(), `"event":"intent_cleared"`) {
		t.Fatalf("a concurrent run cleared a live intent:\n%s", e.audit.String())
	}
	// One interleaving leaves an intent: a run that wrote its intent after the winner had
	// removed its own gets LimitExceeded and cannot tell whether the winner is done; its intent
	// stays to guard the new key until its lease ends. The next run after the lease finds the key
	// delivered and completes the bookkeeping: no new key, nothing deleted, no intent left.
	if _, ok := e.tags(t, "due")["keycycle:rotation"]; ok {
		if !strings.Contains(e.audit.String(), `"event":"concurrent_rotation"`) {
			t.Fatalf("intent left without a run that reported the concurrent rotation:\n%s", e.audit.String())
		}
		e.sb.Clock().Advance(inventory.DefaultLease + time.Minute)
		e.apply(t)
		if _, ok := e.tags(t, "due")["keycycle:rotation"]; ok {
			t.Fatal("the intent of the concurrent run is still there after its lease ended and another apply")
		}
		after := e.keys(t, "due")
		if len(after) != 2 || after[1].AccessKeyID != keys[1].AccessKeyID || after[1].Status != "Active" {
			t.Fatalf("the recovery of the left intent changed the keys: %+v, was %+v", after, keys)
		}
	}
}

// The interleaving TestConcurrentAppliesRotateOnce meets only sometimes, made certain: run A
// rotates and completes; run B, which had read the user before, writes its intent afterwards and
// gets LimitExceeded. Its intent stays (it cannot tell A is done), and the next run after B's
// lease completes the bookkeeping without touching the keys.
func TestIntentLeftByALateConcurrentRunIsRecovered(t *testing.T) {
	e := newEnv(t)
	a, b, _, hb := twoRuns(e)
	p := e.plan(t)
	hb.before["TagUser"] = func(n int) {
		if n != 1 {
			return
		}
		if o := outcomes(mustApply(t, a, p)); o[rotation.Done] != 1 {
			t.Errorf("run A: %v", o)
		}
	}
	rb := mustApply(t, b, p)
	keys := e.keys(t, "due")
	if len(keys) != 2 {
		t.Fatalf("I7: want exactly one new key, got %+v", keys)
	}
	if o := outcomes(rb); o[rotation.Done] != 0 || o[rotation.Busy] != 1 {
		t.Fatalf("run B must leave the user to A (busy): %v", o)
	}
	if _, ok := e.tags(t, "due")["keycycle:rotation"]; !ok {
		t.Fatal("setup: run B's intent should guard A's key until B's lease ends")
	}
	e.sb.Clock().Advance(inventory.DefaultLease + time.Minute)
	e.apply(t)
	if v, ok := e.tags(t, "due")["keycycle:rotation"]; ok {
		t.Fatalf("intent left after the lease ended and another apply: %q", v)
	}
	after := e.keys(t, "due")
	if len(after) != 2 || after[1].AccessKeyID != keys[1].AccessKeyID || after[1].Status != "Active" {
		t.Fatalf("the keys changed: %+v, was %+v", after, keys)
	}
	if id, _, ok := e.secretValue(t, "due", "AWSCURRENT"); !ok || id != keys[1].AccessKeyID {
		t.Fatalf("I1: current secret %s, new key %s", id, keys[1].AccessKeyID)
	}
}

func mustApply(t *testing.T, r *job.Runner, p plan.Plan) []rotation.Result {
	t.Helper()
	res, err := r.Apply(context.Background(), p, false)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestCrashBeforeCreateLeavesNothing(t *testing.T) {
	e := newEnv(t, awssimtest.WithFaults(awssim.Faults{Errors: []awssim.ErrorRule{
		{Match: awssim.Match{Service: "iam", Action: "CreateAccessKey"}, Code: "ServiceFailure"},
	}}))
	res := e.apply(t)
	if o := outcomes(res); o[rotation.Failed] != 1 {
		t.Fatalf("want the create to fail, got %v", o)
	}
	if keys := e.keys(t, "due"); len(keys) != 1 || keys[0].Status != "Active" {
		t.Fatalf("keys = %+v", keys)
	}
	if _, ok := e.tags(t, "due")["keycycle:rotation"]; ok {
		t.Fatal("intent left behind")
	}
	if err := e.sb.SetFaults(awssim.Faults{}); err != nil {
		t.Fatal(err)
	}
	if o := outcomes(e.apply(t)); o[rotation.Done] != 1 {
		t.Fatalf("re-run: %v", o)
	}
}

// TestFailedStartLeavesTheRecordItFound: the rotation record written with the intent describes a
// rotation that did not happen when CreateAccessKey fails: the record the user had is put back
// (none when it had none), with the intent gone.
func TestFailedStartLeavesTheRecordItFound(t *testing.T) {
	for _, prev := range []string{"", "at=2026-01-01T00:00:00Z old=AKIAEARLIEREARLIER01 new=AKIAEARLIEREARLIER02"} {
		e := newEnv(t, awssimtest.WithFaults(awssim.Faults{Errors: []awssim.ErrorRule{
			{Match: awssim.Match{Service: "iam", Action: "CreateAccessKey"}, Code: "ServiceFailure"},
		}}))
		if prev != "" {
			if _, err := iam.NewFromConfig(e.cfg).TagUser(context.Background(), &iam.TagUserInput{UserName: aws.String("due"),
				Tags: []iamtypes.Tag{{Key: aws.String("keycycle:rotated"), Value: aws.String(prev)}}}); err != nil {
				t.Fatal(err)
			}
		}
		if o := outcomes(e.apply(t)); o[rotation.Failed] != 1 {
			t.Fatalf("want the create to fail, got %v", o)
		}
		tags := e.tags(t, "due")
		if got, ok := tags["keycycle:rotated"]; got != prev || ok != (prev != "") {
			t.Errorf("record after a failed start = %q (present %t), want %q", got, ok, prev)
		}
		if _, ok := tags["keycycle:rotation"]; ok {
			t.Error("intent left behind")
		}
	}
}

func TestCrashBeforeCompletionRecordThenRerunRecords(t *testing.T) {
	// TagUser writes the intent with the record, UntagUser of the intent completes the rotation:
	// fail it (and its retries).
	e := newEnv(t, awssimtest.WithFaults(awssim.Faults{Errors: []awssim.ErrorRule{
		{Match: awssim.Match{Service: "iam", Action: "UntagUser"}, Code: "ServiceFailure", Nth: 1, Times: 3},
	}}))
	if o := outcomes(e.apply(t)); o[rotation.Failed] != 1 {
		t.Fatalf("want the record to fail, got %v", o)
	}
	id, _, ok := e.secretValue(t, "due", "AWSCURRENT")
	if !ok || len(e.keys(t, "due")) != 2 {
		t.Fatal("setup: the new key is delivered and current")
	}
	if err := e.sb.SetFaults(awssim.Faults{}); err != nil {
		t.Fatal(err)
	}
	if o := outcomes(e.apply(t)); o[rotation.Resumed] != 1 {
		t.Fatalf("re-run: want resumed, got %v", o)
	}
	tags := e.tags(t, "due")
	if !strings.Contains(tags["keycycle:rotated"], "new="+id) || tags["keycycle:rotation"] != "" {
		t.Fatalf("tags after resume: %v", tags)
	}
	if keys := e.keys(t, "due"); len(keys) != 2 {
		t.Fatalf("resume must not create another key: %+v", keys)
	}
}

func TestThrottledReadIsUnknownNotEmpty(t *testing.T) {
	// The plan reads no user; the fresh read right before the rotation is throttled every time.
	e := newEnv(t, awssimtest.WithFaults(awssim.Faults{Errors: []awssim.ErrorRule{
		{Match: awssim.Match{Service: "iam", Action: "ListAccessKeys"}, UserName: "due", Code: "Throttling", Status: 400},
	}}))
	before := e.keys(t, "due")
	var saw bool
	for _, r := range e.apply(t) {
		if r.Step.User != "due" || r.Step.Credential != plan.AccessKey {
			continue
		}
		if r.Outcome == rotation.Done || r.NewKeyID != "" {
			t.Fatalf("a user whose keys could not be read was changed: %+v", r)
		}
		saw = saw || (r.Outcome == rotation.Failed && r.Err != nil && strings.Contains(r.Err.Error(), "Throttling"))
	}
	if !saw {
		t.Fatal("the result must say why the user was left alone (the throttled read)")
	}
	if after := e.keys(t, "due"); len(after) != len(before) || after[0].AccessKeyID != before[0].AccessKeyID {
		t.Fatalf("keys changed: %+v -> %+v", before, after)
	}
}

func TestSecretHasOwnerPolicyAndKMSKey(t *testing.T) {
	e := newEnv(t)
	r := e.runner()
	r.Secret.KMSKeyID = "alias/keycycle"
	r.Secret.Readers = []string{"arn:aws:iam::111111111111:role/app-deployer"}
	s, err := r.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Apply(context.Background(), s.Plan, false); err != nil {
		t.Fatal(err)
	}
	sm := secretsmanager.NewFromConfig(e.cfg)
	name := aws.String("keycycle/" + acct + "/due")
	d, err := sm.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: name})
	if err != nil || aws.ToString(d.KmsKeyId) != "alias/keycycle" {
		t.Fatalf("kms key = %v, %v", d, err)
	}
	pol, err := sm.GetResourcePolicy(context.Background(), &secretsmanager.GetResourcePolicyInput{SecretId: name})
	if err != nil {
		t.Fatal(err)
	}
	doc := aws.ToString(pol.ResourcePolicy)
	for _, want := range []string{"arn:aws:iam::111111111111:user/due", "arn:aws:iam::111111111111:role/app-deployer", `"Effect":"Deny"`, "aws:PrincipalArn"} {
		if !strings.Contains(doc, want) {
			t.Fatalf("resource policy lacks %s: %s", want, doc)
		}
	}
}
