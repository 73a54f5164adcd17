// Package job wires one keycycle run: scan -> policy -> [apply] -> audit. It is the only package
// that knows every adapter; the adapters never import each other.
package job

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keycycle/keycycle/internal/audit"
	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/exitcode"
	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/policy"
	"github.com/keycycle/keycycle/internal/rotation"
	"github.com/keycycle/keycycle/internal/scan"
	"github.com/keycycle/keycycle/internal/secret"
)

// Verify bounds the new-key check (rotation.STSVerifier); zero values take its defaults.
type Verify struct {
	Successes   int
	Interval    time.Duration
	MaxInterval time.Duration
	Timeout     time.Duration
	// Sleep waits between attempts; nil waits on a real timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Runner runs keycycle against the account its AWS configuration signs into.
type Runner struct {
	AWS   aws.Config
	Rules policy.Rules
	// Secret is the configuration's secret section: the Secrets Manager secret of new keys.
	Secret config.Secret
	Verify Verify
	// Delivery lists the sinks (sinks.go); empty: the Secrets Manager secret of Secret.
	Delivery Delivery
	// Now is the clock for ages and records; nil is time.Now.
	Now   func() time.Time
	Log   *slog.Logger
	Audit *audit.Writer
	// RunID labels audit records; empty generates one.
	RunID string
	// ReportPoll is the credential report poll interval (default 2s).
	ReportPoll time.Duration
	// Locker is rotation.Executor.Locker: nil for real runs (one per process).
	Locker rotation.Locker
	// RetryBackoff is rotation.Executor.Backoff, the first wait before the executor retries a
	// call: zero is its default (500ms). Harnesses that inject faults set it small.
	RetryBackoff time.Duration
	// Notify says who hears about a run (notify.go).
	Notify Notify
	// Passwords says how new console passwords are set and stored; nil: config.DefaultPasswords()
	// (reset required at the next sign-in).
	Passwords *config.Passwords

	caller *sts.GetCallerIdentityOutput
	// scanned is what the last Plan (or the plan ApplyPlans applies) read of the users, for the
	// policy re-evaluation (groups) and the deactivations (user and tags) of Apply while it is
	// fresh (groups.go). A Runner runs one Plan or
	// Apply at a time.
	scanned *scanSnapshot
}

func (r *Runner) passwords() config.Passwords {
	if r.Passwords == nil {
		return config.DefaultPasswords()
	}
	p := *r.Passwords
	d := config.DefaultPasswords()
	if p.SecretTemplate == "" {
		p.SecretTemplate = d.SecretTemplate
	}
	if p.ParameterTemplate == "" {
		p.ParameterTemplate = d.ParameterTemplate
	}
	return p
}

// Scanned is the outcome of Plan: the inventory it was decided on and the plan.
type Scanned struct {
	Account inventory.Account
	Stats   scan.Stats
	Plan    plan.Plan
	// Started is when the scan began: what it read is at most that old (groups.go).
	Started time.Time
}

func (r *Runner) now() time.Time {
	if r.Now == nil {
		return time.Now().UTC()
	}
	return r.Now().UTC()
}

func (r *Runner) log() *slog.Logger {
	if r.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Log
}

// Identity returns who the runner signs as (cached).
func (r *Runner) Identity(ctx context.Context) (*sts.GetCallerIdentityOutput, error) {
	if r.caller != nil {
		return r.caller, nil
	}
	out, err := sts.NewFromConfig(r.AWS).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return nil, fmt.Errorf("who am I (sts:GetCallerIdentity): %w", err)
	}
	r.caller = out
	return out, nil
}

// Plan scans the account and evaluates the rules.
func (r *Runner) Plan(ctx context.Context) (Scanned, error) {
	id, err := r.Identity(ctx)
	if err != nil {
		return Scanned{}, err
	}
	sc := &scan.Scanner{
		IAM:          iam.NewFromConfig(r.AWS),
		Log:          r.log(),
		PollInterval: r.ReportPoll,
		// The plan reads the account, not the users: the credential report describes every
		// key (by slot, without its id) and console password, and per-user reads happen in
		// apply, right before a change (rotation.Executor). Only users the report does not
		// know yet (created since it was generated) or whose keys keycycle changed after it
		// (rotated, deactivated, deleted in its last 4 hours) are read here.
		NeedsDetail: func(u inventory.User) bool { return policy.KeysChangedSinceReport(u, r.Rules) },
		Logins:      true,
	}
	started := r.now()
	acct, st, err := sc.Scan(ctx, aws.ToString(id.Account))
	if err != nil {
		return Scanned{}, err
	}
	policy.NameReportKeys(&acct, r.Rules)
	// Decided on the clock read after the scan (a server clock has seen its answers by now).
	p := r.blockUnholdable(policy.Evaluate([]inventory.Account{acct}, r.Rules, r.now()))
	r.scanned = snapshotScan(acct, started)
	r.log().Info("planned", "account_id", acct.ID, "users", st.Users, "detailed", st.Detailed, "unknown", st.UnknownKeys,
		"rotate", p.Summary.Rotate, "deactivate", p.Summary.Deactivate, "delete", p.Summary.Delete, "blocked", p.Summary.Blocked)
	return Scanned{Account: acct, Stats: st, Plan: p, Started: started}, nil
}

// blockUnholdable turns every rotate step whose credential a required sink cannot hold under its
// name (a user name IAM allows that Secrets Manager or SSM refuses in a name, say "svc,batch")
// into a blocked step, with the reason and a configuration hint: found at plan time, never by
// creating a key that cannot be stored (I5). The executor checks again before acting.
func (r *Runner) blockUnholdable(p plan.Plan) plan.Plan {
	routes, err := r.sinkRoutes(nil)
	if err != nil {
		return p // an unusable delivery configuration is reported by apply
	}
	changed := false
	for i := range p.Steps {
		st := &p.Steps[i]
		if st.Action != plan.Rotate {
			continue
		}
		var why string
		if st.Credential == plan.Password {
			why = rotation.CheckPasswordNames(routes(*st), secret.Password{AccountID: st.AccountID, UserName: st.User})
		} else {
			why = rotation.CheckNames(routes(*st), secret.AccessKey{AccountID: st.AccountID, UserName: st.User})
		}
		if why != "" {
			st.Action, st.Reason, changed = plan.Blocked, why+"; the step was: "+st.Reason, true
		}
	}
	if !changed {
		return p
	}
	return plan.New(p.GeneratedAt, p.Steps)
}

// Apply carries out p's steps for the runner's account. dryRun re-checks every step against live
// state and reports what it would do, changing nothing. p is an upper bound, never a grant: each
// step is carried out only when r.Rules, evaluated on the user's live state, plan it now
// (otherwise its outcome is rotation.Refused).
func (r *Runner) Apply(ctx context.Context, p plan.Plan, dryRun bool) ([]rotation.Result, error) {
	return r.apply(ctx, p, dryRun, &r.Rules)
}

// apply is Apply under rules (a forced rotation's rules differ from r.Rules).
// apply carries out p's steps that rules plan now (nil rules: every step, for an explicit
// override a person asked for; the executor's own guards still hold).
func (r *Runner) apply(ctx context.Context, p plan.Plan, dryRun bool, rules *policy.Rules) ([]rotation.Result, error) {
	id, err := r.Identity(ctx)
	if err != nil {
		return nil, err
	}
	accountID := aws.ToString(id.Account)
	for _, st := range p.Steps {
		if st.AccountID != accountID {
			return nil, exitcode.With(exitcode.Invalid, fmt.Errorf("the plan has steps for account %s but the credentials are for account %s", st.AccountID, accountID))
		}
	}
	runID := r.RunID
	if runID == "" {
		runID = NewRunID(r.now())
	}
	iamc := iam.NewFromConfig(r.AWS)
	readers := append([]string{PrincipalARN(aws.ToString(id.Arn))}, r.Secret.Readers...)
	sinks, err := r.sinkRoutes(readers)
	if err != nil {
		return nil, err
	}
	ex := &rotation.Executor{
		AccountID: accountID,
		IAM:       iamc,
		Keys: func(ctx context.Context, user string) ([]inventory.AccessKey, error) {
			return scan.ReadKeys(ctx, iamc, user)
		},
		ListKeys: func(ctx context.Context, user string) ([]inventory.AccessKey, error) {
			return scan.ListKeys(ctx, iamc, user)
		},
		LastUse: func(ctx context.Context, user string, k *inventory.AccessKey) error {
			return scan.LastUse(ctx, iamc, user, k)
		},
		Sinks: sinks,
		Verifier: &rotation.STSVerifier{Config: r.AWS, Successes: r.Verify.Successes, Interval: r.Verify.Interval,
			MaxInterval: r.Verify.MaxInterval, Timeout: r.Verify.Timeout, Sleep: r.Verify.Sleep},
		Now:         r.now,
		StatePrefix: r.Rules.Tags.StatePrefix,
		RunID:       runID,
		Locker:      r.Locker,
		Backoff:     r.RetryBackoff,
		DryRun:      dryRun,
		Audit:       r.Audit,
		Log:         r.log(),
		Login: func(ctx context.Context, user string) (*inventory.LoginProfile, error) {
			return scan.ReadLogin(ctx, iamc, user)
		},
		PasswordResetRequired: r.passwords().ResetRequired,
		Lease:                 r.lease(),
	}
	if rules != nil {
		ex.Policy = func(u inventory.User) []plan.Step {
			return policy.EvaluateUser(accountID, u, *rules, r.now())
		}
	}
	snap := r.scanned
	ex.Scanned = func(user string) (inventory.User, bool) { return snap.user(accountID, user, r.now()) }
	if rules != nil && rules.UsesGroups() {
		ex.Groups = func(ctx context.Context, user string) ([]string, error) {
			if g, ok := snap.lookup(accountID, user, r.now()); ok {
				return g, nil
			}
			return scan.ReadGroups(ctx, iamc, user)
		}
	}
	return ex.Apply(ctx, p), nil
}

// lease is the rotation lease: the default, or longer when verifying a new key may take longer
// (a rotation must end within its lease).
func (r *Runner) lease() time.Duration {
	return max(inventory.DefaultLease, 2*r.Verify.Timeout)
}

// NewRunID is a sortable, unique run id: UTC time and random bits.
func NewRunID(now time.Time) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// PrincipalARN turns an assumed-role session ARN (arn:PARTITION:sts::ACCT:assumed-role/ROLE/SESSION)
// into the role ARN that aws:PrincipalArn compares against; other ARNs are returned as they are.
func PrincipalARN(arn string) string {
	f := strings.SplitN(arn, ":", 6)
	if len(f) != 6 || f[2] != "sts" || !strings.HasPrefix(f[5], "assumed-role/") {
		return arn
	}
	role, _, _ := strings.Cut(strings.TrimPrefix(f[5], "assumed-role/"), "/")
	return "arn:" + f[1] + ":iam::" + f[4] + ":role/" + role
}
