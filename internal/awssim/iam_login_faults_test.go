package awssim_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
)

// TestEntityTemporarilyUnmodifiableCanBeInjected: IAM answers EntityTemporarilyUnmodifiable (HTTP
// 409 in the IAM API model) to changes of an entity that is still settling; the fault rules
// produce it for the login profile actions, typed as the SDK models it, and the change is not
// made. PasswordIs tells the password that is in force.
func TestEntityTemporarilyUnmodifiableCanBeInjected(t *testing.T) {
	ctx := context.Background()
	sb, cfg := awssimtest.Start(t, awssimtest.WithFaults(awssim.Faults{Errors: []awssim.ErrorRule{
		{Match: awssim.Match{Service: "iam", Actions: []string{"UpdateLoginProfile", "DeleteLoginProfile"}}, UserName: "bob",
			Code: "EntityTemporarilyUnmodifiable", Status: http.StatusConflict, Times: 2,
			Message: "Login Profile for User bob cannot be modified while login profile is being created."},
	}}))
	c := iam.NewFromConfig(cfg, func(o *iam.Options) { o.RetryMaxAttempts = 1 })
	bob := aws.String("bob")
	if _, err := c.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: bob, Password: aws.String("Correct-Horse-Battery-1")}); err != nil {
		t.Fatal(err)
	}
	_, err := c.UpdateLoginProfile(ctx, &iam.UpdateLoginProfileInput{UserName: bob, Password: aws.String("Correct-Horse-Battery-2")})
	var tu *types.EntityTemporarilyUnmodifiableException
	if !errors.As(err, &tu) {
		t.Fatalf("want EntityTemporarilyUnmodifiable, got %v", err)
	}
	iamtWantErr(t, err, "EntityTemporarilyUnmodifiable", http.StatusConflict)
	if !sb.PasswordIs("111111111111", "bob", "Correct-Horse-Battery-1") || sb.PasswordIs("111111111111", "bob", "Correct-Horse-Battery-2") {
		t.Fatal("a refused update must leave the password as it was")
	}
	if _, err := c.DeleteLoginProfile(ctx, &iam.DeleteLoginProfileInput{UserName: bob}); !errors.As(err, &tu) {
		t.Fatalf("delete: want EntityTemporarilyUnmodifiable, got %v", err)
	}
	// The rule fired twice; the next update goes through.
	if _, err := c.UpdateLoginProfile(ctx, &iam.UpdateLoginProfileInput{UserName: bob, Password: aws.String("Correct-Horse-Battery-2")}); err != nil {
		t.Fatal(err)
	}
	if !sb.PasswordIs("111111111111", "bob", "Correct-Horse-Battery-2") || sb.PasswordIs("111111111111", "nobody", "x") {
		t.Fatal("PasswordIs")
	}
}
