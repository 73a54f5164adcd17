package awssim_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
)

const memberRoleARN = "arn:aws:iam::111111111111:role/KeycycleMember"

func callAssumeRole(ctx context.Context, cfg aws.Config, in *sts.AssumeRoleInput) (*sts.AssumeRoleOutput, error) {
	return sts.NewFromConfig(cfg).AssumeRole(ctx, in)
}

func TestAssumeRoleCredentialsActInTargetAccountAndExpire(t *testing.T) {
	ctx := context.Background()
	// The real clock is a fake two years after the sandbox clock: Expiration is on the real one.
	wall := &manualWall{now: time.Date(2028, 11, 21, 9, 0, 0, 0, time.UTC)}
	sb, _ := awssimtest.Start(t, awssimtest.WithWallClock(wall.Now))
	hub := sb.AccountConfig(t, "222222222222")
	start := wall.Now()

	out, err := callAssumeRole(ctx, hub, &sts.AssumeRoleInput{RoleArn: aws.String(memberRoleARN), RoleSessionName: aws.String("keycycle-scan")})
	if err != nil {
		t.Fatal(err)
	}
	cr, who := out.Credentials, out.AssumedRoleUser
	if !strings.HasPrefix(aws.ToString(cr.AccessKeyId), "ASIA") || len(aws.ToString(cr.AccessKeyId)) != 20 ||
		len(aws.ToString(cr.SecretAccessKey)) != 40 || aws.ToString(cr.SessionToken) == "" {
		t.Fatalf("credentials have the wrong shape: id %q", aws.ToString(cr.AccessKeyId))
	}
	if want := start.Add(time.Hour); !aws.ToTime(cr.Expiration).Equal(want) {
		t.Fatalf("Expiration = %v, want real now + 1h = %v", aws.ToTime(cr.Expiration), want)
	}
	wantARN := "arn:aws:sts::111111111111:assumed-role/KeycycleMember/keycycle-scan"
	if aws.ToString(who.Arn) != wantARN || !strings.HasPrefix(aws.ToString(who.AssumedRoleId), "AROA") ||
		!strings.HasSuffix(aws.ToString(who.AssumedRoleId), ":keycycle-scan") {
		t.Fatalf("AssumedRoleUser = %s %s", aws.ToString(who.AssumedRoleId), aws.ToString(who.Arn))
	}

	session := sb.Config(aws.ToString(cr.AccessKeyId), aws.ToString(cr.SecretAccessKey), aws.ToString(cr.SessionToken))
	id, err := sts.NewFromConfig(session).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(id.Account) != "111111111111" || aws.ToString(id.Arn) != wantARN || aws.ToString(id.UserId) != aws.ToString(who.AssumedRoleId) {
		t.Fatalf("caller = %s %s %s", aws.ToString(id.Account), aws.ToString(id.Arn), aws.ToString(id.UserId))
	}

	// The session works in the role's account only.
	c := iam.NewFromConfig(session)
	if err := callGetUser(ctx, c, "alice"); err != nil {
		t.Fatalf("GetUser in the role's account: %v", err)
	}
	var nse *iamtypes.NoSuchEntityException
	if err := callGetUser(ctx, c, "auditor"); !errors.As(err, &nse) {
		t.Fatalf("auditor lives in the caller's account, not the role's: want NoSuchEntity, got %v", err)
	}

	// Without its session token the key is unknown.
	noToken := sb.Config(aws.ToString(cr.AccessKeyId), aws.ToString(cr.SecretAccessKey), "")
	_, err = sts.NewFromConfig(noToken).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantAPIError(t, err, "InvalidClientTokenId", http.StatusForbidden)

	// Expiry follows the real clock, which the client compares Expiration with: moving the
	// sandbox clock (here by a year) neither expires the session nor keeps it alive.
	sb.Clock().Advance(365 * 24 * time.Hour)
	wall.Advance(59 * time.Minute)
	if err := callGetUser(ctx, c, "alice"); err != nil {
		t.Fatalf("at +59m the session still works: %v", err)
	}
	wall.Advance(time.Minute)
	wantAPIError(t, callGetUser(ctx, c, "alice"), "ExpiredToken", http.StatusForbidden)
	_, err = sts.NewFromConfig(session).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantAPIError(t, err, "ExpiredToken", http.StatusForbidden)
}

func TestAssumeRoleRefusesUntrustedCallers(t *testing.T) {
	ctx := context.Background()
	sb, prod := awssimtest.Start(t)
	hub := sb.AccountConfig(t, "222222222222")
	cases := []struct {
		name string
		cfg  aws.Config
		arn  string
	}{
		{"own account is not trusted", prod, memberRoleARN},
		{"unknown role", hub, "arn:aws:iam::111111111111:role/Nope"},
		{"unknown account", hub, "arn:aws:iam::999999999999:role/KeycycleMember"},
		{"wrong path", hub, "arn:aws:iam::111111111111:role/ops/KeycycleMember"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := callAssumeRole(ctx, tc.cfg, &sts.AssumeRoleInput{RoleArn: aws.String(tc.arn), RoleSessionName: aws.String("s1")})
			wantAPIError(t, err, "AccessDenied", http.StatusForbidden)
		})
	}

	// The message names the caller and the role, as AWS does; here the caller is an IAM user.
	keys, ok := sb.Keys("222222222222", "auditor")
	if !ok || len(keys) != 1 || keys[0].SecretAccessKey == "" {
		t.Fatalf("seeded key of auditor: %+v", keys)
	}
	auditor := sb.Config(keys[0].AccessKeyID, keys[0].SecretAccessKey, "")
	_, err := callAssumeRole(ctx, auditor, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::111111111111:role/Nope"), RoleSessionName: aws.String("s1")})
	var ae smithy.APIError
	want := "User: arn:aws:iam::222222222222:user/auditor is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111111111111:role/Nope"
	if !errors.As(err, &ae) || ae.ErrorMessage() != want {
		t.Fatalf("message = %v\nwant %s", err, want)
	}
	// The IAM user of a trusted account may assume the role.
	if _, err := callAssumeRole(ctx, auditor, &sts.AssumeRoleInput{RoleArn: aws.String(memberRoleARN), RoleSessionName: aws.String("s1")}); err != nil {
		t.Fatalf("trusted IAM user: %v", err)
	}
}

const roleScenario = `
accounts:
  - id: "111111111111"
    roles:
      - {name: Ext, path: /keycycle/, trusted_accounts: ["222222222222"], external_id: ext-123}
      - {name: Long, trusted_accounts: ["*"], max_session_duration: 12h}
      - {name: Short, trusted_accounts: ["222222222222"]}
  - id: "222222222222"
`

func TestAssumeRoleExternalIDAndDurations(t *testing.T) {
	ctx := context.Background()
	wall := newManualWall()
	sb, _ := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, roleScenario), awssimtest.WithWallClock(wall.Now))
	hub := sb.AccountConfig(t, "222222222222")
	ext := "arn:aws:iam::111111111111:role/keycycle/Ext"
	in := func(arn string, mod func(*sts.AssumeRoleInput)) *sts.AssumeRoleInput {
		i := &sts.AssumeRoleInput{RoleArn: aws.String(arn), RoleSessionName: aws.String("run-1")}
		if mod != nil {
			mod(i)
		}
		return i
	}

	_, err := callAssumeRole(ctx, hub, in(ext, nil))
	wantAPIError(t, err, "AccessDenied", http.StatusForbidden)
	_, err = callAssumeRole(ctx, hub, in(ext, func(i *sts.AssumeRoleInput) { i.ExternalId = aws.String("ext-999") }))
	wantAPIError(t, err, "AccessDenied", http.StatusForbidden)
	out, err := callAssumeRole(ctx, hub, in(ext, func(i *sts.AssumeRoleInput) { i.ExternalId = aws.String("ext-123") }))
	if err != nil {
		t.Fatalf("matching ExternalId: %v", err)
	}
	if got := aws.ToString(out.AssumedRoleUser.Arn); got != "arn:aws:sts::111111111111:assumed-role/Ext/run-1" {
		t.Fatalf("assumed-role ARN omits the path: got %s", got)
	}

	long := "arn:aws:iam::111111111111:role/Long"
	out, err = callAssumeRole(ctx, hub, in(long, func(i *sts.AssumeRoleInput) { i.DurationSeconds = aws.Int32(43200) }))
	if err != nil {
		t.Fatal(err)
	}
	if want := wall.Now().Add(12 * time.Hour); !aws.ToTime(out.Credentials.Expiration).Equal(want) {
		t.Fatalf("Expiration = %v, want %v", aws.ToTime(out.Credentials.Expiration), want)
	}

	short := "arn:aws:iam::111111111111:role/Short"
	for name, mod := range map[string]func(*sts.AssumeRoleInput){
		"below 900s":             func(i *sts.AssumeRoleInput) { i.DurationSeconds = aws.Int32(899) },
		"beyond MaxSession":      func(i *sts.AssumeRoleInput) { i.DurationSeconds = aws.Int32(7200) },
		"session name too short": func(i *sts.AssumeRoleInput) { i.RoleSessionName = aws.String("a") },
		"session name pattern":   func(i *sts.AssumeRoleInput) { i.RoleSessionName = aws.String("has space") },
		"malformed ARN":          func(i *sts.AssumeRoleInput) { i.RoleArn = aws.String("arn:aws:iam::111111111111:user/bob") },
	} {
		_, err := callAssumeRole(ctx, hub, in(short, mod))
		if apiErrorCode(err) != "ValidationError" || httpStatusOf(err) != http.StatusBadRequest {
			t.Errorf("%s: want ValidationError 400, got %v", name, err)
		}
	}

	// Role chaining: a session may assume another role for at most one hour.
	sess := sb.Config(aws.ToString(out.Credentials.AccessKeyId), aws.ToString(out.Credentials.SecretAccessKey), aws.ToString(out.Credentials.SessionToken))
	_, err = callAssumeRole(ctx, sess, in(long, func(i *sts.AssumeRoleInput) { i.DurationSeconds = aws.Int32(7200) }))
	wantAPIError(t, err, "ValidationError", http.StatusBadRequest)
	chained, err := callAssumeRole(ctx, sess, in(long, nil))
	if err != nil {
		t.Fatalf("chained assume within 1h: %v", err)
	}
	if got := aws.ToString(chained.AssumedRoleUser.Arn); got != "arn:aws:sts::111111111111:assumed-role/Long/run-1" {
		t.Fatalf("chained ARN = %s", got)
	}
}
