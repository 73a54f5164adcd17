package awssim_test

import (
	"context"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
)

// With RecordSecrets the sandbox remembers every secret it handed out or was given, so a test can
// search output for them; the admin helpers tell a key's secret and last use.
func TestIssuedSecretsKeySecretAndLastUse(t *testing.T) {
	srv, err := awssim.New(awssim.Options{RecordSecrets: true})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	sb := &awssimtest.Sandbox{Server: srv, URL: ts.URL}
	acct := srv.Accounts()[0].ID
	cred, _ := srv.OperatorCredential(acct)
	c := iam.NewFromConfig(sb.Config(cred.AccessKeyID, cred.SecretAccessKey, ""))
	ctx := context.Background()
	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("rec")}); err != nil {
		t.Fatal(err)
	}
	k, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("rec")})
	if err != nil {
		t.Fatal(err)
	}
	pw := "Chaos-Passw0rd-!x"
	if _, err := c.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: aws.String("rec"), Password: aws.String(pw)}); err != nil {
		t.Fatal(err)
	}
	issued := srv.IssuedSecrets()
	for _, want := range []string{cred.SecretAccessKey, aws.ToString(k.AccessKey.SecretAccessKey), pw} {
		if !slices.Contains(issued, want) {
			t.Errorf("IssuedSecrets lacks a secret (%d recorded)", len(issued))
		}
	}
	id := aws.ToString(k.AccessKey.AccessKeyId)
	if !srv.AccessKeySecretIs(acct, "rec", id, aws.ToString(k.AccessKey.SecretAccessKey)) || srv.AccessKeySecretIs(acct, "rec", id, "wrong") ||
		srv.AccessKeySecretIs(acct, "nobody", id, aws.ToString(k.AccessKey.SecretAccessKey)) {
		t.Error("AccessKeySecretIs")
	}
	ks, _ := srv.Keys(acct, "rec")
	if len(ks) != 1 || !ks[0].LastUsed.IsZero() {
		t.Fatalf("a new key was never used: %+v", ks)
	}
	if _, err := iam.NewFromConfig(sb.Config(id, aws.ToString(k.AccessKey.SecretAccessKey), "")).ListUsers(ctx, &iam.ListUsersInput{}); err != nil {
		t.Fatal(err)
	}
	if ks, _ := srv.Keys(acct, "rec"); !ks[0].LastUsed.Equal(srv.Clock().Now()) {
		t.Errorf("last used %v, want the sandbox clock %v", ks[0].LastUsed, srv.Clock().Now())
	}
	plain, _ := awssim.New(awssim.Options{})
	if plain.IssuedSecrets() != nil {
		t.Error("secrets recorded without RecordSecrets")
	}
}
