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
}

// Outbox is everything the sandbox's services sent out. Services that send (SES, SNS, SQS,
// webhooks, Lambda) fill it; until they exist the lists are empty.
type Outbox struct {
	Emails   []json.RawMessage `json:"emails"`
	SNS      []json.RawMessage `json:"sns"`
	SQS      []json.RawMessage `json:"sqs"`
	Webhooks []json.RawMessage `json:"webhooks"`
	Lambda   []json.RawMessage `json:"lambda"`
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
		ki := KeyInfo{AccessKeyID: k.ID, Status: k.Status, CreateDate: k.Created}
		if k.Seeded {
			ki.SecretAccessKey = k.Secret
		}
		out = append(out, ki)
	}
	return out, true
}

// Outbox returns what was sent out so far.
func (s *Server) Outbox() Outbox {
	return Outbox{Emails: []json.RawMessage{}, SNS: []json.RawMessage{}, SQS: []json.RawMessage{}, Webhooks: []json.RawMessage{}, Lambda: []json.RawMessage{}}
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
	case "GET /_sandbox/stats":
		reply(http.StatusOK, s.Stats())
	case "POST /_sandbox/stats/reset":
		s.ResetStats()
		reply(http.StatusOK, s.Stats())
	default:
		routes := []string{"GET /_sandbox/health", "POST /_sandbox/reset", "POST /_sandbox/scenario", "GET|POST /_sandbox/clock",
			"GET /_sandbox/credentials?account=ID", "GET /_sandbox/keys?account=ID&user=NAME", "GET|POST /_sandbox/faults",
			"GET /_sandbox/outbox", "GET /_sandbox/stats", "POST /_sandbox/stats/reset"}
		sort.Strings(routes)
		reply(http.StatusNotFound, map[string]any{"error": "no admin route " + route, "routes": routes})
	}
}

func decodeStrict(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
