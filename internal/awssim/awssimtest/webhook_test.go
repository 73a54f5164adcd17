package awssimtest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
)

func post(t *testing.T, url, body string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Keycycle-Signature", "sha256=abc")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

func TestWebhookRecordsAndFailsOnRequest(t *testing.T) {
	wh := awssimtest.StartWebhook(t)
	wh.FailNext(2)
	got := []int{post(t, wh.URL+"/hook", `{"n":1}`), post(t, wh.URL+"/hook", `{"n":2}`), post(t, wh.URL+"/hook?x=1", `{"n":3}`)}
	wh.SetStatus(http.StatusAccepted)
	got = append(got, post(t, wh.URL+"/hook", `{"n":4}`))
	want := []int{500, 500, 200, 202}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("statuses = %v, want %v", got, want)
		}
	}
	reqs := wh.Requests()
	if len(reqs) != 4 || reqs[2].Method != http.MethodPost || reqs[2].Path != "/hook?x=1" || string(reqs[2].Body) != `{"n":3}` ||
		reqs[2].Header.Get("X-Keycycle-Signature") != "sha256=abc" || reqs[0].Status != 500 || reqs[3].Status != 202 || reqs[0].Time.IsZero() {
		t.Fatalf("requests = %+v", reqs)
	}
}

func TestWebhookWithSandboxFillsOutbox(t *testing.T) {
	sb, _ := awssimtest.Start(t)
	sb.Clock().Advance(time.Hour)
	wh := awssimtest.StartWebhook(t, sb)
	if post(t, wh.URL+"/rotated", `{"user":"bob"}`) != http.StatusOK {
		t.Fatal("webhook did not answer 200")
	}
	resp, err := http.Get(sb.URL + "/_sandbox/outbox")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ob awssim.Outbox
	if err := json.NewDecoder(resp.Body).Decode(&ob); err != nil {
		t.Fatal(err)
	}
	if len(ob.Webhooks) != 1 {
		t.Fatalf("outbox webhooks = %+v", ob.Webhooks)
	}
	w := ob.Webhooks[0]
	if w.URL != wh.URL || w.Method != http.MethodPost || w.Path != "/rotated" || w.Body != `{"user":"bob"}` || w.Status != 200 ||
		w.Header.Get("Content-Type") != "application/json" || !w.Time.Equal(awssim.DefaultStart.Add(time.Hour)) {
		t.Fatalf("outbox webhook = %+v", w)
	}
	if reqs := wh.Requests(); len(reqs) != 1 || !reqs[0].Time.Equal(w.Time) {
		t.Fatalf("requests = %+v", reqs)
	}
	if err := sb.Reset(); err != nil {
		t.Fatal(err)
	}
	if n := len(sb.Outbox().Webhooks); n != 0 {
		t.Fatalf("after reset: %d webhooks", n)
	}
}

func TestOutboxListsAreBounded(t *testing.T) {
	sb, _ := awssimtest.Start(t)
	const n = 10001
	for i := range n {
		sb.RecordWebhook(awssim.OutboxWebhook{Method: http.MethodPost, Path: "/", Body: strings.Repeat("x", i%3)})
	}
	ob := sb.Outbox()
	kept := len(ob.Webhooks)
	if kept < 5000 || kept > 10000 || ob.Dropped["webhooks"] != n-kept || ob.Webhooks[kept-1].Body != strings.Repeat("x", (n-1)%3) {
		t.Fatalf("kept %d, dropped %v", kept, ob.Dropped)
	}
}
