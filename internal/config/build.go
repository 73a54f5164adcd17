package config

import (
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/keycycle/keycycle/internal/policy"
	"github.com/keycycle/keycycle/internal/sinkname"
	"github.com/keycycle/keycycle/internal/yamlfile"
)

// builder turns the decoded file into a Config, collecting every problem with its line.
type builder struct {
	doc      *yamlfile.Doc
	problems yamlfile.Problems
}

func (b *builder) problem(msg string, p ...any) {
	b.problems = append(b.problems, b.doc.Problem(msg, p...))
}

func (b *builder) build(f *fileConfig) *Config {
	cfg := Default()
	if f.DryRun != nil {
		cfg.DryRun = *f.DryRun
	}
	r := &cfg.Rules

	// Tag names: preset, then individual names.
	switch f.TagPreset {
	case "", PresetKeycycle:
		cfg.TagPreset = PresetKeycycle
	case PresetTerraformSQS:
		cfg.TagPreset = PresetTerraformSQS
		r.Tags = policy.TerraformSQSTagNames()
		// The Terraform + SQS module rotates only users carrying its e-mail tag.
		r.Selection.Mode = policy.OptIn
	default:
		b.problem(fmt.Sprintf("unknown preset %q: want keycycle or terraform-sqs", f.TagPreset), "tag_preset")
	}
	b.tagName(&r.Tags.Owner, f.Tags.Owner, "owner", true)
	b.tagName(&r.Tags.RotateAfterDays, f.Tags.RotateAfterDays, "rotate_after_days", true)
	b.tagName(&r.Tags.Exempt, f.Tags.Exempt, "exempt", true)
	b.tagName(&r.Tags.StatePrefix, f.Tags.StatePrefix, "state_prefix", false)
	b.tagName(&r.Tags.PasswordRotateAfterDays, f.Tags.PasswordRotateAfterDays, "password_rotate_after_days", true)

	// Selection.
	switch f.Selection.Mode {
	case "":
	case string(policy.OptOut), string(policy.OptIn):
		r.Selection.Mode = policy.Mode(f.Selection.Mode)
	default:
		b.problem(fmt.Sprintf("unknown mode %q: want opt-out or opt-in", f.Selection.Mode), "selection", "mode")
	}
	if r.Selection.Mode == policy.OptIn && r.Tags.Owner == "" {
		b.problem("opt-in mode needs an owner tag name (tags.owner)", "selection", "mode")
	}
	r.Selection.Include = b.matches(f.Selection.Include, "selection", "include")
	r.Selection.Exclude = b.matches(f.Selection.Exclude, "selection", "exclude")
	if g := f.Selection.ExemptionGroup; g != nil {
		r.Selection.ExemptionGroup = *g
		if *g != "" && !validGroupName(*g) {
			b.problem(fmt.Sprintf("%q is not an IAM group name", *g), "selection", "exemption_group")
		}
	}

	// Thresholds: the default rule, then named rules inheriting what they do not set.
	top := f.Thresholds
	r.Default = b.thresholds(policy.DefaultThresholds(), top, top.GuardWindow != nil, false, "thresholds")
	r.Named = nil
	names := map[string]int{}
	for i, fr := range f.Rules {
		switch {
		case fr.Name == "":
			b.problem("a rule needs a name", "rules", i, "name")
		case fr.Name == policy.DefaultRuleName:
			b.problem(`"default" is the name of the thresholds section; choose another rule name`, "rules", i, "name")
		default:
			if j, dup := names[fr.Name]; dup {
				b.problem(fmt.Sprintf("rule name %q already used by rules[%d]", fr.Name, j), "rules", i, "name")
			}
			names[fr.Name] = i
		}
		m := b.match(fr.Match, "rules", i, "match")
		if m.Empty() {
			b.problem("a rule needs a match (users, paths, groups or tags); to change the thresholds of everyone, edit thresholds", "rules", i, "match")
		}
		th := b.thresholds(r.Default, fr.fileThresholds, top.GuardWindow != nil || fr.GuardWindow != nil, true, "rules", i)
		r.Named = append(r.Named, policy.Rule{Name: fr.Name, Match: m, Thresholds: th})
	}

	// Per-user overrides.
	r.Overrides.Min = b.duration(f.Overrides.MinRotateAfter, r.Overrides.Min, "overrides", "min_rotate_after")
	r.Overrides.Max = b.duration(f.Overrides.MaxRotateAfter, r.Overrides.Max, "overrides", "max_rotate_after")
	if r.Overrides.Max > 0 {
		if r.Overrides.Min <= 0 {
			b.problem("must be more than 0", "overrides", "min_rotate_after")
		}
		if r.Overrides.Min > r.Overrides.Max {
			b.problem(fmt.Sprintf("min_rotate_after %s is more than max_rotate_after %s",
				policy.FormatDuration(r.Overrides.Min), policy.FormatDuration(r.Overrides.Max)), "overrides", "min_rotate_after")
		}
		check := func(name string, th policy.Thresholds, p ...any) {
			if th.HardLimit > 0 && r.Overrides.Max >= th.HardLimit {
				b.problem(fmt.Sprintf("max_rotate_after %s must be less than hard_limit %s of rule %q",
					policy.FormatDuration(r.Overrides.Max), policy.FormatDuration(th.HardLimit), name), p...)
			}
		}
		check(policy.DefaultRuleName, r.Default, "overrides", "max_rotate_after")
		for _, nr := range r.Named {
			check(nr.Name, nr.Thresholds, "overrides", "max_rotate_after")
		}
	}

	// Two active keys.
	switch f.TwoActiveKeys.Action {
	case "":
	case string(policy.TwoKeysBlock), string(policy.TwoKeysDeactivateUnused):
		r.TwoActiveKeys.Mode = policy.TwoKeysMode(f.TwoActiveKeys.Action)
	default:
		b.problem(fmt.Sprintf("unknown action %q: want block or deactivate-unused", f.TwoActiveKeys.Action), "two_active_keys", "action")
	}
	r.TwoActiveKeys.UnusedFor = b.duration(f.TwoActiveKeys.UnusedFor, r.TwoActiveKeys.UnusedFor, "two_active_keys", "unused_for")
	if r.TwoActiveKeys.Mode == policy.TwoKeysDeactivateUnused && r.TwoActiveKeys.UnusedFor <= 0 {
		b.problem("must be more than 0 with action deactivate-unused", "two_active_keys", "unused_for")
	}

	if f.MaxDestructive != nil {
		r.MaxDestructive = *f.MaxDestructive
		if r.MaxDestructive < -1 {
			b.problem("must be -1 (no cap), 0 (no destructive steps) or more", "max_destructive")
		}
	}

	b.secret(&cfg.Secret, f.Secret)
	b.delivery(cfg, f.Delivery, f.Rules)
	b.passwords(cfg, f.Passwords, f.Secret)
	b.selftest(&cfg.Selftest, f.Selftest)

	b.notify(&cfg.Notify, f.Notify)
	cfg.Accounts = b.accounts(f.Accounts)
	cfg.Audit.File = f.Audit.File
	return cfg
}

// thresholds applies the set fields of ft over base and checks the result. guardSet says whether
// guard_window was written (here or inherited); otherwise it follows deactivate_after. inherits
// is true for a named rule, whose unset fields come from the thresholds section.
func (b *builder) thresholds(base policy.Thresholds, ft fileThresholds, guardSet, inherits bool, at ...any) policy.Thresholds {
	p := func(field string) []any { return append(append([]any{}, at...), field) }
	th := base
	th.RotateAfter = b.duration(ft.RotateAfter, th.RotateAfter, p("rotate_after")...)
	th.WarnBefore = b.duration(ft.WarnBefore, th.WarnBefore, p("warn_before")...)
	th.DeactivateAfter = b.duration(ft.DeactivateAfter, th.DeactivateAfter, p("deactivate_after")...)
	th.DeleteAfter = b.duration(ft.DeleteAfter, th.DeleteAfter, p("delete_after")...)
	if guardSet {
		th.GuardWindow = b.duration(ft.GuardWindow, th.GuardWindow, p("guard_window")...)
	} else {
		th.GuardWindow = th.DeactivateAfter
	}
	th.HardLimit = b.durationOrOff(ft.HardLimit, th.HardLimit, p("hard_limit")...)
	th.PasswordRotateAfter = b.durationOrOff(ft.PasswordRotateAfter, th.PasswordRotateAfter, p("password_rotate_after")...)
	th.ConsoleUnusedAfter = b.durationOrOff(ft.ConsoleUnusedAfter, th.ConsoleUnusedAfter, p("console_unused_after")...)
	th.ConsoleDisableWarning = b.duration(ft.ConsoleDisableWarning, th.ConsoleDisableWarning, p("console_disable_warning")...)

	// A rule reports an inconsistency only when it sets one of the fields involved; inherited
	// values were checked where they were written.
	valid := func(s *string) bool {
		if s == nil {
			return false
		}
		_, err := policy.ParseDuration(*s)
		return err == nil || strings.TrimSpace(*s) == "off"
	}
	set := map[string]bool{
		"rotate_after": valid(ft.RotateAfter), "warn_before": valid(ft.WarnBefore),
		"delete_after": valid(ft.DeleteAfter), "hard_limit": valid(ft.HardLimit),
		"console_unused_after": valid(ft.ConsoleUnusedAfter), "console_disable_warning": valid(ft.ConsoleDisableWarning),
	}
	involved := func(fields ...string) bool {
		if !inherits {
			return true
		}
		for _, f := range fields {
			if set[f] {
				return true
			}
		}
		return false
	}
	fd := policy.FormatDuration
	if th.ConsoleUnusedAfter > 0 && th.ConsoleDisableWarning <= 0 && involved("console_unused_after", "console_disable_warning") {
		b.problem("must be more than 0: console access is removed only after a warning period (to never remove it, set console_unused_after: off)",
			p("console_disable_warning")...)
	}
	if th.RotateAfter <= 0 {
		if involved("rotate_after") {
			b.problem("must be more than 0", p("rotate_after")...)
		}
		return th
	}
	if th.WarnBefore >= th.RotateAfter && involved("warn_before", "rotate_after") {
		b.problem(fmt.Sprintf("warn_before %s must be less than rotate_after %s", fd(th.WarnBefore), fd(th.RotateAfter)), p("warn_before")...)
	}
	if th.DeleteAfter <= 0 && involved("delete_after") {
		b.problem("must be more than 0: a key is deleted only a grace period after it was deactivated, so that it can be reactivated if something breaks",
			p("delete_after")...)
	}
	if th.HardLimit > 0 && th.HardLimit <= th.RotateAfter && involved("hard_limit", "rotate_after") {
		b.problem(fmt.Sprintf("hard_limit %s must be more than rotate_after %s (or off)", fd(th.HardLimit), fd(th.RotateAfter)), p("hard_limit")...)
	}
	return th
}

// durationOrOff is duration that also reads "off" as 0 (the feature is off).
func (b *builder) durationOrOff(s *string, def time.Duration, at ...any) time.Duration {
	if s != nil && strings.TrimSpace(*s) == "off" {
		return 0
	}
	return b.duration(s, def, at...)
}

// duration parses a set duration field, or returns def.
func (b *builder) duration(s *string, def time.Duration, at ...any) time.Duration {
	if s == nil {
		return def
	}
	d, err := policy.ParseDuration(*s)
	if err != nil {
		b.problem(err.Error(), at...)
		return def
	}
	return d
}

func (b *builder) matches(fms []fileMatch, at ...any) []policy.Match {
	var out []policy.Match
	for i, fm := range fms {
		p := append(append([]any{}, at...), i)
		m := b.match(fm, p...)
		if m.Empty() {
			b.problem("an entry needs users, paths, groups or tags", p...)
			continue
		}
		out = append(out, m)
	}
	return out
}

func (b *builder) match(fm fileMatch, at ...any) policy.Match {
	p := func(field string, i int) []any { return append(append([]any{}, at...), field, i) }
	for i, g := range fm.Users {
		if _, err := path.Match(g, ""); err != nil || g == "" {
			b.problem(fmt.Sprintf("%q is not a valid glob", g), p("users", i)...)
		}
	}
	for i, pre := range fm.Paths {
		if !strings.HasPrefix(pre, "/") {
			b.problem(fmt.Sprintf("path prefix %q must start with /", pre), p("paths", i)...)
		}
	}
	for i, g := range fm.Groups {
		if !validGroupName(g) {
			b.problem(fmt.Sprintf("%q is not an IAM group name", g), p("groups", i)...)
		}
	}
	for k, v := range fm.Tags {
		tp := append(append([]any{}, at...), "tags", k)
		if !validTagKey(k) {
			b.problem(fmt.Sprintf("%q is not an IAM tag key", k), tp...)
		}
		if _, err := path.Match(v, ""); err != nil {
			b.problem(fmt.Sprintf("%q is not a valid glob", v), tp...)
		}
	}
	return policy.Match{Users: fm.Users, Paths: fm.Paths, Groups: fm.Groups, Tags: fm.Tags}
}

// maxStatePrefix leaves room in IAM's 128 characters of a tag key for keycycle's longest state
// tag: a password lease, "pwlease:" and 16 characters of a run id (inventory.PasswordLeaseTag).
const maxStatePrefix = 128 - len("pwlease:") - 16

func (b *builder) tagName(dst *string, v *string, field string, emptyOK bool) {
	if v == nil {
		return
	}
	*dst = *v
	switch {
	case *v == "" && emptyOK:
	case field == "state_prefix" && (*v == "" || len(*v) > maxStatePrefix || !validTagKey(*v+"x")):
		b.problem(fmt.Sprintf("%q is not usable as a tag key prefix (IAM tag key characters, at most %d)", *v, maxStatePrefix), "tags", field)
	case field != "state_prefix" && !validTagKey(*v):
		b.problem(fmt.Sprintf("%q is not an IAM tag key", *v), "tags", field)
	}
}

var placeholderRE = regexp.MustCompile(`\{\{[^}]*\}\}`)

func (b *builder) secret(dst *Secret, fs fileSecret) {
	switch {
	case fs.Preset != "" && fs.NameTemplate != "":
		b.problem("set either preset or name_template, not both", "secret", "preset")
	case fs.Preset != "":
		t, ok := secretPresets[fs.Preset]
		if !ok {
			b.problem(fmt.Sprintf("unknown preset %q: want keycycle or cloudformation", fs.Preset), "secret", "preset")
		}
		if ok {
			dst.NameTemplate = t
		}
	case fs.NameTemplate != "":
		dst.NameTemplate = fs.NameTemplate
		if err := checkTemplate(fs.NameTemplate); err != "" {
			b.problem(err, "secret", "name_template")
		}
	}
	dst.KMSKeyID = strings.TrimSpace(fs.KMSKeyID)
	for i, r := range fs.Readers {
		if parts := strings.Split(r, ":"); len(parts) < 6 || parts[0] != "arn" || parts[2] != "iam" {
			b.problem(fmt.Sprintf("%q is not an IAM principal ARN", r), "secret", "readers", i)
		}
	}
	dst.Readers = fs.Readers
}

// checkTemplate checks a secret name template: known placeholders, {{user}} present, only the
// characters Secrets Manager allows in names around them, and short enough for the longest IAM
// user name (sinkname.SecretTemplate).
func checkTemplate(t string) string {
	for _, ph := range placeholderRE.FindAllString(t, -1) {
		if ph != "{{account}}" && ph != "{{user}}" {
			return fmt.Sprintf("unknown placeholder %s in %q: want {{account}} and {{user}}", ph, t)
		}
	}
	if !strings.Contains(t, "{{user}}") {
		return fmt.Sprintf("%q must contain {{user}}: otherwise users would share one secret", t)
	}
	lit := placeholderRE.ReplaceAllString(t, "")
	for _, c := range lit {
		if !(c < unicode.MaxASCII && (unicode.IsLetter(c) || unicode.IsDigit(c)) || strings.ContainsRune("/_+=.@-", c)) {
			return fmt.Sprintf("%q: character %q is not allowed in a secret name (letters, digits, /_+=.@-)", t, c)
		}
	}
	if err := sinkname.SecretTemplate(t); err != nil {
		return fmt.Sprintf("template of %d characters: %v", len(t), err)
	}
	return ""
}

// validTagKey: 1 to 128 of letters, digits, spaces and _ . : / = + - @, not starting with aws:.
func validTagKey(k string) bool {
	if k == "" || len(k) > 128 || strings.HasPrefix(strings.ToLower(k), "aws:") {
		return false
	}
	for _, c := range k {
		if !(unicode.IsLetter(c) || unicode.IsDigit(c) || unicode.IsSpace(c) || strings.ContainsRune("_.:/=+-@", c)) {
			return false
		}
	}
	return true
}

// validGroupName: IAM group names are 1 to 128 of letters, digits and +=,.@_-.
func validGroupName(g string) bool {
	if g == "" || len(g) > 128 {
		return false
	}
	for _, c := range g {
		if !(c < unicode.MaxASCII && (unicode.IsLetter(c) || unicode.IsDigit(c)) || strings.ContainsRune("+=,.@_-", c)) {
			return false
		}
	}
	return true
}
