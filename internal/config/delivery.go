package config

import (
	"fmt"
	"net"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/keycycle/keycycle/internal/sinkname"
	"github.com/keycycle/keycycle/internal/yamlfile"
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

// Defaults of sink settings.
const (
	DefaultParameterTemplate = "/keycycle/{{account}}/{{user}}"
	// MaxSinks bounds a list: the delivery record on the user (a tag value of at most 256
	// characters) names every push sink of a rotation.
	MaxSinks = 8
)

// Sink is one delivery of a new access key: what every sink has (a name, whether it is required)
// and the settings of its type.
type Sink struct {
	// Name identifies the sink in reports, audit records and the delivery record: letters,
	// digits, - and _, at most 24; default the type (type-2, type-3 for repeats).
	Name string
	// Required: a failure rolls the rotation back (the new key is deleted, the old one stays).
	// Default true. The first sink is the primary one and must be required.
	Required bool
	// Settings are the fields of the sink's type (*sink.SSMConfig, ...).
	Settings SinkSettings
}

// Kind is the sink's type; "" without settings.
func (s Sink) Kind() sinkname.Kind {
	if s.Settings == nil {
		return ""
	}
	return s.Settings.Kind()
}

// SinkSettings are the fields of one sink type, decoded from its entry in a delivery list (the
// struct's yaml tags name them). Each type lives in one file of internal/sink, which declares
// them and registers them with RegisterSinkType.
type SinkSettings interface {
	Kind() sinkname.Kind
	// Check validates the decoded fields and fills their defaults, reporting problems with
	// c.Problem.
	Check(c *SinkCheck)
	// Access says what the sink reaches, given the configuration's secret section.
	Access(sec Secret) SinkAccess
}

// SinkAccess is what a sink reaches outside keycycle: the AWS resources it writes or reads (the
// IAM policy keycycle needs grants them, internal/iampolicy; `keycycle check` probes them) and
// what else it needs. Empty fields do not apply.
type SinkAccess struct {
	// Secret is the name template of the Secrets Manager secret the key is written to (encrypted
	// with the secret section's KMS key).
	Secret string
	// Parameter is the name template of the SSM parameter the key is written to; ParameterKey
	// encrypts it (empty: the account's aws/ssm key).
	Parameter, ParameterKey string
	// Function is the Lambda function (name or ARN) invoked.
	Function string
	// ReadSecret is the Secrets Manager secret (name or ARN) a credential of the sink is read
	// from (secretsmanager:GetSecretValue), such as a token for a service outside AWS.
	ReadSecret string
	// Sender is the SES sender address.
	Sender string
	// Env is the environment variable the sink needs set; URL is the endpoint it posts to.
	Env, URL string
}

// SinkType is one type of sink, as its file in internal/sink registers it.
type SinkType struct {
	// Kind is the type's name in a delivery list (type: ...).
	Kind sinkname.Kind
	// About is what a person is told about the kind (its service, how to fetch from it).
	About sinkname.About
	// Primary: the type may be the first sink of a list, the one that keeps the key for
	// recovery (its sink must be a rotation.Holder, Reader and PasswordSink).
	Primary bool
	// New returns zero settings of the type, whose Kind is Kind.
	New func() SinkSettings
}

// sinkTypes is the registry of sink types, filled by each type's init in internal/sink.
var sinkTypes = map[sinkname.Kind]SinkType{}

// RegisterSinkType adds a sink type; call it from the init of the type's file. A kind
// registered twice, or a type without New, panics.
func RegisterSinkType(t SinkType) {
	if _, dup := sinkTypes[t.Kind]; dup || t.New == nil {
		panic("config: sink type " + string(t.Kind) + " registered twice or without New")
	}
	if k := t.New().Kind(); k != t.Kind {
		panic("config: sink type " + string(t.Kind) + " has settings of kind " + string(k))
	}
	sinkname.Register(t.Kind, t.About)
	sinkTypes[t.Kind] = t
}

// SinkKinds lists the registered sink types, sorted.
func SinkKinds() []sinkname.Kind {
	out := make([]sinkname.Kind, 0, len(sinkTypes))
	for k := range sinkTypes {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// NewSinkSettings returns the zero settings of a registered sink type, and whether it may be
// the primary sink; nil for an unknown type.
func NewSinkSettings(k sinkname.Kind) (s SinkSettings, primary bool) {
	t, ok := sinkTypes[k]
	if !ok {
		return nil, false
	}
	return t.New(), t.Primary
}

// sinkTypeNames lists the registered types ("a, b or c"), the primary ones only when asked.
func sinkTypeNames(primaryOnly bool) string {
	var names []string
	for k, t := range sinkTypes {
		if t.Primary || !primaryOnly {
			names = append(names, string(k))
		}
	}
	sort.Strings(names)
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// SinkCheck is what a sink type's Check sees: its fields' paths, which keys the entry sets, the
// sinks before it in the list and the configuration built so far.
type SinkCheck struct {
	b      *builder
	cfg    *Config
	at     []any // the entry's path
	keys   map[string]bool
	before []Sink
}

// Problem reports msg at the entry's field (the entry itself when field is ""), with its line.
func (c *SinkCheck) Problem(msg, field string) {
	p := append([]any{}, c.at...)
	if field != "" {
		p = append(p, field)
	}
	c.b.problem(msg, p...)
}

// Set says whether the entry gives field (a yaml key), to tell a zero value from an absent one.
func (c *SinkCheck) Set(field string) bool { return c.keys[field] }

// Before lists the sinks before this one in its delivery list.
func (c *SinkCheck) Before() []Sink { return c.before }

// Config is the configuration built so far: every section but delivery and passwords (tags,
// secret, notify...).
func (c *SinkCheck) Config() *Config { return c.cfg }

// DefaultSinks is the delivery of a configuration without a delivery section: the secret section's
// Secrets Manager secret, required. Its settings are nil when no secretsmanager sink type is
// registered (a program that reads configurations imports internal/sink).
func DefaultSinks() []Sink {
	settings, _ := NewSinkSettings(sinkname.SecretsManager)
	return []Sink{{Name: string(sinkname.SecretsManager), Required: true, Settings: settings}}
}

// delivery builds cfg.Delivery from the top-level list and the rules' lists.
func (b *builder) delivery(cfg *Config, top *[]yaml.Node, rules []fileRule) {
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
	secretIDRE = regexp.MustCompile(`^([A-Za-z0-9/_+=.@-]{1,512}|arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+)$`)
	// An SSM parameter name: letters, digits and _.-/ (the placeholders are checked apart).
	ssmLiteralRE = regexp.MustCompile(`^[A-Za-z0-9_./-]*$`)
)

// sinkHeader holds the fields every sink has.
type sinkHeader struct {
	Type     string `yaml:"type"`
	Name     string `yaml:"name"`
	Required *bool  `yaml:"required"`
}

// decodeNode decodes n into v, reporting type mismatches as problems on their lines.
func (b *builder) decodeNode(n *yaml.Node, v any) bool {
	ps := b.doc.DecodeNode(n, v)
	for _, p := range ps {
		b.problems = append(b.problems, explain(b.doc, p))
	}
	return len(ps) == 0
}

// sinks checks one delivery list.
func (b *builder) sinks(cfg *Config, nodes []yaml.Node, at ...any) []Sink {
	entry := func(i int) []any { return append(append([]any{}, at...), i) }
	p := func(i int, field string) []any { return append(entry(i), field) }
	if len(nodes) == 0 {
		b.problem(fmt.Sprintf("a delivery list needs at least one sink, the primary one (%s)", sinkTypeNames(true)), at...)
		return DefaultSinks()
	}
	if len(nodes) > MaxSinks {
		b.problem(fmt.Sprintf("at most %d sinks, got %d", MaxSinks, len(nodes)), at...)
	}
	headerFields := yamlfile.FieldNames(reflect.TypeOf(sinkHeader{}))
	out := make([]Sink, 0, len(nodes))
	names := map[string]int{}
	counts := map[string]int{}
	for i := range nodes {
		n := &nodes[i]
		if n.Kind != yaml.MappingNode {
			b.problem("a sink is a mapping: type, name, required and the fields of its type", entry(i)...)
			continue
		}
		var h sinkHeader
		if !b.decodeNode(n, &h) {
			continue
		}
		s := Sink{Name: h.Name, Required: h.Required == nil || *h.Required}
		counts[h.Type]++
		if s.Name == "" {
			s.Name = h.Type
			if c := counts[h.Type]; c > 1 {
				s.Name = fmt.Sprintf("%s-%d", h.Type, c)
			}
		} else if !sinkNameRE.MatchString(s.Name) {
			b.problem(fmt.Sprintf("%q: a sink name is 1 to 24 letters, digits, - and _", s.Name), p(i, "name")...)
		}
		if j, dup := names[s.Name]; dup {
			b.problem(fmt.Sprintf("sink name %q already used by entry %d; give one a name", s.Name, j), p(i, "name")...)
		}
		names[s.Name] = i

		t, known := sinkTypes[sinkname.Kind(h.Type)]
		if !known {
			if h.Type == "" {
				b.problem("a sink needs a type: "+sinkTypeNames(false), entry(i)...)
			} else {
				b.problem(fmt.Sprintf("unknown sink type %q: want %s", h.Type, sinkTypeNames(false)), p(i, "type")...)
			}
			continue
		}
		s.Settings = t.New()
		own := yamlfile.FieldNames(reflect.TypeOf(s.Settings))
		// Fields that belong to other types are refused, so that a misplaced setting is not
		// silently ignored; a field of no type is a typo.
		keys := map[string]bool{}
		for k := 0; k+1 < len(n.Content); k += 2 {
			key := n.Content[k].Value
			keys[key] = true
			switch {
			case slices.Contains(headerFields, key), slices.Contains(own, key):
			case otherSinkField(key):
				b.problem(fmt.Sprintf("%s does not apply to a %s sink", key, h.Type), p(i, key)...)
			default:
				msg := fmt.Sprintf("unknown field %q", key)
				if near := yamlfile.Nearest(key, append(append([]string{}, headerFields...), own...)); near != "" {
					msg += fmt.Sprintf(", did you mean %q?", near)
				}
				b.problem(msg, p(i, key)...)
			}
		}
		if i == 0 {
			if !t.Primary {
				b.problem(fmt.Sprintf("the first sink is the primary one, which keeps the key for recovery: want %s, got %s", sinkTypeNames(true), h.Type), p(i, "type")...)
			}
			if !s.Required {
				b.problem("the first sink is the primary one and must be required", p(i, "required")...)
			}
		}
		if b.decodeNode(n, s.Settings) {
			s.Settings.Check(&SinkCheck{b: b, cfg: cfg, at: entry(i), keys: keys, before: out})
		}
		out = append(out, s)
	}
	return out
}

// otherSinkField says whether some sink type has the field.
func otherSinkField(field string) bool {
	for _, t := range sinkTypes {
		if slices.Contains(yamlfile.FieldNames(reflect.TypeOf(t.New())), field) {
			return true
		}
	}
	return false
}

// CheckParameterTemplate checks an SSM parameter name template: known placeholders, {{user}}
// present, SSM's characters, a leading / when it has a hierarchy, at most 15 levels. It returns
// the problem, "" for none.
func CheckParameterTemplate(t string) string {
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

// CheckURL checks the URL a sink posts to: https, or http to a loopback address (a receiver on
// the same machine); no user:password part (credentials belong in a secret, not in a URL that
// gets printed). It returns the problem, "" for none; an empty URL is "is empty".
func CheckURL(raw string) string {
	if raw == "" {
		return "is empty"
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

// CheckSecretTemplate checks a Secrets Manager secret name template ({{account}}, {{user}}):
// known placeholders, {{user}} present, Secrets Manager's characters and length. It returns the
// problem, "" for none.
func CheckSecretTemplate(t string) string { return checkTemplate(t) }

// CheckPlaceholders returns the problem with the placeholders of a template whose only ones
// are {{account}} and {{user}}, "" for none.
func CheckPlaceholders(t string) string {
	for _, ph := range placeholderRE.FindAllString(t, -1) {
		if ph != "{{account}}" && ph != "{{user}}" {
			return fmt.Sprintf("unknown placeholder %s in %q: want {{account}} and {{user}}", ph, t)
		}
	}
	return ""
}

// TemplateLiteral is t with every placeholder replaced by x: what to check characters on.
func TemplateLiteral(t string) string { return placeholderRE.ReplaceAllString(t, "x") }

// ValidTagKey says whether k is an IAM tag key: 1 to 128 of letters, digits, spaces and
// _ . : / = + - @, not starting with aws:.
func ValidTagKey(k string) bool { return validTagKey(k) }

// ValidEnvName says whether name is an environment variable name.
func ValidEnvName(name string) bool { return envNameRE.MatchString(name) }

// ValidSecretID says whether id is a Secrets Manager secret name or ARN.
func ValidSecretID(id string) bool { return secretIDRE.MatchString(id) }
