package report_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keycycle/keycycle/internal/audit"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/job"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/policy"
	"github.com/keycycle/keycycle/internal/report"
	"github.com/keycycle/keycycle/internal/rotation"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// scenario is the fixed sandbox scenario of the golden and forecast tests: every state a report
// must show, in two accounts.
const scenario = `
start: 2026-11-21T09:00:00Z
seed: 7
accounts:
  - id: "111111111111"
    alias: prod
    groups: [IAMKeyRotationExemptionGroup]
    users:
      - name: due
        tags: {owner: due@example.com}
        access_keys: [{age_days: 95, status: Active, last_used_days_ago: 1, last_used_service: s3, last_used_region: eu-west-1}]
      - name: soon
        tags: {owner: soon@example.com}
        access_keys: [{age_days: 80, status: Active, last_used_days_ago: 2}]
      - name: twokeys
        access_keys:
          - {age_days: 100, status: Active, last_used_days_ago: 1}
          - {age_days: 20, status: Active, last_used_days_ago: 1}
      - name: vendor
        tags: {"keycycle:exempt": "until=2026-12-01 reason=vendor appliance OPS-7"}
        access_keys: [{age_days: 120, status: Active, last_used_days_ago: 3}]
      - name: breakglass
        groups: [IAMKeyRotationExemptionGroup]
        access_keys: [{age_days: 400, status: Active}]
      - name: idle-console
        login_profile: {age_days: 200, password_age_days: 70, last_used_days_ago: 50}
      - name: console
        mfa: true
        login_profile: {age_days: 300, password_age_days: 59, last_used_days_ago: 1}
  - id: "222222222222"
    alias: dev
    users:
      - name: fresh
        access_keys: [{age_days: 10, status: Active, last_used_days_ago: 1}]
      - name: old-inactive
        access_keys: [{age_days: 200, status: Inactive, last_used_days_ago: 150}]
`

// bed is the sandbox with one runner per account.
type bed struct {
	sb    *awssimtest.Sandbox
	audit *bytes.Buffer
}

func newBed(t *testing.T) *bed {
	t.Helper()
	sb, _ := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, scenario))
	return &bed{sb: sb, audit: &bytes.Buffer{}}
}

func (b *bed) runner(t *testing.T, acct string) *job.Runner {
	t.Helper()
	cred, ok := b.sb.OperatorCredential(acct)
	if !ok {
		t.Fatalf("no operator credential for %s", acct)
	}
	return &job.Runner{
		AWS:        b.sb.Config(cred.AccessKeyID, cred.SecretAccessKey, ""),
		Rules:      policy.DefaultRules(),
		Secret:     config.Secret{NameTemplate: "keycycle/{{account}}/{{user}}"},
		Verify:     job.Verify{Successes: 2, Interval: 5 * time.Millisecond, MaxInterval: 50 * time.Millisecond, Timeout: 5 * time.Second},
		Now:        b.sb.Clock().Now,
		Audit:      audit.NewWriter(b.audit),
		RunID:      "run-test",
		ReportPoll: time.Millisecond,
	}
}

var accounts = []string{"111111111111", "222222222222"}

// scan plans every account and returns the inventories.
func (b *bed) scan(t *testing.T) []inventory.Account {
	t.Helper()
	var out []inventory.Account
	for _, a := range accounts {
		s, err := b.runner(t, a).Plan(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s.Account)
	}
	return out
}

func (b *bed) build(t *testing.T, days int) report.Report {
	t.Helper()
	return report.Build(report.Input{Accounts: b.scan(t), Rules: policy.DefaultRules(), Now: b.sb.Clock().Now(), Days: days})
}

// event is what the forecast test compares: who, what, which day.
type event struct {
	day                               int
	account, user, credential, action string
}

func (e event) String() string {
	return strings.Join([]string{"day " + strconv.Itoa(e.day), e.account, e.user, e.credential, e.action}, " ")
}

// TestForecastIsWhatRunningTheDaysDoes runs keycycle once a day on the sandbox clock for the
// forecast's days, applying every plan, and finds on each day exactly the steps the forecast
// announced, every change carried out.
func TestForecastIsWhatRunningTheDaysDoes(t *testing.T) {
	b := newBed(t)
	const days = 30
	start := b.sb.Clock().Now()
	f := report.BuildForecast(b.scan(t), policy.DefaultRules(), start, days)

	want := map[int][]string{}
	actions := map[string]bool{}
	for _, e := range f.Events {
		if e.Action == report.ExemptionExpires {
			continue
		}
		want[e.Day] = append(want[e.Day], event{e.Day, e.AccountID, e.User, e.Credential, e.Action}.String())
		actions[e.Action+" "+e.Credential] = true
	}
	// The scenario makes the forecast cover every kind of change.
	for _, a := range []string{"rotate access_key", "deactivate access_key", "delete access_key", "warn access_key",
		"blocked access_key", "rotate password", "warn password", "delete password"} {
		if !actions[a] {
			t.Errorf("the forecast has no %s: the scenario no longer covers it\n%v", a, f.Events)
		}
	}

	for d := 0; d < days; d++ {
		b.sb.Clock().Set(start.Add(time.Duration(d) * policy.Day))
		var got []string
		for _, a := range accounts {
			r := b.runner(t, a)
			s, err := r.Plan(context.Background())
			if err != nil {
				t.Fatalf("day %d: %v", d, err)
			}
			for _, st := range s.Plan.Steps {
				if st.Action != plan.Skip {
					got = append(got, event{d, st.AccountID, st.User, string(st.Credential), string(st.Action)}.String())
				}
			}
			res, err := r.Apply(context.Background(), s.Plan, false)
			if err != nil {
				t.Fatalf("day %d apply: %v", d, err)
			}
			for _, x := range res {
				if x.Step.Changes() && x.Outcome != rotation.Done {
					t.Fatalf("day %d: %s %s %s: %s %s %v", d, x.Step.User, x.Step.Credential, x.Step.Action, x.Outcome, x.Detail, x.Err)
				}
			}
		}
		sort.Strings(got)
		sort.Strings(want[d])
		if strings.Join(got, "\n") != strings.Join(want[d], "\n") {
			t.Fatalf("day %d (%s): ran\n  %s\nforecast said\n  %s", d, b.sb.Clock().Now().Format(time.DateOnly),
				strings.Join(got, "\n  "), strings.Join(want[d], "\n  "))
		}
	}
}

// TestGolden renders the fixed scenario in every format and compares with testdata/.
func TestGolden(t *testing.T) {
	b := newBed(t)
	r := b.build(t, 30)
	for _, f := range report.Formats {
		t.Run(string(f), func(t *testing.T) {
			var buf bytes.Buffer
			if err := report.Write(&buf, r, f); err != nil {
				t.Fatal(err)
			}
			golden(t, "scenario."+ext(f), buf.Bytes())
		})
	}
}

func ext(f report.Format) string {
	switch f {
	case report.Markdown:
		return "md"
	case report.Table:
		return "txt"
	}
	return string(f)
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; run go test ./internal/report -run TestGolden -update and review the diff\ngot:\n%s", path, got)
	}
}

// TestReportLeaksNothing applies the first day (new keys and passwords exist, their ids in
// keycycle's tags), then renders every format and the history, and finds no whole key id and no
// secret in any of them.
func TestReportLeaksNothing(t *testing.T) {
	b := newBed(t)
	for _, a := range accounts {
		r := b.runner(t, a)
		s, err := r.Plan(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Apply(context.Background(), s.Plan, false); err != nil {
			t.Fatal(err)
		}
	}
	b.sb.Clock().Advance(time.Hour)
	r := b.build(t, 30)
	h := &report.History{}
	if err := report.ReadHistory(h, bytes.NewReader(b.audit.Bytes()), "audit", report.HistoryFilter{}); err != nil {
		t.Fatal(err)
	}
	if len(h.Entries) == 0 {
		t.Fatal("no history read")
	}
	r.History = h
	var secrets []string
	for _, a := range accounts {
		for _, u := range []string{"due", "soon", "twokeys", "vendor", "breakglass", "fresh", "old-inactive"} {
			keys, _ := b.sb.Keys(a, u)
			for _, k := range keys {
				secrets = append(secrets, k.AccessKeyID, k.SecretAccessKey)
			}
		}
	}
	// The inputs hold whole ids: the audit trail names them, and keycycle's tags do.
	inAudit := false
	for _, s := range secrets {
		inAudit = inAudit || (s != "" && strings.Contains(b.audit.String(), s))
	}
	if len(secrets) < 8 || !inAudit {
		t.Fatalf("the leak test has nothing to look for: %d secrets, in the audit trail: %v", len(secrets), inAudit)
	}
	foundMasked := false
	for _, f := range report.Formats {
		var buf bytes.Buffer
		if err := report.Write(&buf, r, f); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		for _, s := range secrets {
			if s != "" && strings.Contains(out, s) {
				t.Errorf("%s output holds %q", f, s)
			}
		}
		foundMasked = foundMasked || strings.Contains(out, "AKIA...")
	}
	if !foundMasked {
		t.Error("no masked key id in any output: the report lost the keys keycycle knows by id")
	}
}
