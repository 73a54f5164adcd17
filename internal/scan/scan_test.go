package scan

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/policy"
)

func TestParseReportValues(t *testing.T) {
	csv := "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n" +
		"<root_account>,arn:aws:iam::111111111111:root,2020-01-01T00:00:00+00:00,not_supported,no_information,not_supported,not_supported,false,true,2020-01-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n" +
		"alice,arn:aws:iam::111111111111:user/alice,2025-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,true,2026-08-18T09:00:00+00:00,2026-11-20T09:00:00+00:00,us-east-1,s3,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n" +
		"bob,arn:aws:iam::111111111111:user/bob,2025-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
	rows, err := parseReport([]byte(csv))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rows["<root_account>"]; ok {
		t.Fatal("the root row is not a user")
	}
	keys := rows["alice"].keys()
	if len(keys) != 1 || !keys[0].Active() || !keys[0].Created.Equal(time.Date(2026, 8, 18, 9, 0, 0, 0, time.UTC)) ||
		!keys[0].LastUsed.Equal(time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)) || keys[0].LastUsedService != "s3" {
		t.Fatalf("alice keys = %+v", keys)
	}
	if keys := rows["bob"].keys(); len(keys) != 0 {
		t.Fatalf("bob has no keys the report can see: %+v", keys)
	}
	if _, err := parseReport([]byte("user,arn\nx,y\n")); err == nil {
		t.Fatal("a report without the key columns must be refused")
	}
}

func scenarioOf(n int) *awssim.Scenario {
	users := make([]awssim.ScenarioUser, n)
	for i := range users {
		users[i] = awssim.ScenarioUser{Name: fmt.Sprintf("u%05d", i), Tags: map[string]string{"team": "t"},
			AccessKeys: []awssim.ScenarioKey{{AgeDays: 10 + i%200, Status: "Active"}}}
	}
	return &awssim.Scenario{Accounts: []awssim.ScenarioAccount{{ID: "111111111111", Alias: "scan", Users: users}}}
}

func TestScanReadsEveryPageInFewCalls(t *testing.T) {
	sb, cfg := awssimtest.Start(t, awssimtest.WithScenario(scenarioOf(2500)))
	s := &Scanner{IAM: iam.NewFromConfig(cfg), PollInterval: time.Millisecond,
		NeedsDetail: func(u inventory.User) bool {
			return u.Keys[0].Created.Before(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
		}}
	acct, st, err := s.Scan(context.Background(), "111111111111")
	if err != nil {
		t.Fatal(err)
	}
	if len(acct.Users) != 2500 || st.Users != 2500 || acct.Alias != "scan" {
		t.Fatalf("users %d, stats %+v, alias %q", len(acct.Users), st, acct.Alias)
	}
	detailed := 0
	for _, u := range acct.Users {
		if !u.KeysKnown || len(u.Keys) != 1 || u.Tags["team"] != "t" {
			t.Fatalf("user %+v", u)
		}
		if !u.Keys[0].ID.FromReport() {
			detailed++
		}
	}
	calls := sb.Stats().Calls["111111111111"]["iam"]
	if calls["GetAccountAuthorizationDetails"] != 3 || calls["ListAccessKeys"] != detailed || detailed != st.Detailed || detailed == 0 || detailed == 2500 {
		t.Fatalf("calls %v, detailed %d, stats %+v", calls, detailed, st)
	}
}

func TestUserCreatedAfterReportIsReadFresh(t *testing.T) {
	sb, cfg := awssimtest.Start(t, awssimtest.WithScenario(scenarioOf(3)))
	c := iam.NewFromConfig(cfg)
	s := &Scanner{IAM: c, PollInterval: time.Millisecond, NeedsDetail: func(inventory.User) bool { return false }}
	if _, _, err := s.Scan(context.Background(), "111111111111"); err != nil {
		t.Fatal(err)
	}
	// A user created after the report: the report (fresh for 4 hours) does not know it.
	if _, err := c.CreateUser(context.Background(), &iam.CreateUserInput{UserName: aws.String("late")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateAccessKey(context.Background(), &iam.CreateAccessKeyInput{UserName: aws.String("late")}); err != nil {
		t.Fatal(err)
	}
	sb.Clock().Advance(time.Hour)
	acct, _, err := s.Scan(context.Background(), "111111111111")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range acct.Users {
		if u.Name == "late" {
			if !u.KeysKnown || len(u.Keys) != 1 || u.Keys[0].ID == "" {
				t.Fatalf("late user must be read fresh: %+v", u)
			}
			return
		}
	}
	t.Fatal("late user missing")
}

func TestFailedAccountReadFailsTheScan(t *testing.T) {
	_, cfg := awssimtest.Start(t, awssimtest.WithScenario(scenarioOf(3)), awssimtest.WithFaults(awssim.Faults{Errors: []awssim.ErrorRule{
		{Match: awssim.Match{Action: "GetAccountAuthorizationDetails"}, Code: "Throttling"},
	}}))
	s := &Scanner{IAM: iam.NewFromConfig(cfg), PollInterval: time.Millisecond}
	if _, _, err := s.Scan(context.Background(), "111111111111"); err == nil {
		t.Fatal("a throttled user listing must fail the scan, never look like an empty account")
	}
}

// subSecondIAM is an endpoint that gives users sub-second creation times (as some emulators do),
// and can damage one line of the credential report.
type subSecondIAM struct {
	*iam.Client
	damage string // user whose report line loses its last field
}

func (c subSecondIAM) GetAccountAuthorizationDetails(ctx context.Context, in *iam.GetAccountAuthorizationDetailsInput, optFns ...func(*iam.Options)) (*iam.GetAccountAuthorizationDetailsOutput, error) {
	out, err := c.Client.GetAccountAuthorizationDetails(ctx, in, optFns...)
	if err == nil {
		for i := range out.UserDetailList {
			out.UserDetailList[i].CreateDate = aws.Time(out.UserDetailList[i].CreateDate.Add(417 * time.Millisecond))
		}
	}
	return out, err
}

func (c subSecondIAM) GetCredentialReport(ctx context.Context, in *iam.GetCredentialReportInput, optFns ...func(*iam.Options)) (*iam.GetCredentialReportOutput, error) {
	out, err := c.Client.GetCredentialReport(ctx, in, optFns...)
	if err != nil || c.damage == "" {
		return out, err
	}
	lines := strings.Split(string(out.Content), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, c.damage+",") {
			lines[i] = l[:strings.LastIndex(l, ",")]
		}
	}
	out.Content = []byte(strings.Join(lines, "\n"))
	return out, nil
}

func TestReportRowsMatchSubSecondCreationTimes(t *testing.T) {
	sb, cfg := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, `
accounts:
  - id: "111111111111"
    users:
      - {name: a, access_keys: [{age_days: 5}], login_profile: {}}
      - {name: b, access_keys: [{age_days: 5}]}
`))
	s := &Scanner{IAM: subSecondIAM{Client: iam.NewFromConfig(cfg)}, PollInterval: time.Millisecond,
		NeedsDetail: func(inventory.User) bool { return false }}
	acct, st, err := s.Scan(context.Background(), "111111111111")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range acct.Users {
		if u.Created.Nanosecond() == 0 {
			t.Fatalf("setup: %s must have a sub-second creation time", u.Name)
		}
		// Matched by name and second: the report describes the user, MFA included.
		if !u.KeysKnown || len(u.Keys) != 1 || !u.MFAKnown || u.Unknown != "" {
			t.Fatalf("%s not matched to its report row: %+v", u.Name, u)
		}
	}
	if calls := sb.Stats().Calls["111111111111"]["iam"]; st.Detailed != 0 || calls["ListAccessKeys"] != 0 {
		t.Fatalf("matched users need no fresh read: detailed %d, calls %v", st.Detailed, calls)
	}
	// A user recreated under the same name a second or more later is not matched.
	if (reportRow{created: time.Unix(100, 0)}).matches(time.Unix(101, 0)) || !(reportRow{created: time.Unix(100, 0)}).matches(time.Unix(100, 999_000_000)) {
		t.Fatal("rows match to the second, and only to the second")
	}
}

func TestBadReportLineMarksOnlyThatUserUnknown(t *testing.T) {
	sb, cfg := awssimtest.Start(t, awssimtest.WithScenario(scenarioOf(3)))
	s := &Scanner{IAM: subSecondIAM{Client: iam.NewFromConfig(cfg), damage: "u00001"}, PollInterval: time.Millisecond,
		NeedsDetail: func(inventory.User) bool { return false }, Logins: true}
	acct, _, err := s.Scan(context.Background(), "111111111111")
	if err != nil {
		t.Fatalf("one bad line must not abandon the account: %v", err)
	}
	by := map[string]inventory.User{}
	for _, u := range acct.Users {
		by[u.Name] = u
	}
	bad := by["u00001"]
	if bad.KeysKnown || bad.LoginKnown || !strings.Contains(bad.Unknown, "credential report line 4 unreadable") {
		t.Fatalf("the damaged user must be unknown with the line named: %+v", bad)
	}
	for _, n := range []string{"u00000", "u00002"} {
		if u := by[n]; !u.KeysKnown || len(u.Keys) != 1 || !u.MFAKnown {
			t.Fatalf("%s must be parsed from the report: %+v", n, u)
		}
	}
	if calls := sb.Stats().Calls["111111111111"]["iam"]; calls["ListAccessKeys"] != 0 {
		t.Fatalf("a fresh read must not make the damaged user look known: %v", calls)
	}
	// The plan acts on the others and leaves the damaged user alone.
	rules := policy.DefaultRules()
	rules.Default.RotateAfter = policy.Day
	p := policy.Evaluate([]inventory.Account{acct}, rules, sb.Clock().Now())
	acted := map[string]plan.Action{}
	for _, st := range p.Steps {
		if st.Credential == plan.AccessKey {
			acted[st.User] = st.Action
		}
	}
	if acted["u00000"] != plan.Rotate || acted["u00002"] != plan.Rotate || acted["u00001"] != plan.Skip {
		t.Fatalf("steps %v", acted)
	}
}

func TestAccountErrorNamesTheAccountOnce(t *testing.T) {
	_, cfg := awssimtest.Start(t, awssimtest.WithScenario(scenarioOf(1)), awssimtest.WithFaults(awssim.Faults{Errors: []awssim.ErrorRule{
		{Match: awssim.Match{Action: "GenerateCredentialReport"}, Code: "AccessDenied", Status: 403},
	}}))
	s := &Scanner{IAM: iam.NewFromConfig(cfg), PollInterval: time.Millisecond}
	_, _, err := s.Scan(context.Background(), "111111111111")
	var ae *AccountError
	if !errors.As(err, &ae) || ae.AccountID != "111111111111" || strings.Count(err.Error(), "111111111111") != 1 {
		t.Fatalf("err = %v", err)
	}
}
