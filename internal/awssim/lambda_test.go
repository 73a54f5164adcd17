package awssim_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
)

const lambdaScenario = `
accounts:
  - id: "111111111111"
    functions:
      - {name: key-handler, response: '{"ok": true, "handled": 1}'}
      - {name: broken-handler, error: "secret store unreachable", error_type: ConnectionError}
      - {name: quiet}
      - {name: west-handler, region: eu-west-1}
  - id: "222222222222"
    functions:
      - {name: key-handler}
`

func lambdaClient(t *testing.T) (*awssimtest.Sandbox, *lambda.Client) {
	t.Helper()
	sb, cfg := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, lambdaScenario))
	return sb, lambda.NewFromConfig(cfg)
}

func TestLambdaInvokeRequestResponseAndOutbox(t *testing.T) {
	ctx := context.Background()
	sb, c := lambdaClient(t)
	payload := []byte(`{"username":"bob","secretName":"keycycle/bob","metadata":{"team":"data"}}`)
	out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("key-handler"), Payload: payload, LogType: lambdatypes.LogTypeTail})
	if err != nil {
		t.Fatal(err)
	}
	if out.StatusCode != http.StatusOK || out.FunctionError != nil || string(out.Payload) != `{"ok":true,"handled":1}` ||
		aws.ToString(out.ExecutedVersion) != "$LATEST" {
		t.Fatalf("Invoke = %d %v %s %v", out.StatusCode, out.FunctionError, out.Payload, out.ExecutedVersion)
	}
	logs, err := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
	if err != nil || !strings.Contains(string(logs), "START RequestId:") {
		t.Fatalf("LogResult = %q, %v", logs, err)
	}
	// By ARN (with $LATEST), by partial ARN, and with the Qualifier parameter.
	for _, in := range []*lambda.InvokeInput{
		{FunctionName: aws.String("arn:aws:lambda:us-east-1:111111111111:function:quiet:$LATEST"), Payload: []byte(`[1,2]`)},
		{FunctionName: aws.String("111111111111:function:quiet")},
		{FunctionName: aws.String("quiet"), Qualifier: aws.String("$LATEST"), Payload: []byte(`"text"`)},
	} {
		out, err := c.Invoke(ctx, in)
		if err != nil || out.StatusCode != http.StatusOK || string(out.Payload) != "null" {
			t.Fatalf("Invoke %s = %+v, %v", aws.ToString(in.FunctionName), out, err)
		}
	}

	var ob awssim.Outbox
	adminJSON(t, sb, "GET", "/_sandbox/outbox", "", http.StatusOK, &ob)
	if len(ob.Lambda) != 4 {
		t.Fatalf("outbox lambda = %+v", ob.Lambda)
	}
	first := ob.Lambda[0]
	var got, want any
	_ = json.Unmarshal(first.Payload, &got)
	_ = json.Unmarshal(payload, &want)
	if first.Account != "111111111111" || first.Region != "us-east-1" || first.Function != "key-handler" ||
		first.FunctionARN != "arn:aws:lambda:us-east-1:111111111111:function:key-handler" || first.InvocationType != "RequestResponse" ||
		!first.Time.Equal(awssim.DefaultStart) || !jsonEqual(got, want) {
		t.Fatalf("outbox entry = %+v", first)
	}
	if compactJSON(ob.Lambda[2].Payload) != "{}" || compactJSON(ob.Lambda[1].Payload) != "[1,2]" {
		t.Fatalf("payloads = %s, %s", ob.Lambda[1].Payload, ob.Lambda[2].Payload)
	}
	// Reset empties the outbox.
	adminJSON(t, sb, "POST", "/_sandbox/reset", "", http.StatusOK, nil)
	if n := len(sb.Outbox().Lambda); n != 0 {
		t.Fatalf("after reset: %d invocations", n)
	}
}

func compactJSON(raw []byte) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestLambdaInvocationTypes(t *testing.T) {
	ctx := context.Background()
	sb, c := lambdaClient(t)
	ev, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("key-handler"), InvocationType: lambdatypes.InvocationTypeEvent, Payload: []byte(`{"a":1}`)})
	if err != nil || ev.StatusCode != http.StatusAccepted || len(ev.Payload) != 0 {
		t.Fatalf("Event = %+v, %v", ev, err)
	}
	dry, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("key-handler"), InvocationType: lambdatypes.InvocationTypeDryRun, Payload: []byte(`{"a":2}`)})
	if err != nil || dry.StatusCode != http.StatusNoContent {
		t.Fatalf("DryRun = %+v, %v", dry, err)
	}
	// DryRun checks the function and the payload but runs (and records) nothing.
	if _, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("nope"), InvocationType: lambdatypes.InvocationTypeDryRun}); err == nil {
		t.Fatal("DryRun of an unknown function succeeded")
	}
	ob := sb.Outbox()
	if len(ob.Lambda) != 1 || ob.Lambda[0].InvocationType != "Event" || string(ob.Lambda[0].Payload) != `{"a":1}` {
		t.Fatalf("outbox = %+v", ob.Lambda)
	}
}

func TestLambdaFunctionErrorIsUnhandled(t *testing.T) {
	ctx := context.Background()
	sb, c := lambdaClient(t)
	out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("broken-handler"), Payload: []byte(`{}`)})
	if err != nil {
		t.Fatalf("a function error is not an API error: %v", err)
	}
	var body struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}
	if out.StatusCode != http.StatusOK || aws.ToString(out.FunctionError) != "Unhandled" || json.Unmarshal(out.Payload, &body) != nil ||
		body.ErrorMessage != "secret store unreachable" || body.ErrorType != "ConnectionError" {
		t.Fatalf("Invoke = %d %v %s", out.StatusCode, aws.ToString(out.FunctionError), out.Payload)
	}
	if ob := sb.Outbox(); len(ob.Lambda) != 1 || ob.Lambda[0].FunctionError != "Unhandled" {
		t.Fatalf("outbox = %+v", ob.Lambda)
	}
}

func TestLambdaRefusesWhatAWSRefuses(t *testing.T) {
	ctx := context.Background()
	sb, c := lambdaClient(t)
	var rnf *lambdatypes.ResourceNotFoundException
	for _, in := range []*lambda.InvokeInput{
		{FunctionName: aws.String("nope")},
		{FunctionName: aws.String("quiet:prod")},
		{FunctionName: aws.String("quiet"), Qualifier: aws.String("3")},
		{FunctionName: aws.String("west-handler")},
		{FunctionName: aws.String("arn:aws:lambda:eu-west-1:111111111111:function:west-handler")},
	} {
		_, err := c.Invoke(ctx, in)
		if !errors.As(err, &rnf) {
			t.Fatalf("%s: want ResourceNotFoundException, got %v", aws.ToString(in.FunctionName), err)
		}
	}
	if !strings.Contains(aws.ToString(rnf.Message), "Function not found: arn:aws:lambda:eu-west-1:111111111111:function:west-handler") {
		t.Fatalf("message = %q", aws.ToString(rnf.Message))
	}
	// The function exists in its own region.
	west := lambda.NewFromConfig(sb.AccountConfig(t, "111111111111"), func(o *lambda.Options) { o.Region = "eu-west-1" })
	if _, err := west.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("west-handler")}); err != nil {
		t.Fatalf("west-handler in eu-west-1: %v", err)
	}
	_, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("key-handler"), Payload: []byte(`{not json`)})
	var bad *lambdatypes.InvalidRequestContentException
	if !errors.As(err, &bad) {
		t.Fatalf("bad JSON: want InvalidRequestContentException, got %v", err)
	}
	_, err = c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("key-handler"), InvocationType: lambdatypes.InvocationTypeEvent,
		Payload: []byte(`"` + strings.Repeat("x", 1<<20) + `"`)})
	var big *lambdatypes.RequestTooLargeException
	if !errors.As(err, &big) {
		t.Fatalf("large async payload: want RequestTooLargeException, got %v", err)
	}
	_, err = c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("arn:aws:lambda:us-east-1:222222222222:function:key-handler")})
	wantCode(t, err, "AccessDeniedException")
	_, err = c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("bad name!")})
	wantCode(t, err, "ValidationException")
	if n := len(sb.Outbox().Lambda); n != 1 {
		t.Fatalf("only the west invocation is recorded, got %d", n)
	}
}

func TestLambdaScenarioValidation(t *testing.T) {
	_, err := awssim.ParseScenario("s.yaml", []byte(`
accounts:
  - id: "111111111111"
    functions:
      - {name: "bad name"}
      - {name: ok, response: "{not json"}
      - {name: ok2, error_type: Boom}
      - {name: dup}
      - {name: dup}
      - {name: r, region: mars}
      - {name: same}
      - {name: same, region: us-east-1}
      - {name: same, region: eu-west-1}
`))
	if err == nil {
		t.Fatal("bad functions accepted")
	}
	if strings.Contains(err.Error(), "functions[8]") {
		t.Errorf("the same name in another region is fine:\n%v", err)
	}
	for _, want := range []string{"functions[0].name", "functions[1].response", "functions[2].error_type", "functions[4].name", "functions[5].region", "functions[7].name"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s:\n%v", want, err)
		}
	}
}
