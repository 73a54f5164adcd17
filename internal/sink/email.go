package sink

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/mail"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sestypes "github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/secret"
	"github.com/keycycle/keycycle/internal/sinkname"
)

// SESAPI is the part of the SES v2 client the sink calls; *sesv2.Client satisfies it.
type SESAPI interface {
	SendEmail(ctx context.Context, in *sesv2.SendEmailInput, optFns ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error)
}

var _ SESAPI = (*sesv2.Client)(nil)

// Email sends the new key to its owner by SES, encrypted with age to the owner's public key, so
// that neither SES, the mail servers on the way nor the mailbox ever hold it in clear. A user
// without an age public key (or an owner address) is refused, never sent the key in clear.
//
// The owner's address and public key come from user tags (OwnerTag, RecipientTag) read right
// before the rotation. An age X25519 recipient ("age1...") fits in an IAM tag value.
//
// Phases: Stage checks that the owner has an address and a usable public key; Promote encrypts
// and sends; Abort does nothing: a mail cannot be unsent, and the key it carries is deleted by the
// rollback.
type Email struct {
	API SESAPI
	// From is the SES-verified sender; ReplyTo is optional.
	From    string
	ReplyTo string
	// OwnerTag holds the owner's e-mail address; RecipientTag the owner's age public key.
	OwnerTag     string
	RecipientTag string
	// SinkName names the sink in reports and records; empty is "email".
	SinkName string
}

// Name identifies the sink.
func (m *Email) Name() string {
	if m.SinkName != "" {
		return m.SinkName
	}
	return "email"
}

// Location names the owner's address.
func (m *Email) Location(k secret.AccessKey) string {
	if a := k.Tags[m.OwnerTag]; a != "" {
		return "email to " + a
	}
	return "email to the owner (tag " + m.OwnerTag + ")"
}

func (m *Email) owner(k secret.AccessKey) (string, []age.Recipient, error) {
	addr := strings.TrimSpace(k.Tags[m.OwnerTag])
	if addr == "" {
		return "", nil, fmt.Errorf("user %s has no owner address in tag %s", k.UserName, m.OwnerTag)
	}
	a, err := mail.ParseAddress(addr)
	if err != nil {
		return "", nil, fmt.Errorf("user %s: tag %s is not an e-mail address", k.UserName, m.OwnerTag)
	}
	pub := strings.TrimSpace(k.Tags[m.RecipientTag])
	if pub == "" {
		return "", nil, fmt.Errorf("user %s has no age public key in tag %s: refusing to send the key in clear", k.UserName, m.RecipientTag)
	}
	rs, err := age.ParseRecipients(strings.NewReader(pub))
	if err != nil {
		return "", nil, fmt.Errorf("user %s: tag %s is not an age public key (%v): refusing to send the key in clear", k.UserName, m.RecipientTag, err)
	}
	return a.Address, rs, nil
}

// RetriesItself: Stage's checks give the same answer every time, and the SDK retries SendEmail's
// transient errors; the executor need not retry.
func (m *Email) RetriesItself() bool { return true }

// Stage checks that the owner can receive the key encrypted.
func (m *Email) Stage(_ context.Context, k secret.AccessKey) error {
	_, _, err := m.owner(k)
	return err
}

// Promote encrypts the key to the owner's public key and mails it.
func (m *Email) Promote(ctx context.Context, k secret.AccessKey) error {
	to, rs, err := m.owner(k)
	if err != nil {
		return err
	}
	sealed, err := Seal(credentialsText(k), rs...)
	if err != nil {
		return fmt.Errorf("encrypt key %s for %s: %w", k.KeyID, k.UserName, err)
	}
	subject := fmt.Sprintf("New AWS access key for IAM user %s (account %s)", k.UserName, k.AccountID)
	text := fmt.Sprintf(`A new access key was created for IAM user %s in AWS account %s:
access key id %s, created %s.

The secret access key is below, encrypted to your age public key (user tag %s).
Decrypt it with your age identity, for example:

    age --decrypt --identity ~/.config/age/key.txt < key.age

It decrypts to a profile for your AWS shared credentials file. The previous key keeps working
for a grace period; move your applications to the new key before it is deactivated.

%s`, k.UserName, k.AccountID, k.KeyID.Raw(), k.Created.UTC().Format("2006-01-02 15:04 UTC"), m.RecipientTag, sealed)
	if err := m.send(ctx, to, subject, text); err != nil {
		return fmt.Errorf("mail key %s to the owner of %s: %w", k.KeyID, k.UserName, err)
	}
	return nil
}

// send mails a plain-text message (whose secret part is already sealed) to one owner.
func (m *Email) send(ctx context.Context, to, subject, text string) error {
	in := &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(m.From),
		Destination:      &sestypes.Destination{ToAddresses: []string{to}},
		Content: &sestypes.EmailContent{Simple: &sestypes.Message{
			Subject: &sestypes.Content{Data: aws.String(subject), Charset: aws.String("UTF-8")},
			Body:    &sestypes.Body{Text: &sestypes.Content{Data: aws.String(text), Charset: aws.String("UTF-8")}},
		}},
	}
	if m.ReplyTo != "" {
		in.ReplyToAddresses = []string{m.ReplyTo}
	}
	_, err := m.API.SendEmail(ctx, in)
	return err
}

// Abort does nothing: a mail cannot be unsent.
func (m *Email) Abort(context.Context, secret.AccessKey) error { return nil }

// credentialsText is what the owner decrypts: a shared credentials file profile.
func credentialsText(k secret.AccessKey) string {
	return fmt.Sprintf("# IAM user %s, account %s, created %s\n[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n",
		k.UserName, k.AccountID, k.Created.UTC().Format("2006-01-02T15:04:05Z"), k.UserName, k.KeyID.Raw(), k.Secret.Reveal())
}

// Seal encrypts plain to the recipients as ASCII-armored age.
func Seal(plain string, rs ...age.Recipient) (string, error) {
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	w, err := age.Encrypt(aw, rs...)
	if err != nil {
		return "", err
	}
	if _, err := io.WriteString(w, plain); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	if err := aw.Close(); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// Kind is the kind of sink, whatever its configured name.
func (*Email) Kind() sinkname.Kind { return KindEmail }

// KindEmail is the kind of an email sink.
const KindEmail sinkname.Kind = "email"

// DefaultRecipientTag is the user tag holding the owner's age public key, by default.
const DefaultRecipientTag = "keycycle:age-recipient"

// EmailConfig are the settings of an email sink: it sends the key, encrypted to the owner's age
// public key (user tag RecipientTag), by SES from From to the owner's address (user tag OwnerTag,
// default tags.owner).
type EmailConfig struct {
	From         string `yaml:"from"`
	ReplyTo      string `yaml:"reply_to"`
	RecipientTag string `yaml:"recipient_tag"`
	OwnerTag     string `yaml:"owner_tag"`
}

// Kind is KindEmail.
func (*EmailConfig) Kind() sinkname.Kind { return KindEmail }

// Access is the SES sender.
func (s *EmailConfig) Access(config.Secret) config.SinkAccess {
	return config.SinkAccess{Sender: s.From}
}

// Check checks the addresses and tag keys and fills their defaults.
func (s *EmailConfig) Check(c *config.SinkCheck) {
	if s.From == "" {
		c.Problem("an email sink needs from: an SES-verified sender address", "")
	} else if _, err := mail.ParseAddress(s.From); err != nil {
		c.Problem(fmt.Sprintf("%q is not an e-mail address", s.From), "from")
	}
	if s.ReplyTo != "" {
		if _, err := mail.ParseAddress(s.ReplyTo); err != nil {
			c.Problem(fmt.Sprintf("%q is not an e-mail address", s.ReplyTo), "reply_to")
		}
	}
	if s.RecipientTag == "" {
		s.RecipientTag = DefaultRecipientTag
	} else if !config.ValidTagKey(s.RecipientTag) {
		c.Problem(fmt.Sprintf("%q is not an IAM tag key", s.RecipientTag), "recipient_tag")
	}
	if s.OwnerTag == "" {
		s.OwnerTag = c.Config().Rules.Tags.Owner
	} else if !config.ValidTagKey(s.OwnerTag) {
		c.Problem(fmt.Sprintf("%q is not an IAM tag key", s.OwnerTag), "owner_tag")
	}
	if s.OwnerTag == "" {
		c.Problem("an email sink needs the owner's address: set owner_tag, or tags.owner", "")
	}
}

func init() {
	registerType(config.SinkType{Kind: KindEmail, About: sinkname.About{Service: "an encrypted e-mail"},
		New: func() config.SinkSettings { return &EmailConfig{} }},
		func(s *EmailConfig, c config.Sink, env *Env) (Built, error) {
			api := client(env, "sesv2", func(c aws.Config) *sesv2.Client { return sesv2.NewFromConfig(c) })
			return &Email{API: api, From: s.From, ReplyTo: s.ReplyTo, OwnerTag: s.OwnerTag, RecipientTag: s.RecipientTag, SinkName: c.Name}, nil
		})
}
