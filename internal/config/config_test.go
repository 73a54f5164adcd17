package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keycycle/keycycle/internal/policy"
	"github.com/keycycle/keycycle/internal/yamlfile"
)

const day = policy.Day

func TestDefaultsAreTheDocumentedOnes(t *testing.T) {
	c := Default()
	r := c.Rules
	if !c.DryRun || c.TagPreset != "keycycle" || c.Secret.Name("111111111111", "alice") != "keycycle/111111111111/alice" {
		t.Fatalf("defaults: %+v", c)
	}
	want := policy.Thresholds{RotateAfter: 90 * day, WarnBefore: 14 * day, DeactivateAfter: 10 * day, DeleteAfter: 10 * day, GuardWindow: 10 * day,
		PasswordRotateAfter: 60 * day, ConsoleUnusedAfter: 45 * day, ConsoleDisableWarning: 14 * day}
	if r.Default != want {
		t.Errorf("thresholds %+v", r.Default)
	}
	if r.Selection.Mode != policy.OptOut || r.Selection.ExemptionGroup != "IAMKeyRotationExemptionGroup" ||
		r.Tags.Exempt != "keycycle:exempt" || r.Tags.StatePrefix != "keycycle:" || r.MaxDestructive != 20 ||
		r.TwoActiveKeys.Mode != policy.TwoKeysBlock || r.Overrides != (policy.Overrides{Min: day, Max: 90 * day}) {
		t.Errorf("rules %+v", r)
	}
	// No file and an empty file are the defaults.
	for _, got := range []func() (*Config, error){
		func() (*Config, error) { return Load("") },
		func() (*Config, error) { return Parse("empty.yaml", nil) },
		func() (*Config, error) { return Parse("comments.yaml", []byte("# nothing\n")) },
	} {
		c, err := got()
		if err != nil {
			t.Fatal(err)
		}
		c.File = ""
		if diff := cmp.Diff(Default(), c); diff != "" {
			t.Errorf("(-default +got):\n%s", diff)
		}
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "keycycle.yaml")
	if err := os.WriteFile(f, []byte("dry_run: false\nthresholds:\n  rotate_after: 60d\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	if c.DryRun || c.Rules.Default.RotateAfter != 60*day || c.File != f {
		t.Fatalf("%+v", c)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// TestEveryProblemAtOnce: one broken file, every problem reported with its line and field.
func TestEveryProblemAtOnce(t *testing.T) {
	src := `tag_preset: terraform
selection:
  mode: opt-maybe
  exclude:
    - users: ["break-glass-["]
    - paths: [service/]
    - {}
thresholds:
  rotate_after: 90
  warn_before: 100d
  delete_after: 0
  hard_limit: 60d
  deactivate_after: -3d
rules:
  - name: default
    match: {groups: [ops]}
  - name: svc
    match: {paths: [/service/]}
    rotate_after: 1.5d
  - name: svc
    rotate_after: 30d
overrides:
  min_rotate_after: 100d
  max_rotate_after: 50d
two_active_keys:
  action: delete-both
max_destructive: -5
secret:
  name_template: "keys/{{account}}/{{username}}"
  readers: [alice]
notify:
  fallback_email: "ops at example.com"
unknown_section: true
`
	_, err := Parse("bad.yaml", []byte(src))
	var ps yamlfile.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("want yamlfile.Problems, got %v", err)
	}
	type p struct {
		line  int
		field string
		msg   string
	}
	want := []p{
		{1, "tag_preset", `unknown preset "terraform"`},
		{3, "selection.mode", `unknown mode "opt-maybe"`},
		{5, "selection.exclude[0].users[0]", `"break-glass-[" is not a valid glob`},
		{6, "selection.exclude[1].paths[0]", `path prefix "service/" must start with /`},
		{7, "selection.exclude[2]", "an entry needs users, paths, groups or tags"},
		{9, "thresholds.rotate_after", `duration "90" has no unit`},
		{10, "thresholds.warn_before", "warn_before 100d must be less than rotate_after 90d"},
		{11, "thresholds.delete_after", "must be more than 0"},
		{12, "thresholds.hard_limit", "hard_limit 60d must be more than rotate_after 90d"},
		{13, "thresholds.deactivate_after", `duration "-3d" must not be negative`},
		{15, "rules[0].name", `"default" is the name of the thresholds section`},
		{19, "rules[1].rotate_after", `invalid duration "1.5d"`},
		{20, "rules[2].name", `rule name "svc" already used by rules[1]`},
		{20, "rules[2].match", "a rule needs a match"},
		{20, "rules[2].warn_before", "warn_before 100d must be less than rotate_after 30d"},
		{23, "overrides.min_rotate_after", "min_rotate_after 100d is more than max_rotate_after 50d"},
		{26, "two_active_keys.action", `unknown action "delete-both"`},
		{27, "max_destructive", "must be -1 (no cap), 0 (no destructive steps) or more"},
		{29, "secret.name_template", "unknown placeholder {{username}}"},
		{30, "secret.readers[0]", `"alice" is not an IAM principal ARN`},
		{32, "notify.fallback_email", `"ops at example.com" is not an e-mail address`},
		{33, "unknown_section", `unknown field "unknown_section"`},
	}
	var got []p
	for _, x := range ps {
		got = append(got, p{x.Line, x.Field, x.Msg})
	}
	// Match on message fragments; report the full list on mismatch.
	ok := len(got) == len(want)
	used := make([]bool, len(got))
	for _, w := range want {
		found := false
		for i, g := range got {
			if !used[i] && g.line == w.line && g.field == w.field && strings.Contains(g.msg, w.msg) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			ok = false
			t.Errorf("missing problem %+v", w)
		}
	}
	if !ok {
		for _, g := range got {
			t.Logf("got %+v", g)
		}
		t.FailNow()
	}
	// The error text is file:line: field: message, in line order.
	lines := strings.Split(err.Error(), "\n")
	if !strings.HasPrefix(lines[0], "bad.yaml:1: tag_preset: ") || !strings.HasPrefix(lines[len(lines)-1], "bad.yaml:33: ") {
		t.Errorf("error text:\n%s", err)
	}
}

func TestTypeErrorsAndSemanticProblemsTogether(t *testing.T) {
	_, err := Parse("c.yaml", []byte("dry_run: maybe\nthresholds:\n  rotate_after: 90x\n"))
	var ps yamlfile.Problems
	if !errors.As(err, &ps) || len(ps) != 2 || ps[0].Line != 1 || ps[1].Line != 3 {
		t.Fatalf("got %v", err)
	}
}

func TestSyntaxError(t *testing.T) {
	_, err := Parse("c.yaml", []byte("thresholds: [\n"))
	var ps yamlfile.Problems
	if !errors.As(err, &ps) || len(ps) == 0 {
		t.Fatalf("got %v", err)
	}
}

func TestTerraformSQSPreset(t *testing.T) {
	c, err := Parse("c.yaml", []byte("tag_preset: terraform-sqs\n"))
	if err != nil {
		t.Fatal(err)
	}
	tg := c.Rules.Tags
	if tg.Owner != "IamRotateCredentials:Email" || tg.RotateAfterDays != "IamRotateCredentials:CliTimeLimit" ||
		c.Rules.Selection.Mode != policy.OptIn || c.TagPreset != "terraform-sqs" {
		t.Fatalf("%+v", c.Rules)
	}
	// An explicit mode and tag name win over the preset.
	c, err = Parse("c.yaml", []byte("tag_preset: terraform-sqs\nselection: {mode: opt-out}\ntags: {exempt: 'IamRotateCredentials:Exempt'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Rules.Selection.Mode != policy.OptOut || c.Rules.Tags.Exempt != "IamRotateCredentials:Exempt" ||
		c.Rules.Tags.Owner != "IamRotateCredentials:Email" {
		t.Fatalf("%+v", c.Rules)
	}
	// Opt-in without an owner tag name cannot select anyone.
	if _, err := Parse("c.yaml", []byte("selection: {mode: opt-in}\ntags: {owner: ''}\n")); err == nil ||
		!strings.Contains(err.Error(), "opt-in mode needs an owner tag name") {
		t.Fatalf("got %v", err)
	}
}

func TestRuleInheritance(t *testing.T) {
	src := `thresholds:
  rotate_after: 60d
  warn_before: 7d
  hard_limit: 120d
rules:
  - name: services
    match: {paths: [/service/]}
    rotate_after: 100d
    deactivate_after: 2d
  - name: guarded
    match: {groups: [ops]}
    guard_window: 30d
`
	c, err := Parse("c.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []policy.Rule{
		{Name: "services", Match: policy.Match{Paths: []string{"/service/"}}, Thresholds: policy.Thresholds{
			RotateAfter: 100 * day, WarnBefore: 7 * day, DeactivateAfter: 2 * day, DeleteAfter: 10 * day, GuardWindow: 2 * day, HardLimit: 120 * day,
			PasswordRotateAfter: 60 * day, ConsoleUnusedAfter: 45 * day, ConsoleDisableWarning: 14 * day}},
		{Name: "guarded", Match: policy.Match{Groups: []string{"ops"}}, Thresholds: policy.Thresholds{
			RotateAfter: 60 * day, WarnBefore: 7 * day, DeactivateAfter: 10 * day, DeleteAfter: 10 * day, GuardWindow: 30 * day, HardLimit: 120 * day,
			PasswordRotateAfter: 60 * day, ConsoleUnusedAfter: 45 * day, ConsoleDisableWarning: 14 * day}},
	}
	if diff := cmp.Diff(want, c.Rules.Named); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if c.Rules.Default.GuardWindow != 10*day || c.Rules.Default.HardLimit != 120*day {
		t.Fatalf("default %+v", c.Rules.Default)
	}
	// hard_limit: off in a rule switches the inherited limit off.
	c, err = Parse("c.yaml", []byte("thresholds: {hard_limit: 120d}\nrules:\n  - {name: x, match: {users: [a]}, hard_limit: 'off'}\n"))
	if err != nil || c.Rules.Named[0].HardLimit != 0 {
		t.Fatalf("%v %+v", err, c)
	}
}

func TestSecretNames(t *testing.T) {
	for src, want := range map[string]string{
		"":                                 "keycycle/111111111111/bob",
		"secret: {preset: cloudformation}": "Account_111111111111_User_bob_AccessKey",
		"secret: {name_template: '{{user}}_credentials'}": "bob_credentials",
	} {
		c, err := Parse("c.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Secret.Name("111111111111", "bob"); got != want {
			t.Errorf("%q: %q, want %q", src, got, want)
		}
	}
	for src, frag := range map[string]string{
		"secret: {name_template: 'keycycle/{{account}}'}":             "must contain {{user}}",
		"secret: {name_template: 'keys {{user}}'}":                    `character ' ' is not allowed`,
		"secret: {preset: vault}":                                     `unknown preset "vault"`,
		"secret: {preset: cloudformation, name_template: '{{user}}'}": "not both",
	} {
		if _, err := Parse("c.yaml", []byte(src)); err == nil || !strings.Contains(err.Error(), frag) {
			t.Errorf("%q: %v, want %q", src, err, frag)
		}
	}
}

func TestDurationsAcceptedForms(t *testing.T) {
	c, err := Parse("c.yaml", []byte("thresholds: {rotate_after: 1d12h, warn_before: 12h, deactivate_after: 0, delete_after: 5m}\n"))
	if err != nil {
		t.Fatal(err)
	}
	th := c.Rules.Default
	if th.RotateAfter != 36*time.Hour || th.WarnBefore != 12*time.Hour || th.DeactivateAfter != 0 || th.DeleteAfter != 5*time.Minute || th.GuardWindow != 0 {
		t.Fatalf("%+v", th)
	}
}

// TestDocumentedExample: the annotated example in docs/configuration.md is valid and means what
// the document says.
func TestDocumentedExample(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := yamlBlocks(string(doc))
	if len(blocks) < 3 {
		t.Fatalf("want the example and the migration snippets, found %d yaml blocks", len(blocks))
	}
	for i, b := range blocks {
		if _, err := Parse("docs/configuration.md block "+string(rune('0'+i)), []byte(b)); err != nil {
			t.Errorf("yaml block %d does not validate:\n%v\n%s", i, err, b)
		}
	}
	c, err := Parse("example", []byte(blocks[0]))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Rules
	if !c.DryRun || r.Default.RotateAfter != 90*day || len(r.Named) != 2 || r.Named[0].Name != "service-accounts" ||
		r.TwoActiveKeys.Mode != policy.TwoKeysDeactivateUnused || c.Notify.FallbackEmail != "cloud-security@example.com" {
		t.Fatalf("example: %+v", c)
	}
}

func yamlBlocks(md string) []string {
	var out []string
	for _, part := range strings.Split(md, "```yaml\n")[1:] {
		if end := strings.Index(part, "```"); end >= 0 {
			out = append(out, part[:end])
		}
	}
	return out
}

func TestSelftestMarker(t *testing.T) {
	cfg, err := Parse("k.yaml", []byte("selftest:\n  allowed_aliases: [\"*-sandbox\"]\n  allowed_accounts: [\"123456789012\"]\n  allowed_tag: keycycle:selftest-allowed\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Selftest; len(s.AllowedAliases) != 1 || s.AllowedAccounts[0] != "123456789012" || s.AllowedTag != MarkerTag {
		t.Fatalf("selftest = %+v", s)
	}
	_, err = Parse("k.yaml", []byte("selftest:\n  allowed_aliases: [\"[\"]\n  allowed_accounts: [\"12\"]\n"))
	if err == nil || !strings.Contains(err.Error(), "k.yaml:2") || !strings.Contains(err.Error(), "selftest.allowed_accounts[0]") {
		t.Fatalf("bad marker settings must be refused naming the field and line: %v", err)
	}
}

// Decoding problems name the field path, say types in the file's terms, and suggest the field a
// mistyped key meant.
func TestProblemsNameTheFieldAndSuggest(t *testing.T) {
	_, err := Parse("c.yaml", []byte(`rotate_afer: 90d
thresholds:
  rotate_afer: 90d
selection:
  exclude:
    - users: {a: b}
notfy: {}
`))
	for _, want := range []string{
		`c.yaml:1: rotate_afer: unknown field "rotate_afer", did you mean "thresholds.rotate_after"?`,
		`c.yaml:3: thresholds.rotate_afer: unknown field "rotate_afer", did you mean "rotate_after"?`,
		`c.yaml:6: selection.exclude[0].users: expected a list, got a mapping`,
		`c.yaml:7: notfy: unknown field "notfy", did you mean "notify"?`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("problems lack %q:\n%v", want, err)
		}
	}
}

// The example configuration the repository ships (deploy/keycycle.example.yaml, used by
// docs/deploy.md) is valid.
func TestShippedExampleIsValid(t *testing.T) {
	cfg, err := Load("../../deploy/keycycle.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.DryRun || len(cfg.Delivery.Sinks) != 2 || cfg.Notify.FallbackEmail != "security@example.com" {
		t.Fatalf("example = %+v", cfg)
	}
}

// The state prefix leaves room in a tag key (128 characters) for keycycle's longest state tag, a
// password lease: "pwlease:" and 16 characters of a run id.
func TestStatePrefixLength(t *testing.T) {
	ok := strings.Repeat("p", 104)
	if c, err := Parse("c.yaml", []byte("tags: {state_prefix: '"+ok+"'}\n")); err != nil || c.Rules.Tags.StatePrefix != ok {
		t.Fatalf("104 characters refused: %v", err)
	}
	_, err := Parse("c.yaml", []byte("tags: {state_prefix: '"+ok+"p'}\n"))
	if err == nil || !strings.Contains(err.Error(), "state_prefix") || !strings.Contains(err.Error(), "at most 104") {
		t.Fatalf("105 characters: %v", err)
	}
}
