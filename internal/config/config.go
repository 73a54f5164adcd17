// Package config turns keycycle's one YAML file into a typed Config: documented defaults, then
// the file. Everything is validated before anything runs; Parse and Load report every problem at
// once, each with file:line and field (a yamlfile.Problems error), and the CLI exits with code 2.
// docs/configuration.md documents every field and default.
package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/keycycle/keycycle/internal/policy"
	"github.com/keycycle/keycycle/internal/yamlfile"
)

// Config is keycycle's configuration.
type Config struct {
	// File is the file the configuration came from; empty for the defaults.
	File string
	// DryRun: plan and report only, change nothing (default true).
	DryRun bool
	// TagPreset names the preset the tag names started from: "keycycle" or "terraform-sqs".
	TagPreset string
	// Rules is what the policy evaluates with, tag names included (Rules.Tags).
	Rules  policy.Rules
	Secret Secret
	Notify Notify
	Audit  Audit
	// Delivery is where new access keys go (delivery.go).
	Delivery Delivery
	// Accounts is which accounts a run covers (accounts.go); nil: the credentials' own account.
	Accounts *Accounts
	// Passwords is how new console passwords are set and where they are stored (passwords.go).
	Passwords Passwords
	// Selftest says where `keycycle selftest` may run without --yes (selftest.go).
	Selftest Selftest
}

// Secret says where and how new access keys are stored.
type Secret struct {
	// NameTemplate is the Secrets Manager secret name, with {{account}} and {{user}} replaced.
	NameTemplate string
	// KMSKeyID encrypts the secret (key id, alias or ARN); empty: the account's aws/secretsmanager key.
	KMSKeyID string
	// Readers are extra principal ARNs the secret's resource policy lets read it, beside the user.
	Readers []string
}

// Secret name templates.
const (
	DefaultSecretTemplate        = "keycycle/{{account}}/{{user}}"
	CloudFormationSecretTemplate = "Account_{{account}}_User_{{user}}_AccessKey"
)

// secretPresets are the names secret.preset accepts.
var secretPresets = map[string]string{
	"keycycle":       DefaultSecretTemplate,
	"cloudformation": CloudFormationSecretTemplate,
}

// Name returns the secret name for a user of an account.
func (s Secret) Name(account, user string) string {
	return strings.NewReplacer("{{account}}", account, "{{user}}", user).Replace(s.NameTemplate)
}

// Audit is where keycycle records what it did.
type Audit struct {
	// File is a JSON-lines audit file; empty: no file.
	File string
}

// Tag presets.
const (
	PresetKeycycle     = "keycycle"
	PresetTerraformSQS = "terraform-sqs"
)

// Default returns the configuration keycycle runs with when there is no file: every user except
// members of IAMKeyRotationExemptionGroup and users tagged keycycle:exempt; rotate after 90d;
// deactivate 10d after delivery when unused since; delete 10d after deactivation; secret
// keycycle/<account>/<user>; dry run.
func Default() *Config {
	return &Config{
		DryRun:    true,
		TagPreset: PresetKeycycle,
		Rules:     policy.DefaultRules(),
		Secret:    Secret{NameTemplate: DefaultSecretTemplate},
		Notify:    Notify{ExemptionNotice: DefaultExemptionNotice},
		Delivery:  Delivery{Sinks: DefaultSinks()},
		Passwords: DefaultPasswords(),
	}
}

// Load reads the configuration file at path; an empty path gives Default(). A file that does not
// validate gives a yamlfile.Problems error listing every problem.
func Load(path string) (*Config, error) {
	if path == "" {
		return Default(), nil
	}
	data, err := yamlfile.ReadFile(path, MaxFileSize)
	if err != nil {
		var ps yamlfile.Problems
		if errors.As(err, &ps) {
			return nil, yamlfile.Problems{{File: path, Msg: fmt.Sprintf("the configuration file is larger than %d bytes (1 MiB), the limit", MaxFileSize)}}
		}
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return Parse(path, data)
}

// Bounds of a configuration file (docs/configuration.md, "Limits"): far above any real
// configuration, low enough that a hostile or runaway file is refused up front instead of taking
// minutes and gigabytes to validate.
const (
	MaxFileSize    = 1 << 20 // bytes
	MaxListEntries = 10000   // entries of any one list (users, accounts, rules, sinks...)
)

// notFoundRE reads the YAML library's own "unknown field" message, to say it without Go type names.
var notFoundRE = regexp.MustCompile(`^field (\S+) not found in type \S+$`)

// Parse reads a configuration document; name is used in problem messages. An empty document gives
// the defaults.
func Parse(name string, data []byte) (*Config, error) {
	if len(data) > MaxFileSize {
		return nil, yamlfile.Problems{{File: name, Msg: fmt.Sprintf("the configuration is %d bytes; at most %d (1 MiB) are allowed", len(data), MaxFileSize)}}
	}
	var f fileConfig
	doc, err := yamlfile.Decode(name, data, &f)
	if ps := doc.LongLists(MaxListEntries); len(ps) > 0 {
		return nil, ps.Err()
	}
	var problems yamlfile.Problems
	if err != nil {
		var ps yamlfile.Problems
		if !errors.As(err, &ps) {
			return nil, err
		}
		for _, p := range ps {
			if m := notFoundRE.FindStringSubmatch(p.Msg); m != nil {
				p.Msg = fmt.Sprintf("unknown field %q", m[1])
			}
			problems = append(problems, p)
		}
	}
	b := &builder{doc: doc}
	cfg := b.build(&f)
	problems = append(problems, b.problems...)
	if len(problems) == 0 {
		// Backstop: the builder names lines; this catches anything it let through.
		if err := cfg.Rules.Validate(); err != nil {
			problems = append(problems, yamlfile.Problem{File: name, Msg: err.Error()})
		}
	}
	if err := problems.Err(); err != nil {
		return nil, err
	}
	cfg.File = name
	return cfg, nil
}
