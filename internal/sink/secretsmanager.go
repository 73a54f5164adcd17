// Package sink delivers new credentials to where their consumers pick them up. Sinks decide
// nothing: the rotation executor tells them what to store, stage, promote or abort.
package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/keycycle/keycycle/internal/backoff"
	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/secret"
	"github.com/keycycle/keycycle/internal/sinkname"
)

// SecretsManagerAPI is the part of the Secrets Manager client the sink calls;
// *secretsmanager.Client satisfies it.
type SecretsManagerAPI interface {
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	CreateSecret(ctx context.Context, in *secretsmanager.CreateSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
	PutResourcePolicy(ctx context.Context, in *secretsmanager.PutResourcePolicyInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutResourcePolicyOutput, error)
}

var _ SecretsManagerAPI = (*secretsmanager.Client)(nil)

// Staging labels, as Secrets Manager's rotation protocol names them.
const (
	StageCurrent  = "AWSCURRENT"
	StagePending  = "AWSPENDING"
	StagePrevious = "AWSPREVIOUS"
)

// SecretsManager stores one secret per user, a JSON value {"AccessKeyId","SecretAccessKey"},
// one version per access key: the version id is derived from the key id, so every write of the
// same key is idempotent and a version names the key it holds.
type SecretsManager struct {
	API SecretsManagerAPI
	// NameTemplate names the secret; {{account}} and {{user}} are replaced.
	NameTemplate string
	// KMSKeyID encrypts new secrets; empty uses the account's aws/secretsmanager key.
	KMSKeyID string
	// Readers are principal ARNs allowed to read the secret besides the user it belongs to
	// (include the principal keycycle runs as, so it can resume an interrupted rotation).
	Readers []string
	// SinkName names the sink in reports and records; empty is "secretsmanager".
	SinkName string
	// PasswordTemplate names the secret of console passwords ({{account}}, {{user}}), a secret of
	// its own; empty: the sink does not take passwords.
	PasswordTemplate string
}

// SecretName renders the template for one user.
func SecretName(template, accountID, user string) string {
	r := strings.NewReplacer("{{account}}", accountID, "{{user}}", user)
	return r.Replace(template)
}

// Name identifies the sink in reports: SinkName, or "secretsmanager".
func (s *SecretsManager) Name() string {
	if s.SinkName != "" {
		return s.SinkName
	}
	return "secretsmanager"
}

// Location is where the owner fetches the credential: the secret's name.
func (s *SecretsManager) Location(k secret.AccessKey) string {
	return SecretName(s.NameTemplate, k.AccountID, k.UserName)
}

// VersionID is the secret version (and ClientRequestToken) that holds key id: 32-64 characters
// as Secrets Manager requires.
func VersionID(id inventory.KeyID) string { return "keycycle-rotation-" + id.Raw() }

type secretValue struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
}

// Stage writes k as the secret's AWSPENDING version, creating the secret (with its resource
// policy) when it does not exist. Idempotent for the same key: the same token and value are
// ignored by Secrets Manager.
func (s *SecretsManager) Stage(ctx context.Context, k secret.AccessKey) error {
	name := s.Location(k)
	body, err := json.Marshal(secretValue{AccessKeyID: k.KeyID.Raw(), SecretAccessKey: k.Secret.Reveal()})
	if err != nil {
		return fmt.Errorf("encode secret value for %s: %w", name, err)
	}
	o := secretOwner{user: k.UserName, account: k.AccountID, arn: k.UserARN, description: "Access key of IAM user " + k.UserName + ", rotated by keycycle"}
	return s.stage(ctx, smVersion{name: name, id: VersionID(k.KeyID), what: "key " + k.KeyID.String()}, body, o)
}

// smVersion names one version of a secret: the secret, the version id, and what it holds for
// messages ("key AKIA...7Q2X", "the console password").
type smVersion struct{ name, id, what string }

// secretOwner is whom a secret belongs to, for its creation and resource policy. initial, when
// set, is the value a new secret is created with: Secrets Manager makes a secret's first version
// AWSCURRENT whatever its staging labels, so a secret that must never show an undelivered value
// as current starts with a placeholder.
type secretOwner struct {
	user, account, arn, description string
	initial                         []byte
}

// stage writes body as v's AWSPENDING version, creating the secret when it does not exist. The
// write is tried first: once a user's secret exists (every rotation but the first) staging is
// one call, and the secret and its resource policy are created only when the write answers
// ResourceNotFoundException.
func (s *SecretsManager) stage(ctx context.Context, v smVersion, body []byte, o secretOwner) error {
	put := func() error {
		_, err := s.API.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
			SecretId:           aws.String(v.name),
			ClientRequestToken: aws.String(v.id),
			SecretString:       aws.String(string(body)),
			VersionStages:      []string{StagePending},
		})
		return err
	}
	err := put()
	var nf *smtypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		if err := s.create(ctx, v.name, o); err != nil {
			return err
		}
		err = put()
	}
	if err != nil {
		return fmt.Errorf("stage %s in secret %s: %w", v.what, v.name, err)
	}
	return nil
}

// create creates the secret and puts its resource policy (a secret that exists already, created
// by a concurrent run, gets the policy too).
func (s *SecretsManager) create(ctx context.Context, name string, o secretOwner) error {
	in := &secretsmanager.CreateSecretInput{
		Name:        aws.String(name),
		Description: aws.String(o.description),
		Tags: []smtypes.Tag{
			{Key: aws.String("keycycle:user"), Value: aws.String(o.user)},
			{Key: aws.String("keycycle:account"), Value: aws.String(o.account)},
		},
	}
	if s.KMSKeyID != "" {
		in.KmsKeyId = aws.String(s.KMSKeyID)
	}
	if o.initial != nil {
		in.SecretString = aws.String(string(o.initial))
	}
	if _, err := s.API.CreateSecret(ctx, in); err != nil {
		var exists *smtypes.ResourceExistsException
		if !errors.As(err, &exists) { // a concurrent run created it: fine
			return fmt.Errorf("create secret %s: %w", name, err)
		}
	}
	policy, err := ReaderPolicy(o.arn, s.Readers)
	if err != nil {
		return err
	}
	if _, err := s.API.PutResourcePolicy(ctx, &secretsmanager.PutResourcePolicyInput{
		SecretId: aws.String(name), ResourcePolicy: aws.String(policy), BlockPublicPolicy: aws.Bool(true),
	}); err != nil {
		return fmt.Errorf("put resource policy on secret %s: %w", name, err)
	}
	return nil
}

// ReaderPolicy is the secret's resource policy: the owning user (and the given readers) may read
// it; every other principal is denied GetSecretValue, whatever its identity policy says.
func ReaderPolicy(userARN string, readers []string) (string, error) {
	principals := append([]string{userARN}, readers...)
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{
			map[string]any{
				"Sid":       "OwnerReads",
				"Effect":    "Allow",
				"Principal": map[string]any{"AWS": userARN},
				"Action":    []string{"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"},
				"Resource":  "*",
			},
			map[string]any{
				"Sid":       "NobodyElseReads",
				"Effect":    "Deny",
				"Principal": "*",
				"Action":    "secretsmanager:GetSecretValue",
				"Resource":  "*",
				"Condition": map[string]any{"StringNotEquals": map[string]any{"aws:PrincipalArn": principals}},
			},
		},
	}
	b, err := json.Marshal(doc)
	return string(b), err
}

// versions returns the secret's version-to-stages map; ok is false when the secret does not exist.
func (s *SecretsManager) versions(ctx context.Context, name string) (map[string][]string, bool, error) {
	out, err := s.API.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	var nf *smtypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("describe secret %s: %w", name, err)
	}
	return out.VersionIdsToStages, true, nil
}

// Holds reports whether the secret has a version for k's key (staged or current).
func (s *SecretsManager) Holds(ctx context.Context, k secret.AccessKey) (bool, error) {
	vs, ok, err := s.versions(ctx, s.Location(k))
	if err != nil || !ok {
		return false, err
	}
	_, held := vs[VersionID(k.KeyID)]
	return held, nil
}

// Read returns the secret access key stored for k's key id.
func (s *SecretsManager) Read(ctx context.Context, k secret.AccessKey) (secret.Value, error) {
	name := s.Location(k)
	out, err := s.API.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name), VersionId: aws.String(VersionID(k.KeyID))})
	if err != nil {
		return secret.Value{}, fmt.Errorf("read key %s from secret %s: %w", k.KeyID, name, err)
	}
	var v secretValue
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &v); err != nil || v.AccessKeyID != k.KeyID.Raw() {
		return secret.Value{}, fmt.Errorf("secret %s version for key %s does not hold that key", name, k.KeyID)
	}
	return secret.New(v.SecretAccessKey), nil
}

// Promote moves AWSCURRENT to k's version (Secrets Manager moves AWSPREVIOUS to the former
// current version) and clears AWSPENDING. Idempotent.
//
// When k replaces a key this sink delivered before (k.Replaces), that key's version is almost
// always the current one: the label is moved from it in one call, and only when Secrets Manager
// refuses (the current version is another, or k's version is missing) does Promote read the
// secret's versions and move the label from wherever it is. AWSPENDING stays on the promoted
// version: AWS documents a pending label on the current version as a completed rotation, and
// the next Stage moves it to the next key.
func (s *SecretsManager) Promote(ctx context.Context, k secret.AccessKey) error {
	v := smVersion{name: s.Location(k), id: VersionID(k.KeyID), what: "key " + k.KeyID.String()}
	if k.Replaces != "" && k.Replaces != k.KeyID {
		_, err := s.API.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(v.name),
			VersionStage: aws.String(StageCurrent), MoveToVersionId: aws.String(v.id), RemoveFromVersionId: aws.String(VersionID(k.Replaces))})
		if err == nil {
			return nil
		}
		var ip *smtypes.InvalidParameterException
		if !errors.As(err, &ip) {
			return fmt.Errorf("promote %s in secret %s: %w", v.what, v.name, err)
		}
	}
	return s.promote(ctx, v, false)
}

// promote moves AWSCURRENT to v's version and, with clearPending, removes AWSPENDING from it.
func (s *SecretsManager) promote(ctx context.Context, v smVersion, clearPending bool) error {
	vs, ok, err := s.versions(ctx, v.name)
	if err != nil {
		return err
	}
	if _, held := vs[v.id]; !ok || !held {
		return fmt.Errorf("promote %s: secret %s has no version for it", v.what, v.name)
	}
	current := versionWith(vs, StageCurrent)
	if current != v.id {
		in := &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(v.name), VersionStage: aws.String(StageCurrent), MoveToVersionId: aws.String(v.id)}
		if current != "" {
			in.RemoveFromVersionId = aws.String(current)
		}
		if _, err := s.API.UpdateSecretVersionStage(ctx, in); err != nil {
			return fmt.Errorf("promote %s in secret %s: %w", v.what, v.name, err)
		}
	}
	if clearPending && hasStage(vs[v.id], StagePending) {
		if _, err := s.API.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
			SecretId: aws.String(v.name), VersionStage: aws.String(StagePending), RemoveFromVersionId: aws.String(v.id),
		}); err != nil {
			return fmt.Errorf("clear AWSPENDING of %s in secret %s: %w", v.what, v.name, err)
		}
	}
	return nil
}

// Abort undoes Stage and Promote for k: it removes AWSPENDING from k's version and, when k's
// version is AWSCURRENT (a later required sink failed after the promotion), moves AWSCURRENT back
// to the AWSPREVIOUS version and drops the AWSPREVIOUS label Secrets Manager then puts on k's
// version. The version itself stays, unlabelled, until Secrets Manager drops it; its key is
// deleted by then. Without a previous version (the secret's first key) AWSCURRENT cannot move
// and Abort says so.
func (s *SecretsManager) Abort(ctx context.Context, k secret.AccessKey) error {
	return s.abort(ctx, smVersion{name: s.Location(k), id: VersionID(k.KeyID), what: "key " + k.KeyID.String()})
}

func (s *SecretsManager) abort(ctx context.Context, v smVersion) error {
	vs, ok, err := s.versions(ctx, v.name)
	if err != nil || !ok {
		return err
	}
	move := func(stage, to, from string) error {
		in := &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(v.name), VersionStage: aws.String(stage)}
		if to != "" {
			in.MoveToVersionId = aws.String(to)
		}
		if from != "" {
			in.RemoveFromVersionId = aws.String(from)
		}
		if _, err := s.API.UpdateSecretVersionStage(ctx, in); err != nil {
			return fmt.Errorf("abort %s in secret %s: %w", v.what, v.name, err)
		}
		return nil
	}
	if hasStage(vs[v.id], StageCurrent) {
		prev := versionWith(vs, StagePrevious)
		if prev == "" || prev == v.id {
			// Nothing a retry could change: say so at once.
			return backoff.Permanent(fmt.Errorf("abort %s: it is current in secret %s and there is no previous version to restore", v.what, v.name))
		}
		if err := move(StageCurrent, prev, v.id); err != nil {
			return err
		}
		if err := move(StagePrevious, "", v.id); err != nil {
			return err
		}
	}
	if hasStage(vs[v.id], StagePending) {
		return move(StagePending, "", v.id)
	}
	return nil
}

func versionWith(vs map[string][]string, stage string) string {
	for id, stages := range vs {
		if hasStage(stages, stage) {
			return id
		}
	}
	return ""
}

func hasStage(stages []string, stage string) bool {
	for _, s := range stages {
		if s == stage {
			return true
		}
	}
	return false
}

// Kind is the kind of sink, whatever its configured name.
func (*SecretsManager) Kind() sinkname.Kind { return sinkname.SecretsManager }

// SecretsManagerConfig are the settings of a secretsmanager sink: the key is kept in a Secrets
// Manager secret; the secret section applies; NameTemplate, when set, replaces its name_template.
type SecretsManagerConfig struct {
	NameTemplate string `yaml:"name_template"`
}

// Kind is sinkname.SecretsManager.
func (*SecretsManagerConfig) Kind() sinkname.Kind { return sinkname.SecretsManager }

// Template is the secret's name template: the sink's own, else the secret section's.
func (s *SecretsManagerConfig) Template(sec config.Secret) string {
	if s.NameTemplate != "" {
		return s.NameTemplate
	}
	return sec.NameTemplate
}

// Access is the secret.
func (s *SecretsManagerConfig) Access(sec config.Secret) config.SinkAccess {
	return config.SinkAccess{Secret: s.Template(sec)}
}

// Check checks the name template.
func (s *SecretsManagerConfig) Check(c *config.SinkCheck) {
	if s.NameTemplate != "" {
		if msg := config.CheckSecretTemplate(s.NameTemplate); msg != "" {
			c.Problem(msg, "name_template")
		}
	}
}

func init() {
	registerType(config.SinkType{Kind: sinkname.SecretsManager, Primary: true,
		New: func() config.SinkSettings { return &SecretsManagerConfig{} },
		About: sinkname.About{Service: "AWS Secrets Manager", Fetch: func(name, region string) string {
			return awsCLI("secretsmanager get-secret-value --secret-id "+sinkname.ShellQuote(name), region, "SecretString")
		}}},
		func(s *SecretsManagerConfig, c config.Sink, env *Env) (Built, error) {
			return &SecretsManager{API: secretsManagerClient(env), NameTemplate: s.Template(env.Secret), KMSKeyID: env.Secret.KMSKeyID,
				Readers: env.Readers, SinkName: c.Name, PasswordTemplate: env.Passwords.SecretTemplate}, nil
		})
}

// awsCLI is the AWS CLI command "aws <command> [--region region] --query <query> --output text".
func awsCLI(command, region, query string) string {
	cmd := "aws " + command
	if region != "" {
		cmd += " --region " + sinkname.ShellQuote(region)
	}
	return cmd + " --query " + query + " --output text"
}
