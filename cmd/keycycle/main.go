// Command keycycle rotates AWS IAM user credentials safely. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/keycycle/keycycle/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
