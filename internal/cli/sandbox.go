package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/keycycle/keycycle/internal/awssim"
)

// shutdownTimeout bounds how long the sandbox waits for requests in flight when it stops.
const shutdownTimeout = 5 * time.Second

func sandboxCommand(fs *flag.FlagSet, e *env) runFunc {
	listen := fs.String("listen", "127.0.0.1:4566", "`address` to listen on; port 0 picks a free port")
	scenario := fs.String("scenario", "", "scenario YAML `file` to load instead of the built-in one (see docs/sandbox.md)")
	verbose := fs.Bool("verbose", false, "log every request to stderr (debug level)")
	return func(ctx context.Context, args []string) int {
		if len(args) > 0 {
			return usageError(fs, "unexpected arguments: %s", strings.Join(args, " "))
		}
		return runSandbox(ctx, e, *listen, *scenario, *verbose)
	}
}

// runSandbox serves the sandbox until ctx ends, after printing how to reach it to stdout.
func runSandbox(ctx context.Context, e *env, listen, scenarioFile string, verbose bool) int {
	log := e.loggerAt(slog.LevelInfo, verbose) // a server: its log is part of its output
	var sc *awssim.Scenario                    // nil: the built-in scenario
	if scenarioFile != "" {
		data, err := os.ReadFile(scenarioFile)
		if err != nil {
			fmt.Fprintf(e.stderr, "keycycle sandbox: %v\n", err)
			return exitUsage
		}
		if sc, err = awssim.ParseScenario(scenarioFile, data); err != nil {
			// Each problem is one line that starts with file:line.
			fmt.Fprintf(e.stderr, "keycycle sandbox: scenario %s is invalid:\n%v\n", scenarioFile, err)
			return exitUsage
		}
	}
	srv, err := awssim.New(awssim.Options{Scenario: sc, Logger: log})
	if err != nil {
		fmt.Fprintf(e.stderr, "keycycle sandbox: %v\n", err)
		return exitFail
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		fmt.Fprintf(e.stderr, "keycycle sandbox: %v\n", err)
		return exitFail
	}
	addr := ln.Addr().(*net.TCPAddr)
	if !addr.IP.IsLoopback() {
		log.Warn("the sandbox listens beyond loopback; its admin API is unauthenticated and hands out its credentials", "address", addr.String())
	}
	base := endpointURL(addr)
	if err := printSandboxEnv(e.stdout, srv, base); err != nil {
		ln.Close()
		fmt.Fprintf(e.stderr, "keycycle sandbox: %v\n", err)
		return exitFail
	}

	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	log.Info("sandbox serving; stop it with Ctrl-C", "endpoint", base)

	select {
	case err := <-served:
		// Serve only returns early on a listener failure.
		fmt.Fprintf(e.stderr, "keycycle sandbox: %v\n", err)
		return exitFail
	case <-ctx.Done():
	}
	log.Info("sandbox stopping")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		log.Warn("sandbox: requests still in flight at shutdown were cut off", "error", err)
		hs.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(e.stderr, "keycycle sandbox: %v\n", err)
		return exitFail
	}
	return exitOK
}

// endpointURL is the URL clients use for addr: an unspecified address (0.0.0.0, ::) is
// reached through loopback.
func endpointURL(addr *net.TCPAddr) string {
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(addr.Port))
}

// printSandboxEnv writes the banner and the shell exports for the first account's operator
// credential. Printing that secret is intended: it is a sandbox credential that only this
// sandbox accepts (docs/sandbox.md).
func printSandboxEnv(w io.Writer, srv *awssim.Server, base string) error {
	accts := srv.Accounts()
	if len(accts) == 0 {
		return errors.New("the scenario has no account")
	}
	names := make([]string, len(accts))
	for i, a := range accts {
		names[i] = a.ID
		if a.Alias != "" {
			names[i] += " (" + a.Alias + ")"
		}
	}
	first := accts[0]
	cred, ok := srv.OperatorCredential(first.ID)
	if !ok {
		return fmt.Errorf("no operator credential for account %s", first.ID)
	}
	admin := base + "/_sandbox/"
	var b strings.Builder
	fmt.Fprintf(&b, "# keycycle sandbox on %s (admin API: %s)\n", base, admin)
	fmt.Fprintf(&b, "# sandbox clock: %s; accounts: %s\n", srv.Clock().Now().Format(time.RFC3339), strings.Join(names, ", "))
	fmt.Fprintf(&b, "# operator credential of %s: root-like there, valid only in this sandbox;\n", names[0])
	fmt.Fprintf(&b, "# the other accounts' from the admin API: curl -s '%scredentials?account=ID'\n", admin)
	fmt.Fprintf(&b, "export AWS_ENDPOINT_URL=%s\n", base)
	fmt.Fprintf(&b, "export AWS_ACCESS_KEY_ID=%s\n", cred.AccessKeyID)
	fmt.Fprintf(&b, "export AWS_SECRET_ACCESS_KEY=%s\n", cred.SecretAccessKey)
	fmt.Fprintf(&b, "export AWS_REGION=%s\n", cred.Region)
	// AWS CLI v1 (botocore) reads the region from AWS_DEFAULT_REGION only.
	fmt.Fprintf(&b, "export AWS_DEFAULT_REGION=%s\n", cred.Region)
	_, err := io.WriteString(w, b.String())
	return err
}
