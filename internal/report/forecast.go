package report

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/policy"
)

// Forecast is what keycycle will do over the next days under the current rules, assuming no one
// acts: no key or password is used, nothing is changed by hand, and keycycle runs once a day at
// the report's time of day and every change it plans succeeds.
type Forecast struct {
	From   time.Time `json:"from"`
	Days   int       `json:"days"`
	Events []Event   `json:"events"`
}

// Event is one thing keycycle does (or says) on one day of the forecast.
type Event struct {
	Day        int       `json:"day"` // 0: the run at the report's time
	At         time.Time `json:"at"`
	AccountID  string    `json:"account_id"`
	User       string    `json:"user"`
	Credential string    `json:"credential"`
	Key        string    `json:"key,omitempty"`
	// Action is a plan action (rotate, deactivate, delete, warn, blocked) or exemption-expires.
	Action string `json:"action"`
	Reason string `json:"reason"`
}

// ExemptionExpires is the forecast action of an exemption tag that runs out: from that day's run
// on the user is managed again.
const ExemptionExpires = "exemption-expires"

// BuildForecast runs policy.Evaluate once a day for days runs, the first at from, each on the
// state the previous runs left: after a run the forecast makes in its copy of the inventory the
// changes that run's steps make in AWS (a rotation creates a new active key, first used by its
// verification, and records the rotation on the user; a deactivation and a deletion record what
// the executor records; a password rotation sets the password; the first warning about unused
// console access records the warning). It decides nothing itself: every event is a step the
// policy planned on that day, or an exemption tag running out.
func BuildForecast(accounts []inventory.Account, rules policy.Rules, from time.Time, days int) Forecast {
	from = from.UTC()
	s := newSim(accounts, rules)
	f := Forecast{From: from, Days: days, Events: []Event{}}
	for d := 0; d < days; d++ {
		at := from.Add(time.Duration(d) * policy.Day)
		if d > 0 {
			f.Events = append(f.Events, s.expiring(at.Add(-policy.Day), at, d)...)
		}
		p := policy.Evaluate(s.accounts, rules, at)
		for _, st := range p.Steps {
			if st.Action == plan.Skip {
				continue
			}
			f.Events = append(f.Events, Event{
				Day: d, At: at, AccountID: st.AccountID, User: st.User, Credential: string(st.Credential),
				Key: s.label(st.AccessKeyID), Action: string(st.Action), Reason: s.relabel(st.Reason),
			})
		}
		for _, st := range p.Steps {
			if st.Changes() {
				s.apply(st, at)
			}
		}
	}
	return f
}

// sim is the forecast's copy of the inventory.
type sim struct {
	rules    policy.Rules
	accounts []inventory.Account
	// labels name the stand-in ids the forecast gives keys it knows no id for: keys known only
	// by their credential report slot and keys it creates.
	labels map[inventory.KeyID]string
	// masked maps the masked form of each stand-in (what reasons print) to its label.
	masked map[string]string
	// index finds a user by account and name: its account's and its own position.
	index map[[2]string][2]int
	n     int
}

// simKeyPrefix starts the forecast's stand-in key ids; '_' never occurs in a real access key id,
// so a stand-in cannot be taken for one.
const simKeyPrefix = "KEYCYCLE_FORECAST_"

func newSim(accounts []inventory.Account, rules policy.Rules) *sim {
	s := &sim{rules: rules, labels: map[inventory.KeyID]string{}, masked: map[string]string{}}
	for _, a := range accounts {
		c := a
		c.Users = make([]inventory.User, len(a.Users))
		for i, u := range a.Users {
			c.Users[i] = cloneUser(u)
		}
		policy.NameReportKeys(&c, rules)
		for i := range c.Users {
			u := &c.Users[i]
			// The forecast knows every change it makes: its users are as if read fresh.
			u.ReportTime = time.Time{}
			for j := range u.Keys {
				if k := &u.Keys[j]; k.ID.FromReport() {
					label := k.ID.String()
					k.ID = s.newID(label)
				}
			}
		}
		s.accounts = append(s.accounts, c)
	}
	s.index = map[[2]string][2]int{}
	for i, a := range s.accounts {
		for j, u := range a.Users {
			s.index[[2]string{a.ID, u.Name}] = [2]int{i, j}
		}
	}
	return s
}

func cloneUser(u inventory.User) inventory.User {
	c := u
	c.Keys = append([]inventory.AccessKey(nil), u.Keys...)
	c.Tags = maps.Clone(u.Tags)
	if c.Tags == nil {
		c.Tags = map[string]string{}
	}
	c.Groups = append([]string(nil), u.Groups...)
	if u.Login != nil {
		l := *u.Login
		c.Login = &l
	}
	return c
}

func (s *sim) newID(label string) inventory.KeyID {
	s.n++
	// The last four characters (all a masked id shows) are unique for 36^4 stand-ins.
	n := strconv.FormatInt(int64(s.n), 36)
	id := inventory.KeyID(simKeyPrefix + strings.Repeat("0", max(0, 4-len(n))) + strings.ToUpper(n))
	s.labels[id] = label
	s.masked[id.String()] = label
	return id
}

// label is the key's name in the forecast: masked, or what the forecast knows it by.
func (s *sim) label(id inventory.KeyID) string {
	if l, ok := s.labels[id]; ok {
		return l
	}
	return id.String()
}

// relabel replaces the masked stand-in ids in a reason by their labels: one map lookup per
// occurrence, whatever the number of stand-ins.
func (s *sim) relabel(reason string) string {
	mask := inventory.KeyID(simKeyPrefix + "0000").String()
	head := mask[:len(mask)-4] // "KEYC..."
	var b strings.Builder
	for {
		i := strings.Index(reason, head)
		if i < 0 || i+len(mask) > len(reason) {
			b.WriteString(reason)
			return b.String()
		}
		b.WriteString(reason[:i])
		m := reason[i : i+len(mask)]
		if l, ok := s.masked[m]; ok {
			b.WriteString(l)
		} else {
			b.WriteString(m)
		}
		reason = reason[i+len(mask):]
	}
}

func (s *sim) user(acct, name string) *inventory.User {
	if p, ok := s.index[[2]string{acct, name}]; ok {
		return &s.accounts[p[0]].Users[p[1]]
	}
	return nil
}

// apply makes in the copy the change st makes in AWS at time at, as the executor records it.
func (s *sim) apply(st plan.Step, at time.Time) {
	u := s.user(st.AccountID, st.User)
	if u == nil {
		return
	}
	p := s.rules.Tags.StatePrefix
	if st.Credential == plan.Password {
		s.applyPassword(u, st, at)
		return
	}
	switch st.Action {
	case plan.Rotate:
		nw := s.newID("new key of " + at.Format("2006-01-02"))
		u.Keys = append(u.Keys, inventory.AccessKey{
			ID: nw, Status: inventory.StatusActive, Created: at,
			// The executor verifies the new key by signing with it: its first use.
			LastUsed: at, LastUsedKnown: true, LastUsedService: "sts",
		})
		inventory.SortKeys(u.Keys)
		u.Tags[inventory.RotatedTag(p)] = inventory.RotationRecord{At: at, Old: st.AccessKeyID, New: nw}.TagValue()
		delete(u.Tags, inventory.IntentTag(p))
	case plan.Deactivate:
		k := u.Key(st.AccessKeyID)
		if k == nil {
			return
		}
		k.Status = inventory.StatusInactive
		if r, err := inventory.ParseRotationRecord(u.Tags[inventory.RotatedTag(p)]); err == nil && r.Old == k.ID {
			r.Deactivated = at
			u.Tags[inventory.RotatedTag(p)] = r.TagValue()
		} else {
			u.Tags[inventory.DeactivatedTag(p)] = inventory.DeactivationRecord{At: at, Key: k.ID}.TagValue()
		}
	case plan.Delete:
		keys := u.Keys[:0]
		for _, k := range u.Keys {
			if k.ID != st.AccessKeyID {
				keys = append(keys, k)
			}
		}
		u.Keys = keys
		if d, err := inventory.ParseDeactivationRecord(u.Tags[inventory.DeactivatedTag(p)]); err == nil && d.Key == st.AccessKeyID {
			delete(u.Tags, inventory.DeactivatedTag(p))
		}
	}
}

func (s *sim) applyPassword(u *inventory.User, st plan.Step, at time.Time) {
	p := s.rules.Tags.StatePrefix
	switch {
	case st.Action == plan.Rotate && u.Login != nil:
		u.Login.PasswordChanged = at
		u.Login.ResetRequired = true
		u.Tags[inventory.PasswordRotatedTag(p)] = inventory.Mark{At: at}.TagValue()
		delete(u.Tags, inventory.PasswordIntentTag(p))
	case st.Action == plan.Delete:
		u.Login = nil
		delete(u.Tags, inventory.ConsoleWarnedTag(p))
		delete(u.Tags, inventory.PasswordRotatedTag(p))
	case st.Action == plan.Warn && st.StartsWarning && u.Login != nil:
		if m, err := inventory.ParseMark(u.Tags[inventory.ConsoleWarnedTag(p)]); err == nil && !m.At.Before(u.Login.Since()) {
			return
		}
		u.Tags[inventory.ConsoleWarnedTag(p)] = inventory.Mark{At: at}.TagValue()
	}
}

// expiring returns an event for every exemption tag that runs out after prev and by at.
func (s *sim) expiring(prev, at time.Time, day int) []Event {
	var out []Event
	for _, a := range s.accounts {
		for _, u := range a.Users {
			before := policy.StandingOf(u, s.rules, prev)
			now := policy.StandingOf(u, s.rules, at)
			if before.Exempt && !now.Exempt && !now.ExemptionExpired.IsZero() {
				out = append(out, Event{Day: day, At: at, AccountID: a.ID, User: u.Name, Action: ExemptionExpires,
					Reason: fmt.Sprintf("exemption (tag %s) expires %s: %s; the user is managed again",
						s.rules.Tags.Exempt, now.ExemptionExpired.Format("2006-01-02"), orWords(before.ExemptReason))})
			}
		}
	}
	return out
}

func orWords(s string) string {
	if s == "" {
		return "no reason given"
	}
	return s
}
