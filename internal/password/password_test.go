package password

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
)

// randomPolicy is any policy IAM can express (UpdateAccountPasswordPolicy: length 6..128, four
// independent class requirements), or AWS's default policy.
func randomPolicy(rng *mrand.Rand) Policy {
	if rng.IntN(5) == 0 {
		return AWSDefault()
	}
	return Policy{
		MinLength:      6 + rng.IntN(MaxLength-6+1),
		RequireUpper:   rng.IntN(2) == 0,
		RequireLower:   rng.IntN(2) == 0,
		RequireNumbers: rng.IntN(2) == 0,
		RequireSymbols: rng.IntN(2) == 0,
	}
}

// TestGeneratedPasswordsMeetEveryPolicy is the property: for many policies and many passwords
// each, the password meets the policy, uses only IAM's characters, and has the expected length.
func TestGeneratedPasswordsMeetEveryPolicy(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(3, 5))
	src := mrand.NewChaCha8([32]byte{1})
	seen := map[string]bool{}
	for i := 0; i < 2000; i++ {
		p := randomPolicy(rng)
		if i < 4 { // the extremes
			p = []Policy{{MinLength: MaxLength, RequireUpper: true, RequireLower: true, RequireNumbers: true, RequireSymbols: true},
				{MinLength: 6}, AWSDefault(), {MinLength: 4, MinClasses: 4}}[i]
		}
		for j := 0; j < 20; j++ {
			v, err := Generate(p, src)
			if err != nil {
				t.Fatal(err)
			}
			pw := v.Reveal()
			if err := p.Check(pw); err != nil {
				t.Fatalf("policy %+v: generated password fails it: %v", p, err)
			}
			if err := (Policy{MinLength: 8, MinClasses: 4}).Check(pw); err != nil {
				t.Fatalf("every password has all four classes: %v", err)
			}
			if len(pw) != p.Length() || len(pw) < DefaultLength {
				t.Fatalf("length %d, want %d", len(pw), p.Length())
			}
			if seen[pw] {
				t.Fatal("a password repeated")
			}
			seen[pw] = true
		}
	}
}

// TestSandboxAcceptsGeneratedPasswords sets random password policies in the sandbox, which
// enforces them as IAM does, and sets generated passwords through the SDK: none is refused.
func TestSandboxAcceptsGeneratedPasswords(t *testing.T) {
	ctx := context.Background()
	_, cfg := awssimtest.Start(t)
	c := iam.NewFromConfig(cfg)
	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("prop")}); err != nil {
		t.Fatal(err)
	}
	rng := mrand.New(mrand.NewPCG(8, 13))
	created := false
	for i := 0; i < 150; i++ {
		p := randomPolicy(rng)
		if p == AWSDefault() {
			_, err := c.DeleteAccountPasswordPolicy(ctx, &iam.DeleteAccountPasswordPolicyInput{})
			if err != nil && !strings.Contains(fmt.Sprint(err), "NoSuchEntity") {
				t.Fatal(err)
			}
		} else {
			in := &iam.UpdateAccountPasswordPolicyInput{
				MinimumPasswordLength: aws.Int32(int32(p.MinLength)), RequireUppercaseCharacters: p.RequireUpper,
				RequireLowercaseCharacters: p.RequireLower, RequireNumbers: p.RequireNumbers, RequireSymbols: p.RequireSymbols,
				PasswordReusePrevention: aws.Int32(24),
			}
			if _, err := c.UpdateAccountPasswordPolicy(ctx, in); err != nil {
				t.Fatal(err)
			}
		}
		for j := 0; j < 5; j++ {
			v, err := Generate(p, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			if !created {
				_, err = c.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: aws.String("prop"), Password: aws.String(v.Reveal())})
				created = err == nil
			} else {
				_, err = c.UpdateLoginProfile(ctx, &iam.UpdateLoginProfileInput{UserName: aws.String("prop"), Password: aws.String(v.Reveal())})
			}
			if err != nil {
				t.Fatalf("policy %+v: the sandbox refused a generated password: %v", p, err)
			}
		}
	}
}

// TestCheckAgreesWithTheSandbox: passwords Check refuses, the sandbox refuses too, so Check is a
// faithful statement of what the property test proves.
func TestCheckAgreesWithTheSandbox(t *testing.T) {
	ctx := context.Background()
	_, cfg := awssimtest.Start(t)
	c := iam.NewFromConfig(cfg)
	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("agree")}); err != nil {
		t.Fatal(err)
	}
	p := Policy{MinLength: 14, RequireUpper: true, RequireLower: true, RequireNumbers: true, RequireSymbols: true}
	if _, err := c.UpdateAccountPasswordPolicy(ctx, &iam.UpdateAccountPasswordPolicyInput{MinimumPasswordLength: aws.Int32(14),
		RequireUppercaseCharacters: true, RequireLowercaseCharacters: true, RequireNumbers: true, RequireSymbols: true}); err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"Short1!a", "nouppercase123!!", "NOLOWERCASE123!!", "NoNumbersHere!!!", "NoSymbolsHere1234", "Only.Dots.Are.No.Symbols1"} {
		if p.Check(pw) == nil {
			t.Fatalf("Check accepts %q", pw)
		}
		if _, err := c.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: aws.String("agree"), Password: aws.String(pw)}); err == nil {
			t.Fatalf("the sandbox accepts %q", pw)
		}
	}
}

// TestUniform: every character of the alphabet is about equally likely (chi-square over the
// 82 characters, far below what a biased draw gives).
func TestUniform(t *testing.T) {
	src := mrand.NewChaCha8([32]byte{9})
	all := Upper + Lower + Digits + Symbols
	counts := map[byte]int{}
	total := 0
	for i := 0; i < 3000; i++ {
		v, err := Generate(Policy{MinLength: MaxLength}, src)
		if err != nil {
			t.Fatal(err)
		}
		pw := v.Reveal()
		for j := 0; j < len(pw); j++ {
			counts[pw[j]]++
			total++
		}
	}
	if len(counts) != len(all) {
		t.Fatalf("%d distinct characters, want %d", len(counts), len(all))
	}
	exp := float64(total) / float64(len(all))
	chi := 0.0
	for i := 0; i < len(all); i++ {
		d := float64(counts[all[i]]) - exp
		chi += d * d / exp
	}
	// 81 degrees of freedom: p = 0.001 at about 124. The four guaranteed characters skew the
	// small classes a little; with 128-character passwords that stays well below.
	if chi > 200 {
		t.Fatalf("chi-square %.1f: not uniform", chi)
	}
}

func TestGenerateErrors(t *testing.T) {
	if _, err := Generate(Policy{MinLength: 8}, bytes.NewReader([]byte{1, 2, 3})); !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		t.Fatalf("a short reader: %v", err)
	}
	if _, err := Generate(Policy{MinLength: 200}, rand.Reader); err == nil {
		t.Fatal("a policy longer than IAM allows must be refused")
	}
	if err := (Policy{MinLength: 8}).Check("abcdefg\u00e9"); err == nil || strings.Contains(err.Error(), "abcdefg") {
		t.Fatalf("Check must refuse other characters without repeating the password: %v", err)
	}
}
