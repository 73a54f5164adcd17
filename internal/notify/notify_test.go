package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/secret"
	"github.com/keycycle/keycycle/internal/sinkname"
)

const (
	oldID = "AKIAOLDKEY0000000001"
	newID = "AKIANEWKEY0000000002"
)

var t0 = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

func rotated(user, owner string) Event {
	name := "keycycle/111111111111/" + user
	return Event{Kind: Rotated, AccountID: "111111111111", AccountName: "prod", User: user, Owner: owner,
		AccessKeyID: oldID, NewAccessKeyID: newID,
		Location: NewLocation(sinkname.SecretsManager, name, "eu-west-1"),
		Reason:   "key AKIA...0001 age 95d >= rotate_after 90d (rule 'default')", When: t0}
}

// TestEventCannotHoldASecret walks every field of Event, recursively, and accepts only a short
// list of types: strings and named strings that are not secrets, times, and the event's own
// plain structs. A secret.Value, a []byte, an interface or a map would fail it.
func TestEventCannotHoldASecret(t *testing.T) {
	allowed := map[reflect.Type]bool{}
	for _, v := range []any{
		"", Kind(""), sinkname.Kind(""), inventory.KeyID(""), 0, time.Time{}, &time.Time{}, // scalars
		Event{}, Location{}, LastUsed{}, // the event
		MailData{}, EventView{}, []EventView{}, Message{}, // what mail templates see and make
		SNSMessage{}, &SNSLocation{}, SNSLocation{}, &SNSLastUsed{}, SNSLastUsed{}, // the SNS body
	} {
		allowed[reflect.TypeOf(v)] = true
	}
	// Everything a notifier renders from: the event, the template data, the SNS body, a mail.
	for _, v := range []any{Event{}, MailData{}, SNSMessage{}, Message{}} {
		for _, bad := range unsafeFields(reflect.TypeOf(v), allowed) {
			t.Errorf("%s is not on the allowlist of types that cannot hold a secret", bad)
		}
	}
	// The check itself catches a secret, bytes and an interface.
	type leaky struct {
		S   secret.Value
		B   []byte
		Any any
		Ok  string
	}
	if got := unsafeFields(reflect.TypeOf(leaky{}), allowed); len(got) != 3 {
		t.Fatalf("the checker missed unsafe fields: %v", got)
	}
}

// unsafeFields lists the fields of typ, recursively, whose type is not allowed.
func unsafeFields(typ reflect.Type, allowed map[reflect.Type]bool) []string {
	var out []string
	var walk func(reflect.Type, string)
	walk = func(typ reflect.Type, path string) {
		if !allowed[typ] {
			out = append(out, path+" ("+typ.String()+")")
			return
		}
		switch typ.Kind() {
		case reflect.Struct:
			if typ == reflect.TypeOf(time.Time{}) {
				return
			}
			for i := 0; i < typ.NumField(); i++ {
				walk(typ.Field(i).Type, path+"."+typ.Field(i).Name)
			}
		case reflect.Pointer, reflect.Slice:
			walk(typ.Elem(), path+"[]")
		}
	}
	allowed = maps.Clone(allowed)
	allowed[typ] = true
	walk(typ, typ.Name())
	return out
}

func TestOwnersResolve(t *testing.T) {
	o := Owners{Tag: "owner", GroupDefaults: map[string]string{"devs": "devs@example.com", "admins": "admins@example.com"},
		Fallback: "security@example.com"}
	tests := []struct {
		name     string
		u        inventory.User
		want     string
		src      OwnerSource
		wantsBad bool
	}{
		{"tag", inventory.User{Tags: map[string]string{"owner": " alice@example.com "}, Groups: []string{"devs"}}, "alice@example.com", FromTag, false},
		{"bad tag falls to group", inventory.User{Tags: map[string]string{"owner": "team-x"}, Groups: []string{"devs"}}, "devs@example.com", FromGroup, true},
		{"first group by name", inventory.User{Groups: []string{"devs", "admins"}}, "admins@example.com", FromGroup, false},
		{"fallback", inventory.User{Groups: []string{"other"}}, "security@example.com", FromFallback, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, src, bad := o.Resolve(tc.u)
			if got != tc.want || src != tc.src || (bad != "") != tc.wantsBad {
				t.Fatalf("Resolve = %q %q %q, want %q %q bad=%v", got, src, bad, tc.want, tc.src, tc.wantsBad)
			}
		})
	}
	if got, src, _ := (Owners{Tag: "owner"}).Resolve(inventory.User{}); got != "" || src != NoOwner {
		t.Fatalf("no owner: %q %q", got, src)
	}
	// The Terraform + SQS preset's tag.
	tf := Owners{Tag: "IamRotateCredentials:Email"}
	if got, _, _ := tf.Resolve(inventory.User{Tags: map[string]string{"IamRotateCredentials:Email": "bob@example.com"}}); got != "bob@example.com" {
		t.Fatalf("terraform tag: %q", got)
	}
}

func TestMailOnePerOwnerWithEverything(t *testing.T) {
	evs := []Event{
		rotated("app", "alice@example.com"),
		{Kind: OldKeyInUse, AccountID: "111111111111", AccountName: "prod", User: "batch", Owner: "Alice@example.com",
			AccessKeyID: oldID, NewAccessKeyID: newID, LastUsed: LastUsed{Date: t0.Add(-time.Hour), Service: "s3", Region: "us-east-1"},
			Reason: "still in use <b>"},
		{Kind: Blocked, AccountID: "111111111111", User: "ci", Owner: "bob@example.com", AccessKeyID: oldID, Reason: "two active keys"},
		{Kind: Deleted, AccountID: "111111111111", User: "nobody", AccessKeyID: oldID},
	}
	msgs, err := (&Mail{}).Compose(evs)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0].To != "alice@example.com" || msgs[0].Events != 2 || msgs[1].To != "bob@example.com" {
		t.Fatalf("mails: %+v", msgs)
	}
	a := msgs[0]
	if a.Subject != "[prod] keycycle: 2 access key notices for app, batch" {
		t.Errorf("subject %q", a.Subject)
	}
	for _, want := range []string{
		"aws secretsmanager get-secret-value --secret-id keycycle/111111111111/app --region eu-west-1 --query SecretString --output text",
		"New access key AKIA...0002 replaces AKIA...0001", "last used 2026-11-21 08:00 UTC, s3 in us-east-1", "AWS account prod (111111111111)",
	} {
		if !strings.Contains(a.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, a.Text)
		}
	}
	if !strings.Contains(a.HTML, "still in use &lt;b&gt;") || !strings.Contains(a.HTML, "<code>AKIA...0002</code>") {
		t.Errorf("HTML not escaped or key missing:\n%s", a.HTML)
	}
	for _, m := range msgs {
		for _, part := range []string{m.Subject, m.Text, m.HTML} {
			if strings.Contains(part, oldID) || strings.Contains(part, newID) {
				t.Fatalf("a whole access key id reached a mail:\n%s", part)
			}
		}
	}
	if b := msgs[1]; b.Subject != "[111111111111] keycycle: Rotation blocked: action needed for ci" {
		t.Errorf("single-event subject, no account name: %q", b.Subject)
	}
}

func TestTemplatesFromFiles(t *testing.T) {
	dir := t.TempDir()
	subj := filepath.Join(dir, "subject.tmpl")
	text := filepath.Join(dir, "text.tmpl")
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(subj, "{{.AccountName}}:\n {{len .Events}} for {{.Owner}}\n")
	write(text, "{{range .Events}}{{.Kind}} {{.User}} {{.FetchCommand}}\n{{end}}")
	tm, err := LoadTemplates(subj, text, "")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := (&Mail{Templates: tm}).Compose([]Event{rotated("app", "a@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	if msgs[0].Subject != "prod: 1 for a@example.com" || !strings.HasPrefix(msgs[0].Text, "rotated app aws secretsmanager") ||
		!strings.Contains(msgs[0].HTML, "<!DOCTYPE html>") {
		t.Fatalf("%+v", msgs[0])
	}
	// A field MailData does not have is found before anything is sent.
	write(text, "{{.Password}}")
	if _, err := LoadTemplates("", text, ""); err == nil || !strings.Contains(err.Error(), "text template") {
		t.Fatalf("bad field: %v", err)
	}
	write(text, "{{if}}")
	if _, err := LoadTemplates("", text, ""); err == nil {
		t.Fatal("bad syntax accepted")
	}
	if _, err := LoadTemplates("", filepath.Join(dir, "missing"), ""); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestSNSMessageSchema(t *testing.T) {
	e := rotated("app", "alice@example.com")
	e.LastUsed = LastUsed{Service: "N/A", Region: "N/A"}
	b, err := json.Marshal(NewSNSMessage(e))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"version": 1.0, "source": "keycycle", "kind": "rotated", "account_id": "111111111111", "account_name": "prod",
		"user": "app", "owner": "alice@example.com", "access_key_id": "AKIA...0001", "new_access_key_id": "AKIA...0002",
		"location": map[string]any{"sink": "secretsmanager", "secret_name": "keycycle/111111111111/app", "region": "eu-west-1",
			"fetch_command": "aws secretsmanager get-secret-value --secret-id keycycle/111111111111/app --region eu-west-1 --query SecretString --output text"},
		"last_used": map[string]any{},
		"reason":    "key AKIA...0001 age 95d >= rotate_after 90d (rule 'default')", "time": "2026-11-21T09:00:00Z",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("SNS message (-want +got):\n%s", diff)
	}
	if s := snsSubject(Event{Kind: Deleted, AccountID: "1", User: strings.Repeat("ü", 80)}); len(s) > 99 || strings.ContainsRune(s, 'ü') {
		t.Fatalf("subject %q", s)
	}
}

// webhook records posts and answers from a script of statuses (then 200).
type webhook struct {
	mu      sync.Mutex
	bodies  []string
	answers []int
	retry   string
}

func (w *webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.bodies = append(w.bodies, string(b))
	code := http.StatusOK
	if len(w.answers) > 0 {
		code, w.answers = w.answers[0], w.answers[1:]
	}
	if code == http.StatusTooManyRequests && w.retry != "" {
		rw.Header().Set("Retry-After", w.retry)
	}
	rw.WriteHeader(code)
	_, _ = io.WriteString(rw, http.StatusText(code))
}

func TestSlackRetriesThenDelivers(t *testing.T) {
	hook := &webhook{answers: []int{503, 429}, retry: "1"}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	s := &Slack{URL: srv.URL + "/services/T000/B000/TOKENxyz", Backoff: time.Millisecond, MaxWait: 5 * time.Millisecond}
	evs := []Event{rotated("app", "alice@example.com"), {Kind: Blocked, AccountID: "111111111111", AccountName: "prod", User: "x<y", Reason: "a & b"}}
	if err := s.Notify(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	if len(hook.bodies) != 3 || hook.bodies[0] != hook.bodies[2] {
		t.Fatalf("want 3 identical posts, got %d", len(hook.bodies))
	}
	var msg struct{ Text string }
	if err := json.Unmarshal([]byte(hook.bodies[2]), &msg); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"*keycycle* · AWS account *prod* (111111111111): 2 notices", "user `app` (owner alice@example.com)",
		"new key `AKIA...0002` replaces `AKIA...0001`", "`x&lt;y`", "a &amp; b"} {
		if !strings.Contains(msg.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, msg.Text)
		}
	}
	if strings.Contains(msg.Text, oldID) || strings.Contains(msg.Text, newID) {
		t.Fatal("a whole key id reached the webhook")
	}
	// Nothing to say, nothing posted.
	if err := s.Notify(context.Background(), nil); err != nil || len(hook.bodies) != 3 {
		t.Fatalf("empty run posted: %v", err)
	}
}

func TestSlackPermanentFailureAndNoURLInErrors(t *testing.T) {
	hook := &webhook{answers: []int{404, 500, 500, 500, 500}}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	s := &Slack{URL: srv.URL + "/services/T000/B000/TOKENxyz", Backoff: time.Millisecond}
	err := s.Notify(context.Background(), []Event{rotated("app", "")})
	if err == nil || len(hook.bodies) != 1 || !strings.Contains(err.Error(), "404") {
		t.Fatalf("404 must fail without retrying: %v, %d posts", err, len(hook.bodies))
	}
	err = s.Notify(context.Background(), []Event{rotated("app", "")})
	if err == nil || len(hook.bodies) != 5 {
		t.Fatalf("5xx: retried %d times: %v", len(hook.bodies)-1, err)
	}
	// Nobody listening: the error names the cause, never the URL and its token.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s = &Slack{URL: "http://" + addr + "/services/T000/B000/TOKENxyz", Attempts: 2, Backoff: time.Millisecond}
	err = s.Notify(context.Background(), []Event{rotated("app", "")})
	if err == nil || strings.Contains(err.Error(), "TOKENxyz") || strings.Contains(err.Error(), "/services/") {
		t.Fatalf("error = %v", err)
	}
}

func TestFetchCommandQuotes(t *testing.T) {
	if got := FetchCommand(sinkname.SecretsManager, "a b's", ""); got != `aws secretsmanager get-secret-value --secret-id 'a b'\''s' --query SecretString --output text` {
		t.Fatal(got)
	}
}

// The fetch command and the words of a notice follow the kind of the sink the credential went
// to: an SSM parameter is fetched with get-parameter, never get-secret-value; a sink no AWS CLI
// command reads gets no command.
func TestLocationFollowsTheSinkKind(t *testing.T) {
	for _, tc := range []struct {
		kind      sinkname.Kind
		name      string
		cmd       string
		words     string // in the text mail
		wordsHTML string
	}{
		{sinkname.SecretsManager, "keycycle/111111111111/app",
			"aws secretsmanager get-secret-value --secret-id keycycle/111111111111/app --region eu-west-1 --query SecretString --output text",
			"It is stored in AWS Secrets Manager as keycycle/111111111111/app (eu-west-1). Fetch it with:",
			"It is stored in AWS Secrets Manager as <code>keycycle/111111111111/app</code> (eu-west-1). Fetch it with:"},
		{sinkname.SSM, "/keycycle/111111111111/app",
			"aws ssm get-parameter --name /keycycle/111111111111/app --with-decryption --region eu-west-1 --query Parameter.Value --output text",
			"It is stored in AWS Systems Manager Parameter Store as /keycycle/111111111111/app (eu-west-1). Fetch it with:",
			"It is stored in AWS Systems Manager Parameter Store as <code>/keycycle/111111111111/app</code> (eu-west-1). Fetch it with:"},
		{sinkname.Kind("credentials-file"), "/home/app/.aws/credentials [default]", "",
			"It was delivered to an AWS credentials file: /home/app/.aws/credentials [default].",
			"It was delivered to an AWS credentials file: <code>/home/app/.aws/credentials [default]</code>.</p>"},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			e := rotated("app", "alice@example.com")
			e.Location = NewLocation(tc.kind, tc.name, "eu-west-1")
			if e.Location.FetchCommand != tc.cmd {
				t.Errorf("fetch command %q, want %q", e.Location.FetchCommand, tc.cmd)
			}
			msgs, err := (&Mail{}).Compose([]Event{e})
			if err != nil || len(msgs) != 1 {
				t.Fatal(msgs, err)
			}
			msg := msgs[0]
			if !strings.Contains(msg.Text, tc.words) || !strings.Contains(msg.HTML, tc.wordsHTML) {
				t.Errorf("mail lacks %q / %q:\n%s\n%s", tc.words, tc.wordsHTML, msg.Text, msg.HTML)
			}
			other := "secretsmanager"
			if tc.kind == sinkname.SecretsManager {
				other = "ssm get-parameter"
			}
			if strings.Contains(msg.Text, other) || strings.Contains(msg.HTML, other) {
				t.Errorf("a %s location is told with %q:\n%s", tc.kind, other, msg.Text)
			}
			if m := NewSNSMessage(e); m.Location == nil || m.Location.Sink != tc.kind || m.Location.FetchCommand != tc.cmd {
				t.Errorf("SNS location %+v", m.Location)
			}
		})
	}
}
