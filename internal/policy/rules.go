// Package policy decides, from an inventory snapshot, rules and a time, what keycycle should do
// with each credential and why. It is pure: no AWS, no clock, no I/O. Evaluate is deterministic.
//
// It holds the rotation policy (when a credential is due, guarded, retired). The IAM policies
// keycycle's roles need are another thing, in internal/iampolicy, printed by `keycycle policy`
// (internal/cli/iampolicy.go).
package policy

import (
	"time"
)

// Day is 24 hours; thresholds are written in days.
const Day = 24 * time.Hour

// DefaultRuleName names the thresholds that apply when no named rule matches.
const DefaultRuleName = "default"

// Thresholds are the time limits of one rule.
type Thresholds struct {
	// RotateAfter: an active key this old is rotated.
	RotateAfter time.Duration
	// WarnBefore: a key within this lead time of RotateAfter gets a warning.
	WarnBefore time.Duration
	// DeactivateAfter: the grace after the new key was delivered before the old key is
	// deactivated, and then only when the old key was not used since the delivery.
	DeactivateAfter time.Duration
	// DeleteAfter: an inactive key is deleted this long after keycycle deactivated it.
	DeleteAfter time.Duration
	// GuardWindow: a key used within this window is never deactivated (unless HardLimit).
	GuardWindow time.Duration
	// HardLimit, when non-zero: an active key this old is deactivated even when it is in use,
	// but only after the delivery grace and only when the user has another active key.
	HardLimit time.Duration

	// PasswordRotateAfter: a console password this old (since its last change) is replaced by a
	// new one; 0: passwords are not rotated.
	PasswordRotateAfter time.Duration
	// ConsoleUnusedAfter: console access (the login profile) whose password was not used for this
	// long is disabled, after ConsoleDisableWarning; 0: never. An unused password is not rotated.
	ConsoleUnusedAfter time.Duration
	// ConsoleDisableWarning: how long after keycycle first warned about an unused login profile it
	// is deleted, if the password stays unused.
	ConsoleDisableWarning time.Duration
}

// DefaultThresholds are keycycle's documented defaults (docs/configuration.md).
func DefaultThresholds() Thresholds {
	return Thresholds{
		RotateAfter:     90 * Day,
		WarnBefore:      14 * Day,
		DeactivateAfter: 10 * Day,
		DeleteAfter:     10 * Day,
		GuardWindow:     10 * Day,
		HardLimit:       0,

		PasswordRotateAfter:   60 * Day,
		ConsoleUnusedAfter:    45 * Day,
		ConsoleDisableWarning: 14 * Day,
	}
}

// Match selects users. Every non-empty field must match (AND). Within Users, Paths and Groups any
// entry may match (OR); every entry of Tags must match. A Match with no field set matches every
// user.
type Match struct {
	Users  []string          // user name globs (path.Match syntax)
	Paths  []string          // IAM path prefixes, such as "/service/"
	Groups []string          // group names
	Tags   map[string]string // tag key -> value glob; "*" matches any value, also the empty one
}

// Empty reports whether m sets no criterion.
func (m Match) Empty() bool {
	return len(m.Users) == 0 && len(m.Paths) == 0 && len(m.Groups) == 0 && len(m.Tags) == 0
}

// Mode is how users are selected.
type Mode string

// Selection modes.
const (
	// OptOut: every user but the exclusions (the default).
	OptOut Mode = "opt-out"
	// OptIn: only users carrying a non-empty owner tag (TagNames.Owner).
	OptIn Mode = "opt-in"
)

// Selection says which users keycycle manages at all.
type Selection struct {
	Mode Mode
	// Include, when non-empty, limits keycycle to users matching any entry.
	Include []Match
	// Exclude removes users matching any entry.
	Exclude []Match
	// ExemptionGroup: members are skipped (empty: no exemption group).
	ExemptionGroup string
}

// Rule applies its thresholds to the users it matches. Named rules are tried in order; the first
// match wins; users no rule matches get Rules.Default.
type Rule struct {
	Name  string
	Match Match
	Thresholds
}

// Overrides bound the per-user rotate-after overrides read from the tags TagNames.RotateAfterDays
// and TagNames.PasswordRotateAfterDays (whole days). A value outside [Min, Max] is ignored with a
// warning. Max zero disables overrides.
type Overrides struct {
	Min, Max time.Duration
}

// TwoKeysMode is what to do when a user has two active keys and a key is due.
type TwoKeysMode string

// Two-active-keys modes.
const (
	// TwoKeysBlock: report the user as blocked; a person decides (the default).
	TwoKeysBlock TwoKeysMode = "block"
	// TwoKeysDeactivateUnused: deactivate the key not used for TwoActiveKeys.UnusedFor (and not
	// within the guard window); if both qualify, the one idle longer. Blocked when neither does.
	TwoKeysDeactivateUnused TwoKeysMode = "deactivate-unused"
)

// TwoActiveKeys is the rule for users with two active keys.
type TwoActiveKeys struct {
	Mode      TwoKeysMode
	UnusedFor time.Duration
}

// TagNames are the user tags the policy reads.
type TagNames struct {
	Owner           string // owner e-mail; required in opt-in mode
	RotateAfterDays string // per-user rotate_after override, whole days
	// PasswordRotateAfterDays: per-user password_rotate_after override, whole days.
	PasswordRotateAfterDays string
	Exempt                  string // exemption: "until=<YYYY-MM-DD> reason=<text>", or a bare reason
	StatePrefix             string // prefix of keycycle's state tags (inventory.IntentTag and friends)
}

// DefaultTagNames are the tag names of the "keycycle" preset.
func DefaultTagNames() TagNames {
	return TagNames{
		Owner:           "owner",
		RotateAfterDays: "keycycle:rotate-after-days",
		Exempt:          "keycycle:exempt",
		StatePrefix:     "keycycle:",

		PasswordRotateAfterDays: "keycycle:password-rotate-after-days",
	}
}

// TerraformSQSTagNames are the tag names of the "terraform-sqs" preset: the tags of the
// Terraform + SQS rotation module, so its users switch without retagging.
func TerraformSQSTagNames() TagNames {
	t := DefaultTagNames()
	t.Owner = "IamRotateCredentials:Email"
	t.RotateAfterDays = "IamRotateCredentials:CliTimeLimit"
	t.PasswordRotateAfterDays = "IamRotateCredentials:LoginProfileTimeLimit"
	return t
}

// Rules is everything the policy needs besides the inventory and the time.
type Rules struct {
	// Default thresholds, reported as rule "default".
	Default Thresholds
	// Named rules, first match wins.
	Named     []Rule
	Selection Selection
	Overrides Overrides
	// TwoActiveKeys: what to do with two active keys when a key is due.
	TwoActiveKeys TwoActiveKeys
	// MaxDestructive caps deactivate+delete steps per run; later ones become skips. 0 allows
	// none; -1 means no cap.
	MaxDestructive int
	Tags           TagNames
	// FlagMissingMFA: a managed user with console access and no MFA device gets a warn step.
	FlagMissingMFA bool
}

// DefaultRules are the rules keycycle runs with when there is no configuration file: every user
// except members of IAMKeyRotationExemptionGroup and users tagged keycycle:exempt, default
// thresholds, two active keys blocked, at most 20 destructive steps per run.
func DefaultRules() Rules {
	return Rules{
		Default: DefaultThresholds(),
		Selection: Selection{
			Mode:           OptOut,
			ExemptionGroup: "IAMKeyRotationExemptionGroup",
		},
		Overrides:      Overrides{Min: 1 * Day, Max: 90 * Day},
		TwoActiveKeys:  TwoActiveKeys{Mode: TwoKeysBlock, UnusedFor: 30 * Day},
		MaxDestructive: 20,
		Tags:           DefaultTagNames(),
		FlagMissingMFA: true,
	}
}
