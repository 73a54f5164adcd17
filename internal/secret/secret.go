// Package secret holds secret material in a type that will not print it.
//
// A Value redacts itself in every way Go or slog can render a value (String, GoString, Format
// with any verb, LogValue, MarshalJSON, MarshalText), so a secret that reaches a log line, an
// error, a plan or a report by mistake shows as [REDACTED]. The one way to read it is Reveal,
// which only sinks call, at the moment they hand the secret to its destination.
package secret

import (
	"fmt"
	"log/slog"
)

// Redacted is what a Value prints instead of its content.
const Redacted = "[REDACTED]"

// Value is a secret string. The zero Value is empty.
type Value struct{ s *string }

// New wraps s.
func New(s string) Value { return Value{s: &s} }

// Reveal returns the secret. Call it only where the secret is handed to its destination.
func (v Value) Reveal() string {
	if v.s == nil {
		return ""
	}
	return *v.s
}

// IsZero reports whether v holds nothing.
func (v Value) IsZero() bool { return v.s == nil || *v.s == "" }

func (v Value) String() string   { return Redacted }
func (v Value) GoString() string { return Redacted }

// Format makes every fmt verb (%v %+v %#v %s %q %x ...) print [REDACTED].
func (v Value) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Redacted)) }

func (v Value) LogValue() slog.Value         { return slog.StringValue(Redacted) }
func (v Value) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }
func (v Value) MarshalText() ([]byte, error) { return []byte(Redacted), nil }
func (v *Value) UnmarshalJSON(_ []byte) error {
	return fmt.Errorf("secret.Value cannot be read from JSON")
}
func (v *Value) UnmarshalText(_ []byte) error {
	return fmt.Errorf("secret.Value cannot be read from text")
}

var (
	_ fmt.Stringer   = Value{}
	_ fmt.GoStringer = Value{}
	_ fmt.Formatter  = Value{}
	_ slog.LogValuer = Value{}
)
