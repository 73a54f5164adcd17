package awssim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"
)

// The admin API: plain JSON under /_sandbox/, unauthenticated (the sandbox listens on loopback).
// Documented in docs/sandbox.md; other tools script against these names, keep them.

// Credential is an account's operator credential as GET /_sandbox/credentials answers it.
type Credential struct {
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
	Region          string `json:"region"`
}

// KeyInfo is one access key as GET /_sandbox/keys answers it. SecretAccessKey is set only for
// keys a scenario seeded: AWS never shows a secret twice, and neither does the sandbox.
type KeyInfo struct {
	AccessKeyID     string    `json:"access_key_id"`
	SecretAccessKey string    `json:"secret_access_key"`
	Status          string    `json:"status"`
	CreateDate      time.Time `json:"create_date"`
	// LastUsed is when the key last signed a request (sandbox clock); zero: never.
	LastUsed time.Time `json:"last_used,omitzero"`
}

// Outbox is everything the sandbox's services sent out, oldest first, in sandbox time: mails
// (SES SendEmail), SNS publishes, SQS sends, webhook calls received by awssimtest.StartWebhook
// and Lambda invocations. Each list holds at most outboxMax entries (when full, its older half
// is let go); Dropped counts the entries let go, by list name. POST /_sandbox/reset, scenario
// loads and POST /_sandbox/outbox/reset empty it.
type Outbox struct {
	Emails   []OutboxEmail     `json:"emails"`
	SNS      []OutboxSNS       `json:"sns"`
	SQS      []json.RawMessage `json:"sqs"`
	Webhooks []OutboxWebhook   `json:"webhooks"`
	Lambda   []OutboxLambda    `json:"lambda"`
	Dropped  map[string]int    `json:"dropped,omitempty"`
}

// OutboxEmail is one message SES accepted (sesv2.go). For Content.Raw, Raw is the MIME
// message as sent and Subject, Text and HTML are read from it.
type OutboxEmail struct {
	Account   string    `json:"account"`
	Region    string    `json:"region"`
	From      string    `json:"from"`
	To        []string  `json:"to"`
	Cc        []string  `json:"cc"`
	Bcc       []string  `json:"bcc"`
	ReplyTo   []string  `json:"reply_to"`
	Subject   string    `json:"subject"`
	Text      string    `json:"text"`
	HTML      string    `json:"html"`
	Raw       string    `json:"raw"`
	MessageID string    `json:"message_id"`
	Time      time.Time `json:"time"`
}

// OutboxSNS is one message published to an SNS topic (sns.go).
type OutboxSNS struct {
	Account          string                  `json:"account"`
	Region           string                  `json:"region"`
	TopicARN         string                  `json:"topic_arn"`
	Subject          string                  `json:"subject"`
	Message          string                  `json:"message"`
	MessageStructure string                  `json:"message_structure,omitempty"`
	MessageGroupID   string                  `json:"message_group_id,omitempty"`
	Attributes       map[string]SNSAttribute `json:"attributes"`
	MessageID        string                  `json:"message_id"`
	Time             time.Time               `json:"time"`
}

// SNSAttribute is a message attribute as published; BinaryValue is base64 in JSON.
type SNSAttribute struct {
	DataType    string `json:"data_type"`
	StringValue string `json:"string_value,omitempty"`
	BinaryValue []byte `json:"binary_value,omitempty"`
}

// OutboxWebhook is one HTTP request an awssimtest webhook receiver got, and what it answered.
type OutboxWebhook struct {
	URL    string      `json:"url"`
	Method string      `json:"method"`
	Path   string      `json:"path"`
	Header http.Header `json:"header"`
	Body   string      `json:"body"`
	Status int         `json:"status"`
	Time   time.Time   `json:"time"`
}

// OutboxLambda is one Lambda invocation (lambda.go); DryRun requests invoke nothing and are
// not recorded.
type OutboxLambda struct {
	Account        string          `json:"account"`
	Region         string          `json:"region"`
	Function       string          `json:"function"`
	FunctionARN    string          `json:"function_arn"`
	Payload        json.RawMessage `json:"payload"`
	InvocationType string          `json:"invocation_type"`
	FunctionError  string          `json:"function_error,omitempty"`
	Time           time.Time       `json:"time"`
}

// outboxMax bounds each outbox list, so that long benchmark runs keep memory flat.
const outboxMax = 10000

// outbox is the Server's record behind Outbox; guarded by Server.mu (it lives in the world).
type outbox struct {
	emails   []OutboxEmail
	sns      []OutboxSNS
	sqs      []json.RawMessage
	webhooks []OutboxWebhook
	lambda   []OutboxLambda
	dropped  map[string]int
}

// appendBounded appends v; when the list is full its older half goes first (in one copy, so
// that appending stays cheap), and Dropped counts what went.
func appendBounded[T any](o *outbox, list string, l []T, v T) []T {
	if len(l) >= outboxMax {
		if o.dropped == nil {
			o.dropped = map[string]int{}
		}
		n := len(l) - outboxMax/2
		o.dropped[list] += n
		l = append(make([]T, 0, outboxMax), l[n:]...)
	}
	return append(l, v)
}

func (o *outbox) recordEmail(m OutboxEmail)   { o.emails = appendBounded(o, "emails", o.emails, m) }
func (o *outbox) recordSNS(m OutboxSNS)       { o.sns = appendBounded(o, "sns", o.sns, m) }
func (o *outbox) recordLambda(m OutboxLambda) { o.lambda = appendBounded(o, "lambda", o.lambda, m) }
func (o *outbox) recordWebhook(m OutboxWebhook) {
	o.webhooks = appendBounded(o, "webhooks", o.webhooks, m)
}

// recordSQS is the hook for SQS (sqs.go): entry is any JSON-encodable record of one message
// sent, with snake_case fields like the other lists (account, region, queue_url, body,
// message_id, time, ...). It runs with Server.mu held, like every handler.
func (o *outbox) recordSQS(entry any) {
	raw, err := json.Marshal(entry)
	if err != nil {
		raw = []byte(`{"error":"the sandbox could not encode this SQS record"}`)
	}
	o.sqs = appendBounded(o, "sqs", o.sqs, json.RawMessage(raw))
}

// RecordWebhook appends a webhook call to the outbox (awssimtest.StartWebhook uses it); a
// zero Time is set to the sandbox clock.
func (s *Server) RecordWebhook(w OutboxWebhook) {
	if w.Time.IsZero() {
		w.Time = s.clock.Now()
	}
	s.mu.Lock()
	s.world.outbox.recordWebhook(w)
	s.mu.Unlock()
}

// ClearOutbox empties the outbox without touching any other state.
func (s *Server) ClearOutbox() {
	s.mu.Lock()
	s.world.outbox = outbox{}
	s.mu.Unlock()
}

// IssuedSecrets returns every secret the sandbox issued or was given since New (access key and
// session secrets, console passwords), when Options.RecordSecrets is set; else nil. Tests search
// keycycle's output for them.
func (s *Server) IssuedSecrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.issued == nil {
		return nil
	}
	return append([]string(nil), *s.issued...)
}

// AccountInfo lists a sandbox account.
type AccountInfo struct {
	ID    string `json:"id"`
	Alias string `json:"alias,omitempty"`
}

// OperatorCredential returns the operator credential of an account.
func (s *Server) OperatorCredential(accountID string) (Credential, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.world.accounts[accountID]
	if !ok {
		return Credential{}, false
	}
	return Credential{AccessKeyID: a.operator.AccessKeyID, SecretAccessKey: a.operator.Secret, Region: a.Region}, true
}

// Accounts lists the accounts in scenario order.
func (s *Server) Accounts() []AccountInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]AccountInfo, 0, len(s.world.order))
	for _, id := range s.world.order {
		out = append(out, AccountInfo{ID: id, Alias: s.world.accounts[id].Alias})
	}
	return out
}

// Keys returns a user's access keys, oldest first; ok is false when account or user is unknown.
func (s *Server) Keys(accountID, userName string) ([]KeyInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.world.accounts[accountID]
	if !ok {
		return nil, false
	}
	u := a.findUser(userName)
	if u == nil {
		return nil, false
	}
	out := make([]KeyInfo, 0, len(u.Keys))
	for _, k := range u.Keys {
		ki := KeyInfo{AccessKeyID: k.ID, Status: k.Status, CreateDate: k.Created, LastUsed: k.LastUsed}
		if k.Seeded {
			ki.SecretAccessKey = k.Secret
		}
		out = append(out, ki)
	}
	return out, true
}

// Outbox returns what was sent out so far; empty lists are empty, not nil. The lists are
// copies, the slices and maps inside entries are shared: treat them as read-only.
func (s *Server) Outbox() Outbox {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &s.world.outbox
	out := Outbox{
		Emails:   append([]OutboxEmail{}, o.emails...),
		SNS:      append([]OutboxSNS{}, o.sns...),
		SQS:      append([]json.RawMessage{}, o.sqs...),
		Webhooks: append([]OutboxWebhook{}, o.webhooks...),
		Lambda:   append([]OutboxLambda{}, o.lambda...),
	}
	if len(o.dropped) > 0 {
		out.Dropped = make(map[string]int, len(o.dropped))
		for k, v := range o.dropped {
			out.Dropped[k] = v
		}
	}
	return out
}

func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(v)
	}
	fail := func(status int, format string, args ...any) {
		reply(status, map[string]string{"error": fmt.Sprintf(format, args...)})
	}
	route := r.Method + " " + r.URL.Path
	switch route {
	case "GET /_sandbox/health":
		reply(http.StatusOK, map[string]any{"status": "ok", "now": s.clock.Now().Format(time.RFC3339), "accounts": s.Accounts()})
	case "POST /_sandbox/reset":
		if err := s.Reset(); err != nil {
			fail(http.StatusInternalServerError, "reset: %v", err)
			return
		}
		reply(http.StatusOK, map[string]string{"status": "reset", "now": s.clock.Now().Format(time.RFC3339)})
	case "POST /_sandbox/scenario":
		body, err := readAll(r.Body)
		if err != nil {
			fail(http.StatusBadRequest, "read scenario: %v", err)
			return
		}
		sc, err := ParseScenario("scenario", body)
		if err != nil {
			fail(http.StatusBadRequest, "%v", err)
			return
		}
		if err := s.Load(sc); err != nil {
			fail(http.StatusBadRequest, "%v", err)
			return
		}
		s.ResetStats()
		reply(http.StatusOK, map[string]any{"status": "loaded", "now": s.clock.Now().Format(time.RFC3339), "accounts": s.Accounts()})
	case "GET /_sandbox/clock":
		reply(http.StatusOK, map[string]string{"now": s.clock.Now().Format(time.RFC3339)})
	case "POST /_sandbox/clock":
		var req struct {
			Advance string `json:"advance"`
			Set     string `json:"set"`
		}
		if err := decodeStrict(r, &req); err != nil {
			fail(http.StatusBadRequest, "clock: %v", err)
			return
		}
		switch {
		case req.Advance != "" && req.Set != "":
			fail(http.StatusBadRequest, "clock: give either advance or set, not both")
			return
		case req.Advance != "":
			d, err := time.ParseDuration(req.Advance)
			if err != nil || d < 0 {
				fail(http.StatusBadRequest, "clock: advance must be a non-negative Go duration such as \"240h\", got %q", req.Advance)
				return
			}
			s.clock.Advance(d)
		case req.Set != "":
			t, err := time.Parse(time.RFC3339, req.Set)
			if err != nil {
				fail(http.StatusBadRequest, "clock: set must be an RFC 3339 time, got %q", req.Set)
				return
			}
			s.clock.Set(t)
		default:
			fail(http.StatusBadRequest, "clock: give advance or set")
			return
		}
		reply(http.StatusOK, map[string]string{"now": s.clock.Now().Format(time.RFC3339)})
	case "GET /_sandbox/credentials":
		acct := r.URL.Query().Get("account")
		if acct == "" {
			if accts := s.Accounts(); len(accts) > 0 {
				acct = accts[0].ID
			}
		}
		c, ok := s.OperatorCredential(acct)
		if !ok {
			fail(http.StatusNotFound, "no account %q in the sandbox", acct)
			return
		}
		reply(http.StatusOK, c)
	case "GET /_sandbox/keys":
		acct, name := r.URL.Query().Get("account"), r.URL.Query().Get("user")
		keys, ok := s.Keys(acct, name)
		if !ok {
			fail(http.StatusNotFound, "no user %q in account %q", name, acct)
			return
		}
		reply(http.StatusOK, map[string]any{"keys": keys})
	case "GET /_sandbox/faults":
		reply(http.StatusOK, s.faults.get())
	case "POST /_sandbox/faults":
		var f Faults
		if err := decodeStrict(r, &f); err != nil {
			fail(http.StatusBadRequest, "faults: %v", err)
			return
		}
		if err := s.SetFaults(f); err != nil {
			fail(http.StatusBadRequest, "faults: %v", err)
			return
		}
		reply(http.StatusOK, s.faults.get())
	case "GET /_sandbox/outbox":
		reply(http.StatusOK, s.Outbox())
	case "POST /_sandbox/outbox/reset":
		s.ClearOutbox()
		reply(http.StatusOK, s.Outbox())
	case "GET /_sandbox/stats":
		reply(http.StatusOK, s.Stats())
	case "POST /_sandbox/stats/reset":
		s.ResetStats()
		reply(http.StatusOK, s.Stats())
	default:
		routes := []string{"GET /_sandbox/health", "POST /_sandbox/reset", "POST /_sandbox/scenario", "GET|POST /_sandbox/clock",
			"GET /_sandbox/credentials?account=ID", "GET /_sandbox/keys?account=ID&user=NAME", "GET|POST /_sandbox/faults",
			"GET /_sandbox/outbox", "POST /_sandbox/outbox/reset", "GET /_sandbox/stats", "POST /_sandbox/stats/reset"}
		sort.Strings(routes)
		reply(http.StatusNotFound, map[string]any{"error": "no admin route " + route, "routes": routes})
	}
}

func decodeStrict(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
