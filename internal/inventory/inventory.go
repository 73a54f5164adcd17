// Package inventory is what keycycle knows about an AWS account's IAM users and their
// credentials at one moment: pure data, filled by the scan and read by the policy.
//
// Nothing here talks to AWS. Access key ids print masked ("AKIA...7Q2X") through every fmt verb
// and slog; KeyID.Raw gives the whole id to the code that must send it to AWS or store it.
package inventory

import (
	"fmt"
	"log/slog"
	"sort"
	"time"
)

// Account is one AWS account and the IAM users found in it.
type Account struct {
	ID    string // 12-digit account id
	Alias string // account alias; may be empty
	Users []User
}

// User is one IAM user.
type User struct {
	Name    string
	UserID  string // AIDA...; state belongs to the UserID, not the name
	ARN     string
	Path    string // IAM path, "/" by default
	Created time.Time
	Groups  []string          // group names
	Tags    map[string]string // user tags, by key
	// Keys are the user's access keys, oldest first (see SortKeys). Keys read from the credential
	// report have an empty ID.
	Keys []AccessKey
	// KeysKnown is false when reading the user's keys failed; Unknown then says why. A user whose
	// keys are unknown is never changed.
	KeysKnown bool
	Unknown   string
	// Login is the user's console password; nil when the user has none. Only meaningful when
	// LoginKnown is true; LoginUnknown then says why it is not. A user whose login profile is
	// unknown keeps it unchanged.
	Login        *LoginProfile
	LoginKnown   bool
	LoginUnknown string
	// ReportTime is when the credential report that described the user's keys and password was
	// generated; zero when they were read fresh. A change keycycle recorded on the user after it
	// is not in the report.
	ReportTime time.Time
	// MFA: the user has an MFA device (the credential report's mfa_active). Only meaningful when
	// MFAKnown is true.
	MFA      bool
	MFAKnown bool
}

// KeyStatus is an access key's status as IAM spells it.
type KeyStatus string

// Access key statuses.
const (
	StatusActive   KeyStatus = "Active"
	StatusInactive KeyStatus = "Inactive"
)

// AccessKey is one access key of a user. It never holds the secret access key.
type AccessKey struct {
	ID      KeyID
	Status  KeyStatus
	Created time.Time
	// LastUsed is the last recorded use; zero means never used. It is only meaningful when
	// LastUsedKnown is true: a failed or skipped GetAccessKeyLastUsed leaves LastUsedKnown false,
	// and the policy then neither deactivates nor deletes the key.
	LastUsed        time.Time
	LastUsedKnown   bool
	LastUsedService string // "N/A" or empty when never used
	LastUsedRegion  string
}

// Active reports whether the key is active.
func (k AccessKey) Active() bool { return k.Status == StatusActive }

// Key returns the user's key with the given id, or nil. An empty id finds nothing.
func (u *User) Key(id KeyID) *AccessKey {
	if id == "" {
		return nil
	}
	for i := range u.Keys {
		if u.Keys[i].ID == id {
			return &u.Keys[i]
		}
	}
	return nil
}

// InGroup reports whether the user is a member of the named group.
func (u *User) InGroup(name string) bool {
	for _, g := range u.Groups {
		if g == name {
			return true
		}
	}
	return false
}

// SortKeys orders keys oldest first, then by id, so that every reader sees the same order.
func SortKeys(keys []AccessKey) {
	sort.SliceStable(keys, func(i, j int) bool {
		if !keys[i].Created.Equal(keys[j].Created) {
			return keys[i].Created.Before(keys[j].Created)
		}
		return keys[i].ID < keys[j].ID
	})
}

// KeyID is an access key id such as AKIAIOSFODNN7EXAMPLE. It is not a secret, but keycycle prints
// it masked to the first and last four characters ("AKIA...MPLE") in logs, plans and reports;
// JSON carries it whole so that a saved plan can be applied.
type KeyID string

// Raw returns the whole id, for AWS calls and stored state.
func (k KeyID) Raw() string { return string(k) }

// String returns the masked id: "AKIA...7Q2X". Ids of 8 characters or fewer print as "...";
// the empty id prints as "".
func (k KeyID) String() string {
	switch {
	case k == "":
		return ""
	case k.FromReport():
		return "#" + string(k[len(reportKeyPrefix):]) + " (credential report)"
	case len(k) <= 8:
		return "..."
	}
	return string(k[:4]) + "..." + string(k[len(k)-4:])
}

// Format prints the masked id for every verb, so %v, %+v, %#v, %s and %q never show it whole.
func (k KeyID) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", k.String())
		return
	}
	fmt.Fprint(f, k.String())
}

// LogValue logs the masked id.
func (k KeyID) LogValue() slog.Value { return slog.StringValue(k.String()) }

var (
	_ fmt.Stringer   = KeyID("")
	_ fmt.Formatter  = KeyID("")
	_ slog.LogValuer = KeyID("")
)

// reportKeyPrefix starts the placeholder id of a key known only from the credential report,
// which lists a user's keys by slot (access_key_1, access_key_2), never by id.
const reportKeyPrefix = "report:"

// ReportKeyID is the placeholder id of the key in slot n (1 or 2) of a user's credential report
// row. It names no real key: the executor resolves it against a fresh ListAccessKeys right before
// acting, and a step whose placeholder matches no fresh key is stale.
func ReportKeyID(n int) KeyID { return KeyID(fmt.Sprintf("%s%d", reportKeyPrefix, n)) }

// FromReport reports whether k is a placeholder for a key known only from the credential report.
func (k KeyID) FromReport() bool {
	return len(k) > len(reportKeyPrefix) && string(k[:len(reportKeyPrefix)]) == reportKeyPrefix
}
