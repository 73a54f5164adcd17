package config

import "github.com/keycycle/keycycle/internal/sinkname"

// SecretsManagerSink keeps the key in a Secrets Manager secret: the secret section applies;
// NameTemplate, when set, replaces its name_template.
type SecretsManagerSink struct {
	NameTemplate string `yaml:"name_template"`
}

func init() {
	registerSink(sinkType{kind: sinkname.SecretsManager, primary: true, new: func() SinkSettings { return &SecretsManagerSink{} }})
}

// Kind is sinkname.SecretsManager.
func (*SecretsManagerSink) Kind() sinkname.Kind { return sinkname.SecretsManager }

// Template is the secret's name template: the sink's own, else the secret section's.
func (s *SecretsManagerSink) Template(sec Secret) string {
	if s.NameTemplate != "" {
		return s.NameTemplate
	}
	return sec.NameTemplate
}

// Access is the secret.
func (s *SecretsManagerSink) Access(sec Secret) SinkAccess {
	return SinkAccess{Secret: s.Template(sec)}
}

func (s *SecretsManagerSink) check(c *sinkCheck) {
	if s.NameTemplate != "" {
		if msg := checkTemplate(s.NameTemplate); msg != "" {
			c.problem(msg, "name_template")
		}
	}
}
