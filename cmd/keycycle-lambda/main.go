// Command keycycle-lambda is keycycle's AWS Lambda function: schedule, SQS worker and force
// requests in one handler (internal/lambdafn), configured from its environment.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keycycle/keycycle/internal/lambdafn"
)

func main() {
	// A soft heap limit at 75% of the function's memory, unless GOMEMLIMIT says otherwise.
	if mb, err := strconv.Atoi(os.Getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")); err == nil && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(mb) << 20 * 3 / 4)
	}
	h, err := lambdafn.FromEnv(context.Background(), os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "keycycle-lambda: %v\n", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
