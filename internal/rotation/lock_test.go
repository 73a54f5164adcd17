package rotation

import (
	"context"
	"errors"
	"testing"
)

func TestMemLockerExcludesAndPrunes(t *testing.T) {
	m := NewMemLocker()
	unlock, err := m.Lock(context.Background(), "111111111111/alice")
	if err != nil {
		t.Fatal(err)
	}
	// Held: a second Lock on the same key waits until its context ends, and holds nothing then.
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Lock(cancelled, "111111111111/alice"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Lock of a held key with a cancelled context: %v, want context.Canceled", err)
	}
	// Another user is not held.
	unlockBob, err := m.Lock(cancelled, "111111111111/bob")
	if err == nil {
		unlockBob()
	} // a free key with a cancelled context may go either way; it must not stay listed
	if n := m.Len(); n != 1 {
		t.Fatalf("entries while alice is held: %d, want 1", n)
	}
	got := make(chan func())
	go func() {
		u, err := m.Lock(context.Background(), "111111111111/alice")
		if err != nil {
			t.Error(err)
		}
		got <- u
	}()
	unlock()
	unlock() // twice is harmless: it must not release the next holder
	second := <-got
	if _, err := m.Lock(cancelled, "111111111111/alice"); err == nil {
		t.Fatal("a second unlock of the first holder released the key held by the next")
	}
	second()
	if n := m.Len(); n != 0 {
		t.Fatalf("entries after every holder unlocked: %d, want 0 (pruned)", n)
	}
}
