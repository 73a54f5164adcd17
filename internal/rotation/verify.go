package rotation

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keycycle/keycycle/internal/backoff"
	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/secret"
)

// Verifier proves that a new access key authenticates. Verify returns nil only when it does;
// it must wait out IAM's eventual consistency itself and give up within a bounded time.
type Verifier interface {
	Verify(ctx context.Context, id inventory.KeyID, sec secret.Value) error
}

// STSVerifier signs sts:GetCallerIdentity (which needs no permission and cannot be denied) with the
// new key until Successes consecutive calls succeed, backing off between failures from
// Interval up to MaxInterval, for at most Timeout.
type STSVerifier struct {
	// Config is the base AWS configuration (region, endpoint); its credentials are replaced.
	Config      aws.Config
	Successes   int           // default 3
	Interval    time.Duration // first wait after a failure, default 1s
	MaxInterval time.Duration // default 10s
	Timeout     time.Duration // default 2m, as Terraform's IAM waiters
	// WantUserARN, when set, must match the caller ARN the key authenticates as.
	WantUserARN string
	// Sleep waits between attempts; nil is backoff.Sleep (tests and the selftest inject a clock).
	Sleep func(ctx context.Context, d time.Duration) error
}

var _ Verifier = (*STSVerifier)(nil)

// Verify implements Verifier.
func (v *STSVerifier) Verify(ctx context.Context, id inventory.KeyID, sec secret.Value) error {
	need, wait, maxWait, limit := v.Successes, v.Interval, v.MaxInterval, v.Timeout
	if need <= 0 {
		need = 3
	}
	if wait <= 0 {
		wait = time.Second
	}
	if maxWait <= 0 {
		maxWait = 10 * time.Second
	}
	if limit <= 0 {
		limit = 2 * time.Minute
	}
	cfg := v.Config.Copy()
	cfg.Credentials = credentials.NewStaticCredentialsProvider(id.Raw(), sec.Reveal(), "")
	cfg.RetryMaxAttempts = 1
	client := sts.NewFromConfig(cfg)
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	ok, attempts := 0, 0
	var last error
	for ok < need {
		attempts++
		out, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		switch {
		case err != nil:
			ok, last = 0, err
		case v.WantUserARN != "" && aws.ToString(out.Arn) != v.WantUserARN:
			return fmt.Errorf("key %s authenticates as %s, want %s", id, aws.ToString(out.Arn), v.WantUserARN)
		default:
			ok++
			continue
		}
		sleep := v.Sleep
		if sleep == nil {
			sleep = backoff.Sleep
		}
		if sleep(ctx, wait) != nil {
			return fmt.Errorf("key %s did not authenticate %d times in a row within %s (%d attempts): %w", id, need, limit, attempts, last)
		}
		wait = min(wait*2, maxWait)
	}
	return nil
}
