package scan

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
	"github.com/keycycle/keycycle/internal/inventory"
)

const loginScenario = `
start: 2026-11-21T09:00:00Z
accounts:
  - id: "111111111111"
    users:
      - name: console
        mfa: true
        login_profile: {age_days: 100, password_age_days: 70, last_used_days_ago: 3, reset_required: true}
      - name: idle
        login_profile: {age_days: 50}
      - name: keysonly
        access_keys: [{age_days: 10, status: Active}]
`

func day(daysAgo int) time.Time {
	return time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC).Add(-time.Duration(daysAgo) * 24 * time.Hour)
}

func byName(acct inventory.Account) map[string]inventory.User {
	m := map[string]inventory.User{}
	for _, u := range acct.Users {
		m[u.Name] = u
	}
	return m
}

// TestReportDescribesConsolePasswords: without detail reads, the credential report's password
// and MFA columns describe every user's console password.
func TestReportDescribesConsolePasswords(t *testing.T) {
	sb, cfg := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, loginScenario))
	s := &Scanner{IAM: iam.NewFromConfig(cfg), PollInterval: time.Millisecond, Logins: true,
		NeedsDetail: func(inventory.User) bool { return false }}
	acct, _, err := s.Scan(context.Background(), "111111111111")
	if err != nil {
		t.Fatal(err)
	}
	us := byName(acct)
	c := us["console"]
	if !c.LoginKnown || c.Login == nil || !c.Login.PasswordChanged.Equal(day(70)) || !c.Login.LastUsed.Equal(day(3)) ||
		!c.Login.LastUsedKnown || !c.Login.Created.IsZero() || !c.MFAKnown || !c.MFA {
		t.Fatalf("console = %+v login %+v", c, c.Login)
	}
	if i := us["idle"]; !i.LoginKnown || i.Login == nil || !i.Login.LastUsed.IsZero() || !i.Login.PasswordChanged.Equal(day(50)) || i.MFA || !i.MFAKnown {
		t.Fatalf("idle = %+v login %+v", i, i.Login)
	}
	if k := us["keysonly"]; !k.LoginKnown || k.Login != nil {
		t.Fatalf("keysonly = %+v", k)
	}
	if calls := sb.Stats().Calls["111111111111"]["iam"]; calls["GetLoginProfile"] != 0 {
		t.Fatalf("no detail, no GetLoginProfile: %v", calls)
	}
}

// TestDetailReadsTheLoginProfileFresh: a detailed user's login profile comes from GetLoginProfile
// and GetUser, with the change date from the report; users without a password cost no call.
func TestDetailReadsTheLoginProfileFresh(t *testing.T) {
	sb, cfg := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, loginScenario))
	s := &Scanner{IAM: iam.NewFromConfig(cfg), PollInterval: time.Millisecond, Logins: true}
	acct, _, err := s.Scan(context.Background(), "111111111111")
	if err != nil {
		t.Fatal(err)
	}
	us := byName(acct)
	c := us["console"]
	if !c.LoginKnown || c.Login == nil || !c.Login.Created.Equal(day(100)) || !c.Login.PasswordChanged.Equal(day(70)) ||
		!c.Login.LastUsed.Equal(day(3)) || !c.Login.ResetRequired {
		t.Fatalf("console login %+v", c.Login)
	}
	if i := us["idle"]; i.Login == nil || !i.Login.LastUsedKnown || !i.Login.LastUsed.IsZero() || !i.Login.Created.Equal(day(50)) {
		t.Fatalf("idle login %+v", i.Login)
	}
	if calls := sb.Stats().Calls["111111111111"]["iam"]; calls["GetLoginProfile"] != 2 {
		t.Fatalf("GetLoginProfile for the two users with a password only: %v", calls)
	}
}

// TestFailedLoginReadIsUnknown: a refused GetLoginProfile makes the user's password unknown,
// never "no password", and leaves its keys known.
func TestFailedLoginReadIsUnknown(t *testing.T) {
	_, cfg := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, loginScenario), awssimtest.WithFaults(awssim.Faults{Errors: []awssim.ErrorRule{
		{Match: awssim.Match{Action: "GetLoginProfile"}, Code: "AccessDenied"},
	}}))
	s := &Scanner{IAM: iam.NewFromConfig(cfg), PollInterval: time.Millisecond, Logins: true}
	acct, _, err := s.Scan(context.Background(), "111111111111")
	if err != nil {
		t.Fatal(err)
	}
	c := byName(acct)["console"]
	if c.LoginKnown || c.Login != nil || !strings.Contains(c.LoginUnknown, "AccessDenied") || !c.KeysKnown {
		t.Fatalf("console = %+v", c)
	}
}

func TestParseReportPasswordColumns(t *testing.T) {
	csv := "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_2_active\n" +
		"<root_account>,arn:aws:iam::111111111111:root,2020-01-01T00:00:00+00:00,not_supported,no_information,not_supported,not_supported,false,false,N/A,N/A,false\n" +
		"old,arn:aws:iam::111111111111:user/old,2014-01-01T00:00:00+00:00,true,no_information,2014-02-01T00:00:00+00:00,N/A,false,false,N/A,N/A,false\n" +
		"odd,arn:aws:iam::111111111111:user/odd,2020-01-01T00:00:00+00:00,not_supported,N/A,N/A,N/A,maybe,false,N/A,N/A,false\n"
	rows, err := parseReport([]byte(csv))
	if err != nil {
		t.Fatal(err)
	}
	if l := rows["old"].login(); l == nil || !l.LastUsedKnown || !l.LastUsed.IsZero() || l.PasswordChanged.Year() != 2014 {
		t.Fatalf("no_information is counted as never used: %+v", l)
	}
	if r := rows["odd"]; r.passwordKnown || r.mfaKnown || r.login() != nil {
		t.Fatalf("values the report does not define are unknown: %+v", r)
	}
}

// TestKeyDetailKeepsTheReportsPasswordView: with NeedsDetail (the cheap scan), a user read fresh
// for its keys keeps the credential report's view of its console password, like every user the
// report alone describes: a fresh read would date an unused password from the login profile's
// creation instead, and change the plan of that user only (I5, found by the chaos harness as
// console-idle-report-vs-fresh).
func TestKeyDetailKeepsTheReportsPasswordView(t *testing.T) {
	sb, cfg := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, loginScenario))
	s := &Scanner{IAM: iam.NewFromConfig(cfg), PollInterval: time.Millisecond, Logins: true,
		NeedsDetail: func(inventory.User) bool { return true }}
	acct, st, err := s.Scan(context.Background(), "111111111111")
	if err != nil {
		t.Fatal(err)
	}
	if st.Detailed == 0 {
		t.Fatal("no user was read fresh")
	}
	c := byName(acct)["console"]
	if !c.LoginKnown || c.Login == nil || !c.Login.Created.IsZero() || !c.Login.PasswordChanged.Equal(day(70)) {
		t.Fatalf("console login %+v, want the report's (no creation date, changed 70 days ago)", c.Login)
	}
	if calls := sb.Stats().Calls["111111111111"]["iam"]; calls["GetLoginProfile"] != 0 || calls["ListAccessKeys"] == 0 {
		t.Fatalf("keys read fresh, passwords from the report: %v", calls)
	}
}
