package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestRetryStopsOnSuccessPermanentAndAttempts(t *testing.T) {
	p := Policy{Attempts: 4, Initial: time.Millisecond, Max: 2 * time.Millisecond}
	calls := 0
	err := p.Retry(context.Background(), func() (time.Duration, error) {
		calls++
		if calls < 3 {
			return 0, errors.New("flaky")
		}
		return 0, nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("success on the 3rd call: err %v calls %d", err, calls)
	}
	calls = 0
	boom := errors.New("boom")
	err = p.Retry(context.Background(), func() (time.Duration, error) { calls++; return 0, Permanent(boom) })
	if err != boom || calls != 1 || IsPermanent(err) {
		t.Fatalf("permanent: err %v calls %d", err, calls)
	}
	calls = 0
	err = p.Retry(context.Background(), func() (time.Duration, error) { calls++; return 0, boom })
	if !errors.Is(err, boom) || calls != 4 {
		t.Fatalf("exhausted: err %v calls %d", err, calls)
	}
}

func TestRetryEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	boom := errors.New("boom")
	err := Policy{Attempts: 5, Initial: time.Hour}.Retry(ctx, func() (time.Duration, error) { return 0, boom })
	if !errors.Is(err, boom) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep = %v", err)
	}
}

func TestWithFillsDefaults(t *testing.T) {
	p := Policy{Attempts: 2}.With(Policy{Attempts: 9, Initial: time.Second, Max: time.Minute})
	if p.Attempts != 2 || p.Initial != time.Second || p.Max != time.Minute {
		t.Fatalf("p = %+v", p)
	}
}
