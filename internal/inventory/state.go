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
//	<prefix>rotated      completion: "at=<RFC3339> old=<AKID> by=<RFC3339>[ deactivated=<RFC3339>]"
//	                     (deactivated= only from earlier versions, still read),
//	                     written with the intent, in the same TagUser, when a rotation starts:
//	                     the rotation is complete once the intent is gone (see RotationRecord);
//	                     earlier versions wrote "at=<RFC3339> old=<AKID> new=<AKID>[ ...]" at
//	                     completion, which is still read (and written by a resumed rotation)
//	<prefix>deactivated  the key keycycle deactivated last (a rotation's old key, or outside a
//	                     rotation: two active keys, hard limit): "at=<RFC3339> key=<AKID>"
//	<prefix>delivered    the push sinks (webhook, Lambda, mail, ...) a rotation in flight has
//	                     sent its new key to: "key=<AKID> sinks=<name>/<name>"
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

// DeliveredTag is the tag key of the delivery record of a rotation in flight.
func DeliveredTag(prefix string) string { return prefix + "delivered" }

// DeliveryRecord lists the push sinks a rotation in flight has sent its new key to, so that a
// resumed rotation does not send it to them again.
type DeliveryRecord struct {
	Key   KeyID
	Sinks []string
}

// TagValue renders the record as a tag value.
func (r DeliveryRecord) TagValue() string {
	return "key=" + r.Key.Raw() + " sinks=" + strings.Join(r.Sinks, "/")
}

// ParseDeliveryRecord reads a delivery record; anything unreadable is an empty record (the worst
// it causes is a push sink receiving the key twice; receivers dedupe by key id).
func ParseDeliveryRecord(v string) DeliveryRecord {
	var r DeliveryRecord
	for _, f := range strings.Fields(v) {
		k, val, _ := strings.Cut(f, "=")
		switch k {
		case "key":
			r.Key = KeyID(val)
		case "sinks":
			if val != "" {
				r.Sinks = strings.Split(val, "/")
			}
		}
	}
	return r
}

// Has reports whether the record says key was sent to sink.
func (r DeliveryRecord) Has(key KeyID, sink string) bool {
	if r.Key == "" || r.Key != key {
		return false
	}
	for _, s := range r.Sinks {
		if s == sink {
			return true
		}
	}
	return false
}

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

// RotationRecord is keycycle's record of the last rotation of a user's access key Old, in one of
// two forms:
//   - written at the start of the rotation, with its intent and in the same TagUser (New empty):
//     the rotation of Old started At under a lease that ended By. While the intent of the same
//     start is on the user, the rotation is in flight; once the intent is gone (removed at
//     completion, one UntagUser), it is complete, and its new key is the one NewKeyIn finds: the
//     user's key other than Old created between At and By. Its delivery is dated conservatively:
//     At for the last-use guard (a use of the old key after At counts as after the delivery), By
//     for the grace that follows it (Done). A rotation rolled back or recovered without a key
//     leaves the record with no such key: it then records no completed rotation;
//   - written at completion, by earlier versions and by a resumed rotation (New set): the
//     rotation from Old to New completed At.
//
// Deactivated is added when keycycle deactivated Old.
type RotationRecord struct {
	At          time.Time
	Old, New    KeyID
	By          time.Time // New empty: the end of the rotation's lease
	Deactivated time.Time // zero until Old was deactivated by keycycle
}

// LastUseLag bounds how long IAM may take to show a key's use in its last-use data (AWS-FACTS:
// treat it as lagging; the credential report is up to 4 hours old).
const LastUseLag = 4 * time.Hour

// RecordSkew tolerates a difference between keycycle's clock (a record's times) and IAM's (a
// key's creation time) when matching keys to a record.
const RecordSkew = 5 * time.Minute

// Started reports whether the record was written at the start of its rotation (New not recorded).
func (r RotationRecord) Started() bool { return r.New == "" }

// Done is the latest time the recorded rotation delivered its new key: At for a record written at
// completion, the lease end By for one written at the start.
func (r RotationRecord) Done() time.Time {
	if r.Started() && r.By.After(r.At) {
		return r.By
	}
	return r.At
}

// NewKeyIn returns the rotation's new key among keys (a user's), nil when it is not there: New,
// or for a record written at the start the only key other than Old created between At and Done
// (RecordSkew either side). Only once the rotation's intent is gone is that key delivered.
func (r RotationRecord) NewKeyIn(keys []AccessKey) *AccessKey {
	var found *AccessKey
	for i := range keys {
		k := &keys[i]
		switch {
		case !r.Started():
			if k.ID == r.New {
				return k
			}
		case k.ID == r.Old || k.Created.IsZero() || k.Created.Before(r.At.Add(-RecordSkew)) || k.Created.After(r.Done().Add(RecordSkew)):
		case found != nil:
			return nil // two candidates: none is known to be it
		default:
			found = k
		}
	}
	return found
}

// TagValue renders the record as a tag value.
func (r RotationRecord) TagValue() string {
	s := "at=" + fmtTime(r.At) + " old=" + r.Old.Raw()
	if r.Started() {
		s += " by=" + fmtTime(r.Done())
	} else {
		s += " new=" + r.New.Raw()
	}
	if !r.Deactivated.IsZero() {
		s += " deactivated=" + fmtTime(r.Deactivated)
	}
	return s
}

// ParseRotationRecord parses a RotationRecord tag value, in either form (new= or by=).
func ParseRotationRecord(v string) (RotationRecord, error) {
	f, err := parseFields(v, "at", "old")
	if err != nil {
		return RotationRecord{}, fmt.Errorf("rotation record: %w", err)
	}
	var r RotationRecord
	var errs []error
	r.At, err = parseTime(f, "at")
	errs = append(errs, err)
	r.Old, err = parseKeyID(f, "old")
	errs = append(errs, err)
	_, hasNew := f["new"]
	_, hasBy := f["by"]
	switch {
	case hasNew && hasBy:
		errs = append(errs, errors.New("both new and by given"))
	case hasNew:
		r.New, err = parseKeyID(f, "new")
		errs = append(errs, err)
	case hasBy:
		r.By, err = parseTime(f, "by")
		errs = append(errs, err)
		if err == nil && r.By.Before(r.At) {
			errs = append(errs, fmt.Errorf("by: %s is before at", fmtTime(r.By)))
		}
	default:
		errs = append(errs, errors.New("missing new (or by)"))
	}
	if _, ok := f["deactivated"]; ok {
		r.Deactivated, err = parseTime(f, "deactivated")
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return RotationRecord{}, fmt.Errorf("rotation record: %w", err)
	}
	return r, nil
}

// DeactivationRecord is written on the user right before keycycle deactivates a key (a rotation's
// old key, a second active key, a hard limit), so that its later deletion follows a known
// deactivation time. Earlier versions recorded a rotation's old key in RotationRecord.Deactivated
// instead, which is still read.
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
	// In UTC, as keycycle writes it, the year must have four digits: "0000-01-01T00:00:00+01:00"
	// parses, but is in year -1 in UTC, which RFC 3339 cannot write back.
	if t = t.UTC(); t.Year() < 1 || t.Year() > 9999 {
		return time.Time{}, fmt.Errorf("%s: %q is outside the years 0001 to 9999 in UTC", k, f[k])
	}
	return t, nil
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
// older than DefaultLease, so no live rotation can still be storing it. A record written at the
// start of a rotation (RotationRecord.Started) names no new key: a key created under its lease
// whose intent is gone is that rotation's new key, which its verification used (signed
// sts:GetCallerIdentity), unless it was never used: then its intent was lost (removed by hand)
// and it is an orphan, once LastUseLag has passed since its creation, so that IAM shows the
// verification's use by then. Whether its secret is
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
	case rec == nil || o.ID == rec.New || o.ID == rec.Old:
		return nil
	case !rec.Started() && !o.Created.After(rec.At), rec.Started() && o.Created.Before(rec.At.Add(-RecordSkew)):
		// Not created after the record's rotation started.
		return nil
	case rec.Started() && !o.Created.After(rec.Done().Add(RecordSkew)) && now.Sub(o.Created) < LastUseLag:
		// Created under the recorded rotation's lease, whose intent is gone: its new key, which
		// the rotation's verification used, unless IAM has not shown that use yet.
		return nil
	}
	return o
}
