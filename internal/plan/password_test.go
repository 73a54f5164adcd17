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

func TestPasswordStepsRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	u := inventory.User{Name: "alice", UserID: "AIDAALICE", LoginKnown: true,
		Login: &inventory.LoginProfile{Created: at.AddDate(0, -6, 0), LastUsed: at.AddDate(0, -2, 0), LastUsedKnown: true}}
	steps := []Step{
		{AccountID: "111111111111", User: "alice", UserID: "AIDAALICE", Credential: Password, Action: Warn, StartsWarning: true,
			Reason: "console password unused", Rule: "default", Precondition: LoginPreconditionOf(u)},
		{AccountID: "111111111111", User: "bob", UserID: "AIDABOB", Credential: Password, Action: Rotate,
			Reason: "password age 65d", Rule: "default", Precondition: LoginPreconditionOf(inventory.User{Name: "bob", LoginKnown: true,
				Login: &inventory.LoginProfile{LastUsedKnown: true}})},
	}
	p := New(at, steps)
	var buf bytes.Buffer
	if err := WriteJSON(&buf, p); err != nil {
		t.Fatal(err)
	}
	js := buf.String()
	for _, want := range []string{`"credential": "password"`, `"access_key_id": ""`, `"starts_warning": true`,
		`"login_profile": {`, `"exists": true`, `"created": null`, `"last_used": "2026-09-21T09:00:00Z"`} {
		if !strings.Contains(js, want) {
			t.Errorf("JSON lacks %s:\n%s", want, js)
		}
	}
	var back Plan
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, back); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
	var text bytes.Buffer
	if err := RenderText(&text, p, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "! warn        alice  password  console password unused") {
		t.Fatalf("text:\n%s", text.String())
	}

	// A hand-edited plan cannot make any other step start a warning.
	bad := strings.Replace(js, `"starts_warning": true`, `"starts_warning": true, "x": 1`, 1)
	bad = strings.Replace(bad, `"action": "warn"`, `"action": "skip"`, 1)
	bad = strings.Replace(bad, `"warn": 1`, `"warn": 0`, 1)
	bad = strings.Replace(bad, `"skip": 0`, `"skip": 1`, 1)
	if err := json.Unmarshal([]byte(bad), &back); err == nil || !strings.Contains(err.Error(), "starts_warning is only for a password warn step") {
		t.Fatalf("got %v", err)
	}
}

func TestStaleLogin(t *testing.T) {
	at := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	seen := &inventory.LoginProfile{Created: at.AddDate(-1, 0, 0), LastUsed: at.AddDate(0, -2, 0), LastUsedKnown: true}
	p := LoginPreconditionOf(inventory.User{Login: seen, LoginKnown: true})
	used := *seen
	used.LastUsed = at
	recreated := *seen
	recreated.Created = at
	for _, tc := range []struct {
		name  string
		p     Precondition
		fresh *inventory.LoginProfile
		a     Action
		want  string
	}{
		{"unchanged", p, seen, Delete, ""},
		{"gone", p, nil, Delete, "no longer exists"},
		{"recreated", p, &recreated, Rotate, "deleted and created again"},
		{"used since: a deletion is stale", p, &used, Delete, "used since the plan"},
		{"used since: a rotation is not", p, &used, Rotate, ""},
		{"appeared", LoginPreconditionOf(inventory.User{LoginKnown: true}), seen, Warn, "appeared"},
		{"key step: never stale here", Precondition{}, nil, Delete, ""},
	} {
		stale, why := tc.p.StaleLogin(tc.fresh, tc.a)
		if stale != (tc.want != "") || !strings.Contains(why, tc.want) {
			t.Errorf("%s: stale=%v %q, want %q", tc.name, stale, why, tc.want)
		}
	}
}

func TestChanges(t *testing.T) {
	for _, tc := range []struct {
		s    Step
		want bool
	}{
		{Step{Action: Rotate, Credential: AccessKey}, true},
		{Step{Action: Deactivate, Credential: AccessKey}, true},
		{Step{Action: Delete, Credential: Password}, true},
		{Step{Action: Warn, Credential: Password, StartsWarning: true}, true},
		{Step{Action: Warn, Credential: Password}, false},
		{Step{Action: Warn, Credential: AccessKey, StartsWarning: true}, false},
		{Step{Action: Skip, Credential: Password}, false},
		{Step{Action: Blocked, Credential: AccessKey}, false},
	} {
		if got := tc.s.Changes(); got != tc.want {
			t.Errorf("%+v: Changes %v, want %v", tc.s, got, tc.want)
		}
	}
}
