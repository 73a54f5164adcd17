package selftest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/password"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/policy"
	"github.com/keycycle/keycycle/internal/rotation"
	"github.com/keycycle/keycycle/internal/sink"
)

// createLogin gives the user a console password that meets the account's password policy. It
// is made with the user, before any credential report of this run: a report generated after the
// user but before its password would say "no password" for up to 4 hours.
func (r *run) createLogin(ctx context.Context) error {
	pol := password.AWSDefault()
	out, err := r.iam.GetAccountPasswordPolicy(ctx, &iam.GetAccountPasswordPolicyInput{})
	var nse *iamtypes.NoSuchEntityException
	switch {
	case errors.As(err, &nse):
		r.check("the account has no password policy: IAM's default applies")
	case err != nil:
		return fmt.Errorf("read the password policy of account %s: %w", r.acct, err)
	default:
		pp := out.PasswordPolicy
		pol = password.Policy{MinLength: int(aws.ToInt32(pp.MinimumPasswordLength)), RequireUpper: pp.RequireUppercaseCharacters,
			RequireLower: pp.RequireLowercaseCharacters, RequireNumbers: pp.RequireNumbers, RequireSymbols: pp.RequireSymbols}
		r.check("account password policy: minimum length %d, upper %t, lower %t, digits %t, symbols %t",
			pol.MinLength, pol.RequireUpper, pol.RequireLower, pol.RequireNumbers, pol.RequireSymbols)
	}
	pw, err := password.Generate(pol, rand.Reader)
	if err != nil {
		return fmt.Errorf("generate the first password of %s: %w", r.user, err)
	}
	if _, err = r.iam.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: aws.String(r.user), Password: aws.String(pw.Reveal())}); err != nil {
		return fmt.Errorf("create the login profile of %s: %w", r.user, err)
	}
	r.check("console password set for %s", r.user)
	return nil
}

// Stage 6: the console password is rotated to the account's password policy.
func (r *run) password(ctx context.Context) error {
	lp, err := r.iam.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: aws.String(r.user)})
	if err != nil {
		return fmt.Errorf("read the login profile of %s: %w", r.user, err)
	}
	if err := r.waitUntil(ctx, aws.ToTime(lp.LoginProfile.CreateDate).Add(PasswordAfter)); err != nil {
		return err
	}
	p, res, err := r.planAndApply(ctx, r.runner(far, PasswordAfter))
	if err != nil {
		return err
	}
	rot := findResult(res, plan.Rotate, plan.Password)
	if rot == nil {
		var why []string
		for _, st := range p.Steps {
			if st.Credential == plan.Password {
				why = append(why, fmt.Sprintf("%s: %s", st.Action, st.Reason))
			}
		}
		return fmt.Errorf("apply did not rotate the console password of %s (plan: %s)", r.user, strings.Join(why, "; "))
	}
	if rot.Outcome != rotation.Done {
		return resultErr(rot)
	}
	r.check("password rotated: %s; delivered to %s", rot.Step.Reason, rot.Location)
	if k := findResult(res, plan.Rotate, plan.AccessKey); k != nil {
		return fmt.Errorf("the password stage rotated key %s too", k.Step.AccessKeyID)
	}
	after, err := r.iam.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: aws.String(r.user)})
	if err != nil {
		return fmt.Errorf("read the login profile of %s: %w", r.user, err)
	}
	want := r.o.Config.Passwords.ResetRequired
	if after.LoginProfile.PasswordResetRequired != want {
		return fmt.Errorf("login profile of %s: password reset required %t, want %t", r.user, after.LoginProfile.PasswordResetRequired, want)
	}
	r.check("IAM accepted the new password under the policy; reset required at next sign-in: %t", want)
	return nil
}

// Stage 7: a forced rotation rotates the (young) key and the password now.
func (r *run) force(ctx context.Context) error {
	// A password changed this very second is not older than anything: let a second pass.
	if err := r.waitUntil(ctx, r.now().Add(time.Second)); err != nil {
		return err
	}
	jr := r.runner(far, far)
	_, res, err := jr.Force(ctx, r.user, false)
	if err != nil {
		return err
	}
	k := findResult(res, plan.Rotate, plan.AccessKey)
	if k == nil {
		return fmt.Errorf("forced rotation of %s planned no key rotation", r.user)
	}
	if k.Outcome != rotation.Done {
		return resultErr(k)
	}
	r.check("forced: %s -> %s (%s)", k.Step.AccessKeyID, k.NewKeyID, k.Step.Reason)
	if p := findResult(res, plan.Rotate, plan.Password); p == nil || p.Outcome != rotation.Done {
		return fmt.Errorf("forced rotation of %s did not rotate the console password", r.user)
	}
	r.check("forced: console password rotated")
	r.newKey = k.NewKeyID
	return nil
}

// snapshot is what a no-op apply must leave as it is.
func (r *run) snapshot(ctx context.Context) (string, error) {
	keys, err := r.keys(ctx)
	if err != nil {
		return "", err
	}
	tags, err := r.tags(ctx)
	if err != nil {
		return "", err
	}
	names := make([]string, 0, len(tags))
	for k := range tags {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "key %s %s %s\n", k.ID.Raw(), k.Status, k.Created.Format(time.RFC3339))
	}
	for _, n := range names {
		fmt.Fprintf(&b, "tag %s=%s\n", n, tags[n])
	}
	return b.String(), nil
}

// Stage 8: with nothing due, a second apply changes nothing.
func (r *run) secondApply(ctx context.Context) error {
	before, err := r.snapshot(ctx)
	if err != nil {
		return err
	}
	p, res, err := r.planAndApply(ctx, r.runner(far, far))
	if err != nil {
		return err
	}
	for _, st := range p.Steps {
		if st.Changes() {
			return fmt.Errorf("second apply planned a change: %s %s: %s", st.Action, st.AccessKeyID, st.Reason)
		}
	}
	for _, x := range res {
		if x.Outcome == rotation.Done || x.Outcome == rotation.Resumed || x.Outcome == rotation.Failed {
			return resultErr(&x)
		}
	}
	after, err := r.snapshot(ctx)
	if err != nil {
		return err
	}
	if before != after {
		return fmt.Errorf("the second apply changed %s's keys or tags", r.user)
	}
	r.check("%d steps planned, none changes anything; keys and tags identical before and after", len(p.Steps))
	return nil
}

// save keeps the run's state in a tag on the user, for --resume.
func (r *run) save(ctx context.Context) error {
	v := fmt.Sprintf("next=%d old=%s new=%s delivered=%d used=%d lastused=%d deact=%d guard=%d",
		r.next, r.oldKey.Raw(), r.newKey.Raw(), unix(r.delivered), unix(r.used), unix(r.lastUsed), unix(r.deact), int64(r.guardWin/time.Second))
	_, err := r.iam.TagUser(ctx, &iam.TagUserInput{UserName: aws.String(r.user),
		Tags: []iamtypes.Tag{{Key: aws.String(TagState), Value: aws.String(v)}}})
	if err != nil {
		return fmt.Errorf("record the selftest state on %s: %w", r.user, err)
	}
	return nil
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func fromUnix(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n == 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

// load finds the deferred run's user by its tag and reads its state.
func (r *run) load(ctx context.Context, id string) error {
	users, err := Leftovers(ctx, r.iam)
	if err != nil {
		return err
	}
	for _, u := range users {
		if u.ID != id {
			continue
		}
		r.id, r.user = id, u.Name
		st, ok := u.Tags[TagState]
		if !ok {
			return fmt.Errorf("selftest %s (user %s) has no saved state: it was not deferred; remove it with --cleanup", id, u.Name)
		}
		f := map[string]string{}
		for _, kv := range strings.Fields(st) {
			k, v, _ := strings.Cut(kv, "=")
			f[k] = v
		}
		n, err := strconv.Atoi(f["next"])
		if err != nil || n < 0 || n >= len(stages) {
			return fmt.Errorf("selftest %s: tag %s unreadable: %q", id, TagState, st)
		}
		r.next = n
		r.oldKey, r.newKey = inventory.KeyID(f["old"]), inventory.KeyID(f["new"])
		r.delivered, r.used, r.lastUsed, r.deact = fromUnix(f["delivered"]), fromUnix(f["used"]), fromUnix(f["lastused"]), fromUnix(f["deact"])
		if g, err := strconv.ParseInt(f["guard"], 10, 64); err == nil && g > 0 {
			r.guardWin = time.Duration(g) * time.Second
		}
		return nil
	}
	return fmt.Errorf("no selftest user with %s=%s under path %s in account %s", TagID, id, Path, r.acct)
}

// User is a selftest user found by its tag.
type User struct {
	Name string
	ID   string // the run id (tag keycycle:selftest)
	Tags map[string]string
}

// Leftovers lists the selftest users of the account: users under Path tagged keycycle:selftest.
func Leftovers(ctx context.Context, c *iam.Client) ([]User, error) {
	var out []User
	p := iam.NewListUsersPaginator(c, &iam.ListUsersInput{PathPrefix: aws.String(Path)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list users under %s: %w", Path, err)
		}
		for _, u := range page.Users {
			name := aws.ToString(u.UserName)
			tags, err := c.ListUserTags(ctx, &iam.ListUserTagsInput{UserName: aws.String(name)})
			if err != nil {
				return nil, fmt.Errorf("list tags of %s: %w", name, err)
			}
			m := map[string]string{}
			for _, t := range tags.Tags {
				m[aws.ToString(t.Key)] = aws.ToString(t.Value)
			}
			if id, ok := m[TagID]; ok && strings.HasPrefix(name, NamePrefix) {
				out = append(out, User{Name: name, ID: id, Tags: m})
			}
		}
	}
	return out, nil
}

// Cleanup removes every selftest user of the account (found by the tag) with what keycycle
// delivered for it, and returns the users removed and what could not be removed.
func Cleanup(ctx context.Context, o Options) (removed, leftovers []string, err error) {
	r := &run{o: &o, iam: iam.NewFromConfig(o.Runner.AWS)}
	if err := r.identify(ctx); err != nil {
		return nil, nil, err
	}
	users, err := Leftovers(ctx, r.iam)
	if err != nil {
		return nil, nil, fmt.Errorf("account %s: %w", r.acct, err)
	}
	for _, u := range users {
		left := r.cleanup(ctx, u.Name)
		if len(left) == 0 {
			removed = append(removed, u.Name)
		}
		leftovers = append(leftovers, left...)
	}
	return removed, leftovers, nil
}

// cleanup removes the user, its keys, login profile and tags, and the secrets and parameters the
// configured sinks keep for it. It returns what it could not remove; what is already gone is fine.
func (r *run) cleanup(ctx context.Context, user string) []string {
	var left []string
	fail := func(what string, err error) {
		var nse *iamtypes.NoSuchEntityException
		if err != nil && !errors.As(err, &nse) {
			left = append(left, fmt.Sprintf("%s: %v", what, err))
		}
	}
	keys, err := r.iam.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(user)})
	fail("list access keys of "+user, err)
	if err == nil {
		for _, k := range keys.AccessKeyMetadata {
			_, err := r.iam.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(user), AccessKeyId: k.AccessKeyId})
			fail("delete access key "+inventory.KeyID(aws.ToString(k.AccessKeyId)).String()+" of "+user, err)
		}
	}
	_, err = r.iam.DeleteLoginProfile(ctx, &iam.DeleteLoginProfileInput{UserName: aws.String(user)})
	fail("delete login profile of "+user, err)

	sm := secretsmanager.NewFromConfig(r.o.Runner.AWS)
	for _, name := range r.secretNames(user) {
		_, err := sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(name), ForceDeleteWithoutRecovery: aws.Bool(true)})
		var nf *smtypes.ResourceNotFoundException
		if err != nil && !errors.As(err, &nf) {
			left = append(left, fmt.Sprintf("delete secret %s: %v", name, err))
		}
	}
	ps := ssm.NewFromConfig(r.o.Runner.AWS)
	for _, name := range r.parameterNames(user) {
		_, err := ps.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String(name)})
		var nf *ssmtypes.ParameterNotFound
		if err != nil && !errors.As(err, &nf) {
			left = append(left, fmt.Sprintf("delete parameter %s: %v", name, err))
		}
	}
	if tags, err := r.iam.ListUserTags(ctx, &iam.ListUserTagsInput{UserName: aws.String(user)}); err == nil && len(tags.Tags) > 0 {
		var names []string
		for _, t := range tags.Tags {
			names = append(names, aws.ToString(t.Key))
		}
		_, err := r.iam.UntagUser(ctx, &iam.UntagUserInput{UserName: aws.String(user), TagKeys: names})
		fail("remove tags of "+user, err)
	}
	_, err = r.iam.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String(user)})
	fail("delete user "+user, err)
	return left
}

func (r *run) passwords() config.Passwords {
	d := config.DefaultPasswords()
	if r.o.Config == nil {
		return d
	}
	p := r.o.Config.Passwords
	if p.SecretTemplate == "" {
		p.SecretTemplate = d.SecretTemplate
	}
	if p.ParameterTemplate == "" {
		p.ParameterTemplate = d.ParameterTemplate
	}
	return p
}

// secretNames are the Secrets Manager secrets the configured sinks keep for the user.
func (r *run) secretNames(user string) []string {
	set := map[string]bool{}
	for _, s := range r.o.Runner.Delivery.For(policy.DefaultRuleName) {
		sm, ok := s.Settings.(*sink.SecretsManagerConfig)
		if !ok {
			continue
		}
		tmpl := sm.Template(r.o.Runner.Secret)
		if tmpl != "" {
			set[sink.SecretName(tmpl, r.acct, user)] = true
		}
		set[sink.SecretName(r.passwords().SecretTemplate, r.acct, user)] = true
	}
	return sortedKeys(set)
}

// parameterNames are the SSM parameters the configured sinks keep for the user.
func (r *run) parameterNames(user string) []string {
	set := map[string]bool{}
	for _, s := range r.o.Runner.Delivery.For(policy.DefaultRuleName) {
		ps, ok := s.Settings.(*sink.SSMConfig)
		if !ok {
			continue
		}
		set[sink.SecretName(ps.Parameter, r.acct, user)] = true
		set[sink.SecretName(r.passwords().ParameterTemplate, r.acct, user)] = true
	}
	return sortedKeys(set)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Admin is the sandbox's admin API (docs/sandbox.md), used by --fast to move its clock.
type Admin struct {
	URL    string // the endpoint, such as http://127.0.0.1:4566
	Client *http.Client
}

// AdminFor returns the admin API of the endpoint the AWS configuration points at.
func AdminFor(cfg aws.Config) (*Admin, error) {
	base := aws.ToString(cfg.BaseEndpoint)
	if base == "" {
		return nil, errors.New("--fast needs an endpoint with a settable clock (the keycycle sandbox); the AWS configuration points at AWS itself")
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("endpoint %q: %w", base, err)
	}
	return &Admin{URL: u.Scheme + "://" + u.Host}, nil
}

func (a *Admin) do(ctx context.Context, method string, body any) (time.Time, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return time.Time{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.URL+"/_sandbox/clock", rd)
	if err != nil {
		return time.Time{}, err
	}
	c := a.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return time.Time{}, err
	}
	defer resp.Body.Close()
	var out struct {
		Now   string `json:"now"`
		Error string `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		return time.Time{}, fmt.Errorf("%s %s/_sandbox/clock: HTTP %d %s", method, a.URL, resp.StatusCode, out.Error)
	}
	return time.Parse(time.RFC3339, out.Now)
}

// Clock reads the sandbox clock.
func (a *Admin) Clock(ctx context.Context) (time.Time, error) { return a.do(ctx, http.MethodGet, nil) }

// Advance moves the sandbox clock forward by d.
func (a *Admin) Advance(ctx context.Context, d time.Duration) (time.Time, error) {
	return a.do(ctx, http.MethodPost, map[string]string{"advance": d.String()})
}

// humanDuration writes d as hours or minutes, rounded up.
func humanDuration(d time.Duration) string {
	if d >= time.Hour {
		h := (d + time.Hour - 1) / time.Hour
		return fmt.Sprintf("%d h", h)
	}
	m := (d + time.Minute - 1) / time.Minute
	return fmt.Sprintf("%d min", m)
}
