package job

import (
	"fmt"
	"time"

	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/rotation"
	"github.com/keycycle/keycycle/internal/sink"
)

// Delivery is where new keys go (the configuration's delivery lists) and how fast sinks retry.
type Delivery struct {
	config.Delivery
	// Backoff is the first wait between webhook attempts (default 1s).
	Backoff time.Duration
}

// sinkRoutes builds the sinks of every configured delivery list once and returns the executor's
// Sinks function: the list of the step's rule, else the default list. readers are the principals
// a Secrets Manager secret's policy lets read it besides its user.
func (r *Runner) sinkRoutes(readers []string) (func(plan.Step) []rotation.Delivery, error) {
	d := r.Delivery.Delivery
	if len(d.Sinks) == 0 {
		d.Sinks = config.DefaultSinks()
	}
	def, err := r.list(d.Sinks, readers)
	if err != nil {
		return nil, err
	}
	byRule := map[string][]rotation.Delivery{}
	for rule, list := range d.Rules {
		if byRule[rule], err = r.list(list, readers); err != nil {
			return nil, fmt.Errorf("delivery of rule %s: %w", rule, err)
		}
	}
	return func(st plan.Step) []rotation.Delivery {
		if ds, ok := byRule[st.Rule]; ok {
			return ds
		}
		return def
	}, nil
}

// list builds the sinks of one delivery list (sink.Env.Build, in order).
func (r *Runner) list(list []config.Sink, readers []string) ([]rotation.Delivery, error) {
	env := &sink.Env{AWS: r.AWS, Secret: r.Secret, Passwords: r.passwords(), Readers: readers,
		Backoff: r.Delivery.Backoff, Now: r.now}
	out := make([]rotation.Delivery, 0, len(list))
	for _, c := range list {
		b, err := env.Build(c)
		if err != nil {
			return nil, fmt.Errorf("sink %s: %w", c.Name, err)
		}
		s, ok := b.(rotation.Sink)
		if !ok {
			return nil, fmt.Errorf("sink %s: %T is no rotation.Sink", c.Name, b)
		}
		out = append(out, rotation.Delivery{Sink: s, Required: c.Required})
	}
	return out, nil
}
