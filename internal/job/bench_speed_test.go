package job_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/job"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/policy"
	"github.com/keycycle/keycycle/internal/rotation"
	"github.com/keycycle/keycycle/internal/throttle"
)

// population is an account of n users: the first due have a 120-day-old active key (used
// yesterday), and the first withInactive of those also an inactive key of 200 days last used 150
// days ago, which the rotation deletes first to make room; the others have a 30-day-old key.
func population(n, due, withInactive int) *awssim.Scenario {
	users := make([]awssim.ScenarioUser, n)
	used, oldUse := 1, 150
	for i := range users {
		age := 30
		if i < due {
			age = 120
		}
		keys := []awssim.ScenarioKey{{AgeDays: age, Status: "Active", LastUsedDaysAgo: &used}}
		if i < withInactive {
			keys = append([]awssim.ScenarioKey{{AgeDays: 200, Status: "Inactive", LastUsedDaysAgo: &oldUse}}, keys...)
		}
		users[i] = awssim.ScenarioUser{Name: fmt.Sprintf("user-%06d", i),
			Tags: map[string]string{"owner": fmt.Sprintf("user-%06d@example.com", i)}, AccessKeys: keys}
	}
	return &awssim.Scenario{Accounts: []awssim.ScenarioAccount{{ID: "111111111111", Users: users}}}
}

// awsLike is the benchmarks' sandbox: 20 ms per call and AWS-like throttling (the "aws"
// rate-limit profile), so no figure is measured against an unthrottled fake.
func awsLike(sc *awssim.Scenario) []awssimtest.Option {
	return []awssimtest.Option{awssimtest.WithScenario(sc), awssimtest.WithFaults(awssim.Faults{RateLimitProfile: awssim.ProfileAWS,
		Latency: []awssim.LatencyRule{{Delay: awssim.Duration(20 * time.Millisecond)}}})}
}

// limited is cfg with keycycle's default budget on every call, as the CLI runs.
func limited(cfg aws.Config) aws.Config {
	c := sdkRetries(cfg)
	c.APIOptions = append(c.APIOptions, throttle.NewServices(throttle.DefaultLimits()).APIOption)
	return c
}

// BenchmarkPlanAWSLike plans an account on the AWS-like sandbox (20 ms a call, the "aws"
// rate-limit profile) with the default budget and the CLI's report polling (docs/benchmarks.md).
//
//	go test ./internal/job -run '^$' -bench BenchmarkPlanAWSLike -benchtime 1x
func BenchmarkPlanAWSLike(b *testing.B) {
	for _, c := range []struct{ n, due, inactive int }{{1010, 520, 20}, {10000, 100, 0}} {
		b.Run(fmt.Sprintf("users=%d/due=%d", c.n, c.due), func(b *testing.B) {
			sb, cfg := awssimtest.Start(b, awsLike(population(c.n, c.due, c.inactive))...)
			r := &job.Runner{AWS: limited(cfg), Rules: policy.DefaultRules(), Now: sb.Clock().Now}
			if _, err := r.Identity(context.Background()); err != nil {
				b.Fatal(err)
			}
			var s job.Scanned
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				sb.ResetStats()
				b.StartTimer()
				var err error
				if s, err = r.Plan(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			total, by := callsOf(sb.Stats(), "111111111111")
			b.ReportMetric(float64(total)/float64(b.N), "calls/op")
			b.ReportMetric(float64(s.Plan.Summary.Rotate), "rotate-steps")
			b.ReportMetric(float64(s.Plan.Summary.Delete), "delete-steps")
			b.Logf("users=%d calls per plan %d (%s); rotate %d delete %d", c.n, total/b.N, breakdown(by), s.Plan.Summary.Rotate, s.Plan.Summary.Delete)
		})
	}
}

// BenchmarkSideBySide runs, on two sandboxes with the same population and the same AWS-like
// behaviour, keycycle's plan and apply, and a straightforward per-user implementation of the
// same job: ListUsers pages, then ListAccessKeys and GetAccessKeyLastUsed per user, then for each
// due user create a key, store it in Secrets Manager and deactivate the old one.
//
//	go test ./internal/job -run '^$' -bench BenchmarkSideBySide -benchtime 1x -timeout 30m
func BenchmarkSideBySide(b *testing.B) {
	for _, c := range []struct{ n, due, inactive int }{{200, 100, 10}, {1010, 520, 20}} {
		b.Run(fmt.Sprintf("users=%d/due=%d", c.n, c.due), func(b *testing.B) { sideBySide(b, c.n, c.due, c.inactive) })
	}
}

func sideBySide(b *testing.B, n, due, inactive int) {
	for i := 0; i < b.N; i++ {
		// keycycle
		sb, cfg := awssimtest.Start(b, awsLike(population(n, due, inactive))...)
		r := &job.Runner{AWS: limited(cfg), Rules: policy.DefaultRules(), Now: sb.Clock().Now,
			Secret: config.Secret{NameTemplate: "keycycle/{{account}}/{{user}}"}}
		ctx := context.Background()
		if _, err := r.Identity(ctx); err != nil {
			b.Fatal(err)
		}
		sb.ResetStats()
		t0 := time.Now()
		s, err := r.Plan(ctx)
		if err != nil {
			b.Fatal(err)
		}
		kPlanTime := time.Since(t0)
		kPlanCalls, _ := callsOf(sb.Stats(), "111111111111")
		res, err := r.Apply(ctx, s.Plan, false)
		if err != nil {
			b.Fatal(err)
		}
		kTime := time.Since(t0)
		kCalls, kBy := callsOf(sb.Stats(), "111111111111")
		var rotated, deleted int
		for _, x := range res {
			switch {
			case x.Outcome == rotation.Done && x.Step.Action == plan.Rotate:
				rotated++
			case x.Outcome == rotation.Done && x.Step.Action == plan.Delete:
				deleted++
			case x.Step.Changes():
				b.Fatalf("keycycle: %s %s: %s %v", x.Step.User, x.Step.Action, x.Outcome, x.Err)
			}
		}
		if rotated != due || deleted != inactive {
			b.Fatalf("keycycle rotated %d and deleted %d, want %d and %d", rotated, deleted, due, inactive)
		}
		b.Logf("users=%d due=%d: keycycle plan %d calls %.1fs, plan+apply %d calls %.1fs (%s)", n, due, kPlanCalls, kPlanTime.Seconds(), kCalls, kTime.Seconds(), breakdown(kBy))

		// the straightforward implementation
		nsb, ncfg := awssimtest.Start(b, awsLike(population(n, due, inactive))...)
		t0 = time.Now()
		planCalls, nRotated, err := naiveRotate(ctx, sdkRetries(ncfg), nsb.Clock().Now(), func() int {
			c, _ := callsOf(nsb.Stats(), "111111111111")
			return c
		})
		if err != nil {
			b.Fatal(err)
		}
		nTime := time.Since(t0)
		nCalls, nBy := callsOf(nsb.Stats(), "111111111111")
		if nRotated != due {
			b.Fatalf("the per-user implementation rotated %d, want %d", nRotated, due)
		}
		b.ReportMetric(float64(kPlanCalls), "keycycle-plan-calls")
		b.ReportMetric(float64(planCalls.calls), "naive-plan-calls")
		b.ReportMetric(float64(kCalls), "keycycle-calls")
		b.ReportMetric(float64(nCalls), "naive-calls")
		b.ReportMetric(kTime.Seconds(), "keycycle-s")
		b.ReportMetric(nTime.Seconds(), "naive-s")
		b.Logf("per-user: reads %d calls %.1fs, whole %d calls %.1fs (%s)", planCalls.calls, planCalls.took.Seconds(), nCalls, nTime.Seconds(), breakdown(nBy))
		b.Logf("ratios: plan calls %.0fx fewer, whole-run calls %.1fx fewer, wall time %.2fx (keycycle / per-user)",
			float64(planCalls.calls)/float64(kPlanCalls), float64(nCalls)/float64(kCalls), kTime.Seconds()/nTime.Seconds())
	}
}

// sdkRetries is cfg with the SDK's standard retryer and its backoff (awssimtest's configuration
// makes one attempt), allowed 10 attempts instead of the default 3: with 3, the 1,010-user run's
// CreateAccessKey calls sometimes ran out of attempts on Throttling, and a baseline that stops
// half-way measures nothing. More attempts only help the per-user implementation finish.
func sdkRetries(cfg aws.Config) aws.Config {
	c := cfg.Copy()
	c.RetryMaxAttempts = 10
	return c
}

type phaseCost struct {
	calls int
	took  time.Duration
}

// naiveRotate is the straightforward per-user rotation the issue compares against, without
// keycycle's safety (no intent, no verification, no last-use guard): the reads of every user,
// then for each user with an active key of 90 days or more: delete an inactive key if the user
// has two, create a key, store it (CreateSecret, or PutSecretValue when the secret exists) and
// deactivate the old key. It calls AWS one call at a time with the SDK's default retries.
func naiveRotate(ctx context.Context, cfg aws.Config, now time.Time, calls func() int) (phaseCost, int, error) {
	c := iam.NewFromConfig(cfg)
	sm := secretsmanager.NewFromConfig(cfg)
	t0 := time.Now()
	type user struct {
		name string
		keys []iamtypes.AccessKeyMetadata
	}
	var users []user
	p := iam.NewListUsersPaginator(c, &iam.ListUsersInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return phaseCost{}, 0, err
		}
		for _, u := range page.Users {
			keys, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: u.UserName})
			if err != nil {
				return phaseCost{}, 0, err
			}
			for _, k := range keys.AccessKeyMetadata {
				if _, err := c.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: k.AccessKeyId}); err != nil {
					return phaseCost{}, 0, err
				}
			}
			users = append(users, user{aws.ToString(u.UserName), keys.AccessKeyMetadata})
		}
	}
	reads := phaseCost{calls: calls(), took: time.Since(t0)}
	rotated := 0
	for _, u := range users {
		var old *iamtypes.AccessKeyMetadata
		for i, k := range u.keys {
			if k.Status == iamtypes.StatusTypeActive && now.Sub(aws.ToTime(k.CreateDate)) >= 90*policy.Day {
				old = &u.keys[i]
			}
		}
		if old == nil {
			continue
		}
		for _, k := range u.keys {
			if k.Status == iamtypes.StatusTypeInactive {
				if _, err := c.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(u.name), AccessKeyId: k.AccessKeyId}); err != nil {
					return reads, rotated, err
				}
			}
		}
		nk, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(u.name)})
		if err != nil {
			return reads, rotated, err
		}
		value := `{"AccessKeyId":"` + aws.ToString(nk.AccessKey.AccessKeyId) + `","SecretAccessKey":"` + aws.ToString(nk.AccessKey.SecretAccessKey) + `"}`
		name := u.name + "_credentials"
		if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)}); err != nil {
			var exists *smtypes.ResourceExistsException
			if !errors.As(err, &exists) {
				return reads, rotated, err
			}
			if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(value)}); err != nil {
				return reads, rotated, err
			}
		}
		if _, err := c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String(u.name), AccessKeyId: old.AccessKeyId, Status: iamtypes.StatusTypeInactive}); err != nil {
			return reads, rotated, err
		}
		rotated++
	}
	return reads, rotated, nil
}
