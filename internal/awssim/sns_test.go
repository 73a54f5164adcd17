package awssim_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
)

func snsClient(t *testing.T) (*awssimtest.Sandbox, *sns.Client) {
	t.Helper()
	sb, cfg := awssimtest.Start(t)
	return sb, sns.NewFromConfig(cfg)
}

func createTopic(t *testing.T, c *sns.Client, in *sns.CreateTopicInput) string {
	t.Helper()
	out, err := c.CreateTopic(context.Background(), in)
	if err != nil {
		t.Fatalf("create topic %s: %v", aws.ToString(in.Name), err)
	}
	return aws.ToString(out.TopicArn)
}

func TestSNSCreateTopicIsIdempotentAndListed(t *testing.T) {
	ctx := context.Background()
	sb, c := snsClient(t)
	arn := createTopic(t, c, &sns.CreateTopicInput{Name: aws.String("keycycle-results"), Attributes: map[string]string{"DisplayName": "keycycle"}})
	if arn != "arn:aws:sns:us-east-1:111111111111:keycycle-results" {
		t.Fatalf("arn = %s", arn)
	}
	if again := createTopic(t, c, &sns.CreateTopicInput{Name: aws.String("keycycle-results")}); again != arn {
		t.Fatalf("second create = %s", again)
	}
	_, err := c.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("keycycle-results"), Attributes: map[string]string{"DisplayName": "other"}})
	var inv *snstypes.InvalidParameterException
	if !errors.As(err, &inv) {
		t.Fatalf("different attributes: want InvalidParameter, got %v", err)
	}
	for _, bad := range []*sns.CreateTopicInput{
		{Name: aws.String("has space")},
		{Name: aws.String("x.fifo")},
		{Name: aws.String("nofifo"), Attributes: map[string]string{"FifoTopic": "true"}},
		{Name: aws.String("t"), Attributes: map[string]string{"Colour": "blue"}},
	} {
		if _, err := c.CreateTopic(ctx, bad); !errors.As(err, &inv) {
			t.Fatalf("%s: want InvalidParameter, got %v", aws.ToString(bad.Name), err)
		}
	}
	for i := range 150 {
		createTopic(t, c, &sns.CreateTopicInput{Name: aws.String(fmt.Sprintf("t%03d", i))})
	}
	var arns []string
	p := sns.NewListTopicsPaginator(c, &sns.ListTopicsInput{})
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, tp := range page.Topics {
			arns = append(arns, aws.ToString(tp.TopicArn))
		}
	}
	if pages != 2 || len(arns) != 151 || arns[0] != arn {
		t.Fatalf("%d pages, %d topics, first %s", pages, len(arns), arns[0])
	}
	_, err = c.ListTopics(ctx, &sns.ListTopicsInput{NextToken: aws.String("garbage")})
	if !errors.As(err, &inv) {
		t.Fatalf("bad token: want InvalidParameter, got %v", err)
	}
	// Topics are per region and per account.
	west := sns.NewFromConfig(sb.AccountConfig(t, "111111111111"), func(o *sns.Options) { o.Region = "eu-west-1" })
	if out, err := west.ListTopics(ctx, &sns.ListTopicsInput{}); err != nil || len(out.Topics) != 0 {
		t.Fatalf("eu-west-1 topics = %+v, %v", out, err)
	}
	if _, err := c.DeleteTopic(ctx, &sns.DeleteTopicInput{TopicArn: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteTopic(ctx, &sns.DeleteTopicInput{TopicArn: aws.String(arn)}); err != nil {
		t.Fatalf("deleting a deleted topic succeeds in SNS: %v", err)
	}
}

func TestSNSPublishRecordsOutbox(t *testing.T) {
	ctx := context.Background()
	sb, c := snsClient(t)
	arn := createTopic(t, c, &sns.CreateTopicInput{Name: aws.String("keycycle-results")})
	out, err := c.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(arn), Subject: aws.String("keycycle: bob rotated"),
		Message: aws.String(`{"user":"bob","outcome":"rotated"}`),
		MessageAttributes: map[string]snstypes.MessageAttributeValue{
			"account": {DataType: aws.String("String"), StringValue: aws.String("111111111111")},
			"count":   {DataType: aws.String("Number"), StringValue: aws.String("3")},
			"blob":    {DataType: aws.String("Binary"), BinaryValue: []byte{1, 2, 3}},
		}})
	if err != nil || out.MessageId == nil || out.SequenceNumber != nil {
		t.Fatalf("Publish = %+v, %v", out, err)
	}
	var ob awssim.Outbox
	adminJSON(t, sb, "GET", "/_sandbox/outbox", "", http.StatusOK, &ob)
	if len(ob.SNS) != 1 {
		t.Fatalf("outbox sns = %+v", ob.SNS)
	}
	m := ob.SNS[0]
	if m.Account != "111111111111" || m.Region != "us-east-1" || m.TopicARN != arn || m.Subject != "keycycle: bob rotated" ||
		m.Message != `{"user":"bob","outcome":"rotated"}` || m.MessageID != aws.ToString(out.MessageId) || !m.Time.Equal(awssim.DefaultStart) ||
		m.Attributes["account"].StringValue != "111111111111" || m.Attributes["count"].DataType != "Number" ||
		string(m.Attributes["blob"].BinaryValue) != "\x01\x02\x03" {
		t.Fatalf("outbox entry = %+v", m)
	}
	adminJSON(t, sb, "POST", "/_sandbox/outbox/reset", "", http.StatusOK, &ob)
	if len(ob.SNS) != 0 || len(sb.Outbox().SNS) != 0 {
		t.Fatalf("after outbox reset: %+v", ob.SNS)
	}
}

func TestSNSPublishRefusesWhatSNSRefuses(t *testing.T) {
	ctx := context.Background()
	sb, c := snsClient(t)
	arn := createTopic(t, c, &sns.CreateTopicInput{Name: aws.String("results")})
	var nf *snstypes.NotFoundException
	if _, err := c.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(arn + "-gone"), Message: aws.String("m")}); !errors.As(err, &nf) {
		t.Fatalf("unknown topic: want NotFound, got %v", err)
	}
	var inv *snstypes.InvalidParameterException
	for name, in := range map[string]*sns.PublishInput{
		"empty message":   {TopicArn: aws.String(arn), Message: aws.String("")},
		"too long":        {TopicArn: aws.String(arn), Message: aws.String(strings.Repeat("x", 262145))},
		"subject newline": {TopicArn: aws.String(arn), Message: aws.String("m"), Subject: aws.String("a\nb")},
		"long subject":    {TopicArn: aws.String(arn), Message: aws.String("m"), Subject: aws.String(strings.Repeat("s", 101))},
		"bad arn":         {TopicArn: aws.String("results"), Message: aws.String("m")},
		"other region":    {TopicArn: aws.String("arn:aws:sns:eu-west-1:111111111111:results"), Message: aws.String("m")},
		"no default":      {TopicArn: aws.String(arn), Message: aws.String(`{"email":"x"}`), MessageStructure: aws.String("json")},
		"dedup standard":  {TopicArn: aws.String(arn), Message: aws.String("m"), MessageDeduplicationId: aws.String("d")},
	} {
		if _, err := c.Publish(ctx, in); !errors.As(err, &inv) {
			t.Fatalf("%s: want InvalidParameter, got %v", name, err)
		}
	}
	_, err := c.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(arn), Message: aws.String("m"),
		MessageAttributes: map[string]snstypes.MessageAttributeValue{"a": {DataType: aws.String("Date"), StringValue: aws.String("x")}}})
	var pvi *snstypes.InvalidParameterValueException
	if !errors.As(err, &pvi) {
		t.Fatalf("bad attribute type: want ParameterValueInvalid, got %v", err)
	}
	// 256 KB exactly is fine.
	if _, err := c.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(arn), Message: aws.String(strings.Repeat("x", 262144))}); err != nil {
		t.Fatalf("256 KB message: %v", err)
	}
	// Another account's topic: no topic policies in the sandbox.
	other := sns.NewFromConfig(sb.AccountConfig(t, "222222222222"))
	_, err = other.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(arn), Message: aws.String("m")})
	var authz *snstypes.AuthorizationErrorException
	if !errors.As(err, &authz) {
		t.Fatalf("cross-account: want AuthorizationError, got %v", err)
	}
	if n := len(sb.Outbox().SNS); n != 1 {
		t.Fatalf("outbox has %d messages, want the one accepted", n)
	}
}

func TestSNSFifoTopicDeduplicates(t *testing.T) {
	ctx := context.Background()
	sb, c := snsClient(t)
	arn := createTopic(t, c, &sns.CreateTopicInput{Name: aws.String("results.fifo"), Attributes: map[string]string{"FifoTopic": "true"}})
	var inv *snstypes.InvalidParameterException
	if _, err := c.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(arn), Message: aws.String("m"), MessageDeduplicationId: aws.String("d1")}); !errors.As(err, &inv) {
		t.Fatalf("no group: want InvalidParameter, got %v", err)
	}
	if _, err := c.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(arn), Message: aws.String("m"), MessageGroupId: aws.String("g")}); !errors.As(err, &inv) {
		t.Fatalf("no dedup id without content-based dedup: want InvalidParameter, got %v", err)
	}
	in := &sns.PublishInput{TopicArn: aws.String(arn), Message: aws.String("m"), MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("d1")}
	first, err := c.Publish(ctx, in)
	if err != nil || first.SequenceNumber == nil {
		t.Fatalf("first = %+v, %v", first, err)
	}
	dup, err := c.Publish(ctx, in)
	if err != nil || aws.ToString(dup.MessageId) != aws.ToString(first.MessageId) || aws.ToString(dup.SequenceNumber) != aws.ToString(first.SequenceNumber) {
		t.Fatalf("duplicate = %+v, %v", dup, err)
	}
	sb.Clock().Advance(5 * time.Minute)
	later, err := c.Publish(ctx, in)
	if err != nil || aws.ToString(later.MessageId) == aws.ToString(first.MessageId) || aws.ToString(later.SequenceNumber) <= aws.ToString(first.SequenceNumber) {
		t.Fatalf("after the window = %+v, %v", later, err)
	}
	if ob := sb.Outbox(); len(ob.SNS) != 2 || ob.SNS[0].MessageGroupID != "g" {
		t.Fatalf("outbox = %+v", ob.SNS)
	}
}

func TestSNSGetTopicAttributes(t *testing.T) {
	ctx := context.Background()
	_, c := snsClient(t)
	arn := createTopic(t, c, &sns.CreateTopicInput{Name: aws.String("keycycle-results"), Attributes: map[string]string{"DisplayName": "keycycle"}})
	out, err := c.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	if out.Attributes["TopicArn"] != arn || out.Attributes["Owner"] != "111111111111" || out.Attributes["DisplayName"] != "keycycle" ||
		out.Attributes["SubscriptionsConfirmed"] != "0" {
		t.Fatalf("attributes = %v", out.Attributes)
	}
	_, err = c.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String("arn:aws:sns:us-east-1:111111111111:missing")})
	var nf *snstypes.NotFoundException
	if !errors.As(err, &nf) || nf.ErrorCode() != "NotFound" {
		t.Fatalf("missing topic: want NotFound, got %v", err)
	}
	_, err = c.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String("not-an-arn")})
	var inv *snstypes.InvalidParameterException
	if !errors.As(err, &inv) {
		t.Fatalf("bad ARN: want InvalidParameter, got %v", err)
	}
}
