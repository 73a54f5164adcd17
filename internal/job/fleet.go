package job

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/rotation"
	"github.com/keycycle/keycycle/internal/scan"
	"github.com/keycycle/keycycle/internal/throttle"
)

// Role says how the hub reaches a member account.
type Role struct {
	// Name is a role name ("KeycycleMember") or an ARN template with {{account}}
	// ("arn:aws:iam::{{account}}:role/keycycle/KeycycleMember").
	Name string
	// ExternalID is sent with every AssumeRole when set.
	ExternalID string
	// SessionName labels the sessions in CloudTrail (default "keycycle").
	SessionName string
	// Duration of a session (default 1h); sessions are refreshed 5 minutes before they expire.
	Duration time.Duration
}

// ARN returns the role ARN for an account.
func (r Role) ARN(partition, accountID string) string {
	if strings.HasPrefix(r.Name, "arn:") {
		return strings.ReplaceAll(r.Name, "{{account}}", accountID)
	}
	return "arn:" + partition + ":iam::" + accountID + ":role/" + strings.TrimPrefix(r.Name, "/")
}

// Target is one account to work on.
type Target struct {
	AccountID string
	Name      string
}

// AccountResult is what happened in one account.
type AccountResult struct {
	Target
	// Runner is the account's runner (its AWS configuration), for work after the run such as
	// notifications.
	Runner  *Runner
	Scanned Scanned
	Results []rotation.Result
	// Err is set when the account could not be worked on at all (role, scan); the others go on.
	Err error
}

// Progress is reported after every account.
type Progress struct {
	Accounts, Done, Failed int
	Steps                  int    // steps carried out (apply) or planned (plan) so far
	Users                  int    // users read so far (plan)
	Last                   string // the account just finished
}

// Fleet runs keycycle across many accounts from one hub identity: it assumes a role in each
// (sessions cached and refreshed before expiry), gives every account its own rate limiter
// shared by all of its clients, and works on Concurrency accounts at once.
type Fleet struct {
	// Hub is the configuration of the identity that assumes the member roles.
	Hub  aws.Config
	Role Role
	// Limits is the per-account budget registry; nil uses throttle.DefaultLimits.
	Limits *throttle.Registry
	// Concurrency is how many accounts are worked on at once (default 8).
	Concurrency int
	// Runner is a template: every account gets a copy with its own AWS configuration.
	Runner Runner
	// Progress, when set, is called after each account (from several goroutines, serialized).
	Progress func(Progress)
	// StartBy, when set, is the wall-clock time after which no account is started: the rest
	// end with ErrDeferred (a Lambda invocation nearing its deadline).
	StartBy time.Time

	mu       sync.Mutex
	sessions map[string]aws.CredentialsProvider
}

// ErrDeferred marks an account not started because Fleet.StartBy had passed.
var ErrDeferred = errors.New("deferred: not started before the deadline")

// Config returns the AWS configuration for an account: the hub's settings, credentials of the
// member role (cached), and the account's rate limiter on every call.
func (f *Fleet) Config(accountID string) aws.Config {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sessions == nil {
		f.sessions = map[string]aws.CredentialsProvider{}
	}
	if f.Limits == nil {
		f.Limits = throttle.NewRegistry(throttle.DefaultLimits())
	}
	if f.Role.Name == "" {
		// No role: the hub's own account (a single-account run).
		cfg := f.Hub.Copy()
		cfg.APIOptions = append(cfg.APIOptions, f.Limits.For(accountID).APIOption)
		return cfg
	}
	creds, ok := f.sessions[accountID]
	if !ok {
		session := f.Role.SessionName
		if session == "" {
			session = "keycycle"
		}
		hub := f.Hub.Copy()
		hub.APIOptions = append(hub.APIOptions, f.Limits.For("hub").APIOption)
		p := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(hub), f.Role.ARN("aws", accountID), func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = session
			if f.Role.ExternalID != "" {
				o.ExternalID = aws.String(f.Role.ExternalID)
			}
			if f.Role.Duration > 0 {
				o.Duration = f.Role.Duration
			}
		})
		creds = aws.NewCredentialsCache(p, func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = 5 * time.Minute })
		f.sessions[accountID] = creds
	}
	cfg := f.Hub.Copy()
	cfg.Credentials = creds
	cfg.APIOptions = append(cfg.APIOptions, f.Limits.For(accountID).APIOption)
	return cfg
}

// ApplyPlans applies the plans of an earlier Plan (or of a saved plan, one entry per account).
func (f *Fleet) ApplyPlans(ctx context.Context, planned []AccountResult, dryRun bool) []AccountResult {
	plans := make(map[string]plan.Plan, len(planned))
	targets := make([]Target, 0, len(planned))
	for _, p := range planned {
		if p.Err != nil {
			continue
		}
		plans[p.AccountID] = p.Scanned.Plan
		targets = append(targets, p.Target)
	}
	scanned := make(map[string]Scanned, len(planned))
	for _, p := range planned {
		if p.Err == nil {
			scanned[p.AccountID] = p.Scanned
		}
	}
	return f.each(ctx, targets, func(ctx context.Context, r *Runner, res *AccountResult) int {
		res.Scanned.Plan = plans[res.AccountID]
		// The memberships the plan's scan read, for the re-evaluation while they are fresh.
		if s := scanned[res.AccountID]; s.Account.ID == res.AccountID {
			r.scanned = snapshotScan(s.Account, s.Started)
		}
		res.Results, res.Err = r.Apply(ctx, res.Scanned.Plan, dryRun)
		n := 0
		for _, x := range res.Results {
			if x.Outcome != rotation.Noted {
				n++
			}
		}
		return n
	})
}

// Plan plans every target.
func (f *Fleet) Plan(ctx context.Context, targets []Target) []AccountResult {
	return f.each(ctx, targets, func(ctx context.Context, r *Runner, res *AccountResult) int {
		s, err := r.Plan(ctx)
		res.Scanned, res.Err = s, err
		return len(s.Plan.Steps)
	})
}

// Apply plans and applies every target (dryRun: re-check and report only).
func (f *Fleet) Apply(ctx context.Context, targets []Target, dryRun bool) []AccountResult {
	return f.each(ctx, targets, func(ctx context.Context, r *Runner, res *AccountResult) int {
		s, err := r.Plan(ctx)
		res.Scanned, res.Err = s, err
		if err != nil {
			return 0
		}
		res.Results, res.Err = r.Apply(ctx, s.Plan, dryRun)
		n := 0
		for _, x := range res.Results {
			if x.Outcome != rotation.Noted {
				n++
			}
		}
		return n
	})
}

func (f *Fleet) each(ctx context.Context, targets []Target, work func(context.Context, *Runner, *AccountResult) int) []AccountResult {
	out := make([]AccountResult, len(targets))
	n := f.Concurrency
	if n <= 0 {
		n = 8
	}
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	var pmu sync.Mutex
	prog := Progress{Accounts: len(targets)}
	for i, t := range targets {
		out[i].Target = t
		wg.Add(1)
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Done()
			out[i].Err = fmt.Errorf("account %s not started: %w", t.AccountID, ctx.Err())
			continue
		}
		if !f.StartBy.IsZero() && !time.Now().Before(f.StartBy) {
			out[i].Err = ErrDeferred
			<-sem
			wg.Done()
			continue
		}
		go func(res *AccountResult) {
			defer wg.Done()
			defer func() { <-sem }()
			r := f.Runner // a copy: per-account configuration and identity
			r.AWS = f.Config(res.AccountID)
			r.caller = nil
			res.Runner = &r
			steps := work(ctx, &r, res)
			if res.Err == nil {
				id, err := r.Identity(ctx)
				switch {
				case err != nil:
				case res.AccountID == "":
					res.AccountID = aws.ToString(id.Account)
				case aws.ToString(id.Account) != res.AccountID:
					res.Err = fmt.Errorf("role in account %s signs into account %s", res.AccountID, aws.ToString(id.Account))
				}
			}
			if res.Err != nil {
				res.Err = nameAccount(res.AccountID, res.Err)
			}
			pmu.Lock()
			prog.Done++
			prog.Steps += steps
			prog.Users += res.Scanned.Stats.Users
			prog.Last = res.AccountID
			if res.Err != nil || failed(res.Results) {
				prog.Failed++
			}
			if f.Progress != nil {
				f.Progress(prog)
			}
			pmu.Unlock()
		}(&out[i])
	}
	wg.Wait()
	return out
}

func failed(rs []rotation.Result) bool {
	for _, r := range rs {
		if r.Outcome == rotation.Failed {
			return true
		}
	}
	return false
}

// Errors joins the per-account errors and failed steps of a fleet run (nil when all went well).
func Errors(results []AccountResult) error {
	var errs []error
	for _, r := range results {
		if r.Err != nil {
			errs = append(errs, r.Err)
		}
		for _, x := range r.Results {
			if x.Outcome == rotation.Failed {
				errs = append(errs, fmt.Errorf("account %s user %s: %s: %w", r.AccountID, x.Step.User, x.Detail, x.Err))
			}
		}
	}
	return errors.Join(errs...)
}

// Merge returns one plan of every account's steps.
func Merge(results []AccountResult, generatedAt time.Time) plan.Plan {
	var steps []plan.Step
	for _, r := range results {
		steps = append(steps, r.Scanned.Plan.Steps...)
	}
	return plan.New(generatedAt, steps)
}

// nameAccount says which account err concerns, once: a scan error already names it.
func nameAccount(accountID string, err error) error {
	var ae *scan.AccountError
	switch {
	case errors.As(err, &ae):
		return err
	case accountID == "":
		return fmt.Errorf("account (not identified): %w", err)
	}
	return fmt.Errorf("account %s: %w", accountID, err)
}

// RunnerFor returns the runner of one account: a copy of the template signing with the account's
// configuration (the member role, or the hub's own credentials in a single-account run).
func (f *Fleet) RunnerFor(accountID string) *Runner {
	r := f.Runner
	r.AWS = f.Config(accountID)
	r.caller = nil
	return &r
}
