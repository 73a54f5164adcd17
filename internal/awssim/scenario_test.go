package awssim_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
	"github.com/keycycle/keycycle/internal/yamlfile"
)

func TestParseScenarioNamesFileLineAndField(t *testing.T) {
	cases := []struct {
		name, src, want string
	}{
		{"bad status", "accounts:\n  - id: \"111111111111\"\n    users:\n      - name: a\n        access_keys:\n          - {status: Enabled}\n",
			`scenario.yaml:6: accounts[0].users[0].access_keys[0].status: must be Active or Inactive, got "Enabled"`},
		{"duplicate user", "accounts:\n  - id: \"111111111111\"\n    users:\n      - name: Bob\n      - name: bob\n",
			`scenario.yaml:5: accounts[0].users[1].name: user "bob" is listed twice`},
		{"undeclared group", "accounts:\n  - id: \"111111111111\"\n    groups: [ops]\n    users:\n      - name: a\n        groups: [ops, devs]\n",
			`scenario.yaml:6: accounts[0].users[0].groups[1]: group "devs" is not declared`},
		{"used before created", "accounts:\n  - id: \"111111111111\"\n    users:\n      - name: a\n        access_keys:\n          - age_days: 3\n            last_used_days_ago: 5\n",
			`scenario.yaml:7: accounts[0].users[0].access_keys[0].last_used_days_ago: must be within 0..age_days`},
		{"unknown field", "accounts:\n  - id: \"111111111111\"\n    users:\n      - name: a\n        colour: blue\n",
			`scenario.yaml:5: field colour not found`},
		{"account id", "accounts:\n  - id: \"12345\"\n",
			`scenario.yaml:2: accounts[0].id: must be 12 digits`},
		{"bucket name", "accounts:\n  - id: \"111111111111\"\n    buckets: [{name: Reports_2026}]\n",
			`scenario.yaml:3: accounts[0].buckets[0].name: invalid bucket name "Reports_2026"`},
		{"bucket twice", "accounts:\n  - id: \"111111111111\"\n    buckets: [{name: reports}]\n  - id: \"222222222222\"\n    buckets: [{name: reports}]\n",
			`accounts[1].buckets[0].name: bucket "reports" is listed twice (bucket names are global)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := awssim.ParseScenario("scenario.yaml", []byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestParseScenarioReportsEveryProblemAtOnce(t *testing.T) {
	src := `accounts:
  - id: "12345"
    groups: [ops]
    users:
      - name: alice
        groups: [ops, devs]
        access_keys:
          - {age_days: 3, status: Enabled}
          - {age_days: 3, last_used_days_ago: 5}
      - name: ALICE
        favourite_colour: blue
`
	_, err := awssim.ParseScenario("scenario.yaml", []byte(src))
	var ps yamlfile.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("want yamlfile.Problems, got %T %v", err, err)
	}
	type where struct {
		line  int
		field string
	}
	var got []where
	for _, p := range ps {
		if p.File != "scenario.yaml" {
			t.Errorf("problem %v does not name the file", p)
		}
		got = append(got, where{p.Line, p.Field})
	}
	want := []where{
		{2, "accounts[0].id"},
		{6, "accounts[0].users[0].groups[1]"},
		{8, "accounts[0].users[0].access_keys[0].status"},
		{9, "accounts[0].users[0].access_keys[1].last_used_days_ago"},
		{10, "accounts[0].users[1].name"},
		{11, ""}, // the unknown field, reported by the decoder
	}
	if !slices.Equal(got, want) {
		t.Fatalf("problems:\n%v\nwant lines/fields %v", err, want)
	}
}

func TestScenarioValidateBuiltInGo(t *testing.T) {
	if err := (&awssim.Scenario{}).Validate(); err == nil || !strings.Contains(err.Error(), "accounts: at least one account is required") {
		t.Fatalf("empty scenario: %v", err)
	}
	if _, err := awssim.New(awssim.Options{Scenario: &awssim.Scenario{Accounts: []awssim.ScenarioAccount{{ID: "1"}}}}); err == nil {
		t.Fatal("New accepted an invalid scenario")
	}
	if _, err := awssim.DefaultScenario(); err != nil {
		t.Fatalf("built-in scenario: %v", err)
	}
}

func TestSeededStateIsVisibleThroughTheSDK(t *testing.T) {
	ctx := context.Background()
	sb, cfg := awssimtest.Start(t)
	c := iam.NewFromConfig(cfg)
	start := sb.Clock().Now()
	if !start.Equal(time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("clock starts at %v", start)
	}
	daysAgo := func(n int) time.Time { return start.Add(-time.Duration(n) * 24 * time.Hour) }

	u, err := c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("alice")})
	if err != nil {
		t.Fatal(err)
	}
	// Without age_days a user is 30 days older than its oldest credential (key 95 d).
	if aws.ToString(u.User.Path) != "/people/" || !aws.ToTime(u.User.CreateDate).Equal(daysAgo(125)) ||
		len(u.User.Tags) != 1 || aws.ToString(u.User.Tags[0].Value) != "alice@example.com" ||
		!aws.ToTime(u.User.PasswordLastUsed).Equal(daysAgo(2)) {
		t.Fatalf("alice = %+v", u.User)
	}
	keys, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("alice")})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.AccessKeyMetadata) != 2 {
		t.Fatalf("alice has %d keys", len(keys.AccessKeyMetadata))
	}
	byAge := map[string]string{}
	var oldKey string
	for _, k := range keys.AccessKeyMetadata {
		byAge[aws.ToTime(k.CreateDate).Format(time.DateOnly)] = string(k.Status)
		if aws.ToTime(k.CreateDate).Equal(daysAgo(95)) {
			oldKey = aws.ToString(k.AccessKeyId)
		}
	}
	if byAge[daysAgo(95).Format(time.DateOnly)] != "Active" || byAge[daysAgo(3).Format(time.DateOnly)] != "Inactive" {
		t.Fatalf("alice's keys = %v", byAge)
	}
	lu, err := c.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(oldKey)})
	if err != nil {
		t.Fatal(err)
	}
	if !aws.ToTime(lu.AccessKeyLastUsed.LastUsedDate).Equal(daysAgo(1)) || aws.ToString(lu.AccessKeyLastUsed.ServiceName) != "s3" ||
		aws.ToString(lu.AccessKeyLastUsed.Region) != "us-east-1" {
		t.Fatalf("last used = %+v", lu.AccessKeyLastUsed)
	}
	groups, err := c.ListGroupsForUser(ctx, &iam.ListGroupsForUserInput{UserName: aws.String("legacy-batch")})
	if err != nil {
		t.Fatal(err)
	}
	if len(groups.Groups) != 1 || aws.ToString(groups.Groups[0].GroupName) != "IAMKeyRotationExemptionGroup" {
		t.Fatalf("legacy-batch groups = %+v", groups.Groups)
	}
}

func TestScenarioKeysSignAndSeedIsReproducible(t *testing.T) {
	ctx := context.Background()
	src := `start: 2030-01-02T03:04:05Z
seed: 7
accounts:
  - id: "444444444444"
    users:
      - name: svc
        access_keys:
          - {id: AKIAIOSFODNN7EXAMPLE, secret: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, age_days: 1}
      - name: other
        access_keys:
          - {age_days: 1}
`
	sb, _ := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, src))
	if got := sb.Clock().Now(); !got.Equal(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Fatalf("start = %v", got)
	}
	svc := sb.Config("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "")
	id, err := sts.NewFromConfig(svc).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(id.Arn) != "arn:aws:iam::444444444444:user/svc" {
		t.Fatalf("caller = %s", aws.ToString(id.Arn))
	}

	// The same seed generates the same ids and secrets.
	again, _ := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, src))
	k1, _ := sb.Keys("444444444444", "other")
	k2, _ := again.Keys("444444444444", "other")
	if len(k1) != 1 || len(k2) != 1 || k1[0] != k2[0] {
		t.Fatalf("same seed, different keys: %+v vs %+v", k1, k2)
	}
	c1, _ := sb.OperatorCredential("444444444444")
	c2, _ := again.OperatorCredential("444444444444")
	if c1 != c2 {
		t.Fatal("same seed, different operator credentials")
	}
}
