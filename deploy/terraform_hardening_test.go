package deploy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/terraform-config-inspect/tfconfig"
	"github.com/zclconf/go-cty/cty"
)

// tfValidate evaluates the validation blocks of the module's variables, with the defaults and
// the given inputs, as `terraform plan` does; it returns the error messages of the failures.
func tfValidate(t *testing.T, dir string, inputs map[string]cty.Value) []string {
	t.Helper()
	vars := map[string]cty.Value{}
	type validation struct {
		variable       string
		condition, msg hcl.Expression
	}
	var checks []validation
	for _, b := range parseDir(t, dir) {
		for _, blk := range b.Blocks {
			if blk.Type != "variable" {
				continue
			}
			v := cty.NullVal(cty.DynamicPseudoType)
			if d, ok := blk.Body.Attributes["default"]; ok {
				var diags hcl.Diagnostics
				if v, diags = d.Expr.Value(nil); diags.HasErrors() {
					t.Fatalf("default of %s: %v", blk.Labels[0], diags)
				}
			}
			vars[blk.Labels[0]] = v
			for _, vb := range blk.Body.Blocks {
				if vb.Type == "validation" {
					checks = append(checks, validation{blk.Labels[0], vb.Body.Attributes["condition"].Expr, vb.Body.Attributes["error_message"].Expr})
				}
			}
		}
	}
	for k, v := range inputs {
		if _, ok := vars[k]; !ok {
			t.Fatalf("input %s is not a variable of %s", k, dir)
		}
		vars[k] = v
	}
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"var": cty.ObjectVal(vars)}, Functions: tfFunctions()}
	var failed []string
	for _, c := range checks {
		v, diags := c.condition.Value(ctx)
		if diags.HasErrors() {
			t.Fatalf("validation of %s: %v", c.variable, diags)
		}
		if v.False() {
			m, _ := c.msg.Value(ctx)
			failed = append(failed, m.AsString())
		}
	}
	sort.Strings(failed)
	return failed
}

func strList(s ...string) cty.Value {
	if len(s) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	vs := make([]cty.Value, len(s))
	for i, x := range s {
		vs[i] = cty.StringVal(x)
	}
	return cty.ListVal(vs)
}

// TestTerraformVariablesAreValidated: every bounded input refuses what AWS or keycycle would
// refuse later, with a message naming it; sensible values pass.
func TestTerraformVariablesAreValidated(t *testing.T) {
	if failed := tfValidate(t, tfRoot, nil); len(failed) != 0 {
		t.Fatalf("the defaults fail validation: %v", failed)
	}
	for _, tc := range []struct {
		inputs map[string]cty.Value
		want   string // prefix of the error message; "" passes
	}{
		{map[string]cty.Value{"aws_cli_time_limit": cty.NumberIntVal(0)}, "aws_cli_time_limit"},
		{map[string]cty.Value{"aws_cli_time_limit": cty.NumberFloatVal(1.5)}, "aws_cli_time_limit"},
		{map[string]cty.Value{"aws_cli_time_limit": cty.NumberIntVal(165)}, ""},
		{map[string]cty.Value{"aws_login_profile_time_limit": cty.NumberIntVal(-1)}, "aws_login_profile_time_limit"},
		{map[string]cty.Value{"console_unused_after_days": cty.NumberIntVal(4000)}, "console_unused_after_days"},
		{map[string]cty.Value{"secret_name_template": cty.StringVal("keycycle/{{account}}")}, "secret_name_template"},
		{map[string]cty.Value{"password_secret_name_template": cty.StringVal("keycycle/{{account}}/{{user}}")}, "password_secret_name_template"},
		{map[string]cty.Value{"ssm_parameter_template": cty.StringVal("keycycle/{{user}}")}, "ssm_parameter_template"},
		{map[string]cty.Value{"ssm_parameter_template": cty.StringVal("/keycycle/{{account}}/{{user}}")}, ""},
		{map[string]cty.Value{"handler_function": cty.StringVal("not a function")}, "handler_function"},
		{map[string]cty.Value{"handler_function": cty.StringVal("arn:aws:lambda:eu-west-1:123456789012:function:on-new-key")}, ""},
		{map[string]cty.Value{"aws_ses_email_from": cty.StringVal("keycycle")}, "aws_ses_email_from"},
		{map[string]cty.Value{"fallback_email": cty.StringVal("sec at example.com")}, "fallback_email"},
		{map[string]cty.Value{"sns_topic_arn": cty.StringVal("events")}, "sns_topic_arn"},
		{map[string]cty.Value{"organization_id": cty.StringVal("org-1")}, "organization_id"},
		{map[string]cty.Value{"accounts": strList("1234")}, "accounts"},
		{map[string]cty.Value{"organizational_units": strList("ou-ab12-34cd56ef"), "accounts": strList("111111111111")}, "organizational_units"},
		{map[string]cty.Value{"exclude_accounts": strList("2222*"), "accounts": strList("111111111111")}, "exclude_accounts"},
		{map[string]cty.Value{"exclude_accounts": strList("2222*")}, ""},
		{map[string]cty.Value{"member_role_name": cty.StringVal("a role")}, "member_role_name"},
		{map[string]cty.Value{"external_id": cty.StringVal("x")}, "external_id"},
		{map[string]cty.Value{"concurrency": cty.NumberIntVal(0)}, "concurrency"},
		{map[string]cty.Value{"function_timeout": cty.NumberIntVal(901)}, "function_timeout"},
		{map[string]cty.Value{"memory_size": cty.NumberIntVal(64)}, "memory_size"},
		{map[string]cty.Value{"max_receive_count": cty.NumberIntVal(0)}, "max_receive_count"},
		{map[string]cty.Value{"cloudwatch_log_retention": cty.NumberIntVal(10)}, "cloudwatch_log_retention"},
		{map[string]cty.Value{"schedule_expression": cty.StringVal("daily")}, "schedule_expression"},
		{map[string]cty.Value{"schedule_expression": cty.StringVal("cron(0 6 ? * MON-FRI *)")}, ""},
		{map[string]cty.Value{"schedule_expression": cty.StringVal("rate(12 hours)")}, ""},
		{map[string]cty.Value{"sns_kms_key_arn": cty.StringVal("alias/aws/sns")}, "sns_kms_key_arn"},
		{map[string]cty.Value{"log_kms_key_arn": cty.StringVal("arn:aws:kms:eu-west-1:123456789012:alias/logs")}, "log_kms_key_arn"},
		{map[string]cty.Value{"permissions_boundary": cty.StringVal("arn:aws:iam::123456789012:role/x")}, "permissions_boundary"},
		{map[string]cty.Value{"permissions_boundary": cty.StringVal("arn:aws:iam::123456789012:policy/boundary")}, ""},
		{map[string]cty.Value{"subnet_ids": strList("subnet-1")}, "subnet_ids"},
		{map[string]cty.Value{"security_group_ids": strList("default")}, "security_group_ids"},
		{map[string]cty.Value{"subnet_ids": strList("subnet-0a1b2c3d"), "security_group_ids": strList("sg-0a1b2c3d4e5f6a7b8")}, ""},
		{map[string]cty.Value{"lambda_zip": cty.StringVal("dist/keycycle")}, "lambda_zip"},
		{map[string]cty.Value{"name": cty.StringVal("key cycle")}, "The name"},
		{map[string]cty.Value{"report_bucket_name": cty.StringVal("Reports_Bucket")}, "report_bucket_name"},
		{map[string]cty.Value{"report_prefix": cty.StringVal("reports")}, "report_prefix"},
		{map[string]cty.Value{"report_prefix": cty.StringVal("reports/*/")}, "report_prefix"},
		{map[string]cty.Value{"report_retention_days": cty.NumberIntVal(0)}, "report_retention_days"},
		{map[string]cty.Value{"create_report_bucket": cty.True, "report_bucket_name": cty.StringVal("acme-keycycle-reports"), "report_prefix": cty.StringVal("org/reports/")}, ""},
	} {
		failed := tfValidate(t, tfRoot, tc.inputs)
		switch {
		case tc.want == "" && len(failed) > 0:
			t.Errorf("%v refused: %v", tc.inputs, failed)
		case tc.want != "" && (len(failed) != 1 || !strings.HasPrefix(failed[0], tc.want)):
			t.Errorf("%v: got %v, want one error about %s", tc.inputs, failed, tc.want)
		}
	}
}

// TestTerraformPackagePath: without lambda_zip, the package is the repository's dist/ build when
// the module is used from a checkout that has one, else dist/ beside the root module (a git
// source is a fresh clone in .terraform/modules, with no build in it).
func TestTerraformPackagePath(t *testing.T) {
	root := t.TempDir()
	// A checkout with a build: <repo>/deploy/terraform and <repo>/dist/keycycle-lambda.zip.
	repo := filepath.Join(root, "repo")
	mod := filepath.Join(repo, "deploy", "terraform")
	if err := os.MkdirAll(mod, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(repo, "dist"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "dist", "keycycle-lambda.zip"), []byte("zip"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := evalModuleAt(t, tfRoot, mod, filepath.Join(root, "live"), nil)["lambda_zip"].AsString()
	if filepath.Clean(got) != filepath.Join(repo, "dist", "keycycle-lambda.zip") {
		t.Errorf("from a checkout with a build: %s", got)
	}
	// A git source: .terraform/modules/keycycle/deploy/terraform, no dist/.
	live := filepath.Join(root, "live")
	gitMod := filepath.Join(live, ".terraform", "modules", "keycycle", "deploy", "terraform")
	got = evalModuleAt(t, tfRoot, gitMod, live, nil)["lambda_zip"].AsString()
	if got != live+"/dist/keycycle-lambda.zip" {
		t.Errorf("from a git source: %s, want dist/ beside the root module", got)
	}
	got = evalModuleAt(t, tfRoot, gitMod, live, map[string]cty.Value{"lambda_zip": cty.StringVal("build/k.zip")})["lambda_zip"].AsString()
	if got != "build/k.zip" {
		t.Errorf("lambda_zip given: %s", got)
	}
}

// TestTerraformScheduleAndAlarms: the schedule is the expression given, else every
// scan_alarm_clock minutes; the alarms (dead-letter depths, errors and throttles), all switched by
// var.alarms, go to the topic,
// which lets CloudWatch publish and refuses non-TLS publishing.
func TestTerraformScheduleAndAlarms(t *testing.T) {
	for _, tc := range []struct {
		in   map[string]cty.Value
		want string
	}{
		{nil, "rate(1440 minutes)"},
		{map[string]cty.Value{"scan_alarm_clock": cty.NumberIntVal(1)}, "rate(1 minute)"},
		{map[string]cty.Value{"schedule_expression": cty.StringVal("cron(0 6 * * ? *)")}, "cron(0 6 * * ? *)"},
	} {
		if got := evalModule(t, tfRoot, tc.in)["schedule_expression"].AsString(); got != tc.want {
			t.Errorf("%v: schedule %s, want %s", tc.in, got, tc.want)
		}
	}
	withTopic := evalModule(t, tfRoot, map[string]cty.Value{"create_sns_topic": cty.True})["alarm_actions"]
	if withTopic.LengthInt() != 1 || !strings.HasSuffix(withTopic.Index(cty.NumberIntVal(0)).AsString(), ":keycycle-events") {
		t.Errorf("alarm actions with a topic: %#v", withTopic)
	}
	if none := evalModule(t, tfRoot, nil)["alarm_actions"]; none.LengthInt() != 0 {
		t.Errorf("alarm actions without a topic: %#v", none)
	}

	metrics := map[string]string{}
	var topicPolicy string
	for _, f := range parseDir(t, tfRoot) {
		for _, blk := range f.Blocks {
			if blk.Type != "resource" {
				continue
			}
			src := func(attr string) string {
				a, ok := blk.Body.Attributes[attr]
				if !ok {
					return ""
				}
				r := a.Expr.Range()
				b, _ := os.ReadFile(r.Filename)
				return string(r.SliceBytes(b))
			}
			switch blk.Labels[0] {
			case "aws_cloudwatch_metric_alarm":
				metrics[blk.Labels[1]] = src("namespace") + " " + src("metric_name")
				if src("alarm_actions") != "local.alarm_actions" || !strings.HasPrefix(src("for_each"), "var.alarms ? {") || !strings.HasSuffix(src("for_each"), "} : {}") {
					t.Errorf("alarm %s: actions %q, for_each %q (want switched by var.alarms)", blk.Labels[1], src("alarm_actions"), src("for_each"))
				}
			case "aws_sns_topic_policy":
				topicPolicy = src("policy")
			case "aws_sns_topic":
				if src("kms_master_key_id") != "var.sns_kms_key_arn" {
					t.Errorf("the topic ignores sns_kms_key_arn")
				}
			case "aws_cloudwatch_log_group":
				if src("kms_key_id") != "var.log_kms_key_arn" {
					t.Errorf("the log group ignores log_kms_key_arn")
				}
			case "aws_iam_role":
				if src("permissions_boundary") != "var.permissions_boundary" {
					t.Errorf("role %s has no permissions boundary input", blk.Labels[1])
				}
			case "aws_lambda_function":
				var vpc *hclsyntax.Block
				for _, b := range blk.Body.Blocks {
					if b.Type == "dynamic" && b.Labels[0] == "vpc_config" {
						vpc = b
					}
				}
				if vpc == nil {
					t.Errorf("the function has no vpc_config from subnet_ids and security_group_ids")
				}
			}
		}
	}
	want := map[string]string{"dead_letters": `"AWS/SQS" "ApproximateNumberOfMessagesVisible"`, "functions": `"AWS/Lambda" each.value.metric`}
	if fmt.Sprint(metrics) != fmt.Sprint(want) {
		t.Errorf("alarms %v, want %v", metrics, want)
	}
	for _, s := range []string{`"AlarmsPublish"`, `"cloudwatch.amazonaws.com"`, `"aws:SecureTransport" = "false"`} {
		if !strings.Contains(topicPolicy, s) {
			t.Errorf("topic policy lacks %s", s)
		}
	}
}

// TestTerraformReadmesAreInSync: each module's README holds its inputs and outputs tables,
// generated from the module itself; KEYCYCLE_UPDATE=1 rewrites them.
func TestTerraformReadmesAreInSync(t *testing.T) {
	const begin, end = "<!-- BEGIN GENERATED: inputs and outputs (deploy/terraform_hardening_test.go) -->", "<!-- END GENERATED -->"
	for _, dir := range []string{tfRoot, filepath.Join(tfRoot, "modules", "member-role")} {
		m, diags := tfconfig.LoadModule(dir)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		var b strings.Builder
		b.WriteString(begin + "\n## Inputs\n\n| name | description | type | default | required |\n|---|---|---|---|---|\n")
		names := make([]string, 0, len(m.Variables))
		for n := range m.Variables {
			names = append(names, n)
		}
		sort.Strings(names)
		cell := func(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ") }
		for _, n := range names {
			v := m.Variables[n]
			def := ""
			if !v.Required {
				def = "`" + cell(tfDefault(v.Default)) + "`"
			}
			fmt.Fprintf(&b, "| `%s` | %s | `%s` | %s | %s |\n", n, cell(v.Description), cell(strings.Join(strings.Fields(v.Type), " ")), def, map[bool]string{true: "yes", false: "no"}[v.Required])
		}
		b.WriteString("\n## Outputs\n\n| name | description |\n|---|---|\n")
		names = names[:0]
		for n := range m.Outputs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(&b, "| `%s` | %s |\n", n, cell(m.Outputs[n].Description))
		}
		b.WriteString(end)
		path := filepath.Join(dir, "README.md")
		src, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v (each module has a README)", path, err)
			continue
		}
		i, j := strings.Index(string(src), begin), strings.Index(string(src), end)
		if i < 0 || j < i {
			t.Errorf("%s: no generated section (%s ... %s)", path, begin, end)
			continue
		}
		got := string(src[i : j+len(end)])
		if got == b.String() {
			continue
		}
		if os.Getenv("KEYCYCLE_UPDATE") == "1" {
			if err := os.WriteFile(path, []byte(string(src[:i])+b.String()+string(src[j+len(end):])), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Errorf("%s: the inputs and outputs tables differ from the module: run KEYCYCLE_UPDATE=1 go test -run TestTerraformReadmesAreInSync ./deploy/\n%s", path, firstDiff(got, b.String()))
	}
}

func tfDefault(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("%q", x)
	case []any:
		parts := make([]string, len(x))
		for i, p := range x {
			parts[i] = tfDefault(p)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		if len(x) == 0 {
			return "{}"
		}
	}
	return fmt.Sprint(v)
}
