// Package password generates console passwords that an AWS account's password policy accepts.
//
// It is pure: the randomness comes from the io.Reader the caller passes (crypto/rand.Reader in
// production, a seeded reader in tests), and nothing here talks to AWS. A generated password is a
// secret.Value from the moment it exists.
package password

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/keycycle/keycycle/internal/secret"
)

// Character classes as IAM's password policy counts them.
const (
	Upper  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	Lower  = "abcdefghijklmnopqrstuvwxyz"
	Digits = "0123456789"
	// Symbols are the non-alphanumeric characters IAM counts as symbols (IAM User Guide, "Setting
	// an account password policy for IAM users"). Any other character does not satisfy
	// RequireSymbols, so a generated password uses only these.
	Symbols = "!@#$%^&*()_+-=[]{}|'"
)

// Limits of IAM passwords and password policies.
const (
	// MaxLength is the longest password IAM accepts.
	MaxLength = 128
	// DefaultLength is the length Generate uses when the policy asks for less: long enough that
	// guessing is out of the question, short enough to paste.
	DefaultLength = 24
)

// Policy is the part of an account password policy (GetAccountPasswordPolicy) a new password must
// meet.
type Policy struct {
	MinLength      int
	RequireUpper   bool
	RequireLower   bool
	RequireNumbers bool
	RequireSymbols bool
	// MinClasses is how many of the four classes a password must contain at least; AWS's default
	// policy (no policy set) asks for three.
	MinClasses int
	// ReusePrevention is how many previous passwords a user may not reuse; a random password never
	// repeats one, so Generate does not need it. It is kept for reports.
	ReusePrevention int
}

// AWSDefault is the policy AWS applies when the account has none (GetAccountPasswordPolicy
// answers NoSuchEntity): at least 8 characters and at least three of upper case, lower case,
// numbers and symbols. It also forbids the account name or e-mail address as the password, which
// a random password of DefaultLength never is.
func AWSDefault() Policy { return Policy{MinLength: 8, MinClasses: 3} }

// Validate reports a policy no password can meet, or that IAM would not accept.
func (p Policy) Validate() error {
	switch {
	case p.MinLength < 0 || p.MinLength > MaxLength:
		return fmt.Errorf("minimum password length %d is outside 0..%d", p.MinLength, MaxLength)
	case p.MinClasses < 0 || p.MinClasses > 4:
		return fmt.Errorf("minimum character classes %d is outside 0..4", p.MinClasses)
	}
	return nil
}

// Check reports why pw does not meet p, or nil. It is what Generate guarantees and what tests
// compare with the sandbox's enforcement. The error never contains the password.
func (p Policy) Check(pw string) error {
	var upper, lower, digit, symbol bool
	n := 0
	for _, r := range pw {
		n++
		switch {
		case strings.ContainsRune(Upper, r):
			upper = true
		case strings.ContainsRune(Lower, r):
			lower = true
		case strings.ContainsRune(Digits, r):
			digit = true
		case strings.ContainsRune(Symbols, r):
			symbol = true
		default:
			return fmt.Errorf("character %d is not a letter, digit or one of %s", n, Symbols)
		}
	}
	classes := 0
	for _, ok := range []bool{upper, lower, digit, symbol} {
		if ok {
			classes++
		}
	}
	switch {
	case n < p.MinLength:
		return fmt.Errorf("%d characters, fewer than %d", n, p.MinLength)
	case n > MaxLength:
		return fmt.Errorf("%d characters, more than %d", n, MaxLength)
	case p.RequireUpper && !upper:
		return errors.New("no upper case letter")
	case p.RequireLower && !lower:
		return errors.New("no lower case letter")
	case p.RequireNumbers && !digit:
		return errors.New("no number")
	case p.RequireSymbols && !symbol:
		return errors.New("no symbol")
	case classes < p.MinClasses:
		return fmt.Errorf("%d character classes, fewer than %d", classes, p.MinClasses)
	}
	return nil
}

// Length is the length Generate uses for p: DefaultLength, or the policy's minimum when longer.
func (p Policy) Length() int { return min(max(p.MinLength, DefaultLength), MaxLength) }

// Generate returns a random password that meets p: p.Length() characters with at least one of
// each class (which meets every policy IAM can express), every character drawn uniformly from its
// alphabet with rejection sampling, in random order. rand is the source of randomness: pass
// crypto/rand.Reader. A read error is returned as it is; nothing of the password is.
func Generate(p Policy, rand io.Reader) (secret.Value, error) {
	if err := p.Validate(); err != nil {
		return secret.Value{}, err
	}
	all := Upper + Lower + Digits + Symbols
	n := p.Length()
	buf := make([]byte, 0, n)
	for _, class := range []string{Upper, Lower, Digits, Symbols} {
		i, err := uniform(rand, len(class))
		if err != nil {
			return secret.Value{}, fmt.Errorf("generate password: %w", err)
		}
		buf = append(buf, class[i])
	}
	for len(buf) < n {
		i, err := uniform(rand, len(all))
		if err != nil {
			return secret.Value{}, fmt.Errorf("generate password: %w", err)
		}
		buf = append(buf, all[i])
	}
	// Fisher-Yates: the four guaranteed characters end up anywhere.
	for i := len(buf) - 1; i > 0; i-- {
		j, err := uniform(rand, i+1)
		if err != nil {
			return secret.Value{}, fmt.Errorf("generate password: %w", err)
		}
		buf[i], buf[j] = buf[j], buf[i]
	}
	v := secret.New(string(buf))
	clear(buf)
	return v, nil
}

// uniform returns a uniformly distributed integer in [0, n), n <= 256, reading one byte at a time
// and rejecting the bytes that would bias the result.
func uniform(r io.Reader, n int) (int, error) {
	limit := 256 - 256%n
	var b [1]byte
	for {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, err
		}
		if int(b[0]) < limit {
			return int(b[0]) % n, nil
		}
	}
}
