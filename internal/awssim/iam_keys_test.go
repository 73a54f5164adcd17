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
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
)

// iamtWhoAmI calls sts:GetCallerIdentity signed with an access key.
func iamtWhoAmI(sb *awssimtest.Sandbox, id, secret string) (*sts.GetCallerIdentityOutput, error) {
	return sts.NewFromConfig(sb.Config(id, secret, "")).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
}

func iamtNewKey(t *testing.T, c *iam.Client, user string) *types.AccessKey {
	t.Helper()
	out, err := c.CreateAccessKey(context.Background(), &iam.CreateAccessKeyInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatalf("create access key for %s: %v", user, err)
	}
	return out.AccessKey
}

func TestAccessKeyLifecycleAndAuthentication(t *testing.T) {
	ctx := context.Background()
	sb, cfg := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, iamtTwoAccounts))
	c := iam.NewFromConfig(cfg)
	iamtCreateUsers(t, c, "kim")

	sb.Clock().Advance(36 * time.Hour)
	k := iamtNewKey(t, c, "kim")
	id, secret := aws.ToString(k.AccessKeyId), aws.ToString(k.SecretAccessKey)
	if k.Status != types.StatusTypeActive || len(secret) != 40 || !strings.HasPrefix(id, "AKIA") || len(id) != 20 ||
		aws.ToString(k.UserName) != "kim" || !aws.ToTime(k.CreateDate).Equal(sb.Clock().Now()) {
		t.Fatalf("new key = %+v (created %v, sandbox now %v)", k, aws.ToTime(k.CreateDate), sb.Clock().Now())
	}
	who, err := iamtWhoAmI(sb, id, secret)
	if err != nil || aws.ToString(who.Arn) != "arn:aws:iam::111111111111:user/kim" {
		t.Fatalf("new key signs as %+v, %v", who, err)
	}

	// Deactivated, the key stops authenticating at once; reactivated, it works again.
	if _, err := c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("kim"), AccessKeyId: k.AccessKeyId, Status: types.StatusTypeInactive}); err != nil {
		t.Fatal(err)
	}
	_, err = iamtWhoAmI(sb, id, secret)
	iamtWantErr(t, err, "InvalidClientTokenId", http.StatusForbidden)
	if _, err := c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("kim"), AccessKeyId: k.AccessKeyId, Status: types.StatusTypeActive}); err != nil {
		t.Fatal(err)
	}
	if _, err := iamtWhoAmI(sb, id, secret); err != nil {
		t.Fatalf("reactivated key: %v", err)
	}
	_, err = c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("kim"), AccessKeyId: k.AccessKeyId, Status: types.StatusType("Disabled")})
	iamtWantErr(t, err, "ValidationError", http.StatusBadRequest)

	// The listing never carries a secret; an inactive key still counts against the quota of 2.
	k2 := iamtNewKey(t, c, "kim")
	if _, err := c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("kim"), AccessKeyId: k2.AccessKeyId, Status: types.StatusTypeInactive}); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("kim")})
	var limit *types.LimitExceededException
	if !errors.As(err, &limit) || aws.ToString(limit.Message) != "Cannot exceed quota for AccessKeysPerUser: 2" {
		t.Fatalf("third key: want LimitExceeded with AWS's message, got %v", err)
	}
	iamtWantErr(t, err, "LimitExceeded", http.StatusConflict)

	list, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("kim")})
	if err != nil || len(list.AccessKeyMetadata) != 2 || list.IsTruncated {
		t.Fatalf("ListAccessKeys = %+v, %v", list, err)
	}
	if m := list.AccessKeyMetadata; aws.ToString(m[0].AccessKeyId) != id || m[0].Status != types.StatusTypeActive ||
		aws.ToString(m[1].AccessKeyId) != aws.ToString(k2.AccessKeyId) || m[1].Status != types.StatusTypeInactive || aws.ToString(m[0].UserName) != "kim" {
		t.Fatalf("ListAccessKeys metadata = %+v", m)
	}
	page1, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("kim"), MaxItems: aws.Int32(1)})
	if err != nil || !page1.IsTruncated || len(page1.AccessKeyMetadata) != 1 {
		t.Fatalf("ListAccessKeys page 1 = %+v, %v", page1, err)
	}
	page2, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("kim"), MaxItems: aws.Int32(1), Marker: page1.Marker})
	if err != nil || page2.IsTruncated || len(page2.AccessKeyMetadata) != 1 || aws.ToString(page2.AccessKeyMetadata[0].AccessKeyId) != aws.ToString(k2.AccessKeyId) {
		t.Fatalf("ListAccessKeys page 2 = %+v, %v", page2, err)
	}

	// Active keys can be deleted (IAM does not require deactivation first); a deleted key is gone.
	if _, err := c.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("kim"), AccessKeyId: k.AccessKeyId}); err != nil {
		t.Fatalf("delete active key: %v", err)
	}
	_, err = iamtWhoAmI(sb, id, secret)
	iamtWantErr(t, err, "InvalidClientTokenId", http.StatusForbidden)
	var nse *types.NoSuchEntityException
	_, err = c.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("kim"), AccessKeyId: k.AccessKeyId})
	if !errors.As(err, &nse) || !strings.Contains(aws.ToString(nse.Message), id) {
		t.Fatalf("delete again: want NoSuchEntity naming the key, got %v", err)
	}
	_, err = c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("kim"), AccessKeyId: k.AccessKeyId, Status: types.StatusTypeActive})
	if !errors.As(err, &nse) {
		t.Fatalf("update deleted key: want NoSuchEntity, got %v", err)
	}
	if _, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("nobody")}); !errors.As(err, &nse) {
		t.Fatalf("keys of unknown user: want NoSuchEntity, got %v", err)
	}
	if _, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("nobody")}); !errors.As(err, &nse) {
		t.Fatalf("key for unknown user: want NoSuchEntity, got %v", err)
	}
}

func TestAccessKeyOfAnotherUserIsNotFound(t *testing.T) {
	ctx := context.Background()
	_, cfg := awssimtest.Start(t)
	c := iam.NewFromConfig(cfg)
	k := iamtNewKey(t, c, "bob")
	var nse *types.NoSuchEntityException
	_, err := c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("ci-deployer"), AccessKeyId: k.AccessKeyId, Status: types.StatusTypeInactive})
	if !errors.As(err, &nse) {
		t.Fatalf("bob's key under ci-deployer: want NoSuchEntity, got %v", err)
	}
}

func TestCreateAccessKeyDefaultsToCallingUser(t *testing.T) {
	ctx := context.Background()
	sb, cfg := awssimtest.Start(t)
	keys, _ := sb.Keys("111111111111", "bob")
	bobCfg := sb.Config(keys[0].AccessKeyID, keys[0].SecretAccessKey, "")
	out, err := iam.NewFromConfig(bobCfg).CreateAccessKey(ctx, &iam.CreateAccessKeyInput{})
	if err != nil || aws.ToString(out.AccessKey.UserName) != "bob" {
		t.Fatalf("CreateAccessKey as bob = %+v, %v", out, err)
	}
	list, err := iam.NewFromConfig(bobCfg).ListAccessKeys(ctx, &iam.ListAccessKeysInput{})
	if err != nil || len(list.AccessKeyMetadata) != 2 {
		t.Fatalf("ListAccessKeys as bob = %+v, %v", list, err)
	}
	me, err := iam.NewFromConfig(bobCfg).GetUser(ctx, &iam.GetUserInput{})
	if err != nil || aws.ToString(me.User.UserName) != "bob" {
		t.Fatalf("GetUser as bob = %+v, %v", me, err)
	}

	// Signed by the operator (root), no UserName means the root user's keys in AWS: the sandbox
	// refuses to create one rather than acting on an IAM user.
	_, err = iam.NewFromConfig(cfg).CreateAccessKey(ctx, &iam.CreateAccessKeyInput{})
	iamtWantErr(t, err, "InvalidInput", http.StatusBadRequest)
}

func TestAccessKeyPropagationDelay(t *testing.T) {
	ctx := context.Background()
	sb, cfg := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, iamtTwoAccounts),
		awssimtest.WithFaults(awssim.Faults{KeyPropagationDelay: awssim.Duration(300 * time.Millisecond)}))
	c := iam.NewFromConfig(cfg)
	iamtCreateUsers(t, c, "lee")
	k := iamtNewKey(t, c, "lee")
	_, err := iamtWhoAmI(sb, aws.ToString(k.AccessKeyId), aws.ToString(k.SecretAccessKey))
	iamtWantErr(t, err, "InvalidClientTokenId", http.StatusForbidden)

	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := iamtWhoAmI(sb, aws.ToString(k.AccessKeyId), aws.ToString(k.SecretAccessKey))
		if err == nil {
			break
		}
		iamtWantErr(t, err, "InvalidClientTokenId", http.StatusForbidden)
		select {
		case <-deadline.C:
			t.Fatal("new key never became usable")
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
}

func TestAccessKeyLastUsed(t *testing.T) {
	ctx := context.Background()
	sb, cfg := awssimtest.Start(t)
	c := iam.NewFromConfig(cfg)
	k := iamtNewKey(t, c, "bob")

	out, err := c.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: k.AccessKeyId})
	if err != nil {
		t.Fatal(err)
	}
	if lu := out.AccessKeyLastUsed; aws.ToString(out.UserName) != "bob" || lu.LastUsedDate != nil ||
		aws.ToString(lu.ServiceName) != "N/A" || aws.ToString(lu.Region) != "N/A" {
		t.Fatalf("never used = %s %+v", aws.ToString(out.UserName), lu)
	}

	used := sb.Clock().Advance(3 * time.Hour)
	if _, err := iamtWhoAmI(sb, aws.ToString(k.AccessKeyId), aws.ToString(k.SecretAccessKey)); err != nil {
		t.Fatal(err)
	}
	sb.Clock().Advance(time.Hour)
	out, err = c.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: k.AccessKeyId})
	if err != nil {
		t.Fatal(err)
	}
	if lu := out.AccessKeyLastUsed; !aws.ToTime(lu.LastUsedDate).Equal(used) || aws.ToString(lu.ServiceName) != "sts" || aws.ToString(lu.Region) != "us-east-1" {
		t.Fatalf("used = %v %s %s, want %v sts us-east-1", aws.ToTime(lu.LastUsedDate), aws.ToString(lu.ServiceName), aws.ToString(lu.Region), used)
	}

	// A seeded key's last use from the scenario.
	alice, _ := sb.Keys("111111111111", "alice")
	out, err = c.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(alice[0].AccessKeyID)})
	if err != nil || aws.ToString(out.UserName) != "alice" || aws.ToString(out.AccessKeyLastUsed.ServiceName) != "s3" {
		t.Fatalf("alice's key = %+v, %v", out, err)
	}

	// A key that does not exist: IAM answers AccessDenied, not "never used".
	_, err = c.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String("AKIAZZZZZZZZZZZZZZZZ")})
	iamtWantErr(t, err, "AccessDenied", http.StatusForbidden)
}

func TestAccountsCannotSeeEachOthersUsersAndKeys(t *testing.T) {
	ctx := context.Background()
	sb, _ := awssimtest.Start(t)
	other := iam.NewFromConfig(sb.AccountConfig(t, "222222222222"))
	aliceKeys, _ := sb.Keys("111111111111", "alice")
	aliceKey := aws.String(aliceKeys[0].AccessKeyID)

	users, err := other.ListUsers(ctx, &iam.ListUsersInput{})
	if err != nil || len(users.Users) != 1 || aws.ToString(users.Users[0].UserName) != "auditor" {
		t.Fatalf("222's users = %+v, %v", users, err)
	}
	var nse *types.NoSuchEntityException
	if _, err := other.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("alice")}); !errors.As(err, &nse) {
		t.Fatalf("GetUser alice from 222: want NoSuchEntity, got %v", err)
	}
	if _, err := other.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("alice")}); !errors.As(err, &nse) {
		t.Fatalf("ListAccessKeys alice from 222: want NoSuchEntity, got %v", err)
	}
	_, err = other.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("auditor"), AccessKeyId: aliceKey, Status: types.StatusTypeInactive})
	if !errors.As(err, &nse) {
		t.Fatalf("UpdateAccessKey of alice's key from 222: want NoSuchEntity, got %v", err)
	}
	_, err = other.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("auditor"), AccessKeyId: aliceKey})
	if !errors.As(err, &nse) {
		t.Fatalf("DeleteAccessKey of alice's key from 222: want NoSuchEntity, got %v", err)
	}
	_, err = other.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aliceKey})
	iamtWantErr(t, err, "AccessDenied", http.StatusForbidden)
	if _, err := other.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("alice")}); !errors.As(err, &nse) {
		t.Fatalf("CreateAccessKey for alice from 222: want NoSuchEntity, got %v", err)
	}
	after, _ := sb.Keys("111111111111", "alice")
	if len(after) != 2 || after[0].Status != "Active" {
		t.Fatalf("alice's keys changed: %+v", after)
	}
}

func TestRecreatedUserHasNewIDAndNoKeys(t *testing.T) {
	ctx := context.Background()
	sb, cfg := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, iamtTwoAccounts))
	c := iam.NewFromConfig(cfg)
	first, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("max")})
	if err != nil {
		t.Fatal(err)
	}
	k := iamtNewKey(t, c, "max")
	var conflict *types.DeleteConflictException
	if _, err := c.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("max")}); !errors.As(err, &conflict) {
		t.Fatalf("user with a key: want DeleteConflict, got %v", err)
	}
	if _, err := c.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("max"), AccessKeyId: k.AccessKeyId}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("max")}); err != nil {
		t.Fatal(err)
	}
	second, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("max")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(second.User.UserId) == aws.ToString(first.User.UserId) {
		t.Fatal("recreated user kept its UserId")
	}
	list, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("max")})
	if err != nil || len(list.AccessKeyMetadata) != 0 {
		t.Fatalf("recreated user's keys = %+v, %v", list, err)
	}
	_, err = iamtWhoAmI(sb, aws.ToString(k.AccessKeyId), aws.ToString(k.SecretAccessKey))
	iamtWantErr(t, err, "InvalidClientTokenId", http.StatusForbidden)
}

func TestRootKeysAreListedNotManaged(t *testing.T) {
	ctx := context.Background()
	_, cfg := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, `
accounts:
  - id: "111111111111"
    root_access_keys:
      - {id: AKIAROOTROOTROOTROOT, age_days: 700}
    users:
      - name: ops
`))
	c := iam.NewFromConfig(cfg)
	out, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{})
	if err != nil || len(out.AccessKeyMetadata) != 1 || aws.ToString(out.AccessKeyMetadata[0].AccessKeyId) != "AKIAROOTROOTROOTROOT" ||
		out.AccessKeyMetadata[0].UserName != nil {
		t.Fatalf("root keys = %+v, %v", out, err)
	}
	_, err = c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{AccessKeyId: aws.String("AKIAROOTROOTROOTROOT"), Status: types.StatusTypeInactive})
	iamtWantErr(t, err, "InvalidInput", http.StatusBadRequest)
	_, err = c.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{AccessKeyId: aws.String("AKIAROOTROOTROOTROOT")})
	iamtWantErr(t, err, "InvalidInput", http.StatusBadRequest)
	var nse *types.NoSuchEntityException
	if _, err := c.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{AccessKeyId: aws.String("AKIAROOTROOTROOTROOT"), UserName: aws.String("ops")}); !errors.As(err, &nse) {
		t.Fatalf("root key under an IAM user: want NoSuchEntity, got %v", err)
	}
	if out, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{}); err != nil || len(out.AccessKeyMetadata) != 1 || out.AccessKeyMetadata[0].Status != types.StatusTypeActive {
		t.Fatalf("root keys changed: %+v, %v", out, err)
	}
}
