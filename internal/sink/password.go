package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"

	"github.com/keycycle/keycycle/internal/secret"
)

// Console passwords go through the same sinks as access keys, each in its own place: a secret or
// parameter of its own (PasswordTemplate), an encrypted mail, a webhook that gets a pointer to
// the store and never the password. The Lambda sink's handler contract is about access keys: it
// takes no passwords. The phases are the access keys' (Stage, Promote, Abort), with a password
// version (secret.Password.Version) in place of the key id.

// PasswordValue is the JSON value a store holds for a console password.
type PasswordValue struct {
	AccountID     string `json:"AccountId"`
	UserName      string `json:"UserName"`
	Password      string `json:"Password"`
	SignInURL     string `json:"SignInUrl"`
	ResetRequired bool   `json:"PasswordResetRequired"`
	// Version names the password (secret.Password.Version), so that a write is idempotent.
	Version string `json:"Version"`
}

// SignInURL is the console sign-in page of an account's IAM users.
func SignInURL(accountID string) string {
	return "https://" + accountID + ".signin.aws.amazon.com/console"
}

func passwordValue(p secret.Password) ([]byte, error) {
	return json.Marshal(PasswordValue{AccountID: p.AccountID, UserName: p.UserName, Password: p.Secret.Reveal(),
		SignInURL: SignInURL(p.AccountID), ResetRequired: p.ResetRequired, Version: p.Version})
}

var passwordVersionRE = regexp.MustCompile(`^[A-Za-z0-9-]{32,64}$`)

// checkVersion refuses a version that cannot serve as a Secrets Manager ClientRequestToken.
func checkVersion(p secret.Password) error {
	if !passwordVersionRE.MatchString(p.Version) {
		return fmt.Errorf("password of %s: version %q is not 32 to 64 letters, digits and -", p.UserName, p.Version)
	}
	return nil
}

var errNoPasswordTemplate = errors.New("no name for console passwords is configured")

// PasswordLocation is the name of the secret holding the user's console password.
func (s *SecretsManager) PasswordLocation(p secret.Password) string {
	if s.PasswordTemplate == "" {
		return ""
	}
	return SecretName(s.PasswordTemplate, p.AccountID, p.UserName)
}

func (s *SecretsManager) passwordVersion(p secret.Password) (smVersion, error) {
	if s.PasswordTemplate == "" {
		return smVersion{}, fmt.Errorf("%s: %w", s.Name(), errNoPasswordTemplate)
	}
	if err := checkVersion(p); err != nil {
		return smVersion{}, err
	}
	return smVersion{name: s.PasswordLocation(p), id: p.Version, what: "the console password of " + p.UserName}, nil
}

// StagePassword writes p as the AWSPENDING version of the user's password secret, creating the
// secret (readable by the user) when needed. Idempotent for the same version.
func (s *SecretsManager) StagePassword(ctx context.Context, p secret.Password) error {
	v, err := s.passwordVersion(p)
	if err != nil {
		return err
	}
	body, err := passwordValue(p)
	if err != nil {
		return fmt.Errorf("encode password value for %s: %w", v.name, err)
	}
	// A new password secret starts with a placeholder without a password as AWSCURRENT, so that
	// a password staged and then withdrawn (its UpdateLoginProfile failed) is never current.
	initial, err := json.Marshal(PasswordValue{AccountID: p.AccountID, UserName: p.UserName, SignInURL: SignInURL(p.AccountID)})
	if err != nil {
		return err
	}
	o := secretOwner{user: p.UserName, account: p.AccountID, arn: p.UserARN, initial: initial,
		description: "Console password of IAM user " + p.UserName + ", rotated by keycycle"}
	return s.stage(ctx, v, body, o)
}

// PromotePassword makes p's version AWSCURRENT. Idempotent.
func (s *SecretsManager) PromotePassword(ctx context.Context, p secret.Password) error {
	v, err := s.passwordVersion(p)
	if err != nil {
		return err
	}
	return s.promote(ctx, v, true)
}

// AbortPassword withdraws p's version (see Abort).
func (s *SecretsManager) AbortPassword(ctx context.Context, p secret.Password) error {
	v, err := s.passwordVersion(p)
	if err != nil {
		return err
	}
	return s.abort(ctx, v)
}

// PasswordLocation is the parameter holding the user's console password.
func (s *SSM) PasswordLocation(p secret.Password) string {
	if s.PasswordTemplate == "" {
		return ""
	}
	return SecretName(s.PasswordTemplate, p.AccountID, p.UserName)
}

func (s *SSM) passwordItem(p secret.Password) (ssmItem, error) {
	if s.PasswordTemplate == "" {
		return ssmItem{}, fmt.Errorf("%s: %w", s.Name(), errNoPasswordTemplate)
	}
	if err := checkVersion(p); err != nil {
		return ssmItem{}, err
	}
	return ssmItem{
		name: s.PasswordLocation(p), id: "password:" + p.Version, what: "the console password of " + p.UserName,
		holds: func(raw string) bool {
			var v PasswordValue
			return json.Unmarshal([]byte(raw), &v) == nil && v.Version == p.Version
		},
		body:        func() ([]byte, error) { return passwordValue(p) },
		description: "Console password of IAM user " + p.UserName + ", rotated by keycycle",
	}, nil
}

// StagePassword checks that the parameter can take p (see Stage).
func (s *SSM) StagePassword(ctx context.Context, p secret.Password) error {
	it, err := s.passwordItem(p)
	if err != nil {
		return err
	}
	return s.stage(ctx, it)
}

// PromotePassword writes p, if the parameter is still as StagePassword saw it (see Promote).
func (s *SSM) PromotePassword(ctx context.Context, p secret.Password) error {
	it, err := s.passwordItem(p)
	if err != nil {
		return err
	}
	return s.promote(ctx, it)
}

// AbortPassword writes back what p replaced when the parameter holds p (see Abort).
func (s *SSM) AbortPassword(ctx context.Context, p secret.Password) error {
	it, err := s.passwordItem(p)
	if err != nil {
		return err
	}
	return s.abort(ctx, it)
}

// PasswordLocation names the owner's address.
func (m *Email) PasswordLocation(p secret.Password) string {
	return m.Location(secret.AccessKey{Tags: p.Tags})
}

// StagePassword checks that the owner can receive the password encrypted.
func (m *Email) StagePassword(_ context.Context, p secret.Password) error {
	_, _, err := m.owner(secret.AccessKey{UserName: p.UserName, Tags: p.Tags})
	return err
}

// PromotePassword encrypts the password to the owner's age public key and mails it.
func (m *Email) PromotePassword(ctx context.Context, p secret.Password) error {
	to, rs, err := m.owner(secret.AccessKey{UserName: p.UserName, Tags: p.Tags})
	if err != nil {
		return err
	}
	plain := fmt.Sprintf("# IAM user %s, account %s, password set %s\nsign-in URL: %s\nuser name:   %s\npassword:    %s\n",
		p.UserName, p.AccountID, p.Created.UTC().Format("2006-01-02T15:04:05Z"), SignInURL(p.AccountID), p.UserName, p.Secret.Reveal())
	sealed, err := Seal(plain, rs...)
	if err != nil {
		return fmt.Errorf("encrypt the console password of %s: %w", p.UserName, err)
	}
	reset := ""
	if p.ResetRequired {
		reset = "\nYou must choose a new password when you sign in with it.\n"
	}
	subject := fmt.Sprintf("New AWS console password for IAM user %s (account %s)", p.UserName, p.AccountID)
	text := fmt.Sprintf(`The console password of IAM user %s in AWS account %s was replaced on %s.
The previous password no longer works. Sign in at %s
%s
The new password is below, encrypted to your age public key (user tag %s).
Decrypt it with your age identity, for example:

    age --decrypt --identity ~/.config/age/key.txt < password.age

%s`, p.UserName, p.AccountID, p.Created.UTC().Format("2006-01-02 15:04 UTC"), SignInURL(p.AccountID), reset, m.RecipientTag, sealed)
	if err := m.send(ctx, to, subject, text); err != nil {
		return fmt.Errorf("mail the console password of %s to its owner: %w", p.UserName, err)
	}
	return nil
}

// AbortPassword does nothing: a mail cannot be unsent.
func (m *Email) AbortPassword(context.Context, secret.Password) error { return nil }

// EventPasswordRotated is the webhook event of a new console password. Its body names where the
// password is stored (the primary sink) and never carries the password, whatever IncludeSecret
// says.
const EventPasswordRotated = "console_password_rotated"

// PasswordLocation is the endpoint without its query string.
func (w *Webhook) PasswordLocation(secret.Password) string { return RedactURL(w.URL) }

// StagePassword checks the configuration; nothing is sent.
func (w *Webhook) StagePassword(ctx context.Context, p secret.Password) error {
	return w.Stage(ctx, secret.AccessKey{AccountID: p.AccountID, UserName: p.UserName})
}

// PromotePassword sends the console_password_rotated event: who, when, and where the password is
// stored.
func (w *Webhook) PromotePassword(ctx context.Context, p secret.Password) error {
	b := WebhookBody{Version: 1, Event: EventPasswordRotated, AccountID: p.AccountID, User: p.UserName, Created: p.Created.UTC()}
	if w.PasswordStoredAt != nil {
		b.Location = w.PasswordStoredAt(p)
	}
	body, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("encode webhook body: %w", err)
	}
	return w.sendBody(ctx, EventPasswordRotated, EventPasswordRotated+":"+p.Version, "console password of "+p.UserName, body)
}

// AbortPassword does nothing: the event carried no password, and the executor only aborts a
// password delivery before the password is set, when nothing was sent.
func (w *Webhook) AbortPassword(context.Context, secret.Password) error { return nil }
