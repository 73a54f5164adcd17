package job

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/policy"
	"github.com/keycycle/keycycle/internal/rotation"
	"github.com/keycycle/keycycle/internal/scan"
)

// PlanForce plans rotating one user's access key, and console password when the user has one and
// password rotation is on, now, whatever their age (the "force refresh" of the Terraform+SQS
// module, ForceRotate of the CloudFormation solution). Everything else stays as the rules say:
// selection and exemptions hold, two active keys block, an inactive second key is deleted first
// only when the delete rule allows it. The user is read fresh.
func (r *Runner) PlanForce(ctx context.Context, userName string) (plan.Plan, error) {
	id, u, err := r.readUser(ctx, userName)
	if err != nil {
		return plan.Plan{}, fmt.Errorf("force rotation of %s: %w", userName, err)
	}
	rules := forcedRules(r.Rules)
	p := r.blockUnholdable(policy.Evaluate([]inventory.Account{{ID: aws.ToString(id.Account), Users: []inventory.User{u}}}, rules, r.now()))
	for i := range p.Steps {
		if p.Steps[i].Action == plan.Rotate && !strings.HasPrefix(p.Steps[i].Reason, "forced") {
			p.Steps[i].Reason = "forced rotation requested: " + p.Steps[i].Reason
		}
	}
	return p, nil
}

// PlanUser plans one user, read fresh, under the rules as they are: what a schedule would plan
// for that user now. It returns the account snapshot the plan was made from (one user) for the
// notices. The Lambda's cleanup follow-ups use it.
func (r *Runner) PlanUser(ctx context.Context, userName string) (plan.Plan, inventory.Account, error) {
	id, u, err := r.readUser(ctx, userName)
	if err != nil {
		return plan.Plan{}, inventory.Account{}, fmt.Errorf("plan %s: %w", userName, err)
	}
	acct := inventory.Account{ID: aws.ToString(id.Account), Users: []inventory.User{u}}
	return r.blockUnholdable(policy.Evaluate([]inventory.Account{acct}, r.Rules, r.now())), acct, nil
}

// readUser reads one user as a scan would see it, with its keys and login profile.
func (r *Runner) readUser(ctx context.Context, userName string) (*sts.GetCallerIdentityOutput, inventory.User, error) {
	id, err := r.Identity(ctx)
	if err != nil {
		return nil, inventory.User{}, err
	}
	c := iam.NewFromConfig(r.AWS)
	out, err := c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(userName)})
	if err != nil {
		return nil, inventory.User{}, err
	}
	u := inventory.User{Name: aws.ToString(out.User.UserName), UserID: aws.ToString(out.User.UserId), ARN: aws.ToString(out.User.Arn),
		Path: aws.ToString(out.User.Path), Created: aws.ToTime(out.User.CreateDate), Tags: map[string]string{}}
	for _, t := range out.User.Tags {
		u.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	gp := iam.NewListGroupsForUserPaginator(c, &iam.ListGroupsForUserInput{UserName: aws.String(userName)})
	for gp.HasMorePages() {
		page, err := gp.NextPage(ctx)
		if err != nil {
			return nil, inventory.User{}, fmt.Errorf("groups: %w", err)
		}
		for _, g := range page.Groups {
			u.Groups = append(u.Groups, aws.ToString(g.GroupName))
		}
	}
	if u.Keys, err = scan.ReadKeys(ctx, c, userName); err != nil {
		return nil, inventory.User{}, err
	}
	u.KeysKnown = true
	if u.Login, err = scan.ReadLogin(ctx, c, userName); err != nil {
		u.LoginUnknown = err.Error() // the keys can still be planned; the password is left alone
	} else {
		u.LoginKnown = true
	}
	return id, u, nil
}

// forcedRules are rules under which every active key (and password) is due now.
func forcedRules(in policy.Rules) policy.Rules {
	rules := in
	force(&rules.Default)
	named := make([]policy.Rule, len(rules.Named))
	for i, n := range rules.Named {
		force(&n.Thresholds)
		named[i] = n
	}
	rules.Named = named
	rules.Overrides.Max = 0 // no per-user tag can push it back
	return rules
}

// force makes every active key (and password, where password rotation is on) due now.
func force(th *policy.Thresholds) {
	th.RotateAfter, th.WarnBefore = 1, 0
	if th.PasswordRotateAfter > 0 {
		th.PasswordRotateAfter = 1
	}
}

// Force plans and applies a forced rotation of one user.
func (r *Runner) Force(ctx context.Context, userName string, dryRun bool) (plan.Plan, []rotation.Result, error) {
	p, err := r.PlanForce(ctx, userName)
	if err != nil {
		return p, nil, err
	}
	res, err := r.apply(ctx, p, dryRun, forcedRules(r.Rules))
	return p, res, err
}
