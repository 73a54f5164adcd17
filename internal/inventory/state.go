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
//	<prefix>rotation     intent:     "started=<RFC3339> old=<AKID>"
//	<prefix>rotated      completion: "at=<RFC3339> old=<AKID> new=<AKID>[ deactivated=<RFC3339>]"
//	<prefix>deactivated  a key keycycle deactivated outside a rotation (two active keys, hard
//	                     limit): "at=<RFC3339> key=<AKID>"
//
// The prefix is configurable; DefaultStatePrefix is "keycycle:". Times are written in UTC with
// second precision. Parsers ignore fields they do not know, so later versions may add some.

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

// RotationIntent is written on the user before CreateAccessKey: a rotation of Old started.
type RotationIntent struct {
	Started time.Time
	Old     KeyID
}

// TagValue renders the record as a tag value.
func (r RotationIntent) TagValue() string {
	return "started=" + fmtTime(r.Started) + " old=" + r.Old.Raw()
}

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
