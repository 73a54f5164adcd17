package lambdafn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/rotation"
)

// Short cleanup waits (the CDK construct's cleanupWaitDuration): after the worker rotated a
// user's key (the new key stored and every required sink, the handler function included,
// succeeded), or deactivated an old one, it sends the user a follow-up on a standard SQS queue
// with a delivery delay of CleanupWait. When the follow-up arrives, the user is planned afresh
// under the configured rules and what the policy plans now is carried out: the deactivation of
// the old key once deactivate_after has passed and the key was not used since (the last-used
// guard holds as on any run), then its deletion after delete_after. A follow-up grants nothing:
// it is the same re-evaluation a schedule makes, for one user, sooner.
//
// SQS delays a message by at most 15 minutes; a longer wait is covered by sending the follow-up
// again with the remaining delay until its due time. FIFO queues take no per-message delay, hence
// a standard queue beside the FIFO work queue; the follow-up is idempotent, so a duplicate
// delivery only re-plans the user.

// maxSQSDelay is SQS's bound on DelaySeconds.
const maxSQSDelay = 900 * time.Second

// CleanupMessage is the follow-up of one user.
type CleanupMessage struct {
	Keycycle  string    `json:"keycycle"` // "cleanup"
	AccountID string    `json:"account_id"`
	User      string    `json:"user"`
	Due       time.Time `json:"due"`
}

// followUp sends the user's follow-up when a step of res retired or replaced a key.
func (h *Handler) followUp(ctx context.Context, accountID, user string, res []rotation.Result) error {
	if h.CleanupQueueURL == "" || h.CleanupWait <= 0 || h.DryRun {
		return nil
	}
	due := false
	for _, r := range res {
		if (r.Outcome == rotation.Done || r.Outcome == rotation.Resumed) && (r.Step.Action == plan.Rotate || r.Step.Action == plan.Deactivate) {
			due = true
		}
	}
	if !due {
		return nil
	}
	return h.sendCleanup(ctx, CleanupMessage{Keycycle: "cleanup", AccountID: accountID, User: user, Due: h.now().Add(h.CleanupWait).UTC()})
}

// sendCleanup enqueues m, delayed until its due time or by SQS's maximum, whichever is sooner.
func (h *Handler) sendCleanup(ctx context.Context, m CleanupMessage) error {
	wait := m.Due.Sub(h.now())
	wait = min(max(wait, 0), maxSQSDelay)
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	secs := int32((wait + time.Second - 1) / time.Second) // never early
	if _, err := h.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(h.CleanupQueueURL),
		MessageBody: aws.String(string(body)), DelaySeconds: secs}); err != nil {
		return fmt.Errorf("cleanup follow-up of %s/%s: %w", m.AccountID, m.User, err)
	}
	h.log().Info("cleanup follow-up sent", "account_id", m.AccountID, "user", m.User, "due", m.Due, "delay_seconds", secs)
	return nil
}

// cleanup serves a follow-up: early, it is sent again with the remaining delay; due, the user
// is planned and the plan carried out.
func (h *Handler) cleanup(ctx context.Context, m CleanupMessage) error {
	if m.AccountID == "" || m.User == "" || m.Due.IsZero() {
		return errors.New("cleanup message without account_id, user or due")
	}
	if len(m.AccountID) != 12 || !digits(m.AccountID) {
		return fmt.Errorf("cleanup message for %s: account %q is not a 12-digit account id", m.User, m.AccountID)
	}
	if h.now().Before(m.Due) {
		return h.sendCleanup(ctx, m)
	}
	r := h.runner(m.AccountID)
	p, acct, err := r.PlanUser(ctx, m.User)
	if err != nil {
		return fmt.Errorf("account %s: %w", m.AccountID, err)
	}
	res, err := r.Apply(ctx, p, h.DryRun)
	if err != nil {
		return err
	}
	rep := r.NotifyRun(ctx, acct, p, res, h.DryRun)
	for _, c := range rep.Channels {
		if c.Err != nil {
			h.log().Error("notification failed", "account_id", m.AccountID, "user", m.User, "channel", c.Name, "error", c.Err)
		}
	}
	h.log().Info("cleanup follow-up", "account_id", m.AccountID, "user", m.User, "steps", len(p.Steps))
	if err := failures(res); err != nil {
		return err
	}
	return h.followUp(ctx, m.AccountID, m.User, res)
}
