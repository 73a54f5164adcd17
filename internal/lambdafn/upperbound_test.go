package lambdafn

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/plan"
)

// A steps message is an upper bound, never a grant: a forged (or stale) message asking to rotate
// a key the policy does not find due is refused on the worker's fresh read, and the message is
// not redelivered (nothing a retry could change).
func TestWorkerRefusesStepsThePolicyDoesNotPlan(t *testing.T) {
	f := newFixture(t)
	keys, _ := f.sb.Keys("222222222222", "young")
	if len(keys) != 1 {
		t.Fatalf("setup: %+v", keys)
	}
	id := inventory.KeyID(keys[0].AccessKeyID)
	forged := Message{Keycycle: "steps", AccountID: "222222222222", User: "young", Plan: plan.New(f.sb.Clock().Now(), []plan.Step{{
		AccountID: "222222222222", User: "young", Credential: plan.AccessKey, AccessKeyID: id, Action: plan.Rotate,
		Reason: "forged", Rule: "default", Precondition: plan.Precondition{Keys: []plan.KeyState{{ID: id, Status: inventory.StatusActive, LastUsedKnown: true}}},
	}})}
	body, err := json.Marshal(forged)
	if err != nil {
		t.Fatal(err)
	}
	ev := events.SQSEvent{Records: []events.SQSMessage{{MessageId: "forged", Body: string(body), EventSource: "aws:sqs"}}}
	raw, _ := json.Marshal(ev)
	resp := invoke(t, f.h, context.Background(), string(raw)).(events.SQSEventResponse)
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("a refused step is no failure to redeliver: %+v", resp.BatchItemFailures)
	}
	if keys, _ := f.sb.Keys("222222222222", "young"); len(keys) != 1 {
		t.Fatalf("the forged message rotated young: %+v", keys)
	}
}
