package inventory

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// LoginProfile is a user's console password as keycycle sees it. It never holds the password.
type LoginProfile struct {
	// Created is the login profile's creation (GetLoginProfile CreateDate); zero when only the
	// credential report was read, which does not give it.
	Created time.Time
	// PasswordChanged is when the password was last set (the credential report's
	// password_last_changed); zero when unknown.
	PasswordChanged time.Time
	// LastUsed is the last console sign-in with the password; zero means never used. It is only
	// meaningful when LastUsedKnown is true.
	LastUsed      time.Time
	LastUsedKnown bool
	// ResetRequired: the user must set a new password at the next sign-in (GetLoginProfile; false
	// when only the report was read).
	ResetRequired bool
}

// Since is the start of the password's idle time: its last use, or, when it was never used, the
// creation of the login profile (or, when that is unknown, the password's last change). A password
// change does not count as use. Zero when nothing is known.
func (l LoginProfile) Since() time.Time {
	if !l.LastUsed.IsZero() {
		return l.LastUsed
	}
	if !l.Created.IsZero() {
		return l.Created
	}
	return l.PasswordChanged
}

// keycycle's console-password state tags (see state.go for the format rules):
//
//	<prefix>password-rotation  intent: "started=<RFC3339> run=<id> until=<RFC3339>" (a lease,
//	                           see state.go), written before the password is changed, removed
//	                           when the rotation completes
//	<prefix>pwlease:<run id>   the lease of one run on the user's password, value as the intent:
//	                           each run writes its own key (IAM tags have no compare-and-set),
//	                           reads the tags back and goes on only when no other run's live
//	                           lease is there; removed when the run is done with the user
//	<prefix>password-rotated   completion: "at=<RFC3339>", when the new password was set and
//	                           delivered; the credential report can lag it by 4 hours
//	<prefix>console-warned     "at=<RFC3339>": when keycycle first warned that the unused login
//	                           profile will be deleted; the warning period counts from here

// PasswordIntentTag is the tag key of the password rotation intent.
func PasswordIntentTag(prefix string) string { return prefix + "password-rotation" }

// PasswordLeasePrefix is the start of every password lease tag key (PasswordLeaseTag).
func PasswordLeasePrefix(prefix string) string { return prefix + "pwlease:" }

// MaxTagKeyLen is IAM's limit on a tag key.
const MaxTagKeyLen = 128

// PasswordLeaseTag is the tag key of run's lease on a user's console password: the lease prefix
// and the run id (LeaseRunID), or, when that would exceed IAM's 128 characters for a tag key, the
// first 16 hex digits of the run id's SHA-256.
func PasswordLeaseTag(prefix, run string) string {
	k := PasswordLeasePrefix(prefix) + LeaseRunID(run)
	if len(k) <= MaxTagKeyLen {
		return k
	}
	sum := sha256.Sum256([]byte(run))
	return PasswordLeasePrefix(prefix) + hex.EncodeToString(sum[:8])
}

// PasswordRotatedTag is the tag key of the password rotation record.
func PasswordRotatedTag(prefix string) string { return prefix + "password-rotated" }

// ConsoleWarnedTag is the tag key of the console-disable warning record.
func ConsoleWarnedTag(prefix string) string { return prefix + "console-warned" }

// PasswordIntent is written on the user before its password is changed, under the lease of run
// Lease.Run.
type PasswordIntent struct {
	Started time.Time
	Lease
}

// TagValue renders the record as a tag value.
func (r PasswordIntent) TagValue() string { return "started=" + fmtTime(r.Started) + r.Lease.fields() }

// Live reports whether the intent's lease is live at now and owned by a run other than run.
func (r PasswordIntent) Live(now time.Time, run string) bool { return r.HeldBy(r.Started, now, run) }

// ParsePasswordIntent parses a PasswordIntent tag value.
func ParsePasswordIntent(v string) (PasswordIntent, error) {
	f, err := parseFields(v, "started")
	if err != nil {
		return PasswordIntent{}, fmt.Errorf("password rotation intent: %w", err)
	}
	t, err := parseTime(f, "started")
	if err != nil {
		return PasswordIntent{}, fmt.Errorf("password rotation intent: %w", err)
	}
	l, err := parseLease(f)
	if err != nil {
		return PasswordIntent{}, fmt.Errorf("password rotation intent: %w", err)
	}
	return PasswordIntent{Started: t, Lease: l}, nil
}

// Mark is a record that holds one time: the password rotation record ("at=") and the
// console-disable warning ("at=").
type Mark struct{ At time.Time }

// TagValue renders the record as a tag value.
func (m Mark) TagValue() string { return "at=" + fmtTime(m.At) }

// ParseMark parses a Mark tag value.
func ParseMark(v string) (Mark, error) {
	t, err := parseAt(v, "at")
	if err != nil {
		return Mark{}, err
	}
	return Mark{At: t}, nil
}

func parseAt(v, field string) (time.Time, error) {
	f, err := parseFields(v, field)
	if err != nil {
		return time.Time{}, err
	}
	return parseTime(f, field)
}
