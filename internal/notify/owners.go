package notify

import (
	"net/mail"
	"sort"
	"strings"

	"github.com/keycycle/keycycle/internal/inventory"
)

// OwnerSource says where an owner address came from.
type OwnerSource string

// Owner sources, in the order Owners.Resolve tries them.
const (
	FromTag      OwnerSource = "tag"      // the user's owner tag
	FromGroup    OwnerSource = "group"    // a group-level default
	FromFallback OwnerSource = "fallback" // the configured fallback address
	NoOwner      OwnerSource = ""         // nobody
)

// Owners resolves who owns a user: the owner tag, then a default of a group the user is in, then
// the fallback address.
type Owners struct {
	// Tag is the user tag holding the owner's address (policy.TagNames.Owner); empty: none.
	Tag string
	// GroupDefaults maps an IAM group name to the address of the owner of its members. A user in
	// several such groups gets the default of the group whose name sorts first.
	GroupDefaults map[string]string
	// Fallback receives notices for users no tag or group names an owner for; empty: nobody.
	Fallback string
}

// Resolve returns the address u's notices go to and where it came from. An owner tag whose value
// is not an e-mail address is ignored (the next source applies); bad reports why.
func (o Owners) Resolve(u inventory.User) (addr string, src OwnerSource, bad string) {
	if o.Tag != "" {
		if v, ok := u.Tags[o.Tag]; ok {
			if a, ok := Address(v); ok {
				return a, FromTag, ""
			}
			bad = "tag " + o.Tag + " is not an e-mail address"
		}
	}
	groups := append([]string(nil), u.Groups...)
	sort.Strings(groups)
	for _, g := range groups {
		if a, ok := o.GroupDefaults[g]; ok && a != "" {
			return a, FromGroup, bad
		}
	}
	if o.Fallback != "" {
		return o.Fallback, FromFallback, bad
	}
	return "", NoOwner, bad
}

// Address reports whether s is one plain e-mail address (net/mail syntax, no display name
// needed) and returns it trimmed.
func Address(s string) (string, bool) {
	s = strings.TrimSpace(s)
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address == "" || strings.ContainsAny(a.Address, " ,") {
		return "", false
	}
	return a.Address, true
}
