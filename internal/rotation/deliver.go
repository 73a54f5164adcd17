package rotation

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/keycycle/keycycle/internal/audit"
	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/secret"
	"github.com/keycycle/keycycle/internal/sinkname"
)

// SinkOutcome is what became of one delivery of a new key.
type SinkOutcome string

// Sink outcomes.
const (
	SinkDelivered SinkOutcome = "delivered"         // stored and current, or sent
	SinkAlready   SinkOutcome = "already-delivered" // a resumed rotation found it sent before: not sent again
	SinkFailed    SinkOutcome = "failed"            // see Err
	SinkWithdrawn SinkOutcome = "withdrawn"         // prepared or stored, then undone by a rollback: nothing of the key is left there
	SinkRevoked   SinkOutcome = "revoked"           // sent, then the rollback deleted the key it carried (a send cannot be undone)
	SinkNotTried  SinkOutcome = "not-tried"         // the rotation stopped before this sink
	SinkDryRun    SinkOutcome = "dry-run"           // would be delivered
)

// SinkResult is what became of one delivery of a rotate step. It never holds the secret.
type SinkResult struct {
	Name     string
	Kind     sinkname.Kind // what kind of sink Name is ("" when the sink does not say, see Kinded)
	Location string
	Required bool
	Outcome  SinkOutcome
	Err      error
}

func (r SinkResult) audit() audit.SinkOutcome {
	o := audit.SinkOutcome{Name: r.Name, Location: r.Location, Required: r.Required, Outcome: string(r.Outcome)}
	if r.Err != nil {
		o.Error = r.Err.Error()
	}
	return o
}

func auditSinks(rs []SinkResult) []audit.SinkOutcome {
	out := make([]audit.SinkOutcome, len(rs))
	for i, r := range rs {
		out[i] = r.audit()
	}
	return out
}

// phase is how far one sink got in this process.
type phase int

const (
	untouched phase = iota
	staged
	promoted
	skipped // optional and failed, not applicable, or delivered by an earlier run: not promoted
)

// The delivery engine (stage, promote, abort) is one for every credential: what differs is the
// target each sink offers (an access key through Sink, a console password through PasswordSink)
// and these options of the delivery, each tested in the job e2e tests:
//   - a sink without the credential's capability is left out (not-applicable: passwords);
//   - with ledger, a push sink's delivery is recorded on the user, so that a resumed rotation
//     sends it the key once (keys; a password rotation is never resumed);
//   - newKey names the new key in the sink audit records (keys).
//
// Both stop the promotion at the first required sink that fails: a key rotation then rolls back;
// a password rotation, which cannot undo the change, withdraws what the later sinks staged and
// reports the failure, so that no sink past a failed required one delivers a password the owner
// was not told about.

// target is one sink's phases for the credential of a rotation.
type target struct {
	location              string
	stage, promote, abort func(ctx context.Context) error
}

// delivery tracks the sinks of one rotation.
type delivery struct {
	ds     []Delivery
	ts     []*target // nil: the sink does not take this credential
	res    []SinkResult
	phase  []phase
	newKey inventory.KeyID
	ledger bool
	led    inventory.DeliveryRecord
}

// sinksOf returns the sinks of a step, in order.
func (e *Executor) sinksOf(st plan.Step) ([]Delivery, error) {
	if e.Sinks == nil {
		return nil, errors.New("no sinks configured")
	}
	ds := e.Sinks(st)
	if len(ds) == 0 {
		return nil, fmt.Errorf("rule %q delivers to no sink", st.Rule)
	}
	return ds, nil
}

// deliveries returns the sinks of a rotate step, checking the primary sink's contract.
func (e *Executor) deliveries(st plan.Step) ([]Delivery, error) {
	ds, err := e.sinksOf(st)
	if err != nil {
		return nil, err
	}
	p := ds[0].Sink
	_, holder := p.(Holder)
	_, reader := p.(Reader)
	if !ds[0].Required || !holder || !reader {
		return nil, fmt.Errorf("the first sink of rule %q (%s) must be required and a store that can be read back (secretsmanager or ssm)", st.Rule, p.Name())
	}
	return ds, nil
}

// keyDelivery is the delivery of a new access key to ds.
func keyDelivery(ds []Delivery, k secret.AccessKey, outcome SinkOutcome) *delivery {
	d := newDelivery(ds, outcome, func(s Sink) *target { return bind(s.Location(k), k, s.Stage, s.Promote, s.Abort) })
	d.newKey, d.ledger = k.KeyID, true
	return d
}

// bind is the target of a sink's phases for the secret v.
func bind[T any](location string, v T, stage, promote, abort func(context.Context, T) error) *target {
	with := func(phase func(context.Context, T) error) func(context.Context) error {
		return func(ctx context.Context) error { return phase(ctx, v) }
	}
	return &target{location: location, stage: with(stage), promote: with(promote), abort: with(abort)}
}

func newDelivery(ds []Delivery, outcome SinkOutcome, of func(Sink) *target) *delivery {
	d := &delivery{ds: ds, ts: make([]*target, len(ds)), res: make([]SinkResult, len(ds)), phase: make([]phase, len(ds))}
	for i, x := range ds {
		d.res[i] = SinkResult{Name: x.Sink.Name(), Kind: kindOf(x.Sink), Required: x.Required, Outcome: outcome}
		if d.ts[i] = of(x.Sink); d.ts[i] == nil {
			d.res[i].Outcome, d.phase[i] = SinkNotApplicable, skipped
			continue
		}
		d.res[i].Location = d.ts[i].location
	}
	return d
}

// push reports whether sink i keeps no record the executor can ask (webhook, Lambda, e-mail).
func (d *delivery) push(i int) bool {
	_, ok := d.ds[i].Sink.(Holder)
	return !ok
}

// failedOptional lists the optional sinks that failed, for a person.
func (d *delivery) failedOptional() []string {
	var out []string
	for _, r := range d.res {
		if !r.Required && r.Outcome == SinkFailed {
			out = append(out, r.Name)
		}
	}
	return out
}

// call runs one sink phase, retried unless the sink retries itself.
func (e *Executor) call(ctx context.Context, s Sink, fn func(context.Context) error) error {
	if r, ok := s.(Retrier); ok && r.RetriesItself() {
		return fn(ctx)
	}
	return e.retry(ctx, func() error { return fn(ctx) })
}

func (e *Executor) sinkEvent(st plan.Step, rotationID, event string, outcome Outcome, d *delivery, i int) {
	r := d.res[i]
	e.audit(st, rotationID, event, outcome, func(rec *audit.Record) {
		rec.NewKeyID, rec.Sink, rec.Sinks = d.newKey.Raw(), r.Name, []audit.SinkOutcome{r.audit()}
		if r.Err != nil {
			rec.Error = r.Err.Error()
		}
	})
}

// stage stages sinks from index from on, in order. It returns the first required sink's error; an
// optional sink's failure is recorded and that sink is left out of the promotion.
func (e *Executor) stage(ctx context.Context, st plan.Step, rotationID string, d *delivery, from int) error {
	for i := from; i < len(d.ds); i++ {
		if d.phase[i] == skipped {
			continue
		}
		d.phase[i] = staged // Abort on rollback even when Stage failed half-way
		if err := e.call(ctx, d.ds[i].Sink, d.ts[i].stage); err != nil {
			d.res[i].Outcome, d.res[i].Err = SinkFailed, err
			e.sinkEvent(st, rotationID, "sink_failed", Failed, d, i)
			if d.ds[i].Required {
				return fmt.Errorf("stage in %s: %w", d.res[i].Name, err)
			}
			d.phase[i] = skipped
			continue
		}
		e.sinkEvent(st, rotationID, "secret_staged", Done, d, i)
	}
	return nil
}

// promoteFailure says which sink failed to promote and whether it was the primary.
type promoteFailure struct {
	index int
	err   error
}

// promote promotes every staged sink in order: the primary first, so that a handler invoked
// later (the Lambda contract) finds the secret current in it. With the ledger, push sinks already
// delivered by an earlier run are not sent again. It stops at the first required failure.
func (e *Executor) promote(ctx context.Context, st plan.Step, rotationID string, d *delivery) *promoteFailure {
	for i := range d.ds {
		if d.phase[i] != staged {
			continue
		}
		name := d.res[i].Name
		if d.ledger && d.push(i) && d.led.Has(d.newKey, name) {
			d.phase[i], d.res[i].Outcome = skipped, SinkAlready
			continue
		}
		if err := e.call(ctx, d.ds[i].Sink, d.ts[i].promote); err != nil {
			d.res[i].Outcome, d.res[i].Err = SinkFailed, err
			e.sinkEvent(st, rotationID, "sink_failed", Failed, d, i)
			if d.ds[i].Required {
				d.phase[i] = promoted // it may have half-happened: undo on rollback
				return &promoteFailure{index: i, err: fmt.Errorf("deliver to %s: %w", name, err)}
			}
			d.phase[i] = skipped
			continue
		}
		d.phase[i], d.res[i].Outcome = promoted, SinkDelivered
		event := "secret_promoted"
		if d.push(i) {
			event = "secret_sent"
			if d.ledger {
				e.record(ctx, st.User, d, name)
			}
		}
		e.sinkEvent(st, rotationID, event, Done, d, i)
	}
	return nil
}

// record adds a push sink's delivery to the delivery record on the user. When that fails a
// resumed rotation may send the key to the sink again (receivers dedupe by key id).
func (e *Executor) record(ctx context.Context, user string, d *delivery, name string) {
	if d.led.Key != d.newKey {
		d.led = inventory.DeliveryRecord{Key: d.newKey}
	}
	d.led.Sinks = append(d.led.Sinks, name)
	v := d.led.TagValue()
	err := e.retry(ctx, func() error {
		_, err := e.IAM.TagUser(ctx, &iam.TagUserInput{UserName: aws.String(user), Tags: []iamtypes.Tag{{Key: aws.String(inventory.DeliveredTag(e.StatePrefix)), Value: aws.String(v)}}})
		return err
	})
	if err != nil {
		e.logger().Warn("record delivery", "account_id", e.AccountID, "user", user, "new_access_key_id", d.newKey, "sink", name, "error", err)
	}
}

// abort undoes, last first, every sink this process touched whose phase is in undo (nil: any
// phase). It returns the errors of the undo.
func (e *Executor) abort(ctx context.Context, d *delivery, undo ...phase) error {
	var errs []error
	for i := len(d.ds) - 1; i >= 0; i-- {
		ph := d.phase[i]
		if ph == untouched || (ph == skipped && d.res[i].Outcome != SinkFailed) || (undo != nil && !slices.Contains(undo, ph)) {
			continue
		}
		err := e.call(ctx, d.ds[i].Sink, d.ts[i].abort)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("undo %s: %w", d.res[i].Name, err))
			if d.res[i].Err == nil {
				d.res[i].Outcome, d.res[i].Err = SinkFailed, err
			}
		case d.res[i].Outcome == SinkFailed:
			// keep the failure: it is why this sink has nothing
		case ph == promoted && d.push(i):
			d.res[i].Outcome = SinkRevoked
		case d.push(i):
			d.res[i].Outcome = SinkNotTried // checked, never sent
		default:
			d.res[i].Outcome = SinkWithdrawn
		}
	}
	if undo == nil {
		for i := range d.res {
			if d.res[i].Outcome == SinkAlready {
				d.res[i].Outcome = SinkRevoked
			}
		}
	}
	return errors.Join(errs...)
}
