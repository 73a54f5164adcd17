package config

import (
	"fmt"
)

// Passwords says how new console passwords are set and where the stores keep them. When they are
// rotated and when console access is removed are thresholds (password_rotate_after,
// console_unused_after, console_disable_warning); the delivery list is the access keys' one.
type Passwords struct {
	// ResetRequired: the user must choose a new password at the first sign-in with one keycycle
	// set (UpdateLoginProfile PasswordResetRequired; the Terraform + SQS module's
	// aws_login_profile_password_reset_required). Default true.
	ResetRequired bool
	// SecretTemplate names the Secrets Manager secret of a user's console password, a secret of
	// its own ({{account}}, {{user}}).
	SecretTemplate string
	// ParameterTemplate names the SSM parameter of a user's console password.
	ParameterTemplate string
}

// Password store name templates.
const (
	DefaultPasswordSecretTemplate        = "keycycle/{{account}}/{{user}}/console"
	CloudFormationPasswordSecretTemplate = "Account_{{account}}_User_{{user}}_ConsolePassword"
	DefaultPasswordParameterTemplate     = "/keycycle/{{account}}/{{user}}/console"
)

// DefaultPasswords are the password settings without a passwords section.
func DefaultPasswords() Passwords {
	return Passwords{ResetRequired: true, SecretTemplate: DefaultPasswordSecretTemplate, ParameterTemplate: DefaultPasswordParameterTemplate}
}

// passwords builds cfg.Passwords (and Rules.FlagMissingMFA) from the passwords section. It runs
// after the secret and delivery sections: a password's store must never be the one of the keys.
func (b *builder) passwords(cfg *Config, f filePasswords, fs fileSecret) {
	p := DefaultPasswords()
	if fs.Preset == "cloudformation" {
		p.SecretTemplate = CloudFormationPasswordSecretTemplate
	}
	if f.ResetRequired != nil {
		p.ResetRequired = *f.ResetRequired
	}
	if f.FlagMissingMFA != nil {
		cfg.Rules.FlagMissingMFA = *f.FlagMissingMFA
	}
	if f.SecretNameTemplate != "" {
		p.SecretTemplate = f.SecretNameTemplate
		if msg := checkTemplate(f.SecretNameTemplate); msg != "" {
			b.problem(msg, "passwords", "secret_name_template")
		}
	}
	if f.ParameterTemplate != "" {
		p.ParameterTemplate = f.ParameterTemplate
		if msg := CheckParameterTemplate(f.ParameterTemplate); msg != "" {
			b.problem(msg, "passwords", "parameter_template")
		}
	}
	// Keys and passwords in one secret would overwrite each other.
	keySecrets := map[string]bool{cfg.Secret.NameTemplate: true}
	keyParams := map[string]bool{}
	lists := [][]Sink{cfg.Delivery.Sinks}
	for _, l := range cfg.Delivery.Rules {
		lists = append(lists, l)
	}
	for _, l := range lists {
		for _, s := range l {
			if s.Settings == nil {
				continue
			}
			a := s.Settings.Access(cfg.Secret)
			if a.Secret != "" {
				keySecrets[a.Secret] = true
			}
			if a.Parameter != "" {
				keyParams[a.Parameter] = true
			}
		}
	}
	if keySecrets[p.SecretTemplate] {
		b.problem(fmt.Sprintf("%q is also the secret of access keys: passwords need a secret of their own", p.SecretTemplate), "passwords", "secret_name_template")
	}
	if keyParams[p.ParameterTemplate] {
		b.problem(fmt.Sprintf("%q is also the parameter of access keys: passwords need a parameter of their own", p.ParameterTemplate), "passwords", "parameter_template")
	}
	cfg.Passwords = p
}
