package config

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// Accounts says which AWS accounts a run covers and how keycycle reaches them. A nil *Accounts
// (no `accounts:` section) means the account the credentials belong to, and nothing else.
type Accounts struct {
	// Source is "organization" (list the AWS Organization's accounts) or "list" (IDs only).
	Source string
	// IDs: with source list, the accounts; with source organization, a filter (globs allowed).
	IDs []string
	// OUs selects organizational units (ou-... or r-... ids), recursively; organization only.
	OUs []string
	// Exclude drops account ids (globs allowed).
	Exclude []string
	// Tags every selected account must carry (Organizations account tags; value "*" for any).
	Tags map[string]string
	// Role is the member role: a name, or an ARN template with {{account}} (default
	// DefaultMemberRole).
	Role        string
	ExternalID  string
	SessionName string
	// Concurrency is how many accounts are worked on at once.
	Concurrency int
	// Rate limits per account (AWS-FACTS.md: about 5 reads/s and 2 writes/s sustained).
	ReadsPerSecond, WritesPerSecond float64
	ReadBurst, WriteBurst           int
}

// Defaults of the accounts section, shared by the CLI and the Lambda function: the member role
// is the one `keycycle policy`, the Terraform module and the CloudFormation StackSet create.
const (
	DefaultMemberRole  = "KeycycleMember"
	DefaultSessionName = "keycycle"
)

// Account sources.
const (
	SourceOrganization = "organization"
	SourceList         = "list"
)

type fileAccounts struct {
	Source      string            `yaml:"source"`
	IDs         []string          `yaml:"ids"`
	OUs         []string          `yaml:"ous"`
	Exclude     []string          `yaml:"exclude"`
	Tags        map[string]string `yaml:"tags"`
	Role        string            `yaml:"role"`
	ExternalID  string            `yaml:"external_id"`
	SessionName string            `yaml:"session_name"`
	Concurrency *int              `yaml:"concurrency"`
	RateLimit   struct {
		ReadsPerSecond  *float64 `yaml:"reads_per_second"`
		ReadBurst       *int     `yaml:"read_burst"`
		WritesPerSecond *float64 `yaml:"writes_per_second"`
		WriteBurst      *int     `yaml:"write_burst"`
	} `yaml:"rate_limit"`
}

var (
	ouRE          = regexp.MustCompile(`^(ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32})$`)
	accountGlobRE = regexp.MustCompile(`^[0-9*?\[\]-]{1,12}$`)
	sessionRE     = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	roleNameRE    = regexp.MustCompile(`^[\w+=,.@/-]{1,64}$`)
)

func (b *builder) accounts(fa *fileAccounts) *Accounts {
	if fa == nil {
		return nil
	}
	a := &Accounts{Source: fa.Source, IDs: fa.IDs, OUs: fa.OUs, Exclude: fa.Exclude, Tags: fa.Tags,
		Role: fa.Role, ExternalID: fa.ExternalID, SessionName: fa.SessionName, Concurrency: 8,
		ReadsPerSecond: 5, ReadBurst: 15, WritesPerSecond: 2, WriteBurst: 5}
	switch a.Source {
	case SourceOrganization, SourceList:
	case "":
		b.problem("required: organization or list", "accounts", "source")
	default:
		b.problem(fmt.Sprintf("must be organization or list, got %q", a.Source), "accounts", "source")
	}
	if a.Role == "" {
		a.Role = DefaultMemberRole
	}
	if strings.HasPrefix(a.Role, "arn:") {
		if !strings.Contains(a.Role, "{{account}}") {
			b.problem("an ARN template must contain {{account}}", "accounts", "role")
		}
	} else if !roleNameRE.MatchString(a.Role) {
		b.problem(fmt.Sprintf("invalid role name %q", a.Role), "accounts", "role")
	}
	if a.SessionName == "" {
		a.SessionName = DefaultSessionName
	} else if !sessionRE.MatchString(a.SessionName) {
		b.problem("2-64 of letters, digits and +=,.@_-", "accounts", "session_name")
	}
	if a.Source == SourceList && len(a.IDs) == 0 {
		b.problem("source list needs at least one account id", "accounts", "ids")
	}
	if a.Source == SourceList && (len(a.OUs) > 0 || len(a.Tags) > 0) {
		b.problem("ous and tags need source organization", "accounts", "source")
	}
	for i, id := range a.IDs {
		b.accountID(id, a.Source == SourceList, "accounts", "ids", i)
	}
	for i, id := range a.Exclude {
		b.accountID(id, false, "accounts", "exclude", i)
	}
	for i, ou := range a.OUs {
		if !ouRE.MatchString(ou) {
			b.problem(fmt.Sprintf("%q is not an OU or root id (ou-xxxx-xxxxxxxx, r-xxxx)", ou), "accounts", "ous", i)
		}
	}
	for k, v := range a.Tags {
		if _, err := path.Match(v, ""); err != nil {
			b.problem(fmt.Sprintf("invalid value pattern %q", v), "accounts", "tags", k)
		}
	}
	if fa.Concurrency != nil {
		a.Concurrency = *fa.Concurrency
		if a.Concurrency < 1 || a.Concurrency > 256 {
			b.problem("must be within 1..256", "accounts", "concurrency")
		}
	}
	rl := fa.RateLimit
	rate := func(dst *float64, v *float64, field string) {
		if v != nil {
			*dst = *v
			if *v <= 0 || *v > 1000 {
				b.problem("must be > 0 and <= 1000", "accounts", "rate_limit", field)
			}
		}
	}
	burst := func(dst *int, v *int, field string) {
		if v != nil {
			*dst = *v
			if *v < 1 || *v > 1000 {
				b.problem("must be within 1..1000", "accounts", "rate_limit", field)
			}
		}
	}
	rate(&a.ReadsPerSecond, rl.ReadsPerSecond, "reads_per_second")
	rate(&a.WritesPerSecond, rl.WritesPerSecond, "writes_per_second")
	burst(&a.ReadBurst, rl.ReadBurst, "read_burst")
	burst(&a.WriteBurst, rl.WriteBurst, "write_burst")
	return a
}

func (b *builder) accountID(id string, exact bool, p ...any) {
	ok := accountIDRE.MatchString(id)
	if !exact && !ok && strings.ContainsAny(id, "*?[") {
		_, err := path.Match(id, "")
		ok = err == nil && accountGlobRE.MatchString(id)
	}
	if !ok {
		b.problem(fmt.Sprintf("%q is not a 12-digit account id%s", id, map[bool]string{true: "", false: " or a glob of one"}[exact]), p...)
	}
}

var accountIDRE = regexp.MustCompile(`^[0-9]{12}$`)
