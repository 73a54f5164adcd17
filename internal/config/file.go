package config

import "go.yaml.in/yaml/v3"

// The file's shape. Durations are strings here (parsed with policy.ParseDuration so that problems
// name the line); pointers tell "not set" (inherit the default) from "set".

type fileConfig struct {
	DryRun         *bool          `yaml:"dry_run"`
	TagPreset      string         `yaml:"tag_preset"`
	Tags           fileTags       `yaml:"tags"`
	Selection      fileSelection  `yaml:"selection"`
	Thresholds     fileThresholds `yaml:"thresholds"`
	Rules          []fileRule     `yaml:"rules"`
	Overrides      fileOverrides  `yaml:"overrides"`
	TwoActiveKeys  fileTwoKeys    `yaml:"two_active_keys"`
	MaxDestructive *int           `yaml:"max_destructive"`
	Secret         fileSecret     `yaml:"secret"`
	Notify         fileNotify     `yaml:"notify"`
	Audit          fileAudit      `yaml:"audit"`
	Delivery       *[]yaml.Node   `yaml:"delivery"`
	Accounts       *fileAccounts  `yaml:"accounts"`
	Passwords      filePasswords  `yaml:"passwords"`
	Selftest       fileSelftest   `yaml:"selftest"`
}

type filePasswords struct {
	ResetRequired      *bool  `yaml:"reset_required"`
	FlagMissingMFA     *bool  `yaml:"flag_missing_mfa"`
	SecretNameTemplate string `yaml:"secret_name_template"`
	ParameterTemplate  string `yaml:"parameter_template"`
}

type fileTags struct {
	Owner           *string `yaml:"owner"`
	RotateAfterDays *string `yaml:"rotate_after_days"`
	Exempt          *string `yaml:"exempt"`
	StatePrefix     *string `yaml:"state_prefix"`

	PasswordRotateAfterDays *string `yaml:"password_rotate_after_days"`
}

type fileSelection struct {
	Mode           string      `yaml:"mode"`
	Include        []fileMatch `yaml:"include"`
	Exclude        []fileMatch `yaml:"exclude"`
	ExemptionGroup *string     `yaml:"exemption_group"`
}

type fileMatch struct {
	Users  []string          `yaml:"users"`
	Paths  []string          `yaml:"paths"`
	Groups []string          `yaml:"groups"`
	Tags   map[string]string `yaml:"tags"`
}

type fileThresholds struct {
	RotateAfter     *string `yaml:"rotate_after"`
	WarnBefore      *string `yaml:"warn_before"`
	DeactivateAfter *string `yaml:"deactivate_after"`
	DeleteAfter     *string `yaml:"delete_after"`
	GuardWindow     *string `yaml:"guard_window"`
	HardLimit       *string `yaml:"hard_limit"`

	PasswordRotateAfter   *string `yaml:"password_rotate_after"`
	ConsoleUnusedAfter    *string `yaml:"console_unused_after"`
	ConsoleDisableWarning *string `yaml:"console_disable_warning"`
}

type fileRule struct {
	Name           string    `yaml:"name"`
	Match          fileMatch `yaml:"match"`
	fileThresholds `yaml:",inline"`
	Delivery       *[]yaml.Node `yaml:"delivery"`
}

type fileOverrides struct {
	MinRotateAfter *string `yaml:"min_rotate_after"`
	MaxRotateAfter *string `yaml:"max_rotate_after"`
}

type fileTwoKeys struct {
	Action    string  `yaml:"action"`
	UnusedFor *string `yaml:"unused_for"`
}

type fileSecret struct {
	NameTemplate string   `yaml:"name_template"`
	Preset       string   `yaml:"preset"`
	KMSKeyID     string   `yaml:"kms_key_id"`
	Readers      []string `yaml:"readers"`
}

type fileAudit struct {
	File string `yaml:"file"`
}
