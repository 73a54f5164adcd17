// Package deploy_test checks the deployment templates without deploying them: the Terraform
// module is parsed, its interface loaded, formatted canonically, every reference resolved, and
// its IAM policies evaluated and compared with `keycycle policy`; the CloudFormation templates
// likewise (cloudformation_test.go).
package deploy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/hashicorp/terraform-config-inspect/tfconfig"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	ctyjson "github.com/zclconf/go-cty/cty/json"
	"go.yaml.in/yaml/v3"

	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/iampolicy"
	"github.com/keycycle/keycycle/internal/lambdafn"
)

const tfRoot = "terraform"

// tfModules are the module directories: the root module, the member-role submodule, the examples.
func tfModules(t *testing.T) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(tfRoot, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".terraform" {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			return nil
		}
		if m, _ := filepath.Glob(filepath.Join(p, "*.tf")); len(m) > 0 {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 4 {
		t.Fatalf("found only these modules: %v", dirs)
	}
	return dirs
}

func TestTerraformIsCanonicallyFormatted(t *testing.T) {
	for _, dir := range tfModules(t) {
		files, _ := filepath.Glob(filepath.Join(dir, "*.tf"))
		for _, f := range files {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if got := hclwrite.Format(src); !bytes.Equal(got, src) {
				t.Errorf("%s is not formatted as `terraform fmt` would:\n%s", f, firstDiff(string(src), string(got)))
			}
		}
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d:\n  have %q\n  want %q", i+1, al[i], bl[i])
		}
	}
	return "lengths differ"
}

// TestTerraformModuleInterfaces loads every module as Terraform would (terraform-config-inspect):
// no diagnostics, documented and typed variables and outputs, the providers declared, and every
// module call naming an existing module with the variables it requires and no others.
func TestTerraformModuleInterfaces(t *testing.T) {
	mods := map[string]*tfconfig.Module{}
	for _, dir := range tfModules(t) {
		m, diags := tfconfig.LoadModule(dir)
		if diags.HasErrors() {
			t.Fatalf("%s: %v", dir, diags)
		}
		mods[filepath.Clean(dir)] = m
	}
	root := mods[tfRoot]
	for _, want := range []string{"name", "config_file", "dry_run", "scan_alarm_clock", "aws_cli_time_limit", "aws_login_profile_time_limit",
		"aws_login_profile_password_reset_required", "cloudwatch_log_retention", "aws_ses_email_from", "aws_account_name", "tags", "function_timeout"} {
		if root.Variables[want] == nil {
			t.Errorf("root module: no variable %s (named like the Terraform + SQS module's)", want)
		}
	}
	if root.RequiredProviders["aws"] == nil || root.RequiredProviders["archive"] == nil {
		t.Errorf("root module providers: %+v", root.RequiredProviders)
	}
	for _, r := range []string{"aws_lambda_function.keycycle", "aws_cloudwatch_log_group.keycycle", "aws_scheduler_schedule.scan",
		"aws_sqs_queue.work", "aws_sqs_queue.dead_letter", "aws_lambda_event_source_mapping.work", "aws_sns_topic.events",
		"aws_kms_key.keycycle", "aws_iam_role.hub", "aws_lambda_layer_version.config",
		"aws_sqs_queue.accounts", "aws_sqs_queue.accounts_dead_letter", "aws_lambda_function.planner", "aws_cloudwatch_log_group.planner",
		"aws_lambda_event_source_mapping.planner", "aws_cloudwatch_metric_alarm.dead_letters", "aws_cloudwatch_metric_alarm.functions"} {
		if root.ManagedResources[r] == nil {
			t.Errorf("root module: no resource %s", r)
		}
	}
	for dir, m := range mods {
		example := strings.Contains(dir, "examples")
		for name, v := range m.Variables {
			if v.Description == "" || v.Type == "" {
				t.Errorf("%s: variable %s needs a type and a description", dir, name)
			}
		}
		for name, o := range m.Outputs {
			if o.Description == "" && !example {
				t.Errorf("%s: output %s needs a description", dir, name)
			}
		}
		for name, call := range m.ModuleCalls {
			target := mods[filepath.Clean(filepath.Join(dir, call.Source))]
			if target == nil {
				t.Errorf("%s: module %s: source %s is not a module of this repository", dir, name, call.Source)
				continue
			}
			args := moduleArguments(t, dir, name)
			for v, tv := range target.Variables {
				if tv.Required && !args[v] {
					t.Errorf("%s: module %s does not set required variable %s", dir, name, v)
				}
			}
			for a := range args {
				if target.Variables[a] == nil && a != "source" && a != "providers" {
					t.Errorf("%s: module %s sets %s, which %s does not declare", dir, name, a, call.Source)
				}
			}
		}
	}
}

// moduleArguments lists the arguments of a module block.
func moduleArguments(t *testing.T, dir, name string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, f := range parseDir(t, dir) {
		for _, b := range f.Blocks {
			if b.Type == "module" && b.Labels[0] == name {
				for a := range b.Body.Attributes {
					out[a] = true
				}
			}
		}
	}
	return out
}

func parseDir(t *testing.T, dir string) []*hclsyntax.Body {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.tf"))
	sort.Strings(files)
	p := hclparse.NewParser()
	var out []*hclsyntax.Body
	for _, f := range files {
		file, diags := p.ParseHCLFile(f)
		if diags.HasErrors() {
			t.Fatalf("%s: %v", f, diags)
		}
		out = append(out, file.Body.(*hclsyntax.Body))
	}
	return out
}

// TestTerraformReferencesResolve: every var., local., module., data. and resource reference of
// every module names something the module declares (what `terraform validate` checks first).
func TestTerraformReferencesResolve(t *testing.T) {
	for _, dir := range tfModules(t) {
		bodies := parseDir(t, dir)
		declared := map[string]bool{}
		for _, b := range bodies {
			for _, blk := range b.Blocks {
				switch blk.Type {
				case "variable":
					declared["var."+blk.Labels[0]] = true
				case "module":
					declared["module."+blk.Labels[0]] = true
				case "data":
					declared["data."+blk.Labels[0]+"."+blk.Labels[1]] = true
				case "resource":
					declared[blk.Labels[0]+"."+blk.Labels[1]] = true
				case "locals":
					for name := range blk.Body.Attributes {
						declared["local."+name] = true
					}
				}
			}
		}
		var walk func(b *hclsyntax.Body)
		walk = func(b *hclsyntax.Body) {
			for _, a := range b.Attributes {
				for _, tr := range a.Expr.Variables() {
					if ref := reference(tr); ref != "" && !declared[ref] {
						t.Errorf("%s: %s refers to %s, which the module does not declare", dir, tr.SourceRange(), ref)
					}
				}
			}
			for _, blk := range b.Blocks {
				walk(blk.Body)
			}
		}
		for _, b := range bodies {
			walk(b)
		}
	}
}

// reference names what a traversal refers to: "var.x", "data.t.n", "aws_x.n"; "" for the
// built-in roots (path, count, each, terraform, self) and for-expression symbols.
func reference(tr hcl.Traversal) string {
	root := tr.RootName()
	names := []string{root}
	for _, step := range tr[1:] {
		if a, ok := step.(hcl.TraverseAttr); ok {
			names = append(names, a.Name)
		} else {
			break
		}
	}
	switch {
	case root == "path" || root == "count" || root == "each" || root == "terraform" || root == "self":
		return ""
	case root == "var" || root == "local" || root == "module":
		if len(names) < 2 {
			return root
		}
		return root + "." + names[1]
	case root == "data":
		if len(names) < 3 {
			return root
		}
		return strings.Join(names[:3], ".")
	case strings.Contains(root, "_"):
		if len(names) < 2 {
			return root
		}
		return names[0] + "." + names[1]
	}
	return "" // a for-expression's symbol (p, r, k, ...)
}

// tfCase is one set of root-module inputs.
type tfCase struct {
	name   string
	inputs map[string]cty.Value
	// discovery is what the inputs make the function do (KEYCYCLE_ACCOUNTS, KEYCYCLE_OUS).
	discovery iampolicy.Discovery
	// report and prefix are the report bucket and prefix the inputs deploy ("": none, default prefix).
	report, prefix string
}

const (
	tfRegion  = "eu-west-1"
	tfAccount = "123456789012"
)

// TestTerraformPoliciesMatchKeycyclePolicy evaluates the root module's locals for several sets of
// inputs, as Terraform would at plan time (provider data and resource attributes given sample
// values), parses the configuration it hands the function, and requires the hub and member
// policies it attaches to be exactly what `keycycle policy` makes of that configuration.
func TestTerraformPoliciesMatchKeycyclePolicy(t *testing.T) {
	single := filepath.Join(tfRoot, "examples", "single-account", "keycycle.yaml")
	org := filepath.Join(tfRoot, "examples", "organization", "keycycle.yaml")
	for _, tc := range []tfCase{
		{name: "defaults", discovery: iampolicy.DiscoverOrganization, inputs: map[string]cty.Value{}},
		{name: "single account, mail, topic, config file", discovery: iampolicy.DiscoverNone, inputs: map[string]cty.Value{
			"accounts": cty.ListVal([]cty.Value{cty.StringVal(tfAccount)}), "config_file": cty.StringVal(single),
			"aws_cli_time_limit": cty.NumberIntVal(90), "aws_ses_email_from": cty.StringVal("keycycle@example.com"),
			"aws_account_name": cty.StringVal("production"), "create_sns_topic": cty.True,
		}},
		{name: "organization: OUs, KMS key, SSM, handler, paths, no console removal", discovery: iampolicy.DiscoverOUs, inputs: map[string]cty.Value{
			"organizational_units": cty.ListVal([]cty.Value{cty.StringVal("ou-ab12-34cd56ef")}), "config_file": cty.StringVal(org),
			"create_kms_key": cty.True, "ssm_parameter_template": cty.StringVal("/rotated/{{account}}/{{user}}"),
			"handler_function": cty.StringVal("on-new-key"), "include_paths": cty.ListVal([]cty.Value{cty.StringVal("/service/"), cty.StringVal("/apps/")}),
			"secret_name_template":          cty.StringVal("Account_{{account}}_User_{{user}}_AccessKey"),
			"password_secret_name_template": cty.StringVal("Account_{{account}}_User_{{user}}_ConsolePassword"),
			"console_unused_after_days":     cty.NumberIntVal(0), "member_role_name": cty.StringVal("KeycycleWorker"),
			"name": cty.StringVal("rotator"), "fallback_email": cty.StringVal("sec@example.com"),
			"sns_topic_arn": cty.StringVal("arn:aws:sns:eu-west-1:123456789012:existing"), "organization_id": cty.StringVal("o-abc123def4"),
		}},
		{name: "github secrets", discovery: iampolicy.DiscoverOrganization, inputs: map[string]cty.Value{
			"github_secrets": cty.TupleVal([]cty.Value{
				tfGitHub(map[string]string{"repository": "acme/{{user}}", "environment": "prod", "token_secret": "keycycle/github-token"}),
				tfGitHub(map[string]string{"organization": "acme", "visibility": "all", "token_secret": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gh-app-AbCdEf",
					"access_key_id_name": "CI_{{user}}_KEY_ID", "secret_access_key_name": "CI_{{user}}_SECRET"}),
			}),
		}},
		{name: "report bucket", discovery: iampolicy.DiscoverOrganization, report: "keycycle-reports-" + tfAccount + "-" + tfRegion, inputs: map[string]cty.Value{
			"create_report_bucket": cty.True,
		}},
		{name: "report bucket of a name with capitals", discovery: iampolicy.DiscoverOrganization, report: "key-cycle-reports-" + tfAccount + "-" + tfRegion, inputs: map[string]cty.Value{
			"create_report_bucket": cty.True, "name": cty.StringVal("Key_Cycle"),
		}},
		{name: "named report bucket and prefix", discovery: iampolicy.DiscoverOrganization, report: "acme-keycycle", prefix: "reports/", inputs: map[string]cty.Value{
			"create_report_bucket": cty.True, "report_bucket_name": cty.StringVal("acme-keycycle"), "report_prefix": cty.StringVal("reports/"),
		}},
		{name: "no password rotation, existing key", discovery: iampolicy.DiscoverOrganization, inputs: map[string]cty.Value{
			"aws_login_profile_time_limit": cty.NumberIntVal(0),
			"kms_key_arn":                  cty.StringVal("arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			locals := evalModule(t, tfRoot, tc.inputs)
			if p := locals["user_config_problems"]; p.LengthInt() != 0 {
				t.Fatalf("the module refuses its own example: %#v", p)
			}
			cfg, err := config.Parse("local.config_yaml", []byte(locals["config_yaml"].AsString()))
			if err != nil {
				t.Fatalf("the configuration the module writes does not validate: %v\n%s", err, locals["config_yaml"].AsString())
			}
			member, hub := tfDocument(t, locals["member_policy_json"]), tfDocument(t, locals["hub_policy_json"])
			name, role := "keycycle", "KeycycleMember"
			if v, ok := tc.inputs["name"]; ok {
				name = v.AsString()
			}
			if v, ok := tc.inputs["member_role_name"]; ok {
				role = v.AsString()
			}
			wantMember, err := iampolicy.Policy(cfg, iampolicy.Member, iampolicy.Options{Region: tfRegion})
			if err != nil {
				t.Fatal(err)
			}
			wantHub, err := iampolicy.Policy(cfg, iampolicy.Hub, iampolicy.Options{Region: tfRegion, Account: tfAccount,
				Name: name, MemberRole: role, Discovery: tc.discovery, ReportBucket: tc.report, ReportPrefix: tc.prefix})
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(wantMember.Normalize(), member.Normalize()); d != "" {
				t.Errorf("member policy (-keycycle policy +terraform):\n%s", d)
			}
			if d := cmp.Diff(wantHub.Normalize(), hub.Normalize()); d != "" {
				t.Errorf("hub policy (-keycycle policy +terraform):\n%s", d)
			}
			// The function's environment: the variables lambdafn reads, and the role it assumes.
			known := map[string]bool{lambdafn.EnvConfig: true, lambdafn.EnvQueueURL: true, lambdafn.EnvAccountQueueURL: true, lambdafn.EnvRole: true, lambdafn.EnvExternalID: true,
				lambdafn.EnvAccounts: true, lambdafn.EnvOUs: true, lambdafn.EnvExclude: true, lambdafn.EnvDryRun: true,
				lambdafn.EnvConcurrency: true, lambdafn.EnvMarginSecond: true, lambdafn.EnvReportBucket: true, lambdafn.EnvReportPrefix: true}
			env := locals["environment"].AsValueMap()
			for k := range env {
				if !known[k] {
					t.Errorf("environment variable %s is not one the function reads", k)
				}
			}
			if env[lambdafn.EnvRole].AsString() != role || env[lambdafn.EnvDryRun].AsString() != "true" {
				t.Errorf("environment %#v", env)
			}
			if got, ok := env[lambdafn.EnvReportBucket]; ok != (tc.report != "") || ok && got.AsString() != tc.report {
				t.Errorf("%s = %#v, want %q", lambdafn.EnvReportBucket, got, tc.report)
			}
		})
	}
}

// tfGitHub is one github_secrets entry as Terraform passes it: every attribute, null when unset.
func tfGitHub(set map[string]string) cty.Value {
	attrs := map[string]cty.Value{"required": cty.True}
	for _, k := range []string{"repository", "environment", "organization", "visibility", "access_key_id_name", "secret_access_key_name", "token_secret", "api_url"} {
		attrs[k] = cty.NullVal(cty.String)
		if v, ok := set[k]; ok {
			attrs[k] = cty.StringVal(v)
		}
	}
	return cty.ObjectVal(attrs)
}

// TestTerraformRefusesManagedSectionsInConfigFile: sections that decide the policies come from
// the module's inputs; a config_file setting them is refused with what to do instead.
func TestTerraformRefusesManagedSectionsInConfigFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "keycycle.yaml")
	src := "delivery: [{type: ssm}]\nthresholds: {password_rotate_after: 30d}\nselection: {include: [{paths: [/x/]}]}\n" +
		"rules: [{name: r, match: {paths: [/s/]}, delivery: [{type: secretsmanager}]}]\n"
	if err := os.WriteFile(f, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	locals := evalModule(t, tfRoot, map[string]cty.Value{"config_file": cty.StringVal(f)})
	var got []string
	for _, p := range locals["user_config_problems"].AsValueSlice() {
		got = append(got, p.AsString())
	}
	want := []string{"delivery: set by the module's inputs", "thresholds.password_rotate_after: set by the module's inputs",
		"selection.include: set by include_paths", "rules[0].delivery: set by the module's inputs"}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("problems (-want +got):\n%s", d)
	}
}

func tfDocument(t *testing.T, v cty.Value) iampolicy.Document {
	t.Helper()
	d, err := iampolicy.Parse([]byte(v.AsString()))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// evalModule evaluates a module's locals with the given inputs (the rest take their defaults),
// the data sources and the resource attributes the locals read given sample values.
func evalModule(t *testing.T, dir string, inputs map[string]cty.Value) map[string]cty.Value {
	t.Helper()
	return evalModuleAt(t, dir, dir, dir, inputs)
}

// evalModuleAt evaluates the module in dir as if it were installed at modulePath and called
// from the root module at rootPath (path.module, path.root).
func evalModuleAt(t *testing.T, dir, modulePath, rootPath string, inputs map[string]cty.Value) map[string]cty.Value {
	t.Helper()
	bodies := parseDir(t, dir)
	vars := map[string]cty.Value{}
	pending := map[string]hcl.Expression{}
	type res struct {
		typ, name string
		body      *hclsyntax.Body
	}
	var resources []res
	for _, b := range bodies {
		for _, blk := range b.Blocks {
			switch blk.Type {
			case "variable":
				v := cty.NullVal(cty.DynamicPseudoType)
				if d, ok := blk.Body.Attributes["default"]; ok {
					var diags hcl.Diagnostics
					if v, diags = d.Expr.Value(nil); diags.HasErrors() {
						t.Fatalf("default of %s: %v", blk.Labels[0], diags)
					}
				}
				vars[blk.Labels[0]] = v
			case "locals":
				for name, a := range blk.Body.Attributes {
					pending[name] = a.Expr
				}
			case "resource":
				resources = append(resources, res{blk.Labels[0], blk.Labels[1], blk.Body})
			}
		}
	}
	for k, v := range inputs {
		if _, ok := vars[k]; !ok {
			t.Fatalf("input %s is not a variable of %s", k, dir)
		}
		vars[k] = v
	}
	abs, _ := filepath.Abs(dir)
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{
			"var":  cty.ObjectVal(vars),
			"path": cty.ObjectVal(map[string]cty.Value{"module": cty.StringVal(modulePath), "root": cty.StringVal(rootPath), "cwd": cty.StringVal(abs)}),
			"data": cty.ObjectVal(map[string]cty.Value{
				"aws_partition":       cty.ObjectVal(map[string]cty.Value{"current": cty.ObjectVal(map[string]cty.Value{"partition": cty.StringVal("aws")})}),
				"aws_region":          cty.ObjectVal(map[string]cty.Value{"current": cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal(tfRegion)})}),
				"aws_caller_identity": cty.ObjectVal(map[string]cty.Value{"current": cty.ObjectVal(map[string]cty.Value{"account_id": cty.StringVal(tfAccount)})}),
			}),
		},
		Functions: tfFunctions(),
	}
	// Resource attributes as the provider reports them after apply: ARNs built from the
	// resource's evaluated name, in the sample region and account.
	byType := map[string]map[string]cty.Value{}
	for _, r := range resources {
		n := cty.NumberIntVal(1)
		if c, ok := r.body.Attributes["count"]; ok {
			var diags hcl.Diagnostics
			if n, diags = c.Expr.Value(ctx); diags.HasErrors() {
				t.Fatalf("count of %s.%s: %v", r.typ, r.name, diags)
			}
		}
		name := r.name
		if a, ok := r.body.Attributes["name"]; ok {
			if v, diags := a.Expr.Value(ctx); !diags.HasErrors() && v.Type() == cty.String {
				name = v.AsString()
			}
		}
		obj := cty.ObjectVal(map[string]cty.Value{"arn": cty.StringVal(mockARN(r.typ, name)), "name": cty.StringVal(name), "id": cty.StringVal(name),
			"url": cty.StringVal("https://sqs." + tfRegion + ".amazonaws.com/" + tfAccount + "/" + name)})
		if byType[r.typ] == nil {
			byType[r.typ] = map[string]cty.Value{}
		}
		if _, counted := r.body.Attributes["count"]; counted {
			k, _ := n.AsBigFloat().Int64()
			list := []cty.Value{}
			for range k {
				list = append(list, obj)
			}
			byType[r.typ][r.name] = cty.TupleVal(list)
		} else {
			byType[r.typ][r.name] = obj
		}
	}
	for typ, m := range byType {
		ctx.Variables[typ] = cty.ObjectVal(m)
	}
	locals := map[string]cty.Value{}
	for len(pending) > 0 {
		progress := false
		for name, expr := range pending {
			ready := true
			for _, tr := range expr.Variables() {
				if tr.RootName() == "local" {
					if _, ok := locals[tr[1].(hcl.TraverseAttr).Name]; !ok {
						ready = false
					}
				}
			}
			if !ready {
				continue
			}
			ctx.Variables["local"] = cty.ObjectVal(locals)
			v, diags := expr.Value(ctx)
			if diags.HasErrors() {
				t.Fatalf("local.%s: %v", name, diags)
			}
			locals[name] = v
			delete(pending, name)
			progress = true
		}
		if !progress {
			t.Fatalf("locals that refer to each other in a cycle: %v", keysOf(pending))
		}
	}
	return locals
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func mockARN(typ, name string) string {
	switch typ {
	case "aws_sqs_queue":
		return "arn:aws:sqs:" + tfRegion + ":" + tfAccount + ":" + name
	case "aws_cloudwatch_log_group":
		return "arn:aws:logs:" + tfRegion + ":" + tfAccount + ":log-group:" + name
	case "aws_kms_key":
		return "arn:aws:kms:" + tfRegion + ":" + tfAccount + ":key/0b3c1e1a-2d4f-4a6b-9c8d-7e6f5a4b3c2d"
	case "aws_sns_topic":
		return "arn:aws:sns:" + tfRegion + ":" + tfAccount + ":" + name
	case "aws_iam_role":
		return "arn:aws:iam::" + tfAccount + ":role/" + name
	case "aws_lambda_function":
		return "arn:aws:lambda:" + tfRegion + ":" + tfAccount + ":function:" + name
	}
	return "arn:aws:" + strings.TrimPrefix(typ, "aws_") + ":" + tfRegion + ":" + tfAccount + ":" + name
}

// tfFunctions are the Terraform functions the module's locals use, from go-cty's standard
// library where it has Terraform's semantics, and written here where it has not.
func tfFunctions() map[string]function.Function {
	str := func(name string, fn func(a, b string) bool) function.Function {
		return function.New(&function.Spec{
			Params: []function.Parameter{{Name: "s", Type: cty.String}, {Name: "affix", Type: cty.String}},
			Type:   function.StaticReturnType(cty.Bool),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				return cty.BoolVal(fn(args[0].AsString(), args[1].AsString())), nil
			},
		})
	}
	return map[string]function.Function{
		"coalesce":   stdlib.CoalesceFunc,
		"concat":     stdlib.ConcatFunc,
		"contains":   stdlib.ContainsFunc,
		"distinct":   stdlib.DistinctFunc,
		"flatten":    stdlib.FlattenFunc,
		"join":       stdlib.JoinFunc,
		"jsonencode": stdlib.JSONEncodeFunc,
		"keys":       stdlib.KeysFunc,
		"length":     stdlib.LengthFunc,
		"merge":      stdlib.MergeFunc,
		"split":      stdlib.SplitFunc,
		"trimprefix": stdlib.TrimPrefixFunc,
		"try":        tryfunc.TryFunc,
		"can":        tryfunc.CanFunc,
		"startswith": str("startswith", strings.HasPrefix),
		"endswith":   str("endswith", strings.HasSuffix),
		"tostring":   stdlib.MakeToFunc(cty.String),
		"replace":    tfReplace,
		"lower":      stdlib.LowerFunc,
		"file":       tfFile,
		"fileexists": tfFileExists,
		"regex":      stdlib.RegexFunc,
		"floor":      stdlib.FloorFunc,
		"alltrue":    tfAllTrue,
		"yamldecode": tfYAMLDecode,
		"yamlencode": tfYAMLEncode,
		"filebase64sha256": function.New(&function.Spec{ // only used outside locals
			Params: []function.Parameter{{Name: "path", Type: cty.String}}, Type: function.StaticReturnType(cty.String),
			Impl: func([]cty.Value, cty.Type) (cty.Value, error) { return cty.StringVal(""), nil },
		}),
	}
}

// tfReplace is Terraform's replace: a substring, or a regular expression written /like this/.
var tfReplace = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "str", Type: cty.String}, {Name: "substr", Type: cty.String}, {Name: "replace", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		s, sub, rep := args[0].AsString(), args[1].AsString(), args[2].AsString()
		if len(sub) > 1 && strings.HasPrefix(sub, "/") && strings.HasSuffix(sub, "/") {
			re, err := regexp.Compile(sub[1 : len(sub)-1])
			if err != nil {
				return cty.NilVal, err
			}
			return cty.StringVal(re.ReplaceAllString(s, rep)), nil
		}
		return cty.StringVal(strings.ReplaceAll(s, sub, rep)), nil
	},
})

var tfFileExists = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "path", Type: cty.String}},
	Type:   function.StaticReturnType(cty.Bool),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		st, err := os.Stat(args[0].AsString())
		return cty.BoolVal(err == nil && st.Mode().IsRegular()), nil
	},
})

var tfAllTrue = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "list", Type: cty.List(cty.Bool)}},
	Type:   function.StaticReturnType(cty.Bool),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		for _, v := range args[0].AsValueSlice() {
			if v.IsNull() || v.False() {
				return cty.False, nil
			}
		}
		return cty.True, nil
	},
})

var tfFile = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "path", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		data, err := os.ReadFile(args[0].AsString())
		return cty.StringVal(string(data)), err
	},
})

// tfYAMLDecode decodes YAML into the value its JSON form implies.
var tfYAMLDecode = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "src", Type: cty.String}},
	Type: func(args []cty.Value) (cty.Type, error) {
		if !args[0].IsKnown() {
			return cty.DynamicPseudoType, nil
		}
		b, err := yamlToJSON(args[0].AsString())
		if err != nil {
			return cty.NilType, err
		}
		return ctyjson.ImpliedType(b)
	},
	Impl: func(args []cty.Value, retType cty.Type) (cty.Value, error) {
		b, err := yamlToJSON(args[0].AsString())
		if err != nil {
			return cty.NilVal, err
		}
		return ctyjson.Unmarshal(b, retType)
	},
})

func yamlToJSON(src string) ([]byte, error) {
	var v any
	if err := yaml.Unmarshal([]byte(src), &v); err != nil {
		return nil, err
	}
	if v == nil {
		v = map[string]any{}
	}
	return json.Marshal(v)
}

// tfYAMLEncode writes the value as JSON, which is YAML (1.2) too: keycycle's parser reads it as
// it reads Terraform's own yamlencode output.
var tfYAMLEncode = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		b, err := ctyjson.Marshal(args[0], args[0].Type())
		return cty.StringVal(string(b)), err
	},
})

// TestTerraformAlarmsCoverEveryDeadLetterQueueAndFunction: every queue a redrive policy sends
// to is in the dead-letter alarms, every function in the errors and throttles alarms, and the
// alarms notify the events topic.
func TestTerraformAlarmsCoverEveryDeadLetterQueueAndFunction(t *testing.T) {
	refs := func(e hcl.Expression, typ string) map[string]bool {
		out := map[string]bool{}
		for _, tr := range e.Variables() {
			if tr.RootName() == typ && len(tr) > 1 {
				out[tr[1].(hcl.TraverseAttr).Name] = true
			}
		}
		return out
	}
	dlqs, functions := map[string]bool{}, map[string]bool{}
	alarmed := map[string]map[string]bool{}
	var actions []hcl.Expression
	for _, b := range parseDir(t, tfRoot) {
		for _, blk := range b.Blocks {
			if blk.Type != "resource" {
				continue
			}
			switch blk.Labels[0] {
			case "aws_sqs_queue":
				if rp, ok := blk.Body.Attributes["redrive_policy"]; ok {
					for q := range refs(rp.Expr, "aws_sqs_queue") {
						dlqs[q] = true
					}
				}
			case "aws_lambda_function":
				functions[blk.Labels[1]] = true
			case "aws_cloudwatch_metric_alarm":
				fe, ok := blk.Body.Attributes["for_each"]
				if !ok {
					continue
				}
				alarmed[blk.Labels[1]+"/sqs"] = refs(fe.Expr, "aws_sqs_queue")
				alarmed[blk.Labels[1]+"/lambda"] = refs(fe.Expr, "aws_lambda_function")
				actions = append(actions, blk.Body.Attributes["alarm_actions"].Expr)
			}
		}
	}
	for q := range dlqs {
		if !alarmed["dead_letters/sqs"][q] {
			t.Errorf("dead-letter queue aws_sqs_queue.%s has no depth alarm", q)
		}
	}
	for f := range functions {
		if !alarmed["functions/lambda"][f] {
			t.Errorf("aws_lambda_function.%s has no errors and throttles alarms", f)
		}
	}
	if len(dlqs) < 2 || len(functions) < 2 || len(actions) != 2 {
		t.Fatalf("dead-letter queues %v, functions %v, alarms %d", dlqs, functions, len(actions))
	}
	locals := evalModule(t, tfRoot, map[string]cty.Value{"create_sns_topic": cty.True})
	if a := locals["alarm_actions"]; a.LengthInt() != 1 || !strings.Contains(a.Index(cty.NumberIntVal(0)).AsString(), ":sns:") {
		t.Errorf("alarm actions %#v, want the events topic", a)
	}
	for _, e := range actions {
		if !refs(e, "local")["alarm_actions"] {
			t.Errorf("an alarm does not notify local.alarm_actions")
		}
	}
}
