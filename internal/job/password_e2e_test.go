package job_test

import (
	"context"
	"encoding/json"
	"errors"
	"html"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/job"
	"github.com/keycycle/keycycle/internal/notify"
	"github.com/keycycle/keycycle/internal/password"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/rotation"
	"github.com/keycycle/keycycle/internal/sink"
)

// passwordScenario: console is due for a new password (65 days), idle has not signed in for 50
// days, nomfa signs in without an MFA device; the account has a strict password policy.
const passwordScenario = `
start: 2026-11-21T09:00:00Z
accounts:
  - id: "111111111111"
    alias: e2e
    password_policy: {minimum_length: 20, require_symbols: true, require_numbers: true,
                      require_uppercase: true, require_lowercase: true, password_reuse_prevention: 24}
    users:
      - name: console
        tags: {owner: console@example.com}
        mfa: true
        login_profile: {age_days: 200, last_used_days_ago: 1}
        access_keys:
          - {age_days: 95, status: Active, last_used_days_ago: 1}
      - name: idle
        tags: {owner: idle@example.com}
        mfa: true
        login_profile: {age_days: 200, password_age_days: 100, last_used_days_ago: 50}
      - name: nomfa
        login_profile: {age_days: 30, last_used_days_ago: 1}
`

// oldPassword is console's password: set by the test (the scenario's are random) 65 days before
// the scenario's start, so that the rotation is due; the password was last used a day ago.
const oldPassword = "Old-Console-Password-1!"

func newPasswordEnv(t *testing.T, opts ...awssimtest.Option) *env {
	t.Helper()
	e := newEnv(t, append([]awssimtest.Option{awssimtest.WithScenarioYAML(t, passwordScenario)}, opts...)...)
	clock := e.sb.Clock()
	start := clock.Now()
	clock.Set(start.Add(-65 * 24 * time.Hour))
	if _, err := iam.NewFromConfig(e.cfg).UpdateLoginProfile(context.Background(), &iam.UpdateLoginProfileInput{
		UserName: aws.String("console"), Password: aws.String(oldPassword)}); err != nil {
		t.Fatal(err)
	}
	clock.Set(start)
	return e
}

func passwordStep(t *testing.T, p plan.Plan, user string, a plan.Action) plan.Step {
	t.Helper()
	for _, s := range p.Steps {
		if s.User == user && s.Credential == plan.Password && s.Action == a {
			return s
		}
	}
	t.Fatalf("no %s password step for %s in %+v", a, user, p.Steps)
	return plan.Step{}
}

func passwordResult(t *testing.T, rs []rotation.Result, user string, a plan.Action) rotation.Result {
	t.Helper()
	for _, r := range rs {
		if r.Step.User == user && r.Step.Credential == plan.Password && r.Step.Action == a {
			return r
		}
	}
	t.Fatalf("no %s password result for %s in %+v", a, user, rs)
	return rotation.Result{}
}

// storedPassword reads the user's password secret at a stage; "" when absent.
func storedPassword(t *testing.T, e *env, user, stage string) sink.PasswordValue {
	t.Helper()
	out, err := secretsmanager.NewFromConfig(e.cfg).GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{
		SecretId: aws.String("keycycle/" + acct + "/" + user + "/console"), VersionStage: aws.String(stage)})
	if err != nil {
		return sink.PasswordValue{}
	}
	var v sink.PasswordValue
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func loginProfile(t *testing.T, e *env, user string) (*iamtypes.LoginProfile, error) {
	t.Helper()
	out, err := iam.NewFromConfig(e.cfg).GetLoginProfile(context.Background(), &iam.GetLoginProfileInput{UserName: aws.String(user)})
	if err != nil {
		return nil, err
	}
	return out.LoginProfile, nil
}

func TestPasswordRotationEndToEnd(t *testing.T) {
	e := newPasswordEnv(t)
	p := e.plan(t)
	rot := passwordStep(t, p, "console", plan.Rotate)
	if !strings.Contains(rot.Reason, "password age 65d") || rot.AccessKeyID != "" || rot.Precondition.Login == nil || !rot.Precondition.Login.Exists {
		t.Fatalf("rotate step %+v", rot)
	}
	if s := passwordStep(t, p, "idle", plan.Warn); !s.StartsWarning {
		t.Fatalf("idle: %+v", s)
	}
	if s := passwordStep(t, p, "nomfa", plan.Warn); !strings.Contains(s.Reason, "without an MFA device") {
		t.Fatalf("nomfa: %+v", s)
	}
	for _, s := range p.Steps {
		if s.User == "idle" && s.Action == plan.Rotate {
			t.Fatal("an unused password is not rotated")
		}
	}

	res := e.apply(t)
	r := passwordResult(t, res, "console", plan.Rotate)
	if r.Outcome != rotation.Done || r.Location != "keycycle/111111111111/console/console" {
		t.Fatalf("rotate: %s %s %v %+v", r.Outcome, r.Detail, r.Err, r.Sinks)
	}
	// The key of the same user was rotated in the same run: one does not make the other stale.
	if k := rotateResult(t, res, "console"); k.Outcome != rotation.Done {
		t.Fatalf("key rotation of the same user: %s %s", k.Outcome, k.Detail)
	}
	v := storedPassword(t, e, "console", "AWSCURRENT")
	if v.Password == "" || v.UserName != "console" || !v.ResetRequired || v.SignInURL != "https://111111111111.signin.aws.amazon.com/console" {
		t.Fatalf("stored %+v", v)
	}
	if !e.sb.PasswordIs(acct, "console", v.Password) || e.sb.PasswordIs(acct, "console", oldPassword) {
		t.Fatal("the delivered password is not the one in force")
	}
	strict := password.Policy{MinLength: 20, RequireUpper: true, RequireLower: true, RequireNumbers: true, RequireSymbols: true}
	if err := strict.Check(v.Password); err != nil {
		t.Fatalf("the new password breaks the account policy: %v", err)
	}
	if (storedPassword(t, e, "console", "AWSPENDING") != sink.PasswordValue{}) {
		t.Fatal("AWSPENDING left behind")
	}
	lp, err := loginProfile(t, e, "console")
	if err != nil || !lp.PasswordResetRequired {
		t.Fatalf("reset required: %+v %v", lp, err)
	}
	tags := e.tags(t, "console")
	if _, ok := tags["keycycle:password-rotation"]; ok || !strings.HasPrefix(tags["keycycle:password-rotated"], "at=") {
		t.Fatalf("state tags %v", tags)
	}
	// The idle user's warning period started; nothing else changed for it.
	if !strings.HasPrefix(e.tags(t, "idle")["keycycle:console-warned"], "at=") {
		t.Fatalf("idle tags %v", e.tags(t, "idle"))
	}
	audit := e.audit.String()
	if leaks(audit, v.Password) || !strings.Contains(audit, `"event":"password_rotated"`) || !strings.Contains(audit, `"event":"console_warning_recorded"`) {
		t.Fatalf("audit:\n%s", audit)
	}

	// I5: a second apply with no time passing changes nothing, although the credential report
	// (cached for 4 hours) still shows the old password's age.
	before := e.sb.Stats()
	for _, r := range e.apply(t) {
		if r.Outcome != rotation.Noted {
			t.Fatalf("second apply did something: %+v", r)
		}
	}
	after := e.sb.Stats()
	for _, write := range []string{"UpdateLoginProfile", "DeleteLoginProfile", "TagUser", "UntagUser"} {
		if after.Calls[acct]["iam"][write] != before.Calls[acct]["iam"][write] {
			t.Fatalf("second apply called %s", write)
		}
	}

	// 60 days on, the new password is due in turn; the policy's reuse prevention (24) is no
	// obstacle to a random password. (The sandbox has no console to sign in to, so the password
	// looks unused by then: console_unused_after is off for this run.)
	e.sb.Clock().Advance(60 * 24 * time.Hour)
	rn := e.runner()
	rn.Rules.Default.ConsoleUnusedAfter = 0
	s, err := rn.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	res, err = rn.Apply(context.Background(), s.Plan, false)
	if err != nil {
		t.Fatal(err)
	}
	r = passwordResult(t, res, "console", plan.Rotate)
	if r.Outcome != rotation.Done {
		t.Fatalf("second rotation: %s %s %v", r.Outcome, r.Detail, r.Err)
	}
	if v2 := storedPassword(t, e, "console", "AWSCURRENT"); v2.Password == v.Password || !e.sb.PasswordIs(acct, "console", v2.Password) {
		t.Fatal("the second rotation did not deliver the password in force")
	}
}

// TestFailedPasswordUpdateLeavesTheOldPasswordAndDeliversNothing: UpdateLoginProfile refused
// (EntityTemporarilyUnmodifiable, persistently): the old password still works, no sink holds or
// sent the new one, the intent is cleared, and a later apply succeeds.
func TestFailedPasswordUpdateLeavesTheOldPasswordAndDeliversNothing(t *testing.T) {
	t.Setenv(hookKeyEnv, "webhook-hmac-key")
	e := newPasswordEnv(t, awssimtest.WithFaults(awssim.Faults{Errors: []awssim.ErrorRule{{
		Match: awssim.Match{Service: "iam", Action: "UpdateLoginProfile"}, UserName: "console",
		Code: "EntityTemporarilyUnmodifiable", Status: http.StatusConflict, Nth: 2, Times: 6, // 1: the test's own setup
	}}}))
	hook := awssimtest.StartWebhook(t, e.sb)
	del := config.Delivery{Sinks: []config.Sink{
		{Name: "secretsmanager", Required: true, Settings: &sink.SecretsManagerConfig{}},
		{Name: "ssm", Required: true, Settings: &sink.SSMConfig{Parameter: config.DefaultParameterTemplate}},
		{Name: "webhook", Required: true, Settings: &sink.WebhookConfig{URL: hook.URL + "/k", SigningSecretEnv: hookKeyEnv, Attempts: 1}},
	}}
	run := func() rotation.Result {
		r := e.runner()
		r.Delivery = job.Delivery{Delivery: del, Backoff: time.Millisecond}
		r.Rules.Default.ConsoleUnusedAfter = 0
		s, err := r.Plan(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ex := passwordStep(t, s.Plan, "console", plan.Rotate)
		res, err := r.Apply(context.Background(), plan.New(s.Plan.GeneratedAt, []plan.Step{ex}), false)
		if err != nil {
			t.Fatal(err)
		}
		return passwordResult(t, res, "console", plan.Rotate)
	}
	r := run()
	var tu *iamtypes.EntityTemporarilyUnmodifiableException
	if r.Outcome != rotation.Failed || !errors.As(r.Err, &tu) || !strings.Contains(r.Detail, "the password is unchanged and nothing was delivered") {
		t.Fatalf("rotate: %s %s %v", r.Outcome, r.Detail, r.Err)
	}
	if !e.sb.PasswordIs(acct, "console", oldPassword) {
		t.Fatal("the old password must still work")
	}
	got := map[string]rotation.SinkOutcome{}
	for _, s := range r.Sinks {
		got[s.Name] = s.Outcome
	}
	if got["secretsmanager"] != rotation.SinkWithdrawn || got["ssm"] != rotation.SinkWithdrawn || got["webhook"] != rotation.SinkNotTried {
		t.Fatalf("sinks %+v", r.Sinks)
	}
	if v := storedPassword(t, e, "console", "AWSCURRENT"); v.Password != "" {
		t.Fatal("the secret's current version holds a password that was never set")
	}
	if (storedPassword(t, e, "console", "AWSPENDING") != sink.PasswordValue{}) {
		t.Fatal("the withdrawn password is still pending")
	}
	if o := e.sb.Outbox(); len(hook.Requests()) != 0 || len(o.Emails) != 0 {
		t.Fatal("something was sent for a password that was not set")
	}
	if _, ok := e.tags(t, "console")["keycycle:password-rotation"]; ok {
		t.Fatal("intent left behind")
	}
	if !strings.Contains(e.audit.String(), `"event":"password_update_failed"`) {
		t.Fatalf("audit:\n%s", e.audit.String())
	}

	// The fault fired 3 times per apply (the executor's attempts); the third apply gets through.
	if r := run(); r.Outcome != rotation.Failed {
		t.Fatalf("second apply: %s", r.Outcome)
	}
	r = run()
	if r.Outcome != rotation.Done {
		t.Fatalf("third apply: %s %s %v", r.Outcome, r.Detail, r.Err)
	}
	v := storedPassword(t, e, "console", "AWSCURRENT")
	if !e.sb.PasswordIs(acct, "console", v.Password) {
		t.Fatal("the delivered password is not the one in force")
	}
	reqs := hook.Requests()
	if len(reqs) != 1 || leaks(string(reqs[0].Body), v.Password) || !strings.Contains(string(reqs[0].Body), `"event":"console_password_rotated"`) {
		t.Fatalf("webhook: %d requests", len(reqs))
	}
}

// TestPasswordDeliveryThroughEverySink: stores keep the password in their own secret or
// parameter, the owner gets it encrypted, the webhook a pointer, the Lambda handler nothing.
func TestPasswordDeliveryThroughEverySink(t *testing.T) {
	d := newPasswordDeliveryEnv(t)
	res := d.applyWith(t, config.Delivery{Sinks: d.sinks("secretsmanager", "ssm", "lambda", "webhook", "email")})
	r := passwordResult(t, res, "human", plan.Rotate)
	want := map[string]rotation.SinkOutcome{"secretsmanager": rotation.SinkDelivered, "ssm": rotation.SinkDelivered,
		"lambda": rotation.SinkNotApplicable, "webhook": rotation.SinkDelivered, "email": rotation.SinkDelivered}
	if r.Outcome != rotation.Done || len(sinkOutcomes(r)) != len(want) {
		t.Fatalf("rotate: %s %s %v %+v", r.Outcome, r.Detail, r.Err, r.Sinks)
	}
	for name, o := range sinkOutcomes(r) {
		if want[name] != o {
			t.Fatalf("sink %s: %s", name, o)
		}
	}
	pw := storedPassword(t, d.env, "human", "AWSCURRENT").Password
	if pw == "" || !d.sb.PasswordIs(acct, "human", pw) {
		t.Fatal("the stored password is not the one in force")
	}
	// The parameter of its own.
	param, ok := readParameter(t, d.env, "/keycycle/"+acct+"/human/console")
	var pv sink.PasswordValue
	if !ok || json.Unmarshal([]byte(param), &pv) != nil || pv.Password != pw {
		t.Fatal("the SSM parameter does not hold the password")
	}
	if _, ok := readParameter(t, d.env, "/keycycle/"+acct+"/human"); ok {
		t.Fatal("a password went to the access key parameter")
	}
	// The mail: encrypted to the owner's key.
	var mail string
	for _, m := range d.sb.Outbox().Emails {
		if m.To[0] == "human@example.com" {
			mail = m.Text
		}
	}
	if mail == "" || leaks(mail, pw) {
		t.Fatalf("mail missing or in clear:\n%s", mail)
	}
	dec, err := age.Decrypt(armor.NewReader(strings.NewReader(mail[strings.Index(mail, "-----BEGIN AGE"):])), d.id)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(dec)
	if !strings.Contains(string(plain), pw) {
		t.Fatal("the mail does not decrypt to the password")
	}
	// The webhook: a pointer; the handler: not called for a password.
	for _, req := range d.hook.Requests() {
		if leaks(string(req.Body), pw) {
			t.Fatal("the webhook got the password")
		}
	}
	if d.lambdaCalls("human") != 0 {
		t.Fatal("the Lambda handler was called for a password")
	}
}

func readParameter(t *testing.T, e *env, name string) (string, bool) {
	t.Helper()
	out, err := ssm.NewFromConfig(e.cfg).GetParameter(context.Background(), &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
	if err != nil {
		return "", false
	}
	return aws.ToString(out.Parameter.Value), true
}

// TestConsoleRemovedAfterTheWarningPeriod: an unused login profile is warned about (the warning
// recorded on the user), still warned about during the period with the date, then deleted; the
// audit keeps what was removed, never a password; the owner hears about each stage.
func TestConsoleRemovedAfterTheWarningPeriod(t *testing.T) {
	e := newPasswordEnv(t)
	var sent []notify.Event
	notes := &recorder{}
	cycle := func() []rotation.Result {
		r := e.runner()
		r.Notify = job.Notify{Notifiers: []notify.Notifier{notes}}
		s, err := r.Plan(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.Apply(context.Background(), s.Plan, false)
		if err != nil {
			t.Fatal(err)
		}
		r.NotifyRun(context.Background(), s.Account, s.Plan, res, false)
		sent = notes.last()
		return res
	}
	warnedAt := e.sb.Clock().Now()
	if r := passwordResult(t, cycle(), "idle", plan.Warn); r.Outcome != rotation.Done {
		t.Fatalf("first warning: %s %s %v", r.Outcome, r.Detail, r.Err)
	}
	removal := warnedAt.Add(14 * 24 * time.Hour).UTC()
	if ev := eventOf(sent, "idle", notify.ConsoleRemovalWarning); ev == nil || !ev.When.Equal(removal.Truncate(time.Second)) {
		t.Fatalf("warning notice %+v, want removal on %s", ev, removal)
	}

	e.sb.Clock().Advance(13 * 24 * time.Hour)
	if r := passwordResult(t, cycle(), "idle", plan.Warn); r.Outcome != rotation.Noted || !strings.Contains(r.Step.Reason, "is removed after") {
		t.Fatalf("during the period: %s %s", r.Outcome, r.Step.Reason)
	}
	if _, err := loginProfile(t, e, "idle"); err != nil {
		t.Fatal("removed before the warning period ended")
	}
	if eventOf(sent, "idle", notify.ConsoleRemovalWarning) == nil {
		t.Fatal("the owner must be reminded during the warning period")
	}

	e.sb.Clock().Advance(24 * time.Hour)
	r := passwordResult(t, cycle(), "idle", plan.Delete)
	if r.Outcome != rotation.Done {
		t.Fatalf("removal: %s %s %v", r.Outcome, r.Detail, r.Err)
	}
	var nse *iamtypes.NoSuchEntityException
	if _, err := loginProfile(t, e, "idle"); !errors.As(err, &nse) {
		t.Fatalf("login profile still there: %v", err)
	}
	if eventOf(sent, "idle", notify.ConsoleRemoved) == nil {
		t.Fatal("the owner must hear about the removal")
	}
	tags := e.tags(t, "idle")
	if _, ok := tags["keycycle:console-warned"]; ok {
		t.Fatalf("warning record left behind: %v", tags)
	}
	var rec struct {
		Event        string `json:"event"`
		LoginProfile *struct {
			Created          time.Time  `json:"created"`
			PasswordLastUsed *time.Time `json:"password_last_used"`
		} `json:"login_profile"`
	}
	for _, line := range strings.Split(e.audit.String(), "\n") {
		if strings.Contains(line, `"event":"login_profile_deleted"`) {
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatal(err)
			}
		}
	}
	start := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	if rec.LoginProfile == nil || !rec.LoginProfile.Created.Equal(start.Add(-200*24*time.Hour)) || rec.LoginProfile.PasswordLastUsed == nil ||
		!rec.LoginProfile.PasswordLastUsed.Equal(start.Add(-50*24*time.Hour)) {
		t.Fatalf("audit record of the removal: %+v", rec.LoginProfile)
	}
	// The credential report (regenerated at most every 4 hours) still shows the password for a
	// while: an apply then finds no login profile and changes nothing.
	for _, r := range e.apply(t) {
		if r.Step.User == "idle" && r.Step.Credential == plan.Password && (r.Outcome == rotation.Done || r.Outcome == rotation.Failed) {
			t.Fatalf("a removed login profile was acted on again: %+v", r)
		}
	}
	if _, ok := e.tags(t, "idle")["keycycle:console-warned"]; ok {
		t.Fatal("a warning was recorded for a login profile that no longer exists")
	}
	// The user can get console access back from an administrator; keycycle starts over.
	e.sb.Clock().Advance(5 * time.Hour)
	for _, s := range e.plan(t).Steps {
		if s.User == "idle" && s.Credential == plan.Password {
			t.Fatalf("a removed login profile has no more steps: %+v", s)
		}
	}
}

func eventOf(evs []notify.Event, user string, k notify.Kind) *notify.Event {
	for i := range evs {
		if evs[i].User == user && evs[i].Kind == k {
			return &evs[i]
		}
	}
	return nil
}

// TestConcurrentPasswordRotationsDeliverThePasswordInForce (I7): runs of one process racing on one
// saved plan for one user's password: one rotates it, the others find it rotated since the plan
// (stale) or, should they lose a race inside the protocol, fail and leave an intent for the next
// run; the store never holds a password other than the one in force. (Separate processes are
// guarded by the intent tags only: docs/passwords.md, "Concurrent runs".)
func TestConcurrentPasswordRotationsDeliverThePasswordInForce(t *testing.T) {
	for round := 0; round < 5; round++ {
		e := newPasswordEnv(t)
		p := e.plan(t)
		only := plan.New(p.GeneratedAt, []plan.Step{passwordStep(t, p, "console", plan.Rotate)})
		results := make(chan rotation.Result, 4)
		var wg sync.WaitGroup
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := e.runner().Apply(context.Background(), only, false)
				if err != nil {
					t.Error(err)
					return
				}
				results <- res[0]
			}()
		}
		wg.Wait()
		close(results)
		done, failed := 0, 0
		for r := range results {
			switch r.Outcome {
			case rotation.Done:
				done++
			case rotation.Failed:
				failed++ // lost the race after changing the password: it asks the next run to redo it
			case rotation.Blocked, rotation.Stale:
			default:
				t.Errorf("outcome %s: %s %v", r.Outcome, r.Detail, r.Err)
			}
		}
		if failed > 0 {
			// The next apply rotates again and leaves the store and IAM in agreement.
			if _, ok := e.tags(t, "console")["keycycle:password-rotation"]; !ok {
				t.Fatal("a run that changed the password without delivering it left no intent")
			}
			if r := passwordResult(t, e.apply(t), "console", plan.Rotate); r.Outcome != rotation.Done {
				t.Fatalf("recovery: %s %s", r.Outcome, r.Detail)
			}
			if v := storedPassword(t, e, "console", "AWSCURRENT"); !e.sb.PasswordIs(acct, "console", v.Password) {
				t.Fatal("after recovery the stored password is not the one in force")
			}
			continue
		}
		v := storedPassword(t, e, "console", "AWSCURRENT")
		if done == 0 || !e.sb.PasswordIs(acct, "console", v.Password) {
			t.Fatalf("%d done; the current stored password is not the one in force", done)
		}
		if _, ok := e.tags(t, "console")["keycycle:password-rotation"]; ok {
			t.Fatal("an intent was left behind")
		}
		// The saved plan again: the password was rotated since, so the step is stale.
		res, err := e.runner().Apply(context.Background(), only, false)
		if err != nil || res[0].Outcome != rotation.Stale || !strings.Contains(res[0].Detail, "rotated since the plan") {
			t.Fatalf("re-applied plan: %+v %v", res, err)
		}
	}
}

// leaks reports whether text holds secret as it is, JSON-escaped (json.Marshal escapes & < >)
// or HTML-escaped: a password has symbols, and every output keycycle writes is one of these.
func leaks(text, secret string) bool {
	js, _ := json.Marshal(secret)
	return strings.Contains(text, secret) || strings.Contains(text, strings.Trim(string(js), `"`)) ||
		strings.Contains(text, html.EscapeString(secret))
}

// TestPasswordRequiredSinkFailureStopsThePromotion: as for a key, a required sink that fails to
// promote stops the promotion; the password is changed (it cannot be rolled back) and held by the
// primary, but the sinks after the failed one withdraw what they staged and send nothing.
func TestPasswordRequiredSinkFailureStopsThePromotion(t *testing.T) {
	d := newPasswordDeliveryEnv(t)
	d.hook.SetStatus(http.StatusInternalServerError)
	r := passwordResult(t, d.applyWith(t, config.Delivery{Sinks: d.sinks("secretsmanager", "webhook", "ssm", "email")}), "human", plan.Rotate)
	want := map[string]rotation.SinkOutcome{"secretsmanager": rotation.SinkDelivered, "webhook": rotation.SinkFailed,
		"ssm": rotation.SinkWithdrawn, "email": rotation.SinkNotTried}
	got := sinkOutcomes(r)
	for name, o := range want {
		if got[name] != o {
			t.Fatalf("sink outcomes %v, want %v (%s)", got, want, r.Detail)
		}
	}
	if r.Outcome != rotation.Failed || !strings.Contains(r.Detail, "required delivery to webhook failed") {
		t.Fatalf("rotate: %s %s %v", r.Outcome, r.Detail, r.Err)
	}
	if pw := storedPassword(t, d.env, "human", "AWSCURRENT").Password; pw == "" || !d.sb.PasswordIs(acct, "human", pw) {
		t.Fatal("the primary does not hold the password in force")
	}
	if _, ok := readParameter(t, d.env, "/keycycle/"+acct+"/human/console"); ok {
		t.Fatal("a sink after the failed required one holds the password")
	}
	for _, m := range d.sb.Outbox().Emails {
		if m.To[0] == "human@example.com" {
			t.Fatal("a sink after the failed required one sent the password")
		}
	}
}

// newPasswordDeliveryEnv is the delivery environment with user human, whose console password is
// due and whose owner has an encryption key.
func newPasswordDeliveryEnv(t *testing.T) *deliveryEnv {
	t.Helper()
	d := newDeliveryEnv(t, awssimtest.WithScenarioYAML(t, strings.Replace(deliveryScenario, "    functions:", `      - name: human
        tags: {owner: human@example.com}
        mfa: true
        login_profile: {age_days: 100, password_age_days: 70, last_used_days_ago: 1}
    functions:`, 1)))
	if _, err := iam.NewFromConfig(d.cfg).TagUser(context.Background(), &iam.TagUserInput{UserName: aws.String("human"),
		Tags: []iamtypes.Tag{{Key: aws.String(sink.DefaultRecipientTag), Value: aws.String(d.id.Recipient().String())}}}); err != nil {
		t.Fatal(err)
	}
	return d
}
