// Command keycycle rotates AWS IAM user credentials safely. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/keycycle/keycycle/internal/cli"
)

// memoryLimit is the soft heap limit when GOMEMLIMIT is not set: the garbage collector works
// harder instead of letting the heap double, so 100,000 users plan well under 256 MB
// (docs/benchmarks.md).
const memoryLimit = 192 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
