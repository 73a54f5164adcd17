package config

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/keycycle/keycycle/internal/sinkname"
)

// GitHubSink makes the key two GitHub Actions secrets (KeyIDName, SecretKeyName) of Repository
// ("owner/name", with Environment: that environment's) or Organization (with Visibility);
// TokenSecret is the Secrets Manager secret (name or ARN) holding the token or GitHub App
// credential; APIURL is the API root (GitHub Enterprise Server). Templates take {{account}}, {{user}}.
type GitHubSink struct {
	Repository    string `yaml:"repository"`
	Environment   string `yaml:"environment"`
	Organization  string `yaml:"organization"`
	Visibility    string `yaml:"visibility"`
	KeyIDName     string `yaml:"access_key_id_name"`
	SecretKeyName string `yaml:"secret_access_key_name"`
	TokenSecret   string `yaml:"token_secret"`
	APIURL        string `yaml:"api_url"`
}

func init() {
	registerSink(sinkType{kind: sinkname.GitHub, new: func() SinkSettings { return &GitHubSink{} }})
}

// Kind is sinkname.GitHub.
func (*GitHubSink) Kind() sinkname.Kind { return sinkname.GitHub }

var (
	githubNameRE   = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	githubSecretRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	secretIDRE     = regexp.MustCompile(`^([A-Za-z0-9/_+=.@-]{1,512}|arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+)$`)
)

// Access is the secret holding the token or GitHub App credential (GitHub itself is no AWS
// resource).
func (s *GitHubSink) Access(Secret) SinkAccess { return SinkAccess{ReadSecret: s.TokenSecret} }

func (s *GitHubSink) check(c *sinkCheck) {
	lit := func(t string) string { return placeholderRE.ReplaceAllString(t, "x") }
	for _, f := range []struct{ field, value string }{{"repository", s.Repository}, {"environment", s.Environment}, {"organization", s.Organization},
		{"access_key_id_name", s.KeyIDName}, {"secret_access_key_name", s.SecretKeyName}} {
		for _, ph := range placeholderRE.FindAllString(f.value, -1) {
			if ph != "{{account}}" && ph != "{{user}}" {
				c.problem(fmt.Sprintf("unknown placeholder %s in %q: want {{account}} and {{user}}", ph, f.value), f.field)
			}
		}
	}
	switch {
	case s.Repository == "" && s.Organization == "":
		c.problem("a github sink needs repository (owner/name) or organization", "")
	case s.Repository != "" && s.Organization != "":
		c.problem("repository and organization exclude each other", "organization")
	case s.Repository != "":
		owner, repo, ok := strings.Cut(lit(s.Repository), "/")
		if !ok || !githubNameRE.MatchString(owner) || !githubNameRE.MatchString(repo) {
			c.problem(fmt.Sprintf("%q is not owner/name", s.Repository), "repository")
		}
	default:
		if !githubNameRE.MatchString(lit(s.Organization)) {
			c.problem(fmt.Sprintf("%q is not an organization name", s.Organization), "organization")
		}
		if s.Environment != "" {
			c.problem("environment applies to a repository", "environment")
		}
	}
	if s.Environment != "" && strings.ContainsAny(s.Environment, "/ ") {
		c.problem(fmt.Sprintf("%q is not an environment name", s.Environment), "environment")
	}
	switch s.Visibility {
	case "":
		if s.Organization != "" {
			s.Visibility = "private"
		}
	case "all", "private":
		if s.Organization == "" {
			c.problem("visibility applies to organization secrets", "visibility")
		}
	default:
		c.problem(fmt.Sprintf("visibility %q: want all or private", s.Visibility), "visibility")
	}
	if s.KeyIDName == "" {
		s.KeyIDName = "AWS_ACCESS_KEY_ID"
	}
	if s.SecretKeyName == "" {
		s.SecretKeyName = "AWS_SECRET_ACCESS_KEY"
	}
	for _, f := range []struct{ field, value string }{{"access_key_id_name", s.KeyIDName}, {"secret_access_key_name", s.SecretKeyName}} {
		if n := lit(f.value); !githubSecretRE.MatchString(n) || strings.HasPrefix(strings.ToUpper(n), "GITHUB_") {
			c.problem(fmt.Sprintf("%q: a GitHub secret name has letters, digits and _, starts with neither a digit nor GITHUB_", f.value), f.field)
		}
	}
	if s.KeyIDName == s.SecretKeyName {
		c.problem("access_key_id_name and secret_access_key_name must differ", "secret_access_key_name")
	}
	if s.TokenSecret == "" {
		c.problem("a github sink needs token_secret: the Secrets Manager secret holding the token or GitHub App credential (never the token itself)", "")
	} else if !secretIDRE.MatchString(s.TokenSecret) {
		c.problem(fmt.Sprintf("%q is not a Secrets Manager secret name or ARN", s.TokenSecret), "token_secret")
	}
	if s.APIURL == "" {
		s.APIURL = "https://api.github.com"
	} else if msg := checkSinkURL(s.APIURL); msg != "" {
		c.problem(strings.Replace(msg, "a webhook sink needs url", "api_url is empty", 1), "api_url")
	}
}
