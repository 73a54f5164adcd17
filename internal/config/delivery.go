package config

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/keycycle/keycycle/internal/sinkname"
)

// Delivery says where new access keys go: an ordered list of sinks for every user, and lists
// that replace it for the users of named rules. docs/delivery.md describes each sink.
type Delivery struct {
	Sinks []Sink
	// Rules maps a rule name to the sinks of its users; a rule absent here uses Sinks.
	Rules map[string][]Sink
}

// For returns the sinks of the users of a rule.
func (d Delivery) For(rule string) []Sink {
	if s, ok := d.Rules[rule]; ok {
		return s
	}
	return d.Sinks
}

// Sink types.
const (
	SinkSecretsManager = "secretsmanager"
	SinkSSM            = "ssm"
	SinkLambda         = "lambda"
	SinkWebhook        = "webhook"
	SinkEmail          = "email"
	SinkGitHub         = "github"
)

// Defaults of sink settings.
const (
	DefaultParameterTemplate = "/keycycle/{{account}}/{{user}}"
	DefaultRecipientTag      = "keycycle:age-recipient"
	DefaultWebhookAttempts   = 4
	// MaxSinks bounds a list: the delivery record on the user (a tag value of at most 256
	// characters) names every push sink of a rotation.
	MaxSinks = 8
)

// Sink is one delivery of a new access key. Type selects which of the other fields apply.
type Sink struct {
	Type string
	// Name identifies the sink in reports, audit records and the delivery record: letters,
	// digits, - and _, at most 24; default the type (type-2, type-3 for repeats).
	Name string
	// Required: a failure rolls the rotation back (the new key is deleted, the old one stays).
	// Default true. The first sink is the primary one and must be required.
	Required bool

	// secretsmanager: the secret section applies; NameTemplate, when set, replaces its name_template.
	NameTemplate string
	// ssm: Parameter is the SecureString parameter name template ({{account}}, {{user}});
	// KMSKeyID encrypts it (empty: the account's alias/aws/ssm key).
	Parameter string
	KMSKeyID  string
	// lambda: Function (name or ARN) is invoked with {"username","secretName","metadata"};
	// SecretName is the secret name template the handler reads (default: the name of this list's
	// secretsmanager sink); Metadata is per user name.
	Function   string
	SecretName string
	Metadata   map[string]any
	// webhook: URL (https; http only to a loopback address) receives a signed JSON body;
	// SigningSecretEnv names the environment variable holding the HMAC key; the body carries the
	// secret access key only with IncludeSecret; Attempts bounds retries (default 4).
	URL              string
	SigningSecretEnv string
	IncludeSecret    bool
	Attempts         int
	// email: the key, encrypted to the owner's age public key (user tag RecipientTag), is sent by
	// SES from From to the owner's address (user tag OwnerTag, default tags.owner).
	From         string
	ReplyTo      string
	RecipientTag string
	OwnerTag     string
	// github: the key becomes two GitHub Actions secrets (KeyIDName, SecretKeyName) of Repository
	// ("owner/name", with Environment: that environment's) or Organization (with Visibility);
	// TokenSecret is the Secrets Manager secret (name or ARN) holding the token or GitHub App
	// credential; APIURL is the API root (GitHub Enterprise Server). Templates take {{account}}, {{user}}.
	Repository, Environment, Organization, Visibility string
	KeyIDName, SecretKeyName                          string
	TokenSecret, APIURL                               string
}

// fileSink is one entry of a delivery list in the file.
type fileSink struct {
	Type             string         `yaml:"type"`
	Name             string         `yaml:"name"`
	Required         *bool          `yaml:"required"`
	NameTemplate     string         `yaml:"name_template"`
	Parameter        string         `yaml:"parameter"`
	KMSKeyID         string         `yaml:"kms_key_id"`
	Function         string         `yaml:"function"`
	SecretName       string         `yaml:"secret_name"`
	Metadata         map[string]any `yaml:"metadata"`
	URL              string         `yaml:"url"`
	SigningSecretEnv string         `yaml:"signing_secret_env"`
	IncludeSecret    *bool          `yaml:"include_secret"`
	Attempts         *int           `yaml:"attempts"`
	From             string         `yaml:"from"`
	ReplyTo          string         `yaml:"reply_to"`
	RecipientTag     string         `yaml:"recipient_tag"`
	OwnerTag         string         `yaml:"owner_tag"`
	Repository       string         `yaml:"repository"`
	Environment      string         `yaml:"environment"`
	Organization     string         `yaml:"organization"`
	Visibility       string         `yaml:"visibility"`
	KeyIDName        string         `yaml:"access_key_id_name"`
	SecretKeyName    string         `yaml:"secret_access_key_name"`
	TokenSecret      string         `yaml:"token_secret"`
	APIURL           string         `yaml:"api_url"`
}

// DefaultSinks is the delivery of a configuration without a delivery section: the secret section's
// Secrets Manager secret, required.
func DefaultSinks() []Sink {
	return []Sink{{Type: SinkSecretsManager, Name: SinkSecretsManager, Required: true}}
}

// delivery builds cfg.Delivery from the top-level list and the rules' lists.
func (b *builder) delivery(cfg *Config, top *[]fileSink, rules []fileRule) {
	cfg.Delivery = Delivery{Sinks: DefaultSinks()}
	if top != nil {
		cfg.Delivery.Sinks = b.sinks(cfg, *top, "delivery")
	}
	for i, fr := range rules {
		if fr.Delivery == nil {
			continue
		}
		if cfg.Delivery.Rules == nil {
			cfg.Delivery.Rules = map[string][]Sink{}
		}
		cfg.Delivery.Rules[fr.Name] = b.sinks(cfg, *fr.Delivery, "rules", i, "delivery")
	}
}

var (
	sinkNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,24}$`)
	envNameRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// An SSM parameter name: letters, digits and _.-/ (the placeholders are checked apart).
	ssmLiteralRE = regexp.MustCompile(`^[A-Za-z0-9_./-]*$`)
)

// sinks checks one delivery list.
func (b *builder) sinks(cfg *Config, fs []fileSink, at ...any) []Sink {
	p := func(i int, field string) []any { return append(append([]any{}, at...), i, field) }
	if len(fs) == 0 {
		b.problem("a delivery list needs at least one sink, the primary one (secretsmanager or ssm)", at...)
		return DefaultSinks()
	}
	if len(fs) > MaxSinks {
		b.problem(fmt.Sprintf("at most %d sinks, got %d", MaxSinks, len(fs)), at...)
	}
	out := make([]Sink, 0, len(fs))
	names := map[string]int{}
	counts := map[string]int{}
	hasSM := false
	for i, f := range fs {
		s := Sink{Type: f.Type, Name: f.Name, Required: f.Required == nil || *f.Required,
			NameTemplate: f.NameTemplate, Parameter: f.Parameter, KMSKeyID: strings.TrimSpace(f.KMSKeyID),
			Function: f.Function, SecretName: f.SecretName, Metadata: f.Metadata,
			URL: f.URL, SigningSecretEnv: f.SigningSecretEnv, IncludeSecret: f.IncludeSecret != nil && *f.IncludeSecret,
			From: f.From, ReplyTo: f.ReplyTo, RecipientTag: f.RecipientTag, OwnerTag: f.OwnerTag,
			Repository: f.Repository, Environment: f.Environment, Organization: f.Organization, Visibility: f.Visibility,
			KeyIDName: f.KeyIDName, SecretKeyName: f.SecretKeyName, TokenSecret: f.TokenSecret, APIURL: f.APIURL}
		counts[f.Type]++
		if s.Name == "" {
			s.Name = f.Type
			if n := counts[f.Type]; n > 1 {
				s.Name = fmt.Sprintf("%s-%d", f.Type, n)
			}
		} else if !sinkNameRE.MatchString(s.Name) {
			b.problem(fmt.Sprintf("%q: a sink name is 1 to 24 letters, digits, - and _", s.Name), p(i, "name")...)
		}
		if j, dup := names[s.Name]; dup {
			b.problem(fmt.Sprintf("sink name %q already used by entry %d; give one a name", s.Name, j), p(i, "name")...)
		}
		names[s.Name] = i

		// Fields that belong to other types are refused, so that a misplaced setting is not
		// silently ignored.
		set := map[string]bool{
			"name_template": f.NameTemplate != "", "parameter": f.Parameter != "", "kms_key_id": f.KMSKeyID != "",
			"function": f.Function != "", "secret_name": f.SecretName != "", "metadata": f.Metadata != nil,
			"url": f.URL != "", "signing_secret_env": f.SigningSecretEnv != "", "include_secret": f.IncludeSecret != nil,
			"attempts": f.Attempts != nil, "from": f.From != "", "reply_to": f.ReplyTo != "",
			"recipient_tag": f.RecipientTag != "", "owner_tag": f.OwnerTag != "",
			"repository": f.Repository != "", "environment": f.Environment != "", "organization": f.Organization != "",
			"visibility": f.Visibility != "", "access_key_id_name": f.KeyIDName != "", "secret_access_key_name": f.SecretKeyName != "",
			"token_secret": f.TokenSecret != "", "api_url": f.APIURL != "",
		}
		allowed := map[string][]string{
			SinkSecretsManager: {"name_template"},
			SinkSSM:            {"parameter", "kms_key_id"},
			SinkLambda:         {"function", "secret_name", "metadata"},
			SinkWebhook:        {"url", "signing_secret_env", "include_secret", "attempts"},
			SinkEmail:          {"from", "reply_to", "recipient_tag", "owner_tag"},
			SinkGitHub: {"repository", "environment", "organization", "visibility", "access_key_id_name", "secret_access_key_name",
				"token_secret", "api_url"},
		}
		fields, known := allowed[f.Type]
		if !known {
			if f.Type == "" {
				b.problem("a sink needs a type: secretsmanager, ssm, lambda, webhook, email or github", append(append([]any{}, at...), i)...)
			} else {
				b.problem(fmt.Sprintf("unknown sink type %q: want secretsmanager, ssm, lambda, webhook, email or github", f.Type), p(i, "type")...)
			}
			continue
		}
		given := make([]string, 0, len(set))
		for field, ok := range set {
			if ok {
				given = append(given, field)
			}
		}
		sort.Strings(given)
		for _, field := range given {
			if !slices.Contains(fields, field) {
				b.problem(fmt.Sprintf("%s does not apply to a %s sink", field, f.Type), p(i, field)...)
			}
		}
		if i == 0 {
			if f.Type != SinkSecretsManager && f.Type != SinkSSM {
				b.problem(fmt.Sprintf("the first sink is the primary one, which keeps the key for recovery: want secretsmanager or ssm, got %s", f.Type), p(i, "type")...)
			}
			if !s.Required {
				b.problem("the first sink is the primary one and must be required", p(i, "required")...)
			}
		}

		switch f.Type {
		case SinkSecretsManager:
			hasSM = true
			if s.NameTemplate != "" {
				if msg := checkTemplate(s.NameTemplate); msg != "" {
					b.problem(msg, p(i, "name_template")...)
				}
			}
		case SinkSSM:
			if s.Parameter == "" {
				s.Parameter = DefaultParameterTemplate
			} else if msg := checkParameterTemplate(s.Parameter); msg != "" {
				b.problem(msg, p(i, "parameter")...)
			}
		case SinkLambda:
			if s.Function == "" {
				b.problem("a lambda sink needs function (a name or ARN)", append(append([]any{}, at...), i)...)
			} else if strings.ContainsAny(s.Function, " /") {
				b.problem(fmt.Sprintf("%q is not a function name or ARN", s.Function), p(i, "function")...)
			}
			if s.SecretName != "" {
				if msg := checkTemplate(s.SecretName); msg != "" {
					b.problem(msg, p(i, "secret_name")...)
				}
			} else if !hasSM {
				b.problem("the handler fetches the key itself from a secret: put a secretsmanager sink before this one, or set secret_name", append(append([]any{}, at...), i)...)
			}
		case SinkWebhook:
			if msg := checkSinkURL(s.URL); msg != "" {
				b.problem(msg, p(i, "url")...)
			}
			if s.SigningSecretEnv == "" {
				b.problem("a webhook sink needs signing_secret_env: the environment variable holding the HMAC-SHA256 key", append(append([]any{}, at...), i)...)
			} else if !envNameRE.MatchString(s.SigningSecretEnv) {
				b.problem(fmt.Sprintf("%q is not an environment variable name", s.SigningSecretEnv), p(i, "signing_secret_env")...)
			}
			s.Attempts = DefaultWebhookAttempts
			if f.Attempts != nil {
				s.Attempts = *f.Attempts
				if s.Attempts < 1 || s.Attempts > 10 {
					b.problem("must be 1 to 10", p(i, "attempts")...)
				}
			}
		case SinkGitHub:
			b.githubSink(&s, func(field string) []any { return p(i, field) }, append(append([]any{}, at...), i))
		case SinkEmail:
			if s.From == "" {
				b.problem("an email sink needs from: an SES-verified sender address", append(append([]any{}, at...), i)...)
			} else if _, err := mail.ParseAddress(s.From); err != nil {
				b.problem(fmt.Sprintf("%q is not an e-mail address", s.From), p(i, "from")...)
			}
			if s.ReplyTo != "" {
				if _, err := mail.ParseAddress(s.ReplyTo); err != nil {
					b.problem(fmt.Sprintf("%q is not an e-mail address", s.ReplyTo), p(i, "reply_to")...)
				}
			}
			if s.RecipientTag == "" {
				s.RecipientTag = DefaultRecipientTag
			} else if !validTagKey(s.RecipientTag) {
				b.problem(fmt.Sprintf("%q is not an IAM tag key", s.RecipientTag), p(i, "recipient_tag")...)
			}
			if s.OwnerTag == "" {
				s.OwnerTag = cfg.Rules.Tags.Owner
			} else if !validTagKey(s.OwnerTag) {
				b.problem(fmt.Sprintf("%q is not an IAM tag key", s.OwnerTag), p(i, "owner_tag")...)
			}
			if s.OwnerTag == "" {
				b.problem("an email sink needs the owner's address: set owner_tag, or tags.owner", append(append([]any{}, at...), i)...)
			}
		}
		out = append(out, s)
	}
	return out
}

// checkParameterTemplate checks an SSM parameter name template: known placeholders, {{user}}
// present, SSM's characters, a leading / when it has a hierarchy, at most 15 levels.
func checkParameterTemplate(t string) string {
	for _, ph := range placeholderRE.FindAllString(t, -1) {
		if ph != "{{account}}" && ph != "{{user}}" {
			return fmt.Sprintf("unknown placeholder %s in %q: want {{account}} and {{user}}", ph, t)
		}
	}
	if !strings.Contains(t, "{{user}}") {
		return fmt.Sprintf("%q must contain {{user}}: otherwise users would share one parameter", t)
	}
	lit := placeholderRE.ReplaceAllString(t, "x")
	if !ssmLiteralRE.MatchString(lit) {
		return fmt.Sprintf("%q: a parameter name has only letters, digits and _.-/", t)
	}
	if strings.Contains(lit, "/") && !strings.HasPrefix(lit, "/") {
		return fmt.Sprintf("%q: a parameter name with a hierarchy starts with /", t)
	}
	if strings.Count(lit, "/") > 15 {
		return fmt.Sprintf("%q: at most 15 levels", t)
	}
	if strings.HasPrefix(strings.ToLower(strings.TrimPrefix(lit, "/")), "aws") || strings.HasPrefix(strings.ToLower(strings.TrimPrefix(lit, "/")), "ssm") {
		return fmt.Sprintf("%q: names beginning with aws or ssm are reserved", t)
	}
	if err := sinkname.ParameterTemplate(t); err != nil {
		return fmt.Sprintf("template of %d characters: %v", len(t), err)
	}
	return ""
}

// checkSinkURL: https, or http to a loopback address (a receiver on the same machine); no
// user:password part (credentials belong in the signing secret, not in a URL that gets printed).
func checkSinkURL(raw string) string {
	if raw == "" {
		return "a webhook sink needs url"
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Sprintf("%q is not an absolute URL", raw)
	}
	if u.User != nil {
		return "the URL must not carry a user or password"
	}
	switch u.Scheme {
	case "https":
		return ""
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); (ip != nil && ip.IsLoopback()) || host == "localhost" {
			return ""
		}
		return "the URL must be https (http only to a loopback address)"
	}
	return fmt.Sprintf("scheme %q: the URL must be https", u.Scheme)
}

var (
	githubNameRE   = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	githubSecretRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	secretIDRE     = regexp.MustCompile(`^([A-Za-z0-9/_+=.@-]{1,512}|arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+)$`)
)

// githubSink checks a github sink and fills its defaults.
func (b *builder) githubSink(s *Sink, p func(string) []any, at []any) {
	lit := func(t string) string { return placeholderRE.ReplaceAllString(t, "x") }
	for _, f := range []struct{ field, value string }{{"repository", s.Repository}, {"environment", s.Environment}, {"organization", s.Organization},
		{"access_key_id_name", s.KeyIDName}, {"secret_access_key_name", s.SecretKeyName}} {
		for _, ph := range placeholderRE.FindAllString(f.value, -1) {
			if ph != "{{account}}" && ph != "{{user}}" {
				b.problem(fmt.Sprintf("unknown placeholder %s in %q: want {{account}} and {{user}}", ph, f.value), p(f.field)...)
			}
		}
	}
	switch {
	case s.Repository == "" && s.Organization == "":
		b.problem("a github sink needs repository (owner/name) or organization", at...)
	case s.Repository != "" && s.Organization != "":
		b.problem("repository and organization exclude each other", p("organization")...)
	case s.Repository != "":
		owner, repo, ok := strings.Cut(lit(s.Repository), "/")
		if !ok || !githubNameRE.MatchString(owner) || !githubNameRE.MatchString(repo) {
			b.problem(fmt.Sprintf("%q is not owner/name", s.Repository), p("repository")...)
		}
	default:
		if !githubNameRE.MatchString(lit(s.Organization)) {
			b.problem(fmt.Sprintf("%q is not an organization name", s.Organization), p("organization")...)
		}
		if s.Environment != "" {
			b.problem("environment applies to a repository", p("environment")...)
		}
	}
	if s.Environment != "" && strings.ContainsAny(s.Environment, "/ ") {
		b.problem(fmt.Sprintf("%q is not an environment name", s.Environment), p("environment")...)
	}
	switch s.Visibility {
	case "":
		if s.Organization != "" {
			s.Visibility = "private"
		}
	case "all", "private":
		if s.Organization == "" {
			b.problem("visibility applies to organization secrets", p("visibility")...)
		}
	default:
		b.problem(fmt.Sprintf("visibility %q: want all or private", s.Visibility), p("visibility")...)
	}
	if s.KeyIDName == "" {
		s.KeyIDName = "AWS_ACCESS_KEY_ID"
	}
	if s.SecretKeyName == "" {
		s.SecretKeyName = "AWS_SECRET_ACCESS_KEY"
	}
	for _, f := range []struct{ field, value string }{{"access_key_id_name", s.KeyIDName}, {"secret_access_key_name", s.SecretKeyName}} {
		if n := lit(f.value); !githubSecretRE.MatchString(n) || strings.HasPrefix(strings.ToUpper(n), "GITHUB_") {
			b.problem(fmt.Sprintf("%q: a GitHub secret name has letters, digits and _, starts with neither a digit nor GITHUB_", f.value), p(f.field)...)
		}
	}
	if s.KeyIDName == s.SecretKeyName {
		b.problem("access_key_id_name and secret_access_key_name must differ", p("secret_access_key_name")...)
	}
	if s.TokenSecret == "" {
		b.problem("a github sink needs token_secret: the Secrets Manager secret holding the token or GitHub App credential (never the token itself)", at...)
	} else if !secretIDRE.MatchString(s.TokenSecret) {
		b.problem(fmt.Sprintf("%q is not a Secrets Manager secret name or ARN", s.TokenSecret), p("token_secret")...)
	}
	if s.APIURL == "" {
		s.APIURL = "https://api.github.com"
	} else if msg := checkSinkURL(s.APIURL); msg != "" {
		b.problem(strings.Replace(msg, "a webhook sink needs url", "api_url is empty", 1), p("api_url")...)
	}
}
