package awssim_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
)

func sqsClient(t *testing.T) (*awssimtest.Sandbox, *sqs.Client) {
	t.Helper()
	sb, cfg := awssimtest.Start(t)
	return sb, sqs.NewFromConfig(cfg)
}

func createQueue(t *testing.T, c *sqs.Client, name string, attrs map[string]string) string {
	t.Helper()
	out, err := c.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatalf("CreateQueue %s: %v", name, err)
	}
	return aws.ToString(out.QueueUrl)
}

func send(t *testing.T, c *sqs.Client, in *sqs.SendMessageInput) *sqs.SendMessageOutput {
	t.Helper()
	out, err := c.SendMessage(context.Background(), in)
	if err != nil {
		t.Fatalf("SendMessage %s: %v", aws.ToString(in.MessageBody), err)
	}
	return out
}

func receive(t *testing.T, c *sqs.Client, url string, n int32) []sqstypes.Message {
	t.Helper()
	out, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: n,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}})
	if err != nil {
		t.Fatalf("ReceiveMessage: %v", err)
	}
	return out.Messages
}

func bodies(ms []sqstypes.Message) string {
	var b []string
	for _, m := range ms {
		b = append(b, aws.ToString(m.Body))
	}
	return strings.Join(b, ",")
}

func queueCounts(t *testing.T, c *sqs.Client, url string) string {
	t.Helper()
	out, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
	if err != nil {
		t.Fatal(err)
	}
	a := out.Attributes
	return a["ApproximateNumberOfMessages"] + "/" + a["ApproximateNumberOfMessagesNotVisible"] + "/" + a["ApproximateNumberOfMessagesDelayed"]
}

// wantSQSCode checks the query-compatible code the SDK reports (x-amzn-query-error).
func wantSQSCode(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Fatalf("want %s, got %v", code, err)
	}
}

func TestSQSQueuesAndAttributes(t *testing.T) {
	ctx := context.Background()
	sb, c := sqsClient(t)
	url := createQueue(t, c, "keycycle-work", map[string]string{"VisibilityTimeout": "60", "DelaySeconds": "0"})
	if url != sb.URL+"/111111111111/keycycle-work" {
		t.Fatalf("queue URL = %s", url)
	}
	// Idempotent with the same attributes, refused with different ones.
	if again := createQueue(t, c, "keycycle-work", map[string]string{"VisibilityTimeout": "60"}); again != url {
		t.Fatalf("second CreateQueue = %s", again)
	}
	_, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("keycycle-work"), Attributes: map[string]string{"VisibilityTimeout": "61"}})
	var exists *sqstypes.QueueNameExists
	if !errors.As(err, &exists) {
		t.Fatalf("different attributes: want QueueNameExists, got %v", err)
	}
	wantSQSCode(t, err, "QueueAlreadyExists")

	got, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("keycycle-work")})
	if err != nil || aws.ToString(got.QueueUrl) != url {
		t.Fatalf("GetQueueUrl = %+v, %v", got, err)
	}
	_, err = c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("nope")})
	var nq *sqstypes.QueueDoesNotExist
	if !errors.As(err, &nq) {
		t.Fatalf("unknown queue: want QueueDoesNotExist, got %v", err)
	}
	wantSQSCode(t, err, "AWS.SimpleQueueService.NonExistentQueue")

	attrs, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
	if err != nil {
		t.Fatal(err)
	}
	a := attrs.Attributes
	if a["QueueArn"] != "arn:aws:sqs:us-east-1:111111111111:keycycle-work" || a["VisibilityTimeout"] != "60" ||
		a["MessageRetentionPeriod"] != "345600" || a["ApproximateNumberOfMessages"] != "0" || a["CreatedTimestamp"] == "" ||
		a["FifoQueue"] != "" || a["ContentBasedDeduplication"] != "" {
		t.Fatalf("attributes = %v", a)
	}
	one, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil || len(one.Attributes) != 1 {
		t.Fatalf("QueueArn only = %v, %v", one.Attributes, err)
	}

	for _, tc := range []struct {
		attrs map[string]string
		want  any
	}{
		{map[string]string{"VisibilityTimeout": "43201"}, new(*sqstypes.InvalidAttributeValue)},
		{map[string]string{"Bogus": "1"}, new(*sqstypes.InvalidAttributeName)},
		{map[string]string{"ContentBasedDeduplication": "true"}, new(*sqstypes.InvalidAttributeName)}, // FIFO only
	} {
		_, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("bad"), Attributes: tc.attrs})
		if !errors.As(err, tc.want) {
			t.Errorf("CreateQueue %v: want %T, got %v", tc.attrs, tc.want, err)
		}
	}
	_, err = c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("work.fifo")})
	wantSQSCode(t, err, "InvalidParameterValue") // .fifo names are for FIFO queues
	_, err = c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("work"), Attributes: map[string]string{"FifoQueue": "true"}})
	wantSQSCode(t, err, "InvalidParameterValue") // FIFO queues end in .fifo

	if _, err := c.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(url), Attributes: map[string]string{"DelaySeconds": "5"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(url), Attributes: map[string]string{"FifoQueue": "true"}}); err == nil {
		t.Fatal("SetQueueAttributes FifoQueue: want an error")
	}

	// Per account and region: the same name elsewhere is another queue; another account's URL
	// is refused.
	west := sqs.NewFromConfig(sb.Config(mustCred(t, sb, "111111111111")), func(o *sqs.Options) { o.Region = "eu-west-1" })
	if _, err := west.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("keycycle-work")}); !errors.As(err, &nq) {
		t.Fatalf("other region: want QueueDoesNotExist, got %v", err)
	}
	westURL := createQueue(t, west, "keycycle-work", nil)
	wa, err := west.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(westURL), AttributeNames: []sqstypes.QueueAttributeName{"QueueArn", "DelaySeconds"}})
	if err != nil || wa.Attributes["QueueArn"] != "arn:aws:sqs:eu-west-1:111111111111:keycycle-work" || wa.Attributes["DelaySeconds"] != "0" {
		t.Fatalf("eu-west-1 queue = %v, %v", wa, err)
	}
	other := sqs.NewFromConfig(sb.AccountConfig(t, "222222222222"))
	_, err = other.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("x")})
	wantSQSCode(t, err, "AccessDenied")

	// ListQueues with and without pages.
	for _, n := range []string{"a-1", "a-2", "a-3"} {
		createQueue(t, c, n, nil)
	}
	lq, err := c.ListQueues(ctx, &sqs.ListQueuesInput{QueueNamePrefix: aws.String("a-")})
	if err != nil || len(lq.QueueUrls) != 3 || lq.NextToken != nil {
		t.Fatalf("ListQueues = %+v, %v", lq, err)
	}
	var seen []string
	p := sqs.NewListQueuesPaginator(c, &sqs.ListQueuesInput{MaxResults: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, page.QueueUrls...)
	}
	if len(seen) != 4 {
		t.Fatalf("paged ListQueues = %v", seen)
	}

	// DeleteQueue; the name is blocked for 60 s of sandbox time.
	if _, err := c.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(url)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("keycycle-work")})
	var recently *sqstypes.QueueDeletedRecently
	if !errors.As(err, &recently) {
		t.Fatalf("recreate at once: want QueueDeletedRecently, got %v", err)
	}
	sb.Clock().Advance(61 * time.Second)
	createQueue(t, c, "keycycle-work", nil)
}

func mustCred(t *testing.T, sb *awssimtest.Sandbox, acct string) (string, string, string) {
	t.Helper()
	cred, ok := sb.OperatorCredential(acct)
	if !ok {
		t.Fatalf("no account %s", acct)
	}
	return cred.AccessKeyID, cred.SecretAccessKey, ""
}

func TestSQSStandardVisibilityDelayAndDelete(t *testing.T) {
	ctx := context.Background()
	sb, c := sqsClient(t)
	clock := sb.Clock()
	url := createQueue(t, c, "work", map[string]string{"VisibilityTimeout": "30"})

	out := send(t, c, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(`{"user_name":"alice","force":"true"}`),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			"origin": {DataType: aws.String("String"), StringValue: aws.String("scanner")},
			"blob":   {DataType: aws.String("Binary"), BinaryValue: []byte{0, 1, 2}},
		}})
	if len(aws.ToString(out.MessageId)) != 36 || out.MD5OfMessageAttributes == nil || out.SequenceNumber != nil {
		t.Fatalf("SendMessage = %+v", out)
	}
	send(t, c, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("later"), DelaySeconds: 10})
	if got := queueCounts(t, c, url); got != "1/0/1" {
		t.Fatalf("counts after sends = %s, want 1/0/1 (visible/in flight/delayed)", got)
	}

	r, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount, sqstypes.MessageSystemAttributeNameSenderId},
		MessageAttributeNames:       []string{"All"}, WaitTimeSeconds: 20})
	if err != nil || len(r.Messages) != 1 {
		t.Fatalf("first receive = %+v, %v", r, err)
	}
	m := r.Messages[0]
	if aws.ToString(m.MessageId) != aws.ToString(out.MessageId) || m.Attributes["ApproximateReceiveCount"] != "1" ||
		m.Attributes["SenderId"] != "111111111111" || m.Attributes["SentTimestamp"] != "" ||
		aws.ToString(m.MessageAttributes["origin"].StringValue) != "scanner" || string(m.MessageAttributes["blob"].BinaryValue) != "\x00\x01\x02" ||
		aws.ToString(m.MD5OfMessageAttributes) != aws.ToString(out.MD5OfMessageAttributes) {
		t.Fatalf("message = %+v", m)
	}
	if got := queueCounts(t, c, url); got != "0/1/1" {
		t.Fatalf("counts in flight = %s", got)
	}
	if ms := receive(t, c, url, 10); len(ms) != 0 {
		t.Fatalf("in flight and delayed messages were received: %s", bodies(ms))
	}

	// Visibility and delay run on the sandbox clock.
	clock.Advance(10 * time.Second)
	if ms := receive(t, c, url, 10); bodies(ms) != "later" {
		t.Fatalf("after 10 s: %q", bodies(ms))
	}
	clock.Advance(20 * time.Second)
	again := receive(t, c, url, 10)
	if len(again) != 1 || aws.ToString(again[0].MessageId) != aws.ToString(out.MessageId) || again[0].Attributes["ApproximateReceiveCount"] != "2" {
		t.Fatalf("after the visibility timeout: %+v", again)
	}
	// The first receipt handle is stale now: a standard queue accepts it and deletes nothing.
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
		t.Fatalf("stale handle: %v", err)
	}
	if got := queueCounts(t, c, url); got != "0/2/0" {
		t.Fatalf("counts after a stale delete = %s", got)
	}
	// ChangeMessageVisibility: 0 makes it visible at once.
	if _, err := c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: again[0].ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		t.Fatal(err)
	}
	third := receive(t, c, url, 1)
	if len(third) != 1 || third[0].Attributes["ApproximateReceiveCount"] != "3" {
		t.Fatalf("after visibility 0: %+v", third)
	}
	_, err = c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: again[0].ReceiptHandle, VisibilityTimeout: 5})
	var notInflight *sqstypes.MessageNotInflight
	if !errors.As(err, &notInflight) {
		t.Fatalf("stale handle visibility: want MessageNotInflight, got %v", err)
	}
	wantSQSCode(t, err, "AWS.SimpleQueueService.MessageNotInflight")
	if _, err := c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: third[0].ReceiptHandle, VisibilityTimeout: 43200}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	_, err = c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: third[0].ReceiptHandle, VisibilityTimeout: 43200})
	wantSQSCode(t, err, "InvalidParameterValue") // beyond 12 h since the receive

	for _, h := range []*string{third[0].ReceiptHandle, third[0].ReceiptHandle} { // twice: deleting again succeeds
		if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: h}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: aws.String("not-a-handle")})
	var badHandle *sqstypes.ReceiptHandleIsInvalid
	if !errors.As(err, &badHandle) {
		t.Fatalf("bogus handle: want ReceiptHandleIsInvalid, got %v", err)
	}
	if got := queueCounts(t, c, url); got != "1/0/0" {
		t.Fatalf("counts at the end = %s (the 'later' message's visibility lapsed)", got)
	}

	_, err = c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 11})
	wantSQSCode(t, err, "InvalidParameterValue")
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("bad \x00 char")})
	var contents *sqstypes.InvalidMessageContents
	if !errors.As(err, &contents) {
		t.Fatalf("NUL in body: want InvalidMessageContents, got %v", err)
	}
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("x"), MessageDeduplicationId: aws.String("d")})
	wantSQSCode(t, err, "InvalidParameterValue")

	// Retention, on the sandbox clock too.
	short := createQueue(t, c, "short", map[string]string{"MessageRetentionPeriod": "60"})
	send(t, c, &sqs.SendMessageInput{QueueUrl: aws.String(short), MessageBody: aws.String("expires")})
	clock.Advance(61 * time.Second)
	if ms := receive(t, c, short, 10); len(ms) != 0 {
		t.Fatalf("expired message received: %s", bodies(ms))
	}

	// PurgeQueue drops everything; a second purge within 60 s is refused.
	send(t, c, &sqs.SendMessageInput{QueueUrl: aws.String(short), MessageBody: aws.String("p")})
	if _, err := c.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(short)}); err != nil {
		t.Fatal(err)
	}
	var inProgress *sqstypes.PurgeQueueInProgress
	if _, err := c.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(short)}); !errors.As(err, &inProgress) {
		t.Fatalf("second purge: want PurgeQueueInProgress, got %v", err)
	}
	if got := queueCounts(t, c, short); got != "0/0/0" {
		t.Fatalf("after purge = %s", got)
	}
}

func TestSQSFifoOrderingExclusivityAndDedup(t *testing.T) {
	ctx := context.Background()
	sb, c := sqsClient(t)
	clock := sb.Clock()
	url := createQueue(t, c, "work.fifo", map[string]string{"FifoQueue": "true", "VisibilityTimeout": "30"})

	sendG := func(body, group, dedup string) *sqs.SendMessageOutput {
		return send(t, c, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body),
			MessageGroupId: aws.String(group), MessageDeduplicationId: aws.String(dedup)})
	}
	a1 := sendG("a1", "alice", "a1")
	sendG("a2", "alice", "a2")
	sendG("b1", "bob", "b1")
	sendG("a3", "alice", "a3")
	sendG("b2", "bob", "b2")
	if a1.SequenceNumber == nil || len(aws.ToString(a1.SequenceNumber)) != 20 {
		t.Fatalf("SequenceNumber = %v", a1.SequenceNumber)
	}

	// A duplicate within 5 minutes is accepted, answers the first id, and is not enqueued.
	dup := sendG("a1 again", "alice", "a1")
	if aws.ToString(dup.MessageId) != aws.ToString(a1.MessageId) || aws.ToString(dup.SequenceNumber) != aws.ToString(a1.SequenceNumber) {
		t.Fatalf("duplicate = %+v, want the first send's id", dup)
	}

	// Within a group, order; a group with a message in flight gives nothing more.
	first := receive(t, c, url, 2)
	if bodies(first) != "a1,a2" {
		t.Fatalf("first receive = %s, want a1,a2", bodies(first))
	}
	if first[0].Attributes["MessageGroupId"] != "alice" || first[0].Attributes["MessageDeduplicationId"] != "a1" ||
		first[0].Attributes["SequenceNumber"] != aws.ToString(a1.SequenceNumber) {
		t.Fatalf("FIFO attributes = %v", first[0].Attributes)
	}
	second := receive(t, c, url, 10)
	if bodies(second) != "b1,b2" {
		t.Fatalf("second receive = %s, want bob's only (alice is in flight)", bodies(second))
	}
	if ms := receive(t, c, url, 10); len(ms) != 0 {
		t.Fatalf("both groups in flight, yet received %s", bodies(ms))
	}
	// Deleting a1 leaves a2 in flight: alice stays blocked.
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: first[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	if ms := receive(t, c, url, 10); len(ms) != 0 {
		t.Fatalf("alice has a2 in flight, yet received %s", bodies(ms))
	}
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: first[1].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	if ms := receive(t, c, url, 10); bodies(ms) != "a3" {
		t.Fatalf("after alice's deletes: %s, want a3", bodies(ms))
	}
	// bob's visibility lapses: b1 comes back first, in order, and its old handle has expired.
	clock.Advance(31 * time.Second)
	if ms := receive(t, c, url, 10); bodies(ms) != "b1,b2,a3" {
		t.Fatalf("after the visibility timeout: %s, want b1,b2,a3", bodies(ms))
	}
	_, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: second[0].ReceiptHandle})
	wantSQSCode(t, err, "InvalidParameterValue")

	// Group and deduplication are required on a FIFO queue without content-based deduplication.
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("x"), MessageDeduplicationId: aws.String("x")})
	wantSQSCode(t, err, "MissingParameter")
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("x"), MessageGroupId: aws.String("g")})
	wantSQSCode(t, err, "InvalidParameterValue")
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("x"), MessageGroupId: aws.String("g"),
		MessageDeduplicationId: aws.String("x"), DelaySeconds: 5})
	wantSQSCode(t, err, "InvalidParameterValue") // per-message delays are for standard queues

	// Content-based deduplication: the body's SHA-256; the window is 5 minutes of sandbox time.
	cb := createQueue(t, c, "cb.fifo", map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true"})
	m1 := send(t, c, &sqs.SendMessageInput{QueueUrl: aws.String(cb), MessageBody: aws.String(`{"user_name":"bob"}`), MessageGroupId: aws.String("g")})
	m2 := send(t, c, &sqs.SendMessageInput{QueueUrl: aws.String(cb), MessageBody: aws.String(`{"user_name":"bob"}`), MessageGroupId: aws.String("g")})
	if aws.ToString(m1.MessageId) != aws.ToString(m2.MessageId) {
		t.Fatal("content-based duplicate got a new message id")
	}
	clock.Advance(5 * time.Minute)
	m3 := send(t, c, &sqs.SendMessageInput{QueueUrl: aws.String(cb), MessageBody: aws.String(`{"user_name":"bob"}`), MessageGroupId: aws.String("g")})
	if aws.ToString(m3.MessageId) == aws.ToString(m1.MessageId) {
		t.Fatal("a send after the 5-minute window was deduplicated")
	}
	if ms := receive(t, c, cb, 10); len(ms) != 2 {
		t.Fatalf("content-based queue holds %d messages, want 2", len(ms))
	}

	// The outbox records every send, duplicates marked.
	type outboxSQS struct {
		QueueURL     string `json:"queue_url"`
		Body         string `json:"body"`
		GroupID      string `json:"group_id"`
		DedupID      string `json:"dedup_id"`
		MessageID    string `json:"message_id"`
		Deduplicated bool   `json:"deduplicated"`
		Account      string `json:"account"`
		Region       string `json:"region"`
	}
	var entries []outboxSQS
	for _, raw := range sb.Outbox().SQS {
		var e outboxSQS
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	if len(entries) != 9 {
		t.Fatalf("outbox holds %d SQS sends, want 9", len(entries))
	}
	d := entries[5]
	if d.Body != "a1 again" || !d.Deduplicated || d.MessageID != aws.ToString(a1.MessageId) || d.GroupID != "alice" || d.DedupID != "a1" ||
		d.QueueURL != url || d.Account != "111111111111" || d.Region != "us-east-1" {
		t.Fatalf("outbox duplicate entry = %+v", d)
	}
}

func TestSQSRedriveToDeadLetterQueue(t *testing.T) {
	ctx := context.Background()
	sb, c := sqsClient(t)
	clock := sb.Clock()
	dlq := createQueue(t, c, "work-dlq", nil)
	_, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("work"), Attributes: map[string]string{
		"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:111111111111:missing","maxReceiveCount":"2"}`}})
	wantSQSCode(t, err, "InvalidParameterValue")
	fifoDLQ := createQueue(t, c, "dlq.fifo", map[string]string{"FifoQueue": "true"})
	_, err = c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("work"), Attributes: map[string]string{
		"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:111111111111:dlq.fifo","maxReceiveCount":2}`}})
	wantSQSCode(t, err, "InvalidParameterValue") // a standard queue's DLQ is standard

	url := createQueue(t, c, "work", map[string]string{"VisibilityTimeout": "30",
		"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:111111111111:work-dlq","maxReceiveCount":2}`})
	sent := send(t, c, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("poison")})
	for i := 1; i <= 2; i++ {
		ms := receive(t, c, url, 1)
		if len(ms) != 1 || ms[0].Attributes["ApproximateReceiveCount"] != fmt.Sprint(i) {
			t.Fatalf("receive %d = %+v", i, ms)
		}
		clock.Advance(31 * time.Second)
	}
	// The third receive would exceed maxReceiveCount 2: the message moves to the DLQ instead.
	if ms := receive(t, c, url, 1); len(ms) != 0 {
		t.Fatalf("third receive returned %s", bodies(ms))
	}
	if got := queueCounts(t, c, url); got != "0/0/0" {
		t.Fatalf("source after redrive = %s", got)
	}
	ms := receive(t, c, dlq, 10)
	if len(ms) != 1 || aws.ToString(ms[0].MessageId) != aws.ToString(sent.MessageId) || aws.ToString(ms[0].Body) != "poison" ||
		ms[0].Attributes["DeadLetterQueueSourceArn"] != "arn:aws:sqs:us-east-1:111111111111:work" {
		t.Fatalf("DLQ = %+v", ms)
	}
	attrs, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{"RedrivePolicy"}})
	if err != nil || !strings.Contains(attrs.Attributes["RedrivePolicy"], "work-dlq") {
		t.Fatalf("RedrivePolicy = %v, %v", attrs, err)
	}

	// FIFO: the redriven head unblocks its group.
	src := createQueue(t, c, "src.fifo", map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true", "VisibilityTimeout": "30",
		"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:111111111111:dlq.fifo","maxReceiveCount":1}`})
	for _, b := range []string{"g1", "g2"} {
		send(t, c, &sqs.SendMessageInput{QueueUrl: aws.String(src), MessageBody: aws.String(b), MessageGroupId: aws.String("g")})
	}
	if ms := receive(t, c, src, 1); bodies(ms) != "g1" {
		t.Fatalf("FIFO first = %s", bodies(ms))
	}
	clock.Advance(31 * time.Second)
	if ms := receive(t, c, src, 1); bodies(ms) != "g2" {
		t.Fatalf("FIFO after redrive of g1 = %s, want g2", bodies(ms))
	}
	if ms := receive(t, c, fifoDLQ, 10); bodies(ms) != "g1" || ms[0].Attributes["MessageGroupId"] != "g" {
		t.Fatalf("FIFO DLQ = %+v", ms)
	}
}

func TestSQSBatches(t *testing.T) {
	ctx := context.Background()
	_, c := sqsClient(t)
	url := createQueue(t, c, "batch", nil)

	out, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: []sqstypes.SendMessageBatchRequestEntry{
		{Id: aws.String("one"), MessageBody: aws.String("1")},
		{Id: aws.String("two"), MessageBody: aws.String("2"), DelaySeconds: 901},
		{Id: aws.String("three"), MessageBody: aws.String("3")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Successful) != 2 || len(out.Failed) != 1 || aws.ToString(out.Failed[0].Id) != "two" || !out.Failed[0].SenderFault ||
		aws.ToString(out.Failed[0].Code) != "InvalidParameterValue" {
		t.Fatalf("SendMessageBatch = %+v", out)
	}
	for _, tc := range []struct {
		entries []sqstypes.SendMessageBatchRequestEntry
		code    string
	}{
		{[]sqstypes.SendMessageBatchRequestEntry{}, "AWS.SimpleQueueService.EmptyBatchRequest"},
		{[]sqstypes.SendMessageBatchRequestEntry{{Id: aws.String("a"), MessageBody: aws.String("x")}, {Id: aws.String("a"), MessageBody: aws.String("y")}},
			"AWS.SimpleQueueService.BatchEntryIdsNotDistinct"},
		{[]sqstypes.SendMessageBatchRequestEntry{{Id: aws.String("a b"), MessageBody: aws.String("x")}}, "AWS.SimpleQueueService.InvalidBatchEntryId"},
	} {
		_, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: tc.entries})
		wantSQSCode(t, err, tc.code)
	}
	eleven := make([]sqstypes.SendMessageBatchRequestEntry, 11)
	for i := range eleven {
		eleven[i] = sqstypes.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint("e", i)), MessageBody: aws.String("x")}
	}
	_, err = c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: eleven})
	var tooMany *sqstypes.TooManyEntriesInBatchRequest
	if !errors.As(err, &tooMany) {
		t.Fatalf("11 entries: want TooManyEntriesInBatchRequest, got %v", err)
	}

	ms := receive(t, c, url, 10)
	if bodies(ms) != "1,3" {
		t.Fatalf("received %s", bodies(ms))
	}
	del, err := c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: []sqstypes.DeleteMessageBatchRequestEntry{
		{Id: aws.String("a"), ReceiptHandle: ms[0].ReceiptHandle},
		{Id: aws.String("b"), ReceiptHandle: aws.String("bogus")},
		{Id: aws.String("c"), ReceiptHandle: ms[1].ReceiptHandle},
	}})
	if err != nil || len(del.Successful) != 2 || len(del.Failed) != 1 || aws.ToString(del.Failed[0].Code) != "ReceiptHandleIsInvalid" {
		t.Fatalf("DeleteMessageBatch = %+v, %v", del, err)
	}
	if got := queueCounts(t, c, url); got != "0/0/0" {
		t.Fatalf("after batch delete = %s", got)
	}
}

func TestSQSScenarioQueues(t *testing.T) {
	ctx := context.Background()
	sb, cfg := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, `
accounts:
  - id: "111111111111"
    queues:
      - {name: keycycle-dlq.fifo, attributes: {FifoQueue: "true"}}
      - name: keycycle-work.fifo
        attributes:
          FifoQueue: "true"
          ContentBasedDeduplication: "true"
          RedrivePolicy: '{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:111111111111:keycycle-dlq.fifo","maxReceiveCount":3}'
      - {name: results, region: eu-west-1}
`))
	c := sqs.NewFromConfig(cfg)
	got, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("keycycle-work.fifo")})
	if err != nil || aws.ToString(got.QueueUrl) != sb.URL+"/111111111111/keycycle-work.fifo" {
		t.Fatalf("GetQueueUrl = %+v, %v", got, err)
	}
	a, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: got.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{"All"}})
	if err != nil || a.Attributes["FifoQueue"] != "true" || a.Attributes["ContentBasedDeduplication"] != "true" || !strings.Contains(a.Attributes["RedrivePolicy"], "keycycle-dlq.fifo") {
		t.Fatalf("attributes = %v, %v", a, err)
	}
	west := sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.Region = "eu-west-1" })
	if _, err := west.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("results")}); err != nil {
		t.Fatal(err)
	}

	_, err = awssim.ParseScenario("q.yaml", []byte(`accounts:
  - id: "111111111111"
    queues:
      - {name: a, attributes: {VisibilityTimeout: "-1"}}
      - name: b
        attributes: {RedrivePolicy: '{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:111111111111:c","maxReceiveCount":3}'}
      - {name: c}
      - {name: c}
`))
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{
		"q.yaml:4: accounts[0].queues[0]: Invalid value for the parameter VisibilityTimeout.",
		"q.yaml:5: accounts[0].queues[1]: Value",
		"Dead letter target does not exist",
		`q.yaml:8: accounts[0].queues[3].name: queue "c" is listed twice in us-east-1`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func TestSQSDrainManyAndForeignHandles(t *testing.T) {
	ctx := context.Background()
	_, c := sqsClient(t)
	url := createQueue(t, c, "many", nil)
	other := createQueue(t, c, "other", nil)
	for b := 0; b < 30; b++ {
		entries := make([]sqstypes.SendMessageBatchRequestEntry, 10)
		for i := range entries {
			entries[i] = sqstypes.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint("m", i)), MessageBody: aws.String(fmt.Sprint(b*10 + i))}
		}
		if _, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for round := 0; ; round++ {
		ms := receive(t, c, url, 10)
		if len(ms) == 0 {
			break
		}
		if round == 0 {
			// A handle of one queue means nothing to another.
			_, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(other), ReceiptHandle: ms[0].ReceiptHandle})
			var bad *sqstypes.ReceiptHandleIsInvalid
			if !errors.As(err, &bad) {
				t.Fatalf("foreign handle: want ReceiptHandleIsInvalid, got %v", err)
			}
		}
		entries := make([]sqstypes.DeleteMessageBatchRequestEntry, len(ms))
		for i, m := range ms {
			if seen[aws.ToString(m.Body)] {
				t.Fatalf("message %s received twice", aws.ToString(m.Body))
			}
			seen[aws.ToString(m.Body)] = true
			entries[i] = sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint("d", i)), ReceiptHandle: m.ReceiptHandle}
		}
		out, err := c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
		if err != nil || len(out.Failed) != 0 {
			t.Fatalf("DeleteMessageBatch = %+v, %v", out, err)
		}
	}
	if len(seen) != 300 {
		t.Fatalf("drained %d messages, want 300", len(seen))
	}
	if got := queueCounts(t, c, url); got != "0/0/0" {
		t.Fatalf("after draining = %s", got)
	}
}
