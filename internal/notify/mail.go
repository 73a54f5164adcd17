package notify

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"os"
	"sort"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sestypes "github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/keycycle/keycycle/internal/sinkname"
)

//go:embed templates/*.tmpl
var defaultTemplates embed.FS

// SESAPI is the part of the SES v2 client Mail calls; *sesv2.Client satisfies it.
type SESAPI interface {
	SendEmail(ctx context.Context, in *sesv2.SendEmailInput, optFns ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error)
}

var _ SESAPI = (*sesv2.Client)(nil)

// Mail sends each owner one e-mail per account and run, listing all their events, in text and
// HTML, through SES v2. Events without an owner address are not mailed (the job reports them).
type Mail struct {
	API SESAPI
	// From is the sender; SES must have it (or its domain) verified.
	From    string
	ReplyTo []string
	// Templates renders the mails; nil: the built-in ones.
	Templates *Templates
}

var _ Notifier = (*Mail)(nil)

// Name is "email".
func (m *Mail) Name() string { return "email" }

// Message is one rendered e-mail.
type Message struct {
	To        string
	AccountID string
	Subject   string
	Text      string
	HTML      string
	Events    int
}

// Compose renders the mails events make: one per owner and account, in a stable order.
func (m *Mail) Compose(events []Event) ([]Message, error) {
	t := m.Templates
	if t == nil {
		t = DefaultTemplates()
	}
	type key struct{ owner, account string }
	groups := map[key][]Event{}
	var keys []key
	for _, e := range events {
		if e.Owner == "" {
			continue
		}
		k := key{strings.ToLower(e.Owner), e.AccountID}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], e)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].owner != keys[j].owner {
			return keys[i].owner < keys[j].owner
		}
		return keys[i].account < keys[j].account
	})
	var out []Message
	var errs []error
	for _, k := range keys {
		evs := groups[k]
		msg, err := t.Render(newMailData(evs))
		if err != nil {
			errs = append(errs, fmt.Errorf("render mail to %s: %w", evs[0].Owner, err))
			continue
		}
		msg.To, msg.AccountID = evs[0].Owner, k.account
		out = append(out, msg)
	}
	return out, errors.Join(errs...)
}

// Notify sends the mails; a failure to reach one owner does not stop the others.
func (m *Mail) Notify(ctx context.Context, events []Event) error {
	msgs, err := m.Compose(events)
	errs := []error{err}
	for _, msg := range msgs {
		_, serr := m.API.SendEmail(ctx, &sesv2.SendEmailInput{
			FromEmailAddress: aws.String(m.From),
			Destination:      &sestypes.Destination{ToAddresses: []string{msg.To}},
			ReplyToAddresses: m.ReplyTo,
			Content: &sestypes.EmailContent{Simple: &sestypes.Message{
				Subject: &sestypes.Content{Data: aws.String(msg.Subject), Charset: aws.String("UTF-8")},
				Body: &sestypes.Body{
					Text: &sestypes.Content{Data: aws.String(msg.Text), Charset: aws.String("UTF-8")},
					Html: &sestypes.Content{Data: aws.String(msg.HTML), Charset: aws.String("UTF-8")},
				},
			}},
		})
		if serr != nil {
			errs = append(errs, fmt.Errorf("send mail to %s about %d events: %w", msg.To, msg.Events, serr))
		}
	}
	return errors.Join(errs...)
}

// MailData is what the mail templates see. Every string in it is safe to show: key ids are
// already masked.
type MailData struct {
	AccountID   string
	AccountName string
	Owner       string
	// Summary is one line: the title and user of a single event, or a count and the users.
	Summary string
	Events  []EventView
}

// EventView is an Event as the templates see it: strings, key ids masked, times formatted.
type EventView struct {
	Kind           string // one of the Kind constants
	Title          string
	User           string
	AccessKeyID    string // masked: AKIA...7Q2X
	NewAccessKeyID string // masked
	SecretName     string // where the new credential is: a secret's or parameter's name, or the sink's location
	Store          string // what SecretName is in: "AWS Secrets Manager", "AWS Systems Manager Parameter Store", ...
	Region         string
	FetchCommand   string
	LastUsed       string // "2026-11-20 09:00 UTC, s3 in us-east-1", or "never"
	Reason         string
	When           string // "2026-11-21" for dates, "2026-11-21 09:00 UTC" for moments
}

// View returns the event as the templates see it.
func (e Event) View() EventView {
	when := ""
	if !e.When.IsZero() {
		switch e.Kind {
		case UpcomingRotation, ExemptionExpiring:
			when = e.When.UTC().Format("2006-01-02")
		default:
			when = e.When.UTC().Format("2006-01-02 15:04 UTC")
		}
	}
	return EventView{
		Kind: string(e.Kind), Title: e.Kind.Title(), User: e.User,
		AccessKeyID: e.AccessKeyID.String(), NewAccessKeyID: e.NewAccessKeyID.String(),
		SecretName: e.Location.Name, Store: e.Location.Kind.Service(), Region: e.Location.Region, FetchCommand: e.Location.FetchCommand,
		LastUsed: e.LastUsed.String(), Reason: e.Reason, When: when,
	}
}

// String writes the last use for a person: "2026-11-20 09:00 UTC, s3 in us-east-1", "never".
func (l LastUsed) String() string {
	if l.Date.IsZero() {
		return "never"
	}
	s := l.Date.UTC().Format("2006-01-02 15:04 UTC")
	svc, reg := known(l.Service), known(l.Region)
	switch {
	case svc != "" && reg != "":
		s += ", " + svc + " in " + reg
	case svc != "":
		s += ", " + svc
	case reg != "":
		s += ", in " + reg
	}
	return s
}

// known drops what AWS reports as "N/A".
func known(s string) string {
	if s == "N/A" {
		return ""
	}
	return s
}

// SortEvents orders events by account, user, then kind (Kinds order), then key id.
func SortEvents(evs []Event) {
	rank := func(k Kind) int {
		for i, x := range Kinds {
			if x == k {
				return i
			}
		}
		return len(Kinds)
	}
	sort.SliceStable(evs, func(i, j int) bool {
		a, b := evs[i], evs[j]
		if a.AccountID != b.AccountID {
			return a.AccountID < b.AccountID
		}
		if a.User != b.User {
			return a.User < b.User
		}
		if ra, rb := rank(a.Kind), rank(b.Kind); ra != rb {
			return ra < rb
		}
		return a.AccessKeyID < b.AccessKeyID
	})
}

func newMailData(evs []Event) MailData {
	evs = append([]Event(nil), evs...)
	SortEvents(evs)
	d := MailData{AccountID: evs[0].AccountID, AccountName: evs[0].AccountName, Owner: evs[0].Owner}
	if d.AccountName == "" {
		d.AccountName = d.AccountID
	}
	var users []string
	seen := map[string]bool{}
	for _, e := range evs {
		d.Events = append(d.Events, e.View())
		if !seen[e.User] {
			seen[e.User] = true
			users = append(users, e.User)
		}
	}
	if len(evs) == 1 {
		d.Summary = evs[0].Kind.Title() + " for " + evs[0].User
	} else {
		d.Summary = fmt.Sprintf("%d access key notices for %s", len(evs), joinLimited(users, 3))
	}
	return d
}

// joinLimited joins at most n names and says how many more there are.
func joinLimited(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:n], ", ") + fmt.Sprintf(" and %d more", len(names)-n)
}

// Templates render a mail's subject and text part (text/template) and its HTML part
// (html/template, which escapes what it inserts). They see a MailData.
type Templates struct {
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

// DefaultTemplates are the built-in templates (internal/notify/templates).
func DefaultTemplates() *Templates {
	t, err := parseTemplates(readDefault("subject.tmpl"), readDefault("text.tmpl"), readDefault("html.tmpl"))
	if err != nil {
		panic("notify: built-in templates: " + err.Error())
	}
	return t
}

func readDefault(name string) string {
	b, err := defaultTemplates.ReadFile("templates/" + name)
	if err != nil {
		panic("notify: built-in template " + name + ": " + err.Error())
	}
	return string(b)
}

// LoadTemplates reads the templates from files; an empty path keeps the built-in template. Each
// template is tried on sample data, so a reference to a field MailData does not have is reported
// here, before anything runs.
func LoadTemplates(subjectFile, textFile, htmlFile string) (*Templates, error) {
	src := []string{readDefault("subject.tmpl"), readDefault("text.tmpl"), readDefault("html.tmpl")}
	for i, f := range []string{subjectFile, textFile, htmlFile} {
		if f == "" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("mail template: %w", err)
		}
		src[i] = string(b)
	}
	t, err := parseTemplates(src[0], src[1], src[2])
	if err != nil {
		return nil, err
	}
	if _, err := t.Render(sampleData()); err != nil {
		return nil, err
	}
	return t, nil
}

func parseTemplates(subject, text, html string) (*Templates, error) {
	var t Templates
	var err error
	if t.subject, err = texttemplate.New("subject").Option("missingkey=error").Parse(subject); err != nil {
		return nil, fmt.Errorf("mail subject template: %w", err)
	}
	if t.text, err = texttemplate.New("text").Option("missingkey=error").Parse(text); err != nil {
		return nil, fmt.Errorf("mail text template: %w", err)
	}
	if t.html, err = htmltemplate.New("html").Option("missingkey=error").Parse(html); err != nil {
		return nil, fmt.Errorf("mail HTML template: %w", err)
	}
	return &t, nil
}

// Render renders one mail. The subject is made one line of at most 998 characters.
func (t *Templates) Render(d MailData) (Message, error) {
	var subj, text, html bytes.Buffer
	if err := t.subject.Execute(&subj, d); err != nil {
		return Message{}, fmt.Errorf("mail subject template: %w", err)
	}
	if err := t.text.Execute(&text, d); err != nil {
		return Message{}, fmt.Errorf("mail text template: %w", err)
	}
	if err := t.html.Execute(&html, d); err != nil {
		return Message{}, fmt.Errorf("mail HTML template: %w", err)
	}
	s := truncate(strings.Join(strings.Fields(subj.String()), " "), 998)
	return Message{Subject: s, Text: text.String(), HTML: html.String(), Events: len(d.Events)}, nil
}

// sampleData has one event of every kind, to try templates on.
func sampleData() MailData {
	when := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	var evs []Event
	for _, k := range Kinds {
		evs = append(evs, Event{Kind: k, AccountID: "111111111111", AccountName: "sample", User: "sample-user",
			Owner: "owner@example.com", AccessKeyID: "AKIAIOSFODNN7EXAMPLE", NewAccessKeyID: "AKIAI44QH8DHBEXAMPLE",
			Location: NewLocation(sinkname.SecretsManager, "keycycle/111111111111/sample-user", "us-east-1"),
			LastUsed: LastUsed{Date: when, Service: "s3", Region: "us-east-1"}, Reason: "sample reason", When: when})
	}
	return newMailData(evs)
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
