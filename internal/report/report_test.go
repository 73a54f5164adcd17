package report

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/policy"
)

// TestBuildNamesReportKeysWithoutChangingItsInput: keys known only by their credential report
// slot are shown by the ids keycycle's own records give them, masked, and the caller's inventory
// is left as it was.
func TestBuildNamesReportKeysWithoutChangingItsInput(t *testing.T) {
	now := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	old, nw := inventory.KeyID("AKIAOLDOLDOLDOLD0001"), inventory.KeyID("AKIANEWNEWNEWNEW0002")
	rec := inventory.RotationRecord{At: now.Add(-48 * time.Hour), Old: old, New: nw}
	u := inventory.User{Name: "alice", KeysKnown: true, LoginKnown: true, ReportTime: now.Add(-time.Hour),
		Tags: map[string]string{inventory.RotatedTag(inventory.DefaultStatePrefix): rec.TagValue()},
		Keys: []inventory.AccessKey{
			{ID: inventory.ReportKeyID(1), Status: inventory.StatusActive, Created: now.Add(-100 * policy.Day), LastUsedKnown: true},
			{ID: inventory.ReportKeyID(2), Status: inventory.StatusActive, Created: rec.At, LastUsedKnown: true},
		}}
	in := []inventory.Account{{ID: "111111111111", Users: []inventory.User{u}}}
	before := cloneUser(in[0].Users[0])
	r := Build(Input{Accounts: in, Rules: policy.DefaultRules(), Now: now, Days: 3})
	if !reflect.DeepEqual(before, in[0].Users[0]) {
		t.Fatalf("Build changed its input:\n%+v\n%+v", before, in[0].Users[0])
	}
	var ids []string
	for _, k := range r.Users[0].Keys {
		ids = append(ids, k.ID)
	}
	if strings.Join(ids, " ") != "AKIA...0001 AKIA...0002" || r.Users[0].State.NewKey != "AKIA...0002" {
		t.Fatalf("keys %v, state %+v", ids, r.Users[0].State)
	}
	if r.Forecast == nil || r.Forecast.Days != 3 {
		t.Fatalf("forecast %+v", r.Forecast)
	}
}
