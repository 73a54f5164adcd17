package job_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
)

// envSandboxUsers makes the test binary serve a sandbox of that many users instead of running
// tests: memory benchmarks run the sandbox in another process, so they measure keycycle alone.
const envSandboxUsers = "KEYCYCLE_TEST_SANDBOX_USERS"

func TestMain(m *testing.M) {
	if n := os.Getenv(envSandboxUsers); n != "" {
		users, err := strconv.Atoi(n)
		if err == nil {
			err = serveSandbox(users)
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func serveSandbox(users int) error {
	srv, err := awssim.New(awssim.Options{Scenario: accountOf(users)})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	cred, _ := srv.OperatorCredential("111111111111")
	fmt.Printf("%s %s %s\n", "http://"+ln.Addr().String(), cred.AccessKeyID, cred.SecretAccessKey)
	return http.Serve(ln, srv)
}

// externalSandbox starts this test binary as a sandbox of users users in another process and
// returns an AWS configuration signed by its operator.
func externalSandbox(tb testing.TB, users int) aws.Config {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envSandboxUsers+"="+strconv.Itoa(users))
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		lines <- line
	}()
	select {
	case line := <-lines:
		f := strings.Fields(line)
		if len(f) != 3 {
			tb.Fatalf("sandbox process said %q", line)
		}
		return (&awssimtest.Sandbox{URL: f[0]}).Config(f[1], f[2], "")
	case <-time.After(5 * time.Minute):
		tb.Fatal("sandbox process did not start")
	}
	return aws.Config{}
}
