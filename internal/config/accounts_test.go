package config

import (
	"strings"
	"testing"
)

func TestAccountsSection(t *testing.T) {
	cfg, err := Parse("k.yaml", []byte(`
accounts:
  source: organization
  ous: [ou-ab12-cdef3456, r-ab12]
  exclude: ["99999999999*"]
  tags: {env: prod}
  role: arn:aws:iam::{{account}}:role/keycycle/KeycycleMember
  external_id: x-1
  concurrency: 16
  rate_limit: {reads_per_second: 4, write_burst: 3}
`))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Accounts
	if a == nil || a.Source != "organization" || len(a.OUs) != 2 || a.Concurrency != 16 || a.ReadsPerSecond != 4 ||
		a.ReadBurst != 15 || a.WritesPerSecond != 2 || a.WriteBurst != 3 || a.SessionName != "keycycle" {
		t.Fatalf("accounts = %+v", a)
	}
	if cfg, _ := Parse("k.yaml", []byte("dry_run: true\n")); cfg.Accounts != nil {
		t.Fatal("no accounts section: the credentials' own account only")
	}
}

func TestAccountsSectionProblems(t *testing.T) {
	_, err := Parse("k.yaml", []byte(`accounts:
  source: everywhere
  ids: ["12345", "111111111111"]
  ous: [prod]
  role: arn:aws:iam::111111111111:role/Fixed
  concurrency: 0
  rate_limit: {reads_per_second: -1}
`))
	if err == nil {
		t.Fatal("want problems")
	}
	for _, want := range []string{"k.yaml:2: accounts.source", "k.yaml:3: accounts.ids[0]", "k.yaml:4: accounts.ous[0]",
		"k.yaml:5: accounts.role", "k.yaml:6: accounts.concurrency", "k.yaml:7: accounts.rate_limit.reads_per_second"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("problems lack %q:\n%v", want, err)
		}
	}
	_, err = Parse("k.yaml", []byte("accounts:\n  source: list\n"))
	if err == nil || !strings.Contains(err.Error(), "accounts.ids") {
		t.Fatalf("a list without ids: %v", err)
	}
}
