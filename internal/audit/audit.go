// Package audit writes keycycle's audit trail: one JSON object per line for every change it
// makes or refuses to make. A record has no field that can hold a secret.
package audit

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

// Record is one audited event. Access key ids are written whole: they are not secret, and an
// audit trail must name the exact key.
type Record struct {
	Time        time.Time `json:"time"`
	RunID       string    `json:"run_id"`
	RotationID  string    `json:"rotation_id,omitempty"`
	AccountID   string    `json:"account_id"`
	User        string    `json:"user"`
	UserID      string    `json:"user_id,omitempty"`
	Credential  string    `json:"credential"`
	Action      string    `json:"action"` // rotate, deactivate, delete, recover, ...
	Event       string    `json:"event"`  // what happened: key_created, secret_staged, key_verified, ...
	Outcome     string    `json:"outcome"`
	AccessKeyID string    `json:"access_key_id,omitempty"`
	NewKeyID    string    `json:"new_access_key_id,omitempty"`
	Sink        string    `json:"sink,omitempty"`
	// Sinks is what became of each delivery of a rotation (one entry for a per-sink event).
	Sinks  []SinkOutcome `json:"sinks,omitempty"`
	Reason string        `json:"reason,omitempty"`
	Error  string        `json:"error,omitempty"`
	DryRun bool          `json:"dry_run,omitempty"`
	// LoginProfile describes a login profile keycycle deleted (or failed to delete): what was
	// removed, never the password.
	LoginProfile *LoginProfile `json:"login_profile,omitempty"`
}

// LoginProfile is what an audit record keeps of a deleted login profile.
type LoginProfile struct {
	Created          time.Time  `json:"created,omitzero"`
	PasswordLastUsed *time.Time `json:"password_last_used"` // null: never used
	ResetRequired    bool       `json:"password_reset_required"`
}

// SinkOutcome is what became of one delivery of a new key. It names where the key went, never
// the key's secret.
type SinkOutcome struct {
	Name     string `json:"name"`
	Location string `json:"location"`
	Required bool   `json:"required"`
	Outcome  string `json:"outcome"`
	Error    string `json:"error,omitempty"`
}

// Writer appends records to an io.Writer as JSON lines. It is safe for concurrent use.
type Writer struct {
	mu  sync.Mutex
	enc *json.Encoder
	err error
}

// NewWriter writes to w.
func NewWriter(w io.Writer) *Writer { return &Writer{enc: json.NewEncoder(w)} }

// Write appends r. The first write error is kept and returned by Err.
func (w *Writer) Write(r Record) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.enc.Encode(r); err != nil && w.err == nil {
		w.err = err
	}
}

// Err returns the first write error.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}
