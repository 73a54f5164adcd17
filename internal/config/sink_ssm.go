package config

import (
	"strings"

	"github.com/keycycle/keycycle/internal/sinkname"
)

// SSMSink keeps the key in an SSM SecureString parameter: Parameter is its name template
// ({{account}}, {{user}}); KMSKeyID encrypts it (empty: the account's alias/aws/ssm key).
type SSMSink struct {
	Parameter string `yaml:"parameter"`
	KMSKeyID  string `yaml:"kms_key_id"`
}

func init() {
	registerSink(sinkType{kind: sinkname.SSM, primary: true, new: func() SinkSettings { return &SSMSink{} }})
}

// Kind is sinkname.SSM.
func (*SSMSink) Kind() sinkname.Kind { return sinkname.SSM }

// Access is the parameter and its key.
func (s *SSMSink) Access(Secret) SinkAccess {
	return SinkAccess{Parameter: s.Parameter, ParameterKey: s.KMSKeyID}
}

func (s *SSMSink) check(c *sinkCheck) {
	s.KMSKeyID = strings.TrimSpace(s.KMSKeyID)
	if s.Parameter == "" {
		s.Parameter = DefaultParameterTemplate
	} else if msg := checkParameterTemplate(s.Parameter); msg != "" {
		c.problem(msg, "parameter")
	}
}
