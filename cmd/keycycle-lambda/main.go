// Command keycycle-lambda is keycycle's AWS Lambda function: schedule, SQS worker and force
// requests in one handler (internal/lambdafn), configured from its environment.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keycycle/keycycle/internal/lambdafn"
)

func main() {
	h, err := lambdafn.FromEnv(context.Background(), os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "keycycle-lambda: %v\n", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
