package job

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/rotation"
	"github.com/keycycle/keycycle/internal/secret"
	"github.com/keycycle/keycycle/internal/sink"
)

// Every sink is a rotation.Sink; the stores are also read back.
var (
	_ rotation.Sink    = (*sink.SecretsManager)(nil)
	_ rotation.Holder  = (*sink.SecretsManager)(nil)
	_ rotation.Reader  = (*sink.SecretsManager)(nil)
	_ rotation.Sink    = (*sink.SSM)(nil)
	_ rotation.Holder  = (*sink.SSM)(nil)
	_ rotation.Reader  = (*sink.SSM)(nil)
	_ rotation.Sink    = (*sink.Lambda)(nil)
	_ rotation.Sink    = (*sink.Webhook)(nil)
	_ rotation.Retrier = (*sink.Webhook)(nil)
	_ rotation.Sink    = (*sink.Email)(nil)
	_ rotation.Retrier = (*sink.Email)(nil)
	_ rotation.Sink    = (*sink.CredentialsFile)(nil)
	_ rotation.Holder  = (*sink.CredentialsFile)(nil)
	_ rotation.Reader  = (*sink.CredentialsFile)(nil)

	// Console passwords go to every sink but Lambda (whose handler contract is about keys).
	_ rotation.PasswordSink = (*sink.SecretsManager)(nil)
	_ rotation.PasswordSink = (*sink.SSM)(nil)
	_ rotation.PasswordSink = (*sink.Webhook)(nil)
	_ rotation.PasswordSink = (*sink.Email)(nil)
)

// Delivery is where new keys go (the configuration's delivery lists) and how fast sinks retry.
type Delivery struct {
	config.Delivery
	// Backoff is the first wait between webhook attempts (default 1s).
	Backoff time.Duration
}

// sinkRoutes builds the sinks of every configured delivery list once and returns the executor's
// Sinks function: the list of the step's rule, else the default list. readers are the principals
// a Secrets Manager secret's policy lets read it besides its user.
func (r *Runner) sinkRoutes(readers []string) (func(plan.Step) []rotation.Delivery, error) {
	d := r.Delivery.Delivery
	if len(d.Sinks) == 0 {
		d.Sinks = config.DefaultSinks()
	}
	b := &sinkBuilder{r: r, readers: readers}
	def, err := b.list(d.Sinks)
	if err != nil {
		return nil, err
	}
	byRule := map[string][]rotation.Delivery{}
	for rule, list := range d.Rules {
		if byRule[rule], err = b.list(list); err != nil {
			return nil, fmt.Errorf("delivery of rule %s: %w", rule, err)
		}
	}
	return func(st plan.Step) []rotation.Delivery {
		if ds, ok := byRule[st.Rule]; ok {
			return ds
		}
		return def
	}, nil
}

// sinkBuilder makes sinks, creating each AWS client once.
type sinkBuilder struct {
	r       *Runner
	readers []string
	sm      *secretsmanager.Client
	ssm     *ssm.Client
	lambda  *lambda.Client
	ses     *sesv2.Client
}

func (b *sinkBuilder) list(list []config.Sink) ([]rotation.Delivery, error) {
	out := make([]rotation.Delivery, 0, len(list))
	var stored func(secret.AccessKey) string // the first store's location, for push sinks' messages
	var storedPassword func(secret.Password) string
	var secretName func(secret.AccessKey) string
	for _, c := range list {
		s, err := b.sink(c, stored, secretName)
		if err != nil {
			return nil, fmt.Errorf("sink %s: %w", c.Name, err)
		}
		if stored == nil {
			stored = s.Location
			if ps, ok := s.(rotation.PasswordSink); ok {
				storedPassword = ps.PasswordLocation
			}
		}
		if w, ok := s.(*sink.Webhook); ok {
			w.PasswordStoredAt = storedPassword
		}
		if _, ok := s.(*sink.SecretsManager); ok && secretName == nil {
			secretName = s.Location
		}
		out = append(out, rotation.Delivery{Sink: s, Required: c.Required})
	}
	return out, nil
}

func (b *sinkBuilder) sink(c config.Sink, stored, secretName func(secret.AccessKey) string) (rotation.Sink, error) {
	r := b.r
	switch s := c.Settings.(type) {
	case *config.SecretsManagerSink:
		if b.sm == nil {
			b.sm = secretsmanager.NewFromConfig(r.AWS)
		}
		return &sink.SecretsManager{API: b.sm, NameTemplate: s.Template(r.Secret), KMSKeyID: r.Secret.KMSKeyID, Readers: b.readers, SinkName: c.Name,
			PasswordTemplate: r.passwords().SecretTemplate}, nil
	case *config.SSMSink:
		if b.ssm == nil {
			b.ssm = ssm.NewFromConfig(r.AWS)
		}
		return &sink.SSM{API: b.ssm, NameTemplate: s.Parameter, KMSKeyID: s.KMSKeyID, SinkName: c.Name,
			PasswordTemplate: r.passwords().ParameterTemplate}, nil
	case *config.LambdaSink:
		if b.lambda == nil {
			b.lambda = lambda.NewFromConfig(r.AWS)
		}
		name := secretName
		if s.SecretName != "" {
			tmpl := s.SecretName
			name = func(k secret.AccessKey) string { return sink.SecretName(tmpl, k.AccountID, k.UserName) }
		}
		if name == nil {
			return nil, fmt.Errorf("no secret for the handler to read: put a secretsmanager sink before it, or set secret_name")
		}
		return &sink.Lambda{API: b.lambda, Function: s.Function, SecretName: name, Metadata: s.Metadata, SinkName: c.Name}, nil
	case *config.WebhookSink:
		key, ok := os.LookupEnv(s.SigningSecretEnv)
		if !ok || key == "" {
			return nil, fmt.Errorf("environment variable %s (the webhook's signing key) is not set", s.SigningSecretEnv)
		}
		return &sink.Webhook{URL: s.URL, Key: secret.New(key), IncludeSecret: s.IncludeSecret, StoredAt: stored,
			Attempts: s.Attempts, Backoff: r.Delivery.Backoff, Now: r.now, SinkName: c.Name}, nil
	case *config.GitHubSink:
		if b.sm == nil {
			b.sm = secretsmanager.NewFromConfig(r.AWS)
		}
		return &sink.GitHub{APIURL: s.APIURL, Repository: s.Repository, Environment: s.Environment, Organization: s.Organization,
			Visibility: s.Visibility, KeyIDName: s.KeyIDName, SecretKeyName: s.SecretKeyName, SinkName: c.Name,
			Credential: githubCredential(b.sm, s.TokenSecret, s.APIURL, r.now)}, nil
	case *config.EmailSink:
		if b.ses == nil {
			b.ses = sesv2.NewFromConfig(r.AWS)
		}
		return &sink.Email{API: b.ses, From: s.From, ReplyTo: s.ReplyTo, OwnerTag: s.OwnerTag, RecipientTag: s.RecipientTag, SinkName: c.Name}, nil
	}
	return nil, fmt.Errorf("unknown sink type %T", c.Settings)
}

// githubCredential reads the github sink's credential from Secrets Manager when first needed and
// keeps the token it yields for the sink's life (one run).
func githubCredential(sm *secretsmanager.Client, secretID, apiURL string, now func() time.Time) func(context.Context) (secret.Value, error) {
	var (
		mu    sync.Mutex
		token secret.Value
	)
	return func(ctx context.Context) (secret.Value, error) {
		mu.Lock()
		defer mu.Unlock()
		if !token.IsZero() {
			return token, nil
		}
		out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)})
		if err != nil {
			return secret.Value{}, fmt.Errorf("read secret %s: %w", secretID, err)
		}
		get, err := sink.ParseGitHubCredential(secret.New(aws.ToString(out.SecretString)), apiURL, nil, now)
		if err != nil {
			return secret.Value{}, fmt.Errorf("secret %s: %w", secretID, err)
		}
		if token, err = get(ctx); err != nil {
			return secret.Value{}, err
		}
		return token, nil
	}
}
