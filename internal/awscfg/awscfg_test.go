package awscfg

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestServerClockFollowsDateHeader(t *testing.T) {
	server := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Date", server.Format(http.TimeFormat))
	}))
	defer ts.Close()
	local := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	c := &ServerClock{local: func() time.Time { return local }}
	if !c.Now().Equal(local) || c.Seen() {
		t.Fatal("before any answer the clock is the local clock")
	}
	hc := Client(http.DefaultClient, c)
	req, _ := http.NewRequest(http.MethodPost, ts.URL, http.NoBody)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !c.Seen() || !c.Now().Equal(server) {
		t.Fatalf("clock = %v, want the server's %v", c.Now(), server)
	}
	local = local.Add(90 * time.Second)
	if want := server.Add(90 * time.Second); !c.Now().Equal(want) {
		t.Fatalf("clock = %v, want %v: it runs on from the observed offset", c.Now(), want)
	}
	c.Observe("not a date")
	if want := server.Add(90 * time.Second); !c.Now().Equal(want) {
		t.Fatal("a bad Date header must not move the clock")
	}
}
