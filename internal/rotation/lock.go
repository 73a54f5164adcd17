package rotation

import (
	"context"
	"sync"
)

// Locker keeps two workers of one process off the same user at once (certmagic's Locker, in
// process). Lock blocks until key is free or ctx ends; it returns ctx's error then, holding
// nothing. unlock releases the key; calling it more than once is harmless. Across processes the
// intent tags guard a user (DESIGN.md); a Locker only saves a process from racing itself.
type Locker interface {
	Lock(ctx context.Context, key string) (unlock func(), err error)
}

// MemLocker is the in-process Locker. An entry lives only while the key is held or waited for:
// however many users a long-lived process (a Lambda instance) works on, it keeps none after.
type MemLocker struct {
	mu   sync.Mutex
	held map[string]*memLock
}

type memLock struct {
	ch   chan struct{} // one slot: full while held
	refs int           // holders and waiters
}

var _ Locker = (*MemLocker)(nil)

// NewMemLocker returns an empty MemLocker.
func NewMemLocker() *MemLocker { return &MemLocker{held: map[string]*memLock{}} }

// Lock implements Locker.
func (m *MemLocker) Lock(ctx context.Context, key string) (func(), error) {
	m.mu.Lock()
	l := m.held[key]
	if l == nil {
		l = &memLock{ch: make(chan struct{}, 1)}
		m.held[key] = l
	}
	l.refs++
	m.mu.Unlock()
	select {
	case l.ch <- struct{}{}:
		var once sync.Once
		return func() {
			once.Do(func() {
				<-l.ch
				m.drop(key, l)
			})
		}, nil
	case <-ctx.Done():
		m.drop(key, l)
		return nil, ctx.Err()
	}
}

func (m *MemLocker) drop(key string, l *memLock) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l.refs--; l.refs == 0 {
		delete(m.held, key)
	}
}

// Len is how many keys are held or waited for.
func (m *MemLocker) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.held)
}

// processLocks is the Locker of executors that are given none: one process never works on a
// user twice at once, however many executors it runs (a fleet, a Lambda instance, concurrent
// applies).
var processLocks = NewMemLocker()

func (e *Executor) locker() Locker {
	if e.Locker != nil {
		return e.Locker
	}
	return processLocks
}
