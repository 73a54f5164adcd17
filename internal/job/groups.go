package job

import (
	"time"

	"github.com/keycycle/keycycle/internal/inventory"
)

// GroupsFresh is how long the group memberships a plan's scan read (GetAccountAuthorizationDetails
// lists every user's groups) stand in for a fresh ListGroupsForUser in the policy re-evaluation of
// the apply that follows it: one call per user saved, on every step of an apply right after its
// plan (`keycycle apply`, the scheduled Lambda). Keys, tags and last uses are always read fresh; a
// saved plan or a queue message applied later, or an apply that runs past this, reads each user's
// groups right before acting (docs/reliability.md, "A plan is an upper bound").
const GroupsFresh = 5 * time.Minute

// groupSnapshot is the group memberships of one account's scan, by user name.
type groupSnapshot struct {
	account string
	at      time.Time
	users   map[string][]string
}

// snapshotGroups keeps acct's memberships, read at about at.
func snapshotGroups(acct inventory.Account, at time.Time) *groupSnapshot {
	if acct.ID == "" || at.IsZero() {
		return nil
	}
	s := &groupSnapshot{account: acct.ID, at: at, users: make(map[string][]string, len(acct.Users))}
	for _, u := range acct.Users {
		s.users[u.Name] = u.Groups
	}
	return s
}

// lookup is user's groups in account as the scan read them, ok false when the scan did not read
// them or they are no longer fresh at now (GroupsFresh).
func (s *groupSnapshot) lookup(account, user string, now time.Time) ([]string, bool) {
	if s == nil || s.account != account || now.Before(s.at) || now.Sub(s.at) > GroupsFresh {
		return nil, false
	}
	g, ok := s.users[user]
	return g, ok
}
