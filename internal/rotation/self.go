package rotation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"

	"github.com/keycycle/keycycle/internal/backoff"
	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/secret"
)

// SelfIAM is the part of the IAM client that rotating one's own key calls, without UserName (IAM
// then acts on the signing user): what the usual "manage your own access keys" policy allows.
type SelfIAM interface {
	ListAccessKeys(ctx context.Context, in *iam.ListAccessKeysInput, optFns ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error)
	CreateAccessKey(ctx context.Context, in *iam.CreateAccessKeyInput, optFns ...func(*iam.Options)) (*iam.CreateAccessKeyOutput, error)
	UpdateAccessKey(ctx context.Context, in *iam.UpdateAccessKeyInput, optFns ...func(*iam.Options)) (*iam.UpdateAccessKeyOutput, error)
	DeleteAccessKey(ctx context.Context, in *iam.DeleteAccessKeyInput, optFns ...func(*iam.Options)) (*iam.DeleteAccessKeyOutput, error)
}

var _ SelfIAM = (*iam.Client)(nil)

// SelfRotation rotates the access key a person signs with (`keycycle rotate-self`): create a new
// key, prove it authenticates, store it where the old one was (a credentials file profile),
// check the store gives it back, then deactivate the old key (or delete it). Any failure before
// the old key is touched deletes the new key and restores the store; the old key keeps working.
// No state tags: the caller may only manage its own keys.
type SelfRotation struct {
	IAM SelfIAM // signed with the key being replaced
	// SignedBy returns the IAM client signed with the new key: once the old key is inactive it
	// can no longer sign, so the deletion (--delete) is signed by the new key.
	SignedBy func(k secret.AccessKey) SelfIAM
	// Store must also be a Holder and a Reader (the store is read back before the old key goes).
	Store    Sink
	Verifier Verifier
	// Delete deletes the old key instead of deactivating it.
	Delete bool
}

// SelfResult is what a self rotation did.
type SelfResult struct {
	Old, New inventory.KeyID
	Location string
	// OldKey is what became of the old key: "deactivated", "deleted", or "active" when that step failed.
	OldKey string
}

// Rotate replaces key old of the signing user (name and ARN as sts:GetCallerIdentity gave them).
func (r *SelfRotation) Rotate(ctx context.Context, accountID, userName, userARN string, old inventory.KeyID) (SelfResult, error) {
	res := SelfResult{Old: old, OldKey: "active"}
	holder, okH := r.Store.(Holder)
	reader, okR := r.Store.(Reader)
	if !okH || !okR {
		return res, errors.New("the store cannot be read back")
	}
	list, err := r.IAM.ListAccessKeys(ctx, &iam.ListAccessKeysInput{})
	if err != nil {
		return res, fmt.Errorf("list your access keys: %w", err)
	}
	var mine *iamtypes.AccessKeyMetadata
	for i, k := range list.AccessKeyMetadata {
		if aws.ToString(k.AccessKeyId) == old.Raw() {
			mine = &list.AccessKeyMetadata[i]
		}
	}
	switch {
	case mine == nil:
		return res, fmt.Errorf("key %s is not one of %s's access keys", old, userName)
	case mine.Status != iamtypes.StatusTypeActive:
		return res, fmt.Errorf("key %s is %s", old, mine.Status)
	case len(list.AccessKeyMetadata) >= 2:
		var other string
		for _, k := range list.AccessKeyMetadata {
			if aws.ToString(k.AccessKeyId) != old.Raw() {
				other = fmt.Sprintf("%s (%s)", inventory.KeyID(aws.ToString(k.AccessKeyId)), k.Status)
			}
		}
		return res, fmt.Errorf("no room for a new key: %s already has 2 (the other is %s); delete the one you no longer use first", userName, other)
	}

	out, err := r.IAM.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{})
	if err != nil {
		return res, fmt.Errorf("create access key: %w", err)
	}
	k := secret.AccessKey{AccountID: accountID, UserName: userName, UserARN: userARN,
		KeyID: inventory.KeyID(aws.ToString(out.AccessKey.AccessKeyId)), Secret: secret.New(aws.ToString(out.AccessKey.SecretAccessKey)),
		Created: aws.ToTime(out.AccessKey.CreateDate)}
	out = nil
	res.New, res.Location = k.KeyID, r.Store.Location(k)
	undo := func(why string, cause error) (SelfResult, error) {
		abortErr := r.Store.Abort(ctx, k)
		_, delErr := r.IAM.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{AccessKeyId: aws.String(k.KeyID.Raw())})
		if delErr != nil {
			delErr = fmt.Errorf("delete the new key %s (do it yourself): %w", k.KeyID, delErr)
		} else {
			res.New = ""
		}
		return res, fmt.Errorf("%s; the old key is untouched: %w", why, errors.Join(cause, abortErr, delErr))
	}
	if err := r.Store.Stage(ctx, k); err != nil {
		return undo("cannot store the new key", err)
	}
	if err := r.Verifier.Verify(ctx, k.KeyID, k.Secret); err != nil {
		return undo("the new key did not authenticate", err)
	}
	if err := r.Store.Promote(ctx, k); err != nil {
		return undo("cannot store the new key", err)
	}
	held, err := holder.Holds(ctx, k)
	if err == nil && !held {
		err = fmt.Errorf("%s does not hold key %s after the write", res.Location, k.KeyID)
	}
	if err == nil {
		var got secret.Value
		if got, err = reader.Read(ctx, k); err == nil && got.Reveal() != k.Secret.Reveal() {
			err = fmt.Errorf("%s gives back another secret for key %s", res.Location, k.KeyID)
		}
	}
	if err != nil {
		return undo("the stored key did not read back", err)
	}

	// The new key is stored and works: retire the old one.
	if _, err := r.IAM.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{AccessKeyId: aws.String(old.Raw()), Status: iamtypes.StatusTypeInactive}); err != nil {
		return res, fmt.Errorf("the new key is in %s, but deactivating the old key %s failed (it is still active; deactivate it yourself): %w", res.Location, old, err)
	}
	res.OldKey = "deactivated"
	if r.Delete {
		if err := deleteWith(ctx, r.SignedBy(k), old); err != nil {
			return res, fmt.Errorf("the new key is in %s and the old key %s is deactivated, but deleting it failed: %w", res.Location, old, err)
		}
		res.OldKey = "deleted"
	}
	return res, nil
}

// deleteWith deletes key id signed by a new key, waiting out IAM's eventual consistency for that
// key (InvalidClientTokenId) for up to about half a minute.
func deleteWith(ctx context.Context, c SelfIAM, id inventory.KeyID) error {
	wait := time.Second
	for attempt := 1; ; attempt++ {
		_, err := c.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{AccessKeyId: aws.String(id.Raw())})
		var ae smithy.APIError
		if err == nil || attempt == 5 || !errors.As(err, &ae) || ae.ErrorCode() != "InvalidClientTokenId" {
			return err
		}
		if serr := backoff.Sleep(ctx, wait); serr != nil {
			return errors.Join(err, serr)
		}
		wait *= 2
	}
}
