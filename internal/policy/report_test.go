package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/plan"
)

// fromReport makes k a credential report key in slot n: a placeholder id, as the scan gives it.
func fromReport(n int, k inventory.AccessKey) inventory.AccessKey {
	k.ID = inventory.ReportKeyID(n)
	return k
}

func reportAt(days float64) userOpt {
	return func(u *inventory.User) { u.ReportTime = ago(days) }
}

func TestKeysChangedSinceReport(t *testing.T) {
	rules := Rules{Tags: DefaultTagNames()}
	deact := func(daysAgo float64) userOpt {
		r := inventory.DeactivationRecord{At: ago(daysAgo), Key: kid("OLD1")}
		return tags(inventory.DeactivatedTag("keycycle:"), r.TagValue())
	}
	tests := []struct {
		name string
		u    inventory.User
		want bool
	}{
		{"read fresh: no report", user("a", rotated("OLD1", "NEW1", 0.01, never)), false},
		{"no record", user("a", reportAt(0.1)), false},
		{"rotated before the report", user("a", reportAt(0.1), rotated("OLD1", "NEW1", 1, never)), false},
		{"rotated after the report", user("a", reportAt(0.1), rotated("OLD1", "NEW1", 0.05, never)), true},
		{"old key deactivated after the report", user("a", reportAt(0.1), rotated("OLD1", "NEW1", 5, 0.05)), true},
		{"deactivation record after the report", user("a", reportAt(0.1), deact(0.05)), true},
		{"deactivation record before the report", user("a", reportAt(0.1), deact(0.2)), false},
	}
	for _, tc := range tests {
		if got := KeysChangedSinceReport(tc.u, rules); got != tc.want {
			t.Errorf("%s: KeysChangedSinceReport = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestNameReportKeys(t *testing.T) {
	rules := Rules{Tags: DefaultTagNames()}
	// Rotated a day before the report: the newest active key is the record's new key, the other
	// the old one.
	u := user("a", reportAt(0.1), rotated("OLD1", "NEW1", 1, never),
		keys(fromReport(1, active("", 100, 2)), fromReport(2, active("", 1, 0.5))))
	acct := inventory.Account{ID: "111111111111", Users: []inventory.User{u}}
	NameReportKeys(&acct, rules)
	got := acct.Users[0]
	if !got.KeysKnown || got.Key(kid("OLD1")) == nil || got.Key(kid("NEW1")) == nil {
		t.Fatalf("keys not named from the rotation record: %+v", got.Keys)
	}
	if !got.Key(kid("NEW1")).Created.Equal(ago(1)) {
		t.Errorf("NEW1 is the key created %s, want the newest", got.Key(kid("NEW1")).Created)
	}

	// Rotated after the report: the report's keys may be gone; unknown, with the reason.
	u = user("a", reportAt(0.1), rotated("OLD1", "NEW1", 0.05, never), keys(fromReport(1, active("", 100, 2))))
	acct = inventory.Account{ID: "111111111111", Users: []inventory.User{u}}
	NameReportKeys(&acct, rules)
	if got := acct.Users[0]; got.KeysKnown || len(got.Keys) != 0 || got.Unknown == "" {
		t.Errorf("keys changed after the report: known=%v keys=%v unknown=%q", got.KeysKnown, got.Keys, got.Unknown)
	}

	// No record: placeholders stay.
	u = user("a", reportAt(0.1), keys(fromReport(1, active("", 100, 2))))
	acct = inventory.Account{ID: "111111111111", Users: []inventory.User{u}}
	NameReportKeys(&acct, rules)
	if id := acct.Users[0].Keys[0].ID; id != inventory.ReportKeyID(1) {
		t.Errorf("unnamed key id %v, want the slot 1 placeholder", id)
	}
}

// The credential report gives no creation date for an inactive key: reasons say so, not year 1.
func TestReasonsSayUnknownForADateNoSourceGave(t *testing.T) {
	k := inactive("OLD2", 0, never)
	k.Created = time.Time{}
	u := user("a", keys(active("OLD1", 120, 1), k))
	p := Evaluate([]inventory.Account{{ID: "111111111111", Users: []inventory.User{u}}}, DefaultRules(), now)
	found := false
	for _, st := range p.Steps {
		found = found || st.AccessKeyID == kid("OLD2")
		if strings.Contains(st.Reason, "0001-01-01") {
			t.Errorf("reason shows year 1: %s", st.Reason)
		}
		if st.AccessKeyID == kid("OLD2") && !strings.Contains(st.Reason, "created unknown") {
			t.Errorf("reason does not say the creation date is unknown: %s", st.Reason)
		}
	}
	if !found {
		t.Fatalf("no step about the inactive key: %+v", p.Steps)
	}
}

// An interrupted rotation left its intent and an orphan key created in the same second (the
// sandbox clock, or any AWS clock within reportSkew): the credential report shows two active
// keys. The intent's old key is the one created before the rotation started, not the orphan:
// the plan resumes the rotation (the executor's recovery deletes the orphan) instead of calling
// the intent stale and blocking the user on "two active keys" forever with the orphan active and
// its secret lost (I1; found by the chaos harness, seed 32).
func TestNameReportKeysIntentWithOrphan(t *testing.T) {
	rules := DefaultRules()
	in := inventory.RotationIntent{Started: ago(3), Old: kid("OLD1")}
	u := user("a", reportAt(0.1), tags(inventory.IntentTag("keycycle:"), in.TagValue()),
		keys(fromReport(1, active("", 120, 5)), fromReport(2, active("", 3, 0))))
	acct := inventory.Account{ID: "111111111111", Users: []inventory.User{u}}
	NameReportKeys(&acct, rules)
	got := acct.Users[0]
	if k := got.Key(kid("OLD1")); k == nil || !k.Created.Equal(ago(120)) {
		t.Fatalf("the intent's old key is not the key created before the intent: %+v", got.Keys)
	}
	p := Evaluate([]inventory.Account{acct}, rules, now)
	if len(p.Steps) == 0 || p.Steps[0].Action != plan.Rotate || p.Steps[0].AccessKeyID != kid("OLD1") {
		t.Fatalf("want the rotation of OLD1 resumed, got %+v", p.Steps)
	}
}

// The credential report gives no creation time for an inactive key: a reason says "unknown",
// not the zero date 0001-01-01 (found by the chaos harness in its plan output).
func TestReasonSaysUnknownForAReportKeyWithoutCreation(t *testing.T) {
	old := inactive("", 0, 60)
	old.Created = time.Time{}
	u := user("a", reportAt(0.1), keys(fromReport(1, active("", 120, 1)), fromReport(2, old)))
	acct := inventory.Account{ID: "111111111111", Users: []inventory.User{u}}
	NameReportKeys(&acct, DefaultRules())
	p := Evaluate([]inventory.Account{acct}, DefaultRules(), now)
	var text []string
	for _, st := range p.Steps {
		text = append(text, st.Reason)
	}
	all := strings.Join(text, "\n")
	if strings.Contains(all, "0001-01-01") || !strings.Contains(all, "created unknown") {
		t.Fatalf("reasons:\n%s", all)
	}
}
