package sink

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/secret"
	"github.com/keycycle/keycycle/internal/sinkname"
)

// Env is what building sinks from the configuration needs. One Env builds one delivery list, in
// order: it remembers what later sinks refer to (the primary sink's location) and creates each
// AWS client once.
type Env struct {
	AWS       aws.Config
	Secret    config.Secret
	Passwords config.Passwords
	// Readers are the principals a Secrets Manager secret's policy lets read it besides its user.
	Readers []string
	// Backoff is the first wait between a retrying sink's attempts.
	Backoff time.Duration
	Now     func() time.Time
	// LookupEnv reads an environment variable; nil: os.LookupEnv.
	LookupEnv func(string) (string, bool)

	// Stored and StoredPassword are where the list's first sink keeps a key and a password, for
	// push sinks' messages; SecretName is the location of its first Secrets Manager sink. Build
	// sets them as it goes.
	Stored         func(secret.AccessKey) string
	StoredPassword func(secret.Password) string
	SecretName     func(secret.AccessKey) string

	clients map[string]any
}

// Built is a sink as Build returns it: every sink names itself, says its kind and where it puts a key.
type Built interface {
	Name() string
	Kind() sinkname.Kind
	Location(k secret.AccessKey) string
}

// builder makes the sink of one configuration entry.
type builder func(c config.Sink, env *Env) (Built, error)

var builders = map[sinkname.Kind]builder{}

// registerType adds a sink type in one call from the init of its file: the configuration side
// (its settings S, their checks, primary-ness, what it reaches, what a person is told about it;
// config.RegisterSinkType) and how its sink is built from settings S.
func registerType[S config.SinkSettings](t config.SinkType, build func(s S, c config.Sink, env *Env) (Built, error)) {
	if _, ok := t.New().(S); !ok {
		panic("sink: type " + string(t.Kind) + " builds from settings other than it declares")
	}
	if _, dup := builders[t.Kind]; dup {
		panic("sink: type " + string(t.Kind) + " registered twice")
	}
	config.RegisterSinkType(t)
	builders[t.Kind] = func(c config.Sink, env *Env) (Built, error) {
		s, ok := c.Settings.(S)
		if !ok {
			return nil, fmt.Errorf("sink %s: settings %T are not of type %s", c.Name, c.Settings, t.Kind)
		}
		return build(s, c, env)
	}
}

// Build makes the sink of one entry of a delivery list; entries are built in the list's order.
func (env *Env) Build(c config.Sink) (Built, error) {
	if c.Settings == nil {
		return nil, fmt.Errorf("sink %s has no type", c.Name)
	}
	b, ok := builders[c.Kind()]
	if !ok {
		return nil, fmt.Errorf("sink %s: no sink of type %s", c.Name, c.Kind())
	}
	s, err := b(c, env)
	if err != nil {
		return nil, err
	}
	if env.Stored == nil {
		env.Stored = s.Location
		if ps, ok := s.(interface {
			PasswordLocation(secret.Password) string
		}); ok {
			env.StoredPassword = ps.PasswordLocation
		}
	}
	if s.Kind() == sinkname.SecretsManager && env.SecretName == nil {
		env.SecretName = s.Location
	}
	return s, nil
}

func (env *Env) lookupEnv(name string) (string, bool) {
	if env.LookupEnv != nil {
		return env.LookupEnv(name)
	}
	return os.LookupEnv(name)
}

// client returns the AWS client of a service, made once per Env.
func client[C any](env *Env, service string, newClient func(aws.Config) C) C {
	if c, ok := env.clients[service].(C); ok {
		return c
	}
	if env.clients == nil {
		env.clients = map[string]any{}
	}
	c := newClient(env.AWS)
	env.clients[service] = c
	return c
}

func secretsManagerClient(env *Env) *secretsmanager.Client {
	return client(env, "secretsmanager", func(c aws.Config) *secretsmanager.Client { return secretsmanager.NewFromConfig(c) })
}

// credentialOnce reads a sink's credential from the Secrets Manager secret secretID when first
// needed, turns it into the token the sink sends with token, and keeps that for the sink's life
// (one run). Errors name the secret, never its value.
func credentialOnce(sm SecretsManagerAPI, secretID string, token func(ctx context.Context, stored secret.Value) (secret.Value, error)) func(context.Context) (secret.Value, error) {
	var (
		mu   sync.Mutex
		kept secret.Value
	)
	return func(ctx context.Context) (secret.Value, error) {
		mu.Lock()
		defer mu.Unlock()
		if !kept.IsZero() {
			return kept, nil
		}
		out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)})
		if err != nil {
			return secret.Value{}, fmt.Errorf("read secret %s: %w", secretID, err)
		}
		t, err := token(ctx, secret.New(aws.ToString(out.SecretString)))
		if err != nil {
			return secret.Value{}, err
		}
		kept = t
		return kept, nil
	}
}

// sinkToken calls get, a sink's credential source, for the sink and target where ("github
// owner/repo"); what names the credential ("token") in the errors, which never hold its value.
func sinkToken(ctx context.Context, get func(context.Context) (secret.Value, error), where, what string) (secret.Value, error) {
	if get == nil {
		return secret.Value{}, fmt.Errorf("%s: no %s", where, what)
	}
	t, err := get(ctx)
	if err != nil {
		return secret.Value{}, fmt.Errorf("%s: %s: %w", where, what, err)
	}
	if t.IsZero() {
		return secret.Value{}, fmt.Errorf("%s: the %s is empty", where, what)
	}
	return t, nil
}
