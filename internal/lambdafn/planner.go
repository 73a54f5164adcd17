package lambdafn

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/keycycle/keycycle/internal/job"
)

// fanOutBatches is how many SendMessageBatch calls of account messages are in flight at once:
// 10,000 accounts are 1,000 calls, a few seconds at this width.
const fanOutBatches = 8

// order returns the targets sorted by account id and rotated to start at a position drawn from
// the schedule's time: every run starts somewhere else, so when the planners cannot keep up no
// account is always the last one planned.
func order(targets []job.Target, seed uint64) []job.Target {
	out := append([]job.Target(nil), targets...)
	sort.Slice(out, func(i, j int) bool { return out[i].AccountID < out[j].AccountID })
	if len(out) < 2 {
		return out
	}
	k := rand.New(rand.NewPCG(seed, 0x6b6579)).IntN(len(out))
	return append(out[k:], out[:k]...)
}

// fanOut sends one account message per target to the account queue, ten per SendMessageBatch,
// fanOutBatches calls at once. Accounts whose message could not be sent are reported as errors
// (the next schedule sends them again).
func (h *Handler) fanOut(ctx context.Context, targets []job.Target) (Report, error) {
	now := h.now().UTC()
	targets = order(targets, uint64(now.UnixNano()))
	rep := Report{Accounts: len(targets)}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, fanOutBatches)
	for start := 0; start < len(targets); start += 10 {
		batch := make([]AccountMessage, 0, 10)
		for _, t := range targets[start:min(start+10, len(targets))] {
			batch = append(batch, AccountMessage{Keycycle: "account", AccountID: t.AccountID, Name: t.Name, Scheduled: now})
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			mu.Lock()
			rep.Errors = append(rep.Errors, fmt.Sprintf("accounts %s..: not enqueued: %v", batch[0].AccountID, ctx.Err()))
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			n, err := sendBatch(ctx, h.SQS, h.AccountQueueURL, batch, nil)
			mu.Lock()
			defer mu.Unlock()
			rep.Queued += n
			if err != nil {
				ids := make([]string, len(batch))
				for i, m := range batch {
					ids[i] = m.AccountID
				}
				rep.Errors = append(rep.Errors, fmt.Sprintf("accounts %v: enqueue: %v", ids, err))
			}
		}()
	}
	wg.Wait()
	sort.Strings(rep.Errors)
	h.log().Info("schedule", "accounts", rep.Accounts, "queued", rep.Queued, "errors", len(rep.Errors))
	return rep, nil
}

// accountMessage reads an account queue message; ok is false for any other body.
func accountMessage(body string) (AccountMessage, bool) {
	var m AccountMessage
	if err := json.Unmarshal([]byte(body), &m); err != nil || m.Keycycle != "account" {
		return AccountMessage{}, false
	}
	return m, true
}

// planAccount plans one account and enqueues its users' work: the account planner. It assumes
// the member role, checks that the role signs into the account the message names, scans,
// evaluates, sends the notices no worker will, and sends the user messages as it walks the plan.
// An error fails this account's message only.
func (h *Handler) planAccount(ctx context.Context, m AccountMessage) error {
	if len(m.AccountID) != 12 || !digits(m.AccountID) {
		return fmt.Errorf("account message: account %q is not a 12-digit account id", m.AccountID)
	}
	r := h.runner(m.AccountID)
	id, err := r.Identity(ctx)
	if err != nil {
		return fmt.Errorf("account %s: %w", m.AccountID, err)
	}
	if got := aws.ToString(id.Account); got != m.AccountID {
		return fmt.Errorf("account %s: the role signs into account %s", m.AccountID, got)
	}
	sc, err := r.Plan(ctx)
	if err != nil {
		return fmt.Errorf("account %s: %w", m.AccountID, err)
	}
	h.notifyNotices(ctx, r, m.AccountID, sc)
	if _, err := h.writeAccountReport(ctx, sc.Account); err != nil {
		// The plan goes on: a report is no reason to hold back the account's work.
		h.log().Error("report not written", "account_id", m.AccountID, "error", err)
	}
	n, err := h.enqueuePlan(ctx, sc.Plan, sc.Account)
	h.log().Info("account planned", "account_id", m.AccountID, "users", sc.Stats.Users, "steps", len(sc.Plan.Steps), "enqueued", n)
	if err != nil {
		return fmt.Errorf("account %s: enqueue: %w", m.AccountID, err)
	}
	return nil
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
