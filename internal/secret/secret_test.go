package secret

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const plain = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

func TestValueNeverPrints(t *testing.T) {
	v := New(plain)
	holder := struct {
		Name   string
		Secret Value
		Ptr    *Value
	}{"x", v, &v}
	var out bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10s"} {
		fmt.Fprintf(&out, verb+"\n", v)
		fmt.Fprintf(&out, verb+"\n", holder)
	}
	fmt.Fprintln(&out, v, holder, &v)
	fmt.Fprint(&out, fmt.Errorf("wrap: %v: %w", v, errors.New("x")).Error())
	j, _ := json.Marshal(holder)
	out.Write(j)
	logger := slog.New(slog.NewJSONHandler(&out, nil))
	logger.Info("msg", "secret", v, "holder", holder)
	tlog := slog.New(slog.NewTextHandler(&out, nil))
	tlog.Info("msg", "secret", v, "ptr", &v)
	if strings.Contains(out.String(), plain) || strings.Contains(out.String(), fmt.Sprintf("%x", plain)) {
		t.Fatalf("secret leaked:\n%s", out.String())
	}
	if !strings.Contains(out.String(), Redacted) {
		t.Fatalf("expected redaction marker in output:\n%s", out.String())
	}
	if v.Reveal() != plain {
		t.Fatal("Reveal must return the secret")
	}
}

func TestValueCannotBeDecoded(t *testing.T) {
	var h struct{ Secret Value }
	if err := json.Unmarshal([]byte(`{"Secret":"abc"}`), &h); err == nil {
		t.Fatal("decoding a secret from JSON must fail")
	}
	if !(Value{}).IsZero() || New("").IsZero() != true || New("a").IsZero() {
		t.Fatal("IsZero")
	}
}
