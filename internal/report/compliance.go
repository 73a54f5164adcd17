package report

import (
	"time"

	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/policy"
)

// Status is a user's result for one control.
type Status string

// Control results.
const (
	Pass          Status = "pass"
	Fail          Status = "fail"
	NotApplicable Status = "n/a"
	// Unknown: keycycle could not read what the control needs (the user's keys or password).
	Unknown Status = "unknown"
)

// Control is one named control with its results across the report.
type Control struct {
	ID        string `json:"id"`
	Framework string `json:"framework"`
	Title     string `json:"title"`
	// Threshold says which limit the report applied and where it came from.
	Threshold string `json:"threshold,omitempty"`
	ControlResult
}

// ControlResult counts a control's results over a set of users; Percent is pass/(pass+fail),
// 100 when no user was decided.
type ControlResult struct {
	ID            string  `json:"id"`
	Pass          int     `json:"pass"`
	Fail          int     `json:"fail"`
	NotApplicable int     `json:"not_applicable"`
	Unknown       int     `json:"unknown"`
	Percent       float64 `json:"percent"`
}

// Control ids.
const (
	CIS110 = "CIS-1.10"
	CIS112 = "CIS-1.12"
	CIS113 = "CIS-1.13"
	CIS114 = "CIS-1.14"
	IAM3   = "IAM.3"
	IAM8   = "IAM.8"
	IAM22  = "IAM.22"
)

// securityHubUnusedIAM8 is Security Hub's default maxCredentialUsageAge of IAM.8; keycycle's
// configuration has no matching setting.
const securityHubUnusedIAM8 = 90 * policy.Day

// cisUnused is CIS 1.12's 45 days, used when the rule sets no console_unused_after.
const cisUnused = 45 * policy.Day

// controlDef is a control and how a user is judged against it.
type controlDef struct {
	id, framework, title string
	threshold            func(policy.Rules) string
	check                func(u inventory.User, th policy.Thresholds, now time.Time) Status
}

var controlDefs = []controlDef{
	{CIS110, "CIS AWS Foundations Benchmark v3.0", "MFA is enabled for all IAM users that have a console password",
		nil, checkMFA},
	{CIS112, "CIS AWS Foundations Benchmark v3.0", "Credentials unused for 45 days or greater are disabled",
		ruleDays("unused_credentials", unusedAfter), checkUnused(unusedAfter)},
	{CIS113, "CIS AWS Foundations Benchmark v3.0", "There is only one active access key for any single IAM user",
		nil, checkOneActive},
	{CIS114, "CIS AWS Foundations Benchmark v3.0", "Access keys are rotated every 90 days or less",
		ruleDays("rotate_after", func(th policy.Thresholds) time.Duration { return th.RotateAfter }), checkRotated},
	{IAM3, "AWS Security Hub", "IAM users' access keys should be rotated every 90 days or less",
		ruleDays("rotate_after", func(th policy.Thresholds) time.Duration { return th.RotateAfter }), checkRotated},
	{IAM8, "AWS Security Hub", "Unused IAM user credentials should be removed",
		func(policy.Rules) string { return "90d (Security Hub default maxCredentialUsageAge)" },
		checkUnused(func(policy.Thresholds) time.Duration { return securityHubUnusedIAM8 })},
	{IAM22, "AWS Security Hub", "IAM user credentials unused for 45 days should be removed",
		ruleDays("unused_credentials", unusedAfter), checkUnused(unusedAfter)},
}

// unusedAfter is the idle limit of CIS 1.12 and IAM.22: the rule's console_unused_after, or 45
// days when the rule does not disable unused console access.
func unusedAfter(th policy.Thresholds) time.Duration {
	if th.ConsoleUnusedAfter > 0 {
		return th.ConsoleUnusedAfter
	}
	return cisUnused
}

// ruleDays describes a per-rule threshold: "90d (rotate_after of rule default)", one per rule.
func ruleDays(field string, get func(policy.Thresholds) time.Duration) func(policy.Rules) string {
	return func(r policy.Rules) string {
		s := ""
		for _, n := range r.Named {
			s += policy.FormatDuration(get(n.Thresholds)) + " (" + field + " of rule " + n.Name + "), "
		}
		s += policy.FormatDuration(get(r.Default)) + " (" + field + " of rule " + policy.DefaultRuleName + ")"
		if field == "unused_credentials" {
			s += "; console_unused_after when set, else 45d"
		}
		return s + "; per-user override tags apply"
	}
}

// checkUser judges u against every control.
func checkUser(u inventory.User, st policy.Standing, now time.Time) map[string]Status {
	out := make(map[string]Status, len(controlDefs))
	for _, c := range controlDefs {
		out[c.id] = c.check(u, st.Thresholds, now)
	}
	return out
}

func activeKeys(u inventory.User) []inventory.AccessKey {
	var out []inventory.AccessKey
	for _, k := range u.Keys {
		if k.Active() {
			out = append(out, k)
		}
	}
	return out
}

func checkMFA(u inventory.User, _ policy.Thresholds, _ time.Time) Status {
	switch {
	case !u.LoginKnown:
		return Unknown
	case u.Login == nil:
		return NotApplicable
	case !u.MFAKnown:
		return Unknown
	case u.MFA:
		return Pass
	}
	return Fail
}

func checkOneActive(u inventory.User, _ policy.Thresholds, _ time.Time) Status {
	switch {
	case !u.KeysKnown:
		return Unknown
	case len(activeKeys(u)) > 1:
		return Fail
	}
	return Pass
}

func checkRotated(u inventory.User, th policy.Thresholds, now time.Time) Status {
	if !u.KeysKnown {
		return Unknown
	}
	active := activeKeys(u)
	if len(active) == 0 {
		return NotApplicable
	}
	for _, k := range active {
		if k.Created.IsZero() {
			return Unknown
		}
		if now.Sub(k.Created) > th.RotateAfter {
			return Fail
		}
	}
	return Pass
}

// checkUnused fails a user with an active key or a console password idle for at least the limit:
// since its last use, or since its creation when never used.
func checkUnused(limit func(policy.Thresholds) time.Duration) func(inventory.User, policy.Thresholds, time.Time) Status {
	return func(u inventory.User, th policy.Thresholds, now time.Time) Status {
		d := limit(th)
		judged, unknown := false, false
		for _, k := range activeKeys(u) {
			judged = true
			since := k.LastUsed
			if since.IsZero() {
				since = k.Created
			}
			switch {
			case !k.LastUsedKnown || since.IsZero():
				unknown = true
			case now.Sub(since) >= d:
				return Fail
			}
		}
		if u.LoginKnown && u.Login != nil {
			judged = true
			since := u.Login.Since()
			switch {
			case !u.Login.LastUsedKnown || since.IsZero():
				unknown = true
			case now.Sub(since) >= d:
				return Fail
			}
		}
		switch {
		case !u.KeysKnown || !u.LoginKnown || unknown:
			return Unknown
		case !judged:
			return NotApplicable
		}
		return Pass
	}
}

// rollUp counts the users' results per control, overall and per account.
func rollUp(users []User, accounts []Account, rules policy.Rules) ([]Control, []Account) {
	count := func(filter func(User) bool) ([]ControlResult, float64) {
		var out []ControlResult
		pass, fail := 0, 0
		for _, c := range controlDefs {
			cr := ControlResult{ID: c.id}
			for _, u := range users {
				if !filter(u) {
					continue
				}
				switch u.Controls[c.id] {
				case Pass:
					cr.Pass++
				case Fail:
					cr.Fail++
				case NotApplicable:
					cr.NotApplicable++
				default:
					cr.Unknown++
				}
			}
			cr.Percent = percent(cr.Pass, cr.Fail)
			pass += cr.Pass
			fail += cr.Fail
			out = append(out, cr)
		}
		return out, percent(pass, fail)
	}
	all, _ := count(func(User) bool { return true })
	controls := make([]Control, len(controlDefs))
	for i, c := range controlDefs {
		controls[i] = Control{ID: c.id, Framework: c.framework, Title: c.title, ControlResult: all[i]}
		if c.threshold != nil {
			controls[i].Threshold = c.threshold(rules)
		}
	}
	for i := range accounts {
		id := accounts[i].ID
		accounts[i].Controls, accounts[i].Compliance = count(func(u User) bool { return u.AccountID == id })
	}
	return controls, accounts
}
