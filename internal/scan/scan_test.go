package scan

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
	"github.com/keycycle/keycycle/internal/inventory"
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
		if u.Keys[0].ID != "" {
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
