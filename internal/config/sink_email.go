package config

import (
	"fmt"
	"net/mail"

	"github.com/keycycle/keycycle/internal/sinkname"
)

// EmailSink sends the key, encrypted to the owner's age public key (user tag RecipientTag), by
// SES from From to the owner's address (user tag OwnerTag, default tags.owner).
type EmailSink struct {
	From         string `yaml:"from"`
	ReplyTo      string `yaml:"reply_to"`
	RecipientTag string `yaml:"recipient_tag"`
	OwnerTag     string `yaml:"owner_tag"`
}

func init() {
	registerSink(sinkType{kind: sinkname.Email, new: func() SinkSettings { return &EmailSink{} }})
}

// Kind is sinkname.Email.
func (*EmailSink) Kind() sinkname.Kind { return sinkname.Email }

// Access is the SES sender.
func (s *EmailSink) Access(Secret) SinkAccess { return SinkAccess{Sender: s.From} }

func (s *EmailSink) check(c *sinkCheck) {
	if s.From == "" {
		c.problem("an email sink needs from: an SES-verified sender address", "")
	} else if _, err := mail.ParseAddress(s.From); err != nil {
		c.problem(fmt.Sprintf("%q is not an e-mail address", s.From), "from")
	}
	if s.ReplyTo != "" {
		if _, err := mail.ParseAddress(s.ReplyTo); err != nil {
			c.problem(fmt.Sprintf("%q is not an e-mail address", s.ReplyTo), "reply_to")
		}
	}
	if s.RecipientTag == "" {
		s.RecipientTag = DefaultRecipientTag
	} else if !validTagKey(s.RecipientTag) {
		c.problem(fmt.Sprintf("%q is not an IAM tag key", s.RecipientTag), "recipient_tag")
	}
	if s.OwnerTag == "" {
		s.OwnerTag = c.cfg.Rules.Tags.Owner
	} else if !validTagKey(s.OwnerTag) {
		c.problem(fmt.Sprintf("%q is not an IAM tag key", s.OwnerTag), "owner_tag")
	}
	if s.OwnerTag == "" {
		c.problem("an email sink needs the owner's address: set owner_tag, or tags.owner", "")
	}
}
