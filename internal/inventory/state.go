package inventory

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// keycycle keeps its per-user state as IAM user tags, so that it lives with the user (and goes
// with it when the user is deleted) and needs no database. Tag values use only the IAM tag value
// characters (letters, digits, spaces and _ . : / = + - @) and stay far below 256 characters.
//
//	<prefix>rotation     intent:     "started=<RFC3339> old=<AKID> run=<run id> until=<RFC3339>"
//	<prefix>rotated      completion: "at=<RFC3339> old=<AKID> new=<AKID>[ deactivated=<RFC3339>]"
//	<prefix>deactivated  a key keycycle deactivated outside a rotation (two active keys, hard
//	                     limit): "at=<RFC3339> key=<AKID>"
//
// The prefix is configurable; DefaultStatePrefix is "keycycle:". Times are written in UTC with
// second precision. Parsers ignore fields they do not know, so later versions may add some.
//
// An intent is a lease, not a flag: run names the run that owns it and until when the lease
// ends. Another run leaves a live lease alone and may only recover one that has expired. An
// intent written before leases existed (no until=) expires DefaultLease after it started; one
// without run= is owned by no run, so only its expiry lets another run recover it.

// DefaultStatePrefix is the default prefix of keycycle's state tags.
const DefaultStatePrefix = "keycycle:"

// MaxTagValueLen is IAM's limit on a tag value.
const MaxTagValueLen = 256

// IntentTag is the tag key of the rotation intent record.
func IntentTag(prefix string) string { return prefix + "rotation" }

// RotatedTag is the tag key of the rotation completion record.
func RotatedTag(prefix string) string { return prefix + "rotated" }

// DeactivatedTag is the tag key of the deactivation record.
func DeactivatedTag(prefix string) string { return prefix + "deactivated" }

// DefaultLease is how long an intent without an explicit lease end (until=) is live after it
// started: intents written before leases existed, and the default lease of a rotation.
const DefaultLease = 15 * time.Minute

// Lease is the ownership part of an intent: the run that owns it and when the lease ends.
type Lease struct {
	Run   string    // run id of the owner; empty: unknown (an intent from before leases)
	Until time.Time // end of the lease; zero: DefaultLease after the intent started
}

// End is when the lease of an intent that started at started ends.
func (l Lease) End(started time.Time) time.Time {
	if l.Until.IsZero() {
		return started.Add(DefaultLease)
	}
	return l.Until
}

// HeldBy reports whether at now the lease is live and owned by a run other than run: such an
// intent must be left alone.
func (l Lease) HeldBy(started, now time.Time, run string) bool {
	return now.Before(l.End(started)) && (l.Run == "" || l.Run != run)
}

func (l Lease) fields() string {
	s := ""
	if l.Run != "" {
		s += " run=" + l.Run
	}
	if !l.Until.IsZero() {
		s += " until=" + fmtTime(l.Until)
	}
	return s
}

func parseLease(f map[string]string) (Lease, error) {
	l := Lease{Run: f["run"]}
	if !validRunID(l.Run) {
		return Lease{}, fmt.Errorf("run: %q is not a run id", l.Run)
	}
	if _, ok := f["until"]; ok {
		t, err := parseTime(f, "until")
		if err != nil {
			return Lease{}, err
		}
		l.Until = t
	}
	return l, nil
}

// LeaseRunID turns a run id into what an intent's run= field can carry: characters validRunID
// refuses become '_', and it is cut to 64 characters.
func LeaseRunID(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !validRunID(string(c)) {
			b[i] = '_'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

// validRunID accepts what a tag value may carry in one field: up to 64 letters, digits and
// - _ . : characters.
func validRunID(s string) bool {
	if len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// RotationIntent is written on the user before CreateAccessKey: a rotation of Old started, under
// the lease of run Lease.Run.
type RotationIntent struct {
	Started time.Time
	Old     KeyID
	Lease
}

// TagValue renders the record as a tag value.
func (r RotationIntent) TagValue() string {
	return "started=" + fmtTime(r.Started) + " old=" + r.Old.Raw() + r.Lease.fields()
}

// Live reports whether the intent's lease is live at now and owned by a run other than run.
func (r RotationIntent) Live(now time.Time, run string) bool { return r.HeldBy(r.Started, now, run) }

// ParseRotationIntent parses a RotationIntent tag value.
func ParseRotationIntent(v string) (RotationIntent, error) {
	f, err := parseFields(v, "started", "old")
	if err != nil {
		return RotationIntent{}, fmt.Errorf("rotation intent: %w", err)
	}
	var r RotationIntent
	var errs []error
	r.Started, err = parseTime(f, "started")
	errs = append(errs, err)
	r.Old, err = parseKeyID(f, "old")
	errs = append(errs, err)
	r.Lease, err = parseLease(f)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return RotationIntent{}, fmt.Errorf("rotation intent: %w", err)
	}
	return r, nil
}

// RotationRecord is written on the user once the new key is delivered (At); Deactivated is added
// when keycycle deactivated Old.
type RotationRecord struct {
	At          time.Time
	Old, New    KeyID
	Deactivated time.Time // zero until Old was deactivated by keycycle
}

// TagValue renders the record as a tag value.
func (r RotationRecord) TagValue() string {
	s := "at=" + fmtTime(r.At) + " old=" + r.Old.Raw() + " new=" + r.New.Raw()
	if !r.Deactivated.IsZero() {
		s += " deactivated=" + fmtTime(r.Deactivated)
	}
	return s
}

// ParseRotationRecord parses a RotationRecord tag value.
func ParseRotationRecord(v string) (RotationRecord, error) {
	f, err := parseFields(v, "at", "old", "new")
	if err != nil {
		return RotationRecord{}, fmt.Errorf("rotation record: %w", err)
	}
	var r RotationRecord
	var errs []error
	r.At, err = parseTime(f, "at")
	errs = append(errs, err)
	r.Old, err = parseKeyID(f, "old")
	errs = append(errs, err)
	r.New, err = parseKeyID(f, "new")
	errs = append(errs, err)
	if _, ok := f["deactivated"]; ok {
		r.Deactivated, err = parseTime(f, "deactivated")
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return RotationRecord{}, fmt.Errorf("rotation record: %w", err)
	}
	return r, nil
}

// DeactivationRecord is written on the user when keycycle deactivates a key outside the rotation
// protocol (a second active key, a hard limit), so that its later deletion follows a known
// deactivation time like any other.
type DeactivationRecord struct {
	At  time.Time
	Key KeyID
}

// TagValue renders the record as a tag value.
func (r DeactivationRecord) TagValue() string {
	return "at=" + fmtTime(r.At) + " key=" + r.Key.Raw()
}

// ParseDeactivationRecord parses a DeactivationRecord tag value.
func ParseDeactivationRecord(v string) (DeactivationRecord, error) {
	f, err := parseFields(v, "at", "key")
	if err != nil {
		return DeactivationRecord{}, fmt.Errorf("deactivation record: %w", err)
	}
	var r DeactivationRecord
	var errs []error
	r.At, err = parseTime(f, "at")
	errs = append(errs, err)
	r.Key, err = parseKeyID(f, "key")
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return DeactivationRecord{}, fmt.Errorf("deactivation record: %w", err)
	}
	return r, nil
}

func fmtTime(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }

// parseFields splits "k=v k=v" into a map, refusing duplicates, missing required fields and
// tokens without '='.
func parseFields(v string, required ...string) (map[string]string, error) {
	f := map[string]string{}
	for _, tok := range strings.Fields(v) {
		k, val, ok := strings.Cut(tok, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("field %q is not key=value", tok)
		}
		if _, dup := f[k]; dup {
			return nil, fmt.Errorf("field %q given twice", k)
		}
		f[k] = val
	}
	var missing []string
	for _, k := range required {
		if _, ok := f[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	return f, nil
}

func parseTime(f map[string]string, k string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, f[k])
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %q is not an RFC 3339 time", k, f[k])
	}
	return t.UTC(), nil
}

// parseKeyID accepts what IAM accepts as an access key id: 16 to 128 letters, digits or '_'.
func parseKeyID(f map[string]string, k string) (KeyID, error) {
	v := f[k]
	if len(v) < 16 || len(v) > 128 {
		return "", fmt.Errorf("%s: %q is not an access key id", k, v)
	}
	for _, c := range v {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return "", fmt.Errorf("%s: %q is not an access key id", k, v)
		}
	}
	return KeyID(v), nil
}

// OrphanKey returns the key among keys (a user's, fresh) that looks like the orphan of a rotation
// of old whose intent record was lost, or nil: keycycle rotated the user before (rec, its last
// completion record, is not nil), the user has exactly two keys, old and one other that is
// active, never used (its last use known), created after rec and is neither key rec names, and
// older than DefaultLease, so no live rotation can still be storing it. Whether its secret is
// stored anywhere is for the caller to check (the primary sink): only a key held nowhere is an
// orphan. A user keycycle never rotated has no record to be newer than: a second key there is
// anybody's, and the two-active-keys rules decide about it.
func OrphanKey(keys []AccessKey, old KeyID, rec *RotationRecord, now time.Time) *AccessKey {
	if len(keys) != 2 {
		return nil
	}
	var o *AccessKey
	seenOld := false
	for i := range keys {
		if keys[i].ID == old {
			seenOld = true
		} else {
			o = &keys[i]
		}
	}
	switch {
	case !seenOld || o == nil || !o.Active() || !o.LastUsedKnown || !o.LastUsed.IsZero():
		return nil
	case now.Sub(o.Created) < DefaultLease:
		return nil
	case rec == nil || o.ID == rec.New || o.ID == rec.Old || !o.Created.After(rec.At):
		return nil
	}
	return o
}
