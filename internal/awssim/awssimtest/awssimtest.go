// Package awssimtest starts the AWS sandbox on httptest for tests and returns an aws.Config
// for the unmodified AWS SDK for Go v2 that talks to it.
package awssimtest

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/keycycle/keycycle/internal/awscfg"
	"github.com/keycycle/keycycle/internal/awssim"
)

// Option changes how Start builds the sandbox.
type Option func(*awssim.Options)

// WithScenario loads sc instead of the built-in scenario.
func WithScenario(sc *awssim.Scenario) Option { return func(o *awssim.Options) { o.Scenario = sc } }

// WithScenarioYAML parses a scenario file's text; a bad scenario fails the test.
func WithScenarioYAML(tb testing.TB, src string) Option {
	tb.Helper()
	sc, err := awssim.ParseScenario("scenario.yaml", []byte(src))
	if err != nil {
		tb.Fatalf("awssimtest: %v", err)
	}
	return WithScenario(sc)
}

// WithFaults sets the initial fault injection.
func WithFaults(f awssim.Faults) Option { return func(o *awssim.Options) { o.Faults = f } }

// WithWallClock replaces the real clock the sandbox uses for latency, rate limits, key
// propagation and session expiry (awssim.Options.WallClock).
func WithWallClock(now func() time.Time) Option { return func(o *awssim.Options) { o.WallClock = now } }

// WithSleep replaces how the sandbox waits out injected latency (awssim.Options.Sleep).
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(o *awssim.Options) { o.Sleep = sleep }
}

// Sandbox is a running sandbox and how to reach it.
type Sandbox struct {
	*awssim.Server
	URL string
}

// Start serves a sandbox on httptest until the test ends and returns it with an aws.Config
// signed by the first account's operator credential.
func Start(tb testing.TB, opts ...Option) (*Sandbox, aws.Config) {
	tb.Helper()
	var o awssim.Options
	for _, opt := range opts {
		opt(&o)
	}
	srv, err := awssim.New(o)
	if err != nil {
		tb.Fatalf("awssimtest: %v", err)
	}
	ts := httptest.NewServer(srv)
	tb.Cleanup(ts.Close)
	sb := &Sandbox{Server: srv, URL: ts.URL}
	accts := srv.Accounts()
	cred, _ := srv.OperatorCredential(accts[0].ID)
	return sb, sb.Config(cred.AccessKeyID, cred.SecretAccessKey, "")
}

// Config returns an aws.Config for the sandbox signed with the given credential. It makes a
// single attempt per call, so tests see the sandbox's answers (including throttling) as they are.
func (sb *Sandbox) Config(accessKeyID, secret, sessionToken string) aws.Config {
	return aws.Config{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(sb.URL),
		Credentials:      credentials.NewStaticCredentialsProvider(accessKeyID, secret, sessionToken),
		RetryMaxAttempts: 1,
		HTTPClient:       awscfg.Client(awshttp.NewBuildableClient(), nil),
	}
}

// AccountConfig returns a config signed by the operator credential of the given account.
func (sb *Sandbox) AccountConfig(tb testing.TB, accountID string) aws.Config {
	tb.Helper()
	cred, ok := sb.OperatorCredential(accountID)
	if !ok {
		tb.Fatalf("awssimtest: no account %s", accountID)
	}
	return sb.Config(cred.AccessKeyID, cred.SecretAccessKey, "")
}
