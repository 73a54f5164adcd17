package deploy_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/iampolicy"
	"github.com/keycycle/keycycle/internal/lambdafn"
)

// The CDK construct (deploy/cdk) is checked in two halves: its own tests (node's test runner)
// synthesize stacks and write them to deploy/cdk/testdata, failing when the checked-in copies
// are out of date; this file reads those templates and requires the construct's IAM statements
// to be what `keycycle policy` makes of the configuration the construct hands its function.

// TestCDKPoliciesMatchKeycyclePolicy: for every synthesized prop set, the hub role's policy and
// the member policy (the member role's, or the MemberPolicy output with an organization) equal
// keycycle policy's for the configuration in KEYCYCLE_CONFIG_YAML, and the queues the function
// consumes are the ones the policy names.
func TestCDKPoliciesMatchKeycyclePolicy(t *testing.T) {
	files, err := filepath.Glob("cdk/testdata/*.template.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no synthesized templates under deploy/cdk/testdata (%v)", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			tpl, raw := loadTemplate(t, file)
			if _, ok := raw["Conditions"]; !ok {
				raw["Conditions"] = map[string]any{}
			}
			r := newResolver(t, tpl, raw, nil)
			byType := map[string][]string{}
			for name, res := range tpl.Resources {
				byType[res.Type] = append(byType[res.Type], name)
			}
			if n := len(byType["AWS::Lambda::Function"]); n != 1 {
				t.Fatalf("%d functions, want keycycle's only", n)
			}
			fn := r.resolve(tpl.Resources[byType["AWS::Lambda::Function"][0]].Properties).(map[string]any)
			env := fn["Environment"].(map[string]any)["Variables"].(map[string]any)
			get := func(k string) string { s, _ := env[k].(string); return s }
			doc := get(lambdafn.EnvConfigYAML)
			cfg, err := config.Parse(lambdafn.EnvConfigYAML, []byte(doc))
			if err != nil {
				t.Fatalf("the configuration the construct writes does not validate: %v\n%s", err, doc)
			}
			discovery := iampolicy.DiscoverOrganization
			switch {
			case get(lambdafn.EnvAccounts) != "":
				discovery = iampolicy.DiscoverNone
			case get(lambdafn.EnvOUs) != "":
				discovery = iampolicy.DiscoverOUs
			}
			name := fn["FunctionName"].(string)
			opts := iampolicy.Options{Region: cfnRegion, Account: cfnAccount, Name: name, MemberRole: get(lambdafn.EnvRole),
				Discovery: discovery, CleanupQueue: get(lambdafn.EnvCleanupQueueURL) != "",
				SingleLevel: get(lambdafn.EnvAccountQueueURL) == ""}
			if !opts.CleanupQueue || get(lambdafn.EnvCleanupWait) == "" {
				t.Fatal("the construct's function has no cleanup queue or wait")
			}

			var hubRole, memberRole string
			for _, role := range byType["AWS::IAM::Role"] {
				trust, _ := json.Marshal(tpl.Resources[role].Properties["AssumeRolePolicyDocument"])
				switch {
				case strings.Contains(string(trust), "lambda.amazonaws.com"):
					hubRole = role
				case tpl.Resources[role].Properties["RoleName"] == opts.MemberRole:
					memberRole = role
				default:
					t.Errorf("role %s is neither the hub nor the member role", role)
				}
			}
			wantHub, err := iampolicy.Policy(cfg, iampolicy.Hub, opts)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(wantHub.Normalize(), cfnPolicy(t, r, hubRole).Normalize()); d != "" {
				t.Errorf("hub policy (-keycycle policy +construct):\n%s", d)
			}

			var gotMember iampolicy.Document
			memberOpts := iampolicy.Options{Region: cfnRegion, Account: cfnAccount}
			if memberRole != "" {
				gotMember = cfnPolicy(t, r, memberRole)
			} else {
				memberOpts.Account = "" // member roles in any account of the organization
				var out string
				for name, o := range tpl.Outputs {
					if strings.HasPrefix(name, "RotatorMemberPolicy") {
						out = r.resolve(o.Value).(string)
					}
				}
				if gotMember, err = iampolicy.Parse([]byte(out)); err != nil {
					t.Fatalf("MemberPolicy output: %v\n%s", err, out)
				}
			}
			wantMember, err := iampolicy.Policy(cfg, iampolicy.Member, memberOpts)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(wantMember.Normalize(), gotMember.Normalize()); d != "" {
				t.Errorf("member policy (-keycycle policy +construct):\n%s", d)
			}

			// The queues the function consumes are the ones the policy names.
			var consumed []string
			for _, m := range byType["AWS::Lambda::EventSourceMapping"] {
				consumed = append(consumed, r.resolve(tpl.Resources[m].Properties["EventSourceArn"]).(string))
			}
			want := []string{"arn:aws:sqs:" + cfnRegion + ":" + cfnAccount + ":" + iampolicy.CleanupQueueName(name),
				"arn:aws:sqs:" + cfnRegion + ":" + cfnAccount + ":" + iampolicy.QueueName(name)}
			if d := cmp.Diff(want, sortedStrings(consumed)); d != "" {
				t.Errorf("event sources (-policy +construct):\n%s", d)
			}
		})
	}
}

func sortedStrings(in []string) []string {
	out := append([]string(nil), in...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestCDKNodeTests runs the construct's own tests (npm test in deploy/cdk: tsc, then node --test)
// when node and the installed packages are there; it skips with the install command otherwise.
func TestCDKNodeTests(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the CDK tests synthesize stacks for about a minute")
	}
	if raceEnabled {
		t.Skip("the CDK tests are a node child process the race detector cannot see: they run in the plain `go test` run")
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: install Node.js and npm (Debian: apt-get install nodejs npm), then run npm ci in deploy/cdk", tool)
		}
	}
	if _, err := os.Stat(filepath.Join("cdk", "node_modules", "aws-cdk-lib")); err != nil {
		t.Skip("deploy/cdk/node_modules is missing: run npm ci in deploy/cdk (.ci/run does)")
	}
	cmd := exec.Command("npm", "test")
	cmd.Dir = "cdk"
	cmd.Env = append(os.Environ(), "KEYCYCLE_UPDATE=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("npm test in deploy/cdk: %v\n%s", err, out)
	}
}
