package deploy_test

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/lambdafn"
)

// cfnParamProblems checks parameter values (defaults filled in) against their declared
// constraints as CloudFormation does before it creates anything: AllowedValues, AllowedPattern
// (the whole value), MinLength/MaxLength, MinValue/MaxValue.
func cfnParamProblems(t *testing.T, raw map[string]any, values map[string]string) []string {
	t.Helper()
	var out []string
	params := raw["Parameters"].(map[string]any)
	names := make([]string, 0, len(params))
	for n := range params {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		p := params[name].(map[string]any)
		v, ok := values[name]
		if !ok {
			if d, has := p["Default"]; has {
				v = fmt.Sprint(d)
			} else {
				out = append(out, name+": no value")
				continue
			}
		}
		if av, ok := p["AllowedValues"].([]any); ok {
			found := false
			for _, a := range av {
				found = found || fmt.Sprint(a) == v
			}
			if !found {
				out = append(out, name+": not an allowed value")
			}
		}
		if pat, ok := p["AllowedPattern"].(string); ok && !regexp.MustCompile(`^(?:`+pat+`)$`).MatchString(v) {
			out = append(out, name+": does not match AllowedPattern")
		}
		for k, cmp := range map[string]func(n, lim float64) bool{
			"MinLength": func(n, l float64) bool { return n >= l }, "MaxLength": func(n, l float64) bool { return n <= l },
		} {
			if lim, ok := p[k]; ok {
				l, _ := strconv.ParseFloat(fmt.Sprint(lim), 64)
				if !cmp(float64(len(v)), l) {
					out = append(out, name+": "+k)
				}
			}
		}
		if p["Type"] == "Number" {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				out = append(out, name+": not a number")
				continue
			}
			if lim, ok := p["MinValue"]; ok {
				if l, _ := strconv.ParseFloat(fmt.Sprint(lim), 64); n < l {
					out = append(out, name+": MinValue")
				}
			}
			if lim, ok := p["MaxValue"]; ok {
				if l, _ := strconv.ParseFloat(fmt.Sprint(lim), 64); n > l {
					out = append(out, name+": MaxValue")
				}
			}
		}
	}
	return out
}

// cfnRuleFailures evaluates the template's Rules (the rule functions the templates use) and
// returns the rules whose assertions fail.
func cfnRuleFailures(t *testing.T, raw map[string]any, r *cfnResolver) []string {
	t.Helper()
	var eval func(v any) bool
	val := func(v any) string { return fmt.Sprint(r.resolve(v)) }
	eval = func(v any) bool {
		m := v.(map[string]any)
		for k, arg := range m {
			l, _ := arg.([]any)
			switch k {
			case "Fn::Equals":
				return val(l[0]) == val(l[1])
			case "Fn::Not":
				return !eval(l[0])
			case "Fn::And":
				for _, x := range l {
					if !eval(x) {
						return false
					}
				}
				return true
			case "Fn::Or":
				for _, x := range l {
					if eval(x) {
						return true
					}
				}
				return false
			}
			t.Fatalf("rule function %s is not modelled by this test", k)
		}
		t.Fatalf("not a rule condition: %v", v)
		return false
	}
	rules, _ := raw["Rules"].(map[string]any)
	var failed []string
	for name, rv := range rules {
		rule := rv.(map[string]any)
		if c, ok := rule["RuleCondition"]; ok && !eval(c) {
			continue
		}
		for _, a := range rule["Assertions"].([]any) {
			as := a.(map[string]any)
			if as["AssertDescription"] == nil {
				t.Errorf("rule %s: an assertion without AssertDescription", name)
			}
			if !eval(as["Assert"]) {
				failed = append(failed, name)
			}
		}
	}
	sort.Strings(failed)
	return failed
}

// TestCloudFormationParametersAreConstrained: every parameter says what it is and is bounded:
// a description, a pattern or a list of values for strings, bounds for numbers, a message for
// what CloudFormation refuses; and every default satisfies its own constraints.
func TestCloudFormationParametersAreConstrained(t *testing.T) {
	for _, file := range cfnTemplates {
		_, raw := loadTemplate(t, file)
		for name, pv := range raw["Parameters"].(map[string]any) {
			p := pv.(map[string]any)
			if d, _ := p["Description"].(string); len(d) < 10 {
				t.Errorf("%s: parameter %s has no description", file, name)
			}
			_, values := p["AllowedValues"]
			_, pattern := p["AllowedPattern"]
			_, minLen := p["MinLength"]
			switch p["Type"] {
			case "String":
				if !values && !pattern && !minLen {
					t.Errorf("%s: string parameter %s has neither AllowedValues nor AllowedPattern", file, name)
				}
				if pattern && p["ConstraintDescription"] == nil {
					t.Errorf("%s: parameter %s has a pattern but no ConstraintDescription", file, name)
				}
			case "Number":
				_, lo := p["MinValue"]
				_, hi := p["MaxValue"]
				if !values && (!lo || !hi) {
					t.Errorf("%s: number parameter %s lacks MinValue or MaxValue", file, name)
				}
			}
		}
		required := map[string]string{"CodeS3Bucket": "artifacts", "HubRoleArn": "arn:aws:iam::210987654321:role/keycycle-hub"}
		if probs := cfnParamProblems(t, raw, required); len(probs) != 0 {
			t.Errorf("%s: the defaults fail their own constraints: %v", file, probs)
		}
	}
}

// TestCloudFormationRulesRefuseWhatFailsAtRunTime: parameter sets that would deploy and then
// fail (or silently do something else) are refused by a parameter constraint or a rule, before
// anything is created; the accepted ones give the function a valid configuration.
func TestCloudFormationRulesRefuseWhatFailsAtRunTime(t *testing.T) {
	tpl, raw := loadTemplate(t, cfnTemplates[0])
	for _, tc := range []struct {
		name   string
		params map[string]string
		want   string // "" accepted; "param: X ..." or a rule name
	}{
		{name: "defaults", params: map[string]string{}},
		{name: "inactive equals rotation", params: map[string]string{"InactivePeriod": "90"}, want: "InactivePeriodAfterRotation"},
		{name: "accounts and OUs", params: map[string]string{"Accounts": "111111111111", "OrganizationalUnits": "ou-ab12-34cd56ef"}, want: "AccountsOrOrganizationalUnits"},
		{name: "exclude from a list", params: map[string]string{"Accounts": "111111111111", "ExcludeAccounts": "222222222222"}, want: "ExcludeOnlyFromDiscovery"},
		{name: "topic without organization", params: map[string]string{"CreateSNSTopic": "true"}, want: "OrganizationForCrossAccountResources"},
		{name: "key without organization, OUs", params: map[string]string{"CreateKMSKey": "true", "OrganizationalUnits": "ou-ab12-34cd56ef"}, want: "OrganizationForCrossAccountResources"},
		{name: "topic with organization", params: map[string]string{"CreateSNSTopic": "true", "AWSOrgID": "o-abc123def4"}},
		{name: "topic for listed accounts", params: map[string]string{"CreateSNSTopic": "true", "Accounts": "111111111111,222222222222"}},
		{name: "exclude globs from the organization", params: map[string]string{"ExcludeAccounts": "1111*,22222222222?"}},
		{name: "account id too short", params: map[string]string{"Accounts": "1234"}, want: "param: Accounts"},
		{name: "spaces in the list", params: map[string]string{"Accounts": "111111111111, 222222222222"}, want: "param: Accounts"},
		{name: "bad OU", params: map[string]string{"OrganizationalUnits": "r-abcd"}, want: "param: OrganizationalUnits"},
		{name: "bad schedule", params: map[string]string{"ScheduleExpression": "every day"}, want: "param: ScheduleExpression"},
		{name: "cron schedule", params: map[string]string{"ScheduleExpression": "cron(0 6 * * ? *)"}},
		{name: "rotation 0", params: map[string]string{"RotationPeriod": "0"}, want: "param: RotationPeriod"},
		{name: "rotation beyond ten years", params: map[string]string{"RotationPeriod": "4000", "InactivePeriod": "4001"}, want: "param: RotationPeriod"},
		{name: "sender not an address", params: map[string]string{"SenderEmailAddress": "keycycle"}, want: "param: SenderEmailAddress"},
		{name: "bad group name", params: map[string]string{"IAMExemptionGroup": "no spaces please"}, want: "param: IAMExemptionGroup"},
		{name: "github without token", params: map[string]string{"GitHubRepository": "acme/api"}, want: "GitHubNeedsToken"},
		{name: "github environment alone", params: map[string]string{"GitHubEnvironment": "prod"}, want: "GitHubNeedsToken"},
		{name: "github", params: map[string]string{"GitHubRepository": "acme/{{user}}", "GitHubEnvironment": "prod", "GitHubTokenSecret": "keycycle/github-token"}},
		{name: "bad bucket", params: map[string]string{"CodeS3Bucket": "My_Bucket"}, want: "param: CodeS3Bucket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			params := map[string]string{"CodeS3Bucket": "artifacts"}
			for k, v := range tc.params {
				params[k] = v
			}
			var got string
			if probs := cfnParamProblems(t, raw, params); len(probs) > 0 {
				got = "param: " + strings.Join(probs, "; ")
			} else if failed := cfnRuleFailures(t, raw, newResolver(t, tpl, raw, params)); len(failed) > 0 {
				got = strings.Join(failed, ",")
			}
			if tc.want == "" && got != "" || tc.want != "" && !(strings.HasPrefix(got, "param: ") == strings.HasPrefix(tc.want, "param: ") && strings.Contains(got, strings.TrimPrefix(tc.want, "param: "))) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			if got != "" {
				return
			}
			r := newResolver(t, tpl, raw, params)
			env := r.resolve(tpl.Resources["Function"].Properties).(map[string]any)["Environment"].(map[string]any)["Variables"].(map[string]any)
			if _, err := config.Parse(lambdafn.EnvConfigYAML, []byte(env[lambdafn.EnvConfigYAML].(string))); err != nil {
				t.Fatalf("accepted by CloudFormation, refused by the function: %v", err)
			}
		})
	}
}

// TestCloudFormationInactiveBelowRotationFailsAtStart documents what Rules cannot refuse
// (they have no numeric comparison): an InactivePeriod below RotationPeriod passes CloudFormation,
// and the function refuses the configuration, naming the field.
func TestCloudFormationInactiveBelowRotationFailsAtStart(t *testing.T) {
	tpl, raw := loadTemplate(t, cfnTemplates[0])
	params := map[string]string{"CodeS3Bucket": "artifacts", "RotationPeriod": "90", "InactivePeriod": "80"}
	r := newResolver(t, tpl, raw, params)
	if probs, failed := cfnParamProblems(t, raw, params), cfnRuleFailures(t, raw, r); len(probs)+len(failed) != 0 {
		t.Fatalf("now refused by CloudFormation (%v %v): turn this test into a case of the rules test", probs, failed)
	}
	env := r.resolve(tpl.Resources["Function"].Properties).(map[string]any)["Environment"].(map[string]any)["Variables"].(map[string]any)
	_, err := config.Parse(lambdafn.EnvConfigYAML, []byte(env[lambdafn.EnvConfigYAML].(string)))
	if err == nil || !strings.Contains(err.Error(), "hard_limit") {
		t.Fatalf("the function must refuse hard_limit below rotate_after, naming it: %v", err)
	}
}
