package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/keycycle/keycycle/internal/inventory"
)

// The JSON form is documented in docs/plan-format.md; changing it means a new Version.
// Field order follows the wire structs below. Times are RFC 3339 in UTC.

type wirePlan struct {
	Version     int         `json:"version"`
	GeneratedAt time.Time   `json:"generated_at"`
	Steps       []wireStep  `json:"steps"`
	Summary     wireSummary `json:"summary"`
}

type wireStep struct {
	AccountID     string           `json:"account_id"`
	User          string           `json:"user"`
	UserID        string           `json:"user_id"`
	Credential    Credential       `json:"credential"`
	AccessKeyID   string           `json:"access_key_id"`
	Action        Action           `json:"action"`
	Reason        string           `json:"reason"`
	Rule          string           `json:"rule"`
	Precondition  wirePrecondition `json:"precondition"`
	StartsWarning bool             `json:"starts_warning,omitempty"`
}

type wirePrecondition struct {
	Keys  []wireKey  `json:"keys"`
	Login *wireLogin `json:"login_profile,omitempty"`
}

type wireLogin struct {
	Exists        bool       `json:"exists"`
	Created       *time.Time `json:"created"`   // null: unknown
	LastUsed      *time.Time `json:"last_used"` // null: never used or unknown
	LastUsedKnown bool       `json:"last_used_known"`
	Rotated       *time.Time `json:"rotated,omitempty"` // keycycle's last rotation; absent: none
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func timeOf(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

type wireKey struct {
	AccessKeyID   string     `json:"access_key_id"`
	Status        string     `json:"status"`
	LastUsed      *time.Time `json:"last_used"` // null: never used or unknown
	LastUsedKnown bool       `json:"last_used_known"`
	// Created: only for a key known from the credential report (a "report:N" id).
	Created *time.Time `json:"created,omitempty"`
}

type wireSummary struct {
	Rotate     int `json:"rotate"`
	Deactivate int `json:"deactivate"`
	Delete     int `json:"delete"`
	Warn       int `json:"warn"`
	Blocked    int `json:"blocked"`
	Skip       int `json:"skip"`
}

// MarshalJSON writes the documented plan format. The summary is recomputed from the steps.
func (p Plan) MarshalJSON() ([]byte, error) {
	w := wirePlan{
		Version:     p.Version,
		GeneratedAt: p.GeneratedAt.UTC(),
		Steps:       make([]wireStep, 0, len(p.Steps)),
	}
	if w.Version == 0 {
		w.Version = Version
	}
	for _, s := range p.Steps {
		ws := wireStep{
			AccountID:   s.AccountID,
			User:        s.User,
			UserID:      s.UserID,
			Credential:  s.Credential,
			AccessKeyID: s.AccessKeyID.Raw(),
			Action:      s.Action,
			Reason:      s.Reason,
			Rule:        s.Rule,
			Precondition: wirePrecondition{
				Keys: make([]wireKey, 0, len(s.Precondition.Keys)),
			},
			StartsWarning: s.StartsWarning,
		}
		if l := s.Precondition.Login; l != nil {
			ws.Precondition.Login = &wireLogin{Exists: l.Exists, Created: timeOrNil(l.Created),
				LastUsed: timeOrNil(l.LastUsed), LastUsedKnown: l.LastUsedKnown, Rotated: timeOrNil(l.Rotated)}
		}
		for _, k := range s.Precondition.Keys {
			wk := wireKey{AccessKeyID: k.ID.Raw(), Status: string(k.Status), LastUsedKnown: k.LastUsedKnown}
			if !k.LastUsed.IsZero() {
				t := k.LastUsed.UTC()
				wk.LastUsed = &t
			}
			if !k.Created.IsZero() {
				t := k.Created.UTC()
				wk.Created = &t
			}
			ws.Precondition.Keys = append(ws.Precondition.Keys, wk)
		}
		w.Steps = append(w.Steps, ws)
	}
	sum := Summarize(p.Steps)
	w.Summary = wireSummary{
		Rotate: sum.Rotate, Deactivate: sum.Deactivate, Delete: sum.Delete,
		Warn: sum.Warn, Blocked: sum.Blocked, Skip: sum.Skip,
	}
	// Not json.Marshal: it would escape the ">" of every reason. Callers that want that
	// escaping get it anyway (json.Marshal escapes a Marshaler's output), WriteJSON does not.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(w); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// UnmarshalJSON reads the documented plan format. It refuses other versions, unknown actions and
// credential kinds, and a summary that does not match the steps (a hand-edited plan). Unknown
// fields are ignored: later versions of format 1 may add fields.
func (p *Plan) UnmarshalJSON(data []byte) error {
	var probe struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	if probe.Version == nil {
		return errors.New("plan: no version")
	}
	if *probe.Version != Version {
		return fmt.Errorf("plan: version %d not supported (this keycycle reads version %d)", *probe.Version, Version)
	}
	var w wirePlan
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&w); err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	out := Plan{Version: w.Version, GeneratedAt: w.GeneratedAt.UTC(), Steps: make([]Step, 0, len(w.Steps))}
	var errs []error
	for i, ws := range w.Steps {
		if !ws.Action.Valid() {
			errs = append(errs, fmt.Errorf("steps[%d]: unknown action %q", i, ws.Action))
		}
		if !ws.Credential.Valid() {
			errs = append(errs, fmt.Errorf("steps[%d]: unknown credential %q", i, ws.Credential))
		}
		errs = append(errs, checkStep(i, ws))
		s := Step{
			AccountID:   ws.AccountID,
			User:        ws.User,
			UserID:      ws.UserID,
			Credential:  ws.Credential,
			AccessKeyID: inventory.KeyID(ws.AccessKeyID),
			Action:      ws.Action,
			Reason:      ws.Reason,
			Rule:        ws.Rule,
			// set below: Precondition
			StartsWarning: ws.StartsWarning,
		}
		if l := ws.Precondition.Login; l != nil {
			s.Precondition.Login = &LoginState{Exists: l.Exists, Created: timeOf(l.Created), LastUsed: timeOf(l.LastUsed),
				LastUsedKnown: l.LastUsedKnown, Rotated: timeOf(l.Rotated)}
		}
		if ws.StartsWarning && (ws.Credential != Password || ws.Action != Warn) {
			errs = append(errs, fmt.Errorf("steps[%d]: starts_warning is only for a password warn step", i))
		}
		for _, wk := range ws.Precondition.Keys {
			k := KeyState{ID: inventory.KeyID(wk.AccessKeyID), Status: inventory.KeyStatus(wk.Status), LastUsedKnown: wk.LastUsedKnown}
			if wk.LastUsed != nil {
				k.LastUsed = wk.LastUsed.UTC()
			}
			if wk.Created != nil {
				k.Created = wk.Created.UTC()
			}
			s.Precondition.Keys = append(s.Precondition.Keys, k)
		}
		out.Steps = append(out.Steps, s)
	}
	out.Summary = Summarize(out.Steps)
	got := wireSummary{
		Rotate: out.Summary.Rotate, Deactivate: out.Summary.Deactivate, Delete: out.Summary.Delete,
		Warn: out.Summary.Warn, Blocked: out.Summary.Blocked, Skip: out.Summary.Skip,
	}
	if got != w.Summary {
		errs = append(errs, fmt.Errorf("summary %+v does not match the steps %+v", w.Summary, got))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	*p = out
	return nil
}

// checkStep refuses what no plan keycycle writes can hold: an account id that is not 12 digits, a
// user name IAM would not accept (1 to 64 of letters, digits and +=,.@_-), a key id that is
// neither an access key id nor a credential report placeholder, a key status other than Active
// and Inactive. A plan is outside input (a file, a queue message): it is checked, not trusted.
func checkStep(i int, ws wireStep) error {
	var errs []error
	if !accountIDRE.MatchString(ws.AccountID) {
		errs = append(errs, fmt.Errorf("steps[%d].account_id: %q is not a 12-digit account id", i, Printable(ws.AccountID)))
	}
	if !userNameRE.MatchString(ws.User) {
		errs = append(errs, fmt.Errorf("steps[%d].user: %q is not an IAM user name (1 to 64 of letters, digits and +=,.@_-)", i, Printable(ws.User)))
	}
	if ws.AccessKeyID != "" && !validKeyID(ws.AccessKeyID) {
		errs = append(errs, fmt.Errorf("steps[%d].access_key_id: %q is not an access key id", i, Printable(ws.AccessKeyID)))
	}
	for j, k := range ws.Precondition.Keys {
		if !validKeyID(k.AccessKeyID) {
			errs = append(errs, fmt.Errorf("steps[%d].precondition.keys[%d].access_key_id: %q is not an access key id", i, j, Printable(k.AccessKeyID)))
		}
		if k.Status != string(inventory.StatusActive) && k.Status != string(inventory.StatusInactive) {
			errs = append(errs, fmt.Errorf("steps[%d].precondition.keys[%d].status: %q is neither Active nor Inactive", i, j, Printable(k.Status)))
		}
	}
	return errors.Join(errs...)
}

var (
	accountIDRE = regexp.MustCompile(`^[0-9]{12}$`)
	userNameRE  = regexp.MustCompile(`^[A-Za-z0-9+=,.@_-]{1,64}$`)
	keyIDRE     = regexp.MustCompile(`^[A-Za-z0-9_]{16,128}$`)
)

func validKeyID(id string) bool {
	return keyIDRE.MatchString(id) || (inventory.KeyID(id).FromReport() && len(id) < 32)
}

// WriteJSON writes p in the documented format, indented, without escaping <, > and & (reasons
// contain ">="), followed by a newline. This is the form `keycycle plan --out` saves.
func WriteJSON(w io.Writer, p Plan) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}
