package awssimtest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/keycycle/keycycle/internal/awssim"
)

// maxWebhookBody bounds what the receiver reads of one request.
const maxWebhookBody = 8 << 20

// WebhookRequest is one request a Webhook received, with the status it answered.
type WebhookRequest struct {
	Method string
	// Path is the request's path and query ("/hooks/keycycle?team=a").
	Path   string
	Header http.Header
	Body   []byte
	Status int
	// Time is the sandbox clock's time when the webhook belongs to a sandbox, else wall time.
	Time time.Time
}

// Webhook is an HTTP receiver for outbound webhooks, served on httptest until the test ends.
// It records every request and answers the configured status (200 unless SetStatus changed
// it; FailNext makes the next requests answer 500). It is safe for concurrent use.
type Webhook struct {
	// URL is the receiver's base URL; any path under it is accepted.
	URL string

	sb       *Sandbox
	mu       sync.Mutex
	reqs     []WebhookRequest
	status   int
	failNext int
}

// StartWebhook starts a webhook receiver. With a sandbox, every request is also appended to the
// sandbox outbox's "webhooks" list (GET /_sandbox/outbox), stamped with the sandbox clock.
func StartWebhook(tb testing.TB, sb ...*Sandbox) *Webhook {
	tb.Helper()
	if len(sb) > 1 {
		tb.Fatalf("awssimtest: StartWebhook takes at most one sandbox")
	}
	w := &Webhook{status: http.StatusOK}
	if len(sb) == 1 {
		w.sb = sb[0]
	}
	ts := httptest.NewServer(http.HandlerFunc(w.serve))
	tb.Cleanup(ts.Close)
	w.URL = ts.URL
	return w
}

func (w *Webhook) serve(rw http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBody))
	if err != nil {
		http.Error(rw, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	now := time.Now()
	if w.sb != nil {
		now = w.sb.Clock().Now()
	}
	w.mu.Lock()
	status := w.status
	if w.failNext > 0 {
		w.failNext--
		status = http.StatusInternalServerError
	}
	req := WebhookRequest{Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: body, Status: status, Time: now}
	w.reqs = append(w.reqs, req)
	w.mu.Unlock()
	if w.sb != nil {
		w.sb.RecordWebhook(awssim.OutboxWebhook{URL: w.URL, Method: req.Method, Path: req.Path, Header: req.Header,
			Body: string(body), Status: status, Time: now})
	}
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(status)
	if status >= 200 && status < 300 {
		_, _ = io.WriteString(rw, `{"ok":true}`)
		return
	}
	_, _ = io.WriteString(rw, `{"ok":false}`)
}

// Requests returns a copy of the requests received so far, oldest first.
func (w *Webhook) Requests() []WebhookRequest {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]WebhookRequest(nil), w.reqs...)
}

// SetStatus sets the status answered from now on.
func (w *Webhook) SetStatus(code int) {
	w.mu.Lock()
	w.status = code
	w.mu.Unlock()
}

// FailNext makes the next n requests answer 500 Internal Server Error.
func (w *Webhook) FailNext(n int) {
	w.mu.Lock()
	w.failNext = n
	w.mu.Unlock()
}
