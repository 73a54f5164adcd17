// Package plan is keycycle's decision record: what the policy decided for each credential, why,
// and what it saw when it decided. Pure data with a stable JSON form (docs/plan-format.md) and a
// text form in the manner of `terraform plan`.
package plan

import (
	"sort"
	"strings"
	"time"

	"github.com/keycycle/keycycle/internal/inventory"
)

// Version is the plan format version this package writes and reads.
const Version = 1

// Action is what a step does.
type Action string

// Actions. Deactivate and Delete are destructive: they count against the per-run cap.
const (
	Rotate     Action = "rotate"     // create a new key, deliver it, keep the old one active
	Deactivate Action = "deactivate" // set an active key Inactive
	Delete     Action = "delete"     // delete an inactive key
	Warn       Action = "warn"       // tell someone; change nothing
	Skip       Action = "skip"       // nothing to do now, with the reason
	Blocked    Action = "blocked"    // something should happen but cannot safely: a person must act
)

// Actions lists every action in execution order within a user.
var Actions = []Action{Delete, Deactivate, Rotate, Warn, Blocked, Skip}

// Valid reports whether a is a known action.
func (a Action) Valid() bool { return a.rank() < len(Actions) }

// Destructive reports whether a takes a credential away (deactivate, delete).
func (a Action) Destructive() bool { return a == Deactivate || a == Delete }

// rank is the execution order within a user: make room first (delete), then retire, then create.
func (a Action) rank() int {
	for i, x := range Actions {
		if x == a {
			return i
		}
	}
	return len(Actions)
}

// Credential is the kind of credential a step is about.
type Credential string

// Credential kinds.
const (
	AccessKey Credential = "access_key"
	Password  Credential = "password" // console password (login profile)
)

// Valid reports whether c is a known credential kind.
func (c Credential) Valid() bool { return c == AccessKey || c == Password }

// KeyState is what the policy saw of one access key.
type KeyState struct {
	ID       inventory.KeyID
	Status   inventory.KeyStatus
	LastUsed time.Time // zero: never used, or last use unknown (LastUsedKnown false)
	// LastUsedKnown is false when the policy did not know the key's last use.
	LastUsedKnown bool
	// Created is the key's creation as the plan saw it; recorded only for a key known from the
	// credential report (its ID a placeholder, inventory.ReportKeyID), where it is the report's
	// last_rotated and lets the executor find the key among fresh ones. Zero: not recorded.
	Created time.Time
}

// LoginState is what the policy saw of the user's console password (login profile).
type LoginState struct {
	Exists  bool
	Created time.Time // the login profile's creation; zero when unknown
	// LastUsed is the password's last use; zero: never used, or unknown (LastUsedKnown false).
	LastUsed      time.Time
	LastUsedKnown bool
	// Rotated is keycycle's last recorded rotation of the password (its state tag); zero: none.
	// A rotation recorded after it makes a rotate step stale: someone rotated it meanwhile.
	Rotated time.Time
}

// Precondition is what the policy saw of the user's keys (and, for a password step, of the
// user's login profile) when it decided. Before mutating, the executor re-reads them and skips the
// step as stale when they differ (see Stale and StaleLogin).
type Precondition struct {
	Keys []KeyState
	// Login is set on password steps only.
	Login *LoginState
}

// PreconditionOf records the keys of u.
func PreconditionOf(u inventory.User) Precondition {
	var p Precondition
	for _, k := range u.Keys {
		ks := KeyState{ID: k.ID, Status: k.Status, LastUsed: k.LastUsed, LastUsedKnown: k.LastUsedKnown}
		if k.ID.FromReport() {
			ks.Created = k.Created
		}
		p.Keys = append(p.Keys, ks)
	}
	return p
}

// LoginPreconditionOf records the login profile of u, for a password step. It records no keys:
// a password step does not depend on them (and a key rotated earlier in the same run must not
// make it stale).
func LoginPreconditionOf(u inventory.User) Precondition {
	l := &LoginState{}
	if u.Login != nil {
		l = &LoginState{Exists: true, Created: u.Login.Created, LastUsed: u.Login.LastUsed, LastUsedKnown: u.Login.LastUsedKnown}
	}
	return Precondition{Login: l}
}

// StaleLogin reports whether a fresh read of the user's login profile (nil: none) invalidates a
// password step decided on p, and why: the profile appeared, disappeared or was recreated, or,
// for every action but rotate, the password was used after the recorded last use (a rotation
// stays due however often the password is used). A precondition without a login state (an
// access key step) is never stale here.
func (p Precondition) StaleLogin(fresh *inventory.LoginProfile, a Action) (bool, string) {
	want := p.Login
	switch {
	case want == nil:
		return false, ""
	case fresh == nil && want.Exists:
		return true, "the login profile no longer exists"
	case fresh == nil:
		return false, ""
	case !want.Exists:
		return true, "a login profile appeared since the plan was made"
	case !want.Created.IsZero() && !fresh.Created.IsZero() && !want.Created.Equal(fresh.Created):
		return true, "the login profile was deleted and created again since the plan was made"
	case a != Rotate && fresh.LastUsedKnown && fresh.LastUsed.After(want.LastUsed):
		return true, "the password was used since the plan was made"
	}
	return false, ""
}

// Stale reports whether a fresh read of the user's keys invalidates a decision taken on p, and
// why: a key appeared or disappeared, a status changed, or a key was used after the recorded last
// use. A last use that the fresh read does not know is not a change.
func (p Precondition) Stale(fresh []inventory.AccessKey) (bool, string) {
	seen := make(map[inventory.KeyID]inventory.AccessKey, len(fresh))
	for _, k := range fresh {
		seen[k.ID] = k
	}
	for _, want := range p.Keys {
		got, ok := seen[want.ID]
		if !ok {
			return true, "key " + want.ID.String() + " no longer exists"
		}
		delete(seen, want.ID)
		if got.Status != want.Status {
			return true, "key " + want.ID.String() + " is now " + string(got.Status) + ", was " + string(want.Status)
		}
		if got.LastUsedKnown && got.LastUsed.After(want.LastUsed) {
			return true, "key " + want.ID.String() + " was used since the plan was made"
		}
	}
	if len(seen) > 0 {
		ids := make([]string, 0, len(seen))
		for id := range seen {
			ids = append(ids, id.String())
		}
		sort.Strings(ids)
		return true, "key " + ids[0] + " appeared since the plan was made"
	}
	return false, ""
}

// Step is one decision about one credential of one user.
type Step struct {
	AccountID  string
	User       string
	UserID     string
	Credential Credential
	// AccessKeyID is the key the step acts on; empty for a step about the user as a whole
	// (for example an expired exemption, or keys that could not be read).
	AccessKeyID inventory.KeyID
	Action      Action
	// Code is why, for programs (see Code); empty only in a plan saved before codes existed.
	Code         Code
	Reason       string // for a person: names the key (masked), the numbers and the rule
	Rule         string // name of the policy rule that applied; "default" when no named rule matched
	Precondition Precondition
	// StartsWarning marks the warn step that starts the warning period of an unused login
	// profile: applying it records the warning's start on the user (a keycycle state tag; no
	// credential changes), and the profile is deleted once the period has passed.
	StartsWarning bool
}

// Changes reports whether applying the step changes anything in AWS: a rotation, a deactivation,
// a deletion, or the warn step that starts an unused login profile's warning period (it records
// the start on the user). The other steps are only noted.
func (s Step) Changes() bool {
	return s.Action.Destructive() || s.Action == Rotate || (s.Action == Warn && s.StartsWarning && s.Credential == Password)
}

// ReasonKeysUnknown starts the reason of the skip step of a user whose keys could not be read
// (an unreadable credential report line, AccessDenied on ListAccessKeys): nothing is known of the
// user, so nothing is done, and a person must look (exit code 4).
const ReasonKeysUnknown = "keys unknown"

// KeysUnknown reports whether s is the step of a user whose keys could not be read.
func (s Step) KeysUnknown() bool {
	if s.Code != "" {
		return s.Code == CodeKeysUnknown
	}
	// A plan saved before codes existed: its reason says it.
	return s.Action == Skip && s.AccessKeyID == "" && strings.HasPrefix(s.Reason, ReasonKeysUnknown+" ")
}

// Summary counts steps by action.
type Summary struct {
	Rotate, Deactivate, Delete, Warn, Blocked, Skip int
}

// Summarize counts the steps' actions.
func Summarize(steps []Step) Summary {
	var s Summary
	for _, st := range steps {
		switch st.Action {
		case Rotate:
			s.Rotate++
		case Deactivate:
			s.Deactivate++
		case Delete:
			s.Delete++
		case Warn:
			s.Warn++
		case Blocked:
			s.Blocked++
		case Skip:
			s.Skip++
		}
	}
	return s
}

// Plan is the outcome of one policy evaluation.
type Plan struct {
	Version     int
	GeneratedAt time.Time
	Steps       []Step
	Summary     Summary
	// Origin is what made the plan, recorded when it is saved; nil when unknown.
	Origin *Origin
}

// Origin ties a saved plan to what made it: `keycycle apply plan.json` refuses the plan under
// another configuration or another identity, so a plan made for SSM delivery is never carried out
// with the defaults' Secrets Manager.
type Origin struct {
	// ConfigDigest is config.Config.Digest of the configuration the plan was made with.
	ConfigDigest string
	// CallerAccount and CallerARN are who planned (sts:GetCallerIdentity); an assumed-role
	// session is recorded as its role ARN, so a new session of the same role matches.
	CallerAccount, CallerARN string
}

// New returns a plan of the steps, sorted (see Sort), with its summary.
func New(generatedAt time.Time, steps []Step) Plan {
	Sort(steps)
	return Plan{Version: Version, GeneratedAt: generatedAt.UTC(), Steps: steps, Summary: Summarize(steps)}
}

// Sort orders steps by account, user, then execution order within the user (delete, deactivate,
// rotate, warn, blocked, skip), then credential and key id. The sort is stable, so steps equal in
// all of these keep their order.
func Sort(steps []Step) {
	sort.SliceStable(steps, func(i, j int) bool { return Less(steps[i], steps[j]) })
}

// Less is the order of Sort.
func Less(a, b Step) bool {
	if a.AccountID != b.AccountID {
		return a.AccountID < b.AccountID
	}
	if a.User != b.User {
		return a.User < b.User
	}
	if a.UserID != b.UserID {
		return a.UserID < b.UserID
	}
	if ra, rb := a.Action.rank(), b.Action.rank(); ra != rb {
		return ra < rb
	}
	if a.Credential != b.Credential {
		return a.Credential < b.Credential
	}
	return a.AccessKeyID < b.AccessKeyID
}
