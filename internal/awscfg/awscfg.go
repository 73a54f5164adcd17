// Package awscfg builds the AWS SDK configuration keycycle runs with: the standard chain
// (profiles, SSO, environment, AWS_ENDPOINT_URL), the SDK's standard retryer without its
// client-wide retry quota (keycycle paces itself with internal/throttle), and an HTTP client that
// records AWS's clock.
package awscfg

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
)

// Options select the profile and region; empty values leave the standard chain to decide.
type Options struct {
	Profile string
	Region  string
	// CredentialsFile, when set, is the shared credentials file to read (rotate-self names the
	// file it edits, so that both agree whatever the environment says).
	CredentialsFile string
}

// Load returns an aws.Config from the standard chain, and the clock of the AWS endpoint it talks to.
func Load(ctx context.Context, o Options) (aws.Config, *ServerClock, error) {
	clock := &ServerClock{}
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(Retryer),
	}
	if o.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(o.Profile))
	}
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	if o.CredentialsFile != "" {
		opts = append(opts, config.WithSharedCredentialsFiles([]string{o.CredentialsFile}))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	// Wrapped after loading, so that the chain's own HTTP settings (AWS_CA_BUNDLE, ...) apply.
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = awshttp.NewBuildableClient()
	}
	cfg.HTTPClient = Client(cfg.HTTPClient, clock)
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return cfg, clock, nil
}

// Retryer is the SDK retryer keycycle uses: standard mode with 8 attempts and backoff capped at
// 20s, and no client-wide retry quota (ratelimit.None): the SDK's default quota of 500 tokens,
// once drained by a throttling storm, fails calls without retrying them. keycycle paces itself
// with its own per-account limiter (internal/throttle) instead.
func Retryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 8
		o.MaxBackoff = 20 * time.Second
		o.RateLimiter = ratelimit.None
	})
}

// ServerClock is the time of the AWS endpoint, learned from the Date header of its answers.
// keycycle measures key ages on it, so a skewed local clock changes no decision (and a sandbox
// with a settable clock is read on its own time). Until an answer arrives it is the local clock.
type ServerClock struct {
	mu     sync.Mutex
	offset time.Duration
	seen   bool
	local  func() time.Time
}

// Now returns the endpoint's current time (second precision, as the Date header).
func (c *ServerClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.localNow().Add(c.offset).UTC()
}

func (c *ServerClock) localNow() time.Time {
	if c.local != nil {
		return c.local()
	}
	return time.Now()
}

// Observe records the server's Date header value seen now.
func (c *ServerClock) Observe(date string) {
	t, err := http.ParseTime(date)
	if err != nil {
		return
	}
	c.mu.Lock()
	c.offset, c.seen = t.Sub(c.localNow().Truncate(time.Second)), true
	c.mu.Unlock()
}

// Seen reports whether an answer has been observed.
func (c *ServerClock) Seen() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen
}

// Client wraps an SDK HTTP client: it records the server clock, and works around a race between
// the SDK and net/http (aws/aws-sdk-go-v2#1825, #2737): the SDK closes the request body as soon
// as response headers arrive, after which its body wrapper's WriteTo answers io.EOF; if
// net/http's write loop is still probing the body it takes that for a write error and closes the
// connection under the response being read ("use of closed network connection"). Hiding WriteTo
// turns the late read into a plain Read, whose io.EOF net/http treats as the end of the body.
func Client(next aws.HTTPClient, clock *ServerClock) aws.HTTPClient {
	return &client{next: next, clock: clock}
}

type client struct {
	next  aws.HTTPClient
	clock *ServerClock
}

func (c *client) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = readCloserOnly{r.Body}
	}
	resp, err := c.next.Do(r)
	if err == nil && c.clock != nil {
		if d := resp.Header.Get("Date"); d != "" {
			c.clock.Observe(d)
		}
	}
	return resp, err
}

// readCloserOnly exposes only Read and Close of the body it wraps.
type readCloserOnly struct{ io.ReadCloser }
