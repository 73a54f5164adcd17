package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPasswordSettings(t *testing.T) {
	c, err := Parse("c.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Passwords != DefaultPasswords() || !c.Passwords.ResetRequired || !c.Rules.FlagMissingMFA ||
		c.Rules.Tags.PasswordRotateAfterDays != "keycycle:password-rotate-after-days" {
		t.Fatalf("defaults %+v %+v", c.Passwords, c.Rules.Tags)
	}

	src := `thresholds:
  password_rotate_after: 30d
  console_unused_after: 'off'
rules:
  - name: people
    match: {paths: [/people/]}
    console_unused_after: 45d
    console_disable_warning: 7d
  - name: services
    match: {paths: [/service/]}
    password_rotate_after: 'off'
tags:
  password_rotate_after_days: team:password-days
passwords:
  reset_required: false
  flag_missing_mfa: false
  secret_name_template: "console/{{account}}/{{user}}"
  parameter_template: /console/{{user}}
`
	c, err = Parse("c.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	d, people, svc := c.Rules.Default, c.Rules.Named[0].Thresholds, c.Rules.Named[1].Thresholds
	if d.PasswordRotateAfter != 30*day || d.ConsoleUnusedAfter != 0 || d.ConsoleDisableWarning != 14*day ||
		people.PasswordRotateAfter != 30*day || people.ConsoleUnusedAfter != 45*day || people.ConsoleDisableWarning != 7*day ||
		svc.PasswordRotateAfter != 0 || svc.ConsoleUnusedAfter != 0 {
		t.Fatalf("thresholds %+v / %+v / %+v", d, people, svc)
	}
	if c.Passwords.ResetRequired || c.Rules.FlagMissingMFA || c.Passwords.SecretTemplate != "console/{{account}}/{{user}}" ||
		c.Passwords.ParameterTemplate != "/console/{{user}}" || c.Rules.Tags.PasswordRotateAfterDays != "team:password-days" {
		t.Fatalf("passwords %+v", c.Passwords)
	}

	// The terraform-sqs preset reads the module's LoginProfileTimeLimit; the cloudformation secret
	// preset names the password secret in its style.
	c, err = Parse("c.yaml", []byte("tag_preset: terraform-sqs\nsecret: {preset: cloudformation}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Rules.Tags.PasswordRotateAfterDays != "IamRotateCredentials:LoginProfileTimeLimit" ||
		c.Passwords.SecretTemplate != CloudFormationPasswordSecretTemplate {
		t.Fatalf("presets %+v %+v", c.Rules.Tags, c.Passwords)
	}
}

func TestPasswordProblemsNameTheirLines(t *testing.T) {
	for src, want := range map[string]string{
		"thresholds: {console_disable_warning: 0}\n":                                                         "c.yaml:1: thresholds.console_disable_warning: must be more than 0",
		"thresholds: {password_rotate_after: 60}\n":                                                          `thresholds.password_rotate_after: duration "60" has no unit`,
		"passwords: {secret_name_template: 'keycycle/{{account}}/{{user}}'}\n":                               "passwords.secret_name_template: \"keycycle/{{account}}/{{user}}\" is also the secret of access keys",
		"passwords: {parameter_template: 'console'}\n":                                                       "passwords.parameter_template: \"console\" must contain {{user}}",
		"delivery: [{type: ssm, parameter: '/k/{{user}}'}]\npasswords:\n  parameter_template: /k/{{user}}\n": "c.yaml:3: passwords.parameter_template: \"/k/{{user}}\" is also the parameter of access keys",
		"passwords: {reset_required: maybe}\n":                                                               "c.yaml:1: passwords.reset_required: expected true or false, got a string",
		"tags: {password_rotate_after_days: 'aws:x'}\n":                                                      "tags.password_rotate_after_days",
		"passwords: {rotate: true}\n":                                                                        `unknown field "rotate"`,
	} {
		_, err := Parse("c.yaml", []byte(src))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q:\n got %v\nwant %q", src, err, want)
		}
	}
	// Turning console_unused_after off needs no warning period.
	if _, err := Parse("c.yaml", []byte("thresholds: {console_unused_after: 'off', console_disable_warning: 0}\n")); err != nil {
		t.Fatal(err)
	}
}

// TestPasswordsDocExample: the configuration in docs/passwords.md is valid and means what the
// document says.
func TestPasswordsDocExample(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "passwords.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := yamlBlocks(string(doc))
	if len(blocks) != 1 {
		t.Fatalf("want one yaml block, found %d", len(blocks))
	}
	c, err := Parse("docs/passwords.md", []byte(blocks[0]))
	if err != nil {
		t.Fatal(err)
	}
	if c.Rules.Default.PasswordRotateAfter != 60*day || c.Rules.Default.ConsoleUnusedAfter != 45*day ||
		c.Rules.Named[0].ConsoleUnusedAfter != 0 || c.Rules.Named[0].PasswordRotateAfter != 60*day || c.Passwords != DefaultPasswords() {
		t.Fatalf("example: %+v %+v", c.Rules, c.Passwords)
	}
}
