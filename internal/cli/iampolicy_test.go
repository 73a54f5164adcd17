package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keycycle/keycycle/internal/iampolicy"
)

func TestPolicyCommand(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "keycycle.yaml")
	if err := os.WriteFile(cfg, []byte("delivery: [{type: ssm, parameter: '/keys/{{user}}'}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run("policy", "--config", cfg, "--account", "123456789012")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	doc, err := iampolicy.Parse([]byte(stdout))
	if err != nil {
		t.Fatal(err)
	}
	sids := map[string]iampolicy.Statement{}
	for _, st := range doc.Statement {
		sids[st.Sid] = st
	}
	if _, ok := sids["SecretsManagerSink"]; ok {
		t.Error("an SSM-only delivery needs no Secrets Manager")
	}
	// The keys' parameters, and the console passwords' of their own.
	if st := sids["ParameterStoreSink"]; len(st.Resource) != 2 || st.Resource[1] != "arn:aws:ssm:*:123456789012:parameter/keys/*" ||
		st.Resource[0] != "arn:aws:ssm:*:123456789012:parameter/keycycle/123456789012/*/console" {
		t.Errorf("parameters: %+v", st)
	}
	if _, ok := sids["AssumeMemberRole"]; ok {
		t.Error("the member role must not assume roles")
	}

	code, stdout, _ = run("policy", "--role", "hub", "--discovery", "accounts", "--name", "rotator")
	if code != 0 || strings.Contains(stdout, "organizations:") || !strings.Contains(stdout, ":rotator.fifo") || !strings.Contains(stdout, "sts:AssumeRole") {
		t.Fatalf("hub policy: exit %d\n%s", code, stdout)
	}
}

func TestPolicyCommandRefusesBadInput(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("thresholds: {rotate_after: 90}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"policy", "--role", "admin"},
		{"policy", "--discovery", "everything"},
		{"policy", "--account", "12"},
		{"policy", "--config", bad},
		{"policy", "extra"},
	} {
		code, stdout, stderr := run(args...)
		if code != 2 || stdout != "" || stderr == "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
}

// --check adds the pre-flight's verification reads of the configured senders and topic.
func TestPolicyCheckFlag(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "keycycle.yaml")
	if err := os.WriteFile(cfg, []byte("notify:\n  email: {from: keycycle@example.com}\n  sns: {topic_arn: 'arn:aws:sns:us-east-1:123456789012:events'}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, withCheck := range []bool{false, true} {
		args := []string{"policy", "--config", cfg, "--account", "123456789012"}
		if withCheck {
			args = append(args, "--check")
		}
		code, stdout, stderr := run(args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		for _, a := range []string{"ses:GetEmailIdentity", "sns:GetTopicAttributes"} {
			if strings.Contains(stdout, a) != withCheck {
				t.Errorf("%v: %s granted = %v", args, a, !withCheck)
			}
		}
	}
}
