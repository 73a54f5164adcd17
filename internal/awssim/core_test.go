package awssim_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
)

func TestOperatorSignsAndUnknownKeyFails(t *testing.T) {
	ctx := context.Background()
	sb, cfg := awssimtest.Start(t)
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Account) != "111111111111" || aws.ToString(out.Arn) != "arn:aws:iam::111111111111:root" {
		t.Fatalf("caller = %s %s", aws.ToString(out.Account), aws.ToString(out.Arn))
	}

	bad := sb.Config("AKIAAAAAAAAAAAAAAAAA", "wrong", "")
	_, err = sts.NewFromConfig(bad).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidClientTokenId" {
		t.Fatalf("unknown key: want InvalidClientTokenId, got %v", err)
	}

	cred, _ := sb.OperatorCredential("111111111111")
	wrongSecret := sb.Config(cred.AccessKeyID, cred.SecretAccessKey[:39]+"x", "")
	_, err = iam.NewFromConfig(wrongSecret).GetUser(ctx, &iam.GetUserInput{UserName: aws.String("bob")})
	if !errors.As(err, &ae) || ae.ErrorCode() != "SignatureDoesNotMatch" {
		t.Fatalf("wrong secret: want SignatureDoesNotMatch, got %v", err)
	}
}

func TestCreateUserAndTypedErrors(t *testing.T) {
	ctx := context.Background()
	_, cfg := awssimtest.Start(t)
	c := iam.NewFromConfig(cfg)
	out, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("carol"), Path: aws.String("/team/"),
		Tags: []iamtypes.Tag{{Key: aws.String("owner"), Value: aws.String("carol@example.com")}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.User.Arn); got != "arn:aws:iam::111111111111:user/team/carol" {
		t.Fatalf("arn = %s", got)
	}
	_, err = c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("CAROL")})
	var exists *iamtypes.EntityAlreadyExistsException
	if !errors.As(err, &exists) {
		t.Fatalf("case-insensitive duplicate: want EntityAlreadyExists, got %v", err)
	}
	_, err = c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("nobody")})
	var nse *iamtypes.NoSuchEntityException
	if !errors.As(err, &nse) {
		t.Fatalf("want NoSuchEntity, got %v", err)
	}
	got, err := c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("carol")})
	if err != nil || len(got.User.Tags) != 1 || aws.ToString(got.User.Tags[0].Value) != "carol@example.com" {
		t.Fatalf("GetUser = %+v, %v", got, err)
	}
	_, err = c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String("{}")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "NotImplemented" {
		t.Fatalf("unmodelled action: want NotImplemented, got %v", err)
	}
}
