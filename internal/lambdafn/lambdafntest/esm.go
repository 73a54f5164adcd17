// Package lambdafntest drives Lambda handlers from SQS queues in process, as the Lambda event
// source mapping does: receive a batch, invoke the function with the SQS event's JSON, delete
// what it did not report as failed. Tests and benchmarks run the keycycle engine on the
// sandbox's SQS with it; no AWS is needed.
package lambdafntest

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Invoke is a Lambda function's handler: the event's JSON in, its answer out.
type Invoke func(ctx context.Context, event json.RawMessage) (any, error)

// Mapping is one event source mapping: a queue, a batch size and a function.
type Mapping struct {
	SQS      *sqs.Client
	QueueURL string
	// QueueARN and Region go into the records as eventSourceARN and awsRegion.
	QueueARN, Region string
	// BatchSize is the most records per invocation (1 to 10; default 10).
	BatchSize int
	Invoke    Invoke
	// Before, when set, is called before each invocation with its records (a test's hook to
	// count, time or fail them).
	Before func(records []events.SQSMessage)
}

// Stats is what a Drain did.
type Stats struct {
	Invocations int
	// Handled records were deleted; Failed were reported as batch item failures (or the whole
	// invocation failed) and stay on the queue until their visibility timeout.
	Handled, Failed int
}

// Drain receives and invokes until the queue has no visible message, and returns what it did.
// Failed records stay in flight (their visibility timeout runs on the queue's clock); a later
// Drain, after that timeout, receives them again, and SQS's redrive policy moves them to the
// dead-letter queue after maxReceiveCount receives.
func (m *Mapping) Drain(ctx context.Context) (Stats, error) {
	var st Stats
	n := m.BatchSize
	if n <= 0 || n > 10 {
		n = 10
	}
	for {
		out, err := m.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(m.QueueURL),
			MaxNumberOfMessages: int32(n), MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}})
		if err != nil {
			return st, fmt.Errorf("receive from %s: %w", m.QueueURL, err)
		}
		if len(out.Messages) == 0 {
			return st, nil
		}
		ev := events.SQSEvent{}
		for _, msg := range out.Messages {
			ev.Records = append(ev.Records, events.SQSMessage{
				MessageId: aws.ToString(msg.MessageId), ReceiptHandle: aws.ToString(msg.ReceiptHandle),
				Body: aws.ToString(msg.Body), Md5OfBody: aws.ToString(msg.MD5OfBody), Attributes: msg.Attributes,
				EventSource: "aws:sqs", EventSourceARN: m.QueueARN, AWSRegion: m.Region,
			})
		}
		if m.Before != nil {
			m.Before(ev.Records)
		}
		raw, err := json.Marshal(ev)
		if err != nil {
			return st, err
		}
		st.Invocations++
		res, err := m.Invoke(ctx, raw)
		failed := map[string]bool{}
		if err != nil {
			for _, r := range ev.Records {
				failed[r.MessageId] = true
			}
		} else if resp, ok := res.(events.SQSEventResponse); ok {
			for _, f := range resp.BatchItemFailures {
				failed[f.ItemIdentifier] = true
			}
		}
		// The event source mapping deletes what the function handled in one DeleteMessageBatch.
		del := &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(m.QueueURL)}
		for i, msg := range out.Messages {
			if failed[aws.ToString(msg.MessageId)] {
				st.Failed++
				continue
			}
			st.Handled++
			del.Entries = append(del.Entries, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: msg.ReceiptHandle})
		}
		if len(del.Entries) > 0 {
			out, err := m.SQS.DeleteMessageBatch(ctx, del)
			if err != nil {
				return st, fmt.Errorf("delete from %s: %w", m.QueueURL, err)
			}
			if len(out.Failed) > 0 {
				return st, fmt.Errorf("delete from %s: %s: %s", m.QueueURL, aws.ToString(out.Failed[0].Code), aws.ToString(out.Failed[0].Message))
			}
		}
	}
}

// ReceiveCount is a record's ApproximateReceiveCount (0 when absent).
func ReceiveCount(r events.SQSMessage) int {
	n, _ := strconv.Atoi(r.Attributes["ApproximateReceiveCount"])
	return n
}
