// Package chaos is keycycle's model-based chaos harness. From one seed a schedule draws a
// population (users, key ages and states, tags, groups, login profiles), a fault plan per round
// (errors on the Nth call of an action, throttling and 5xx rates, latency, key propagation
// delay), interruptions (the run's context cancelled at a random API call), one to three
// concurrent runs per round (job.Runner plan and apply, as the CLI and the Lambda worker use
// them) and sandbox clock advances through the whole lifecycle. After every round a checker reads
// the sandbox and asserts the invariants of docs/reliability.md. A failing schedule is shrunk
// and printed as a one-line replay command (chaos_test.go).
package chaos

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/policy"
)

// AccountID is the one account of every schedule.
const AccountID = "111111111111"

// Start is the sandbox clock at the start of every schedule.
var Start = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

// Limits shrink a schedule: each caps one dimension of what the seed drew. A zero Limits (see
// Full) keeps everything.
type Limits struct {
	Users     int  // keep the first Users users
	Rounds    int  // keep the first Rounds rounds (the final clean round always runs)
	Runs      int  // at most Runs concurrent runs per round
	Faults    int  // at most Faults error rules per round; 0 also drops rates and latency
	Interrupt bool // cancel runs at the drawn API call
	Stale     bool // apply saved (stale) plans where drawn
}

// Full keeps everything a seed draws.
func Full() Limits {
	return Limits{Users: 1 << 20, Rounds: 1 << 20, Runs: 3, Faults: 1 << 20, Interrupt: true, Stale: true}
}

// String is the -chaos.limits flag value that reproduces l.
func (l Limits) String() string {
	return fmt.Sprintf("users=%d,rounds=%d,runs=%d,faults=%d,interrupt=%t,stale=%t",
		l.Users, l.Rounds, l.Runs, l.Faults, l.Interrupt, l.Stale)
}

// ParseLimits reads Limits.String's format; missing keys keep Full's values.
func ParseLimits(s string) (Limits, error) {
	l := Full()
	if s == "" {
		return l, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return l, fmt.Errorf("limits: %q is not key=value", kv)
		}
		var err error
		switch k {
		case "users":
			l.Users, err = strconv.Atoi(v)
		case "rounds":
			l.Rounds, err = strconv.Atoi(v)
		case "runs":
			l.Runs, err = strconv.Atoi(v)
		case "faults":
			l.Faults, err = strconv.Atoi(v)
		case "interrupt":
			l.Interrupt, err = strconv.ParseBool(v)
		case "stale":
			l.Stale, err = strconv.ParseBool(v)
		default:
			return l, fmt.Errorf("limits: unknown key %q", k)
		}
		if err != nil {
			return l, fmt.Errorf("limits: %s: %w", k, err)
		}
	}
	return l, nil
}

// Schedule is everything one seed drew, after Limits.
type Schedule struct {
	Seed     uint64
	Limits   Limits
	Scenario *awssim.Scenario
	Rules    policy.Rules
	Rounds   []Round
}

// Round is one step of the lifecycle: the clock moves, consumers use keys, then runs.
type Round struct {
	Advance time.Duration
	// Clean rounds run once without faults after the leases of interrupted runs expired, then
	// once more to check that a second apply changes nothing (I5); I1 is checked strictly.
	Clean  bool
	Faults awssim.Faults
	Runs   []RunPlan
	// Use lists users whose consumers sign a request with one of their active keys first.
	Use []string
}

// RunPlan is one run of a round.
type RunPlan struct {
	// CancelAt cancels the run's context before its CancelAt-th API call; 0: never.
	CancelAt int
	// Stale applies the plan of an earlier round instead of a fresh one (a saved plan file or a
	// late queue message), when there is one.
	Stale bool
}

// Draw makes the schedule of seed under limits.
func Draw(seed uint64, lim Limits) Schedule {
	pop := rand.New(rand.NewPCG(seed, 1))
	s := Schedule{Seed: seed, Limits: lim, Rules: drawRules(pop)}
	s.Scenario = drawScenario(pop, seed, lim.Users)
	users := make([]string, 0, len(s.Scenario.Accounts[0].Users))
	for _, u := range s.Scenario.Accounts[0].Users {
		users = append(users, u.Name)
	}
	rr := rand.New(rand.NewPCG(seed, 2))
	n := 3 + rr.IntN(6)
	for i := 0; i < n; i++ {
		r := drawRound(rand.New(rand.NewPCG(seed, uint64(100+i))), users, lim)
		if i < lim.Rounds {
			s.Rounds = append(s.Rounds, r)
		}
	}
	s.Rounds = append(s.Rounds, Round{Clean: true, Advance: time.Duration(rr.IntN(3)) * policy.Day, Runs: []RunPlan{{}}})
	return s
}

func drawRules(r *rand.Rand) policy.Rules {
	rules := policy.DefaultRules()
	if r.IntN(4) == 0 {
		rules.Default.HardLimit = time.Duration(110+r.IntN(60)) * policy.Day
	}
	if r.IntN(3) == 0 {
		rules.TwoActiveKeys.Mode = policy.TwoKeysDeactivateUnused
	}
	switch r.IntN(4) {
	case 0:
		rules.MaxDestructive = 1
	case 1:
		rules.MaxDestructive = -1
	}
	if r.IntN(3) == 0 {
		rules.Default.DeactivateAfter = time.Duration(1+r.IntN(5)) * policy.Day
		rules.Default.DeleteAfter = time.Duration(1+r.IntN(5)) * policy.Day
	}
	return rules
}

// names are drawn user names: every character IAM allows in one (\w+=,.@-), some that a sink
// cannot hold in a name.
var names = []string{"alice", "svc-batch", "ci.deploy", "bob@corp", "x_y+z", "app=eq", "svc,batch", "Bob", "build-01"}

func drawScenario(r *rand.Rand, seed uint64, maxUsers int) *awssim.Scenario {
	a := awssim.ScenarioAccount{ID: AccountID, Alias: "chaos", Groups: []string{"IAMKeyRotationExemptionGroup", "devs"}}
	if r.IntN(3) == 0 {
		a.PasswordPolicy = &awssim.ScenarioPasswordPolicy{MinimumLength: 8 + r.IntN(20), RequireSymbols: r.IntN(2) == 0,
			RequireNumbers: r.IntN(2) == 0, RequireUppercase: r.IntN(2) == 0, RequireLowercase: r.IntN(2) == 0,
			PasswordReusePrevention: r.IntN(5)}
	}
	n := 1 + r.IntN(6)
	for i := 0; i < n; i++ {
		u := drawUser(r, i)
		if i < maxUsers {
			a.Users = append(a.Users, u)
		}
	}
	return &awssim.Scenario{Start: Start, Seed: seed%1000003 + 1, Accounts: []awssim.ScenarioAccount{a}}
}

func drawUser(r *rand.Rand, i int) awssim.ScenarioUser {
	u := awssim.ScenarioUser{Name: names[r.IntN(len(names))] + strconv.Itoa(i), Tags: map[string]string{}, MFA: r.IntN(2) == 0}
	switch r.IntN(4) {
	case 0:
	case 1:
		u.Tags["owner"] = "not-an-address"
	default:
		u.Tags["owner"] = fmt.Sprintf("owner%d@example.com", i)
	}
	overrides := []string{"30", "1", "90", "0", "-5", "abc", "281474976710657", "9223372036854775807", "7\n\x1b[31m"}
	if r.IntN(4) == 0 {
		u.Tags["keycycle:rotate-after-days"] = overrides[r.IntN(len(overrides))]
	}
	if r.IntN(6) == 0 {
		u.Tags["keycycle:password-rotate-after-days"] = overrides[r.IntN(len(overrides))]
	}
	switch r.IntN(10) {
	case 0:
		u.Tags["keycycle:exempt"] = "reason=legacy app"
	case 1:
		u.Tags["keycycle:exempt"] = "until=" + Start.AddDate(0, 0, r.IntN(60)-20).Format("2006-01-02") + " reason=migration"
	}
	if r.IntN(10) == 0 {
		u.Groups = append(u.Groups, "IAMKeyRotationExemptionGroup")
	}
	if r.IntN(3) == 0 {
		u.Groups = append(u.Groups, "devs")
	}
	if r.IntN(2) == 0 {
		lp := &awssim.ScenarioLoginProfile{AgeDays: r.IntN(200), ResetRequired: r.IntN(5) == 0}
		pa := r.IntN(lp.AgeDays + 1)
		lp.PasswordAgeDays = &pa
		if r.IntN(3) > 0 {
			lu := r.IntN(pa + 1)
			lp.LastUsedDaysAgo = &lu
		}
		u.LoginProfile = lp
	}
	for k := r.IntN(3); k > 0; k-- {
		sk := awssim.ScenarioKey{AgeDays: r.IntN(200), Status: "Active"}
		if r.IntN(6) == 0 {
			sk.Status = "Inactive"
		}
		if r.IntN(4) > 0 {
			lu := r.IntN(min(sk.AgeDays, 40) + 1)
			sk.LastUsedDaysAgo = &lu
			sk.LastUsedService = "s3"
			sk.LastUsedRegion = "us-east-1"
		}
		u.AccessKeys = append(u.AccessKeys, sk)
	}
	return u
}

// actions are the calls keycycle makes, by service: the targets of Nth-call errors.
var actions = map[string][]string{
	"iam": {"CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey", "ListAccessKeys", "GetAccessKeyLastUsed",
		"TagUser", "UntagUser", "ListUserTags", "GetUser", "GenerateCredentialReport", "GetCredentialReport",
		"GetAccountAuthorizationDetails", "GetLoginProfile", "UpdateLoginProfile", "DeleteLoginProfile",
		"GetAccountPasswordPolicy", "ListGroupsForUser"},
	"secretsmanager": {"CreateSecret", "PutSecretValue", "UpdateSecretVersionStage", "DescribeSecret",
		"GetSecretValue", "PutResourcePolicy", "TagResource", "ListSecretVersionIds"},
	"sts": {"GetCallerIdentity"},
	"ses": {"SendEmail"},
	"sns": {"Publish"},
}

var services = []string{"iam", "iam", "iam", "secretsmanager", "secretsmanager", "sts", "ses", "sns"}

// codes are what injected errors answer, by service: server faults, throttling, conflicts.
var codes = map[string][]string{
	"iam":            {"ServiceFailure", "Throttling", "EntityTemporarilyUnmodifiable", "ServiceUnavailable"},
	"secretsmanager": {"InternalServiceError", "ThrottlingException"},
	"sts":            {"InternalFailure", "Throttling"},
	"ses":            {"InternalFailure", "TooManyRequestsException"},
	"sns":            {"InternalError", "Throttling"},
}

func drawRound(r *rand.Rand, users []string, lim Limits) Round {
	var rd Round
	switch r.IntN(6) {
	case 0:
	case 1:
		rd.Advance = time.Duration(1+r.IntN(6)) * time.Hour
	default:
		rd.Advance = time.Duration(1+r.IntN(15)) * policy.Day
	}
	rd.Clean = r.IntN(5) == 0
	for _, u := range users {
		if r.IntN(3) == 0 {
			rd.Use = append(rd.Use, u)
		}
	}
	rd.Faults = drawFaults(r, lim.Faults)
	n := 1
	switch x := r.IntN(10); {
	case x >= 8:
		n = 3
	case x >= 5:
		n = 2
	}
	for i := 0; i < n; i++ {
		var rp RunPlan
		if r.IntN(3) == 0 {
			rp.CancelAt = 1 + r.IntN(60)
		}
		rp.Stale = r.IntN(8) == 0
		if !lim.Interrupt {
			rp.CancelAt = 0
		}
		if !lim.Stale {
			rp.Stale = false
		}
		if i < lim.Runs {
			rd.Runs = append(rd.Runs, rp)
		}
	}
	if rd.Clean {
		rd.Faults = awssim.Faults{}
		rd.Runs = rd.Runs[:1]
		rd.Runs[0] = RunPlan{}
	}
	return rd
}

func drawFaults(r *rand.Rand, maxErrors int) awssim.Faults {
	var f awssim.Faults
	for k := r.IntN(5); k > 0; k-- {
		svc := services[r.IntN(len(services))]
		acts, cs := actions[svc], codes[svc]
		rule := awssim.ErrorRule{Match: awssim.Match{Service: svc, Action: acts[r.IntN(len(acts))]},
			Code: cs[r.IntN(len(cs))], Nth: 1 + r.IntN(6), Times: 1 + r.IntN(2)}
		if r.IntN(4) == 0 {
			rule.Times = 50 // a failure that outlasts the SDK's retries
		}
		if len(f.Errors) < maxErrors {
			f.Errors = append(f.Errors, rule)
		}
	}
	if maxErrors == 0 {
		return f
	}
	if r.IntN(3) == 0 {
		f.Errors = append(f.Errors, awssim.ErrorRule{Code: "Throttling", Probability: 0.02 + r.Float64()*0.15})
	}
	if r.IntN(4) == 0 {
		f.Errors = append(f.Errors, awssim.ErrorRule{Code: "InternalFailure", Status: 500, Probability: 0.01 + r.Float64()*0.05})
	}
	if r.IntN(4) == 0 {
		f.Latency = append(f.Latency, awssim.LatencyRule{Match: awssim.Match{Service: services[r.IntN(len(services))]},
			Delay: awssim.Duration(time.Duration(1+r.IntN(2)) * time.Millisecond)})
	}
	if r.IntN(3) == 0 {
		f.KeyPropagationDelay = awssim.Duration(time.Duration(2+r.IntN(15)) * time.Millisecond)
	}
	return f
}
