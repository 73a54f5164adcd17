package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/keycycle/keycycle/internal/backoff"
)

// Slack posts one message per run to a Slack-compatible incoming webhook: a JSON body
// {"text": "..."} in Slack's mrkdwn, one line per event. It retries with doubling waits on
// 429 and 5xx answers (honouring Retry-After) and on network errors; any other answer than 2xx
// is a failure. The webhook URL embeds a token: it never appears in an error or a log line.
type Slack struct {
	URL string
	// Client sends the request; nil: a client with a 15 s timeout.
	Client *http.Client
	// Attempts (default 4) and Backoff (default 1 s, doubling) bound the retries; a Retry-After
	// is honoured up to MaxWait (default 30 s).
	Attempts int
	Backoff  time.Duration
	MaxWait  time.Duration
	// MaxLines caps the events listed in one message (default 50); the rest are counted.
	MaxLines int
}

var _ Notifier = (*Slack)(nil)

// Name is "slack".
func (s *Slack) Name() string { return "slack" }

// Notify posts the run's events as one message; no events, no message.
func (s *Slack) Notify(ctx context.Context, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	body, err := json.Marshal(struct {
		Text string `json:"text"`
	}{s.Text(events)})
	if err != nil {
		return fmt.Errorf("slack webhook: encode: %w", err)
	}
	return s.post(ctx, body)
}

// Text renders the events as the message's mrkdwn text.
func (s *Slack) Text(events []Event) string {
	evs := append([]Event(nil), events...)
	SortEvents(evs)
	limit := s.MaxLines
	if limit <= 0 {
		limit = 50
	}
	var b strings.Builder
	account := "\x00"
	for i, e := range evs {
		if i == limit {
			fmt.Fprintf(&b, "… and %d more (see the apply report)\n", len(evs)-limit)
			break
		}
		if e.AccountID != account {
			account = e.AccountID
			name := e.AccountName
			if name == "" {
				name = e.AccountID
			}
			n := 0
			for _, x := range evs {
				if x.AccountID == account {
					n++
				}
			}
			fmt.Fprintf(&b, "*keycycle* · AWS account *%s* (%s): %d notice%s\n", slackEscape(name), slackEscape(e.AccountID), n, plural(n))
		}
		b.WriteString("• " + slackLine(e) + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func slackLine(e Event) string {
	v := e.View()
	code := func(s string) string { return "`" + strings.ReplaceAll(slackEscape(s), "`", "'") + "`" }
	line := "*" + slackEscape(v.Title) + "*: user " + code(v.User)
	if e.Owner != "" {
		line += " (owner " + slackEscape(e.Owner) + ")"
	}
	switch e.Kind {
	case Rotated:
		line += ": new key " + code(v.NewAccessKeyID) + " replaces " + code(v.AccessKeyID)
		if v.FetchCommand != "" {
			line += "; fetch it with " + code(v.FetchCommand)
		}
	case OldKeyInUse:
		line += ": key " + code(v.AccessKeyID) + " last used " + slackEscape(v.LastUsed)
	case UpcomingRotation:
		line += ": key " + code(v.AccessKeyID) + " due on " + slackEscape(v.When)
	case ExemptionExpiring:
		line += ": exemption expires on " + slackEscape(v.When)
	case PasswordRotated:
		if v.FetchCommand != "" {
			line += ": fetch the new password with " + code(v.FetchCommand)
		}
	case ConsoleRemovalWarning:
		line += ": console access removed on " + slackEscape(v.When) + " unless used"
	case Deactivated, Deleted:
		line += ": key " + code(v.AccessKeyID)
	case Blocked:
		if v.AccessKeyID != "" {
			line += ": key " + code(v.AccessKeyID)
		}
	}
	if v.Reason != "" {
		line += " — " + slackEscape(v.Reason)
	}
	return line
}

// slackEscape escapes the three characters Slack's mrkdwn gives a meaning to.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func (s *Slack) post(ctx context.Context, body []byte) error {
	client := s.Client
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	p := backoff.Policy{Attempts: s.Attempts, Initial: s.Backoff, Max: s.MaxWait}.With(backoff.Policy{Attempts: 4, Initial: time.Second, Max: 30 * time.Second})
	err := p.Retry(ctx, func() (time.Duration, error) {
		retry, after, err := s.once(ctx, client, body)
		if err != nil && !retry {
			return 0, backoff.Permanent(err)
		}
		return after, err
	})
	if err != nil {
		return fmt.Errorf("slack webhook: %w", err)
	}
	return nil
}

// once posts body once. retry says whether a later attempt may succeed; after is the server's
// Retry-After.
func (s *Slack) once(ctx context.Context, client *http.Client, body []byte) (retry bool, after time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return false, 0, errors.New("invalid webhook URL")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		// A *url.Error's text holds the URL, and with it the webhook's token: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return ctx.Err() == nil, 0, fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, 0, nil
	}
	if sec, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && sec > 0 {
		after = time.Duration(sec) * time.Second
	}
	retry = resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
	text := strings.Join(strings.Fields(string(msg)), " ")
	if text != "" {
		return retry, after, fmt.Errorf("answered %s: %s", resp.Status, text)
	}
	return retry, after, fmt.Errorf("answered %s", resp.Status)
}
