// Package report builds keycycle's report for people and auditors from an account inventory, the
// rules and a time: every user with its credentials and keycycle's state, compliance against
// named controls, a forecast of what keycycle will do over the next days, and the history of a
// user from the audit trail. It renders the report as a terminal table, JSON (docs/report.md),
// CSV, Markdown and one self-contained HTML page.
//
// Building is pure: no AWS, no clock, no files. Rendering writes only to the io.Writer it is
// given. Access key ids appear masked ("AKIA...7Q2X"), or as their credential report slot ("#1
// (credential report)") when the id is not known; no field can hold a secret.
package report

import (
	"sort"
	"strings"
	"time"

	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/policy"
)

// Version is the version of the report's JSON form (docs/report.md).
const Version = 1

// DefaultDays is the forecast's default length.
const DefaultDays = 30

// Input is what a report is built from.
type Input struct {
	// Accounts hold every user of every selected account (not only those that need action).
	Accounts []inventory.Account
	Rules    policy.Rules
	// Now is the time the report describes.
	Now time.Time
	// Days is the forecast's length; 0 is DefaultDays, negative: no forecast.
	Days int
	// Failed lists accounts that could not be read, with why; they are named in the report.
	Failed []AccountError
}

// AccountError is an account the report could not read.
type AccountError struct {
	AccountID string `json:"account_id"`
	Error     string `json:"error"`
}

// Report is the whole report. Its JSON form is documented in docs/report.md.
type Report struct {
	Version     int             `json:"version"`
	GeneratedAt time.Time       `json:"generated_at"`
	Thresholds  []RuleThreshold `json:"thresholds"`
	Summary     Summary         `json:"summary"`
	Controls    []Control       `json:"controls"`
	Accounts    []Account       `json:"accounts"`
	Failed      []AccountError  `json:"failed_accounts,omitempty"`
	Users       []User          `json:"users"`
	Forecast    *Forecast       `json:"forecast,omitempty"`
	History     *History        `json:"history,omitempty"`
}

// RuleThreshold is one rule's thresholds, in days, as the report applied them.
type RuleThreshold struct {
	Rule                  string `json:"rule"`
	RotateAfterDays       int    `json:"rotate_after_days"`
	WarnBeforeDays        int    `json:"warn_before_days"`
	DeactivateAfterDays   int    `json:"deactivate_after_days"`
	DeleteAfterDays       int    `json:"delete_after_days"`
	PasswordRotateAfter   int    `json:"password_rotate_after_days"`
	ConsoleUnusedAfter    int    `json:"console_unused_after_days"`
	UnusedCredentialsDays int    `json:"unused_credentials_days"` // CIS 1.12 / IAM.22
}

// Summary counts users and credentials across the report.
type Summary struct {
	Accounts   int `json:"accounts"`
	Users      int `json:"users"`
	Managed    int `json:"managed"`
	Exempt     int `json:"exempt"`
	ActiveKeys int `json:"active_keys"`
	Consoles   int `json:"console_users"`
	// Compliance is the share of passing checks among all decided checks (pass+fail), percent.
	Compliance float64 `json:"compliance_percent"`
}

// Account is one account's roll-up.
type Account struct {
	ID         string          `json:"account_id"`
	Alias      string          `json:"alias,omitempty"`
	Users      int             `json:"users"`
	Controls   []ControlResult `json:"controls"`
	Compliance float64         `json:"compliance_percent"`
}

// User is one IAM user as the report shows it.
type User struct {
	AccountID    string     `json:"account_id"`
	Name         string     `json:"user"`
	Path         string     `json:"path,omitempty"`
	Created      time.Time  `json:"created,omitzero"`
	Owner        string     `json:"owner,omitempty"`
	Rule         string     `json:"rule"`
	Managed      bool       `json:"managed"`
	NotManaged   string     `json:"not_managed_reason,omitempty"`
	Exemption    *Exemption `json:"exemption,omitempty"`
	KeysKnown    bool       `json:"keys_known"`
	KeysUnknown  string     `json:"keys_unknown_reason,omitempty"`
	Keys         []Key      `json:"keys"`
	ConsoleKnown bool       `json:"console_known"`
	Console      *Console   `json:"console"`
	// MFA: the user has an MFA device; null when unknown.
	MFA   *bool `json:"mfa"`
	State State `json:"keycycle_state"`
	// Controls is the user's result per control id: pass, fail, n/a or unknown.
	Controls map[string]Status `json:"controls"`
	// Next lists what a run now would do for the user (the plan's steps other than skip).
	Next []Step `json:"next,omitempty"`
}

// Exemption is a user's exemption.
type Exemption struct {
	Reason  string    `json:"reason"`
	Until   time.Time `json:"until,omitzero"` // zero: no expiry
	Expired bool      `json:"expired,omitempty"`
}

// Key is one access key. ID is masked, or the credential report slot.
type Key struct {
	ID              string    `json:"id"`
	Status          string    `json:"status"`
	Created         time.Time `json:"created,omitzero"`
	AgeDays         *int      `json:"age_days"`
	LastUsedKnown   bool      `json:"last_used_known"`
	LastUsed        time.Time `json:"last_used,omitzero"` // zero with last_used_known: never used
	LastUsedService string    `json:"last_used_service,omitempty"`
	LastUsedRegion  string    `json:"last_used_region,omitempty"`
}

// Console is a user's console password (login profile).
type Console struct {
	PasswordChanged time.Time `json:"password_changed,omitzero"`
	PasswordAgeDays *int      `json:"password_age_days"`
	LastSignInKnown bool      `json:"last_sign_in_known"`
	LastSignIn      time.Time `json:"last_sign_in,omitzero"` // zero with last_sign_in_known: never
}

// State is keycycle's own record on the user (its state tags).
type State struct {
	RotationStarted time.Time `json:"rotation_in_progress_since,omitzero"`
	Delivered       time.Time `json:"delivered_on,omitzero"`
	ReplacedKey     string    `json:"replaced_key,omitempty"`
	NewKey          string    `json:"new_key,omitempty"`
	Deactivated     time.Time `json:"deactivated_on,omitzero"`
	DeactivatedKey  string    `json:"deactivated_key,omitempty"`
	PasswordRotated time.Time `json:"password_rotated_on,omitzero"`
	ConsoleWarned   time.Time `json:"console_warned_on,omitzero"`
}

// Step is a planned action for a user.
type Step struct {
	Credential string `json:"credential"`
	Key        string `json:"key,omitempty"`
	Action     string `json:"action"`
	Reason     string `json:"reason"`
}

// Build builds the report. It is deterministic: the same input gives the same report.
func Build(in Input) Report {
	now := in.Now.UTC()
	r := Report{Version: Version, GeneratedAt: now, Failed: in.Failed}
	accounts := append([]inventory.Account(nil), in.Accounts...)
	sort.SliceStable(accounts, func(i, j int) bool { return accounts[i].ID < accounts[j].ID })
	p := policy.Evaluate(accounts, in.Rules, now)
	next := map[[2]string][]Step{}
	for _, s := range p.Steps {
		if s.Action == plan.Skip {
			continue
		}
		k := [2]string{s.AccountID, s.User}
		next[k] = append(next[k], Step{Credential: string(s.Credential), Key: s.AccessKeyID.String(), Action: string(s.Action), Reason: s.Reason})
	}
	r.Thresholds = thresholds(in.Rules)
	for _, a := range accounts {
		acct := a
		acct.Users = make([]inventory.User, len(a.Users))
		for i, u := range a.Users {
			acct.Users[i] = cloneUser(u) // naming the report's keys must not change the caller's inventory
		}
		policy.NameReportKeys(&acct, in.Rules)
		users := append([]inventory.User(nil), acct.Users...)
		sort.SliceStable(users, func(i, j int) bool { return users[i].Name < users[j].Name })
		for _, u := range users {
			row := userRow(acct.ID, u, in.Rules, now)
			row.Next = next[[2]string{acct.ID, u.Name}]
			r.Users = append(r.Users, row)
		}
		r.Accounts = append(r.Accounts, Account{ID: a.ID, Alias: a.Alias, Users: len(users)})
	}
	r.Controls, r.Accounts = rollUp(r.Users, r.Accounts, in.Rules)
	r.Summary = summarize(r)
	if in.Days >= 0 {
		days := in.Days
		if days == 0 {
			days = DefaultDays
		}
		f := BuildForecast(accounts, in.Rules, now, days)
		r.Forecast = &f
	}
	return r
}

func userRow(acct string, u inventory.User, rules policy.Rules, now time.Time) User {
	st := policy.StandingOf(u, rules, now)
	row := User{
		AccountID:    acct,
		Name:         u.Name,
		Path:         u.Path,
		Created:      u.Created.UTC(),
		Owner:        ownerOf(u, rules),
		Rule:         st.Rule,
		Managed:      st.Managed,
		NotManaged:   st.NotManaged,
		KeysKnown:    u.KeysKnown,
		KeysUnknown:  u.Unknown,
		Keys:         []Key{},
		ConsoleKnown: u.LoginKnown,
	}
	switch {
	case st.Exempt:
		row.Exemption = &Exemption{Reason: st.ExemptReason, Until: st.ExemptUntil}
	case !st.ExemptionExpired.IsZero():
		row.Exemption = &Exemption{Reason: "expired", Until: st.ExemptionExpired, Expired: true}
	}
	if !u.LoginKnown && u.LoginUnknown != "" && row.KeysUnknown == "" && !u.KeysKnown {
		row.KeysUnknown = u.LoginUnknown
	}
	keys := append([]inventory.AccessKey(nil), u.Keys...)
	inventory.SortKeys(keys)
	for _, k := range keys {
		row.Keys = append(row.Keys, keyRow(k, now))
	}
	if u.LoginKnown && u.Login != nil {
		l := u.Login
		c := &Console{PasswordChanged: l.PasswordChanged.UTC(), LastSignInKnown: l.LastUsedKnown, LastSignIn: l.LastUsed.UTC()}
		changed := l.PasswordChanged
		if changed.IsZero() {
			changed = l.Created
		}
		if !changed.IsZero() {
			c.PasswordAgeDays = days(now.Sub(changed))
		}
		row.Console = c
	}
	if u.MFAKnown {
		m := u.MFA
		row.MFA = &m
	}
	row.State = stateOf(u, rules.Tags.StatePrefix)
	row.Controls = checkUser(u, st, now)
	return row
}

func keyRow(k inventory.AccessKey, now time.Time) Key {
	out := Key{
		ID:              k.ID.String(),
		Status:          string(k.Status),
		Created:         k.Created.UTC(),
		LastUsedKnown:   k.LastUsedKnown,
		LastUsed:        k.LastUsed.UTC(),
		LastUsedService: naEmpty(k.LastUsedService),
		LastUsedRegion:  naEmpty(k.LastUsedRegion),
	}
	if !k.Created.IsZero() {
		out.AgeDays = days(now.Sub(k.Created))
	}
	return out
}

func naEmpty(s string) string {
	if s == "N/A" {
		return ""
	}
	return s
}

func days(d time.Duration) *int {
	n := int(d / policy.Day)
	if n < 0 {
		n = 0
	}
	return &n
}

func ownerOf(u inventory.User, rules policy.Rules) string {
	if rules.Tags.Owner == "" {
		return ""
	}
	return strings.TrimSpace(u.Tags[rules.Tags.Owner])
}

// completed reports whether the rotation record r on u is of a completed rotation: a record
// written at a rotation's start is while that rotation's intent is on the user, and records
// nothing once no key was created under its lease (inventory.RotationRecord).
func completed(u inventory.User, r inventory.RotationRecord, prefix string) bool {
	if !r.Started() {
		return true
	}
	if in, err := inventory.ParseRotationIntent(u.Tags[inventory.IntentTag(prefix)]); err == nil && !in.Started.Before(r.At) {
		return false
	}
	return r.NewKeyIn(u.Keys) != nil
}

func stateOf(u inventory.User, prefix string) State {
	var s State
	if r, err := inventory.ParseRotationIntent(u.Tags[inventory.IntentTag(prefix)]); err == nil {
		s.RotationStarted = r.Started.UTC()
	}
	if r, err := inventory.ParseRotationRecord(u.Tags[inventory.RotatedTag(prefix)]); err == nil && completed(u, r, prefix) {
		s.Delivered, s.ReplacedKey, s.NewKey = r.At.UTC(), r.Old.String(), r.New.String()
		if nk := r.NewKeyIn(u.Keys); r.Started() && nk != nil {
			s.NewKey = nk.ID.String()
		}
		if !r.Deactivated.IsZero() {
			s.Deactivated, s.DeactivatedKey = r.Deactivated.UTC(), r.Old.String()
		}
	}
	if r, err := inventory.ParseDeactivationRecord(u.Tags[inventory.DeactivatedTag(prefix)]); err == nil && r.At.After(s.Deactivated) {
		s.Deactivated, s.DeactivatedKey = r.At.UTC(), r.Key.String()
	}
	if m, err := inventory.ParseMark(u.Tags[inventory.PasswordRotatedTag(prefix)]); err == nil {
		s.PasswordRotated = m.At.UTC()
	}
	if m, err := inventory.ParseMark(u.Tags[inventory.ConsoleWarnedTag(prefix)]); err == nil {
		s.ConsoleWarned = m.At.UTC()
	}
	return s
}

func thresholds(rules policy.Rules) []RuleThreshold {
	one := func(name string, th policy.Thresholds) RuleThreshold {
		d := func(x time.Duration) int { return int(x / policy.Day) }
		return RuleThreshold{
			Rule: name, RotateAfterDays: d(th.RotateAfter), WarnBeforeDays: d(th.WarnBefore),
			DeactivateAfterDays: d(th.DeactivateAfter), DeleteAfterDays: d(th.DeleteAfter),
			PasswordRotateAfter: d(th.PasswordRotateAfter), ConsoleUnusedAfter: d(th.ConsoleUnusedAfter),
			UnusedCredentialsDays: d(unusedAfter(th)),
		}
	}
	var out []RuleThreshold
	for _, n := range rules.Named {
		out = append(out, one(n.Name, n.Thresholds))
	}
	return append(out, one(policy.DefaultRuleName, rules.Default))
}

func summarize(r Report) Summary {
	s := Summary{Accounts: len(r.Accounts), Users: len(r.Users)}
	var pass, fail int
	for _, u := range r.Users {
		if u.Managed {
			s.Managed++
		}
		if u.Exemption != nil && !u.Exemption.Expired {
			s.Exempt++
		}
		for _, k := range u.Keys {
			if k.Status == string(inventory.StatusActive) {
				s.ActiveKeys++
			}
		}
		if u.Console != nil {
			s.Consoles++
		}
	}
	for _, c := range r.Controls {
		pass += c.Pass
		fail += c.Fail
	}
	s.Compliance = percent(pass, fail)
	return s
}

func percent(pass, fail int) float64 {
	if pass+fail == 0 {
		return 100
	}
	return float64(int(float64(pass)*1000/float64(pass+fail))) / 10
}
