package awssim_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
)

func iamtWantPolicyViolation(t *testing.T, err error, what string) {
	t.Helper()
	var v *types.PasswordPolicyViolationException
	if !errors.As(err, &v) {
		t.Fatalf("%s: want PasswordPolicyViolation, got %v", what, err)
	}
	iamtWantErr(t, err, "PasswordPolicyViolation", http.StatusBadRequest)
}

func TestLoginProfileLifecycleUnderAccountPolicy(t *testing.T) {
	ctx := context.Background()
	sb, cfg := awssimtest.Start(t) // 111111111111: length 14, all classes, reuse prevention 5
	c := iam.NewFromConfig(cfg)
	bob := aws.String("bob")

	for _, bad := range []struct{ pw, why string }{
		{"Short1!a", "too short"},
		{"nouppercase123!!", "no upper case"},
		{"NOLOWERCASE123!!", "no lower case"},
		{"NoNumbersHere!!!", "no number"},
		{"NoSymbolsHere1234", "no symbol"},
		{"Only.Dots.Are.No.Symbols1", "'.' is not one of IAM's symbols"},
	} {
		_, err := c.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: bob, Password: aws.String(bad.pw)})
		iamtWantPolicyViolation(t, err, bad.why)
		if strings.Contains(err.Error(), bad.pw) {
			t.Fatalf("%s: the error repeats the password: %v", bad.why, err)
		}
	}
	var nse *types.NoSuchEntityException
	if _, err := c.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: bob}); !errors.As(err, &nse) {
		t.Fatalf("no profile yet: want NoSuchEntity, got %v", err)
	}
	if _, err := c.UpdateLoginProfile(ctx, &iam.UpdateLoginProfileInput{UserName: bob, PasswordResetRequired: aws.Bool(true)}); !errors.As(err, &nse) {
		t.Fatalf("update without profile: want NoSuchEntity, got %v", err)
	}
	if _, err := c.DeleteLoginProfile(ctx, &iam.DeleteLoginProfileInput{UserName: bob}); !errors.As(err, &nse) {
		t.Fatalf("delete without profile: want NoSuchEntity, got %v", err)
	}

	created, err := c.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: bob, Password: aws.String("Correct-Horse-1"), PasswordResetRequired: true})
	if err != nil {
		t.Fatal(err)
	}
	if lp := created.LoginProfile; aws.ToString(lp.UserName) != "bob" || !lp.PasswordResetRequired || !aws.ToTime(lp.CreateDate).Equal(sb.Clock().Now()) {
		t.Fatalf("created profile = %+v", lp)
	}
	var exists *types.EntityAlreadyExistsException
	if _, err := c.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: bob, Password: aws.String("Another-Horse-2")}); !errors.As(err, &exists) {
		t.Fatalf("second profile: want EntityAlreadyExists, got %v", err)
	}

	// Only the reset flag: the password and the flag are independent, absent means unchanged.
	if _, err := c.UpdateLoginProfile(ctx, &iam.UpdateLoginProfileInput{UserName: bob, PasswordResetRequired: aws.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateLoginProfile(ctx, &iam.UpdateLoginProfileInput{UserName: bob, Password: aws.String("Correct-Horse-2")}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: bob})
	if err != nil || got.LoginProfile.PasswordResetRequired {
		t.Fatalf("after updates = %+v, %v", got, err)
	}
	_, err = c.UpdateLoginProfile(ctx, &iam.UpdateLoginProfileInput{UserName: bob, Password: aws.String("weak")})
	iamtWantPolicyViolation(t, err, "update with a weak password")

	// Reuse prevention 5: the current and the 4 before it are refused, the 6th-last is allowed.
	for _, pw := range []string{"Correct-Horse-3", "Correct-Horse-4", "Correct-Horse-5", "Correct-Horse-6"} {
		if _, err := c.UpdateLoginProfile(ctx, &iam.UpdateLoginProfileInput{UserName: bob, Password: aws.String(pw)}); err != nil {
			t.Fatalf("set %s: %v", pw, err)
		}
	}
	for _, old := range []string{"Correct-Horse-6", "Correct-Horse-2"} {
		_, err := c.UpdateLoginProfile(ctx, &iam.UpdateLoginProfileInput{UserName: bob, Password: aws.String(old)})
		iamtWantPolicyViolation(t, err, "reuse of a recent password")
	}
	if _, err := c.UpdateLoginProfile(ctx, &iam.UpdateLoginProfileInput{UserName: bob, Password: aws.String("Correct-Horse-1"), PasswordResetRequired: aws.Bool(true)}); err != nil {
		t.Fatalf("6th-last password: %v", err)
	}
	got, err = c.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: bob})
	if err != nil || !got.LoginProfile.PasswordResetRequired {
		t.Fatalf("reset flag not set: %+v, %v", got, err)
	}

	// History survives deleting the login profile.
	if _, err := c.DeleteLoginProfile(ctx, &iam.DeleteLoginProfileInput{UserName: bob}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: bob}); !errors.As(err, &nse) {
		t.Fatalf("deleted profile: want NoSuchEntity, got %v", err)
	}
	_, err = c.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: bob, Password: aws.String("Correct-Horse-1")})
	iamtWantPolicyViolation(t, err, "recreate with a recent password")

	if _, err := c.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: aws.String("nobody"), Password: aws.String("Correct-Horse-1")}); !errors.As(err, &nse) {
		t.Fatalf("unknown user: want NoSuchEntity, got %v", err)
	}
	_, err = c.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: aws.String("ci-deployer")})
	iamtWantErr(t, err, "ValidationError", http.StatusBadRequest)
}

func TestDefaultPasswordPolicyWhenNoneIsSet(t *testing.T) {
	ctx := context.Background()
	sb, _ := awssimtest.Start(t)
	c := iam.NewFromConfig(sb.AccountConfig(t, "222222222222")) // no password policy
	var nse *types.NoSuchEntityException
	if _, err := c.GetAccountPasswordPolicy(ctx, &iam.GetAccountPasswordPolicyInput{}); !errors.As(err, &nse) {
		t.Fatalf("no policy: want NoSuchEntity, got %v", err)
	}
	iamtCreateUsers(t, c, "Pat-Smith1")
	for _, bad := range []struct{ pw, why string }{
		{"Ab1!xyz", "shorter than 8"},
		{"alllowercase", "one character class"},
		{"lowerand1234", "two character classes"},
		{"pat-smith1", "the user name"},
		{"Acme-Security", "the account alias"},
	} {
		_, err := c.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: aws.String("Pat-Smith1"), Password: aws.String(bad.pw)})
		iamtWantPolicyViolation(t, err, bad.why)
		if strings.HasPrefix(bad.why, "the ") && !strings.Contains(err.Error(), "name") {
			t.Fatalf("%s: refused for another reason: %v", bad.why, err)
		}
	}
	// Three of four classes is enough; reuse is not checked without a policy.
	pw := aws.String("lower-and-1234")
	if _, err := c.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: aws.String("Pat-Smith1"), Password: pw}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateLoginProfile(ctx, &iam.UpdateLoginProfileInput{UserName: aws.String("Pat-Smith1"), Password: pw}); err != nil {
		t.Fatalf("reuse without a policy: %v", err)
	}
}

func TestAccountPasswordPolicy(t *testing.T) {
	ctx := context.Background()
	sb, cfg := awssimtest.Start(t)
	c := iam.NewFromConfig(cfg)

	got, err := c.GetAccountPasswordPolicy(ctx, &iam.GetAccountPasswordPolicyInput{})
	if err != nil {
		t.Fatal(err)
	}
	if pp := got.PasswordPolicy; aws.ToInt32(pp.MinimumPasswordLength) != 14 || !pp.RequireSymbols || !pp.RequireNumbers ||
		!pp.RequireUppercaseCharacters || !pp.RequireLowercaseCharacters || pp.ExpirePasswords || pp.MaxPasswordAge != nil ||
		aws.ToInt32(pp.PasswordReusePrevention) != 5 {
		t.Fatalf("scenario policy = %+v", pp)
	}

	for _, bad := range []iam.UpdateAccountPasswordPolicyInput{
		{MinimumPasswordLength: aws.Int32(5)},
		{MinimumPasswordLength: aws.Int32(129)},
		{MaxPasswordAge: aws.Int32(0)},
		{MaxPasswordAge: aws.Int32(1096)},
		{PasswordReusePrevention: aws.Int32(0)},
		{PasswordReusePrevention: aws.Int32(25)},
	} {
		_, err := c.UpdateAccountPasswordPolicy(ctx, &bad)
		iamtWantErr(t, err, "ValidationError", http.StatusBadRequest)
	}
	// A refused update changed nothing.
	if got, err := c.GetAccountPasswordPolicy(ctx, &iam.GetAccountPasswordPolicyInput{}); err != nil || aws.ToInt32(got.PasswordPolicy.MinimumPasswordLength) != 14 {
		t.Fatalf("policy after refused updates = %+v, %v", got, err)
	}

	if _, err := c.UpdateAccountPasswordPolicy(ctx, &iam.UpdateAccountPasswordPolicyInput{
		MinimumPasswordLength: aws.Int32(10), RequireNumbers: true, MaxPasswordAge: aws.Int32(90),
		PasswordReusePrevention: aws.Int32(24), HardExpiry: aws.Bool(true), AllowUsersToChangePassword: true,
	}); err != nil {
		t.Fatal(err)
	}
	got, err = c.GetAccountPasswordPolicy(ctx, &iam.GetAccountPasswordPolicyInput{})
	if err != nil {
		t.Fatal(err)
	}
	if pp := got.PasswordPolicy; aws.ToInt32(pp.MinimumPasswordLength) != 10 || !pp.RequireNumbers || pp.RequireSymbols ||
		!pp.ExpirePasswords || aws.ToInt32(pp.MaxPasswordAge) != 90 || aws.ToInt32(pp.PasswordReusePrevention) != 24 ||
		!aws.ToBool(pp.HardExpiry) || !pp.AllowUsersToChangePassword {
		t.Fatalf("updated policy = %+v", pp)
	}
	// The new policy applies at once: symbols and upper case are no longer required.
	if _, err := c.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: aws.String("bob"), Password: aws.String("plainpass12")}); err != nil {
		t.Fatalf("password under the new policy: %v", err)
	}

	// No partial updates: what is left out takes its default.
	if _, err := c.UpdateAccountPasswordPolicy(ctx, &iam.UpdateAccountPasswordPolicyInput{RequireSymbols: true}); err != nil {
		t.Fatal(err)
	}
	got, err = c.GetAccountPasswordPolicy(ctx, &iam.GetAccountPasswordPolicyInput{})
	if err != nil {
		t.Fatal(err)
	}
	if pp := got.PasswordPolicy; aws.ToInt32(pp.MinimumPasswordLength) != 6 || !pp.RequireSymbols || pp.RequireNumbers ||
		pp.ExpirePasswords || pp.MaxPasswordAge != nil || pp.PasswordReusePrevention != nil || aws.ToBool(pp.HardExpiry) {
		t.Fatalf("policy after partial update = %+v", pp)
	}

	if _, err := c.DeleteAccountPasswordPolicy(ctx, &iam.DeleteAccountPasswordPolicyInput{}); err != nil {
		t.Fatal(err)
	}
	var nse *types.NoSuchEntityException
	if _, err := c.GetAccountPasswordPolicy(ctx, &iam.GetAccountPasswordPolicyInput{}); !errors.As(err, &nse) {
		t.Fatalf("deleted policy: want NoSuchEntity, got %v", err)
	}
	if _, err := c.DeleteAccountPasswordPolicy(ctx, &iam.DeleteAccountPasswordPolicyInput{}); !errors.As(err, &nse) {
		t.Fatalf("delete again: want NoSuchEntity, got %v", err)
	}
	// Account 222's (absent) policy was never affected.
	other := iam.NewFromConfig(sb.AccountConfig(t, "222222222222"))
	if _, err := other.GetAccountPasswordPolicy(ctx, &iam.GetAccountPasswordPolicyInput{}); !errors.As(err, &nse) {
		t.Fatalf("222's policy: want NoSuchEntity, got %v", err)
	}
}

// iamtReportRow generates a credential report and returns the row of user as column -> value.
func iamtReportRow(t *testing.T, c *iam.Client, user string) map[string]string {
	t.Helper()
	ctx := context.Background()
	if _, err := c.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{}); err != nil {
		t.Fatal(err)
	}
	rep, err := c.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(rep.Content)).ReadAll()
	if err != nil || len(rows) < 2 {
		t.Fatalf("report: %d rows, %v", len(rows), err)
	}
	for _, r := range rows[1:] {
		if r[0] == user {
			out := map[string]string{}
			for i, col := range rows[0] {
				out[col] = r[i]
			}
			return out
		}
	}
	t.Fatalf("no report row for %s", user)
	return nil
}

// iamtReportTime is a time as the credential report writes it (ISO 8601 with +00:00).
func iamtReportTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05+00:00") }

func TestPasswordChangesAreRecorded(t *testing.T) {
	ctx := context.Background()
	sb, cfg := awssimtest.Start(t)
	c := iam.NewFromConfig(cfg)
	created := sb.Clock().Now()
	if _, err := c.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: aws.String("bob"), Password: aws.String("Correct-Horse-1")}); err != nil {
		t.Fatal(err)
	}
	if got := iamtReportRow(t, c, "bob")["password_last_changed"]; got != iamtReportTime(created) {
		t.Fatalf("password_last_changed after create = %s, want %v", got, created)
	}
	changed := sb.Clock().Advance(5 * 24 * time.Hour)
	if _, err := c.UpdateLoginProfile(ctx, &iam.UpdateLoginProfileInput{UserName: aws.String("bob"), PasswordResetRequired: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if got := iamtReportRow(t, c, "bob")["password_last_changed"]; got == iamtReportTime(changed) {
		t.Fatal("changing only the reset flag counted as a password change")
	}
	changed = sb.Clock().Advance(5 * 24 * time.Hour)
	if _, err := c.UpdateLoginProfile(ctx, &iam.UpdateLoginProfileInput{UserName: aws.String("bob"), Password: aws.String("Correct-Horse-2")}); err != nil {
		t.Fatal(err)
	}
	row := iamtReportRow(t, c, "bob")
	if got := row["password_last_changed"]; got != iamtReportTime(changed) {
		t.Fatalf("password_last_changed after update = %s, want %v", got, changed)
	}
	if row["password_enabled"] != "true" {
		t.Fatalf("password_enabled = %s", row["password_enabled"])
	}
}
