package exitcode

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestOf(t *testing.T) {
	bad := errors.New("bad")
	tests := []struct {
		err  error
		want int
	}{
		{nil, OK},
		{bad, Failed},
		{With(Invalid, bad), Invalid},
		{fmt.Errorf("config: %w", With(Invalid, bad)), Invalid},
		{With(Attention, fmt.Errorf("x: %w", With(Invalid, bad))), Attention},
		{fmt.Errorf("apply: %w", context.Canceled), Interrupted},
		{With(Failed, context.Canceled), Failed},
	}
	for _, tc := range tests {
		if got := Of(tc.err); got != tc.want {
			t.Errorf("Of(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
	if With(Invalid, nil) != nil {
		t.Error("With(code, nil) must be nil")
	}
	if err := With(Invalid, bad); !errors.Is(err, bad) || err.Error() != "bad" {
		t.Errorf("With must wrap: %v", err)
	}
}
