// Package backoff is keycycle's one way of waiting: bounded retries with doubling waits, and a
// sleep that ends with its context. It never calls time.Sleep.
package backoff

import (
	"context"
	"errors"
	"time"
)

// Policy is a bounded retry schedule: at most Attempts calls, the waits between them doubling from
// Initial up to Max. Zero fields take the defaults of the caller's choosing (see With).
type Policy struct {
	Attempts int
	Initial  time.Duration
	Max      time.Duration
}

// With fills p's zero fields from def.
func (p Policy) With(def Policy) Policy {
	if p.Attempts <= 0 {
		p.Attempts = def.Attempts
	}
	if p.Initial <= 0 {
		p.Initial = def.Initial
	}
	if p.Max <= 0 {
		p.Max = def.Max
	}
	if p.Max <= 0 {
		p.Max = p.Initial << 10
	}
	return p
}

// Sleep waits d, or less if ctx ends first (then it returns ctx's error).
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent marks err as one that retrying will not change: Retry returns it at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err}
}

// IsPermanent reports whether err was marked Permanent.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}

// Retry calls fn until it succeeds, returns a Permanent error, or p.Attempts calls were made.
// fn may ask for a longer wait before the next call (a Retry-After); the wait is capped at p.Max.
// It returns fn's last error (unwrapped from Permanent), joined with ctx's error when the context
// ended while waiting.
func (p Policy) Retry(ctx context.Context, fn func() (after time.Duration, err error)) error {
	wait := p.Initial
	var err error
	for i := 0; i < max(p.Attempts, 1); i++ {
		var after time.Duration
		if after, err = fn(); err == nil {
			return nil
		}
		var perm permanent
		if errors.As(err, &perm) {
			return perm.err
		}
		if i == p.Attempts-1 {
			break
		}
		if serr := Sleep(ctx, min(max(wait, after), p.Max)); serr != nil {
			return errors.Join(err, serr)
		}
		wait = min(wait*2, p.Max)
	}
	return err
}
