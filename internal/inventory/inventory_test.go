package inventory

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

const fullID = "AKIAIOSFODNN7EXAMPLE"

func TestKeyIDPrintsMasked(t *testing.T) {
	k := KeyID(fullID)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		got := fmt.Sprintf(verb, k)
		if strings.Contains(got, fullID) || !strings.Contains(got, "AKIA...MPLE") {
			t.Errorf("Sprintf(%s) = %q, want masked", verb, got)
		}
	}
	if got := fmt.Sprint(AccessKey{ID: k}); strings.Contains(got, fullID) {
		t.Errorf("struct printed %q", got)
	}
	if got := fmt.Sprintf("%+v", []KeyID{k}); strings.Contains(got, fullID) {
		t.Errorf("slice printed %q", got)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "access_key_id", k)
	if strings.Contains(buf.String(), fullID) || !strings.Contains(buf.String(), "AKIA...MPLE") {
		t.Errorf("log = %s", buf.String())
	}
	if k.Raw() != fullID {
		t.Errorf("Raw() = %q", k.Raw())
	}
	// JSON carries the whole id: a saved plan must be applicable.
	b, _ := json.Marshal(k)
	if string(b) != `"`+fullID+`"` {
		t.Errorf("json = %s", b)
	}
	for in, want := range map[KeyID]string{"": "", "SHORT": "...", "ABCDEFGHI": "ABCD...FGHI"} {
		if got := in.String(); got != want {
			t.Errorf("KeyID(%q).String() = %q, want %q", string(in), got, want)
		}
	}
}

func TestSortKeysOldestFirst(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	keys := []AccessKey{
		{ID: "AKIAZZZZZZZZZZZZZZZ2", Created: t0.Add(time.Hour)},
		{ID: "AKIAZZZZZZZZZZZZZZZ9", Created: t0},
		{ID: "AKIAZZZZZZZZZZZZZZZ1", Created: t0},
	}
	SortKeys(keys)
	got := []string{keys[0].ID.Raw(), keys[1].ID.Raw(), keys[2].ID.Raw()}
	want := []string{"AKIAZZZZZZZZZZZZZZZ1", "AKIAZZZZZZZZZZZZZZZ9", "AKIAZZZZZZZZZZZZZZZ2"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("order %v, want %v", got, want)
	}
}

func TestStateRecordsRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 21, 9, 30, 15, 0, time.UTC)
	oldID, newID := KeyID("AKIAOLDOLDOLDOLD0001"), KeyID("AKIANEWNEWNEWNEW0002")

	in := RotationIntent{Started: at, Old: oldID}
	if v := in.TagValue(); v != "started=2026-11-21T09:30:15Z old=AKIAOLDOLDOLDOLD0001" {
		t.Errorf("intent value %q", v)
	}
	gotIn, err := ParseRotationIntent(in.TagValue())
	if err != nil || gotIn != in {
		t.Errorf("intent round trip: %+v, %v", gotIn, err)
	}

	for _, r := range []RotationRecord{
		{At: at, Old: oldID, New: newID},
		{At: at, Old: oldID, New: newID, Deactivated: at.Add(240 * time.Hour)},
	} {
		v := r.TagValue()
		if len(v) > MaxTagValueLen || !tagValueChars(v) {
			t.Errorf("record value %q not a valid IAM tag value", v)
		}
		got, err := ParseRotationRecord(v)
		if err != nil || got != r {
			t.Errorf("record round trip %q: %+v, %v", v, got, err)
		}
	}
	if v := (RotationRecord{At: at, Old: oldID, New: newID, Deactivated: at}).TagValue(); v !=
		"at=2026-11-21T09:30:15Z old=AKIAOLDOLDOLDOLD0001 new=AKIANEWNEWNEWNEW0002 deactivated=2026-11-21T09:30:15Z" {
		t.Errorf("record value %q", v)
	}

	d := DeactivationRecord{At: at, Key: oldID}
	gotD, err := ParseDeactivationRecord(d.TagValue())
	if err != nil || gotD != d {
		t.Errorf("deactivation round trip: %+v, %v", gotD, err)
	}

	// Times in another zone are written in UTC, sub-second parts dropped.
	z := time.FixedZone("x", 3600)
	r, err := ParseRotationRecord(RotationRecord{At: at.In(z).Add(500 * time.Millisecond), Old: oldID, New: newID}.TagValue())
	if err != nil || !r.At.Equal(at) || r.At.Location() != time.UTC {
		t.Errorf("zone: %+v %v", r, err)
	}
	// Unknown fields are ignored (later versions may add some).
	if _, err := ParseRotationIntent("started=2026-11-21T09:30:15Z old=AKIAOLDOLDOLDOLD0001 host=x"); err != nil {
		t.Errorf("unknown field: %v", err)
	}
}

func TestStateRecordsRefuseGarbage(t *testing.T) {
	for _, v := range []string{
		"",
		"started=2026-11-21T09:30:15Z",
		"started=yesterday old=AKIAOLDOLDOLDOLD0001",
		"started=2026-11-21T09:30:15Z old=short",
		"started=2026-11-21T09:30:15Z old=AKIA-OLD-OLD-OLD-0001",
		"started=2026-11-21T09:30:15Z started=2026-11-21T09:30:15Z old=AKIAOLDOLDOLDOLD0001",
		"started=2026-11-21T09:30:15Z AKIAOLDOLDOLDOLD0001",
	} {
		if _, err := ParseRotationIntent(v); err == nil {
			t.Errorf("ParseRotationIntent(%q) accepted", v)
		}
	}
	if _, err := ParseRotationRecord("at=2026-11-21T09:30:15Z old=AKIAOLDOLDOLDOLD0001 new=AKIANEWNEWNEWNEW0002 deactivated=soon"); err == nil {
		t.Error("bad deactivated accepted")
	}
	if _, err := ParseDeactivationRecord("at=2026-11-21T09:30:15Z"); err == nil {
		t.Error("missing key accepted")
	}
}

func TestTagNames(t *testing.T) {
	if IntentTag(DefaultStatePrefix) != "keycycle:rotation" || RotatedTag("kc/") != "kc/rotated" ||
		DeactivatedTag(DefaultStatePrefix) != "keycycle:deactivated" {
		t.Fatal("tag names")
	}
}

// tagValueChars reports whether s uses only IAM tag value characters.
func tagValueChars(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(" _.:/=+-@", c)) {
			return false
		}
	}
	return true
}

func TestIntentLeaseRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 21, 9, 30, 15, 0, time.UTC)
	oldID := KeyID("AKIAOLDOLDOLDOLD0001")
	in := RotationIntent{Started: at, Old: oldID, Lease: Lease{Run: "20261121T093015Z-0a1b2c3d", Until: at.Add(20 * time.Minute)}}
	v := in.TagValue()
	if v != "started=2026-11-21T09:30:15Z old=AKIAOLDOLDOLDOLD0001 run=20261121T093015Z-0a1b2c3d until=2026-11-21T09:50:15Z" {
		t.Errorf("intent value %q", v)
	}
	if len(v) > MaxTagValueLen || !tagValueChars(v) {
		t.Errorf("intent value %q not a valid IAM tag value", v)
	}
	got, err := ParseRotationIntent(v)
	if err != nil || got != in {
		t.Fatalf("intent round trip: %+v, %v", got, err)
	}
	// Live for another run until the lease ends, never for its owner.
	for _, c := range []struct {
		now  time.Time
		run  string
		want bool
	}{
		{at.Add(time.Minute), "other", true},
		{at.Add(19 * time.Minute), "other", true},
		{at.Add(20 * time.Minute), "other", false},
		{at.Add(time.Minute), in.Run, false},
	} {
		if got := in.Live(c.now, c.run); got != c.want {
			t.Errorf("Live(%s, %q) = %v, want %v", c.now, c.run, got, c.want)
		}
	}

	// Backward compatible: an intent from before leases (no until, maybe a run) is live for
	// DefaultLease after it started, for every run (an unknown owner is nobody's).
	legacy, err := ParseRotationIntent("started=2026-11-21T09:30:15Z old=AKIAOLDOLDOLDOLD0001")
	if err != nil || legacy.Run != "" || !legacy.Until.IsZero() {
		t.Fatalf("legacy intent: %+v %v", legacy, err)
	}
	if !legacy.Live(at.Add(DefaultLease-time.Second), "") || legacy.Live(at.Add(DefaultLease), "x") {
		t.Errorf("legacy lease ends %s, want %s", legacy.End(legacy.Started), at.Add(DefaultLease))
	}
	withRun, err := ParseRotationIntent("started=2026-11-21T09:30:15Z old=AKIAOLDOLDOLDOLD0001 run=20261121T093015Z-abcd")
	if err != nil || withRun.Run != "20261121T093015Z-abcd" || withRun.Live(at.Add(time.Minute), withRun.Run) || !withRun.Live(at.Add(time.Minute), "b") {
		t.Errorf("intent with run, no until: %+v %v", withRun, err)
	}
	for _, bad := range []string{
		"started=2026-11-21T09:30:15Z old=AKIAOLDOLDOLDOLD0001 until=later",
		"started=2026-11-21T09:30:15Z old=AKIAOLDOLDOLDOLD0001 run=a/b",
	} {
		if _, err := ParseRotationIntent(bad); err == nil {
			t.Errorf("ParseRotationIntent(%q) accepted", bad)
		}
	}

	pw := PasswordIntent{Started: at, Lease: Lease{Run: "r1", Until: at.Add(time.Hour)}}
	gotPW, err := ParsePasswordIntent(pw.TagValue())
	if err != nil || gotPW != pw || !gotPW.Live(at, "r2") || gotPW.Live(at, "r1") {
		t.Errorf("password intent round trip %q: %+v %v", pw.TagValue(), gotPW, err)
	}
	if got := LeaseRunID("run 1/ä" + strings.Repeat("x", 80)); len(got) != 64 || !validRunID(got) {
		t.Errorf("LeaseRunID gave %q", got)
	}
}

func TestDeliveryRecordRoundTrip(t *testing.T) {
	r := DeliveryRecord{Key: "AKIAEXAMPLEEXAMPLE01", Sinks: []string{"hook", "handler"}}
	v := r.TagValue()
	if v != "key=AKIAEXAMPLEEXAMPLE01 sinks=hook/handler" {
		t.Fatalf("tag value %q", v)
	}
	back := ParseDeliveryRecord(v)
	if back.Key != r.Key || len(back.Sinks) != 2 || !back.Has(r.Key, "handler") || back.Has(r.Key, "mail") || back.Has("AKIAOTHEROTHEROTHER1", "hook") {
		t.Fatalf("round trip: %+v", back)
	}
	if got := ParseDeliveryRecord("garbage"); got.Key != "" || got.Has("", "hook") {
		t.Fatalf("garbage parsed as %+v", got)
	}
	if DeliveredTag("keycycle:") != "keycycle:delivered" {
		t.Fatal(DeliveredTag("keycycle:"))
	}
}

// TestRecordWrittenAtStart: the record a rotation writes with its intent names no new key; it
// round-trips, refuses garbage, and leads to the key created under its lease, only that one.
func TestRecordWrittenAtStart(t *testing.T) {
	at := time.Date(2026, 11, 21, 9, 30, 15, 0, time.UTC)
	oldID, newID := KeyID("AKIAOLDOLDOLDOLD0001"), KeyID("AKIANEWNEWNEWNEW0002")
	r := RotationRecord{At: at, Old: oldID, By: at.Add(DefaultLease)}
	if v := r.TagValue(); v != "at=2026-11-21T09:30:15Z old=AKIAOLDOLDOLDOLD0001 by=2026-11-21T09:45:15Z" {
		t.Errorf("record value %q", v)
	}
	for _, want := range []RotationRecord{r, {At: at, Old: oldID, By: at.Add(DefaultLease), Deactivated: at.Add(240 * time.Hour)}} {
		got, err := ParseRotationRecord(want.TagValue())
		if err != nil || got != want || !got.Started() || !got.Done().Equal(at.Add(DefaultLease)) {
			t.Errorf("round trip %q: %+v, %v", want.TagValue(), got, err)
		}
	}
	for _, v := range []string{
		"at=2026-11-21T09:30:15Z old=AKIAOLDOLDOLDOLD0001",
		"at=2026-11-21T09:30:15Z old=AKIAOLDOLDOLDOLD0001 by=soon",
		"at=2026-11-21T09:30:15Z old=AKIAOLDOLDOLDOLD0001 by=2026-11-21T09:00:00Z",
		"at=2026-11-21T09:30:15Z old=AKIAOLDOLDOLDOLD0001 new=AKIANEWNEWNEWNEW0002 by=2026-11-21T09:45:15Z",
	} {
		if got, err := ParseRotationRecord(v); err == nil {
			t.Errorf("ParseRotationRecord(%q) accepted: %+v", v, got)
		}
	}
	old := AccessKey{ID: oldID, Status: StatusActive, Created: at.Add(-100 * 24 * time.Hour)}
	created := func(d time.Duration) AccessKey {
		return AccessKey{ID: newID, Status: StatusActive, Created: at.Add(d), LastUsedKnown: true}
	}
	for _, c := range []struct {
		name string
		keys []AccessKey
		want KeyID
	}{
		{"created at the start", []AccessKey{old, created(0)}, newID},
		{"created late in the lease", []AccessKey{old, created(14 * time.Minute)}, newID},
		{"created after the lease", []AccessKey{old, created(DefaultLease + RecordSkew + time.Minute)}, ""},
		{"created before the start", []AccessKey{old, created(-time.Hour)}, ""},
		{"no key created (rolled back)", []AccessKey{old}, ""},
	} {
		got := r.NewKeyIn(c.keys)
		if (got == nil) != (c.want == "") || got != nil && got.ID != c.want {
			t.Errorf("%s: NewKeyIn = %+v, want %q", c.name, got, c.want)
		}
	}
	// The record written at completion names its key, whatever the creation times.
	full := RotationRecord{At: at, Old: oldID, New: newID}
	if got := full.NewKeyIn([]AccessKey{old, created(-time.Hour)}); got == nil || got.ID != newID || full.Started() {
		t.Errorf("completion record: %+v", got)
	}

	// OrphanKey: the key created under the lease of a record whose intent is gone is the
	// rotation's new key while IAM may not show its verification's use yet; never used after
	// that, its intent was lost: an orphan. A key created after the lease is an orphan as before.
	nw := created(time.Minute)
	if o := OrphanKey([]AccessKey{old, nw}, oldID, &r, at.Add(time.Hour)); o != nil {
		t.Errorf("new key of a completed rotation taken for an orphan: %+v", o)
	}
	if o := OrphanKey([]AccessKey{old, nw}, oldID, &r, at.Add(LastUseLag+time.Hour)); o == nil || o.ID != newID {
		t.Errorf("never used after %s: want the orphan, got %+v", LastUseLag, o)
	}
	used := nw
	used.LastUsed = at.Add(2 * time.Minute)
	if o := OrphanKey([]AccessKey{old, used}, oldID, &r, at.Add(LastUseLag+time.Hour)); o != nil {
		t.Errorf("a used (verified) new key taken for an orphan: %+v", o)
	}
	late := created(2 * time.Hour)
	if o := OrphanKey([]AccessKey{old, late}, oldID, &r, at.Add(3*time.Hour)); o == nil {
		t.Error("a key created after the lease, never used, is an orphan")
	}
}
