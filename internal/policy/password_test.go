package policy

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/plan"
)

// console gives the user a login profile created createdDaysAgo, its password last changed
// changedDaysAgo (never: unknown) and last used usedDaysAgo (never: never used).
func console(createdDaysAgo, changedDaysAgo, usedDaysAgo float64) userOpt {
	return func(u *inventory.User) {
		l := &inventory.LoginProfile{Created: ago(createdDaysAgo), LastUsedKnown: true}
		if changedDaysAgo != never {
			l.PasswordChanged = ago(changedDaysAgo)
		}
		if usedDaysAgo != never {
			l.LastUsed = ago(usedDaysAgo)
		}
		u.Login, u.LoginKnown = l, true
	}
}

func mfa(on bool) userOpt { return func(u *inventory.User) { u.MFA, u.MFAKnown = on, true } }

func useUnknown(u *inventory.User) { u.Login.LastUsedKnown, u.Login.LastUsed = false, time.Time{} }

func mark(tag string, daysAgo float64) userOpt {
	return tags(tag, inventory.Mark{At: ago(daysAgo)}.TagValue())
}

// pw is one expected password step.
type pw struct {
	action plan.Action
	warns  bool // StartsWarning
	reason string
}

func passwordSteps(p plan.Plan, want []pw) []pw {
	var got []pw
	for _, s := range p.Steps {
		if s.Credential != plan.Password {
			continue
		}
		g := pw{action: s.Action, warns: s.StartsWarning, reason: s.Reason}
		if j := len(got); j < len(want) && strings.Contains(s.Reason, want[j].reason) {
			g.reason = want[j].reason
		}
		got = append(got, g)
	}
	return got
}

func TestEvaluatePasswords(t *testing.T) {
	terraform := func(r *Rules) { r.Tags = TerraformSQSTagNames() }
	tests := []struct {
		name  string
		user  inventory.User
		rules func(*Rules)
		want  []pw
	}{
		{name: "no console access", user: user("alice", keys(active("AAA1", 10, 1)))},
		{name: "not due", user: user("alice", console(200, 30, 1), mfa(true))},
		{name: "due: rotate",
			user: user("alice", console(200, 65, 1), mfa(true)),
			want: []pw{{plan.Rotate, false, "password age 65d (changed 2026-09-17) >= password_rotate_after 60d (rule 'default')"}}},
		{name: "due at exactly password_rotate_after",
			user: user("alice", console(200, 60, 1), mfa(true)),
			want: []pw{{plan.Rotate, false, "password age 60d"}}},
		{name: "the report lags keycycle's own rotation: not due again",
			user: user("alice", console(200, 65, 1), mfa(true), mark("keycycle:password-rotated", 0.1))},
		{name: "keycycle's rotation record ages like a change",
			user: user("alice", console(200, 90, 1), mfa(true), mark("keycycle:password-rotated", 61)),
			want: []pw{{plan.Rotate, false, "password age 61d (rotated by keycycle 2026-09-21)"}}},
		{name: "no change date: the login profile's creation",
			user: user("alice", console(70, never, 1), mfa(true)),
			want: []pw{{plan.Rotate, false, "password age 70d (set when the login profile was created 2026-09-12)"}}},
		{name: "per-user tag shortens it",
			user: user("alice", console(200, 35, 1), mfa(true), tags("keycycle:password-rotate-after-days", "30")),
			want: []pw{{plan.Rotate, false, "password age 35d (changed 2026-10-17) >= password_rotate_after 30d from tag keycycle:password-rotate-after-days"}}},
		{name: "terraform-sqs preset reads LoginProfileTimeLimit",
			user:  user("alice", console(200, 35, 1), mfa(true), tags("IamRotateCredentials:LoginProfileTimeLimit", "30", "keycycle:password-rotate-after-days", "1")),
			rules: terraform,
			want:  []pw{{plan.Rotate, false, "password_rotate_after 30d from tag IamRotateCredentials:LoginProfileTimeLimit"}}},
		{name: "tag outside the bounds: ignored, warned",
			user: user("alice", console(200, 65, 1), mfa(true), tags("keycycle:password-rotate-after-days", "365")),
			want: []pw{
				{plan.Rotate, false, "password age 65d (changed 2026-09-17) >= password_rotate_after 60d (rule"},
				{plan.Warn, false, `tag keycycle:password-rotate-after-days="365" on user alice is outside the allowed 1d to 90d: ignored, password_rotate_after stays 60d`},
			}},
		{name: "tag of 2^48+1 days does not wrap around to 1 day (issue 11)",
			user: user("alice", console(200, 5, 1), mfa(true), tags("keycycle:password-rotate-after-days", "281474976710657")),
			want: []pw{{plan.Warn, false, `tag keycycle:password-rotate-after-days="281474976710657" on user alice is outside the allowed 1d to 90d`}}},
		{name: "password rotation off",
			user:  user("alice", console(200, 100, 1), mfa(true), tags("keycycle:password-rotate-after-days", "30")),
			rules: func(r *Rules) { r.Default.PasswordRotateAfter = 0 }},
		{name: "interrupted rotation: resumed",
			user: user("alice", console(200, 10, 1), mfa(true), tags("keycycle:password-rotation", inventory.PasswordIntent{Started: ago(0.5)}.TagValue())),
			want: []pw{{plan.Rotate, false, "resume the password rotation started 2026-11-20 21:00Z"}}},
		{name: "interrupted rotation under a live lease: left to its run",
			user: user("alice", console(200, 10, 1), mfa(true), tags("keycycle:password-rotation",
				inventory.PasswordIntent{Started: now.Add(-time.Minute), Lease: inventory.Lease{Run: "run-a", Until: now.Add(time.Minute)}}.TagValue())),
			want: []pw{{plan.Skip, false, "password rotation in progress: run run-a holds the lease until 2026-11-21 09:01Z"}}},
		{name: "intent older than the completion: ignored",
			user: user("alice", console(200, 10, 1), mfa(true), tags("keycycle:password-rotation", inventory.PasswordIntent{Started: ago(5)}.TagValue()),
				mark("keycycle:password-rotated", 4))},

		// MFA.
		{name: "console access without MFA: flagged",
			user: user("alice", console(200, 10, 1), mfa(false)),
			want: []pw{{plan.Warn, false, "console access without an MFA device: assign one to user alice, or remove its console password"}}},
		{name: "MFA unknown: not flagged", user: user("alice", console(200, 10, 1))},
		{name: "MFA flag off", user: user("alice", console(200, 10, 1), mfa(false)), rules: func(r *Rules) { r.FlagMissingMFA = false }},

		// Unused console access.
		{name: "unused: the warning starts, no rotation",
			user: user("alice", console(200, 100, 50), mfa(true)),
			want: []pw{{plan.Warn, true, "console password unused for 50d (2026-10-02) >= console_unused_after 45d: console access (the login profile) is removed 14d after this warning is recorded, unless the password is used"}}},
		{name: "never used: idle since the login profile was created",
			user: user("alice", console(46, 46, never), mfa(true)),
			want: []pw{{plan.Warn, true, "console password never used, idle 46d (2026-10-06) >= console_unused_after 45d"}}},
		{name: "unused, warned 5 days ago: still warned, with the date",
			user: user("alice", console(200, 100, 50), mfa(true), mark("keycycle:console-warned", 5)),
			want: []pw{{plan.Warn, false, "console access (the login profile) is removed after 2026-11-30 09:00Z (warned 2026-11-16, console_disable_warning 14d), unless the password is used"}}},
		{name: "unused, warned 14 days ago: deleted",
			user: user("alice", console(200, 100, 60), mfa(true), mark("keycycle:console-warned", 14)),
			want: []pw{{plan.Delete, false, "console password unused for 60d (2026-09-22) >= console_unused_after 45d, warned 2026-11-07, console_disable_warning 14d passed: console access removed (login profile deleted)"}}},
		{name: "a warning from before the last use does not count",
			user: user("alice", console(200, 100, 50), mfa(true), mark("keycycle:console-warned", 100)),
			want: []pw{{plan.Warn, true, "is removed 14d after this warning is recorded"}}},
		{name: "used again: the warning is moot",
			user: user("alice", console(200, 10, 1), mfa(true), mark("keycycle:console-warned", 30))},
		{name: "last use unknown: not judged unused, still rotated",
			user: func() inventory.User {
				u := user("alice", console(200, 65, never), mfa(true))
				useUnknown(&u)
				return u
			}(),
			want: []pw{
				{plan.Rotate, false, "password age 65d"},
				{plan.Skip, false, "last use of the console password unknown: not judging whether console access is unused"},
			}},
		{name: "console_unused_after off: an unused password is rotated",
			user:  user("alice", console(200, 65, 50), mfa(true)),
			rules: func(r *Rules) { r.Default.ConsoleUnusedAfter = 0 },
			want:  []pw{{plan.Rotate, false, "password age 65d"}}},
		{name: "blast-radius cap defers the deletion",
			user:  user("alice", console(200, 100, 60), mfa(true), mark("keycycle:console-warned", 14)),
			rules: func(r *Rules) { r.MaxDestructive = 0 },
			want:  []pw{{plan.Skip, false, "blast-radius cap 0 reached; deferred delete: console password unused"}}},

		// Selection, exemption, unknowns.
		{name: "exempt by group: skipped",
			user: user("alice", console(200, 100, 1), groups("IAMKeyRotationExemptionGroup")),
			want: []pw{{plan.Skip, false, "exempt: member of group IAMKeyRotationExemptionGroup"}}},
		{name: "not selected and overdue: a skip line",
			user:  user("alice", console(200, 100, 1)),
			rules: func(r *Rules) { r.Selection.Mode = OptIn },
			want:  []pw{{plan.Skip, false, "not selected (opt-in mode and no tag owner): password age 100d >= password_rotate_after 60d"}}},
		{name: "login profile unknown: skipped with the reason",
			user: func() inventory.User {
				u := user("alice")
				u.LoginUnknown = "GetLoginProfile: AccessDenied"
				return u
			}(),
			want: []pw{{plan.Skip, false, "console password unknown (GetLoginProfile: AccessDenied): no action"}}},
		{name: "unreadable state tag: warned",
			user: user("alice", console(200, 10, 1), mfa(true), tags("keycycle:console-warned", "soon")),
			want: []pw{{plan.Warn, false, "tag keycycle:console-warned unreadable"}}},
		{name: "keys unknown do not stop the password",
			user: func() inventory.User {
				u := user("alice", console(200, 65, 1), mfa(true))
				u.KeysKnown, u.Unknown = false, "Throttling"
				return u
			}(),
			want: []pw{{plan.Rotate, false, "password age 65d"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rules := DefaultRules()
			if tc.rules != nil {
				tc.rules(&rules)
			}
			users := []inventory.User{tc.user}
			p := Evaluate([]inventory.Account{{ID: "111111111111", Users: users}}, rules, now)
			got := passwordSteps(p, tc.want)
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(pw{})); diff != "" {
				t.Errorf("password steps (-want +got):\n%s", diff)
			}
			checkInvariants(t, users, rules, p)
			for _, s := range p.Steps {
				if s.Credential == plan.Password && s.Action != plan.Skip && !Triage(tc.user, rules, now) {
					t.Errorf("Triage must read a user with a password step in full: %s", s.Reason)
				}
			}
		})
	}
}

// checkPasswordStep asserts what every password step keeps: it names no key and records the
// login profile; the login profile is deleted only after a recorded warning period with the
// password unused throughout; an unused password is not rotated.
func checkPasswordStep(t *testing.T, u inventory.User, rules Rules, s plan.Step) {
	t.Helper()
	if s.AccessKeyID != "" || s.Precondition.Login == nil {
		t.Errorf("password step without its login precondition, or naming a key: %+v", s)
	}
	if s.StartsWarning && s.Action != plan.Warn {
		t.Errorf("only a warn step starts a warning: %+v", s)
	}
	_, th := rules.ruleFor(&u)
	l := u.Login
	switch s.Action {
	case plan.Delete:
		if l == nil || !l.LastUsedKnown {
			t.Fatalf("delete of a login profile that is absent or whose use is unknown: %s", s.Reason)
		}
		since := l.Since()
		w, err := inventory.ParseMark(u.Tags[inventory.ConsoleWarnedTag(rules.Tags.StatePrefix)])
		if err != nil || w.At.Before(since) || now.Sub(w.At) < th.ConsoleDisableWarning {
			t.Errorf("login profile deleted without a full warning period: %s", s.Reason)
		}
		if th.ConsoleUnusedAfter <= 0 || now.Sub(since) < th.ConsoleUnusedAfter {
			t.Errorf("login profile deleted though used within console_unused_after: %s", s.Reason)
		}
	case plan.Rotate:
		if l == nil {
			t.Fatalf("rotation of a password the user does not have: %s", s.Reason)
		}
		if th.ConsoleUnusedAfter > 0 && l.LastUsedKnown && now.Sub(l.Since()) >= th.ConsoleUnusedAfter {
			t.Errorf("an unused password is rotated: %s", s.Reason)
		}
	}
}

// TestPasswordInvariantsRandom evaluates many random console users under random thresholds.
func TestPasswordInvariantsRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 19))
	for i := 0; i < 3000; i++ {
		rules := DefaultRules()
		rules.Default.PasswordRotateAfter = Day * time.Duration(rng.IntN(120))
		rules.Default.ConsoleUnusedAfter = Day * time.Duration(rng.IntN(90))
		rules.Default.ConsoleDisableWarning = Day * time.Duration(1+rng.IntN(30))
		rules.MaxDestructive = rng.IntN(3) - 1
		created := float64(rng.IntN(400))
		changed := float64(rng.IntN(int(created) + 1))
		used := float64(never)
		if rng.IntN(4) > 0 {
			used = float64(rng.IntN(int(created) + 1))
		}
		opts := []userOpt{console(created, changed, used), mfa(rng.IntN(2) == 0)}
		if rng.IntN(2) == 0 {
			opts = append(opts, mark("keycycle:console-warned", float64(rng.IntN(120))))
		}
		if rng.IntN(3) == 0 {
			opts = append(opts, mark("keycycle:password-rotated", float64(rng.IntN(120))))
		}
		u := user("u", opts...)
		if rng.IntN(8) == 0 {
			useUnknown(&u)
		}
		p := Evaluate([]inventory.Account{{ID: "111111111111", Users: []inventory.User{u}}}, rules, now)
		checkInvariants(t, []inventory.User{u}, rules, p)
		changes := 0
		for _, s := range p.Steps {
			if s.Credential == plan.Password && (s.Action == plan.Rotate || s.Action == plan.Delete) {
				changes++
			}
		}
		if changes > 1 {
			t.Errorf("more than one change of one password: %+v", p.Steps)
		}
		if t.Failed() {
			t.Fatalf("user %+v", u)
		}
	}
}
