package awssim_test

import (
	"context"
	"errors"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
)

// manualWall is a wall clock that moves only when a test says so; it makes rate limits,
// key propagation and report delays exact.
type manualWall struct {
	mu  sync.Mutex
	now time.Time
}

func newManualWall() *manualWall {
	return &manualWall{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (m *manualWall) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

func (m *manualWall) Advance(d time.Duration) {
	m.mu.Lock()
	m.now = m.now.Add(d)
	m.mu.Unlock()
}

// withWallClock makes the sandbox read wall time from m.
func withWallClock(m *manualWall) awssimtest.Option { return awssimtest.WithWallClock(m.Now) }

// apiErrorCode is the AWS error code of err, or "" when err is not an AWS error.
func apiErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// httpStatusOf is the HTTP status of the answer that produced err, or 0.
func httpStatusOf(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func wantAPIError(t *testing.T, err error, code string, status int) {
	t.Helper()
	if got := apiErrorCode(err); got != code {
		t.Fatalf("want %s, got %v", code, err)
	}
	if got := httpStatusOf(err); got != status {
		t.Fatalf("%s: want HTTP %d, got %d", code, status, got)
	}
}

func callGetUser(ctx context.Context, c *iam.Client, name string) error {
	_, err := c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(name)})
	return err
}

func TestLatencyDelaysMatchingCalls(t *testing.T) {
	ctx := context.Background()
	const delay = 120 * time.Millisecond
	var mu sync.Mutex
	var waited []time.Duration
	_, cfg := awssimtest.Start(t, awssimtest.WithSleep(func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		waited = append(waited, d)
		mu.Unlock()
		return nil
	}), awssimtest.WithFaults(awssim.Faults{
		Latency: []awssim.LatencyRule{
			{Match: awssim.Match{Service: "iam", Action: "GetUser"}, Delay: awssim.Duration(delay)},
			{Match: awssim.Match{Service: "iam", Action: "Get*"}, Delay: awssim.Duration(5 * time.Millisecond)},
		},
	}))
	c := iam.NewFromConfig(cfg)
	if err := callGetUser(ctx, c, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListUsers(ctx, &iam.ListUsersInput{}); err != nil {
		t.Fatal(err)
	}
	// Matching rules add up; ListUsers matches none.
	if want := []time.Duration{delay + 5*time.Millisecond}; !slices.Equal(waited, want) {
		t.Fatalf("waited %v, want %v", waited, want)
	}
}

func TestRateLimitIsPerAccount(t *testing.T) {
	ctx := context.Background()
	wall := newManualWall()
	sb, cfg := awssimtest.Start(t, withWallClock(wall), awssimtest.WithFaults(awssim.Faults{
		RateLimits: []awssim.RateLimitRule{{Match: awssim.Match{Service: "iam", Account: "*"}, PerSecond: 2, Burst: 3}},
	}))
	prod := iam.NewFromConfig(cfg)
	security := iam.NewFromConfig(sb.AccountConfig(t, "222222222222"))

	for i := range 3 {
		if err := callGetUser(ctx, prod, "alice"); err != nil {
			t.Fatalf("call %d within burst: %v", i+1, err)
		}
	}
	err := callGetUser(ctx, prod, "alice")
	wantAPIError(t, err, "Throttling", http.StatusBadRequest)

	// The other account has its own bucket.
	for i := range 3 {
		if err := callGetUser(ctx, security, "auditor"); err != nil {
			t.Fatalf("account 222222222222 call %d: %v", i+1, err)
		}
	}
	// STS is not matched by the rule.
	if _, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("sts is not rate limited: %v", err)
	}
	// Half a second of wall time refills one token.
	wall.Advance(500 * time.Millisecond)
	if err := callGetUser(ctx, prod, "alice"); err != nil {
		t.Fatalf("after refill: %v", err)
	}
	wantAPIError(t, callGetUser(ctx, prod, "alice"), "Throttling", http.StatusBadRequest)

	st := sb.Stats()
	if got := st.Throttled["111111111111"]["iam"]["GetUser"]; got != 2 {
		t.Fatalf("throttled count = %d, want 2", got)
	}
	if got := st.Calls["111111111111"]["iam"]["GetUser"]; got != 6 {
		t.Fatalf("calls = %d, want 6 (throttled calls count as served)", got)
	}
}

func TestErrorRuleNth(t *testing.T) {
	ctx := context.Background()
	_, cfg := awssimtest.Start(t, awssimtest.WithFaults(awssim.Faults{
		Errors: []awssim.ErrorRule{{Match: awssim.Match{Action: "GetUser"}, Code: "ServiceFailure", Nth: 2}},
	}))
	c := iam.NewFromConfig(cfg)
	if err := callGetUser(ctx, c, "alice"); err != nil {
		t.Fatalf("first call: %v", err)
	}
	err := callGetUser(ctx, c, "alice")
	var sf *iamtypes.ServiceFailureException
	if !errors.As(err, &sf) {
		t.Fatalf("second call: want typed ServiceFailureException, got %v", err)
	}
	wantAPIError(t, err, "ServiceFailure", http.StatusInternalServerError)
	if err := callGetUser(ctx, c, "alice"); err != nil {
		t.Fatalf("third call: %v", err)
	}
}

func TestErrorRuleNthWithTimesFiresARun(t *testing.T) {
	ctx := context.Background()
	_, cfg := awssimtest.Start(t, awssimtest.WithFaults(awssim.Faults{
		Errors: []awssim.ErrorRule{{Match: awssim.Match{Action: "GetUser"}, Code: "ServiceFailure", Nth: 2, Times: 2}},
	}))
	c := iam.NewFromConfig(cfg)
	for i, wantFail := range []bool{false, true, true, false, false} {
		err := callGetUser(ctx, c, "alice")
		if (err != nil) != wantFail {
			t.Fatalf("call %d: error %v, want failure %v", i+1, err, wantFail)
		}
	}
}

func TestErrorRuleProbabilityOneWithTimes(t *testing.T) {
	ctx := context.Background()
	sb, cfg := awssimtest.Start(t, awssimtest.WithFaults(awssim.Faults{
		Errors: []awssim.ErrorRule{{Match: awssim.Match{Service: "iam"}, Code: "Throttling", Probability: 1, Times: 2}},
	}))
	c := iam.NewFromConfig(cfg)
	for range 2 {
		wantAPIError(t, callGetUser(ctx, c, "alice"), "Throttling", http.StatusBadRequest)
	}
	if err := callGetUser(ctx, c, "alice"); err != nil {
		t.Fatalf("after times=2 the rule is spent: %v", err)
	}
	if got := sb.Stats().Injected["111111111111"]["iam"]["GetUser"]; got != 2 {
		t.Fatalf("injected = %d, want 2", got)
	}
}

func TestErrorRuleByUserNameAndStatus(t *testing.T) {
	ctx := context.Background()
	sb, cfg := awssimtest.Start(t)
	if err := sb.SetFaults(awssim.Faults{Errors: []awssim.ErrorRule{
		{Match: awssim.Match{Service: "iam", Account: "111111111111"}, UserName: "bob", Code: "ServiceUnavailable", Status: 503, Message: "try later"},
	}}); err != nil {
		t.Fatal(err)
	}
	c := iam.NewFromConfig(cfg)
	err := callGetUser(ctx, c, "bob")
	wantAPIError(t, err, "ServiceUnavailable", http.StatusServiceUnavailable)
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorMessage() != "try later" {
		t.Fatalf("message = %q", ae.ErrorMessage())
	}
	if err := callGetUser(ctx, c, "alice"); err != nil {
		t.Fatalf("other users are unaffected: %v", err)
	}
	// Rules are validated.
	for _, bad := range []awssim.Faults{
		{Errors: []awssim.ErrorRule{{Probability: 1}}},
		{Errors: []awssim.ErrorRule{{Code: "X", Probability: 2}}},
		{Errors: []awssim.ErrorRule{{Code: "X", Status: 200}}},
		{RateLimits: []awssim.RateLimitRule{{PerSecond: 0, Burst: 1}}},
	} {
		if err := sb.SetFaults(bad); err == nil {
			t.Errorf("SetFaults(%+v) accepted an invalid rule", bad)
		}
	}
}

func TestKeyPropagationDelay(t *testing.T) {
	ctx := context.Background()
	wall := newManualWall()
	sb, cfg := awssimtest.Start(t, withWallClock(wall), awssimtest.WithFaults(awssim.Faults{
		KeyPropagationDelay: awssim.Duration(10 * time.Second),
	}))
	out, err := iam.NewFromConfig(cfg).CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("bob")})
	if err != nil {
		t.Fatal(err)
	}
	k := out.AccessKey
	probe := sts.NewFromConfig(sb.Config(aws.ToString(k.AccessKeyId), aws.ToString(k.SecretAccessKey), ""))
	_, err = probe.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantAPIError(t, err, "InvalidClientTokenId", http.StatusForbidden)

	wall.Advance(9 * time.Second)
	_, err = probe.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantAPIError(t, err, "InvalidClientTokenId", http.StatusForbidden)

	wall.Advance(time.Second)
	id, err := probe.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("after the propagation delay: %v", err)
	}
	if got := aws.ToString(id.Arn); got != "arn:aws:iam::111111111111:user/bob" {
		t.Fatalf("caller = %s", got)
	}
}

func TestThrottlingCodeFollowsTheService(t *testing.T) {
	ctx := context.Background()
	_, cfg := awssimtest.Start(t, awssimtest.WithFaults(awssim.Faults{
		RateLimits: []awssim.RateLimitRule{{Match: awssim.Match{Service: "sns"}, PerSecond: 0.001, Burst: 1}},
	}))
	c := sns.NewFromConfig(cfg)
	var last error
	for range 2 {
		_, last = c.ListTopics(ctx, &sns.ListTopicsInput{})
	}
	wantAPIError(t, last, "ThrottlingException", http.StatusBadRequest)
}

func TestRateLimitByActionPatterns(t *testing.T) {
	ctx := context.Background()
	_, cfg := awssimtest.Start(t, awssimtest.WithFaults(awssim.Faults{
		RateLimits: []awssim.RateLimitRule{{Match: awssim.Match{Service: "iam", Actions: []string{"Get*", "List*"}}, PerSecond: 0.001, Burst: 2}},
	}))
	c := iam.NewFromConfig(cfg)
	for range 2 {
		if err := callGetUser(ctx, c, "alice"); err != nil {
			t.Fatalf("within the burst: %v", err)
		}
	}
	_, err := c.ListUsers(ctx, &iam.ListUsersInput{})
	wantAPIError(t, err, "Throttling", http.StatusBadRequest) // Get* and List* share the bucket
	if _, err := c.TagUser(ctx, &iam.TagUserInput{UserName: aws.String("alice"), Tags: []iamtypes.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}); err != nil {
		t.Fatalf("writes are not in the read bucket: %v", err)
	}
}

func TestInjectedErrorStatusFollowsTheCode(t *testing.T) {
	ctx := context.Background()
	_, cfg := awssimtest.Start(t, awssimtest.WithFaults(awssim.Faults{
		Errors: []awssim.ErrorRule{{Match: awssim.Match{Action: "UpdateLoginProfile"}, Code: "EntityTemporarilyUnmodifiable"}},
	}))
	_, err := iam.NewFromConfig(cfg).UpdateLoginProfile(ctx, &iam.UpdateLoginProfileInput{UserName: aws.String("alice"), PasswordResetRequired: aws.Bool(true)})
	wantAPIError(t, err, "EntityTemporarilyUnmodifiable", http.StatusConflict)
	var typed *iamtypes.EntityTemporarilyUnmodifiableException
	if !errors.As(err, &typed) {
		t.Fatalf("want the typed error, got %T", err)
	}
}
