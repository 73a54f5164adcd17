package job

import "testing"

func TestPrincipalARN(t *testing.T) {
	for in, want := range map[string]string{
		"arn:aws:sts::111111111111:assumed-role/KeycycleMember/run-1": "arn:aws:iam::111111111111:role/KeycycleMember",
		"arn:aws-cn:sts::111111111111:assumed-role/R/s":               "arn:aws-cn:iam::111111111111:role/R",
		"arn:aws:iam::111111111111:user/people/alice":                 "arn:aws:iam::111111111111:user/people/alice",
		"arn:aws:iam::111111111111:root":                              "arn:aws:iam::111111111111:root",
	} {
		if got := principalARN(in); got != want {
			t.Errorf("principalARN(%q) = %q, want %q", in, got, want)
		}
	}
}
