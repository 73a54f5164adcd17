package plan

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keycycle/keycycle/internal/inventory"
)

var (
	gen  = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	used = time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
)

func samplePlan() Plan {
	pre := Precondition{Keys: []KeyState{
		{ID: "AKIAALICEOLDKEY00001", Status: inventory.StatusActive, LastUsed: used, LastUsedKnown: true},
		{ID: "AKIAALICENEWKEY00002", Status: inventory.StatusInactive, LastUsedKnown: true},
	}}
	return New(gen, []Step{
		{AccountID: "111111111111", User: "alice", UserID: "AIDAALICE", Credential: AccessKey,
			AccessKeyID: "AKIAALICEOLDKEY00001", Action: Rotate, Reason: "key AKIA...0001 age 95d >= rotate_after 90d (rule 'default')",
			Rule: "default", Precondition: pre},
		{AccountID: "111111111111", User: "alice", UserID: "AIDAALICE", Credential: AccessKey,
			AccessKeyID: "AKIAALICENEWKEY00002", Action: Delete, Reason: "inactive key AKIA...0002 idle (rule 'default')",
			Rule: "default", Precondition: pre},
		{AccountID: "111111111111", User: "bob", UserID: "AIDABOB", Credential: AccessKey,
			Action: Warn, Reason: "exemption expired 2026-11-01: migration (rule 'default')", Rule: "default"},
		{AccountID: "222222222222", User: "auditor", UserID: "AIDAAUD", Credential: AccessKey,
			AccessKeyID: "AKIAAUDITORKEY000003", Action: Blocked, Reason: "two active keys (rule 'default')", Rule: "default"},
	})
}

func TestSortOrderWithinUser(t *testing.T) {
	p := samplePlan()
	var got []string
	for _, s := range p.Steps {
		got = append(got, s.User+":"+string(s.Action))
	}
	want := []string{"alice:delete", "alice:rotate", "bob:warn", "auditor:blocked"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("order (-want +got):\n%s", diff)
	}
	if p.Summary != (Summary{Rotate: 1, Delete: 1, Warn: 1, Blocked: 1}) {
		t.Fatalf("summary %+v", p.Summary)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	p := samplePlan()
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	// Full key ids in JSON, so a saved plan can be applied.
	if !bytes.Contains(b, []byte(`"access_key_id": "AKIAALICEOLDKEY00001"`)) {
		t.Fatalf("json lacks the full key id:\n%s", b)
	}
	for _, field := range []string{`"version": 1`, `"generated_at": "2026-11-21T09:00:00Z"`, `"credential": "access_key"`,
		`"summary": {`, `"last_used": null`, `"last_used": "2026-11-20T08:00:00Z"`} {
		if !bytes.Contains(b, []byte(field)) {
			t.Errorf("json lacks %s:\n%s", field, b)
		}
	}
	var back Plan
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, back); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
}

func TestJSONRefusals(t *testing.T) {
	good, _ := json.Marshal(samplePlan())
	for name, mut := range map[string]func(string) string{
		"version 2":       func(s string) string { return strings.Replace(s, `"version":1`, `"version":2`, 1) },
		"no version":      func(s string) string { return strings.Replace(s, `"version":1,`, ``, 1) },
		"unknown action":  func(s string) string { return strings.Replace(s, `"action":"rotate"`, `"action":"nuke"`, 1) },
		"unknown cred":    func(s string) string { return strings.Replace(s, `"credential":"access_key"`, `"credential":"x"`, 1) },
		"edited summary":  func(s string) string { return strings.Replace(s, `"delete":1`, `"delete":0`, 1) },
		"edited action":   func(s string) string { return strings.Replace(s, `"action":"warn"`, `"action":"delete"`, 1) },
		"not json at all": func(string) string { return "{" },
		// Outside input is checked, not trusted (issue 11).
		"account id": func(s string) string {
			return strings.Replace(s, `"account_id":"111111111111"`, `"account_id":"1111"`, 1)
		},
		"user with newline": func(s string) string {
			return strings.Replace(s, `"user":"alice"`, `"user":"alice
Plan: 0 to rotate"`, 1)
		},
		"user too long": func(s string) string {
			return strings.Replace(s, `"user":"alice"`, `"user":"`+strings.Repeat("a", 65)+`"`, 1)
		},
		"key id": func(s string) string {
			return strings.Replace(s, `"access_key_id":"AKIAALICEOLDKEY00001"`, `"access_key_id":"AKIA 1"`, 1)
		},
		"key status": func(s string) string { return strings.Replace(s, `"status":"Active"`, `"status":"Enabled"`, 1) },
	} {
		var p Plan
		if err := json.Unmarshal([]byte(mut(string(good))), &p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Unknown fields are tolerated: version 1 may grow.
	var p Plan
	if err := json.Unmarshal([]byte(strings.Replace(string(good), `"version":1`, `"version":1,"extra":true`, 1)), &p); err != nil {
		t.Errorf("unknown field refused: %v", err)
	}
}

func TestRenderText(t *testing.T) {
	var b bytes.Buffer
	if err := RenderText(&b, samplePlan(), false); err != nil {
		t.Fatal(err)
	}
	want := `account 111111111111
  - delete      alice    AKIA...0002  inactive key AKIA...0002 idle (rule 'default')
  + rotate      alice    AKIA...0001  key AKIA...0001 age 95d >= rotate_after 90d (rule 'default')
  ! warn        bob      -            exemption expired 2026-11-01: migration (rule 'default')

account 222222222222
  x blocked     auditor  AKIA...0003  two active keys (rule 'default')

Plan: 1 to rotate, 0 to deactivate, 1 to delete, 1 warning, 1 blocked, 0 skipped.
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Fatalf("text (-want +got):\n%s", diff)
	}
	if strings.Contains(b.String(), "\x1b[") {
		t.Fatal("colour without a terminal")
	}
	b.Reset()
	_ = RenderText(&b, samplePlan(), true)
	if !strings.Contains(b.String(), "\x1b[31m- delete") || strings.Contains(b.String(), "AKIAALICEOLDKEY00001") {
		t.Fatalf("colour text:\n%s", b.String())
	}
}

func TestRenderEmpty(t *testing.T) {
	var b bytes.Buffer
	_ = RenderText(&b, New(gen, nil), false)
	want := "No steps: no credential needs attention.\n\nPlan: 0 to rotate, 0 to deactivate, 0 to delete, 0 warnings, 0 blocked, 0 skipped.\n"
	if b.String() != want {
		t.Fatalf("got %q", b.String())
	}
}

func TestPreconditionStale(t *testing.T) {
	k1 := inventory.AccessKey{ID: "AKIAALICEOLDKEY00001", Status: inventory.StatusActive, LastUsed: used, LastUsedKnown: true}
	k2 := inventory.AccessKey{ID: "AKIAALICENEWKEY00002", Status: inventory.StatusInactive, LastUsedKnown: true}
	pre := PreconditionOf(inventory.User{Keys: []inventory.AccessKey{k1, k2}})
	if stale, why := pre.Stale([]inventory.AccessKey{k2, k1}); stale {
		t.Fatalf("same keys stale: %s", why)
	}
	unknown := k1
	unknown.LastUsedKnown, unknown.LastUsed = false, time.Time{}
	if stale, _ := pre.Stale([]inventory.AccessKey{unknown, k2}); stale {
		t.Fatal("an unknown last use is not a change")
	}
	usedAgain := k1
	usedAgain.LastUsed = used.Add(time.Hour)
	reactivated := k2
	reactivated.Status = inventory.StatusActive
	k3 := inventory.AccessKey{ID: "AKIAALICEXTRAKEY0003", Status: inventory.StatusActive}
	for name, fresh := range map[string][]inventory.AccessKey{
		"used since":  {usedAgain, k2},
		"status":      {k1, reactivated},
		"key gone":    {k1},
		"key appeard": {k1, k2, k3},
	} {
		stale, why := pre.Stale(fresh)
		if !stale || why == "" || strings.Contains(why, "AKIAALICE") {
			t.Errorf("%s: stale=%v why=%q", name, stale, why)
		}
	}
}

func TestPrintableEscapesWhatATerminalActsOn(t *testing.T) {
	for in, want := range map[string]string{
		"alice":                       "alice",
		"svc,batch+x=y.z@example.com": "svc,batch+x=y.z@example.com",
		"ünïcode":                     "ünïcode",
		"evil\nPlan: 0 to rotate":     `evil\nPlan: 0 to rotate`,
		"red\x1b[31mtext\x1b[0m":      `red\x1b[31mtext\x1b[0m`,
		"cr\rover":                    `cr\rover`,
		"bidi\u202ereversed":          `bidi\u202ereversed`,
		"line\u2028separator":         `line\u2028separator`,
		"bad\xffutf8":                 `bad\xffutf8`,
		"del\x7f and c1 \u009b":       `del\x7f and c1 \u009b`,
	} {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRenderTextEscapesUserNamesAndReasons(t *testing.T) {
	p := New(time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC), []Step{{AccountID: "111111111111", User: "mallory\x1b]0;owned\x07\nfake line",
		Credential: AccessKey, AccessKeyID: "AKIAEXAMPLEEXAMPLE01", Action: Rotate, Reason: "tag says \x1b[2J", Rule: "default"}})
	var b strings.Builder
	if err := RenderText(&b, p, false); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.ContainsAny(out, "\x1b\x07") || strings.Count(out, "\n") != 4 {
		t.Fatalf("raw control characters reached the text form:\n%q", out)
	}
	if !strings.Contains(out, `mallory\x1b]0;owned\a\nfake line`) {
		t.Errorf("escaped user name missing:\n%s", out)
	}
}
