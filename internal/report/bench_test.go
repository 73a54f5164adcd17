package report

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/policy"
)

// benchAccount is an account of n users with one or two keys of spread ages, some with console
// access, as the credential report describes them (slot ids).
func benchAccount(id string, n int, now time.Time) inventory.Account {
	a := inventory.Account{ID: id}
	for i := 0; i < n; i++ {
		u := inventory.User{Name: fmt.Sprintf("user-%05d", i), KeysKnown: true, LoginKnown: true, MFAKnown: true, MFA: i%3 == 0,
			ReportTime: now.Add(-time.Hour)}
		age := time.Duration(i%200) * policy.Day
		u.Keys = append(u.Keys, inventory.AccessKey{ID: inventory.ReportKeyID(1), Status: inventory.StatusActive,
			Created: now.Add(-age), LastUsed: now.Add(-policy.Day), LastUsedKnown: true})
		if i%10 == 0 {
			u.Keys = append(u.Keys, inventory.AccessKey{ID: inventory.ReportKeyID(2), Status: inventory.StatusActive,
				Created: now.Add(-5 * policy.Day), LastUsedKnown: true})
		}
		if i%4 == 0 {
			u.Login = &inventory.LoginProfile{PasswordChanged: now.Add(-age), LastUsed: now.Add(-time.Duration(i%60) * policy.Day), LastUsedKnown: true}
		}
		a.Users = append(a.Users, u)
	}
	return a
}

// BenchmarkBuild builds the whole report (inventory, controls, a 30-day forecast) for 10,000
// users and renders it as JSON and HTML.
func BenchmarkBuild(b *testing.B) {
	now := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	accts := []inventory.Account{benchAccount("111111111111", 10000, now)}
	b.ReportAllocs()
	for b.Loop() {
		r := Build(Input{Accounts: accts, Rules: policy.DefaultRules(), Now: now})
		if err := WriteJSON(io.Discard, r); err != nil {
			b.Fatal(err)
		}
		if err := WriteHTML(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}
