package sinkname

import (
	"strings"
	"testing"
)

func TestSecret(t *testing.T) {
	for name, ok := range map[string]bool{
		"keycycle/111111111111/alice":           true,
		"Account_111111111111_User_a+b=c.d@e-f": true,
		"keycycle/111111111111/svc,batch":       false, // IAM allows ',' in user names
		"":                                      false,
		strings.Repeat("a", 512):                true,
		strings.Repeat("a", 513):                false,
		"keycycle/ünï":                          false,
		"has space":                             false,
	} {
		if err := Secret(name); (err == nil) != ok {
			t.Errorf("Secret(%q) = %v, want ok %v", clip(name), err, ok)
		}
	}
}

func TestParameter(t *testing.T) {
	for name, ok := range map[string]bool{
		"/keycycle/111111111111/alice":       true,
		"plain":                              true,
		"/keycycle/111111111111/svc,batch":   false,
		"/keycycle/a+b":                      false,
		"keycycle/no-leading-slash":          false,
		"/aws/reserved":                      false,
		"/SSMx/reserved":                     false,
		"/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o":     true,
		"/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p":   false,
		"//empty":                            false,
		"/" + strings.Repeat("a", 1011-44):   false, // arn:aws:ssm:us-east-1:111111111111:parameter is 44
		"/" + strings.Repeat("a", 1011-44-1): true,
	} {
		if err := Parameter(name, "111111111111", "us-east-1"); (err == nil) != ok {
			t.Errorf("Parameter(%q) = %v, want ok %v", clip(name), err, ok)
		}
	}
}

func TestTemplatesAgainstTheLongestUserName(t *testing.T) {
	if err := SecretTemplate("keycycle/{{account}}/{{user}}"); err != nil {
		t.Error(err)
	}
	long := strings.Repeat("x", 531) + "{{user}}"
	if err := SecretTemplate(long); err == nil || !strings.Contains(err.Error(), "allows 512") {
		t.Errorf("a 531-character template passed: %v", err)
	}
	if err := SecretTemplate(strings.Repeat("x", 512-64-1) + "/{{user}}"); err != nil {
		t.Errorf("a template exactly at the limit: %v", err)
	}
	if err := ParameterTemplate("/keycycle/{{account}}/{{user}}"); err != nil {
		t.Error(err)
	}
	if err := ParameterTemplate("/" + strings.Repeat("p", 1000) + "/{{user}}"); err == nil {
		t.Error("an over-long parameter template passed")
	}
}

func TestGitHubSecret(t *testing.T) {
	for name, ok := range map[string]bool{
		"AWS_ACCESS_KEY_ID":   true,
		"AWS_KEY_svc_batch":   true,
		"AWS_KEY_svc,batch":   false,
		"AWS_KEY_a.b@example": false,
		"1ST":                 false,
		"github_token":        false,
		"":                    false,
	} {
		if err := GitHubSecret(name); (err == nil) != ok {
			t.Errorf("GitHubSecret(%q) = %v, want ok %v", name, err, ok)
		}
	}
}
