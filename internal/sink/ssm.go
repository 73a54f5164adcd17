package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/secret"
	"github.com/keycycle/keycycle/internal/sinkname"
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

	// PasswordTemplate names the parameter of console passwords ({{account}}, {{user}}); empty:
	// the sink does not take passwords.
	PasswordTemplate string

	mu   sync.Mutex
	seen map[string]int64 // by item id: version seen at Stage; 0: the parameter did not exist
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
	raw     string
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
	return ssmParam{version: out.Parameter.Version, typ: out.Parameter.Type, raw: aws.ToString(out.Parameter.Value)}, true, nil
}

// keyIDIn is the access key id a parameter value holds; "" when it is not keycycle's key JSON.
func keyIDIn(raw string) string {
	var v secretValue
	_ = json.Unmarshal([]byte(raw), &v)
	return v.AccessKeyID
}

// ssmItem is one credential the parameter is to hold: its parameter, an id unique among the
// credentials delivered through this sink, how to recognise it in a value, and its value.
type ssmItem struct {
	name, id, what string
	holds          func(raw string) bool
	body           func() ([]byte, error)
	description    string
}

func (s *SSM) keyItem(k secret.AccessKey) ssmItem {
	id := k.KeyID.Raw()
	return ssmItem{
		name: s.Location(k), id: "key:" + id, what: "key " + k.KeyID.String(),
		holds: func(raw string) bool { return keyIDIn(raw) == id },
		body: func() ([]byte, error) {
			return json.Marshal(secretValue{AccessKeyID: id, SecretAccessKey: k.Secret.Reveal()})
		},
		description: "Access key of IAM user " + k.UserName + ", rotated by keycycle",
	}
}

// Stage checks that the parameter can take k and remembers its version.
func (s *SSM) Stage(ctx context.Context, k secret.AccessKey) error { return s.stage(ctx, s.keyItem(k)) }

func (s *SSM) stage(ctx context.Context, it ssmItem) error {
	c, ok, err := s.get(ctx, it.name)
	if err != nil {
		return err
	}
	if ok && c.typ != ssmtypes.ParameterTypeSecureString {
		return fmt.Errorf("stage %s: parameter %s is a %s parameter; refusing to store a secret in it in clear (delete it, or choose another name)", it.what, it.name, c.typ)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = map[string]int64{}
	}
	s.seen[it.id] = c.version
	return nil
}

// Promote writes k as the parameter's new version, if the parameter is still as Stage saw it.
func (s *SSM) Promote(ctx context.Context, k secret.AccessKey) error {
	return s.promote(ctx, s.keyItem(k))
}

func (s *SSM) promote(ctx context.Context, it ssmItem) error {
	c, ok, err := s.get(ctx, it.name)
	if err != nil {
		return err
	}
	if ok && it.holds(c.raw) {
		return nil
	}
	s.mu.Lock()
	want, staged := s.seen[it.id]
	s.mu.Unlock()
	if !staged {
		return fmt.Errorf("promote %s in parameter %s: not staged", it.what, it.name)
	}
	if c.version != want {
		return fmt.Errorf("promote %s: parameter %s changed since it was staged (now version %d, was %d); not overwritten", it.what, it.name, c.version, want)
	}
	body, err := it.body()
	if err != nil {
		return fmt.Errorf("encode parameter value for %s: %w", it.name, err)
	}
	in := &ssm.PutParameterInput{
		Name:        aws.String(it.name),
		Value:       aws.String(string(body)),
		Type:        ssmtypes.ParameterTypeSecureString,
		Overwrite:   aws.Bool(ok), // without Overwrite a parameter created meanwhile is refused
		Description: aws.String(it.description),
	}
	if s.KMSKeyID != "" {
		in.KeyId = aws.String(s.KMSKeyID)
	}
	if _, err := s.API.PutParameter(ctx, in); err != nil {
		return fmt.Errorf("write %s to parameter %s: %w", it.what, it.name, err)
	}
	return nil
}

// Abort restores what k replaced when the parameter holds k.
func (s *SSM) Abort(ctx context.Context, k secret.AccessKey) error { return s.abort(ctx, s.keyItem(k)) }

func (s *SSM) abort(ctx context.Context, it ssmItem) error {
	name := it.name
	c, ok, err := s.get(ctx, name)
	if err != nil || !ok || !it.holds(c.raw) {
		return err
	}
	// The latest earlier version that does not hold the credential is what it replaced.
	var prev *ssmtypes.ParameterHistory
	p := ssm.NewGetParameterHistoryPaginator(s.API, &ssm.GetParameterHistoryInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("abort %s: history of parameter %s: %w", it.what, name, err)
		}
		for i := range page.Parameters {
			h := &page.Parameters[i]
			if h.Version < c.version && !it.holds(aws.ToString(h.Value)) && (prev == nil || h.Version > prev.Version) {
				prev = h
			}
		}
	}
	if prev == nil {
		if _, err := s.API.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String(name)}); err != nil {
			var nf *ssmtypes.ParameterNotFound
			if !errors.As(err, &nf) {
				return fmt.Errorf("abort %s: delete parameter %s: %w", it.what, name, err)
			}
		}
		return nil
	}
	in := &ssm.PutParameterInput{Name: aws.String(name), Value: prev.Value, Type: prev.Type, Overwrite: aws.Bool(true), KeyId: prev.KeyId}
	if prev.Type != ssmtypes.ParameterTypeSecureString {
		in.KeyId = nil
	}
	if _, err := s.API.PutParameter(ctx, in); err != nil {
		return fmt.Errorf("abort %s: restore parameter %s version %d: %w", it.what, name, prev.Version, err)
	}
	return nil
}

// Holds reports whether the parameter's current value is k's key.
func (s *SSM) Holds(ctx context.Context, k secret.AccessKey) (bool, error) {
	c, ok, err := s.get(ctx, s.Location(k))
	return ok && keyIDIn(c.raw) == k.KeyID.Raw(), err
}

// Read returns the secret access key the parameter holds for k's key id.
func (s *SSM) Read(ctx context.Context, k secret.AccessKey) (secret.Value, error) {
	name := s.Location(k)
	c, ok, err := s.get(ctx, name)
	if err != nil {
		return secret.Value{}, err
	}
	var v secretValue
	_ = json.Unmarshal([]byte(c.raw), &v)
	if !ok || v.AccessKeyID != k.KeyID.Raw() {
		return secret.Value{}, fmt.Errorf("parameter %s does not hold key %s", name, k.KeyID)
	}
	return secret.New(v.SecretAccessKey), nil
}

// Kind is the kind of sink, whatever its configured name.
func (*SSM) Kind() sinkname.Kind { return sinkname.SSM }

// SSMConfig are the settings of an ssm sink: the key is kept in an SSM SecureString parameter;
// Parameter is its name template ({{account}}, {{user}}); KMSKeyID encrypts it (empty: the
// account's alias/aws/ssm key).
type SSMConfig struct {
	Parameter string `yaml:"parameter"`
	KMSKeyID  string `yaml:"kms_key_id"`
}

// Kind is sinkname.SSM.
func (*SSMConfig) Kind() sinkname.Kind { return sinkname.SSM }

// Access is the parameter and its key.
func (s *SSMConfig) Access(config.Secret) config.SinkAccess {
	return config.SinkAccess{Parameter: s.Parameter, ParameterKey: s.KMSKeyID}
}

// Check checks the parameter template and fills the default one.
func (s *SSMConfig) Check(c *config.SinkCheck) {
	s.KMSKeyID = strings.TrimSpace(s.KMSKeyID)
	if s.Parameter == "" {
		s.Parameter = config.DefaultParameterTemplate
	} else if msg := config.CheckParameterTemplate(s.Parameter); msg != "" {
		c.Problem(msg, "parameter")
	}
}

func init() {
	registerType(config.SinkType{Kind: sinkname.SSM, Primary: true,
		New: func() config.SinkSettings { return &SSMConfig{} },
		About: sinkname.About{Service: "AWS Systems Manager Parameter Store", Fetch: func(name, region string) string {
			return awsCLI("ssm get-parameter --name "+sinkname.ShellQuote(name)+" --with-decryption", region, "Parameter.Value")
		}}},
		func(s *SSMConfig, c config.Sink, env *Env) (Built, error) {
			api := client(env, "ssm", func(c aws.Config) *ssm.Client { return ssm.NewFromConfig(c) })
			return &SSM{API: api, NameTemplate: s.Parameter, KMSKeyID: s.KMSKeyID, SinkName: c.Name,
				PasswordTemplate: env.Passwords.ParameterTemplate}, nil
		})
}
