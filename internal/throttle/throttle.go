// Package throttle keeps keycycle polite to AWS: one limiter per account, shared by every worker
// in the process, with separate read and write budgets (IAM's token buckets are per API per
// account and shared with everything else in it), that slows down when AWS answers Throttling
// and recovers slowly after. It plugs into the AWS SDK as a middleware on every attempt.
package throttle

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/keycycle/keycycle/internal/backoff"
)

// Budget is a sustained rate with a burst. PerSecond is where pacing starts; while calls
// succeed the rate grows additively (Increase per success, default PerSecond/20) up to Ceiling,
// and every Throttling answer halves it (never below PerSecond/16). Ceiling 0 is PerSecond: the
// rate never goes above the start.
type Budget struct {
	PerSecond float64
	Burst     int
	Ceiling   float64
	Increase  float64
}

func (b Budget) ceiling() float64 { return max(b.Ceiling, b.PerSecond) }

// Limits are an account's read and write budgets: Read and Write for IAM and every service not
// named in Services, which holds the budgets of services whose quotas differ.
type Limits struct {
	Read, Write Budget
	// Services maps an SDK service id ("STS", "Secrets Manager") to its own budgets.
	Services map[string]Limits
}

// DefaultLimits are the polite estimates of AWS-FACTS.md as a start: about 5 reads/s and 2
// writes/s per account sustained, bursts to 15 and 5, for IAM, growing while IAM answers up to
// ceilings of 20 reads/s and 8 writes/s (AWS publishes no IAM rate; these stay below what the
// tools that run against IAM at scale report, and a Throttling answer halves the rate); STS (AssumeRole, GetCallerIdentity) and
// Secrets Manager have far larger quotas (hundreds of requests per second; PutSecretValue,
// UpdateSecret and UpdateSecretVersionStage share 50 per second per region), so they get 50 and
// 20 per second.
func DefaultLimits() Limits {
	return Limits{
		Read: Budget{PerSecond: 5, Burst: 15, Ceiling: 20}, Write: Budget{PerSecond: 2, Burst: 5, Ceiling: 8},
		Services: map[string]Limits{
			"STS":             {Read: Budget{PerSecond: 50, Burst: 100}, Write: Budget{PerSecond: 50, Burst: 100}},
			"Secrets Manager": {Read: Budget{PerSecond: 50, Burst: 100}, Write: Budget{PerSecond: 20, Burst: 40}},
		},
	}
}

// Validate names the first impossible budget.
func (l Limits) Validate() error {
	for name, b := range map[string]Budget{"read": l.Read, "write": l.Write} {
		if b.PerSecond <= 0 || b.Burst < 1 {
			return fmt.Errorf("%s budget: per_second must be > 0 and burst >= 1", name)
		}
		if b.Ceiling < 0 || b.Increase < 0 {
			return fmt.Errorf("%s budget: ceiling and increase must not be negative", name)
		}
	}
	return nil
}

// bucket is an adaptive token bucket (AIMD, as TCP): every success adds recover to its rate, up
// to max; Throttled halves it, down to a floor of a sixteenth of the start rate.
type bucket struct {
	mu      sync.Mutex
	start   float64 // configured start rate
	max     float64 // ceiling
	rate    float64 // current rate
	burst   float64
	tokens  float64
	last    time.Time
	now     func() time.Time
	waited  time.Duration
	slowed  int
	recover float64
}

func newBucket(b Budget, now func() time.Time) *bucket {
	inc := b.Increase
	if inc <= 0 {
		inc = b.PerSecond / 20
	}
	return &bucket{start: b.PerSecond, max: b.ceiling(), rate: b.PerSecond, burst: float64(b.Burst), tokens: float64(b.Burst),
		last: now(), now: now, recover: inc}
}

// reserve takes a token and says how long to wait before using it.
func (b *bucket) reserve() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	d := time.Duration(-b.tokens / b.rate * float64(time.Second))
	b.waited += d
	return d
}

func (b *bucket) throttled() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rate = max(b.rate/2, b.start/16)
	b.tokens = min(b.tokens, 0)
	b.slowed++
}

func (b *bucket) succeeded() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rate = min(b.max, b.rate+b.recover)
}

// Clock is the time a limiter paces calls on. Sleep waits d, or less when ctx ends first (then it
// returns ctx's error). Tests inject a fake whose Sleep moves its Now, so pacing is exact and
// instant; production uses the wall clock.
type Clock interface {
	Now() time.Time
	Sleep(ctx context.Context, d time.Duration) error
}

// WallClock is the real clock.
type WallClock struct{}

// Now returns time.Now().
func (WallClock) Now() time.Time { return time.Now() }

// Sleep is backoff.Sleep.
func (WallClock) Sleep(ctx context.Context, d time.Duration) error { return backoff.Sleep(ctx, d) }

// Account limits the calls of one AWS account.
type Account struct {
	read, write *bucket
	clock       Clock
}

// NewAccount returns a limiter with the given limits on clock (nil: the wall clock).
func NewAccount(l Limits, clock Clock) *Account {
	if clock == nil {
		clock = WallClock{}
	}
	a := newAccount(l, clock.Now)
	a.clock = clock
	return a
}

func newAccount(l Limits, now func() time.Time) *Account {
	return &Account{read: newBucket(l.Read, now), write: newBucket(l.Write, now), clock: WallClock{}}
}

func (a *Account) bucket(write bool) *bucket {
	if write {
		return a.write
	}
	return a.read
}

// Wait blocks until a read (or write) may be sent, or ctx ends.
func (a *Account) Wait(ctx context.Context, write bool) error {
	return a.clock.Sleep(ctx, a.bucket(write).reserve())
}

// Observe adapts the budget to a call's outcome.
func (a *Account) Observe(write bool, err error) {
	b := a.bucket(write)
	if IsThrottling(err) {
		b.throttled()
		return
	}
	if err == nil {
		b.succeeded()
	}
}

// Stats reports how much the limiter held calls back and how often AWS throttled them.
type Stats struct {
	Waited    time.Duration
	Throttled int
	ReadRate  float64 // current rates, per second
	WriteRate float64
}

// Stats returns the limiter's counters.
func (a *Account) Stats() Stats {
	var s Stats
	for _, b := range []*bucket{a.read, a.write} {
		b.mu.Lock()
		s.Waited += b.waited
		s.Throttled += b.slowed
		b.mu.Unlock()
	}
	a.read.mu.Lock()
	s.ReadRate = a.read.rate
	a.read.mu.Unlock()
	a.write.mu.Lock()
	s.WriteRate = a.write.rate
	a.write.mu.Unlock()
	return s
}

// IsThrottling reports whether err is AWS saying "slow down".
func IsThrottling(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
		"TooManyRequestsException", "RequestLimitExceeded", "SlowDown", "RequestThrottled":
		return true
	}
	return false
}

// IsWrite classifies an operation by name: reads are Get*, List*, Describe*, Generate* (the
// credential report is a read as far as IAM's buckets are concerned) and sts:GetCallerIdentity.
func IsWrite(operation string) bool {
	for _, p := range []string{"Get", "List", "Describe", "Generate"} {
		if strings.HasPrefix(operation, p) {
			return false
		}
	}
	return true
}

// Registry hands out one set of limiters per account, shared by every client of the process.
type Registry struct {
	limits Limits
	clock  Clock
	mu     sync.Mutex
	byID   map[string]*Services
}

// NewRegistry returns a registry giving every account the same limits, paced on the wall clock.
func NewRegistry(l Limits) *Registry { return NewRegistryOn(l, nil) }

// NewRegistryOn is NewRegistry paced on clock (nil: the wall clock).
func NewRegistryOn(l Limits, clock Clock) *Registry {
	return &Registry{limits: l, clock: clock, byID: map[string]*Services{}}
}

// For returns the account's limiters.
func (r *Registry) For(accountID string) *Services {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.byID[accountID]
	if a == nil {
		a = NewServicesOn(r.limits, r.clock)
		r.byID[accountID] = a
	}
	return a
}

// APIOption installs the account's limiters in an SDK client: every attempt (retries included)
// waits for its budget, and every answer adapts it. AWS's buckets are per account and per API, so
// each service of the account gets its own limiter with the account's limits. Add it with
// aws.Config.APIOptions.
func (s *Services) APIOption(stack *middleware.Stack) error {
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("keycycle-throttle",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			a := s.For(awsmiddleware.GetServiceID(ctx))
			write := IsWrite(awsmiddleware.GetOperationName(ctx))
			if err := a.Wait(ctx, write); err != nil {
				return middleware.FinalizeOutput{}, middleware.Metadata{}, err
			}
			out, md, err := next.HandleFinalize(ctx, in)
			a.Observe(write, err)
			return out, md, err
		}), middleware.After)
}

// Services is one account's limiters, one per AWS service.
type Services struct {
	limits Limits
	clock  Clock
	mu     sync.Mutex
	by     map[string]*Account
}

// NewServices returns per-service limiters with the given limits, paced on the wall clock.
func NewServices(l Limits) *Services { return NewServicesOn(l, nil) }

// NewServicesOn is NewServices paced on clock (nil: the wall clock).
func NewServicesOn(l Limits, clock Clock) *Services {
	return &Services{limits: l, clock: clock, by: map[string]*Account{}}
}

// For returns the limiter of one service (its SDK service id, such as "IAM").
func (s *Services) For(service string) *Account {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.by[service]
	if a == nil {
		l, ok := s.limits.Services[service]
		if !ok {
			l = s.limits
		}
		a = NewAccount(l, s.clock)
		s.by[service] = a
	}
	return a
}

// Stats sums the counters of every service's limiter.
func (s *Services) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out Stats
	for _, a := range s.by {
		st := a.Stats()
		out.Waited += st.Waited
		out.Throttled += st.Throttled
	}
	if iam := s.by["IAM"]; iam != nil {
		st := iam.Stats()
		out.ReadRate, out.WriteRate = st.ReadRate, st.WriteRate
	}
	return out
}

// Configured returns DefaultLimits with the read and write budgets a configuration sets: a
// budget equal to the default start and burst keeps the default ceiling (it adapts upwards); any
// other is taken as it is, its own ceiling (keycycle never goes above a rate the user chose).
func Configured(read, write Budget) Limits {
	l := DefaultLimits()
	if read.PerSecond != l.Read.PerSecond || read.Burst != l.Read.Burst {
		l.Read = read
	}
	if write.PerSecond != l.Write.PerSecond || write.Burst != l.Write.Burst {
		l.Write = write
	}
	return l
}
