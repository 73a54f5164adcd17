package job

import (
	"errors"
	"testing"

	"github.com/keycycle/keycycle/internal/scan"
)

func TestPrincipalARN(t *testing.T) {
	for in, want := range map[string]string{
		"arn:aws:sts::111111111111:assumed-role/KeycycleMember/run-1": "arn:aws:iam::111111111111:role/KeycycleMember",
		"arn:aws-cn:sts::111111111111:assumed-role/R/s":               "arn:aws-cn:iam::111111111111:role/R",
		"arn:aws:iam::111111111111:user/people/alice":                 "arn:aws:iam::111111111111:user/people/alice",
		"arn:aws:iam::111111111111:root":                              "arn:aws:iam::111111111111:root",
	} {
		if got := PrincipalARN(in); got != want {
			t.Errorf("PrincipalARN(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAccountNamedOnce(t *testing.T) {
	scanErr := &scan.AccountError{AccountID: "111111111111", Err: errors.New("credential report: boom")}
	for _, tc := range []struct {
		acct string
		err  error
		want string
	}{
		{"111111111111", scanErr, "account 111111111111: credential report: boom"},
		{"", scanErr, "account 111111111111: credential report: boom"},
		{"", errors.New("who am I: denied"), "account (not identified): who am I: denied"},
		{"222222222222", errors.New("assume role: denied"), "account 222222222222: assume role: denied"},
	} {
		if got := nameAccount(tc.acct, tc.err).Error(); got != tc.want {
			t.Errorf("nameAccount(%q, %v) = %q, want %q", tc.acct, tc.err, got, tc.want)
		}
	}
}
