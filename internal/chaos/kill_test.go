package chaos

import (
	"bytes"
	"context"
	"flag"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keycycle/keycycle/internal/policy"
)

var flagKills = flag.Int("chaos.kills", 0, "schedules of the subprocess variant: the real keycycle binary, kill -9'd at a random API call; 0 skips it")

// TestChaosKill runs the built keycycle binary (keycycle apply) against the sandbox over HTTP and
// kills it with SIGKILL right before a random API call of its run, one or two binaries at a time.
// The checker runs after every round as in TestChaos; the lifecycle's clean rounds (after the
// leases of killed runs expired) run in process and must recover everything (I1, I5).
func TestChaosKill(t *testing.T) {
	if *flagKills == 0 {
		t.Skip("subprocess variant off: run with -chaos.kills=N (it builds cmd/keycycle with the go command)")
	}
	bin := filepath.Join(t.TempDir(), "keycycle")
	build := exec.Command("go", "build", "-o", bin, "./cmd/keycycle")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/keycycle: %v\n%s", err, out)
	}
	cfg := filepath.Join(t.TempDir(), "keycycle.yaml")
	if err := os.WriteFile(cfg, []byte("dry_run: false\nsecret:\n  name_template: \""+SecretTemplate+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var total Result
	kills, lastOutput := 0, ""
	for i := 0; i < *flagKills; i++ {
		seed := *flagSeed + uint64(i)
		res, k := executeKill(t, bin, cfg, seed)
		kills += k
		lastOutput = res.Output
		total.Calls += res.Calls
		total.Runs += res.Runs
		total.ConcurrentRounds += res.ConcurrentRounds
		if res.Setup != nil {
			t.Errorf("seed %d: harness: %v", seed, res.Setup)
			continue
		}
		if len(res.Violations) > 0 {
			if id := known(res.Violations, res.Output); id != "" && !*flagStrict {
				t.Logf("seed %d: known open issue %s%s", seed, id, violationsText(res.Violations))
				continue
			}
			t.Errorf("seed %d (kill variant) violates %s\nreplay: go test ./internal/chaos -run 'TestChaosKill$' -chaos.seed=%d -chaos.kills=1", seed, violationsText(res.Violations), seed)
		}
	}
	if testing.Verbose() && *flagOutput {
		t.Log(lastOutput)
	}
	t.Logf("kill schedules=%d kills=%d runs=%d concurrent_rounds=%d api_calls=%d", *flagKills, kills, total.Runs, total.ConcurrentRounds, total.Calls)
}

// executeKill runs one kill schedule: the population of seed, default rules (those of the
// binary's configuration), no injected faults (the binary's SDK backs off in wall time).
func executeKill(t *testing.T, bin, cfg string, seed uint64) (Result, int) {
	s := Draw(seed, Limits{Users: 1 << 20, Rounds: 1 << 20, Runs: 2, Faults: 0, Interrupt: false, Stale: false})
	s.Rules = policy.DefaultRules()
	h, err := newHarness(s)
	if err != nil {
		return Result{Setup: err}, 0
	}
	var calls atomic.Int64
	var mu sync.Mutex
	var killAt int64
	var victim *exec.Cmd
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		mu.Lock()
		if killAt > 0 && n == killAt && victim != nil {
			_ = victim.Process.Kill() // SIGKILL: no deferred clean-up, no signal handler
		}
		mu.Unlock()
		h.sb.ServeHTTP(w, r)
	}))
	defer srv.Close()
	cred, _ := h.sb.OperatorCredential(AccountID)
	r := rand.New(rand.NewPCG(seed, 3))
	kills := 0
	ctx := context.Background()
	for idx, rd := range s.Rounds {
		if rd.Clean {
			if err := h.round(ctx, idx, rd); err != nil {
				h.res.Setup = err
				break
			}
		} else {
			h.sb.Clock().Advance(rd.Advance)
			h.use(ctx, rd.Use)
			before, err := h.snapshot(ctx)
			if err != nil {
				h.res.Setup = err
				break
			}
			outs := make([]*runOut, len(rd.Runs))
			var wg sync.WaitGroup
			calls.Store(0)
			mu.Lock()
			killAt = 1 + r.Int64N(45)
			mu.Unlock()
			for i := range rd.Runs {
				outs[i] = &runOut{}
				auditFile := filepath.Join(t.TempDir(), "audit.jsonl")
				cmd := exec.Command(bin, "apply", "--yes", "--dry-run=false", "--config", cfg, "--audit", auditFile)
				cmd.Env = append(os.Environ(), "AWS_ENDPOINT_URL="+srv.URL, "AWS_ACCESS_KEY_ID="+cred.AccessKeyID,
					"AWS_SECRET_ACCESS_KEY="+cred.SecretAccessKey, "AWS_REGION=us-east-1", "AWS_SESSION_TOKEN=",
					"AWS_PROFILE=", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				if err := cmd.Start(); err != nil {
					h.res.Setup = err
					return h.res, kills
				}
				if i == 0 {
					mu.Lock()
					victim = cmd
					mu.Unlock()
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := cmd.Wait()
					if ee, ok := err.(*exec.ExitError); ok && ee.ProcessState.String() == "signal: killed" {
						mu.Lock()
						kills++
						mu.Unlock()
					}
					outs[i].out.Write(stdout.Bytes())
					outs[i].out.Write(stderr.Bytes())
					if b, err := os.ReadFile(auditFile); err == nil {
						outs[i].audit.Write(b)
					}
				}()
			}
			wg.Wait()
			mu.Lock()
			victim = nil
			mu.Unlock()
			h.res.Rounds++
			h.res.Runs += len(rd.Runs)
			if len(rd.Runs) > 1 {
				h.res.ConcurrentRounds++
			}
			after, err := h.snapshot(ctx)
			if err != nil {
				h.res.Setup = err
				break
			}
			h.check(idx, rd, before, after, outs)
			h.record(idx, outs)
		}
		if len(h.res.Violations) > 0 {
			break
		}
	}
	h.res.Calls = h.sb.Stats().Total
	h.res.Output = h.output.String()
	return h.res, kills
}
