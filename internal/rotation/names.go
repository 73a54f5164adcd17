package rotation

import (
	"fmt"

	"github.com/keycycle/keycycle/internal/secret"
)

// NameChecker is the optional capability of a sink to say, before anything is created, whether
// its service accepts the name it would store k under (length and characters, see
// internal/sinkname); the error says why not. A name a required sink cannot hold is found before
// CreateAccessKey, never by creating a key that cannot be stored (I5).
type NameChecker interface {
	CheckName(k secret.AccessKey) error
}

// PasswordNameChecker is NameChecker for console passwords.
type PasswordNameChecker interface {
	CheckPasswordName(p secret.Password) error
}

// NameHint is the configuration hint of a refusal for a name a sink cannot hold.
const NameHint = "set a name template the sink accepts for such user names (secret.name_template, or the sink's name_template or parameter; docs/configuration.md)"

// CheckNames returns why a required delivery of ds cannot hold k under its name, "" when every
// one can. k needs AccountID and UserName only.
func CheckNames(ds []Delivery, k secret.AccessKey) string {
	for _, d := range ds {
		if c, ok := d.Sink.(NameChecker); ok && d.Required {
			if err := c.CheckName(k); err != nil {
				return fmt.Sprintf("sink %s cannot hold this user's key: %v; %s", d.Sink.Name(), err, NameHint)
			}
		}
	}
	return ""
}

// CheckPasswordNames is CheckNames for a console password.
func CheckPasswordNames(ds []Delivery, p secret.Password) string {
	for _, d := range ds {
		if c, ok := d.Sink.(PasswordNameChecker); ok && d.Required {
			if err := c.CheckPasswordName(p); err != nil {
				return fmt.Sprintf("sink %s cannot hold this user's console password: %v; %s", d.Sink.Name(), err, NameHint)
			}
		}
	}
	return ""
}
