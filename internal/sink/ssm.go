package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/secret"
)

// SSMAPI is the part of the SSM client the sink calls; *ssm.Client satisfies it.
type SSMAPI interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
	PutParameter(ctx context.Context, in *ssm.PutParameterInput, optFns ...func(*ssm.Options)) (*ssm.PutParameterOutput, error)
	DeleteParameter(ctx context.Context, in *ssm.DeleteParameterInput, optFns ...func(*ssm.Options)) (*ssm.DeleteParameterOutput, error)
	ssm.GetParameterHistoryAPIClient
}

var _ SSMAPI = (*ssm.Client)(nil)

// SSM stores one SecureString parameter per user holding {"AccessKeyId","SecretAccessKey"}, the
// same JSON as the Secrets Manager sink.
//
// Parameter Store has no pending state, so the phases are:
//   - Stage checks that the parameter can take the key (absent, or a SecureString: a String
//     parameter would hold the secret in clear) and remembers the version it saw;
//   - Promote overwrites the parameter only while that version is still the current one (the
//     version check: a value written by someone else since is not clobbered) and does nothing
//     when the parameter already holds the key;
//   - Abort, when the parameter holds the key, writes back the value it replaced (from the
//     parameter's history), or deletes the parameter when the key created it.
//
// Parameter Store has no compare-and-swap: the check narrows a concurrent write's window to the
// time between the read and the write, it does not close it.
type SSM struct {
	API SSMAPI
	// NameTemplate names the parameter; {{account}} and {{user}} are replaced.
	NameTemplate string
	// KMSKeyID encrypts the parameter; empty uses the account's alias/aws/ssm key.
	KMSKeyID string
	// SinkName names the sink in reports and records; empty is "ssm".
	SinkName string

	mu   sync.Mutex
	seen map[inventory.KeyID]int64 // version seen at Stage; 0: the parameter did not exist
}

// Name identifies the sink.
func (s *SSM) Name() string {
	if s.SinkName != "" {
		return s.SinkName
	}
	return "ssm"
}

// Location is the parameter's name.
func (s *SSM) Location(k secret.AccessKey) string {
	return SecretName(s.NameTemplate, k.AccountID, k.UserName)
}

// ssmParam is the parameter's current version; ok is false when it does not exist.
type ssmParam struct {
	version int64
	typ     ssmtypes.ParameterType
	value   secretValue
}

func (s *SSM) get(ctx context.Context, name string) (ssmParam, bool, error) {
	out, err := s.API.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
	var nf *ssmtypes.ParameterNotFound
	if errors.As(err, &nf) {
		return ssmParam{}, false, nil
	}
	if err != nil {
		return ssmParam{}, false, fmt.Errorf("get parameter %s: %w", name, err)
	}
	c := ssmParam{version: out.Parameter.Version, typ: out.Parameter.Type}
	// A value that is not keycycle's JSON holds no key; it is only overwritten after the checks.
	_ = json.Unmarshal([]byte(aws.ToString(out.Parameter.Value)), &c.value)
	return c, true, nil
}

// Stage checks that the parameter can take k and remembers its version.
func (s *SSM) Stage(ctx context.Context, k secret.AccessKey) error {
	name := s.Location(k)
	c, ok, err := s.get(ctx, name)
	if err != nil {
		return err
	}
	if ok && c.typ != ssmtypes.ParameterTypeSecureString {
		return fmt.Errorf("stage key %s: parameter %s is a %s parameter; refusing to store a secret in it in clear (delete it, or choose another name)", k.KeyID, name, c.typ)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = map[inventory.KeyID]int64{}
	}
	s.seen[k.KeyID] = c.version
	return nil
}

// Promote writes k as the parameter's new version, if the parameter is still as Stage saw it.
func (s *SSM) Promote(ctx context.Context, k secret.AccessKey) error {
	name := s.Location(k)
	c, ok, err := s.get(ctx, name)
	if err != nil {
		return err
	}
	if ok && c.value.AccessKeyID == k.KeyID.Raw() {
		return nil
	}
	s.mu.Lock()
	want, staged := s.seen[k.KeyID]
	s.mu.Unlock()
	if !staged {
		return fmt.Errorf("promote key %s in parameter %s: not staged", k.KeyID, name)
	}
	if c.version != want {
		return fmt.Errorf("promote key %s: parameter %s changed since it was staged (now version %d, was %d); not overwritten", k.KeyID, name, c.version, want)
	}
	body, err := json.Marshal(secretValue{AccessKeyID: k.KeyID.Raw(), SecretAccessKey: k.Secret.Reveal()})
	if err != nil {
		return fmt.Errorf("encode parameter value for %s: %w", name, err)
	}
	in := &ssm.PutParameterInput{
		Name:        aws.String(name),
		Value:       aws.String(string(body)),
		Type:        ssmtypes.ParameterTypeSecureString,
		Overwrite:   aws.Bool(ok), // without Overwrite a parameter created meanwhile is refused
		Description: aws.String("Access key of IAM user " + k.UserName + ", rotated by keycycle"),
	}
	if s.KMSKeyID != "" {
		in.KeyId = aws.String(s.KMSKeyID)
	}
	if _, err := s.API.PutParameter(ctx, in); err != nil {
		return fmt.Errorf("write key %s to parameter %s: %w", k.KeyID, name, err)
	}
	return nil
}

// Abort restores what k replaced when the parameter holds k.
func (s *SSM) Abort(ctx context.Context, k secret.AccessKey) error {
	name := s.Location(k)
	c, ok, err := s.get(ctx, name)
	if err != nil || !ok || c.value.AccessKeyID != k.KeyID.Raw() {
		return err
	}
	// The latest earlier version that does not hold k is what k replaced.
	var prev *ssmtypes.ParameterHistory
	p := ssm.NewGetParameterHistoryPaginator(s.API, &ssm.GetParameterHistoryInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("abort key %s: history of parameter %s: %w", k.KeyID, name, err)
		}
		for i := range page.Parameters {
			h := &page.Parameters[i]
			var v secretValue
			_ = json.Unmarshal([]byte(aws.ToString(h.Value)), &v)
			if h.Version < c.version && v.AccessKeyID != k.KeyID.Raw() && (prev == nil || h.Version > prev.Version) {
				prev = h
			}
		}
	}
	if prev == nil {
		if _, err := s.API.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String(name)}); err != nil {
			var nf *ssmtypes.ParameterNotFound
			if !errors.As(err, &nf) {
				return fmt.Errorf("abort key %s: delete parameter %s: %w", k.KeyID, name, err)
			}
		}
		return nil
	}
	in := &ssm.PutParameterInput{Name: aws.String(name), Value: prev.Value, Type: prev.Type, Overwrite: aws.Bool(true), KeyId: prev.KeyId}
	if prev.Type != ssmtypes.ParameterTypeSecureString {
		in.KeyId = nil
	}
	if _, err := s.API.PutParameter(ctx, in); err != nil {
		return fmt.Errorf("abort key %s: restore parameter %s version %d: %w", k.KeyID, name, prev.Version, err)
	}
	return nil
}

// Holds reports whether the parameter's current value is k's key.
func (s *SSM) Holds(ctx context.Context, k secret.AccessKey) (bool, error) {
	c, ok, err := s.get(ctx, s.Location(k))
	return ok && c.value.AccessKeyID == k.KeyID.Raw(), err
}

// Read returns the secret access key the parameter holds for k's key id.
func (s *SSM) Read(ctx context.Context, k secret.AccessKey) (secret.Value, error) {
	name := s.Location(k)
	c, ok, err := s.get(ctx, name)
	if err != nil {
		return secret.Value{}, err
	}
	if !ok || c.value.AccessKeyID != k.KeyID.Raw() {
		return secret.Value{}, fmt.Errorf("parameter %s does not hold key %s", name, k.KeyID)
	}
	return secret.New(c.value.SecretAccessKey), nil
}
