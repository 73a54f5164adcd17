package inventory

import (
	"strings"
	"testing"
)

// tagSeeds are state tag values as keycycle writes them, and damaged ones.
var tagSeeds = []string{
	"started=2026-11-21T09:30:15Z old=AKIAIOSFODNN7EXAMPLE",
	"started=2026-11-21T09:30:15Z old=AKIAIOSFODNN7EXAMPLE run=20261121T093015Z-0a1b2c3d until=2026-11-21T09:50:15Z",
	"at=2026-11-21T09:30:15Z old=AKIAIOSFODNN7EXAMPLE new=AKIAI44QH8DHBEXAMPLE",
	"at=2026-11-21T09:30:15Z old=AKIAIOSFODNN7EXAMPLE new=AKIAI44QH8DHBEXAMPLE deactivated=2026-12-01T00:00:00Z",
	"at=2026-11-21T09:30:15Z old=AKIAIOSFODNN7EXAMPLE by=2026-11-21T09:45:15Z",
	"at=2026-11-21T09:30:15Z old=AKIAIOSFODNN7EXAMPLE by=2026-11-21T09:45:15Z deactivated=2026-12-01T00:00:00Z",
	"at=2026-11-21T09:30:15Z old=AKIAIOSFODNN7EXAMPLE by=2026-11-21T09:00:00Z",
	"at=2026-11-21T09:30:15Z key=AKIAIOSFODNN7EXAMPLE",
	"at=2026-11-21T09:30:15Z",
	"started=2026-11-21T09:30:15Z",
	"", "at=", "at=2026-11-21T09:30:15Z at=2026-11-21T09:30:15Z", "old=x started=yesterday",
	"at=2026-11-21T09:30:15.999999999+14:00 old=AKIA new=\x1b[31m", strings.Repeat("at=1 ", 60),
}

// FuzzStateTags feeds every parser of keycycle's state tags the same value. Each either refuses
// it with an error naming the record, or accepts it; an accepted value renders to a tag value
// that parses back to the same record (the render is a fixed point) and fits IAM's 256-character
// tag values.
func FuzzStateTags(f *testing.F) {
	for _, s := range tagSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		check := func(kind string, render func(string) (string, error)) {
			t.Helper()
			first, err := render(v)
			if err != nil {
				if kind != "" && !strings.Contains(err.Error(), kind) {
					t.Errorf("error %q does not name the %s", err, kind)
				}
				return
			}
			second, err := render(first)
			if err != nil {
				t.Fatalf("%s %q rendered as %q, which does not parse: %v", kind, v, first, err)
			}
			if second != first {
				t.Fatalf("%s %q: rendering is not stable: %q then %q", kind, v, first, second)
			}
			if len(first) > 256 {
				t.Fatalf("%s %q renders to %d characters, more than a tag value holds", kind, v, len(first))
			}
		}
		check("rotation intent", func(s string) (string, error) {
			r, err := ParseRotationIntent(s)
			return r.TagValue(), err
		})
		check("rotation record", func(s string) (string, error) {
			r, err := ParseRotationRecord(s)
			return r.TagValue(), err
		})
		check("deactivation record", func(s string) (string, error) {
			r, err := ParseDeactivationRecord(s)
			return r.TagValue(), err
		})
		check("password rotation intent", func(s string) (string, error) {
			r, err := ParsePasswordIntent(s)
			return r.TagValue(), err
		})
		check("", func(s string) (string, error) {
			r, err := ParseMark(s)
			return r.TagValue(), err
		})
	})
}
