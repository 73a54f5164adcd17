package sink

import (
	"github.com/keycycle/keycycle/internal/secret"
	"github.com/keycycle/keycycle/internal/sinkname"
)

// CheckName reports whether Secrets Manager accepts the secret name k would be stored under
// (length and characters): a user name IAM allows, such as "svc,batch", may not fit.
func (s *SecretsManager) CheckName(k secret.AccessKey) error { return sinkname.Secret(s.Location(k)) }

// CheckPasswordName is CheckName for the console password's secret.
func (s *SecretsManager) CheckPasswordName(p secret.Password) error {
	if s.PasswordTemplate == "" {
		return nil
	}
	return sinkname.Secret(s.PasswordLocation(p))
}

// CheckName reports whether Parameter Store accepts the parameter name k would be stored under
// (characters, levels, length with its ARN in the longest region name).
func (s *SSM) CheckName(k secret.AccessKey) error {
	return sinkname.Parameter(s.Location(k), k.AccountID, "")
}

// CheckPasswordName is CheckName for the console password's parameter.
func (s *SSM) CheckPasswordName(p secret.Password) error {
	if s.PasswordTemplate == "" {
		return nil
	}
	return sinkname.Parameter(s.PasswordLocation(p), p.AccountID, "")
}

// CheckName reports whether GitHub accepts the names of the two secrets k is written to (a
// template such as AWS_KEY_{{user}} with the user "a.b@example.com" does not).
func (g *GitHub) CheckName(k secret.AccessKey) error {
	id, sec := g.names(k)
	if err := sinkname.GitHubSecret(id); err != nil {
		return err
	}
	return sinkname.GitHubSecret(sec)
}
