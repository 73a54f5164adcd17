package config

import (
	"fmt"
	"strings"

	"github.com/keycycle/keycycle/internal/sinkname"
)

// LambdaSink invokes Function (name or ARN) with {"username","secretName","metadata"}; SecretName
// is the secret name template the handler reads (default: the name of this list's secretsmanager
// sink); Metadata is per user name.
type LambdaSink struct {
	Function   string         `yaml:"function"`
	SecretName string         `yaml:"secret_name"`
	Metadata   map[string]any `yaml:"metadata"`
}

func init() {
	registerSink(sinkType{kind: sinkname.Lambda, new: func() SinkSettings { return &LambdaSink{} }})
}

// Kind is sinkname.Lambda.
func (*LambdaSink) Kind() sinkname.Kind { return sinkname.Lambda }

// Access is the function (the handler reads the secret with its own role).
func (s *LambdaSink) Access(Secret) SinkAccess { return SinkAccess{Function: s.Function} }

func (s *LambdaSink) check(c *sinkCheck) {
	if s.Function == "" {
		c.problem("a lambda sink needs function (a name or ARN)", "")
	} else if strings.ContainsAny(s.Function, " /") {
		c.problem(fmt.Sprintf("%q is not a function name or ARN", s.Function), "function")
	}
	if s.SecretName != "" {
		if msg := checkTemplate(s.SecretName); msg != "" {
			c.problem(msg, "secret_name")
		}
		return
	}
	for _, b := range c.before {
		if b.Kind() == sinkname.SecretsManager {
			return
		}
	}
	c.problem("the handler fetches the key itself from a secret: put a secretsmanager sink before this one, or set secret_name", "")
}
