package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/keycycle/keycycle/internal/inventory"
)

func TestParseDuration(t *testing.T) {
	ok := map[string]time.Duration{
		"90d": 90 * Day, "12h": 12 * time.Hour, "1d12h": 36 * time.Hour, "5m": 5 * time.Minute,
		"0": 0, " 10d ": 10 * Day, "1d2h3m4s": Day + 2*time.Hour + 3*time.Minute + 4*time.Second, "0d": 0,
	}
	for in, want := range ok {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	bad := map[string]string{
		"":                      "empty",
		"-5d":                   "negative",
		"90":                    "no unit",
		"1.5d":                  "invalid",
		"12h1d":                 "largest first",
		"1d1d":                  "largest first",
		"ninety days":           "invalid",
		"90 d":                  "invalid",
		"3w":                    "units d, h, m, s",
		"99999999999999999999d": "too large",
		"999999999d":            "too large",
	}
	for in, frag := range bad {
		_, err := ParseDuration(in)
		if err == nil || !strings.Contains(err.Error(), frag) {
			t.Errorf("ParseDuration(%q) error %v, want one mentioning %q", in, err, frag)
		}
	}
	for _, d := range []time.Duration{0, 90 * Day, 36 * time.Hour, 5 * time.Minute, Day + time.Second} {
		back, err := ParseDuration(FormatDuration(d))
		if err != nil || back != d {
			t.Errorf("round trip %v: %q -> %v, %v", d, FormatDuration(d), back, err)
		}
	}
	if FormatDuration(-36*time.Hour) != "-1d12h" || FormatDuration(time.Millisecond) != "0" {
		t.Error("FormatDuration edge cases")
	}
}

func TestParseExemption(t *testing.T) {
	d := func(s string) time.Time { t, _ := time.Parse("2006-01-02", s); return t }
	ok := map[string]Exemption{
		"until=2027-01-31 reason=vendor appliance OPS-123": {Until: d("2027-01-31"), Reason: "vendor appliance OPS-123"},
		"reason=break-glass account":                       {Reason: "break-glass account"},
		"until=2027-01-31":                                 {Until: d("2027-01-31")},
		"2027-01-31":                                       {Until: d("2027-01-31")},
		"":                                                 {},
		"true":                                             {},
		"legacy appliance":                                 {Reason: "legacy appliance"},
		"until=2027-01-31T12:00:00Z reason=x":              {Until: d("2027-01-31").Add(12 * time.Hour), Reason: "x"},
	}
	for in, want := range ok {
		got, err := ParseExemption(in)
		if err != nil || !got.Until.Equal(want.Until) || got.Reason != want.Reason {
			t.Errorf("ParseExemption(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"until=someday", "until=2027-01-31 until=2027-02-01", "until=2027-01-31 later reason=x"} {
		if _, err := ParseExemption(in); err == nil {
			t.Errorf("ParseExemption(%q) accepted", in)
		}
	}
}

func TestTriage(t *testing.T) {
	// Keys as the credential report gives them: no ids.
	rep := func(k inventory.AccessKey) inventory.AccessKey { k.ID = ""; return k }
	tests := []struct {
		name string
		u    inventory.User
		want bool
	}{
		{"fresh key", user("a", keys(rep(active("A", 30, 1)))), false},
		{"warn lead", user("a", keys(rep(active("A", 80, 1)))), true},
		{"due", user("a", keys(rep(active("A", 95, 1)))), true},
		{"two active keys, young", user("a", keys(rep(active("A", 30, 1)), rep(active("B", 10, 1)))), false},
		{"two active keys, one due", user("a", keys(rep(active("A", 100, 1)), rep(active("B", 10, 1)))), true},
		{"only inactive keys", user("a", keys(rep(inactive("A", 300, 200)))), false},
		{"state tag", user("a", keys(rep(active("A", 30, 1))), rotated("OLD0", "NEW1", 20, never)), true},
		{"intent tag", user("a", keys(rep(active("A", 30, 1))), tags("keycycle:rotation", "x")), true},
		{"exempt, due", user("a", keys(rep(active("A", 300, 1))), groups("IAMKeyRotationExemptionGroup")), false},
		{"expired exemption", user("a", keys(rep(active("A", 30, 1))), tags("keycycle:exempt", "until=2026-01-01")), true},
		{"no keys", user("a"), false},
		{"keys unknown", func() inventory.User { u := user("a"); u.KeysKnown = false; return u }(), true},
		// The report gives no creation time for inactive keys: zero looks ancient, so fetch.
		{"inactive beside a due key, creation unknown", user("a", keys(rep(active("A", 95, 1)), inventory.AccessKey{Status: inventory.StatusInactive, LastUsedKnown: true})), true},
	}
	for _, tc := range tests {
		if got := Triage(tc.u, DefaultRules(), now); got != tc.want {
			t.Errorf("%s: Triage = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRulesValidate(t *testing.T) {
	if err := DefaultRules().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	r := DefaultRules()
	r.Default.WarnBefore = 100 * Day
	r.Default.HardLimit = 30 * Day
	r.Named = []Rule{{Name: "default", Thresholds: DefaultThresholds()}}
	r.Selection.Mode = "sometimes"
	r.TwoActiveKeys = TwoActiveKeys{Mode: TwoKeysDeactivateUnused}
	r.MaxDestructive = -2
	err := r.Validate()
	for _, frag := range []string{"warn_before 100d must be less", "hard_limit 30d must be more", `name "default" empty or used twice`,
		"empty match", `unknown selection mode "sometimes"`, "unused_for must be more than 0", "max_destructive"} {
		if err == nil || !strings.Contains(err.Error(), frag) {
			t.Errorf("want %q in %v", frag, err)
		}
	}
}
