package sink_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
	"github.com/keycycle/keycycle/internal/backoff"
	"github.com/keycycle/keycycle/internal/secret"
	"github.com/keycycle/keycycle/internal/sink"
)

const sinkScenario = `
start: 2026-11-21T09:00:00Z
accounts:
  - id: "111111111111"
    users:
      - name: alice
        access_keys:
          - {age_days: 95, status: Active}
    functions:
      - name: handler
        response: '{"ok": true}'
      - name: broken
        error: "could not read secret wJalrXUtnFEMI/K7MDENG"
        error_type: SecretReadError
`

func TestSSMStagesWritesAndRestores(t *testing.T) {
	ctx := context.Background()
	_, cfg := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, sinkScenario))
	api := ssm.NewFromConfig(cfg)
	s := &sink.SSM{API: api, NameTemplate: "/keycycle/{{account}}/{{user}}", KMSKeyID: "alias/keycycle"}
	k1 := newKey("AKIAFIRSTFIRSTFIRST1", "first-secret")
	if s.Location(k1) != "/keycycle/111111111111/alice" {
		t.Fatalf("location %s", s.Location(k1))
	}
	// First key: the parameter does not exist; Stage writes nothing.
	if err := s.Stage(ctx, k1); err != nil {
		t.Fatal(err)
	}
	if held, err := s.Holds(ctx, k1); err != nil || held {
		t.Fatalf("Stage must not write: held=%v err=%v", held, err)
	}
	if err := s.Promote(ctx, k1); err != nil {
		t.Fatal(err)
	}
	if err := s.Promote(ctx, k1); err != nil { // idempotent
		t.Fatal(err)
	}
	out, err := api.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/keycycle/111111111111/alice"), WithDecryption: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if out.Parameter.Type != ssmtypes.ParameterTypeSecureString || out.Parameter.Version != 1 ||
		aws.ToString(out.Parameter.Value) != `{"AccessKeyId":"AKIAFIRSTFIRSTFIRST1","SecretAccessKey":"first-secret"}` {
		t.Fatalf("parameter = %+v %s", out.Parameter, aws.ToString(out.Parameter.Value))
	}
	// Second key, then a rollback: the first key's value comes back.
	k2 := newKey("AKIASECONDSECONDSEC2", "second-secret")
	if err := s.Stage(ctx, k2); err != nil {
		t.Fatal(err)
	}
	if err := s.Promote(ctx, k2); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Read(ctx, k2); err != nil || got.Reveal() != "second-secret" {
		t.Fatalf("read: %v", err)
	}
	if err := s.Abort(ctx, k2); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Read(ctx, k1); err != nil || got.Reveal() != "first-secret" {
		t.Fatalf("after abort the first key must be back: %v", err)
	}
	// The version check: a write by someone else between Stage and Promote is not clobbered.
	k3 := newKey("AKIATHIRDTHIRDTHIRD3", "third-secret")
	if err := s.Stage(ctx, k3); err != nil {
		t.Fatal(err)
	}
	if _, err := api.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/keycycle/111111111111/alice"), Value: aws.String(`{"AccessKeyId":"AKIAMANUALMANUALMAN4"}`),
		Type: ssmtypes.ParameterTypeSecureString, Overwrite: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Promote(ctx, k3); err == nil || !strings.Contains(err.Error(), "changed since it was staged") {
		t.Fatalf("promote over a concurrent write: %v", err)
	}
	if held, _ := s.Holds(ctx, k3); held {
		t.Fatal("the concurrent write was overwritten")
	}
}

func TestSSMRefusesPlainStringAndDeletesWhatItCreated(t *testing.T) {
	ctx := context.Background()
	_, cfg := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, sinkScenario))
	api := ssm.NewFromConfig(cfg)
	if _, err := api.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/plain/alice"), Value: aws.String("x"), Type: ssmtypes.ParameterTypeString}); err != nil {
		t.Fatal(err)
	}
	plain := &sink.SSM{API: api, NameTemplate: "/plain/{{user}}"}
	k := newKey("AKIAFIRSTFIRSTFIRST1", "s")
	if err := plain.Stage(ctx, k); err == nil || !strings.Contains(err.Error(), "in clear") {
		t.Fatalf("a String parameter must be refused: %v", err)
	}
	s := &sink.SSM{API: api, NameTemplate: "/new/{{user}}"}
	if err := s.Stage(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := s.Promote(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := s.Abort(ctx, k); err != nil {
		t.Fatal(err)
	}
	var nf *ssmtypes.ParameterNotFound
	if _, err := api.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/new/alice")}); !errorsAs(err, &nf) {
		t.Fatalf("a parameter the key created must be deleted on abort: %v", err)
	}
}

func TestSecretsManagerAbortAfterPromoteRestoresPrevious(t *testing.T) {
	ctx := context.Background()
	_, cfg := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, sinkScenario))
	api := secretsmanager.NewFromConfig(cfg)
	s := &sink.SecretsManager{API: api, NameTemplate: "keycycle/{{account}}/{{user}}"}
	k1 := newKey("AKIAFIRSTFIRSTFIRST1", "first-secret")
	k1.UserARN = "arn:aws:iam::111111111111:user/alice"
	k2 := newKey("AKIASECONDSECONDSEC2", "second-secret")
	k2.UserARN = k1.UserARN
	for _, k := range []secret.AccessKey{k1, k2} {
		if err := s.Stage(ctx, k); err != nil {
			t.Fatal(err)
		}
		if err := s.Promote(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Abort(ctx, k2); err != nil {
		t.Fatal(err)
	}
	cur, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("keycycle/111111111111/alice")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(cur.VersionId) != sink.VersionID(k1.KeyID) {
		t.Fatalf("AWSCURRENT on %s after abort, want the first key's version", aws.ToString(cur.VersionId))
	}
	d, _ := api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("keycycle/111111111111/alice")})
	if st := d.VersionIdsToStages[sink.VersionID(k2.KeyID)]; len(st) != 0 {
		t.Fatalf("the withdrawn version keeps labels %v", st)
	}
	// The secret's first key cannot be withdrawn once current: there is nothing to go back to.
	s2 := &sink.SecretsManager{API: api, NameTemplate: "solo/{{user}}"}
	if err := s2.Stage(ctx, k1); err != nil {
		t.Fatal(err)
	}
	if err := s2.Promote(ctx, k1); err != nil {
		t.Fatal(err)
	}
	if err := s2.Abort(ctx, k1); err == nil || !strings.Contains(err.Error(), "no previous version") || !backoff.IsPermanent(err) {
		t.Fatalf("abort of a first key: want a permanent \"no previous version\" error (retrying changes nothing), got %v", err)
	}
}

func TestLambdaContract(t *testing.T) {
	ctx := context.Background()
	sb, cfg := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, sinkScenario))
	api := lambda.NewFromConfig(cfg)
	name := func(k secret.AccessKey) string { return "keycycle/" + k.AccountID + "/" + k.UserName }
	l := &sink.Lambda{API: api, Function: "handler", SecretName: name, Metadata: map[string]any{"alice": map[string]any{"team": "payments", "env": []any{"prod"}}, "marge": "team=billing"}}
	k := newKey("AKIAFIRSTFIRSTFIRST1", "first-secret")
	if err := l.Stage(ctx, k); err != nil {
		t.Fatal(err)
	}
	if n := len(sb.Outbox().Lambda); n != 0 {
		t.Fatalf("Stage must only dry-run, got %d invocations", n)
	}
	if err := l.Promote(ctx, k); err != nil {
		t.Fatal(err)
	}
	inv := sb.Outbox().Lambda
	if len(inv) != 1 || inv[0].Function != "handler" || inv[0].InvocationType != "RequestResponse" {
		t.Fatalf("invocations %+v", inv)
	}
	var p map[string]any
	if err := json.Unmarshal(inv[0].Payload, &p); err != nil {
		t.Fatal(err)
	}
	if len(p) != 3 || p["username"] != "alice" || p["secretName"] != "keycycle/111111111111/alice" || p["metadata"].(map[string]any)["team"] != "payments" {
		t.Fatalf("payload %s", inv[0].Payload)
	}
	if strings.Contains(string(inv[0].Payload), "first-secret") {
		t.Fatal("the payload carries the secret")
	}
	// The CDK construct's users carry metadata as a string: the handler gets it as given.
	mk := newKey("AKIAMARGEMARGEMARGE1", "marge-secret")
	mk.UserName = "marge"
	if err := l.Promote(ctx, mk); err != nil {
		t.Fatal(err)
	}
	if inv := sb.Outbox().Lambda; len(inv) != 2 || !strings.Contains(string(inv[1].Payload), `"metadata":"team=billing"`) {
		t.Fatalf("string metadata: %+v", inv)
	}

	missing := &sink.Lambda{API: api, Function: "nope", SecretName: name}
	if err := missing.Stage(ctx, k); err == nil {
		t.Fatal("an unknown function must fail at Stage")
	}
	broken := &sink.Lambda{API: api, Function: "broken", SecretName: name}
	err := broken.Promote(ctx, k)
	if err == nil || !strings.Contains(err.Error(), "SecretReadError") || strings.Contains(err.Error(), "wJalr") {
		t.Fatalf("function error: %v (want its type, never its message)", err)
	}
}

func TestWebhookSignsRetriesAndKeepsTheSecretOut(t *testing.T) {
	ctx := context.Background()
	hook := awssimtest.StartWebhook(t)
	now := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	w := &sink.Webhook{URL: hook.URL + "/hooks/keycycle?token=abc", Key: secret.New("hmac-key"), Backoff: time.Millisecond,
		StoredAt: func(secret.AccessKey) string { return "keycycle/111111111111/alice" }, Now: func() time.Time { return now }}
	if loc := w.Location(secret.AccessKey{}); strings.Contains(loc, "token") {
		t.Fatalf("location shows the query: %s", loc)
	}
	k := newKey("AKIAFIRSTFIRSTFIRST1", "first-secret")
	hook.FailNext(2)
	if err := w.Stage(ctx, k); err != nil {
		t.Fatal(err)
	}
	if len(hook.Requests()) != 0 {
		t.Fatal("Stage sent something")
	}
	if err := w.Promote(ctx, k); err != nil {
		t.Fatal(err)
	}
	reqs := hook.Requests()
	if len(reqs) != 3 || reqs[0].Status != 500 || reqs[2].Status != 200 {
		t.Fatalf("want two failures then success, got %d requests", len(reqs))
	}
	r := reqs[2]
	ts := r.Header.Get(sink.HeaderTimestamp)
	if ts != strconv.FormatInt(now.Unix(), 10) || r.Header.Get(sink.HeaderSignature) != sink.Sign([]byte("hmac-key"), ts, r.Body) {
		t.Fatalf("signature headers %v", r.Header)
	}
	if r.Header.Get(sink.HeaderDelivery) != "access_key_rotated:AKIAFIRSTFIRSTFIRST1" {
		t.Fatalf("delivery id %q", r.Header.Get(sink.HeaderDelivery))
	}
	var b sink.WebhookBody
	if err := json.Unmarshal(r.Body, &b); err != nil {
		t.Fatal(err)
	}
	if b.Event != sink.EventRotated || b.AccessKeyID != "AKIAFIRSTFIRSTFIRST1" || b.User != "alice" || b.Location != "keycycle/111111111111/alice" || b.SecretAccessKey != "" {
		t.Fatalf("body %s", r.Body)
	}
	if strings.Contains(string(r.Body), "first-secret") {
		t.Fatal("the body carries the secret without include_secret")
	}
	// Abort after delivery tells the receiver the key is revoked.
	if err := w.Abort(ctx, k); err != nil {
		t.Fatal(err)
	}
	last := hook.Requests()[3]
	if !strings.Contains(string(last.Body), `"event":"access_key_revoked"`) || strings.Contains(string(last.Body), "first-secret") {
		t.Fatalf("revoked body %s", last.Body)
	}

	// With include_secret the body carries it.
	w2 := &sink.Webhook{URL: hook.URL, Key: secret.New("hmac-key"), IncludeSecret: true, Backoff: time.Millisecond}
	if err := w2.Promote(ctx, k); err != nil {
		t.Fatal(err)
	}
	rs := hook.Requests()
	if !strings.Contains(string(rs[len(rs)-1].Body), `"secret_access_key":"first-secret"`) {
		t.Fatal("include_secret: the body lacks the secret")
	}

	// A 4xx is permanent: one attempt. Persistent 5xx: Attempts attempts.
	n := len(hook.Requests())
	hook.SetStatus(http.StatusForbidden)
	if err := w.Promote(ctx, newKey("AKIASECONDSECONDSEC2", "s")); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("403: %v", err)
	}
	if got := len(hook.Requests()) - n; got != 1 {
		t.Fatalf("a 403 was retried: %d requests", got)
	}
	hook.SetStatus(http.StatusServiceUnavailable)
	w.Attempts = 3
	n = len(hook.Requests())
	if err := w.Promote(ctx, newKey("AKIATHIRDTHIRDTHIRD3", "s")); err == nil {
		t.Fatal("503 must fail")
	} else if strings.Contains(err.Error(), "token=abc") {
		t.Fatalf("the error shows the URL's query: %v", err)
	}
	if got := len(hook.Requests()) - n; got != 3 {
		t.Fatalf("503: %d attempts, want 3", got)
	}
}

func TestWebhookDoesNotFollowRedirects(t *testing.T) {
	hook := awssimtest.StartWebhook(t)
	hook.SetStatus(http.StatusTemporaryRedirect)
	w := &sink.Webhook{URL: hook.URL, Key: secret.New("k"), IncludeSecret: true, Backoff: time.Millisecond}
	if err := w.Promote(context.Background(), newKey("AKIAFIRSTFIRSTFIRST1", "s")); err == nil {
		t.Fatal("a redirect must not count as delivered")
	}
	if n := len(hook.Requests()); n != 1 {
		t.Fatalf("%d requests", n)
	}
}

// emailSink starts a sandbox with a verified sender and returns an e-mail sink and an age
// identity an owner could hold.
func emailSink(t *testing.T, replyTo string) (*awssimtest.Sandbox, *sink.Email, *age.X25519Identity) {
	t.Helper()
	sb, cfg := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, sinkScenario))
	api := sesv2.NewFromConfig(cfg)
	if _, err := api.CreateEmailIdentity(context.Background(), &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("keycycle@example.com")}); err != nil {
		t.Fatal(err)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return sb, &sink.Email{API: api, From: "keycycle@example.com", ReplyTo: replyTo, OwnerTag: "owner", RecipientTag: "keycycle:age-recipient"}, id
}

func TestEmailIsEncryptedOrRefused(t *testing.T) {
	ctx := context.Background()
	sb, m, id := emailSink(t, "security@example.com")
	k := newKey("AKIAFIRSTFIRSTFIRST1", "first/secret+value")
	// Without a public key: refused at Stage and at Promote, nothing sent.
	k.Tags = map[string]string{"owner": "alice@example.com"}
	if err := m.Stage(ctx, k); err == nil || !strings.Contains(err.Error(), "refusing to send the key in clear") {
		t.Fatalf("no key: %v", err)
	}
	if err := m.Promote(ctx, k); err == nil {
		t.Fatal("no key: Promote must refuse")
	}
	k.Tags["keycycle:age-recipient"] = "age1notakey"
	if err := m.Stage(ctx, k); err == nil {
		t.Fatal("a bad public key must be refused")
	}
	if n := len(sb.Outbox().Emails); n != 0 {
		t.Fatalf("%d mails sent to a user without a key", n)
	}

	k.Tags["keycycle:age-recipient"] = id.Recipient().String()
	if err := m.Stage(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := m.Promote(ctx, k); err != nil {
		t.Fatal(err)
	}
	mails := sb.Outbox().Emails
	if len(mails) != 1 || mails[0].To[0] != "alice@example.com" || mails[0].ReplyTo[0] != "security@example.com" {
		t.Fatalf("mails %+v", mails)
	}
	text := mails[0].Text
	if strings.Contains(text, "first/secret+value") || !strings.Contains(text, "AKIAFIRSTFIRSTFIRST1") {
		t.Fatal("the mail must name the key id and never carry the secret in clear")
	}
	start := strings.Index(text, "-----BEGIN AGE ENCRYPTED FILE-----")
	if start < 0 {
		t.Fatalf("no armored age message in:\n%s", text)
	}
	r, err := age.Decrypt(armor.NewReader(strings.NewReader(text[start:])), id)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(r)
	if !strings.Contains(string(plain), "aws_access_key_id = AKIAFIRSTFIRSTFIRST1\naws_secret_access_key = first/secret+value\n") {
		t.Fatalf("decrypted:\n%s", plain)
	}
}

func errorsAs(err error, target any) bool { return err != nil && errors.As(err, target) }
