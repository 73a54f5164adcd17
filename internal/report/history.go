package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/keycycle/keycycle/internal/audit"
	"github.com/keycycle/keycycle/internal/inventory"
)

// History is what happened to a user or an account, from the audit trail.
type History struct {
	AccountID string         `json:"account_id,omitempty"` // the filter; empty: any
	User      string         `json:"user,omitempty"`       // the filter; empty: any
	Entries   []HistoryEntry `json:"entries"`
	// Skipped counts input lines that were no audit record (other log lines).
	Skipped int `json:"skipped_lines"`
}

// HistoryEntry is one audit record, key ids masked.
type HistoryEntry struct {
	Time       time.Time `json:"time"`
	RunID      string    `json:"run_id,omitempty"`
	AccountID  string    `json:"account_id"`
	User       string    `json:"user"`
	Credential string    `json:"credential,omitempty"`
	Action     string    `json:"action"`
	Event      string    `json:"event"`
	Outcome    string    `json:"outcome"`
	Key        string    `json:"key,omitempty"`
	NewKey     string    `json:"new_key,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	Error      string    `json:"error,omitempty"`
	DryRun     bool      `json:"dry_run,omitempty"`
}

// HistoryFilter selects audit records; empty fields match everything.
type HistoryFilter struct {
	AccountID string
	User      string
}

// maxAuditLine bounds one audit line (a record is well under 4 KiB).
const maxAuditLine = 1 << 20

// ReadHistory reads audit JSON lines (keycycle apply --audit files, or the Lambda's log records,
// where a record may follow a log prefix on its line) and adds the records matching f to h,
// sorted by time. Lines that hold no audit record are counted in h.Skipped; name labels errors.
func ReadHistory(h *History, r io.Reader, name string, f HistoryFilter) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), maxAuditLine)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		i := bytes.IndexByte(b, '{')
		if i < 0 {
			if len(bytes.TrimSpace(b)) > 0 {
				h.Skipped++
			}
			continue
		}
		var rec audit.Record
		if err := json.Unmarshal(b[i:], &rec); err != nil || rec.Event == "" || rec.Time.IsZero() || rec.User == "" {
			h.Skipped++
			continue
		}
		if (f.AccountID != "" && rec.AccountID != f.AccountID) || (f.User != "" && rec.User != f.User) {
			continue
		}
		h.Entries = append(h.Entries, HistoryEntry{
			Time: rec.Time.UTC(), RunID: rec.RunID, AccountID: rec.AccountID, User: rec.User, Credential: rec.Credential,
			Action: rec.Action, Event: rec.Event, Outcome: rec.Outcome,
			Key: inventory.KeyID(rec.AccessKeyID).String(), NewKey: inventory.KeyID(rec.NewKeyID).String(),
			Reason: rec.Reason, Error: rec.Error, DryRun: rec.DryRun,
		})
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read audit trail %s (line %d): %w", name, line+1, err)
	}
	sort.SliceStable(h.Entries, func(i, j int) bool { return h.Entries[i].Time.Before(h.Entries[j].Time) })
	return nil
}
