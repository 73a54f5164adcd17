package job

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/rotation"
	"github.com/keycycle/keycycle/internal/secret"
	"github.com/keycycle/keycycle/internal/sink"
)

// SelfRotation is `keycycle rotate-self`: rotate the access key of one profile of a shared
// credentials file, signed by that key (the caller's own IAM user, no keycycle state tags).
type SelfRotation struct {
	// AWS gives the region and endpoint; its credentials are replaced by the profile's key.
	AWS     aws.Config
	File    string
	Profile string
	// Delete deletes the old key instead of deactivating it.
	Delete bool
	Verify Verify
}

// SelfTarget is whose key a self rotation replaces, as STS names the profile's key.
type SelfTarget struct {
	AccountID string
	UserName  string
	UserARN   string
	KeyID     inventory.KeyID
	Location  string // the file and profile
}

func (s *SelfRotation) store() *sink.CredentialsFile {
	return &sink.CredentialsFile{Path: s.File, Profile: s.Profile}
}

// signed returns s.AWS signed with the profile's key.
func (s *SelfRotation) signed() (aws.Config, inventory.KeyID, error) {
	id, sec, err := s.store().Current()
	if err != nil {
		return aws.Config{}, "", err
	}
	cfg := s.AWS.Copy()
	cfg.Credentials = credentials.NewStaticCredentialsProvider(id.Raw(), sec.Reveal(), "")
	return cfg, id, nil
}

// Key returns the key the profile holds; it needs no AWS configuration.
func (s *SelfRotation) Key() (inventory.KeyID, error) {
	id, _, err := s.store().Current()
	return id, err
}

// Target reads the profile and asks STS who its key belongs to. Only an IAM user's key qualifies.
func (s *SelfRotation) Target(ctx context.Context) (SelfTarget, error) {
	cfg, id, err := s.signed()
	if err != nil {
		return SelfTarget{}, err
	}
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return SelfTarget{}, fmt.Errorf("the key of profile %s does not authenticate (sts:GetCallerIdentity): %w", s.Profile, err)
	}
	arn := aws.ToString(out.Arn)
	f := strings.SplitN(arn, ":", 6)
	if len(f) != 6 || f[2] != "iam" || !strings.HasPrefix(f[5], "user/") {
		return SelfTarget{}, fmt.Errorf("profile %s signs as %s, not as an IAM user: only IAM users' access keys can be rotated", s.Profile, arn)
	}
	name := f[5][strings.LastIndexByte(f[5], '/')+1:]
	return SelfTarget{AccountID: aws.ToString(out.Account), UserName: name, UserARN: arn, KeyID: id,
		Location: s.store().Location(secret.AccessKey{})}, nil
}

// Rotate replaces t's key: see rotation.SelfRotation.
func (s *SelfRotation) Rotate(ctx context.Context, t SelfTarget) (rotation.SelfResult, error) {
	cfg, id, err := s.signed()
	if err != nil {
		return rotation.SelfResult{}, err
	}
	if id != t.KeyID {
		return rotation.SelfResult{}, fmt.Errorf("profile %s changed since it was read (now key %s); nothing was done", s.Profile, id)
	}
	r := &rotation.SelfRotation{
		IAM: iam.NewFromConfig(cfg),
		SignedBy: func(k secret.AccessKey) rotation.SelfIAM {
			c := s.AWS.Copy()
			c.Credentials = credentials.NewStaticCredentialsProvider(k.KeyID.Raw(), k.Secret.Reveal(), "")
			return iam.NewFromConfig(c)
		},
		Store: s.store(),
		Verifier: &rotation.STSVerifier{Config: s.AWS, WantUserARN: t.UserARN, Successes: s.Verify.Successes,
			Interval: s.Verify.Interval, MaxInterval: s.Verify.MaxInterval, Timeout: s.Verify.Timeout},
		Delete: s.Delete,
	}
	return r.Rotate(ctx, t.AccountID, t.UserName, t.UserARN, t.KeyID)
}
