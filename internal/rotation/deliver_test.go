package rotation

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/keycycle/keycycle/internal/audit"
	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/secret"
)

// The delivery engine is one for keys and passwords; these tests run it for both credentials over
// hand-written sinks and check each option that tells them apart.

// keyOnly is a sink that takes access keys only (as the Lambda sink). It logs "<phase> <name>".
type keyOnly struct {
	name string
	fail string // the phase that fails
	log  *[]string
}

func (s *keyOnly) do(phase string) error {
	*s.log = append(*s.log, phase+" "+s.name)
	if s.fail == phase {
		return errors.New(s.name + " refused " + phase)
	}
	return nil
}
func (s *keyOnly) Name() string                                    { return s.name }
func (s *keyOnly) Location(secret.AccessKey) string                { return "loc/" + s.name }
func (s *keyOnly) Stage(context.Context, secret.AccessKey) error   { return s.do("stage") }
func (s *keyOnly) Promote(context.Context, secret.AccessKey) error { return s.do("promote") }
func (s *keyOnly) Abort(context.Context, secret.AccessKey) error   { return s.do("abort") }

// push also takes passwords; it keeps no record (a webhook, an e-mail).
type push struct{ keyOnly }

func (s *push) PasswordLocation(secret.Password) string              { return "pw/" + s.name }
func (s *push) StagePassword(context.Context, secret.Password) error { return s.do("stage") }

func (s *push) PromotePassword(context.Context, secret.Password) error { return s.do("promote") }
func (s *push) AbortPassword(context.Context, secret.Password) error   { return s.do("abort") }

// store is a push sink that can say what it holds.
type store struct{ push }

func (s *store) Holds(context.Context, secret.AccessKey) (bool, error) { return false, nil }

var (
	_ Sink         = (*keyOnly)(nil)
	_ PasswordSink = (*push)(nil)
	_ Holder       = (*store)(nil)
)

// tagIAM records the TagUser calls of the executor (the delivery record).
type tagIAM struct {
	IAMAPI
	tags []string
}

func (f *tagIAM) TagUser(_ context.Context, in *iam.TagUserInput, _ ...func(*iam.Options)) (*iam.TagUserOutput, error) {
	for _, t := range in.Tags {
		f.tags = append(f.tags, aws.ToString(t.Key)+"="+aws.ToString(t.Value))
	}
	return &iam.TagUserOutput{}, nil
}

var testKey = secret.AccessKey{AccountID: "111111111111", UserName: "alice", KeyID: "AKIANEWKEY0000000001"}

// deliveryOf is the delivery of a key or of a password to ds.
func deliveryOf(cred plan.Credential, ds []Delivery) *delivery {
	if cred == plan.Password {
		return passwordDelivery(ds, secret.Password{AccountID: "111111111111", UserName: "alice", Version: "v1"}, SinkNotTried)
	}
	return keyDelivery(ds, testKey, SinkNotTried)
}

// run is one delivery of cred to ds, staged and promoted, with prepare applied first.
type run struct {
	e     *Executor
	iam   *tagIAM
	audit bytes.Buffer
	st    plan.Step
	d     *delivery
	fail  *promoteFailure
}

func deliver(t *testing.T, cred plan.Credential, ds []Delivery, prepare func(*delivery)) *run {
	t.Helper()
	r := &run{iam: &tagIAM{}, st: plan.Step{AccountID: "111111111111", User: "alice", Credential: cred}, d: deliveryOf(cred, ds)}
	r.e = &Executor{AccountID: "111111111111", IAM: r.iam, Now: func() time.Time { return time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC) },
		StatePrefix: "keycycle:", Attempts: 1, Backoff: time.Microsecond, Audit: audit.NewWriter(&r.audit)}
	if prepare != nil {
		prepare(r.d)
	}
	if err := r.e.stage(context.Background(), r.st, "r", r.d, 0); err != nil {
		t.Fatal(err)
	}
	r.fail = r.e.promote(context.Background(), r.st, "r", r.d)
	return r
}

func outcomes(d *delivery) []SinkOutcome {
	out := make([]SinkOutcome, len(d.res))
	for i, r := range d.res {
		out[i] = r.Outcome
	}
	return out
}

// A required sink that fails to promote stops the promotion, for a key and for a password alike:
// the sinks after it are not promoted.
func TestRequiredPromoteFailureStopsEveryCredential(t *testing.T) {
	for _, cred := range []plan.Credential{plan.AccessKey, plan.Password} {
		t.Run(string(cred), func(t *testing.T) {
			var calls []string
			ds := []Delivery{
				{Sink: &store{push{keyOnly{name: "primary", log: &calls}}}, Required: true},
				{Sink: &push{keyOnly{name: "hook", fail: "promote", log: &calls}}, Required: true},
				{Sink: &push{keyOnly{name: "mail", log: &calls}}, Required: true},
			}
			r := deliver(t, cred, ds, nil)
			d, f := r.d, r.fail
			if f == nil || f.index != 1 || !strings.Contains(f.err.Error(), "deliver to hook") {
				t.Fatalf("promote failure %+v, want the hook's", f)
			}
			if slices.Contains(calls, "promote mail") {
				t.Fatalf("calls %v: the sink after the failed required one was promoted", calls)
			}
			want := []SinkOutcome{SinkDelivered, SinkFailed, SinkNotTried}
			if got := outcomes(d); !slices.Equal(got, want) {
				t.Fatalf("outcomes %v, want %v", got, want)
			}
			// Withdrawing what is only staged leaves the primary and the failed sink alone.
			if err := r.e.abort(context.Background(), d, staged); err != nil {
				t.Fatal(err)
			}
			if calls[len(calls)-1] != "abort mail" || slices.Contains(calls, "abort primary") {
				t.Fatalf("calls %v, want only the mail withdrawn", calls)
			}
		})
	}
}

// Option: a sink without the credential's capability is left out (passwords), never called.
func TestSinkWithoutTheCapabilityIsNotApplicable(t *testing.T) {
	for cred, want := range map[plan.Credential]SinkOutcome{plan.AccessKey: SinkDelivered, plan.Password: SinkNotApplicable} {
		t.Run(string(cred), func(t *testing.T) {
			var calls []string
			ds := []Delivery{
				{Sink: &store{push{keyOnly{name: "primary", log: &calls}}}, Required: true},
				{Sink: &keyOnly{name: "lambda", log: &calls}, Required: true},
			}
			r := deliver(t, cred, ds, nil)
			if r.fail != nil {
				t.Fatal(r.fail.err)
			}
			if d := r.d; d.res[1].Outcome != want {
				t.Fatalf("lambda: %s, want %s", r.d.res[1].Outcome, want)
			}
			if called := slices.Contains(calls, "stage lambda"); called != (want == SinkDelivered) {
				t.Fatalf("calls %v", calls)
			}
		})
	}
}

// Options: a key's push deliveries are recorded on the user and not sent again; its sink audit
// records name the new key. A password has neither.
func TestKeyDeliveryRecordsPushSinksAndNamesTheKey(t *testing.T) {
	for _, cred := range []plan.Credential{plan.AccessKey, plan.Password} {
		t.Run(string(cred), func(t *testing.T) {
			var calls []string
			ds := []Delivery{
				{Sink: &store{push{keyOnly{name: "primary", log: &calls}}}, Required: true},
				{Sink: &push{keyOnly{name: "sent", log: &calls}}, Required: true},
				{Sink: &push{keyOnly{name: "hook", log: &calls}}, Required: true},
			}
			r := deliver(t, cred, ds, func(d *delivery) {
				d.led = inventory.DeliveryRecord{Key: testKey.KeyID, Sinks: []string{"sent"}} // an earlier run sent it
			})
			if r.fail != nil {
				t.Fatal(r.fail.err)
			}
			d, f, buf := r.d, r.iam, &r.audit
			key := cred == plan.AccessKey
			if got := d.res[1].Outcome; (got == SinkAlready) != key || slices.Contains(calls, "promote sent") == key {
				t.Fatalf("sink sent before: %s, calls %v", got, calls)
			}
			wantTags := []string(nil)
			if key {
				wantTags = []string{"keycycle:delivered=key=" + testKey.KeyID.Raw() + " sinks=sent/hook"}
			}
			if !slices.Equal(f.tags, wantTags) {
				t.Fatalf("delivery record %q, want %q", f.tags, wantTags)
			}
			if named := strings.Contains(buf.String(), `"new_access_key_id":"`+testKey.KeyID.Raw()+`"`); named != key {
				t.Fatalf("audit names the new key: %v, want %v\n%s", named, key, buf.String())
			}
		})
	}
}
