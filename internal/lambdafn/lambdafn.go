// Package lambdafn turns Lambda events into keycycle runs. It is wiring, not a second
// implementation: every path ends in the same job.Runner the CLI uses.
//
// One handler serves every entry shape, told apart by the event's JSON (docs/organizations.md
// has the picture):
//   - a schedule (EventBridge / EventBridge Scheduler): list the selected accounts and enqueue one
//     account message each on the account queue, in an order rotated every run. Without an
//     account queue it plans every account itself, as one process;
//   - an SQS batch of account messages (the account planner): plan each account and enqueue one
//     SQS FIFO message per user with work (message group account/user, so one user is never
//     worked on twice at once; deduplication id derived from the steps), sent as the plan is
//     walked. A failed account is reported alone as a partial batch failure;
//   - an SQS batch of user messages (the worker): carry out each message's steps, answering
//     partial batch failures so one bad message does not redeliver the others (after
//     maxReceiveCount it lands in the dead-letter queue);
//   - a force request, on the queue or invoked directly: the Terraform+SQS module's
//     {"user_name": "...", "force": "true"}, the CloudFormation solution's
//     {"account": "...", "ForceRotate": "user"}, and keycycle's {"keycycle": "force", ...}.
//
// The handler stops starting new work when the invocation's deadline is near and reports the rest
// as deferred: accounts not planned come back on the next schedule, SQS messages are returned
// for redelivery.
package lambdafn

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/job"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/rotation"
)

// SQSAPI is the part of the SQS client the scheduler and the cleanup follow-ups call;
// *sqs.Client satisfies it.
type SQSAPI interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

var _ SQSAPI = (*sqs.Client)(nil)

// Handler holds what every invocation needs. Build it once per Lambda instance (cmd/keycycle-lambda).
type Handler struct {
	// Fleet reaches the member accounts (role, limits, runner template with rules and sinks).
	Fleet *job.Fleet
	// Targets lists the accounts a schedule covers (Organizations discovery or a fixed list).
	Targets func(ctx context.Context) ([]job.Target, error)
	// DefaultAccount is the account of force requests that name none (the Terraform+SQS format).
	DefaultAccount string
	SQS            SQSAPI
	// QueueURL is the FIFO work queue (one message per user with work).
	QueueURL string
	// AccountQueueURL is the account queue (one message per account to plan); empty: the
	// schedule plans every account itself.
	AccountQueueURL string
	DryRun          bool
	// CleanupQueueURL and CleanupWait turn on short cleanup waits (cleanup.go): a standard queue
	// the worker sends each rotated user's follow-up to, delayed by CleanupWait. Empty or zero: off,
	// old keys are retired by the schedule.
	CleanupQueueURL string
	CleanupWait     time.Duration
	// Reports says where the schedule writes its report (report.go); zero: no report.
	Reports Reports
	// Margin is how long before the deadline no new work starts (default 30s).
	Margin time.Duration
	Now    func() time.Time
	Log    *slog.Logger
}

// Message is keycycle's own queue message: the steps of one user.
type Message struct {
	Keycycle  string    `json:"keycycle"` // "steps" or "force"
	AccountID string    `json:"account_id"`
	User      string    `json:"user"`
	Plan      plan.Plan `json:"plan,omitempty"`
	// Subject is what the schedule saw of the user (tags, groups, key metadata; never a secret):
	// the worker finds the owner to notify in it without scanning the account again.
	Subject *inventory.User `json:"subject,omitempty"`
}

// AccountMessage is the account queue's message: one account for a planner.
type AccountMessage struct {
	Keycycle  string `json:"keycycle"` // "account"
	AccountID string `json:"account_id"`
	Name      string `json:"name,omitempty"`
	// Scheduled is when the schedule that sent it ran.
	Scheduled time.Time `json:"scheduled"`
}

// Report is what a schedule or force invocation answers (and logs).
type Report struct {
	Accounts int `json:"accounts"`
	// Queued counts the account messages sent to the account queue.
	Queued   int      `json:"queued,omitempty"`
	Planned  int      `json:"planned"`
	Enqueued int      `json:"enqueued"`
	Deferred []string `json:"deferred,omitempty"` // accounts not reached before the deadline
	Errors   []string `json:"errors,omitempty"`
	Results  []string `json:"results,omitempty"` // force: one line per step
	// ReportKeys are the S3 keys of the report the schedule wrote.
	ReportKeys []string `json:"report_keys,omitempty"`
}

// Handle serves any of the entry shapes.
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	var probe struct {
		Records    []json.RawMessage `json:"Records"`
		DetailType string            `json:"detail-type"`
		Source     string            `json:"source"`
		Keycycle   string            `json:"keycycle"`
		Account    string            `json:"account"`
		Force      string            `json:"ForceRotate"`
		UserName   string            `json:"user_name"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, fmt.Errorf("event is not JSON: %w", err)
	}
	switch {
	case len(probe.Records) > 0:
		var ev events.SQSEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("SQS event: %w", err)
		}
		return h.HandleSQS(ctx, ev), nil
	case probe.DetailType == "Scheduled Event" || probe.Source == "aws.scheduler" || probe.Keycycle == "schedule":
		return h.Schedule(ctx)
	case probe.Force != "" || probe.UserName != "" || probe.Keycycle == "force":
		req, err := parseForce(raw, h.DefaultAccount)
		if err != nil {
			return nil, err
		}
		return h.force(ctx, req)
	}
	return nil, errors.New("unrecognised event: expected a schedule, an SQS batch, or a force request (see docs/lambda.md)")
}

func (h *Handler) log() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}

func (h *Handler) now() time.Time {
	if h.Now == nil {
		return time.Now()
	}
	return h.Now()
}

// startBy is the time after which no new work starts.
func (h *Handler) startBy(ctx context.Context) time.Time {
	dl, ok := ctx.Deadline()
	if !ok {
		return time.Time{}
	}
	m := h.Margin
	if m <= 0 {
		m = 30 * time.Second
	}
	return dl.Add(-m)
}

func late(startBy time.Time) bool { return !startBy.IsZero() && !time.Now().Before(startBy) }

// Schedule lists the target accounts and, with an account queue, enqueues one account message
// each for the planners; without one it plans every account itself and enqueues one message per
// user with work.
func (h *Handler) Schedule(ctx context.Context) (Report, error) {
	targets, err := h.Targets(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("list accounts: %w", err)
	}
	if h.AccountQueueURL != "" {
		return h.fanOut(ctx, targets)
	}
	rep := Report{Accounts: len(targets)}
	startBy := h.startBy(ctx)
	var reachable []job.Target
	for i, t := range targets {
		if late(startBy) {
			for _, d := range targets[i:] {
				rep.Deferred = append(rep.Deferred, d.AccountID)
			}
			break
		}
		reachable = append(reachable, t)
	}
	// Accounts are planned in parallel; deferral applies to accounts not yet started.
	h.Fleet.StartBy = startBy
	results := h.Fleet.Plan(ctx, reachable)
	h.Fleet.StartBy = time.Time{}
	for _, r := range results {
		if errors.Is(r.Err, job.ErrDeferred) {
			rep.Deferred = append(rep.Deferred, r.AccountID)
			continue
		}
		if r.Err != nil {
			rep.Errors = append(rep.Errors, r.Err.Error())
			h.log().Error("account not planned", "account_id", r.AccountID, "error", r.Err)
			continue
		}
		rep.Planned++
		h.notifyNotices(ctx, r.Runner, r.AccountID, r.Scanned)
		n, err := h.enqueuePlan(ctx, r.Scanned.Plan, r.Scanned.Account)
		rep.Enqueued += n
		if err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("account %s: enqueue: %v", r.AccountID, err))
		}
	}
	keys, err := h.writeFleetReport(ctx, results)
	rep.ReportKeys = keys
	if err != nil {
		rep.Errors = append(rep.Errors, err.Error())
		h.log().Error("report not written", "error", err)
	}
	h.log().Info("schedule", "accounts", rep.Accounts, "planned", rep.Planned, "enqueued", rep.Enqueued,
		"deferred", len(rep.Deferred), "errors", len(rep.Errors))
	return rep, nil
}

// notifyNotices sends the plan's notices that need no worker (upcoming rotations, keys still in
// use, blocked users, expiring exemptions) right from the planner. Steps that go to a worker
// (Changes) are notified by that worker, once.
func (h *Handler) notifyNotices(ctx context.Context, r *job.Runner, accountID string, sc job.Scanned) {
	if r == nil {
		return
	}
	var steps []plan.Step
	for _, s := range sc.Plan.Steps {
		if (s.Action == plan.Warn || s.Action == plan.Blocked) && !s.Changes() {
			steps = append(steps, s)
		}
	}
	rep := r.NotifyRun(ctx, sc.Account, plan.New(sc.Plan.GeneratedAt, steps), nil, h.DryRun)
	for _, c := range rep.Channels {
		if c.Err != nil {
			h.log().Error("notification failed", "account_id", accountID, "channel", c.Name, "error", c.Err)
		}
	}
}

// eachUserMessage calls fn with one message per user with a step to carry out (Step.Changes),
// in the plan's order of users, without building them all at once.
func eachUserMessage(p plan.Plan, acct inventory.Account, fn func(Message) error) error {
	users := make(map[string]*inventory.User, len(acct.Users))
	for i := range acct.Users {
		users[acct.Users[i].Name] = &acct.Users[i]
	}
	// Steps are sorted by account and user (plan.New), so a user's steps are contiguous; the
	// index guards against a plan that is not.
	byUser := map[string][]int{}
	var order []string
	for i, s := range p.Steps {
		if !s.Changes() {
			continue
		}
		k := s.AccountID + "/" + s.User
		if _, ok := byUser[k]; !ok {
			order = append(order, k)
		}
		byUser[k] = append(byUser[k], i)
	}
	sort.Strings(order)
	for _, k := range order {
		idx := byUser[k]
		steps := make([]plan.Step, len(idx))
		for i, j := range idx {
			steps[i] = p.Steps[j]
		}
		if err := fn(Message{Keycycle: "steps", AccountID: steps[0].AccountID, User: steps[0].User,
			Plan: plan.New(p.GeneratedAt, steps), Subject: users[steps[0].User]}); err != nil {
			return err
		}
	}
	return nil
}

// userMessages splits a plan into one message per user with a step to carry out.
func userMessages(p plan.Plan, acct inventory.Account) []Message {
	var out []Message
	_ = eachUserMessage(p, acct, func(m Message) error { out = append(out, m); return nil })
	return out
}

// dedupID derives the FIFO deduplication id from what the message asks (account, user, each
// step's action and key, the day): the same work planned twice within SQS's 5-minute window is
// enqueued once.
func dedupID(m Message) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s/%s/%s", m.AccountID, m.User, m.Plan.GeneratedAt.UTC().Format("2006-01-02"))
	for _, s := range m.Plan.Steps {
		fmt.Fprintf(h, "/%s:%s", s.Action, s.AccessKeyID.Raw())
	}
	return hex.EncodeToString(h.Sum(nil))[:64]
}

// enqueuePlan sends the plan's user messages to the work queue ten at a time, as it builds them.
func (h *Handler) enqueuePlan(ctx context.Context, p plan.Plan, acct inventory.Account) (int, error) {
	sent := 0
	var errs []error
	batch := make([]Message, 0, 10)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		n, err := h.sendBatch(ctx, h.QueueURL, batch, true)
		sent += n
		if err != nil {
			errs = append(errs, err)
		}
		batch = batch[:0]
	}
	if err := eachUserMessage(p, acct, func(m Message) error {
		batch = append(batch, m)
		if len(batch) == cap(batch) {
			flush()
		}
		return ctx.Err()
	}); err != nil {
		errs = append(errs, err)
	}
	flush()
	return sent, errors.Join(errs...)
}

// enqueue sends messages to the work queue (tests and the in-process schedule).
func (h *Handler) enqueue(ctx context.Context, msgs []Message) (int, error) {
	sent := 0
	var errs []error
	for start := 0; start < len(msgs); start += 10 {
		n, err := h.sendBatch(ctx, h.QueueURL, msgs[start:min(start+10, len(msgs))], true)
		sent += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return sent, errors.Join(errs...)
}

// sendBatch sends up to ten messages in one SendMessageBatch; fifo adds the user's message group
// and the deduplication id. It returns how many SQS accepted and why the others failed.
func sendBatch[M any](ctx context.Context, api SQSAPI, queueURL string, batch []M, group func(M) (string, string)) (int, error) {
	in := &sqs.SendMessageBatchInput{QueueUrl: aws.String(queueURL)}
	for i, m := range batch {
		body, err := json.Marshal(m)
		if err != nil {
			return 0, err
		}
		e := sqstypes.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprintf("m%d", i)), MessageBody: aws.String(string(body))}
		if group != nil {
			g, d := group(m)
			e.MessageGroupId, e.MessageDeduplicationId = aws.String(g), aws.String(d)
		}
		in.Entries = append(in.Entries, e)
	}
	out, err := api.SendMessageBatch(ctx, in)
	if err != nil {
		return 0, err
	}
	var errs []error
	for _, f := range out.Failed {
		errs = append(errs, fmt.Errorf("message %s: %s: %s", aws.ToString(f.Id), aws.ToString(f.Code), aws.ToString(f.Message)))
	}
	return len(out.Successful), errors.Join(errs...)
}

func (h *Handler) sendBatch(ctx context.Context, queueURL string, batch []Message, fifo bool) (int, error) {
	var group func(Message) (string, string)
	if fifo {
		group = func(m Message) (string, string) { return m.AccountID + "/" + m.User, dedupID(m) }
	}
	return sendBatch(ctx, h.SQS, queueURL, batch, group)
}

// HandleSQS carries out each message and reports the ones to redeliver.
func (h *Handler) HandleSQS(ctx context.Context, ev events.SQSEvent) events.SQSEventResponse {
	var resp events.SQSEventResponse
	startBy := h.startBy(ctx)
	for i, rec := range ev.Records {
		if late(startBy) {
			for _, d := range ev.Records[i:] {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: d.MessageId})
			}
			h.log().Warn("deadline near: messages returned for redelivery", "deferred", len(ev.Records)-i)
			break
		}
		if am, ok := accountMessage(rec.Body); ok {
			if err := h.planAccount(ctx, am); err != nil {
				h.log().Error("account not planned; it will be retried alone and, after maxReceiveCount, land in the account dead-letter queue",
					"account_id", am.AccountID, "message_id", rec.MessageId, "receive_count", rec.Attributes["ApproximateReceiveCount"], "error", err)
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
			}
			continue
		}
		if err := h.message(ctx, rec.Body); err != nil {
			h.log().Error("message failed; it will be retried and, after maxReceiveCount, land in the dead-letter queue",
				"message_id", rec.MessageId, "receive_count", rec.Attributes["ApproximateReceiveCount"], "error", err)
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
		}
	}
	return resp
}

func (h *Handler) message(ctx context.Context, body string) error {
	var m Message
	if err := json.Unmarshal([]byte(body), &m); err == nil && m.Keycycle == "steps" {
		if m.AccountID == "" || m.User == "" || len(m.Plan.Steps) == 0 {
			return errors.New("steps message without account_id, user or steps")
		}
		for _, s := range m.Plan.Steps {
			if s.AccountID != m.AccountID || s.User != m.User {
				return fmt.Errorf("steps message for %s/%s carries a step of %s/%s", m.AccountID, m.User, s.AccountID, s.User)
			}
		}
		r := h.runner(m.AccountID)
		res, err := r.Apply(ctx, m.Plan, h.DryRun)
		if err != nil {
			return err
		}
		if err := h.followUp(ctx, m.AccountID, m.User, res); err != nil {
			// Redelivering the message cannot repair this (its steps are done); the next schedule
			// retires the old key instead.
			h.log().Error("cleanup follow-up not sent; the schedule will retire the old key", "account_id", m.AccountID, "user", m.User, "error", err)
		}
		if m.Subject != nil {
			// Owners hear what happened; a failed notice is logged and audited, never retried
			// by redelivering the message (that would rotate nothing and notify twice).
			rep := r.NotifyRun(ctx, inventory.Account{ID: m.AccountID, Users: []inventory.User{*m.Subject}}, m.Plan, res, h.DryRun)
			for _, c := range rep.Channels {
				if c.Err != nil {
					h.log().Error("notification failed", "account_id", m.AccountID, "user", m.User, "channel", c.Name, "error", c.Err)
				}
			}
		}
		return failures(res)
	}
	var c CleanupMessage
	if err := json.Unmarshal([]byte(body), &c); err == nil && c.Keycycle == "cleanup" {
		return h.cleanup(ctx, c)
	}
	req, err := parseForce([]byte(body), h.DefaultAccount)
	if err != nil {
		return err
	}
	rep, err := h.force(ctx, req)
	if err != nil {
		return err
	}
	if len(rep.Errors) > 0 {
		return errors.New(strings.Join(rep.Errors, "; "))
	}
	return nil
}

func (h *Handler) runner(accountID string) *job.Runner {
	r := h.Fleet.Runner
	r.AWS = h.Fleet.Config(accountID)
	return &r
}

func failures(res []rotation.Result) error {
	var errs []error
	for _, r := range res {
		if r.Outcome == rotation.Failed {
			errs = append(errs, fmt.Errorf("%s %s of %s: %s: %w", r.Step.Action, r.Step.AccessKeyID, r.Step.User, r.Detail, r.Err))
		}
	}
	return errors.Join(errs...)
}

// forceRequest is one force request, whichever format it came in.
type forceRequest struct {
	AccountID, User string
	// DeactivateOld (keycycle's format only: "deactivate_old": true) deactivates the old key as
	// soon as the new one is delivered, as `keycycle rotate --deactivate-old` (a leaked key).
	DeactivateOld bool
}

// parseForce reads the three force formats. A malformed request is an error naming what is wrong.
func parseForce(raw []byte, defaultAccount string) (forceRequest, error) {
	var f struct {
		Keycycle    string `json:"keycycle"`
		AccountID   string `json:"account_id"`
		User        string `json:"user"`
		UserName    string `json:"user_name"`
		Force       any    `json:"force"`
		Account     string `json:"account"`
		ForceRotate string `json:"ForceRotate"`
		// DeactivateOld must be a JSON boolean: a string "false" must not retire a key.
		DeactivateOld *bool `json:"deactivate_old"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return forceRequest{}, fmt.Errorf("malformed message (not JSON, or a field of the wrong type): %w", err)
	}
	var req forceRequest
	switch {
	case f.Keycycle == "force":
		req = forceRequest{AccountID: f.AccountID, User: f.User, DeactivateOld: f.DeactivateOld != nil && *f.DeactivateOld}
	case f.ForceRotate != "":
		req = forceRequest{AccountID: f.Account, User: f.ForceRotate}
	case f.UserName != "":
		switch v := f.Force.(type) {
		case string:
			if !strings.EqualFold(v, "true") {
				return forceRequest{}, fmt.Errorf(`force refresh of %s: "force" is %q; only "true" asks for a rotation`, f.UserName, v)
			}
		case bool:
			if !v {
				return forceRequest{}, fmt.Errorf(`force refresh of %s: "force" is false`, f.UserName)
			}
		default:
			return forceRequest{}, fmt.Errorf(`force refresh of %s: "force" must be "true"`, f.UserName)
		}
		req = forceRequest{User: f.UserName}
	default:
		return forceRequest{}, errors.New(`unrecognised message: expected keycycle steps, {"user_name": "...", "force": "true"} or {"account": "...", "ForceRotate": "user"}`)
	}
	if req.AccountID == "" {
		req.AccountID = defaultAccount
	}
	if req.User == "" {
		return forceRequest{}, errors.New("force request names no user")
	}
	if len(req.AccountID) != 12 || strings.Trim(req.AccountID, "0123456789") != "" {
		return forceRequest{}, fmt.Errorf("force request for %s: account %q is not a 12-digit account id", req.User, req.AccountID)
	}
	return req, nil
}

func (h *Handler) force(ctx context.Context, req forceRequest) (Report, error) {
	r := h.runner(req.AccountID)
	p, err := r.PlanForce(ctx, req.User)
	var res []rotation.Result
	if err == nil {
		res, err = r.ApplyForce(ctx, p, job.ForceOptions{DeactivateOld: req.DeactivateOld,
			Why: "force message with deactivate_old"}, h.DryRun)
	}
	rep := Report{Accounts: 1}
	if err != nil {
		rep.Errors = append(rep.Errors, fmt.Sprintf("account %s: %v", req.AccountID, err))
		h.log().Error("force rotation", "account_id", req.AccountID, "user", req.User, "error", err)
		return rep, nil
	}
	for _, x := range res {
		line := fmt.Sprintf("%s %s %s %s: %s", x.Outcome, x.Step.Action, x.Step.User, x.Step.AccessKeyID, x.Detail)
		rep.Results = append(rep.Results, line)
		if x.Outcome == rotation.Failed {
			rep.Errors = append(rep.Errors, line)
		}
	}
	h.log().Info("force rotation", "account_id", req.AccountID, "user", req.User, "steps", len(res), "errors", len(rep.Errors))
	return rep, nil
}

func secondsDuration(n int) time.Duration { return time.Duration(n) * time.Second }
