// Package awssim is keycycle's AWS sandbox: an http.Handler that the unmodified AWS SDK for Go v2
// and the AWS CLI talk to through an endpoint URL. It models the subsets of IAM, STS, Secrets
// Manager, SSM, SES v2, SNS, SQS, Lambda, Organizations and S3 that keycycle uses, wire-compatible
// (query/XML, JSON 1.0 and 1.1, REST-JSON and REST-XML protocols, AWS's error codes and pagination
// markers), verifies SigV4 signatures against the credentials it holds, keeps a settable clock,
// and injects latency, throttling and errors on request; an admin API under /_sandbox/ reads what
// was sent and resets it. Outside AWS it has one stand-in, GitHub's Actions secrets API
// (github.go), for the github sink.
//
// Its only dependency inside keycycle is internal/yamlfile (strict YAML decoding with line
// numbers, for scenario files); it imports nothing of keycycle's client side (no SDK, no scan,
// rotation or sink code), so it models AWS as documented rather than as keycycle uses it. Its
// known divergences from AWS are listed in docs/sandbox.md.
package awssim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a Server.
type Options struct {
	// Scenario is the initial state; nil loads DefaultScenario.
	Scenario *Scenario
	// Faults is the initial fault-injection configuration.
	Faults Faults
	// Logger receives one debug line per request; nil discards.
	Logger *slog.Logger
	// WallClock is the real clock used for latency, rate limits and key propagation; nil is time.Now.
	WallClock func() time.Time
	// Sleep waits out injected latency: d, or less when ctx ends first (then it returns ctx's
	// error). nil waits on a real timer; tests inject one that records the delays.
	Sleep func(ctx context.Context, d time.Duration) error
	// RecordSecrets keeps every secret the sandbox issues (access key and session secrets) or is
	// given (console passwords), for tests that search output for secrets (IssuedSecrets).
	RecordSecrets bool
}

// Server is the sandbox. Create it with New; it is safe for concurrent use.
type Server struct {
	mu       sync.Mutex // guards world and scenario
	world    *world
	scenario *Scenario // last loaded scenario, for reset

	clock   *Clock
	faults  *faultState
	stats   *stats
	log     *slog.Logger
	wallNow func() time.Time
	sleep   func(ctx context.Context, d time.Duration) error
	issued  *[]string           // Options.RecordSecrets: every secret issued, across Load and Reset
	svcs    map[string]*service // built once by New; read-only after
	reqSeq  atomic.Uint64
}

// handler serves one action. It runs with Server.mu held and must not block.
// It returns the result (an XML-tagged struct for query services, a JSON-tagged value for JSON
// services) or an AWS error.
type handler func(s *Server, q *request) (any, *apiError)

// request is one authenticated call as handlers see it.
type request struct {
	service string
	action  string
	region  string
	// endpoint is scheme://host as the client addressed the sandbox (SQS queue URLs).
	endpoint string
	caller   principal
	acct     *account
	form     url.Values        // query protocol parameters
	body     []byte            // JSON protocol body (REST: the payload)
	params   map[string]string // REST protocol: path parameters
	header   http.Header       // REST protocol: request headers
	now      time.Time         // sandbox clock
	wall     time.Time         // wall clock
}

// service is one AWS service the sandbox speaks.
type service struct {
	name    string
	proto   protocol
	ns      string // query protocol XML namespace
	target  string // JSON protocol X-Amz-Target prefix, such as "secretsmanager."
	actions map[string]handler
	routes  []restRoute // REST protocol: which action a method and path select
	// throttle is the code (and HTTP status) the service answers when rate limited; empty:
	// Throttling (query) or ThrottlingException (JSON), HTTP 400.
	throttle       string
	throttleStatus int
}

// services is the table of modelled services by SigV4 signing name.
func services() map[string]*service {
	return map[string]*service{
		"iam": {name: "iam", proto: protoQuery, ns: nsIAM,
			actions: merge(iamUserActions, iamKeyActions, iamLoginActions, iamAccountActions)},
		"sts":            {name: "sts", proto: protoQuery, ns: nsSTS, actions: stsActions},
		"secretsmanager": {name: "secretsmanager", proto: protoJSON11, target: "secretsmanager.", actions: secretsActions},
		"organizations":  {name: "organizations", proto: protoJSON11, target: "AWSOrganizationsV20161128.", actions: orgActions},
		"sqs":            {name: "sqs", proto: protoJSON10, target: "AmazonSQS.", actions: sqsActions},
		"ssm":            {name: "ssm", proto: protoJSON11, target: "AmazonSSM.", actions: ssmActions},
		"lambda": {name: "lambda", proto: protoREST, actions: lambdaActions, routes: lambdaRoutes,
			throttle: "TooManyRequestsException", throttleStatus: http.StatusTooManyRequests},
		"ses": {name: "ses", proto: protoREST, actions: sesActions, routes: sesRoutes,
			throttle: "TooManyRequestsException", throttleStatus: http.StatusTooManyRequests},
		"sns": {name: "sns", proto: protoQuery, ns: nsSNS, actions: snsActions,
			throttle: "ThrottlingException", throttleStatus: http.StatusBadRequest}, // AWS knowledge center: "(ThrottlingException) ... Rate exceeded"
	}
}

func merge(maps ...map[string]handler) map[string]handler {
	out := map[string]handler{}
	for _, m := range maps {
		for k, v := range m {
			if _, dup := out[k]; dup {
				panic("awssim: action registered twice: " + k)
			}
			out[k] = v
		}
	}
	return out
}

// New returns a sandbox loaded with opts.Scenario (or the built-in one).
func New(opts Options) (*Server, error) {
	s := &Server{
		faults:  newFaultState(),
		stats:   newStats(),
		log:     opts.Logger,
		wallNow: opts.WallClock,
		sleep:   opts.Sleep,
		svcs:    services(),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.wallNow == nil {
		s.wallNow = time.Now
	}
	if s.sleep == nil {
		s.sleep = timerSleep
	}
	if opts.RecordSecrets {
		s.issued = new([]string)
	}
	sc := opts.Scenario
	if sc == nil {
		var err error
		if sc, err = DefaultScenario(); err != nil {
			return nil, err
		}
	}
	if err := opts.Faults.Validate(); err != nil {
		return nil, fmt.Errorf("faults: %w", err)
	}
	s.faults.set(opts.Faults)
	if err := s.Load(sc); err != nil {
		return nil, err
	}
	return s, nil
}

// Clock returns the sandbox clock.
func (s *Server) Clock() *Clock { return s.clock }

// SetFaults replaces the fault-injection configuration.
func (s *Server) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s.faults.set(f)
	return nil
}

// maxBody bounds request bodies; AWS's own limits for these APIs are far below it.
const maxBody = 8 << 20

// ServeHTTP serves the admin API under /_sandbox/ and AWS API calls everywhere else.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_sandbox/") {
		s.serveAdmin(w, r)
		return
	}
	requestID := s.newRequestID()
	// Answers carry the sandbox clock, as AWS's carry its own: clients that read AWS's time
	// (keycycle measures ages on it) see the sandbox's.
	w.Header().Set("Date", s.clock.Now().Format(http.TimeFormat))
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	isJSON := strings.Contains(r.Header.Get("Content-Type"), "json")
	fail := func(svc *service, e *apiError) {
		if svc != nil && svc.proto.isJSON() {
			writeJSONError(w, svc.proto, requestID, e)
			return
		}
		if svc == nil && isJSON {
			writeJSONError(w, protoJSON11, requestID, e)
			return
		}
		ns := nsIAM
		if svc != nil && svc.ns != "" {
			ns = svc.ns
		}
		writeQueryError(w, ns, requestID, e)
	}
	if err != nil || len(body) > maxBody {
		fail(nil, errorf(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "request body too large or unreadable"))
		return
	}
	sig, signed := parseAuthorization(r.Header.Get("Authorization"))
	if !signed {
		ae := queryAuthErrors
		if isJSON {
			ae = jsonAuthErrors
		}
		fail(nil, errorf(ae.status, ae.missing, "Request is missing Authentication Token"))
		return
	}
	if sig.Service == "s3" {
		s.serveS3(w, r, body, sig, requestID)
		return
	}
	svc, ok := s.svcs[sig.Service]
	if !ok {
		fail(nil, errorf(http.StatusNotImplemented, "NotImplemented", "service %q is not implemented in the keycycle sandbox (see docs/sandbox.md)", sig.Service))
		return
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	q := &request{service: svc.name, region: sig.Region, body: body, endpoint: scheme + "://" + r.Host}
	ae := queryAuthErrors
	switch svc.proto {
	case protoQuery:
		ae = queryAuthErrors
		form, perr := url.ParseQuery(string(body))
		if perr != nil {
			fail(svc, errorf(http.StatusBadRequest, "MalformedQueryString", "cannot parse the request body: %v", perr))
			return
		}
		for k, v := range r.URL.Query() {
			form[k] = append(form[k], v...)
		}
		q.form = form
		q.action = form.Get("Action")
	case protoREST:
		ae = jsonAuthErrors
		q.header = r.Header
		q.form = r.URL.Query() // query-string members (Lambda's Qualifier, ...)
		for _, rt := range svc.routes {
			if params, ok := rt.match(r.Method, r.URL.EscapedPath()); ok {
				q.action, q.params = rt.Action, params
				break
			}
		}
		if q.action == "" {
			fail(svc, errorf(http.StatusNotImplemented, "NotImplemented", "%s %s of %s is not implemented in the keycycle sandbox (see docs/sandbox.md)", r.Method, r.URL.Path, svc.name))
			return
		}
	case protoJSON11, protoJSON10:
		ae = jsonAuthErrors
		target := r.Header.Get("X-Amz-Target")
		if !strings.HasPrefix(target, svc.target) {
			fail(svc, errorf(http.StatusBadRequest, "UnknownOperationException", "X-Amz-Target %q is not a %s operation", target, svc.name))
			return
		}
		q.action = strings.TrimPrefix(target, svc.target)
	}

	wall := s.wallNow()
	s.mu.Lock()
	cred, aerr := s.world.authenticate(r, body, sig, ae, wall)
	if aerr == nil {
		recordUse(cred, sig.Service, sig.Region, s.clock.Now())
	}
	s.mu.Unlock()
	if aerr != nil {
		s.log.Debug("sandbox request refused", "service", svc.name, "action", q.action, "code", aerr.Code)
		fail(svc, aerr)
		return
	}
	q.caller = principal{cred: cred}
	q.acct = cred.Account
	s.stats.count(q.acct.ID, svc.name, q.action)

	if d := s.faults.latency(svc.name, q.action, q.acct.ID); d > 0 {
		if s.sleep(r.Context(), d) != nil {
			return
		}
	}
	if !s.faults.allow(svc.name, q.action, q.acct.ID, s.wallNow()) {
		s.stats.throttle(q.acct.ID, svc.name, q.action)
		code, status := "Throttling", http.StatusBadRequest
		if svc.proto.isJSON() {
			code = "ThrottlingException"
		}
		if svc.throttle != "" {
			code, status = svc.throttle, svc.throttleStatus
		}
		fail(svc, errorf(status, code, "Rate exceeded"))
		return
	}
	if e := s.faults.injected(svc.name, q.action, q.acct.ID, q.form.Get("UserName")); e != nil {
		s.stats.inject(q.acct.ID, svc.name, q.action)
		fail(svc, e)
		return
	}
	h, ok := svc.actions[q.action]
	if !ok {
		if q.action == "" {
			fail(svc, errorf(http.StatusBadRequest, "MissingAction", "the request names no action"))
			return
		}
		fail(svc, notImplemented(svc.name, q.action))
		return
	}

	s.mu.Lock()
	q.now = s.clock.Now()
	q.wall = s.wallNow()
	result, herr := h(s, q)
	s.mu.Unlock()
	s.log.Debug("sandbox request", "account_id", q.acct.ID, "service", svc.name, "action", q.action, "error", errCode(herr))
	if herr != nil {
		fail(svc, herr)
		return
	}
	if svc.proto.isJSON() {
		writeJSONResult(w, svc.proto, requestID, result)
		return
	}
	writeQueryResult(w, svc.ns, q.action, requestID, result)
}

func errCode(e *apiError) string {
	if e == nil {
		return ""
	}
	return e.Code
}

func (s *Server) newRequestID() string {
	n := s.reqSeq.Add(1)
	return fmt.Sprintf("%08x-5a4d-4b1e-8c5e-%012x", uint32(n>>32), n&0xffffffffffff)
}

// stats counts API calls by account, service and action.
type stats struct {
	mu        sync.Mutex
	calls     map[string]map[string]map[string]int
	throttled map[string]map[string]map[string]int
	injected  map[string]map[string]map[string]int
}

func newStats() *stats {
	return &stats{calls: map[string]map[string]map[string]int{}, throttled: map[string]map[string]map[string]int{}, injected: map[string]map[string]map[string]int{}}
}

func bump(m map[string]map[string]map[string]int, acct, svc, action string) {
	if m[acct] == nil {
		m[acct] = map[string]map[string]int{}
	}
	if m[acct][svc] == nil {
		m[acct][svc] = map[string]int{}
	}
	m[acct][svc][action]++
}

func (st *stats) count(acct, svc, action string) {
	st.mu.Lock()
	bump(st.calls, acct, svc, action)
	st.mu.Unlock()
}

func (st *stats) throttle(acct, svc, action string) {
	st.mu.Lock()
	bump(st.throttled, acct, svc, action)
	st.mu.Unlock()
}

func (st *stats) inject(acct, svc, action string) {
	st.mu.Lock()
	bump(st.injected, acct, svc, action)
	st.mu.Unlock()
}

// Stats is what GET /_sandbox/stats answers: calls served (including throttled and injected
// failures), and of those the throttled and injected ones, by account, service and action.
type Stats struct {
	Total     int                                  `json:"total"`
	Calls     map[string]map[string]map[string]int `json:"calls"`
	Throttled map[string]map[string]map[string]int `json:"throttled"`
	Injected  map[string]map[string]map[string]int `json:"injected"`
}

// Stats returns a copy of the call counters.
func (s *Server) Stats() Stats {
	st := s.stats
	st.mu.Lock()
	defer st.mu.Unlock()
	out := Stats{Calls: deepCopy(st.calls), Throttled: deepCopy(st.throttled), Injected: deepCopy(st.injected)}
	for _, svcs := range st.calls {
		for _, acts := range svcs {
			for _, n := range acts {
				out.Total += n
			}
		}
	}
	return out
}

func deepCopy(m map[string]map[string]map[string]int) map[string]map[string]map[string]int {
	out := make(map[string]map[string]map[string]int, len(m))
	for a, svcs := range m {
		out[a] = map[string]map[string]int{}
		for s, acts := range svcs {
			out[a][s] = map[string]int{}
			for k, n := range acts {
				out[a][s][k] = n
			}
		}
	}
	return out
}

// ResetStats zeroes the call counters.
func (s *Server) ResetStats() {
	fresh := newStats()
	s.stats.mu.Lock()
	s.stats.calls, s.stats.throttled, s.stats.injected = fresh.calls, fresh.throttled, fresh.injected
	s.stats.mu.Unlock()
}

// readAll is io.ReadAll for admin bodies with the same bound.
func readAll(r io.Reader) ([]byte, error) {
	var b bytes.Buffer
	_, err := io.Copy(&b, io.LimitReader(r, maxBody))
	return b.Bytes(), err
}

// timerSleep waits d on a real timer, or until ctx ends.
func timerSleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
