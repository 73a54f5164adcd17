package job_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/job"
	"github.com/keycycle/keycycle/internal/policy"
	"github.com/keycycle/keycycle/internal/rotation"
	"github.com/keycycle/keycycle/internal/sink"
)

const deliveryScenario = `
start: 2026-11-21T09:00:00Z
accounts:
  - id: "111111111111"
    alias: e2e
    users:
      - name: due
        path: /apps/
        tags: {owner: due@example.com}
        access_keys:
          - {age_days: 95, status: Active, last_used_days_ago: 1}
      - name: svc
        path: /service/
        access_keys:
          - {age_days: 95, status: Active, last_used_days_ago: 1}
    functions:
      - name: handler
      - name: broken
        error: boom
        error_type: HandlerError
`

const hookKeyEnv = "KEYCYCLE_TEST_WEBHOOK_KEY"

// deliveryEnv is a sandbox with the delivery scenario, a verified sender, a webhook receiver and
// an age identity whose public key is on user due.
type deliveryEnv struct {
	*env
	hook *awssimtest.Webhook
	id   *age.X25519Identity
}

func newDeliveryEnv(t *testing.T, opts ...awssimtest.Option) *deliveryEnv {
	t.Helper()
	t.Setenv(hookKeyEnv, "webhook-hmac-key")
	e := newEnv(t, append([]awssimtest.Option{awssimtest.WithScenarioYAML(t, deliveryScenario)}, opts...)...)
	ctx := context.Background()
	if _, err := sesv2.NewFromConfig(e.cfg).CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("keycycle@example.com")}); err != nil {
		t.Fatal(err)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iam.NewFromConfig(e.cfg).TagUser(ctx, &iam.TagUserInput{UserName: aws.String("due"),
		Tags: []iamtypes.Tag{{Key: aws.String(sink.DefaultRecipientTag), Value: aws.String(id.Recipient().String())}}}); err != nil {
		t.Fatal(err)
	}
	return &deliveryEnv{env: e, hook: awssimtest.StartWebhook(t, e.sb), id: id}
}

func (d *deliveryEnv) sinks(kinds ...string) []config.Sink {
	var out []config.Sink
	for _, k := range kinds {
		opt := strings.HasSuffix(k, "?")
		k = strings.TrimSuffix(k, "?")
		s := config.Sink{Name: k, Required: !opt}
		switch k {
		case "secretsmanager":
			s.Settings = &sink.SecretsManagerConfig{}
		case "ssm":
			s.Settings = &sink.SSMConfig{Parameter: "/keycycle/{{account}}/{{user}}"}
		case "lambda":
			s.Settings = &sink.LambdaConfig{Function: "handler", Metadata: map[string]any{"due": map[string]any{"team": "payments"}}}
		case "broken":
			s.Settings = &sink.LambdaConfig{Function: "broken"}
		case "webhook":
			s.Settings = &sink.WebhookConfig{URL: d.hook.URL + "/keycycle", SigningSecretEnv: hookKeyEnv, Attempts: 2}
		case "email":
			s.Settings = &sink.EmailConfig{From: "keycycle@example.com", OwnerTag: "owner", RecipientTag: sink.DefaultRecipientTag}
		default:
			panic("no sink type " + k)
		}
		out = append(out, s)
	}
	return out
}

// applyWith plans and applies with the given delivery (rules: named rule -> sinks).
func (d *deliveryEnv) applyWith(t *testing.T, del config.Delivery, rules ...policy.Rule) []rotation.Result {
	t.Helper()
	r := d.runner()
	r.Delivery = job.Delivery{Delivery: del, Backoff: time.Millisecond}
	r.Rules.Named = append(r.Rules.Named, rules...)
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

func rotateResult(t *testing.T, rs []rotation.Result, user string) rotation.Result {
	t.Helper()
	for _, r := range rs {
		if r.Step.User == user && r.Step.Action == "rotate" {
			return r
		}
	}
	t.Fatalf("no rotate result for %s in %+v", user, rs)
	return rotation.Result{}
}

func sinkOutcomes(r rotation.Result) map[string]rotation.SinkOutcome {
	m := map[string]rotation.SinkOutcome{}
	for _, s := range r.Sinks {
		m[s.Name] = s.Outcome
	}
	return m
}

// rotatedHooks are the access_key_rotated webhook requests for a key id.
func (d *deliveryEnv) rotatedHooks(id string) int {
	n := 0
	for _, r := range d.hook.Requests() {
		if r.Status == http.StatusOK && r.Header.Get(sink.HeaderDelivery) == "access_key_rotated:"+id {
			n++
		}
	}
	return n
}

// lambdaCalls counts the handler's invocations for a user.
func (d *deliveryEnv) lambdaCalls(user string) int {
	n := 0
	for _, inv := range d.sb.Outbox().Lambda {
		var p sink.LambdaPayload
		if json.Unmarshal(inv.Payload, &p) == nil && p.Username == user {
			n++
		}
	}
	return n
}

func (d *deliveryEnv) parameter(t *testing.T, user string) (id, sec string) {
	t.Helper()
	out, err := ssm.NewFromConfig(d.cfg).GetParameter(context.Background(), &ssm.GetParameterInput{
		Name: aws.String("/keycycle/" + acct + "/" + user), WithDecryption: aws.Bool(true)})
	if err != nil {
		return "", ""
	}
	var v struct{ AccessKeyId, SecretAccessKey string }
	_ = json.Unmarshal([]byte(aws.ToString(out.Parameter.Value)), &v)
	return v.AccessKeyId, v.SecretAccessKey
}

func TestEverySinkDeliversTheNewKey(t *testing.T) {
	d := newDeliveryEnv(t)
	del := config.Delivery{Sinks: d.sinks("secretsmanager", "ssm", "lambda", "webhook", "email")}
	res := d.applyWith(t, del)
	r := rotateResult(t, res, "due")
	if r.Outcome != rotation.Done {
		t.Fatalf("rotate: %s %s %v %+v", r.Outcome, r.Detail, r.Err, r.Sinks)
	}
	for name, o := range sinkOutcomes(r) {
		if o != rotation.SinkDelivered {
			t.Fatalf("sink %s: %s (%+v)", name, o, r.Sinks)
		}
	}
	keys := d.keys(t, "due")
	newID := keys[1].AccessKeyID
	if len(keys) != 2 || keys[0].Status != "Active" || r.NewKeyID.Raw() != newID {
		t.Fatalf("keys %+v", keys)
	}
	// Secrets Manager and SSM hold the new key, and it works.
	id, sec, ok := d.secretValue(t, "due", "AWSCURRENT")
	if !ok || id != newID {
		t.Fatalf("secret holds %s", id)
	}
	mustAuth(t, d.env, id, sec)
	if pid, psec := d.parameter(t, "due"); pid != newID || psec != sec {
		t.Fatalf("parameter holds %s", pid)
	}
	// The handler was invoked once with the CDK contract and no secret.
	inv := d.sb.Outbox().Lambda
	if len(inv) < 1 || d.lambdaCalls("due") != 1 || string(inv[0].Payload) != `{"username":"due","secretName":"keycycle/111111111111/due","metadata":{"team":"payments"}}` {
		t.Fatalf("lambda invocations %+v", inv)
	}
	// The webhook got one signed notice without the secret.
	if n := d.rotatedHooks(newID); n != 1 {
		t.Fatalf("webhook deliveries %d", n)
	}
	for _, h := range d.hook.Requests() {
		if strings.Contains(string(h.Body), sec) {
			t.Fatal("the webhook body carries the secret without include_secret")
		}
		if h.Header.Get(sink.HeaderSignature) != sink.Sign([]byte("webhook-hmac-key"), h.Header.Get(sink.HeaderTimestamp), h.Body) {
			t.Fatal("bad signature")
		}
	}
	// The owner's mail decrypts to the key; it never holds it in clear.
	mails := d.sb.Outbox().Emails
	if len(mails) != 1 || mails[0].To[0] != "due@example.com" || strings.Contains(mails[0].Text, sec) {
		t.Fatalf("mails %+v", mails)
	}
	armored := mails[0].Text[strings.Index(mails[0].Text, "-----BEGIN AGE"):]
	plain, err := age.Decrypt(armor.NewReader(strings.NewReader(armored)), d.id)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(plain); !strings.Contains(string(b), "aws_secret_access_key = "+sec) {
		t.Fatal("the mail does not decrypt to the key")
	}
	// Audit: the completion names every sink's outcome; the delivery record is gone.
	if !strings.Contains(d.audit.String(), `"event":"rotation_completed"`) || !strings.Contains(d.audit.String(), `"name":"webhook","location":"`+d.hook.URL+`/keycycle","required":true,"outcome":"delivered"`) {
		t.Fatalf("audit:\n%s", d.audit.String())
	}
	if strings.Contains(d.audit.String(), sec) {
		t.Fatal("the audit trail holds the secret")
	}
	if _, ok := d.tags(t, "due")["keycycle:delivered"]; ok {
		t.Fatal("delivery record left behind")
	}
	// svc has no owner address: the required mail is refused and its rotation rolled back.
	if r := rotateResult(t, res, "svc"); r.Outcome != rotation.Failed || sinkOutcomes(r)["email"] != rotation.SinkFailed ||
		!strings.Contains(r.Err.Error(), "no owner address") || len(d.keys(t, "svc")) != 1 {
		t.Fatalf("svc: %s %s %v", r.Outcome, r.Detail, r.Err)
	}
	// I5: nothing more happens to due on a second apply.
	for _, r := range d.applyWith(t, del) {
		if r.Step.User == "due" && r.Outcome != rotation.Noted {
			t.Fatalf("second apply: %+v", r)
		}
	}
	if d.lambdaCalls("due") != 1 || d.rotatedHooks(newID) != 1 || len(d.sb.Outbox().Emails) != 1 {
		t.Fatal("a second apply delivered again")
	}
}

func TestFailingRequiredSinkRollsBack(t *testing.T) {
	d := newDeliveryEnv(t)
	del := config.Delivery{Sinks: d.sinks("secretsmanager", "ssm", "webhook", "email")}
	// A first rotation succeeds, so that the stores have a previous key to go back to.
	if r := rotateResult(t, d.applyWith(t, del), "due"); r.Outcome != rotation.Done {
		t.Fatalf("first rotation: %+v", r)
	}
	first := d.keys(t, "due")[1]
	d.sb.Clock().Advance(11 * 24 * time.Hour)
	d.applyWith(t, del) // deactivates the oldest key
	d.sb.Clock().Advance(11 * 24 * time.Hour)
	d.applyWith(t, del) // deletes it
	d.sb.Clock().Advance(80 * 24 * time.Hour)
	if keys := d.keys(t, "due"); len(keys) != 1 || keys[0].AccessKeyID != first.AccessKeyID {
		t.Fatalf("setup: keys %+v", keys)
	}

	// Now the webhook (required) fails: everything is undone.
	d.hook.SetStatus(http.StatusInternalServerError)
	mailsBefore := len(d.sb.Outbox().Emails)
	r := rotateResult(t, d.applyWith(t, del), "due")
	if r.Outcome != rotation.Failed || !strings.Contains(r.Detail, "new key deleted, old key untouched") {
		t.Fatalf("rotate: %s %s %v", r.Outcome, r.Detail, r.Err)
	}
	if keys := d.keys(t, "due"); len(keys) != 1 || keys[0].AccessKeyID != first.AccessKeyID || keys[0].Status != "Active" {
		t.Fatalf("keys after rollback %+v", keys)
	}
	if id, _, _ := d.secretValue(t, "due", "AWSCURRENT"); id != first.AccessKeyID {
		t.Fatalf("secret current %s, want the old key back", id)
	}
	if id, _ := d.parameter(t, "due"); id != first.AccessKeyID {
		t.Fatalf("parameter %s, want the old key back", id)
	}
	got := sinkOutcomes(r)
	want := map[string]rotation.SinkOutcome{"secretsmanager": rotation.SinkWithdrawn, "ssm": rotation.SinkWithdrawn, "webhook": rotation.SinkFailed, "email": rotation.SinkNotTried}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("sink outcomes %v, want %v", got, want)
		}
	}
	if len(d.sb.Outbox().Emails) != mailsBefore {
		t.Fatal("a mail went out for a rolled-back key")
	}
	if tags := d.tags(t, "due"); tags["keycycle:rotation"] != "" || tags["keycycle:delivered"] != "" {
		t.Fatalf("state tags left: %v", tags)
	}
	if !strings.Contains(d.audit.String(), `"event":"rolled_back"`) {
		t.Fatal("rollback not audited")
	}
}

func TestFailingRequiredPushSinkAfterASendRevokesIt(t *testing.T) {
	d := newDeliveryEnv(t)
	r := rotateResult(t, d.applyWith(t, config.Delivery{Sinks: d.sinks("secretsmanager", "webhook", "broken")}), "due")
	if r.Outcome != rotation.Failed {
		t.Fatalf("rotate: %+v", r)
	}
	if keys := d.keys(t, "due"); len(keys) != 1 || keys[0].Status != "Active" {
		t.Fatalf("keys %+v", keys)
	}
	if o := sinkOutcomes(r); o["webhook"] != rotation.SinkRevoked || o["broken"] != rotation.SinkFailed {
		t.Fatalf("outcomes %v", o)
	}
	var revoked bool
	for _, h := range d.hook.Requests() {
		revoked = revoked || h.Header.Get(sink.HeaderEvent) == sink.EventRevoked
	}
	if !revoked {
		t.Fatal("the webhook was not told the key is revoked")
	}
}

func TestFailingOptionalSinkIsReportedWithoutRollback(t *testing.T) {
	d := newDeliveryEnv(t)
	d.hook.SetStatus(http.StatusServiceUnavailable)
	r := rotateResult(t, d.applyWith(t, config.Delivery{Sinks: d.sinks("secretsmanager", "broken?", "webhook?", "lambda")}), "due")
	if r.Outcome != rotation.Done || !strings.Contains(r.Detail, "optional delivery failed: broken, webhook") {
		t.Fatalf("rotate: %s %s", r.Outcome, r.Detail)
	}
	o := sinkOutcomes(r)
	if o["secretsmanager"] != rotation.SinkDelivered || o["lambda"] != rotation.SinkDelivered || o["broken"] != rotation.SinkFailed || o["webhook"] != rotation.SinkFailed {
		t.Fatalf("outcomes %v", o)
	}
	keys := d.keys(t, "due")
	if id, _, _ := d.secretValue(t, "due", "AWSCURRENT"); len(keys) != 2 || id != keys[1].AccessKeyID {
		t.Fatalf("the rotation must stand: keys %+v current %s", keys, id)
	}
	for _, s := range r.Sinks {
		if s.Name == "broken" && (s.Err == nil || strings.Contains(s.Err.Error(), "boom")) {
			t.Fatalf("broken sink error %v: want the error type, never the handler's message", s.Err)
		}
	}
}

func TestResumedRotationDeliversExactlyOnce(t *testing.T) {
	// TagUser of due: #1 the test's age key tag, #2 intent and record, #3 to #5 the delivery
	// record after the webhook, the Lambda and the mail; then UntagUser of the intent completes
	// the rotation: fail it (and its retries), as if the process died before it.
	d := newDeliveryEnv(t, awssimtest.WithFaults(awssim.Faults{Errors: []awssim.ErrorRule{
		{Match: awssim.Match{Service: "iam", Action: "UntagUser"}, UserName: "due", Code: "ServiceFailure", Nth: 1, Times: 3},
	}}))
	del := config.Delivery{Sinks: d.sinks("secretsmanager", "webhook", "lambda", "email")}
	r := rotateResult(t, d.applyWith(t, del), "due")
	if r.Outcome != rotation.Failed || !strings.Contains(r.Detail, "completion record failed") {
		t.Fatalf("setup: %s %s %v", r.Outcome, r.Detail, r.Err)
	}
	newID := d.keys(t, "due")[1].AccessKeyID
	if v := d.tags(t, "due")["keycycle:delivered"]; v != "key="+newID+" sinks=webhook/lambda/email" {
		t.Fatalf("delivery record %q", v)
	}
	if err := d.sb.SetFaults(awssim.Faults{}); err != nil {
		t.Fatal(err)
	}
	r = rotateResult(t, d.applyWith(t, del), "due")
	if r.Outcome != rotation.Resumed {
		t.Fatalf("re-run: %s %s %v", r.Outcome, r.Detail, r.Err)
	}
	if o := sinkOutcomes(r); o["webhook"] != rotation.SinkAlready || o["lambda"] != rotation.SinkAlready || o["email"] != rotation.SinkAlready {
		t.Fatalf("outcomes %v", o)
	}
	if n := d.rotatedHooks(newID); n != 1 {
		t.Fatalf("webhook got the key %d times", n)
	}
	if n, m := d.lambdaCalls("due"), len(d.sb.Outbox().Emails); n != 1 || m != 1 {
		t.Fatalf("lambda invoked %d times, %d mails", n, m)
	}
	tags := d.tags(t, "due")
	if !strings.Contains(tags["keycycle:rotated"], "new="+newID) || tags["keycycle:rotation"] != "" || tags["keycycle:delivered"] != "" {
		t.Fatalf("tags %v", tags)
	}
}

func TestResumeAfterPrimaryPromoteFailureSendsOnce(t *testing.T) {
	// The primary's promotion fails: nothing was sent yet; the re-run sends each push sink once.
	d := newDeliveryEnv(t, awssimtest.WithFaults(awssim.Faults{Errors: []awssim.ErrorRule{
		{Match: awssim.Match{Service: "secretsmanager", Action: "UpdateSecretVersionStage"}, Code: "InternalServiceError"},
	}}))
	del := config.Delivery{Sinks: d.sinks("secretsmanager", "webhook", "lambda")}
	if r := rotateResult(t, d.applyWith(t, del), "due"); r.Outcome != rotation.Failed {
		t.Fatalf("setup: %+v", r)
	}
	if len(d.hook.Requests()) != 0 || len(d.sb.Outbox().Lambda) != 0 { // every user's promotion failed
		t.Fatal("push sinks must wait for the primary's promotion")
	}
	if err := d.sb.SetFaults(awssim.Faults{}); err != nil {
		t.Fatal(err)
	}
	if r := rotateResult(t, d.applyWith(t, del), "due"); r.Outcome != rotation.Resumed {
		t.Fatalf("re-run: %+v", r)
	}
	newID := d.keys(t, "due")[1].AccessKeyID
	if d.rotatedHooks(newID) != 1 || d.lambdaCalls("due") != 1 {
		t.Fatal("want exactly one delivery each after the resume")
	}
	d.applyWith(t, del)
	if d.rotatedHooks(newID) != 1 || d.lambdaCalls("due") != 1 {
		t.Fatal("a later apply delivered again")
	}
}

func TestRuleDeliveryOverride(t *testing.T) {
	d := newDeliveryEnv(t)
	svc := policy.Rule{Name: "services", Match: policy.Match{Paths: []string{"/service/"}}, Thresholds: policy.DefaultThresholds()}
	del := config.Delivery{Sinks: d.sinks("secretsmanager"), Rules: map[string][]config.Sink{"services": d.sinks("ssm", "webhook")}}
	res := d.applyWith(t, del, svc)
	if r := rotateResult(t, res, "svc"); r.Outcome != rotation.Done || r.Location != "/keycycle/111111111111/svc" {
		t.Fatalf("svc: %+v", r)
	}
	svcKeys := d.keys(t, "svc")
	if id, _ := d.parameter(t, "svc"); id != svcKeys[1].AccessKeyID {
		t.Fatalf("svc parameter %s", id)
	}
	if _, _, ok := d.secretValue(t, "svc", "AWSCURRENT"); ok {
		t.Fatal("svc's rule delivers to SSM only")
	}
	if d.rotatedHooks(svcKeys[1].AccessKeyID) != 1 {
		t.Fatal("svc's webhook")
	}
	dueKeys := d.keys(t, "due")
	if id, _, ok := d.secretValue(t, "due", "AWSCURRENT"); !ok || id != dueKeys[1].AccessKeyID || d.rotatedHooks(id) != 0 {
		t.Fatal("due follows the default delivery")
	}
}
