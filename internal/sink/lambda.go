package sink

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/secret"
	"github.com/keycycle/keycycle/internal/sinkname"
)

// LambdaAPI is the part of the Lambda client the sink calls; *lambda.Client satisfies it.
type LambdaAPI interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

var _ LambdaAPI = (*lambda.Client)(nil)

// Lambda invokes a handler function after each new key, with the CDK construct's contract:
// the payload {"username","secretName","metadata"} names the secret, and the handler fetches the
// key from it itself. The payload never carries the key.
//
// Phases: Stage invokes the function as a DryRun (it exists and keycycle may invoke it); Promote
// invokes it synchronously (RequestResponse) after the secret is current, and fails when the
// function reports an error; Abort does nothing: an invocation cannot be undone, and the key it
// announced is deleted by the rollback.
type Lambda struct {
	API LambdaAPI
	// Function is the function's name or ARN.
	Function string
	// SecretName gives the name of the secret the handler reads the key from.
	SecretName func(k secret.AccessKey) string
	// Metadata is passed per user name as given (an object, or a string as the CDK construct's
	// users carry); a user without an entry gets {}.
	Metadata map[string]any
	// SinkName names the sink in reports and records; empty is "lambda".
	SinkName string
}

// LambdaPayload is what the handler receives.
type LambdaPayload struct {
	Username   string `json:"username"`
	SecretName string `json:"secretName"`
	Metadata   any    `json:"metadata"`
}

// Name identifies the sink.
func (l *Lambda) Name() string {
	if l.SinkName != "" {
		return l.SinkName
	}
	return "lambda"
}

// Location names the function.
func (l *Lambda) Location(secret.AccessKey) string { return "lambda:" + l.Function }

// Stage checks that the function can be invoked.
func (l *Lambda) Stage(ctx context.Context, k secret.AccessKey) error {
	if _, err := l.API.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(l.Function), InvocationType: lambdatypes.InvocationTypeDryRun}); err != nil {
		return fmt.Errorf("check function %s for key %s: %w", l.Function, k.KeyID, err)
	}
	return nil
}

// Promote invokes the handler and waits for its answer.
func (l *Lambda) Promote(ctx context.Context, k secret.AccessKey) error {
	md, ok := l.Metadata[k.UserName]
	if !ok || md == nil {
		md = map[string]any{}
	}
	body, err := json.Marshal(LambdaPayload{Username: k.UserName, SecretName: l.SecretName(k), Metadata: md})
	if err != nil {
		return fmt.Errorf("encode payload for function %s: %w", l.Function, err)
	}
	out, err := l.API.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(l.Function), InvocationType: lambdatypes.InvocationTypeRequestResponse, Payload: body})
	if err != nil {
		return fmt.Errorf("invoke function %s for key %s: %w", l.Function, k.KeyID, err)
	}
	if out.FunctionError != nil {
		// Only the error type: the message is the handler's own text, which keycycle does not
		// control and must not repeat.
		var fe struct {
			ErrorType string `json:"errorType"`
		}
		_ = json.Unmarshal(out.Payload, &fe)
		return fmt.Errorf("function %s failed for key %s (%s, errorType %q)", l.Function, k.KeyID, aws.ToString(out.FunctionError), fe.ErrorType)
	}
	return nil
}

// Abort does nothing: an invocation cannot be undone.
func (l *Lambda) Abort(context.Context, secret.AccessKey) error { return nil }

// Kind is the kind of sink, whatever its configured name.
func (*Lambda) Kind() sinkname.Kind { return KindLambda }

// KindLambda is the kind of a lambda sink.
const KindLambda sinkname.Kind = "lambda"

// LambdaConfig are the settings of a lambda sink: it invokes Function (name or ARN) with
// {"username","secretName","metadata"}; SecretName is the secret name template the handler reads
// (default: the name of this list's secretsmanager sink); Metadata is per user name.
type LambdaConfig struct {
	Function   string         `yaml:"function"`
	SecretName string         `yaml:"secret_name"`
	Metadata   map[string]any `yaml:"metadata"`
}

// Kind is KindLambda.
func (*LambdaConfig) Kind() sinkname.Kind { return KindLambda }

// Access is the function (the handler reads the secret with its own role).
func (s *LambdaConfig) Access(config.Secret) config.SinkAccess {
	return config.SinkAccess{Function: s.Function}
}

// Check checks the function and that the handler has a secret to read.
func (s *LambdaConfig) Check(c *config.SinkCheck) {
	if s.Function == "" {
		c.Problem("a lambda sink needs function (a name or ARN)", "")
	} else if strings.ContainsAny(s.Function, " /") {
		c.Problem(fmt.Sprintf("%q is not a function name or ARN", s.Function), "function")
	}
	if s.SecretName != "" {
		if msg := config.CheckSecretTemplate(s.SecretName); msg != "" {
			c.Problem(msg, "secret_name")
		}
		return
	}
	for _, b := range c.Before() {
		if b.Kind() == sinkname.SecretsManager {
			return
		}
	}
	c.Problem("the handler fetches the key itself from a secret: put a secretsmanager sink before this one, or set secret_name", "")
}

func init() {
	registerType(config.SinkType{Kind: KindLambda, About: sinkname.About{Service: "an AWS Lambda function"},
		New: func() config.SinkSettings { return &LambdaConfig{} }},
		func(s *LambdaConfig, c config.Sink, env *Env) (Built, error) {
			name := env.SecretName
			if s.SecretName != "" {
				tmpl := s.SecretName
				name = func(k secret.AccessKey) string { return SecretName(tmpl, k.AccountID, k.UserName) }
			}
			if name == nil {
				return nil, fmt.Errorf("no secret for the handler to read: put a secretsmanager sink before it, or set secret_name")
			}
			api := client(env, "lambda", func(c aws.Config) *lambda.Client { return lambda.NewFromConfig(c) })
			return &Lambda{API: api, Function: s.Function, SecretName: name, Metadata: s.Metadata, SinkName: c.Name}, nil
		})
}
