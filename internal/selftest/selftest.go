// Package selftest proves keycycle's whole lifecycle on whatever endpoint the AWS configuration
// points at (AWS itself, or the sandbox): it creates a throwaway IAM user with one access key and
// drives the real code paths (job.Runner: scan, policy, rotation, the configured sinks) through
// every stage, measuring IAM's timings on the way, then removes everything it created.
//
// Stages that need more real time than Options.MaxWait (last-used data can lag by hours) are
// deferred: the run's state is kept in a tag on the selftest user, and Run with Options.Resume
// continues it. On an endpoint with a settable clock (the sandbox's POST /_sandbox/clock),
// Options.Fast moves that clock instead of waiting.
package selftest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keycycle/keycycle/internal/backoff"
	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/job"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/policy"
	"github.com/keycycle/keycycle/internal/rotation"
	"github.com/keycycle/keycycle/internal/secret"
)

// Names and tags of selftest users.
const (
	// Path is the IAM path of every selftest user; --cleanup lists users under it.
	Path = "/keycycle-selftest/"
	// NamePrefix starts every selftest user's name; the run id follows.
	NamePrefix = "keycycle-selftest-"
	// TagID marks a selftest user; its value is the run id.
	TagID = "keycycle:selftest"
	// TagState holds a deferred run's state (stage to resume at, key ids, times; never a secret).
	TagState = "keycycle:selftest-state"
)

// The thresholds of the selftest's rules: short, so that the lifecycle fits in minutes.
const (
	RotateAfter     = time.Minute      // the first key is due once a minute old
	DeactivateAfter = time.Minute      // grace after delivery before the old key may be deactivated
	GuardWindow     = 20 * time.Minute // longer than IAM's 15-minute last-used recording window
	DeleteAfter     = time.Minute      // an inactive key is deleted a minute after deactivation
	PasswordAfter   = time.Minute      // the console password is due once a minute old
	far             = 365 * policy.Day // "not due" in the stages about something else
)

// ErrNotAllowed: the account lacks the keycycle:selftest-allowed marker and --yes was not given.
var ErrNotAllowed = errors.New("the account has no keycycle:selftest-allowed marker (selftest.allowed_aliases, allowed_accounts or allowed_tag in the configuration); refusing without --yes")

// Options say where and how the selftest runs.
type Options struct {
	// Runner is the configured runner (sinks, tag names, passwords, verification). The selftest
	// runs copies of it with its own short rules that select only the selftest user.
	Runner *job.Runner
	Config *config.Config
	// Wall measures IAM's timings and paces real waits; nil is time.Now.
	Wall func() time.Time
	// Sleep waits; nil waits on a real timer. Tests inject a clock.
	Sleep func(ctx context.Context, d time.Duration) error
	// Fast moves the endpoint's clock (POST <endpoint>/_sandbox/clock) instead of waiting.
	Fast bool
	// Admin is the sandbox admin API (needed by Fast); nil: derived from the AWS endpoint.
	Admin *Admin
	// MaxWait is the longest a stage waits in real time before it is deferred (default 15m).
	MaxWait time.Duration
	// KeepGoing runs the later stages after a failed one.
	KeepGoing bool
	// Yes runs on an account without the marker.
	Yes bool
	// Resume continues the deferred run with this id.
	Resume string
	Log    *slog.Logger
	// Progress is told about each stage as it ends.
	Progress func(Stage)
}

// Status is how a stage ended.
type Status string

// Stage statuses.
const (
	Passed    Status = "passed"
	Failed    Status = "failed"
	NeedsTime Status = "needs-time"
	Skipped   Status = "skipped"
)

// Stage is what one stage checked and measured.
type Stage struct {
	Name    string   `json:"name"`
	Status  Status   `json:"status"`
	Checked []string `json:"checked,omitempty"`
	Timings []Timing `json:"timings,omitempty"`
	Error   string   `json:"error,omitempty"`
	// Needs is the real time still needed (NeedsTime).
	Needs Seconds `json:"needs_seconds,omitempty"`
}

// Timing is one measured IAM behaviour.
type Timing struct {
	Name  string  `json:"name"`
	Value Seconds `json:"seconds"`
	// Clock says which clock measured it: "wall" (real time) or "endpoint" (the endpoint's clock).
	Clock string `json:"clock"`
}

// Seconds is a duration written as seconds in JSON.
type Seconds time.Duration

// MarshalJSON writes whole and fractional seconds.
func (s Seconds) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(time.Duration(s).Seconds(), 'f', -1, 64)), nil
}

// Report is the outcome of a run.
type Report struct {
	ID        string  `json:"id"`
	AccountID string  `json:"account_id"`
	Alias     string  `json:"account_alias,omitempty"`
	User      string  `json:"user"`
	Fast      bool    `json:"fast"`
	Stages    []Stage `json:"stages"`
	// Deferred: the run waits for real time; resume it with `keycycle selftest --resume ID`
	// after ResumeAfter. The user is kept until then.
	Deferred    bool      `json:"deferred,omitempty"`
	ResumeAfter time.Time `json:"resume_after,omitempty"`
	// CleanedUp: everything the run created is gone; Leftovers says what could not be removed.
	CleanedUp bool     `json:"cleaned_up"`
	Leftovers []string `json:"leftovers,omitempty"`
}

// Failed reports whether any stage failed or cleanup left something behind.
func (r Report) Failed() bool {
	for _, s := range r.Stages {
		if s.Status == Failed {
			return true
		}
	}
	return len(r.Leftovers) > 0
}

// needTime is a stage that must wait longer than MaxWait.
type needTime struct {
	wait  time.Duration
	until time.Time
}

func (n *needTime) Error() string {
	return fmt.Sprintf("needs %s of real time", humanDuration(n.wait))
}

// run is one selftest run's state. The old key's secret lives only in memory.
type run struct {
	o         *Options
	iam       *iam.Client
	acct      string
	alias     string
	id        string
	user      string
	next      int
	oldKey    inventory.KeyID
	oldSecret secret.Value
	newKey    inventory.KeyID
	delivered time.Time // endpoint time the new key was delivered (the rotated tag)
	used      time.Time // wall time the application used the old key
	lastUsed  time.Time // the old key's last use as IAM reports it
	deact     time.Time // endpoint time the old key was deactivated
	// guardWin is the guard window of the rules: GuardWindow, or longer when IAM reported the
	// application's use so late that it is already older than GuardWindow (a resumed run).
	guardWin time.Duration
	stage    *Stage
}

type stageFunc struct {
	name string
	fn   func(r *run, ctx context.Context) error
}

var stages = []stageFunc{
	{"create user and key", (*run).create},
	{"plan shows the key due", (*run).planDue},
	{"apply rotates", (*run).applyRotate},
	{"guard holds while the old key is in use", (*run).guard},
	{"idle old key is deactivated", (*run).idle},
	{"inactive old key is deleted", (*run).deleteOld},
	{"console password rotated to the password policy", (*run).password},
	{"forced rotation", (*run).force},
	{"second apply changes nothing", (*run).secondApply},
}

// StageNames lists the stages in order.
func StageNames() []string {
	out := make([]string, len(stages))
	for i, s := range stages {
		out[i] = s.name
	}
	return out
}

func (o *Options) wall() time.Time {
	if o.Wall == nil {
		return time.Now()
	}
	return o.Wall()
}

func (o *Options) sleep(ctx context.Context, d time.Duration) error {
	if o.Sleep == nil {
		return backoff.Sleep(ctx, d)
	}
	return o.Sleep(ctx, d)
}

func (o *Options) log() *slog.Logger {
	if o.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Log
}

func (o *Options) maxWait() time.Duration {
	if o.MaxWait <= 0 {
		return 15 * time.Minute
	}
	return o.MaxWait
}

// now is the endpoint's clock (the runner's).
func (r *run) now() time.Time {
	if r.o.Runner.Now == nil {
		return time.Now().UTC()
	}
	return r.o.Runner.Now().UTC()
}

// Run runs (or resumes) the selftest. It always removes what it created, also when ctx is
// cancelled or a stage fails, unless the run is deferred for resumption. The error is for
// failures to start (no identity, no marker, no settable clock); stage failures are in the report.
func Run(ctx context.Context, o Options) (rep Report, err error) {
	r := &run{o: &o, iam: iam.NewFromConfig(o.Runner.AWS)}
	if err := r.identify(ctx); err != nil {
		return Report{}, err
	}
	rep = Report{AccountID: r.acct, Alias: r.alias, Fast: o.Fast}
	if !o.Yes {
		ok, err := r.allowed(ctx)
		if err != nil {
			return rep, err
		}
		if !ok {
			return rep, fmt.Errorf("account %s: %w", r.acct, ErrNotAllowed)
		}
	}
	if o.Fast {
		if o.Admin == nil {
			a, err := AdminFor(o.Runner.AWS)
			if err != nil {
				return rep, err
			}
			o.Admin = a
		}
		if _, err := o.Admin.Clock(ctx); err != nil {
			return rep, fmt.Errorf("--fast needs an endpoint with a settable clock (the keycycle sandbox): %w", err)
		}
	}
	if o.Resume != "" {
		if err := r.load(ctx, o.Resume); err != nil {
			return rep, err
		}
	} else {
		r.id = newID()
		r.user = NamePrefix + r.id
	}
	rep.ID, rep.User = r.id, r.user

	defer func() {
		if rep.Deferred {
			return
		}
		// Cleanup runs even when ctx was cancelled (Ctrl-C): on its own bounded context.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
		defer cancel()
		rep.Leftovers = r.cleanup(cctx, r.user)
		rep.CleanedUp = len(rep.Leftovers) == 0
	}()

	failed := false
	for i := r.next; i < len(stages); i++ {
		st := Stage{Name: stages[i].name}
		if failed && !o.KeepGoing {
			st.Status = Skipped
			rep.Stages = append(rep.Stages, st)
			if o.Progress != nil {
				o.Progress(st)
			}
			continue
		}
		r.stage = &st
		err = ctx.Err()
		if err == nil {
			err = stages[i].fn(r, ctx)
		}
		var nt *needTime
		switch {
		case errors.As(err, &nt) && ctx.Err() == nil:
			st.Status, st.Needs, st.Error = NeedsTime, Seconds(nt.wait), nt.Error()
			r.next = i
			if serr := r.save(ctx); serr != nil {
				st.Status, st.Error = Failed, fmt.Sprintf("%s; saving the state to resume failed: %v", nt.Error(), serr)
				failed = true
				break
			}
			rep.Deferred, rep.ResumeAfter = true, nt.until
		case err != nil:
			st.Status, st.Error = Failed, err.Error()
			failed = true
		default:
			st.Status = Passed
		}
		rep.Stages = append(rep.Stages, st)
		if o.Progress != nil {
			o.Progress(st)
		}
		if rep.Deferred {
			break
		}
	}
	return rep, nil
}

func newID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("20060102t150405") + "-" + hex.EncodeToString(b)
}

func (r *run) identify(ctx context.Context) error {
	id, err := r.o.Runner.Identity(ctx)
	if err != nil {
		return err
	}
	r.acct = aws.ToString(id.Account)
	out, err := r.iam.ListAccountAliases(ctx, &iam.ListAccountAliasesInput{})
	if err != nil {
		return fmt.Errorf("account %s: list account aliases: %w", r.acct, err)
	}
	if len(out.AccountAliases) > 0 {
		r.alias = out.AccountAliases[0]
	}
	return nil
}

// allowed reports whether the account carries the keycycle:selftest-allowed marker.
func (r *run) allowed(ctx context.Context) (bool, error) {
	st := r.o.Config.Selftest
	for _, a := range st.AllowedAccounts {
		if a == r.acct {
			return true, nil
		}
	}
	for _, g := range st.AllowedAliases {
		if ok, _ := path.Match(g, r.alias); ok && r.alias != "" {
			return true, nil
		}
	}
	if st.AllowedTag == "" {
		return false, nil
	}
	org := organizations.NewFromConfig(r.o.Runner.AWS)
	p := organizations.NewListTagsForResourcePaginator(org, &organizations.ListTagsForResourceInput{ResourceId: aws.String(r.acct)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return false, fmt.Errorf("account %s: read the selftest marker tag %s (organizations:ListTagsForResource): %w", r.acct, st.AllowedTag, err)
		}
		for _, t := range page.Tags {
			if aws.ToString(t.Key) == st.AllowedTag && !strings.EqualFold(aws.ToString(t.Value), "false") {
				return true, nil
			}
		}
	}
	return false, nil
}

// runner returns a copy of the configured runner with rules that select only the selftest user.
func (r *run) runner(rotate, password time.Duration) *job.Runner {
	c := *r.o.Runner
	rules := c.Rules
	th := policy.Thresholds{
		RotateAfter: rotate, DeactivateAfter: DeactivateAfter, DeleteAfter: DeleteAfter,
		GuardWindow: r.guardWindow(), PasswordRotateAfter: password,
	}
	rules.Default = th
	rules.Named = nil
	rules.Selection = policy.Selection{Mode: policy.OptOut, Include: []policy.Match{{Users: []string{r.user}, Paths: []string{Path}}}}
	rules.Overrides = policy.Overrides{}
	rules.MaxDestructive = -1
	rules.FlagMissingMFA = false
	c.Rules = rules
	c.RunID = "selftest-" + r.id
	if r.o.Sleep != nil {
		c.Verify.Sleep = r.o.Sleep
	}
	return &c
}

func (r *run) guardWindow() time.Duration {
	if r.guardWin > 0 {
		return r.guardWin
	}
	return GuardWindow
}

// mine keeps only the selftest user's steps: the rules select nobody else, and this makes sure.
func (r *run) mine(p plan.Plan) plan.Plan {
	var steps []plan.Step
	for _, s := range p.Steps {
		if s.User == r.user {
			steps = append(steps, s)
		}
	}
	return plan.New(p.GeneratedAt, steps)
}

func (r *run) check(format string, args ...any) {
	r.stage.Checked = append(r.stage.Checked, fmt.Sprintf(format, args...))
}

func (r *run) timing(name string, d time.Duration, clock string) {
	if clock == "endpoint" {
		d = d.Round(time.Second) // the endpoint's clock is known to the second
	}
	r.stage.Timings = append(r.stage.Timings, Timing{Name: name, Value: Seconds(d), Clock: clock})
}

// waitUntil waits until the endpoint's clock reaches t: by moving it (Fast), by sleeping up to
// MaxWait, or by deferring the stage.
func (r *run) waitUntil(ctx context.Context, t time.Time) error {
	d := t.Sub(r.now())
	if d <= 0 {
		return nil
	}
	d = d.Truncate(time.Second) + time.Second // the endpoint counts whole seconds
	if r.o.Fast {
		if _, err := r.o.Admin.Advance(ctx, d); err != nil {
			return fmt.Errorf("move the sandbox clock: %w", err)
		}
		return r.refreshClock(ctx)
	}
	if d > r.o.maxWait() {
		return &needTime{wait: d, until: r.o.wall().Add(d)}
	}
	r.o.log().Info("selftest waiting", "user", r.user, "wait", d.String())
	if err := r.o.sleep(ctx, d); err != nil {
		return err
	}
	return r.refreshClock(ctx)
}

// refreshClock makes one cheap call so that the endpoint clock (read from answers) is current.
func (r *run) refreshClock(ctx context.Context) error {
	if _, err := r.iam.ListAccountAliases(ctx, &iam.ListAccountAliasesInput{}); err != nil {
		return fmt.Errorf("read the endpoint clock: %w", err)
	}
	return nil
}

// keyConfig is an AWS configuration signed by the given key.
func (r *run) keyConfig(id inventory.KeyID, sec secret.Value, region string) aws.Config {
	c := r.o.Runner.AWS.Copy()
	c.Credentials = credentials.NewStaticCredentialsProvider(id.Raw(), sec.Reveal(), "")
	c.RetryMaxAttempts = 1
	if region != "" {
		c.Region = region
	}
	return c
}

// authenticates reports whether the key signs a GetCallerIdentity call.
func (r *run) authenticates(ctx context.Context, id inventory.KeyID, sec secret.Value, region string) bool {
	_, err := sts.NewFromConfig(r.keyConfig(id, sec, region)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	return err == nil
}

// pollEvery is how often the selftest re-reads something IAM is still propagating.
const pollEvery = 2 * time.Second

// Stage 0: the throwaway user and its one key; measures how long the key takes to authenticate.
func (r *run) create(ctx context.Context) error {
	_, err := r.iam.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(r.user), Path: aws.String(Path),
		Tags: []iamtypes.Tag{{Key: aws.String(TagID), Value: aws.String(r.id)}}})
	if err != nil {
		return fmt.Errorf("create user %s: %w", r.user, err)
	}
	r.check("created user %s%s tagged %s=%s", Path, r.user, TagID, r.id)
	if err := r.createLogin(ctx); err != nil {
		return err
	}
	out, err := r.iam.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(r.user)})
	if err != nil {
		return fmt.Errorf("create access key for %s: %w", r.user, err)
	}
	created := r.o.wall()
	r.oldKey = inventory.KeyID(aws.ToString(out.AccessKey.AccessKeyId))
	r.oldSecret = secret.New(aws.ToString(out.AccessKey.SecretAccessKey))
	// Three answers in a row, as the rotation's verifier requires: one success proves one endpoint.
	ok, deadline := 0, r.o.wall().Add(r.o.maxWait())
	first := time.Duration(0)
	for ok < 3 {
		if r.authenticates(ctx, r.oldKey, r.oldSecret, "") {
			if ok == 0 {
				first = r.o.wall().Sub(created)
			}
			ok++
			continue
		}
		ok = 0
		if r.o.wall().After(deadline) {
			return fmt.Errorf("key %s of %s did not authenticate within %s", r.oldKey, r.user, r.o.maxWait())
		}
		if err := r.o.sleep(ctx, pollEvery/4); err != nil {
			return err
		}
	}
	r.check("key %s authenticates with sts:GetCallerIdentity 3 times in a row", r.oldKey)
	r.timing("new key propagation (first successful GetCallerIdentity after CreateAccessKey)", first, "wall")
	return nil
}

// keys reads the selftest user's keys fresh.
func (r *run) keys(ctx context.Context) ([]inventory.AccessKey, error) {
	out, err := r.iam.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(r.user)})
	if err != nil {
		return nil, fmt.Errorf("list access keys of %s: %w", r.user, err)
	}
	var keys []inventory.AccessKey
	for _, m := range out.AccessKeyMetadata {
		keys = append(keys, inventory.AccessKey{ID: inventory.KeyID(aws.ToString(m.AccessKeyId)), Status: inventory.KeyStatus(m.Status),
			Created: aws.ToTime(m.CreateDate)})
	}
	return keys, nil
}

func keyStatus(keys []inventory.AccessKey, id inventory.KeyID) inventory.KeyStatus {
	for _, k := range keys {
		if k.ID == id {
			return k.Status
		}
	}
	return ""
}

// planAndApply plans with the runner, keeps the selftest user's steps, applies them, and returns
// both.
func (r *run) planAndApply(ctx context.Context, jr *job.Runner) (plan.Plan, []rotation.Result, error) {
	sc, err := jr.Plan(ctx)
	if err != nil {
		return plan.Plan{}, nil, err
	}
	p := r.mine(sc.Plan)
	res, err := jr.Apply(ctx, p, false)
	return p, res, err
}

// find returns the first step or result for the user's credential with the action.
func findStep(p plan.Plan, a plan.Action, cred plan.Credential) *plan.Step {
	for i := range p.Steps {
		if p.Steps[i].Action == a && p.Steps[i].Credential == cred {
			return &p.Steps[i]
		}
	}
	return nil
}

func findResult(res []rotation.Result, a plan.Action, cred plan.Credential) *rotation.Result {
	for i := range res {
		if res[i].Step.Action == a && res[i].Step.Credential == cred {
			return &res[i]
		}
	}
	return nil
}

func resultErr(res *rotation.Result) error {
	if res.Err != nil {
		return fmt.Errorf("%s %s: %s: %w", res.Step.Action, res.Outcome, res.Detail, res.Err)
	}
	return fmt.Errorf("%s %s: %s", res.Step.Action, res.Outcome, res.Detail)
}

// Stage 1: plan shows the key due; measures the credential report's age.
func (r *run) planDue(ctx context.Context) error {
	keys, err := r.keys(ctx)
	if err != nil {
		return err
	}
	if len(keys) != 1 {
		return fmt.Errorf("user %s has %d keys, want 1", r.user, len(keys))
	}
	if err := r.waitUntil(ctx, keys[0].Created.Add(RotateAfter)); err != nil {
		return err
	}
	sc, err := r.runner(RotateAfter, far).Plan(ctx)
	if err != nil {
		return err
	}
	st := findStep(r.mine(sc.Plan), plan.Rotate, plan.AccessKey)
	// The plan names the key by its credential report slot when the report described the user
	// (the user has one key, so slot 1 is it), or by its id when the user was read fresh.
	if st == nil || (st.AccessKeyID != r.oldKey && st.AccessKeyID != inventory.ReportKeyID(1)) {
		return fmt.Errorf("plan has no rotation of key %s for %s: %d steps", r.oldKey, r.user, len(r.mine(sc.Plan).Steps))
	}
	r.check("plan: rotate %s: %s", st.AccessKeyID, st.Reason)
	out, err := r.iam.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	if err != nil {
		return fmt.Errorf("read the credential report's time: %w", err)
	}
	r.timing("credential report age (now minus GeneratedTime)", r.now().Sub(aws.ToTime(out.GeneratedTime)), "endpoint")
	return nil
}

// Stage 2: apply rotates: intent, create, store, verify, promote, record.
func (r *run) applyRotate(ctx context.Context) error {
	jr := r.runner(RotateAfter, far)
	start := r.o.wall()
	p, res, err := r.planAndApply(ctx, jr)
	if err != nil {
		return err
	}
	took := r.o.wall().Sub(start)
	rot := findResult(res, plan.Rotate, plan.AccessKey)
	if rot == nil {
		return fmt.Errorf("apply did not rotate %s: %d steps planned", r.user, len(p.Steps))
	}
	if rot.Outcome != rotation.Done {
		return resultErr(rot)
	}
	r.newKey = rot.NewKeyID
	r.check("rotated %s -> %s, delivered to %s", r.oldKey, r.newKey, rot.Location)
	for _, s := range rot.Sinks {
		r.check("sink %s: %s (%s)", s.Name, s.Outcome, s.Location)
	}
	keys, err := r.keys(ctx)
	if err != nil {
		return err
	}
	if keyStatus(keys, r.oldKey) != inventory.StatusActive || keyStatus(keys, r.newKey) != inventory.StatusActive {
		return fmt.Errorf("after the rotation %s must have both keys active, has %v", r.user, keys)
	}
	r.check("both keys active in IAM: the old one is retired only later")
	rec, err := r.rotated(ctx)
	if err != nil {
		return err
	}
	// The record names the new key, or (written at the rotation's start) dates the lease it was
	// created under: either way it must lead to the new key.
	var recNew inventory.KeyID
	if k := rec.NewKeyIn(keys); k != nil {
		recNew = k.ID
	}
	if recNew != r.newKey || rec.Old != r.oldKey {
		return fmt.Errorf("rotation record on %s names %s -> %s, want %s -> %s", r.user, rec.Old, recNew, r.oldKey, r.newKey)
	}
	r.delivered = rec.At
	r.check("completion recorded on the user (tag %s)", inventory.RotatedTag(jr.Rules.Tags.StatePrefix))
	r.timing("apply with one rotation (verification included)", took, "wall")
	return nil
}

// rotated reads the rotation record tag.
func (r *run) rotated(ctx context.Context) (inventory.RotationRecord, error) {
	tags, err := r.tags(ctx)
	if err != nil {
		return inventory.RotationRecord{}, err
	}
	name := inventory.RotatedTag(r.o.Runner.Rules.Tags.StatePrefix)
	v, ok := tags[name]
	if !ok {
		return inventory.RotationRecord{}, fmt.Errorf("user %s has no tag %s", r.user, name)
	}
	return inventory.ParseRotationRecord(v)
}

func (r *run) tags(ctx context.Context) (map[string]string, error) {
	out, err := r.iam.ListUserTags(ctx, &iam.ListUserTagsInput{UserName: aws.String(r.user)})
	if err != nil {
		return nil, fmt.Errorf("list tags of %s: %w", r.user, err)
	}
	m := map[string]string{}
	for _, t := range out.Tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m, nil
}

// otherRegion is where the application uses the old key: a use in the same region and service
// within 15 minutes of the propagation probe would not be recorded again.
func (r *run) otherRegion() string {
	if r.o.Runner.AWS.Region == "us-west-2" {
		return "us-east-2"
	}
	return "us-west-2"
}

// Stage 3: the application keeps using the old key after the delivery; apply must not
// deactivate it. Measures the last-used lag.
func (r *run) guard(ctx context.Context) error {
	if err := r.waitUntil(ctx, r.delivered.Add(DeactivateAfter)); err != nil {
		return err
	}
	if r.used.IsZero() {
		if r.oldSecret.IsZero() {
			return errors.New("the old key's secret is not known after a resume: start a new selftest")
		}
		if !r.authenticates(ctx, r.oldKey, r.oldSecret, r.otherRegion()) {
			return fmt.Errorf("the application's old key %s no longer authenticates", r.oldKey)
		}
		r.used = r.o.wall()
		r.check("the application used old key %s after the delivery (sts:GetCallerIdentity in %s)", r.oldKey, r.otherRegion())
	}
	for {
		out, err := r.iam.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(r.oldKey.Raw())})
		if err != nil {
			return fmt.Errorf("last use of %s: %w", r.oldKey, err)
		}
		if lu := out.AccessKeyLastUsed; lu != nil && lu.LastUsedDate != nil && !lu.LastUsedDate.Before(r.delivered) {
			r.lastUsed = lu.LastUsedDate.UTC()
			r.check("IAM reports the use: last used %s (%s, %s)", r.lastUsed.Format(time.RFC3339), aws.ToString(lu.ServiceName), aws.ToString(lu.Region))
			r.timing("last-used lag (use until GetAccessKeyLastUsed shows it)", r.o.wall().Sub(r.used), "wall")
			if age := r.now().Sub(r.lastUsed); age > GuardWindow/2 {
				// Reported so late that the use is nearly out of the window: widen it, so the
				// check is about the guard, not about IAM's lag.
				r.guardWin = age.Truncate(time.Minute) + GuardWindow
				r.check("IAM reported the use %s after it happened: guard window widened to %s", humanDuration(age), r.guardWin)
			}
			break
		}
		waited := r.o.wall().Sub(r.used)
		if r.o.Fast || waited >= r.o.maxWait() {
			// AWS does not publish the lag; last-used data is commonly hours behind.
			if r.o.Fast {
				return fmt.Errorf("the sandbox did not record the use of %s", r.oldKey)
			}
			return &needTime{wait: 4 * time.Hour, until: r.o.wall().Add(4 * time.Hour)}
		}
		if err := r.o.sleep(ctx, min(30*time.Second, r.o.maxWait()-waited)); err != nil {
			return err
		}
	}
	_, res, err := r.planAndApply(ctx, r.runner(far, far))
	if err != nil {
		return err
	}
	if d := findResult(res, plan.Deactivate, plan.AccessKey); d != nil {
		return fmt.Errorf("the guard did not hold: %s %s %s", d.Step.Action, d.Outcome, d.Step.Reason)
	}
	w := findResult(res, plan.Warn, plan.AccessKey)
	if w == nil {
		return fmt.Errorf("no warning that key %s is still in use", r.oldKey)
	}
	r.check("apply warned and kept the key: %s", w.Step.Reason)
	keys, err := r.keys(ctx)
	if err != nil {
		return err
	}
	if keyStatus(keys, r.oldKey) != inventory.StatusActive {
		return fmt.Errorf("old key %s is %s, want Active", r.oldKey, keyStatus(keys, r.oldKey))
	}
	r.check("old key %s still active in IAM", r.oldKey)
	return nil
}

// Stage 4: the old key idle for the guard window is deactivated.
func (r *run) idle(ctx context.Context) error {
	if err := r.waitUntil(ctx, r.lastUsed.Add(r.guardWindow())); err != nil {
		return err
	}
	_, res, err := r.planAndApply(ctx, r.runner(far, far))
	if err != nil {
		return err
	}
	d := findResult(res, plan.Deactivate, plan.AccessKey)
	if d == nil {
		return fmt.Errorf("apply did not deactivate %s after %s idle", r.oldKey, r.guardWindow())
	}
	if d.Outcome != rotation.Done {
		return resultErr(d)
	}
	r.deact = r.now()
	r.check("deactivated %s: %s", r.oldKey, d.Step.Reason)
	keys, err := r.keys(ctx)
	if err != nil {
		return err
	}
	if keyStatus(keys, r.oldKey) != inventory.StatusInactive || keyStatus(keys, r.newKey) != inventory.StatusActive {
		return fmt.Errorf("want %s inactive and %s active, have %v", r.oldKey, r.newKey, keys)
	}
	r.check("IAM: %s inactive, %s active", r.oldKey, r.newKey)
	if !r.oldSecret.IsZero() {
		start := r.o.wall()
		for r.authenticates(ctx, r.oldKey, r.oldSecret, "") {
			if r.o.wall().Sub(start) > r.o.maxWait() {
				return fmt.Errorf("deactivated key %s still authenticates after %s", r.oldKey, r.o.maxWait())
			}
			if err := r.o.sleep(ctx, pollEvery); err != nil {
				return err
			}
		}
		r.check("the deactivated key no longer authenticates")
		r.timing("deactivation propagation (until the old key fails)", r.o.wall().Sub(start), "wall")
	}
	return nil
}

// Stage 5: the inactive key is deleted after its grace.
func (r *run) deleteOld(ctx context.Context) error {
	if err := r.waitUntil(ctx, r.deact.Add(DeleteAfter)); err != nil {
		return err
	}
	_, res, err := r.planAndApply(ctx, r.runner(far, far))
	if err != nil {
		return err
	}
	d := findResult(res, plan.Delete, plan.AccessKey)
	if d == nil {
		return fmt.Errorf("apply did not delete %s", r.oldKey)
	}
	if d.Outcome != rotation.Done {
		return resultErr(d)
	}
	r.check("deleted %s: %s", r.oldKey, d.Step.Reason)
	keys, err := r.keys(ctx)
	if err != nil {
		return err
	}
	if len(keys) != 1 || keys[0].ID != r.newKey || keys[0].Status != inventory.StatusActive {
		return fmt.Errorf("want only %s, active; have %v", r.newKey, keys)
	}
	r.check("IAM: only %s left, active", r.newKey)
	return nil
}
