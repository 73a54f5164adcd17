package awssim_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
)

func callGenerateReport(t *testing.T, c *iam.Client) iamtypes.ReportStateType {
	t.Helper()
	out, err := c.GenerateCredentialReport(context.Background(), &iam.GenerateCredentialReportInput{})
	if err != nil {
		t.Fatalf("GenerateCredentialReport: %v", err)
	}
	return out.State
}

// fetchReport reads the credential report and returns its rows (header first).
func fetchReport(t *testing.T, c *iam.Client) ([][]string, time.Time) {
	t.Helper()
	out, err := c.GetCredentialReport(context.Background(), &iam.GetCredentialReportInput{})
	if err != nil {
		t.Fatalf("GetCredentialReport: %v", err)
	}
	if out.ReportFormat != iamtypes.ReportFormatTypeTextCsv {
		t.Fatalf("ReportFormat = %q", out.ReportFormat)
	}
	rows, err := csv.NewReader(strings.NewReader(string(out.Content))).ReadAll()
	if err != nil {
		t.Fatalf("report is not CSV: %v\n%s", err, out.Content)
	}
	return rows, aws.ToTime(out.GeneratedTime)
}

func reportUsers(rows [][]string) []string {
	var names []string
	for _, r := range rows[1:] {
		names = append(names, r[0])
	}
	return names
}

func TestCredentialReportIsStaleForFourSandboxHours(t *testing.T) {
	ctx := context.Background()
	sb, cfg := awssimtest.Start(t)
	c := iam.NewFromConfig(cfg)
	start := sb.Clock().Now()

	_, err := c.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	var notPresent *iamtypes.CredentialReportNotPresentException
	if !errors.As(err, &notPresent) {
		t.Fatalf("before any generation: want CredentialReportNotPresentException, got %v", err)
	}
	wantAPIError(t, err, "ReportNotPresent", http.StatusGone)

	if got := callGenerateReport(t, c); got != iamtypes.ReportStateTypeStarted {
		t.Fatalf("first generation: state %s", got)
	}
	rows, generated := fetchReport(t, c)
	want := []string{"<root_account>", "alice", "bob", "ci-deployer", "legacy-batch"}
	if got := reportUsers(rows); !slices.Equal(got, want) {
		t.Fatalf("report rows = %v, want %v", got, want)
	}
	if !generated.Equal(start) {
		t.Fatalf("GeneratedTime = %v, want %v", generated, start)
	}

	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("dave")}); err != nil {
		t.Fatal(err)
	}
	sb.Clock().Advance(time.Hour)
	if got := callGenerateReport(t, c); got != iamtypes.ReportStateTypeComplete {
		t.Fatalf("regenerate at +1h: state %s, want COMPLETE (the report is kept)", got)
	}
	rows, generated = fetchReport(t, c)
	if slices.Contains(reportUsers(rows), "dave") || !generated.Equal(start) {
		t.Fatalf("at +1h the report must still be the first snapshot: %v generated %v", reportUsers(rows), generated)
	}

	sb.Clock().Advance(3*time.Hour + time.Minute)
	_, err = c.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	var expired *iamtypes.CredentialReportExpiredException
	if !errors.As(err, &expired) {
		t.Fatalf("at +4h01m without regenerating: want CredentialReportExpiredException, got %v", err)
	}
	wantAPIError(t, err, "ReportExpired", http.StatusGone)

	if got := callGenerateReport(t, c); got != iamtypes.ReportStateTypeStarted {
		t.Fatalf("regenerate at +4h01m: state %s, want STARTED", got)
	}
	rows, generated = fetchReport(t, c)
	if !slices.Contains(reportUsers(rows), "dave") {
		t.Fatalf("the new report lacks dave: %v", reportUsers(rows))
	}
	if want := start.Add(4*time.Hour + time.Minute); !generated.Equal(want) {
		t.Fatalf("GeneratedTime = %v, want %v", generated, want)
	}

	// Reports are per account.
	other := iam.NewFromConfig(sb.AccountConfig(t, "222222222222"))
	if _, err := other.GetCredentialReport(ctx, &iam.GetCredentialReportInput{}); !errors.As(err, &notPresent) {
		t.Fatalf("account 222222222222 generated nothing: want ReportNotPresent, got %v", err)
	}
}

func TestCredentialReportInProgressUntilReportDelay(t *testing.T) {
	ctx := context.Background()
	wall := newManualWall()
	_, cfg := awssimtest.Start(t, withWallClock(wall), awssimtest.WithFaults(awssim.Faults{ReportDelay: awssim.Duration(30 * time.Second)}))
	c := iam.NewFromConfig(cfg)

	if got := callGenerateReport(t, c); got != iamtypes.ReportStateTypeStarted {
		t.Fatalf("state %s", got)
	}
	_, err := c.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	var notReady *iamtypes.CredentialReportNotReadyException
	if !errors.As(err, &notReady) {
		t.Fatalf("want CredentialReportNotReadyException, got %v", err)
	}
	wantAPIError(t, err, "ReportInProgress", http.StatusNotFound)
	if got := callGenerateReport(t, c); got != iamtypes.ReportStateTypeInprogress {
		t.Fatalf("while generating: state %s, want INPROGRESS", got)
	}

	wall.Advance(30 * time.Second)
	fetchReport(t, c)
	if got := callGenerateReport(t, c); got != iamtypes.ReportStateTypeComplete {
		t.Fatalf("once ready: state %s, want COMPLETE", got)
	}
}

const reportScenario = `
start: 2026-11-21T09:00:00Z
accounts:
  - id: "123456789012"
    password_policy: {minimum_length: 8, max_password_age: 90}
    groups: [ops]
    root_access_keys:
      - {age_days: 500, last_used_days_ago: 400, last_used_service: iam, last_used_region: us-west-2}
    users:
      - name: zed
        age_days: 10
      - name: Amy
        mfa: true
        groups: [ops]
        login_profile: {age_days: 40, password_age_days: 20, last_used_days_ago: 3}
        access_keys:
          - {age_days: 5, status: Inactive, last_used_days_ago: 4, last_used_service: s3, last_used_region: eu-west-1}
          - {age_days: 100, status: Active}
      - name: nopw
        login_profile: {age_days: 7}
`

func TestCredentialReportColumnsAndValues(t *testing.T) {
	sb, cfg := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, reportScenario))
	c := iam.NewFromConfig(cfg)
	callGenerateReport(t, c)
	rows, _ := fetchReport(t, c)

	start := sb.Clock().Now()
	ago := func(days int) string {
		return start.Add(-time.Duration(days) * 24 * time.Hour).Format("2006-01-02T15:04:05+00:00")
	}
	noKeys := []string{"false", "N/A", "N/A", "N/A", "N/A"}
	certs := []string{"false", "N/A", "false", "N/A"}
	row := func(parts ...[]string) []string { return slices.Concat(parts...) }
	want := [][]string{
		{"user", "arn", "user_creation_time", "password_enabled", "password_last_used", "password_last_changed",
			"password_next_rotation", "mfa_active", "access_key_1_active", "access_key_1_last_rotated",
			"access_key_1_last_used_date", "access_key_1_last_used_region", "access_key_1_last_used_service",
			"access_key_2_active", "access_key_2_last_rotated", "access_key_2_last_used_date",
			"access_key_2_last_used_region", "access_key_2_last_used_service", "cert_1_active",
			"cert_1_last_rotated", "cert_2_active", "cert_2_last_rotated"},
		row([]string{"<root_account>", "arn:aws:iam::123456789012:root", ago(500), "not_supported", "no_information",
			"not_supported", "not_supported", "false", "true", ago(500), ago(400), "us-west-2", "iam"}, noKeys, certs),
		// Amy: the 100-day key is the older, so it is access_key_1; the inactive key has no last_rotated.
		row([]string{"Amy", "arn:aws:iam::123456789012:user/Amy", ago(130), "true", ago(3), ago(20), ago(20 - 90), "true",
			"true", ago(100), "N/A", "N/A", "N/A", "false", "N/A", ago(4), "eu-west-1", "s3"}, certs),
		row([]string{"nopw", "arn:aws:iam::123456789012:user/nopw", ago(37), "true", "no_information", ago(7), ago(7 - 90), "false"},
			noKeys, noKeys, certs),
		row([]string{"zed", "arn:aws:iam::123456789012:user/zed", ago(10), "false", "N/A", "N/A", "N/A", "false"},
			noKeys, noKeys, certs),
	}
	if len(want[0]) != 22 {
		t.Fatalf("test header has %d columns", len(want[0]))
	}
	if len(rows) != len(want) {
		t.Fatalf("report has %d rows, want %d:\n%v", len(rows), len(want), rows)
	}
	for i := range want {
		if !slices.Equal(rows[i], want[i]) {
			t.Errorf("row %d:\n got %q\nwant %q", i, rows[i], want[i])
		}
	}
}

func TestGetAccountAuthorizationDetailsPagesAcrossLists(t *testing.T) {
	ctx := context.Background()
	_, cfg := awssimtest.Start(t)
	c := iam.NewFromConfig(cfg)

	var users, groups, roles []string
	pages := 0
	p := iam.NewGetAccountAuthorizationDetailsPaginator(c, &iam.GetAccountAuthorizationDetailsInput{MaxItems: aws.Int32(2)})
	var alice iamtypes.UserDetail
	var member iamtypes.RoleDetail
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if n := len(out.UserDetailList) + len(out.GroupDetailList) + len(out.RoleDetailList); n > 2 {
			t.Fatalf("page %d has %d entries, MaxItems is 2", pages, n)
		}
		for _, u := range out.UserDetailList {
			users = append(users, aws.ToString(u.UserName))
			if aws.ToString(u.UserName) == "alice" {
				alice = u
			}
		}
		for _, g := range out.GroupDetailList {
			groups = append(groups, aws.ToString(g.GroupName))
		}
		for _, r := range out.RoleDetailList {
			roles = append(roles, aws.ToString(r.RoleName))
			member = r
		}
	}
	if pages != 4 {
		t.Errorf("pages = %d, want 4 (7 entries, 2 per page)", pages)
	}
	if want := []string{"alice", "bob", "ci-deployer", "legacy-batch"}; !slices.Equal(users, want) {
		t.Errorf("users = %v, want %v", users, want)
	}
	if want := []string{"developers", "IAMKeyRotationExemptionGroup"}; !slices.Equal(groups, want) {
		t.Errorf("groups = %v, want %v", groups, want)
	}
	if want := []string{"KeycycleMember"}; !slices.Equal(roles, want) {
		t.Errorf("roles = %v, want %v", roles, want)
	}
	if aws.ToString(alice.Path) != "/people/" || !slices.Equal(alice.GroupList, []string{"developers"}) ||
		len(alice.Tags) != 1 || aws.ToString(alice.Tags[0].Key) != "owner" ||
		!strings.HasPrefix(aws.ToString(alice.UserId), "AIDA") || aws.ToString(alice.Arn) != "arn:aws:iam::111111111111:user/people/alice" {
		t.Errorf("alice = %+v", alice)
	}

	// The trust policy comes URL-encoded, as IAM answers it.
	raw, err := url.QueryUnescape(aws.ToString(member.AssumeRolePolicyDocument))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Statement []struct {
			Effect    string
			Action    string
			Principal struct{ AWS string }
		}
	}
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		t.Fatalf("trust policy %q: %v", raw, err)
	}
	if len(doc.Statement) != 1 || doc.Statement[0].Principal.AWS != "arn:aws:iam::222222222222:root" || doc.Statement[0].Action != "sts:AssumeRole" {
		t.Errorf("trust policy = %s", raw)
	}

	// Filter=User answers users only.
	out, err := c.GetAccountAuthorizationDetails(ctx, &iam.GetAccountAuthorizationDetailsInput{Filter: []iamtypes.EntityType{iamtypes.EntityTypeUser}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.UserDetailList) != 4 || len(out.GroupDetailList) != 0 || len(out.RoleDetailList) != 0 || out.IsTruncated {
		t.Errorf("Filter=User: %d users, %d groups, %d roles, truncated %v", len(out.UserDetailList), len(out.GroupDetailList), len(out.RoleDetailList), out.IsTruncated)
	}

	for _, in := range []*iam.GetAccountAuthorizationDetailsInput{
		{MaxItems: aws.Int32(0)},
		{MaxItems: aws.Int32(1001)},
		{Filter: []iamtypes.EntityType{"Users"}},
		{Marker: aws.String("not-a-marker")},
	} {
		_, err := c.GetAccountAuthorizationDetails(ctx, in)
		wantAPIError(t, err, "ValidationError", http.StatusBadRequest)
	}
}

func TestGetAccountAuthorizationDetailsThousandsOfUsers(t *testing.T) {
	ctx := context.Background()
	sc := &awssim.Scenario{Accounts: []awssim.ScenarioAccount{{ID: "333333333333"}}}
	for i := range 2500 {
		sc.Accounts[0].Users = append(sc.Accounts[0].Users, awssim.ScenarioUser{Name: fmt.Sprintf("user-%04d", i)})
	}
	_, cfg := awssimtest.Start(t, awssimtest.WithScenario(sc))
	p := iam.NewGetAccountAuthorizationDetailsPaginator(iam.NewFromConfig(cfg), &iam.GetAccountAuthorizationDetailsInput{
		Filter: []iamtypes.EntityType{iamtypes.EntityTypeUser}, MaxItems: aws.Int32(1000)})
	var sizes []int
	seen := map[string]bool{}
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(out.UserDetailList))
		for _, u := range out.UserDetailList {
			seen[aws.ToString(u.UserName)] = true
		}
	}
	if !slices.Equal(sizes, []int{1000, 1000, 500}) || len(seen) != 2500 {
		t.Fatalf("pages %v, %d distinct users", sizes, len(seen))
	}
}

func TestListAccountAliasesAndSummary(t *testing.T) {
	ctx := context.Background()
	_, cfg := awssimtest.Start(t)
	c := iam.NewFromConfig(cfg)
	aliases, err := c.ListAccountAliases(ctx, &iam.ListAccountAliasesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(aliases.AccountAliases, []string{"acme-prod"}) || aliases.IsTruncated {
		t.Fatalf("aliases = %v truncated %v", aliases.AccountAliases, aliases.IsTruncated)
	}
	sum, err := c.GetAccountSummary(ctx, &iam.GetAccountSummaryInput{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int32{"Users": 4, "UsersQuota": 5000, "Groups": 2, "GroupsQuota": 300, "Roles": 1,
		"AccessKeysPerUserQuota": 2, "AccountAccessKeysPresent": 0, "AccountMFAEnabled": 0}
	for k, v := range want {
		if got, ok := sum.SummaryMap[k]; !ok || got != v {
			t.Errorf("SummaryMap[%s] = %d (present %v), want %d", k, got, ok, v)
		}
	}

	// An account with root keys and no alias.
	_, cfg2 := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, reportScenario))
	c2 := iam.NewFromConfig(cfg2)
	aliases, err = c2.ListAccountAliases(ctx, &iam.ListAccountAliasesInput{})
	if err != nil || len(aliases.AccountAliases) != 0 {
		t.Fatalf("no alias: %v, %v", aliases.AccountAliases, err)
	}
	sum, err = c2.GetAccountSummary(ctx, &iam.GetAccountSummaryInput{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.SummaryMap["AccountAccessKeysPresent"] != 1 || sum.SummaryMap["MFADevicesInUse"] != 1 || sum.SummaryMap["Users"] != 3 {
		t.Fatalf("summary = %v", sum.SummaryMap)
	}
}
