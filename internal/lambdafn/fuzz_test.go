package lambdafn

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// sqsSeeds are queue message bodies: every format the worker accepts, and damaged ones.
var sqsSeeds = []string{
	`{"user_name": "young", "force": "true"}`, `{"user_name": "young", "force": true}`, `{"user_name": "young", "force": "maybe"}`,
	`{"account": "222222222222", "ForceRotate": "due-a"}`, `{"keycycle": "force", "account_id": "222222222222", "user": "svc"}`,
	`{"keycycle": "cleanup", "account_id": "222222222222", "user": "due-a", "due": "2026-11-21T09:00:00Z"}`,
	`{"keycycle": "account", "account_id": "333333333333"}`,
	`{"keycycle": "steps", "account_id": "222222222222", "user": "young", "plan": {"version": 1, "steps": []}}`,
	// A hand-made steps message asking to deactivate and delete keys the policy would not retire.
	`{"keycycle": "steps", "account_id": "222222222222", "user": "young", "plan": {"version": 1, "steps": [` +
		`{"account_id": "222222222222", "user": "young", "credential": "access_key", "access_key_id": "AKIAIOSFODNN7EXAMPLE", "action": "deactivate", "reason": "edited"}]}}`,
	`{not json`, `{"hello": "world"}`, `{"keycycle": "force", "account_id": "12", "user": "x"}`, `null`, `""`,
}

// FuzzParseForce feeds the force-request reader arbitrary bodies: it never panics, and what it
// accepts names a user and a 12-digit account.
func FuzzParseForce(f *testing.F) {
	for _, s := range sqsSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		req, err := parseForce(raw, "222222222222")
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if req.User == "" || len(req.AccountID) != 12 || strings.Trim(req.AccountID, "0123456789") != "" {
			t.Fatalf("accepted %q as %+v", raw, req)
		}
	})
}

// FuzzSQSBody hands the worker one queue message with an arbitrary body, against the sandbox. It
// never panics; the message either succeeds or is reported as its own batch item failure; and
// whatever it says, no user of the sandbox ends up with fewer active keys than it had (nothing
// the policy would not plan: the policy retires no key of a fresh scenario).
func FuzzSQSBody(f *testing.F) {
	for _, s := range sqsSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		fx := newFixture(t)
		users := map[string][]string{"222222222222": {"due-a", "due-b", "young", "soon"}, "333333333333": {"due-c", "svc", "console-user"}}
		active := func() map[string]int {
			n := map[string]int{}
			for acct, us := range users {
				for _, u := range us {
					ks, _ := fx.sb.Keys(acct, u)
					for _, k := range ks {
						if k.Status == "Active" {
							n[acct+"/"+u]++
						}
					}
				}
			}
			return n
		}
		before := active()
		ev := events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: body, EventSource: "aws:sqs"}}}
		raw, _ := json.Marshal(ev)
		out, err := fx.h.Handle(context.Background(), raw)
		if err != nil {
			t.Fatalf("Handle: %v", err)
		}
		resp, ok := out.(events.SQSEventResponse)
		if !ok {
			t.Fatalf("Handle answered %T for an SQS event", out)
		}
		for _, f := range resp.BatchItemFailures {
			if f.ItemIdentifier != "m1" {
				t.Fatalf("failure reported for item %q, not the message", f.ItemIdentifier)
			}
		}
		for u, n := range active() {
			if n < before[u] {
				t.Fatalf("body %q left %s with %d active keys (had %d)", body, u, n, before[u])
			}
		}
	})
}
