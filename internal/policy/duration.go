package policy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// durationUnits are the units ParseDuration accepts, largest first.
var durationUnits = []struct {
	name string
	d    time.Duration
}{
	{"d", Day},
	{"h", time.Hour},
	{"m", time.Minute},
	{"s", time.Second},
}

// ParseDuration reads a duration written as whole numbers with units d (24 hours), h, m and s,
// largest unit first, each at most once: "90d", "12h", "1d12h", "5m". "0" is zero. Negative
// values, fractions and anything else are refused with an error that quotes the input.
func ParseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	switch {
	case in == "":
		return 0, errors.New("empty duration: want for example 90d, 12h or 1d12h")
	case in == "0":
		return 0, nil
	case strings.HasPrefix(in, "-"):
		return 0, fmt.Errorf("duration %q must not be negative", s)
	}
	var total time.Duration
	next := 0 // index into durationUnits: units must come largest first
	rest := in
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) {
			if i == len(rest) {
				return 0, fmt.Errorf("duration %q has no unit: want for example %sd", s, rest)
			}
			return 0, fmt.Errorf("invalid duration %q: want for example 90d, 12h or 1d12h", s)
		}
		n, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: %s is too large", s, rest[:i])
		}
		unit := rest[i : i+1]
		rest = rest[i+1:]
		found := false
		for j := next; j < len(durationUnits); j++ {
			if durationUnits[j].name == unit {
				if n > int64((1<<63-1)/durationUnits[j].d) {
					return 0, fmt.Errorf("invalid duration %q: too large", s)
				}
				total += time.Duration(n) * durationUnits[j].d
				if total < 0 {
					return 0, fmt.Errorf("invalid duration %q: too large", s)
				}
				next = j + 1
				found = true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("invalid duration %q: want whole numbers with units d, h, m, s, largest first (for example 1d12h)", s)
		}
	}
	return total, nil
}

// FormatDuration writes d the way ParseDuration reads it: "90d", "1d12h", "0". Parts below a
// second are dropped.
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	var b strings.Builder
	if d < 0 {
		b.WriteString("-")
		d = -d
	}
	for _, u := range durationUnits {
		if n := d / u.d; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.d
		}
	}
	if b.Len() == 0 || b.String() == "-" {
		return "0"
	}
	return b.String()
}
