// Package config turns keycycle's one YAML file into a typed Config: documented defaults, then
// the file. Everything is validated before anything runs; Parse and Load report every problem at
// once, each with file:line and field (a yamlfile.Problems error), and the CLI exits with code 2.
// docs/configuration.md documents every field and default.
package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
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

// notFoundRE and typeRE read the YAML library's own messages, to say them without Go type names,
// with the field's path, and with the nearest known field for a mistyped one.
var (
	notFoundRE = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
	typeRE     = regexp.MustCompile("^cannot unmarshal (!!\\w+)(?: `[^`]*`)? into (\\S+)$")
)

// nearestField suggests the field a mistyped key at path meant: a sibling, else a field one
// level down ("rotate_afer" at the top: "thresholds.rotate_after").
func nearestField(path []any) string {
	t := reflect.TypeFor[fileConfig]()
	name := fmt.Sprint(path[len(path)-1])
	parent := path[:len(path)-1]
	siblings := yamlfile.FieldNames(t, parent...)
	if near := yamlfile.Nearest(name, siblings); near != "" {
		return near
	}
	var nested []string
	for _, s := range siblings {
		for _, c := range yamlfile.FieldNames(t, append(append([]any{}, parent...), s)...) {
			nested = append(nested, s+"."+c)
		}
	}
	for _, n := range nested {
		if _, leaf, _ := strings.Cut(n, "."); yamlfile.Nearest(name, []string{leaf}) != "" {
			return n
		}
	}
	return ""
}

// explain rewrites a decoding problem: `unknown field "rotate_afer", did you mean
// "rotate_after"?` at thresholds.rotate_afer; `expected a list, got a mapping` at
// selection.exclude[0].users.
func explain(doc *yamlfile.Doc, p yamlfile.Problem) yamlfile.Problem {
	if m := notFoundRE.FindStringSubmatch(p.Msg); m != nil {
		p.Msg = fmt.Sprintf("unknown field %q", m[1])
		if path := doc.KeyPath(p.Line, m[1]); path != nil {
			p.Field = yamlfile.FieldPath(path...)
			if near := nearestField(path); near != "" {
				p.Msg += fmt.Sprintf(", did you mean %q?", near)
			}
		}
		return p
	}
	if m := typeRE.FindStringSubmatch(p.Msg); m != nil {
		p.Msg = fmt.Sprintf("expected %s, got %s", yamlfile.TypeWords(m[2]), yamlfile.TagWords(m[1]))
		if path := doc.ValuePath(p.Line, m[1]); path != nil {
			p.Field = yamlfile.FieldPath(path...)
		}
	}
	return p
}

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
			problems = append(problems, explain(doc, p))
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

// Digest identifies the effective configuration: "sha256:" and the hex SHA-256 of its canonical
// JSON form (the file name left out, so a copy elsewhere digests the same). A saved plan records
// it, and apply refuses the plan under a configuration with another digest. A digest reveals
// nothing of the configuration (the Slack URL's token included).
func (c *Config) Digest() string {
	cp := *c
	cp.File = ""
	data, err := json.Marshal(&cp)
	if err != nil { // only funcs or channels could fail, and Config has none
		panic(fmt.Sprintf("config digest: %v", err))
	}
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}
