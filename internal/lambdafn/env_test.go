package lambdafn

import (
	"context"
	"strings"
	"testing"

	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
)

func TestFromEnvReadsTheAccountsSectionAndTheEnvironmentWins(t *testing.T) {
	sb, _ := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, scenario))
	cred, _ := sb.OperatorCredential("111111111111")
	env := map[string]string{
		EnvConfigYAML: "accounts:\n  source: list\n  ids: [\"222222222222\"]\n  role: KeycycleMember\n  external_id: from-config\n",
	}
	for k, v := range map[string]string{"AWS_ENDPOINT_URL": sb.URL, "AWS_ACCESS_KEY_ID": cred.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY": cred.SecretAccessKey, "AWS_REGION": "us-east-1", "AWS_PROFILE": "", "AWS_SESSION_TOKEN": "",
		"AWS_CONFIG_FILE": t.TempDir() + "/c", "AWS_SHARED_CREDENTIALS_FILE": t.TempDir() + "/k"} {
		t.Setenv(k, v) // the SDK's configuration chain reads the process environment
	}
	getenv := func(k string) string { return env[k] }
	h, err := FromEnv(context.Background(), getenv)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := h.Targets(context.Background())
	if err != nil || len(ts) != 1 || ts[0].AccountID != "222222222222" {
		t.Fatalf("targets %+v, %v", ts, err)
	}
	if h.Fleet.Role.Name != "KeycycleMember" || h.Fleet.Role.ExternalID != "from-config" || h.DefaultAccount != "111111111111" || !h.DryRun {
		t.Fatalf("handler from config: role %+v, default account %s, dry run %v", h.Fleet.Role, h.DefaultAccount, h.DryRun)
	}
	env[EnvRole], env[EnvAccounts], env[EnvDryRun] = "DeployedRole", "333333333333", "false"
	if h, err = FromEnv(context.Background(), getenv); err != nil {
		t.Fatal(err)
	}
	ts, _ = h.Targets(context.Background())
	if h.Fleet.Role.Name != "DeployedRole" || len(ts) != 1 || ts[0].AccountID != "333333333333" || h.DryRun {
		t.Fatalf("the environment must win: role %q, targets %+v, dry run %v", h.Fleet.Role.Name, ts, h.DryRun)
	}
	if h.Reports.Bucket != "" {
		t.Fatalf("no report bucket configured, got %+v", h.Reports)
	}
	env[EnvReportBucket], env[EnvReportPrefix], env[EnvReportDays] = "keycycle-reports", "org/", "14"
	if h, err = FromEnv(context.Background(), getenv); err != nil {
		t.Fatal(err)
	}
	if h.Reports.Bucket != "keycycle-reports" || h.Reports.Prefix != "org/" || h.Reports.Days != 14 || h.Reports.Store == nil {
		t.Fatalf("reports %+v", h.Reports)
	}
	env[EnvReportDays] = "0"
	if _, err = FromEnv(context.Background(), getenv); err == nil || !strings.Contains(err.Error(), EnvReportDays) {
		t.Fatalf("bad %s: %v", EnvReportDays, err)
	}
}
