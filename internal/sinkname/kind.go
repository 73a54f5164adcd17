package sinkname

import (
	"slices"
	"sync"
)

// Kind is the kind of sink a delivery location belongs to: what a name or a location means, and
// how its owner fetches what was delivered there (notify builds the notice from it). The values
// are the sink types of the configuration (config.Sink.Kind). What a person is told about a kind
// (About) is registered by the sink type itself, in its file of internal/sink.
type Kind string

// The kinds of the two AWS stores other packages name: the default primary sink and the
// parameter store. Every other kind is a constant of its sink type's file.
const (
	SecretsManager Kind = "secretsmanager" // a Secrets Manager secret
	SSM            Kind = "ssm"            // an SSM Parameter Store SecureString parameter
)

// About is what a person is told about a kind of sink.
type About struct {
	// Service names the kind for a person: "AWS Secrets Manager", "a webhook".
	Service string
	// Fetch is the command that prints what a sink of the kind stores under name in region
	// ("" when the region is unknown); nil when no command does (a webhook, an e-mail).
	Fetch func(name, region string) string
}

var (
	aboutMu sync.RWMutex
	abouts  = map[Kind]About{}
)

// Register says what a kind is, once per kind (a second registration panics: two sink types
// would share a name). Sink types call it from their init, through config.RegisterSinkType.
func Register(k Kind, a About) {
	aboutMu.Lock()
	defer aboutMu.Unlock()
	if _, dup := abouts[k]; dup || k == "" || a.Service == "" {
		panic("sinkname: kind " + string(k) + " registered twice or without a service name")
	}
	abouts[k] = a
}

// Kinds lists the registered kinds, sorted.
func Kinds() []Kind {
	aboutMu.RLock()
	defer aboutMu.RUnlock()
	out := make([]Kind, 0, len(abouts))
	for k := range abouts {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (k Kind) about() About {
	aboutMu.RLock()
	defer aboutMu.RUnlock()
	return abouts[k]
}

// Service names the kind for a person: "AWS Secrets Manager", "AWS Systems Manager Parameter
// Store"; "" for a kind no sink type registered.
func (k Kind) Service() string { return k.about().Service }

// FetchCommand is the command that prints what a sink of the kind stores under name in region,
// "" when no command does (see About.Fetch).
func (k Kind) FetchCommand(name, region string) string {
	if f := k.about().Fetch; f != nil {
		return f(name, region)
	}
	return ""
}

// ShellQuote quotes s for a POSIX shell when it holds anything but safe characters: for the
// commands of About.Fetch.
func ShellQuote(s string) string {
	safe := s != ""
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '/' || c == '_' || c == '-' || c == '.' ||
			c == '+' || c == '=' || c == '@' || c == ':' || c == ',') {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	out := "'"
	for _, c := range s {
		if c == '\'' {
			out += `'\''`
			continue
		}
		out += string(c)
	}
	return out + "'"
}
