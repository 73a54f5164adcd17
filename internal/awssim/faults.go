package awssim

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// Faults is the fault-injection configuration, set through POST /_sandbox/faults or Options.
// Matching fields ("service", "action", "account") take an exact value or "*"/empty for any.
type Faults struct {
	Latency    []LatencyRule   `json:"latency,omitempty"`
	RateLimits []RateLimitRule `json:"rate_limits,omitempty"`
	Errors     []ErrorRule     `json:"errors,omitempty"`
	// RateLimitProfile adds a named set of rate limits before RateLimits: "aws" is
	// AWSRateLimits, token buckets per account and action modelled on AWS's; empty adds none.
	RateLimitProfile string `json:"rate_limit_profile,omitempty"`
	// KeyPropagationDelay is how long (wall clock) a new access key fails to authenticate with
	// InvalidClientTokenId after CreateAccessKey, like IAM's eventual consistency.
	KeyPropagationDelay Duration `json:"key_propagation_delay,omitempty"`
	// ReportDelay is how long (wall clock) GetCredentialReport answers ReportInProgress after
	// GenerateCredentialReport started a new report.
	ReportDelay Duration `json:"report_delay,omitempty"`
}

// Match selects requests. A value ending in "*" matches by prefix ("Get*"). Actions, when
// set, lists more action patterns, any of which may match (a rule for every read: Get*, List*).
type Match struct {
	Service string   `json:"service,omitempty"`
	Action  string   `json:"action,omitempty"`
	Actions []string `json:"actions,omitempty"`
	Account string   `json:"account,omitempty"`
}

func (m Match) matches(service, action, account string) bool {
	if !wild(m.Service, service) || !wild(m.Account, account) {
		return false
	}
	if len(m.Actions) == 0 {
		return wild(m.Action, action)
	}
	if m.Action != "" && wild(m.Action, action) {
		return true
	}
	for _, a := range m.Actions {
		if wild(a, action) {
			return true
		}
	}
	return false
}

func wild(pattern, v string) bool {
	switch {
	case pattern == "" || pattern == "*" || pattern == v:
		return true
	case strings.HasSuffix(pattern, "*"):
		return strings.HasPrefix(v, strings.TrimSuffix(pattern, "*"))
	}
	return false
}

// LatencyRule delays every matching request by Delay before it is served.
type LatencyRule struct {
	Match
	Delay Duration `json:"delay"`
}

// RateLimitRule is a token bucket per account (each account its own bucket even when Account is
// "*"), and with PerAction per action too (each matching action its own bucket, as IAM's are):
// PerSecond tokens refill per wall-clock second up to Burst. A request finding the bucket empty
// answers Throttling (query protocol) or ThrottlingException (JSON protocol).
type RateLimitRule struct {
	Match
	PerSecond float64 `json:"per_second"`
	Burst     int     `json:"burst"`
	PerAction bool    `json:"per_action,omitempty"`
}

// ProfileAWS names AWSRateLimits in Faults.RateLimitProfile.
const ProfileAWS = "aws"

// AWSRateLimits models AWS's throttling as token buckets per account and action. AWS publishes
// no IAM rates (AWS-FACTS.md): IAM gets 10 requests/s per read action (burst 20) and 4 per
// write action (burst 8), a little above the polite 5 reads/s and 2 writes/s keycycle starts
// from, so that a client that never adapts is slow and one that pushes past them is throttled.
// STS gets 50/s per action (burst 100). Secrets Manager's are AWS's published quotas: 50/s shared
// by PutSecretValue, UpdateSecret and UpdateSecretVersionStage per region (here per account), 50/s
// per other action.
func AWSRateLimits() []RateLimitRule {
	iamReads := []string{"Get*", "List*", "Generate*"}
	return []RateLimitRule{
		{Match: Match{Service: "iam", Actions: iamReads}, PerSecond: 10, Burst: 20, PerAction: true},
		{Match: Match{Service: "iam", Actions: []string{"Create*", "Update*", "Delete*", "Tag*", "Untag*", "Put*", "Add*", "Remove*", "Attach*", "Detach*", "Change*", "Set*", "Upload*", "Enable*", "Deactivate*", "Reset*", "Resync*"}},
			PerSecond: 4, Burst: 8, PerAction: true},
		{Match: Match{Service: "sts"}, PerSecond: 50, Burst: 100, PerAction: true},
		{Match: Match{Service: "secretsmanager", Actions: []string{"PutSecretValue", "UpdateSecret", "UpdateSecretVersionStage"}}, PerSecond: 50, Burst: 50},
		{Match: Match{Service: "secretsmanager", Actions: []string{"CreateSecret", "DescribeSecret", "GetSecretValue", "PutResourcePolicy", "DeleteSecret", "TagResource", "ListSecrets"}},
			PerSecond: 50, Burst: 50, PerAction: true},
	}
}

// rateLimits is the profile's rules followed by the configured ones.
func (f Faults) rateLimits() []RateLimitRule {
	if f.RateLimitProfile == ProfileAWS {
		return append(AWSRateLimits(), f.RateLimits...)
	}
	return f.RateLimits
}

// ErrorRule answers matching requests with an error instead of serving them.
// With Nth > 0 it fires on the Nth matching request only (counting from 1, per rule), or with
// Times > 0 too on Times requests from the Nth on;
// otherwise it fires with Probability (0 < p <= 1; 0 means always). Times > 0 caps how often
// it fires in all. Status defaults to what AWS answers the code with (500 for server faults, 409
// for IAM conflicts such as EntityTemporarilyUnmodifiable, 404 for NoSuchEntity, else 400).
// UserName restricts the rule to requests naming that user (the UserName parameter).
type ErrorRule struct {
	Match
	UserName    string  `json:"user_name,omitempty"`
	Code        string  `json:"code"`
	Message     string  `json:"message,omitempty"`
	Status      int     `json:"status,omitempty"`
	Probability float64 `json:"probability,omitempty"`
	Nth         int     `json:"nth,omitempty"`
	Times       int     `json:"times,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("20ms", "240h") in JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"20ms\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("duration %q must not be negative", s)
	}
	*d = Duration(v)
	return nil
}

// Validate reports the first invalid rule, naming it.
func (f Faults) Validate() error {
	if f.RateLimitProfile != "" && f.RateLimitProfile != ProfileAWS {
		return fmt.Errorf("rate_limit_profile: %q is not a known profile (%q)", f.RateLimitProfile, ProfileAWS)
	}
	for i, r := range f.RateLimits {
		if r.PerSecond <= 0 || r.Burst < 1 {
			return fmt.Errorf("rate_limits[%d]: per_second must be > 0 and burst >= 1", i)
		}
	}
	for i, r := range f.Errors {
		if r.Code == "" {
			return fmt.Errorf("errors[%d].code: required", i)
		}
		if r.Probability < 0 || r.Probability > 1 {
			return fmt.Errorf("errors[%d].probability: must be within 0..1", i)
		}
		if r.Nth < 0 || r.Times < 0 {
			return fmt.Errorf("errors[%d]: nth and times must not be negative", i)
		}
		if r.Status != 0 && (r.Status < 400 || r.Status > 599) {
			return fmt.Errorf("errors[%d].status: must be an HTTP error status (400-599)", i)
		}
	}
	return nil
}

// faultState is the live fault configuration with its counters and buckets.
type faultState struct {
	mu      sync.Mutex
	cfg     Faults
	limits  []RateLimitRule // cfg.rateLimits()
	seen    []int           // per error rule: matching requests seen
	fired   []int           // per error rule: times fired
	buckets map[string]*bucket
	rng     *rand.Rand
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newFaultState() *faultState {
	return &faultState{buckets: map[string]*bucket{}, rng: rand.New(rand.NewPCG(1, 2))}
}

func (f *faultState) set(cfg Faults) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cfg = cfg
	f.limits = cfg.rateLimits()
	f.seen = make([]int, len(cfg.Errors))
	f.fired = make([]int, len(cfg.Errors))
	f.buckets = map[string]*bucket{}
}

func (f *faultState) get() Faults {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cfg
}

// latency returns the total delay for a request.
func (f *faultState) latency(service, action, account string) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	var d time.Duration
	for _, r := range f.cfg.Latency {
		if r.matches(service, action, account) {
			d += time.Duration(r.Delay)
		}
	}
	return d
}

// allow takes a token from every matching bucket; false means throttled.
func (f *faultState) allow(service, action, account string, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	ok := true
	for i, r := range f.limits {
		if !r.matches(service, action, account) {
			continue
		}
		key := fmt.Sprintf("%d/%s", i, account)
		if r.PerAction {
			key += "/" + action
		}
		b := f.buckets[key]
		if b == nil {
			b = &bucket{tokens: float64(r.Burst), last: now}
			f.buckets[key] = b
		}
		b.tokens += now.Sub(b.last).Seconds() * r.PerSecond
		if b.tokens > float64(r.Burst) {
			b.tokens = float64(r.Burst)
		}
		b.last = now
		if b.tokens < 1 {
			ok = false
			continue
		}
		b.tokens--
	}
	return ok
}

// injected returns the error a rule injects into this request, or nil.
func (f *faultState) injected(service, action, account, userName string) *apiError {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, r := range f.cfg.Errors {
		if !r.matches(service, action, account) || (r.UserName != "" && r.UserName != userName) {
			continue
		}
		f.seen[i]++
		if r.Times > 0 && f.fired[i] >= r.Times {
			continue
		}
		fire := false
		switch {
		case r.Nth > 0 && r.Times > 0:
			fire = f.seen[i] >= r.Nth // from the Nth on, Times times (capped above)
		case r.Nth > 0:
			fire = f.seen[i] == r.Nth
		case r.Probability > 0:
			fire = f.rng.Float64() < r.Probability
		default:
			fire = true
		}
		if !fire {
			continue
		}
		f.fired[i]++
		status := r.Status
		if status == 0 {
			status = defaultStatus(r.Code)
		}
		msg := r.Message
		if msg == "" {
			msg = "injected by the sandbox's fault rules"
		}
		return &apiError{Status: status, Code: r.Code, Message: msg}
	}
	return nil
}

// defaultStatus is the HTTP status AWS answers an error code with: 500 for server faults, the
// IAM model's 409/404 for the conflict and not-found codes, 400 otherwise.
func defaultStatus(code string) int {
	switch {
	case isServerCode(code):
		return 500
	case code == "EntityTemporarilyUnmodifiable" || code == "EntityAlreadyExists" || code == "DeleteConflict" || code == "LimitExceeded" || code == "ConcurrentModification":
		return 409
	case code == "NoSuchEntity":
		return 404
	case code == "TooManyRequestsException":
		return 429
	}
	return 400
}

func isServerCode(code string) bool {
	switch code {
	case "ServiceFailure", "InternalFailure", "InternalServiceError", "InternalError", "ServiceUnavailable":
		return true
	}
	return false
}
