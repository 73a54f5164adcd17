package awssim

import (
	"sync"
	"time"
)

// Clock is the sandbox's settable time. It does not move by itself: every timestamp, key age,
// report and expiry reads it, and only Set and Advance change it, so scenarios and tests are
// exact. Real-time effects that a client must wait out (latency, rate limits, key propagation)
// run on the wall clock instead; see docs/sandbox.md.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock stopped at t (truncated to the second, as IAM reports times).
func NewClock(t time.Time) *Clock { return &Clock{now: t.UTC().Truncate(time.Second)} }

// Now returns the sandbox time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t.UTC().Truncate(time.Second)
	c.mu.Unlock()
}

// Advance moves the clock forward by d (d may not be negative) and returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now = c.now.Add(d).Truncate(time.Second)
	}
	return c.now
}
