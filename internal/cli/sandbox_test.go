package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keycycle/keycycle/internal/cli"
)

// syncBuffer is a bytes.Buffer that Main may write while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// sandbox is a `keycycle sandbox` running in process.
type sandbox struct {
	stdout, stderr *syncBuffer
	env            map[string]string // from the export lines
	banner         []string          // the comment lines
	cancel         context.CancelFunc
	done           chan int
}

// startSandbox runs Main("sandbox", "--listen", "127.0.0.1:0", extra...) until the test ends and
// waits for its export lines.
func startSandbox(t *testing.T, extra ...string) *sandbox {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sb := &sandbox{stdout: &syncBuffer{}, stderr: &syncBuffer{}, env: map[string]string{}, cancel: cancel, done: make(chan int, 1)}
	args := append([]string{"sandbox", "--listen", "127.0.0.1:0"}, extra...)
	go func() { sb.done <- cli.Main(ctx, args, sb.stdout, sb.stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-sb.done:
		case <-time.After(10 * time.Second):
			t.Error("sandbox did not stop within 10s of cancellation")
		}
	})

	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for !strings.Contains(sb.stdout.String(), "export AWS_DEFAULT_REGION=") {
		select {
		case code := <-sb.done:
			sb.done <- code
			t.Fatalf("sandbox exited with %d before printing its exports; stderr:\n%s", code, sb.stderr.String())
		case <-deadline:
			t.Fatalf("sandbox printed no exports within 10s; stdout:\n%s\nstderr:\n%s", sb.stdout.String(), sb.stderr.String())
		case <-tick.C:
		}
	}
	sc := bufio.NewScanner(strings.NewReader(sb.stdout.String()))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "export "); ok {
			k, v, _ := strings.Cut(rest, "=")
			sb.env[k] = v
			continue
		}
		if strings.HasPrefix(line, "# ") {
			sb.banner = append(sb.banner, line)
			continue
		}
		t.Fatalf("unexpected stdout line %q", line)
	}
	return sb
}

// stop cancels the sandbox's context and returns Main's exit code.
func (sb *sandbox) stop(t *testing.T) int {
	t.Helper()
	sb.cancel()
	select {
	case code := <-sb.done:
		sb.done <- code
		return code
	case <-time.After(10 * time.Second):
		t.Fatal("sandbox did not stop within 10s of cancellation")
		return -1
	}
}

func (sb *sandbox) url() string { return sb.env["AWS_ENDPOINT_URL"] }

func (sb *sandbox) awsConfig() aws.Config {
	return aws.Config{
		Region:           sb.env["AWS_REGION"],
		BaseEndpoint:     aws.String(sb.url()),
		Credentials:      credentials.NewStaticCredentialsProvider(sb.env["AWS_ACCESS_KEY_ID"], sb.env["AWS_SECRET_ACCESS_KEY"], ""),
		RetryMaxAttempts: 1,
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func TestSandboxServesAndStopsOnCancel(t *testing.T) {
	sb := startSandbox(t)
	base := sb.url()
	if !strings.HasPrefix(base, "http://127.0.0.1:") || strings.HasSuffix(base, ":0") {
		t.Fatalf("AWS_ENDPOINT_URL = %q, want the real loopback address", base)
	}
	wantBanner := []string{
		"# keycycle sandbox on " + base + " (admin API: " + base + "/_sandbox/)",
		"# sandbox clock: 2026-11-21T09:00:00Z; accounts: 111111111111 (acme-prod), 222222222222 (acme-security)",
	}
	if len(sb.banner) < 3 || sb.banner[0] != wantBanner[0] || sb.banner[1] != wantBanner[1] {
		t.Fatalf("banner =\n%s\nwant it to start with\n%s", strings.Join(sb.banner, "\n"), strings.Join(wantBanner, "\n"))
	}
	if !strings.Contains(strings.Join(sb.banner[2:], "\n"), base+"/_sandbox/credentials?account=") {
		t.Errorf("banner does not say where the other accounts' credentials are:\n%s", strings.Join(sb.banner, "\n"))
	}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		if sb.env[k] == "" {
			t.Errorf("no export of %s", k)
		}
	}
	if sb.env["AWS_REGION"] != "us-east-1" || sb.env["AWS_DEFAULT_REGION"] != "us-east-1" {
		t.Errorf("region exports = %q, %q", sb.env["AWS_REGION"], sb.env["AWS_DEFAULT_REGION"])
	}

	var health struct {
		Status   string `json:"status"`
		Now      string `json:"now"`
		Accounts []struct {
			ID string `json:"id"`
		} `json:"accounts"`
	}
	getJSON(t, base+"/_sandbox/health", &health)
	if health.Status != "ok" || health.Now != "2026-11-21T09:00:00Z" || len(health.Accounts) != 2 {
		t.Fatalf("health = %+v", health)
	}
	var cred struct {
		AccessKeyID string `json:"access_key_id"`
	}
	getJSON(t, base+"/_sandbox/credentials", &cred)
	if cred.AccessKeyID != sb.env["AWS_ACCESS_KEY_ID"] {
		t.Errorf("exported key %s is not the first account's operator credential %s", sb.env["AWS_ACCESS_KEY_ID"], cred.AccessKeyID)
	}

	// The exported credential signs real SDK calls.
	id, err := sts.NewFromConfig(sb.awsConfig()).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(id.Account) != "111111111111" {
		t.Errorf("caller account = %s", aws.ToString(id.Account))
	}

	if code := sb.stop(t); code != 0 {
		t.Fatalf("exit code after cancel = %d, want 0; stderr:\n%s", code, sb.stderr.String())
	}
	if conn, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), time.Second); err == nil {
		conn.Close()
		t.Error("the sandbox still accepts connections after it stopped")
	}
	if secret := sb.env["AWS_SECRET_ACCESS_KEY"]; strings.Contains(sb.stderr.String(), secret) {
		t.Error("the operator secret reached stderr")
	}
}

func TestSandboxVerboseLogsRequests(t *testing.T) {
	for _, verbose := range []bool{false, true} {
		var extra []string
		if verbose {
			extra = []string{"--verbose"}
		}
		sb := startSandbox(t, extra...)
		if _, err := sts.NewFromConfig(sb.awsConfig()).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{}); err != nil {
			t.Fatal(err)
		}
		if code := sb.stop(t); code != 0 {
			t.Fatalf("exit %d", code)
		}
		logs := sb.stderr.String()
		logged := strings.Contains(logs, "level=DEBUG") && strings.Contains(logs, "GetCallerIdentity")
		if logged != verbose {
			t.Errorf("verbose=%v: request logged=%v; stderr:\n%s", verbose, logged, logs)
		}
		if strings.Contains(logs, sb.env["AWS_SECRET_ACCESS_KEY"]) {
			t.Errorf("verbose=%v: the operator secret reached stderr", verbose)
		}
	}
}

func TestSandboxScenarioFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "two.yaml")
	src := `start: 2030-01-02T03:04:05Z
accounts:
  - id: "333333333333"
    region: eu-west-1
    users:
      - name: zed
  - id: "444444444444"
    alias: other
`
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	sb := startSandbox(t, "--scenario", file)
	if want := "# sandbox clock: 2030-01-02T03:04:05Z; accounts: 333333333333, 444444444444 (other)"; sb.banner[1] != want {
		t.Errorf("banner[1] = %q, want %q", sb.banner[1], want)
	}
	if sb.env["AWS_REGION"] != "eu-west-1" {
		t.Errorf("AWS_REGION = %q, want the first account's region eu-west-1", sb.env["AWS_REGION"])
	}
	cfg := sb.awsConfig()
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(id.Arn); got != "arn:aws:iam::333333333333:root" {
		t.Errorf("caller = %s", got)
	}
}

func TestSandboxBadScenario(t *testing.T) {
	file := filepath.Join(t.TempDir(), "bad.yaml")
	src := `accounts:
  - id: "1234"
    users:
      - name: alice
        access_keys:
          - {age_days: 3, status: Broken}
`
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := cli.Main(context.Background(), []string{"sandbox", "--listen", "127.0.0.1:0", "--scenario", file}, &out, &errOut)
	if code != 2 {
		t.Fatalf("exit code = %d, want 2; stderr:\n%s", code, errOut.String())
	}
	for _, want := range []string{file + ":2:", "accounts[0].id", file + ":6:", "Broken"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut.String())
		}
	}
	if out.Len() != 0 {
		t.Errorf("stdout = %q, want nothing", out.String())
	}

	// An unknown field is refused with its line too.
	if err := os.WriteFile(file, []byte("accounts:\n  - id: \"111111111111\"\n    colour: blue\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	errOut.Reset()
	if code := cli.Main(context.Background(), []string{"sandbox", "--scenario", file}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), file+":3:") {
		t.Errorf("unknown field: exit %d, stderr:\n%s", code, errOut.String())
	}

	errOut.Reset()
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	if code := cli.Main(context.Background(), []string{"sandbox", "--scenario", missing}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), missing) {
		t.Errorf("missing scenario: exit %d, stderr:\n%s", code, errOut.String())
	}
}

func TestSandboxListenFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var out, errOut bytes.Buffer
	code := cli.Main(context.Background(), []string{"sandbox", "--listen", ln.Addr().String()}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), ln.Addr().String()) {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut.String())
	}
	if out.Len() != 0 {
		t.Errorf("stdout = %q, want nothing", out.String())
	}
}
