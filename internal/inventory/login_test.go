package inventory

import (
	"strings"
	"testing"
	"time"
)

func TestPasswordRecords(t *testing.T) {
	at := time.Date(2026, 11, 21, 9, 0, 0, 500, time.FixedZone("x", 3600))
	m, err := ParseMark(Mark{At: at}.TagValue())
	if err != nil || !m.At.Equal(at.Truncate(time.Second)) || (Mark{At: at}).TagValue() != "at=2026-11-21T08:00:00Z" {
		t.Fatalf("mark %v %v", m, err)
	}
	in, err := ParsePasswordIntent(PasswordIntent{Started: at}.TagValue() + " run=20261121T080000Z-abcd")
	if err != nil || !in.Started.Equal(at.Truncate(time.Second)) {
		t.Fatalf("intent %v %v", in, err)
	}
	for _, bad := range []string{"", "at=soon", "when=2026-11-21T08:00:00Z", "at=2026-11-21T08:00:00Z at=2026-11-21T08:00:00Z"} {
		if _, err := ParseMark(bad); err == nil {
			t.Errorf("ParseMark(%q) accepted", bad)
		}
	}
	if PasswordIntentTag("k:") != "k:password-rotation" || PasswordRotatedTag("k:") != "k:password-rotated" || ConsoleWarnedTag("k:") != "k:console-warned" {
		t.Fatal("tag names")
	}
}

func TestLoginSince(t *testing.T) {
	d := func(n int) time.Time { return time.Date(2026, 1, n, 0, 0, 0, 0, time.UTC) }
	for _, tc := range []struct {
		l    LoginProfile
		want time.Time
	}{
		{LoginProfile{Created: d(1), PasswordChanged: d(5), LastUsed: d(9)}, d(9)},
		{LoginProfile{Created: d(1), PasswordChanged: d(5)}, d(1)}, // a change is not a use
		{LoginProfile{PasswordChanged: d(5)}, d(5)},                // the report gives no creation
		{LoginProfile{}, time.Time{}},
	} {
		if got := tc.l.Since(); !got.Equal(tc.want) {
			t.Errorf("%+v: Since %v, want %v", tc.l, got, tc.want)
		}
	}
}

// A password lease tag names its run and always fits IAM's 128 characters of a tag key; two runs
// never share one.
func TestPasswordLeaseTag(t *testing.T) {
	if got := PasswordLeaseTag("keycycle:", "20261121T080000Z-0a1b2c3d"); got != "keycycle:pwlease:20261121T080000Z-0a1b2c3d" {
		t.Fatalf("lease tag %q", got)
	}
	if got := PasswordLeaseTag("k:", "run id/with*odd chars"); got != "k:pwlease:run_id_with_odd_chars" {
		t.Fatalf("lease tag of an odd run id %q", got)
	}
	long := strings.Repeat("p", 104)
	a, b := PasswordLeaseTag(long, strings.Repeat("r", 64)+"-a"), PasswordLeaseTag(long, strings.Repeat("r", 64)+"-b")
	if len(a) > MaxTagKeyLen || len(b) > MaxTagKeyLen || a == b || !strings.HasPrefix(a, PasswordLeasePrefix(long)) {
		t.Fatalf("long prefix: %q %q", a, b)
	}
}
