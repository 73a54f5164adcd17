package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/keycycle/keycycle/internal/sinkname"
)

// SNSAPI is the part of the SNS client SNS calls; *sns.Client satisfies it.
type SNSAPI interface {
	Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

var _ SNSAPI = (*sns.Client)(nil)

// SNS publishes one JSON message per event to a topic, for other systems (schema: SNSMessage,
// documented in docs/delivery.md). Each message has the attributes "kind" and "account_id", so
// subscribers can filter with a subscription filter policy.
type SNS struct {
	API      SNSAPI
	TopicARN string
}

var _ Notifier = (*SNS)(nil)

// Name is "sns".
func (s *SNS) Name() string { return "sns" }

// SNSVersion is the version of the SNS message schema; it changes only when a field changes
// meaning or goes away (new fields may appear without a new version).
const SNSVersion = 1

// SNSMessage is the JSON body of one SNS message. Key ids are masked (AKIA...7Q2X), times are
// RFC 3339 UTC, empty fields are left out.
type SNSMessage struct {
	Version        int          `json:"version"`
	Source         string       `json:"source"` // always "keycycle"
	Kind           Kind         `json:"kind"`
	AccountID      string       `json:"account_id"`
	AccountName    string       `json:"account_name,omitempty"`
	User           string       `json:"user"`
	Owner          string       `json:"owner,omitempty"`
	AccessKeyID    string       `json:"access_key_id,omitempty"`
	NewAccessKeyID string       `json:"new_access_key_id,omitempty"`
	Location       *SNSLocation `json:"location,omitempty"`
	LastUsed       *SNSLastUsed `json:"last_used,omitempty"`
	Reason         string       `json:"reason,omitempty"`
	Time           *time.Time   `json:"time,omitempty"`
}

// SNSLocation is where a new key can be fetched.
type SNSLocation struct {
	Sink         sinkname.Kind `json:"sink,omitempty"` // the kind of sink: secretsmanager, ssm, ...
	SecretName   string        `json:"secret_name"`    // the secret's or parameter's name, or the sink's location
	Region       string        `json:"region,omitempty"`
	FetchCommand string        `json:"fetch_command,omitempty"`
}

// SNSLastUsed is an access key's last recorded use; Date is absent when it was never used.
type SNSLastUsed struct {
	Date    *time.Time `json:"date,omitempty"`
	Service string     `json:"service,omitempty"`
	Region  string     `json:"region,omitempty"`
}

// NewSNSMessage returns the SNS message for e.
func NewSNSMessage(e Event) SNSMessage {
	m := SNSMessage{Version: SNSVersion, Source: "keycycle", Kind: e.Kind, AccountID: e.AccountID,
		AccountName: e.AccountName, User: e.User, Owner: e.Owner, AccessKeyID: e.AccessKeyID.String(),
		NewAccessKeyID: e.NewAccessKeyID.String(), Reason: e.Reason}
	if l := e.Location; l != (Location{}) {
		m.Location = &SNSLocation{Sink: l.Kind, SecretName: l.Name, Region: l.Region, FetchCommand: l.FetchCommand}
	}
	if l := e.LastUsed; l != (LastUsed{}) {
		m.LastUsed = &SNSLastUsed{Service: known(l.Service), Region: known(l.Region)}
		if !l.Date.IsZero() {
			d := l.Date.UTC()
			m.LastUsed.Date = &d
		}
	}
	if !e.When.IsZero() {
		t := e.When.UTC()
		m.Time = &t
	}
	return m
}

// Notify publishes one message per event; a failed publish does not stop the others.
func (s *SNS) Notify(ctx context.Context, events []Event) error {
	var errs []error
	for _, e := range events {
		body, err := json.Marshal(NewSNSMessage(e))
		if err != nil {
			errs = append(errs, fmt.Errorf("encode %s event for %s: %w", e.Kind, e.User, err))
			continue
		}
		_, err = s.API.Publish(ctx, &sns.PublishInput{
			TopicArn: aws.String(s.TopicARN),
			Message:  aws.String(string(body)),
			Subject:  aws.String(snsSubject(e)),
			MessageAttributes: map[string]snstypes.MessageAttributeValue{
				"kind":       {DataType: aws.String("String"), StringValue: aws.String(string(e.Kind))},
				"account_id": {DataType: aws.String("String"), StringValue: aws.String(e.AccountID)},
			},
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("publish %s event for %s to %s: %w", e.Kind, e.User, s.TopicARN, err))
		}
	}
	return errors.Join(errs...)
}

// snsSubject is the subject e-mail subscribers see: printable ASCII, one line, starting with a
// letter, and under 100 characters, as SNS requires.
func snsSubject(e Event) string {
	name := e.AccountName
	if name == "" {
		name = e.AccountID
	}
	s := "keycycle [" + name + "] " + e.Kind.Title() + ": " + e.User
	var b strings.Builder
	for _, c := range s {
		if c >= 0x20 && c < 0x7f {
			b.WriteRune(c)
		} else {
			b.WriteByte('?')
		}
	}
	return truncate(b.String(), 99)
}
