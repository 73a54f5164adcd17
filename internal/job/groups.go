package job

import (
	"time"

	"github.com/keycycle/keycycle/internal/inventory"
)

// GroupsFresh is how long what a plan's scan read of each user stands in for a fresh read in the
// apply that follows it (`keycycle apply`, `fleet apply`, the scheduled Lambda), so that a step
// right after its plan saves a call per user:
//   - the group memberships (GetAccountAuthorizationDetails lists every user's groups) for a
//     ListGroupsForUser in the policy re-evaluation of every step;
//   - the user and its tags (the same call lists them) for the GetUser of a deactivation
//     (rotation.Executor.Scanned): the deactivation still reads the keys and the key's last use
//     fresh, and writes a record of its own; rotations, deletions and password steps read GetUser
//     as before (docs/reliability.md, "Deactivations take the user from the plan's scan").
//
// A saved plan or a queue message applied later, or an apply that runs past this, reads each
// user right before acting (docs/reliability.md, "A plan is an upper bound").
const GroupsFresh = 5 * time.Minute

// scanSnapshot is what one account's scan read of its users (name, id, ARN, path, tags, groups;
// not keys), by user name, read at about at.
type scanSnapshot struct {
	account string
	at      time.Time
	users   map[string]inventory.User
}

// snapshotScan keeps acct's users as the scan that started at at read them: GroupsFresh counts
// from the scan's start, so that a slow scan does not stretch the window.
func snapshotScan(acct inventory.Account, at time.Time) *scanSnapshot {
	if acct.ID == "" || at.IsZero() {
		return nil
	}
	s := &scanSnapshot{account: acct.ID, at: at, users: make(map[string]inventory.User, len(acct.Users))}
	for _, u := range acct.Users {
		s.users[u.Name] = inventory.User{Name: u.Name, UserID: u.UserID, ARN: u.ARN, Path: u.Path, Tags: u.Tags, Groups: u.Groups}
	}
	return s
}

// user is user in account as the scan read it, ok false when the scan did not read it or is no
// longer fresh at now (GroupsFresh).
func (s *scanSnapshot) user(account, user string, now time.Time) (inventory.User, bool) {
	if s == nil || s.account != account || now.Before(s.at) || now.Sub(s.at) > GroupsFresh {
		return inventory.User{}, false
	}
	u, ok := s.users[user]
	return u, ok
}

// lookup is user's groups in account as the scan read them, ok as for user.
func (s *scanSnapshot) lookup(account, user string, now time.Time) ([]string, bool) {
	u, ok := s.user(account, user, now)
	return u.Groups, ok
}
