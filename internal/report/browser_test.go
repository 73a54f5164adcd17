package report_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keycycle/keycycle/internal/report"
)

// sentinel is logged by the test to know it has read every console message before it.
const sentinel = "keycycle-test-console-sentinel"

// tab is a headless chromium tab and the console errors it has seen.
type tab struct {
	ctx  context.Context
	mu   sync.Mutex
	errs []string
	seen chan struct{}
}

// browser starts headless chromium for the test, or skips it when none is installed.
func browser(t *testing.T) *tab {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		t.Skip("install chromium (Debian: apt-get install chromium) to check the HTML report in a browser")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.WindowSize(1400, 1000))
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(acancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	tb := &tab{ctx: ctx, seen: make(chan struct{}, 1)}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			switch {
			case strings.Contains(m.Text, sentinel):
				tb.seen <- struct{}{}
			case m.Type == chromedp.ConsoleError || m.IsException():
				tb.mu.Lock()
				tb.errs = append(tb.errs, m.String())
				tb.mu.Unlock()
			}
		}
	}()
	return tb
}

// errors returns the console errors the page wrote so far.
func (tb *tab) errors(t *testing.T) []string {
	t.Helper()
	if _, err := chromedp.Run(tb.ctx, chromedp.Evaluate[any](`console.info("`+sentinel+`")`)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-tb.seen:
	case <-time.After(time.Minute): // a bound on a stuck browser, not a timing assertion
		t.Fatal("the console sentinel never arrived")
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.errs...)
}

func run[T any](t *testing.T, tb *tab, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(tb.ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func writePage(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return "file://" + p
}

// columnValues returns the data-sort values of the user table's column col (0-based), in row order.
func columnValues(col int) chromedp.Action[[]float64] {
	return chromedp.Evaluate[[]float64](fmt.Sprintf(
		`Array.from(document.querySelectorAll("#users tbody tr")).map(r => parseFloat(r.cells[%d].getAttribute("data-sort")))`, col))
}

// TestHTMLReportInABrowser opens the HTML report of the fixed scenario in headless chromium: it
// renders without console errors (its Content-Security-Policy would log any attempt to load
// something), the charts are there and drawn, and the user table sorts when a header is clicked.
// A screenshot is left in the test's temp dir.
func TestHTMLReportInABrowser(t *testing.T) {
	tb := browser(t)
	b := newBed(t)
	r := b.build(t, 30)
	var buf bytes.Buffer
	if err := report.WriteHTML(&buf, r); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	url := writePage(t, dir, "report.html", buf.Bytes())

	if err := chromedp.Do(tb.ctx, chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("#users"))); err != nil {
		t.Fatal(err)
	}
	title := run(t, tb, chromedp.Title())
	count := func(sel string) int {
		return run(t, tb, chromedp.Evaluate[int](`document.querySelectorAll("`+sel+`").length`))
	}
	bars, cols, days, rows := count("#compliance-bars rect.bar"), count("#key-age-histogram rect.col"),
		count("#forecast-calendar td.day"), count("#users tbody tr")
	if !strings.HasPrefix(title, "keycycle report") || bars != len(r.Accounts) || cols != 7 || days != 30 || rows != len(r.Users) {
		t.Fatalf("title %q, %d compliance bars (want %d), %d histogram columns, %d calendar days, %d rows (want %d)",
			title, bars, len(r.Accounts), cols, days, rows, len(r.Users))
	}
	widths := run(t, tb, chromedp.Evaluate[[]float64](`Array.from(document.querySelectorAll("#compliance-bars rect.bar")).map(r => r.getBBox().width)`))
	heights := run(t, tb, chromedp.Evaluate[[]float64](`Array.from(document.querySelectorAll("#key-age-histogram rect.col")).map(r => r.getBBox().height)`))
	drawn := 0
	for _, h := range heights {
		if h > 0 {
			drawn++
		}
	}
	if drawn == 0 || len(widths) != 2 || widths[0] <= 0 || widths[0] >= widths[1] {
		t.Fatalf("charts not drawn as the data says: bar widths %v (prod is less compliant than dev), histogram heights %v", widths, heights)
	}

	const oldest = 5 // "Oldest active key (days)"
	header := chromedp.CSS(`#users thead th:nth-child(6)`)
	before := run(t, tb, columnValues(oldest))
	if err := chromedp.Do(tb.ctx, chromedp.Click(header)); err != nil {
		t.Fatal(err)
	}
	asc := run(t, tb, columnValues(oldest))
	attr := run(t, tb, chromedp.AttributeValue(header, "aria-sort"))
	if err := chromedp.Do(tb.ctx, chromedp.Click(header)); err != nil {
		t.Fatal(err)
	}
	desc := run(t, tb, columnValues(oldest))
	if sort.Float64sAreSorted(before) {
		t.Fatalf("the scenario's initial order is already by key age (%v): the sort would prove nothing", before)
	}
	if !sort.Float64sAreSorted(asc) || attr.Value != "ascending" || len(asc) != len(before) {
		t.Fatalf("after one click: %v (aria-sort %q), want ascending", asc, attr.Value)
	}
	for i := range desc {
		if desc[i] != asc[len(asc)-1-i] {
			t.Fatalf("after two clicks: %v, want %v reversed", desc, asc)
		}
	}

	png := run(t, tb, chromedp.FullScreenshot(90))
	shot := filepath.Join(dir, "report.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	if len(png) < 1000 {
		t.Fatalf("screenshot of %d bytes", len(png))
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
	if e := tb.errors(t); len(e) > 0 {
		t.Fatalf("console errors:\n%s", strings.Join(e, "\n"))
	}
}

// TestBrowserCheckSeesConsoleErrors proves the console check catches what it must: a script
// error and a load the page's policy blocks.
func TestBrowserCheckSeesConsoleErrors(t *testing.T) {
	tb := browser(t)
	page := `<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; img-src data:"></head>` +
		`<body><img src="https://example.com/x.png"><script>nosuchfunction()</script></body></html>`
	url := writePage(t, t.TempDir(), "broken.html", []byte(page))
	if err := chromedp.Do(tb.ctx, chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("body"))); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(tb.errors(t), "\n")
	if !strings.Contains(got, "nosuchfunction") || !strings.Contains(got, "example.com") {
		t.Fatalf("console errors seen:\n%s", got)
	}
}
