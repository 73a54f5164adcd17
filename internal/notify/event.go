// Package notify tells people what keycycle did or is about to do: owners by e-mail (SES v2),
// other systems through an SNS topic, and a team channel through a Slack-compatible incoming
// webhook. Notifiers decide nothing: they render and send the events job hands them.
//
// No type here has a field that can hold a secret: an Event carries names, masked access key ids,
// where to fetch a new key and why, never key material (a test checks every field's type).
package notify

import (
	"context"
	"time"

	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/sinkname"
)

// Kind is what an event is about.
type Kind string

// Event kinds.
const (
	// UpcomingRotation: an access key is due for rotation soon (the policy's warn_before lead
	// time). When is the due date.
	UpcomingRotation Kind = "upcoming_rotation"
	// Rotated: a new access key was created and delivered; Location says where to fetch it.
	Rotated Kind = "rotated"
	// OldKeyInUse: a key keycycle replaced is still being used, so it stays active; repeated every
	// run until it is idle. LastUsed says where it was last used.
	OldKeyInUse Kind = "old_key_in_use"
	// Deactivated: an old access key was set Inactive.
	Deactivated Kind = "deactivated"
	// Deleted: an inactive access key was deleted.
	Deleted Kind = "deleted"
	// Blocked: something should happen but cannot safely; Reason says what a person must do.
	Blocked Kind = "blocked"
	// ExemptionExpiring: the user's exemption tag expires soon. When is the expiry.
	ExemptionExpiring Kind = "exemption_expiring"
	// PasswordRotated: the user's console password was replaced; Location says where the new one
	// is stored (never the password itself).
	PasswordRotated Kind = "password_rotated"
	// ConsoleRemovalWarning: the console password has not been used for long; console access is
	// removed on When unless it is used before.
	ConsoleRemovalWarning Kind = "console_removal_warning"
	// ConsoleRemoved: the unused console password (login profile) was deleted.
	ConsoleRemoved Kind = "console_removed"
)

// Kinds lists every kind, in the order a mail lists them.
var Kinds = []Kind{Rotated, PasswordRotated, Deactivated, Deleted, ConsoleRemoved, Blocked, OldKeyInUse, ConsoleRemovalWarning,
	UpcomingRotation, ExemptionExpiring}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool {
	for _, x := range Kinds {
		if x == k {
			return true
		}
	}
	return false
}

// Title is a short human heading for the kind.
func (k Kind) Title() string {
	switch k {
	case UpcomingRotation:
		return "Access key rotation coming up"
	case Rotated:
		return "New access key delivered"
	case OldKeyInUse:
		return "Old access key still in use"
	case Deactivated:
		return "Old access key deactivated"
	case Deleted:
		return "Old access key deleted"
	case Blocked:
		return "Rotation blocked: action needed"
	case ExemptionExpiring:
		return "Exemption expiring"
	case PasswordRotated:
		return "New console password delivered"
	case ConsoleRemovalWarning:
		return "Unused console access to be removed"
	case ConsoleRemoved:
		return "Unused console access removed"
	}
	return string(k)
}

// Event is one thing to tell a user's owner. Access key ids print masked ("AKIA...7Q2X") in every
// rendering; nothing here is secret.
type Event struct {
	Kind        Kind
	AccountID   string
	AccountName string // the configured account name, else the alias, else the id
	User        string
	Owner       string // e-mail address the owner is reached at; empty: nobody (see Owners)
	// AccessKeyID is the key the event is about (the old key of a rotation).
	AccessKeyID inventory.KeyID
	// NewAccessKeyID is the key a rotation created.
	NewAccessKeyID inventory.KeyID
	Location       Location
	LastUsed       LastUsed
	Reason         string // the policy's or executor's words
	// When: the due date (UpcomingRotation), the expiry (ExemptionExpiring), else when it happened.
	When time.Time
}

// Location is where the owner fetches a new key or password: the primary sink it was delivered
// to. Build it with NewLocation, which writes the fetch command the sink's kind calls for.
type Location struct {
	Kind         sinkname.Kind // the kind of sink: Secrets Manager, SSM, ...
	Name         string        // the secret's or parameter's name, or the sink's location
	Region       string
	FetchCommand string // the exact AWS CLI command that prints it; empty when none does
}

// NewLocation is the location name in a sink of the given kind, in region, with its fetch
// command (see FetchCommand).
func NewLocation(kind sinkname.Kind, name, region string) Location {
	return Location{Kind: kind, Name: name, Region: region, FetchCommand: FetchCommand(kind, name, region)}
}

// LastUsed is an access key's last recorded use (GetAccessKeyLastUsed); zero Date: never used.
type LastUsed struct {
	Date    time.Time
	Service string
	Region  string
}

// FetchCommand is the command that prints what a sink of the given kind stores under name in
// region, as the sink type registered it (sinkname.About.Fetch): get-secret-value for a Secrets
// Manager secret, get-parameter with decryption for an SSM parameter. Kinds no command reads (a
// webhook, a credentials file, ...) have none: "".
func FetchCommand(kind sinkname.Kind, name, region string) string {
	return kind.FetchCommand(name, region)
}

// Notifier sends events somewhere.
//
// Notify sends every event it is responsible for and returns the problems joined (errors.Join),
// each naming what could not be sent (an owner, an event); it never stops at the first failure.
// Error strings never hold a secret, nor a webhook URL (which embeds a token). Notify is not
// idempotent: calling it twice sends twice. A failed notification never undoes a rotation.
type Notifier interface {
	// Name is the channel's name in reports and audit records: "email", "sns", "slack".
	Name() string
	Notify(ctx context.Context, events []Event) error
}
