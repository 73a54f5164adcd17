package config

import (
	"fmt"
	htmltemplate "html/template"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/keycycle/keycycle/internal/policy"
)

// Notify is who hears about what keycycle did (docs/delivery.md, "Notifications"). A channel is on
// when its essential field is set: email.from, sns.topic_arn, slack.webhook_url.
type Notify struct {
	// FallbackEmail receives notices for users without an owner address (owner tag or group
	// default). Written as notify.owners.fallback, or notify.fallback_email.
	FallbackEmail string
	// GroupOwners maps an IAM group to the owner address of its members, tried after the owner tag.
	GroupOwners map[string]string
	// ExemptionNotice is how long before an exemption tag expires its owner is told (default
	// 14d; 0: never).
	ExemptionNotice time.Duration
	Email           Email
	// SNSTopicARN receives one JSON message per event; empty: no SNS notices.
	SNSTopicARN string
	// SlackWebhookURL receives one message per run; empty: none. It embeds a token: never print it.
	SlackWebhookURL string
}

// Email is the owner e-mail channel (SES v2).
type Email struct {
	From    string   // sender; SES must have it or its domain verified; empty: no e-mail
	ReplyTo []string // Reply-To addresses
	// AccountName names the account in subjects and messages (like the Terraform module's
	// aws_account_name); empty: the account alias, else the id. It applies to every channel.
	AccountName string
	// Region is the SES region; empty: the region keycycle runs in.
	Region string
	// Template files (absolute, or made so relative to the configuration file); empty: built in.
	SubjectTemplate, TextTemplate, HTMLTemplate string
}

// DefaultExemptionNotice is the default lead time of the "exemption expiring" notice.
const DefaultExemptionNotice = 14 * policy.Day

type fileNotify struct {
	FallbackEmail   string     `yaml:"fallback_email"`
	ExemptionNotice *string    `yaml:"exemption_notice"`
	Email           fileEmail  `yaml:"email"`
	SNS             fileSNS    `yaml:"sns"`
	Slack           fileSlack  `yaml:"slack"`
	Owners          fileOwners `yaml:"owners"`
}

type fileEmail struct {
	From        string        `yaml:"from"`
	ReplyTo     []string      `yaml:"reply_to"`
	AccountName string        `yaml:"account_name"`
	Region      string        `yaml:"region"`
	Templates   fileTemplates `yaml:"templates"`
}

type fileTemplates struct {
	Subject string `yaml:"subject"`
	Text    string `yaml:"text"`
	HTML    string `yaml:"html"`
}

type fileSNS struct {
	TopicARN string `yaml:"topic_arn"`
}

type fileSlack struct {
	WebhookURL string `yaml:"webhook_url"`
}

type fileOwners struct {
	GroupDefaults map[string]string `yaml:"group_defaults"`
	Fallback      string            `yaml:"fallback"`
}

var (
	regionRE   = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	snsTopicRE = regexp.MustCompile(`^arn:aws[a-z-]*:sns:[a-z]{2}(-[a-z]+)+-[0-9]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$`)
)

func (b *builder) notify(dst *Notify, fn fileNotify) {
	addr := func(s string, at ...any) {
		if _, err := mail.ParseAddress(s); err != nil || strings.ContainsAny(s, ",;") {
			b.problem(fmt.Sprintf("%q is not an e-mail address", s), at...)
		}
	}
	// Owners.
	switch {
	case fn.FallbackEmail != "" && fn.Owners.Fallback != "":
		b.problem("set either notify.fallback_email or notify.owners.fallback, not both", "notify", "owners", "fallback")
	case fn.FallbackEmail != "":
		addr(fn.FallbackEmail, "notify", "fallback_email")
		dst.FallbackEmail = fn.FallbackEmail
	case fn.Owners.Fallback != "":
		addr(fn.Owners.Fallback, "notify", "owners", "fallback")
		dst.FallbackEmail = fn.Owners.Fallback
	}
	groups := make([]string, 0, len(fn.Owners.GroupDefaults))
	for g := range fn.Owners.GroupDefaults {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		if !validGroupName(g) {
			b.problem(fmt.Sprintf("%q is not an IAM group name", g), "notify", "owners", "group_defaults", g)
		}
		addr(fn.Owners.GroupDefaults[g], "notify", "owners", "group_defaults", g)
	}
	if len(groups) > 0 {
		dst.GroupOwners = fn.Owners.GroupDefaults
	}
	dst.ExemptionNotice = b.duration(fn.ExemptionNotice, dst.ExemptionNotice, "notify", "exemption_notice")

	// E-mail.
	fe := fn.Email
	e := &dst.Email
	if fe.From == "" && (len(fe.ReplyTo) > 0 || fe.Region != "" || fe.Templates != (fileTemplates{})) {
		b.problem("e-mail settings without a sender: set notify.email.from (an address SES has verified)", "notify", "email")
	}
	if fe.From != "" {
		addr(fe.From, "notify", "email", "from")
	}
	for i, r := range fe.ReplyTo {
		addr(r, "notify", "email", "reply_to", i)
	}
	if fe.Region != "" && !regionRE.MatchString(fe.Region) {
		b.problem(fmt.Sprintf("%q is not an AWS region", fe.Region), "notify", "email", "region")
	}
	e.From, e.ReplyTo, e.AccountName, e.Region = fe.From, fe.ReplyTo, strings.TrimSpace(fe.AccountName), fe.Region
	e.SubjectTemplate = b.template(fe.Templates.Subject, false, "notify", "email", "templates", "subject")
	e.TextTemplate = b.template(fe.Templates.Text, false, "notify", "email", "templates", "text")
	e.HTMLTemplate = b.template(fe.Templates.HTML, true, "notify", "email", "templates", "html")

	// SNS.
	if t := strings.TrimSpace(fn.SNS.TopicARN); t != "" {
		if !snsTopicRE.MatchString(t) {
			b.problem(fmt.Sprintf("%q is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)", t), "notify", "sns", "topic_arn")
		}
		dst.SNSTopicARN = t
	}

	// Slack. The URL is a credential: problems never repeat it.
	if w := strings.TrimSpace(fn.Slack.WebhookURL); w != "" {
		if msg := checkWebhookURL(w); msg != "" {
			b.problem(msg, "notify", "slack", "webhook_url")
		}
		dst.SlackWebhookURL = w
	}
}

// template resolves a template file path against the configuration file's directory and checks
// that it reads and parses (what it refers to is checked when keycycle loads it to run).
func (b *builder) template(p string, html bool, at ...any) string {
	if p == "" {
		return ""
	}
	if !filepath.IsAbs(p) && b.doc != nil && b.doc.File != "" {
		p = filepath.Join(filepath.Dir(b.doc.File), p)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		b.problem(fmt.Sprintf("cannot read template: %v", err), at...)
		return p
	}
	if html {
		_, err = htmltemplate.New(filepath.Base(p)).Parse(string(data))
	} else {
		_, err = texttemplate.New(filepath.Base(p)).Parse(string(data))
	}
	if err != nil {
		b.problem(fmt.Sprintf("template does not parse: %v", err), at...)
	}
	return p
}

// checkWebhookURL accepts an https URL, or http to this machine (a local relay or the sandbox's
// receiver). It returns what is wrong without repeating the URL.
func checkWebhookURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "not a URL (want https://...)"
	}
	switch u.Scheme {
	case "https":
		return ""
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return ""
		}
		return "must be https (plain http only to localhost)"
	}
	return "must be an https URL"
}
