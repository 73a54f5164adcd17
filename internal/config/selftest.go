package config

import (
	"fmt"
	"path"
)

// Selftest says on which accounts `keycycle selftest` may run without --yes: the
// keycycle:selftest-allowed marker. An account carries it when its IAM account alias matches one
// of AllowedAliases, when its id is in AllowedAccounts, or when AllowedTag is set and the account
// has that tag in AWS Organizations (read with organizations:ListTagsForResource; any value but
// "false"). With none of them set no account carries the marker.
type Selftest struct {
	AllowedAliases  []string // path.Match globs such as "*-sandbox"
	AllowedAccounts []string // 12-digit account ids
	AllowedTag      string   // an Organizations account tag key, such as "keycycle:selftest-allowed"
}

// MarkerTag is the Organizations account tag documented as the selftest marker.
const MarkerTag = "keycycle:selftest-allowed"

type fileSelftest struct {
	AllowedAliases  []string `yaml:"allowed_aliases"`
	AllowedAccounts []string `yaml:"allowed_accounts"`
	AllowedTag      string   `yaml:"allowed_tag"`
}

func (b *builder) selftest(dst *Selftest, f fileSelftest) {
	for i, g := range f.AllowedAliases {
		if _, err := path.Match(g, ""); err != nil || g == "" {
			b.problem(fmt.Sprintf("bad alias pattern %q: want a glob such as \"*-sandbox\"", g), "selftest", "allowed_aliases", i)
		}
	}
	for i, a := range f.AllowedAccounts {
		if !validAccountID(a) {
			b.problem(fmt.Sprintf("account id %q: want 12 digits (quote it in YAML)", a), "selftest", "allowed_accounts", i)
		}
	}
	*dst = Selftest{AllowedAliases: f.AllowedAliases, AllowedAccounts: f.AllowedAccounts, AllowedTag: f.AllowedTag}
}

func validAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
