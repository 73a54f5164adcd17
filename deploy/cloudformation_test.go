package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/iampolicy"
	"github.com/keycycle/keycycle/internal/lambdafn"
	"github.com/keycycle/keycycle/internal/policy"
)

var cfnTemplates = []string{"cloudformation/keycycle.yaml", "cloudformation/member-role.yaml"}

// cfnTemplate is a template with its intrinsic functions in their JSON form ({"Ref": x},
// {"Fn::Sub": ...}), whichever syntax (short !Tags or long) the file uses.
type cfnTemplate struct {
	Parameters map[string]struct {
		Type    string
		Default any
	}
	Mappings   map[string]map[string]map[string]any
	Conditions map[string]any
	Resources  map[string]struct {
		Type       string
		Condition  string
		DependsOn  any
		Properties map[string]any
	}
	Outputs map[string]struct {
		Condition string
		Value     any
	}
}

func loadTemplate(t *testing.T, path string) (*cfnTemplate, map[string]any) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(src, &n); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	raw, err := cfnDecode(&n)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	var tpl cfnTemplate
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&tpl); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &tpl, raw.(map[string]any)
}

// cfnDecode turns a YAML node into plain values, CloudFormation's short-form tags into their
// long form, and refuses duplicate keys (CloudFormation keeps the last one silently).
func cfnDecode(n *yaml.Node) (any, error) {
	var v any
	custom := strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!")
	switch n.Kind {
	case yaml.DocumentNode:
		return cfnDecode(n.Content[0])
	case yaml.AliasNode:
		return nil, fmt.Errorf("line %d: YAML aliases are not allowed in CloudFormation templates", n.Line)
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if _, dup := m[k]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", n.Content[i].Line, k)
			}
			val, err := cfnDecode(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k] = val
		}
		v = m
	case yaml.SequenceNode:
		l := []any{}
		for _, c := range n.Content {
			val, err := cfnDecode(c)
			if err != nil {
				return nil, err
			}
			l = append(l, val)
		}
		v = l
	case yaml.ScalarNode:
		if custom {
			v = n.Value
		} else if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %v", n.Line, err)
		}
	}
	if !custom {
		return v, nil
	}
	switch tag := n.Tag[1:]; tag {
	case "Ref":
		return map[string]any{"Ref": v}, nil
	case "Condition":
		return map[string]any{"Condition": v}, nil
	case "GetAtt":
		if s, ok := v.(string); ok {
			res, attr, found := strings.Cut(s, ".")
			if !found {
				return nil, fmt.Errorf("line %d: !GetAtt %q: want Resource.Attribute", n.Line, s)
			}
			v = []any{res, attr}
		}
		return map[string]any{"Fn::GetAtt": v}, nil
	case "Sub", "Join", "If", "Equals", "Not", "And", "Or", "Select", "Split", "FindInMap", "Base64", "GetAZs", "ImportValue", "Cidr", "Length", "ToJsonString":
		return map[string]any{"Fn::" + tag: v}, nil
	default:
		return nil, fmt.Errorf("line %d: unknown tag !%s", n.Line, tag)
	}
}

var pseudoParameters = map[string]bool{"AWS::AccountId": true, "AWS::NotificationARNs": true, "AWS::NoValue": true, "AWS::Partition": true,
	"AWS::Region": true, "AWS::StackId": true, "AWS::StackName": true, "AWS::URLSuffix": true}

var subRefRE = regexp.MustCompile(`\$\{([^!}][^}]*)\}`)

// TestCloudFormationReferencesResolve: every Ref, Fn::GetAtt, Fn::Sub variable, condition and
// mapping a template uses names something it declares (or a pseudo parameter).
func TestCloudFormationReferencesResolve(t *testing.T) {
	spec := loadSpec(t, false)
	for _, path := range cfnTemplates {
		tpl, raw := loadTemplate(t, path)
		problems := map[string]bool{}
		bad := func(f string, a ...any) { problems[fmt.Sprintf(f, a...)] = true }
		ref := func(name string, local map[string]any) {
			if _, ok := local[name]; ok {
				return
			}
			if _, ok := tpl.Parameters[name]; ok || pseudoParameters[name] {
				return
			}
			if _, ok := tpl.Resources[name]; !ok {
				bad("Ref %s: no such parameter or resource", name)
			}
		}
		getAtt := func(res, attr string) {
			r, ok := tpl.Resources[res]
			if !ok {
				bad("GetAtt %s.%s: no such resource", res, attr)
				return
			}
			if spec != nil {
				if _, ok := spec.ResourceTypes[r.Type].Attributes[attr]; !ok {
					bad("GetAtt %s.%s: %s has no attribute %s", res, attr, r.Type, attr)
				}
			}
		}
		cond := func(c any) {
			if s, ok := c.(string); ok {
				if _, ok := tpl.Conditions[s]; !ok {
					bad("condition %s is not declared", s)
				}
			}
		}
		var walk func(v any, local map[string]any)
		walk = func(v any, local map[string]any) {
			switch v := v.(type) {
			case []any:
				for _, x := range v {
					walk(x, local)
				}
			case map[string]any:
				if len(v) == 1 {
					for k, arg := range v {
						switch k {
						case "Ref":
							ref(fmt.Sprint(arg), local)
						case "Condition":
							cond(arg)
						case "Fn::GetAtt":
							if l, ok := arg.([]any); ok && len(l) == 2 {
								getAtt(fmt.Sprint(l[0]), fmt.Sprint(l[1]))
							}
						case "Fn::If":
							if l, ok := arg.([]any); ok && len(l) == 3 {
								cond(l[0])
							} else {
								bad("Fn::If takes [condition, then, else]")
							}
						case "Fn::FindInMap":
							if l, ok := arg.([]any); ok && len(l) == 3 {
								m, ok := tpl.Mappings[fmt.Sprint(l[0])]
								if !ok {
									bad("FindInMap: no mapping %v", l[0])
								}
								if second, ok := l[2].(string); ok {
									for top, kv := range m {
										if _, ok := kv[second]; !ok {
											bad("FindInMap %v: %s has no %s", l[0], top, second)
										}
									}
								}
							}
						case "Fn::Sub":
							s, vars := arg, map[string]any{}
							if l, ok := arg.([]any); ok && len(l) == 2 {
								s = l[0]
								if m, ok := l[1].(map[string]any); ok {
									vars = m
									walk(m, local)
								}
							}
							for _, m := range subRefRE.FindAllStringSubmatch(fmt.Sprint(s), -1) {
								if res, attr, ok := strings.Cut(m[1], "."); ok {
									getAtt(res, attr)
								} else {
									ref(m[1], vars)
								}
							}
							return
						}
					}
				}
				for _, x := range v {
					walk(x, local)
				}
			}
		}
		walk(raw["Conditions"], nil)
		walk(raw["Resources"], nil)
		walk(raw["Outputs"], nil)
		for name, r := range tpl.Resources {
			if r.Condition != "" {
				cond(r.Condition)
			}
			switch d := r.DependsOn.(type) {
			case string:
				if _, ok := tpl.Resources[d]; !ok {
					bad("%s DependsOn %s: no such resource", name, d)
				}
			}
		}
		for _, o := range tpl.Outputs {
			if o.Condition != "" {
				cond(o.Condition)
			}
		}
		for p := range problems {
			t.Errorf("%s: %s", path, p)
		}
	}
}

// cfnSpec is the CloudFormation resource specification (the npm package @aws-cdk/cfnspec).
type cfnSpec struct {
	PropertyTypes map[string]cfnSpecType
	ResourceTypes map[string]struct {
		Attributes map[string]any
		Properties map[string]cfnSpecProp
	}
}

type cfnSpecType struct {
	Properties map[string]cfnSpecProp
}

type cfnSpecProp struct {
	Required                              bool
	PrimitiveType, PrimitiveItemType      string
	Type, ItemType                        string
	PrimitiveTypes, PrimitiveItemTypes    []string
	Types, ItemTypes, InclusiveItemTypes  []string
	InclusivePrimitiveItemTypes, DupTypes []string
}

const cfnSpecInstall = "install with: npm install --prefix .ci/cfnspec @aws-cdk/cfnspec@2.72.1"

// loadSpec finds the specification that .ci/run installs (or $KEYCYCLE_CFNSPEC). required: skip
// the test when it is missing; otherwise return nil.
func loadSpec(t *testing.T, required bool) *cfnSpec {
	t.Helper()
	path := os.Getenv("KEYCYCLE_CFNSPEC")
	if path == "" {
		path = filepath.Join("..", ".ci", "cfnspec", "node_modules", "@aws-cdk", "cfnspec", "spec", "specification.json")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if required {
			t.Skipf("CloudFormation resource specification not found at %s: %s", path, cfnSpecInstall)
		}
		return nil
	}
	var s cfnSpec
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &s
}

// TestCloudFormationResourcesMatchTheSpecification checks every resource against the
// CloudFormation resource specification: known type, known properties, required ones present,
// and values of the right shape (scalars, lists, maps, nested property types), recursively.
func TestCloudFormationResourcesMatchTheSpecification(t *testing.T) {
	spec := loadSpec(t, true)
	for _, path := range cfnTemplates {
		tpl, _ := loadTemplate(t, path)
		names := keysOf(tpl.Resources)
		for _, name := range names {
			r := tpl.Resources[name]
			rt, ok := spec.ResourceTypes[r.Type]
			if !ok {
				t.Errorf("%s: %s: unknown resource type %s", path, name, r.Type)
				continue
			}
			for _, p := range checkProps(spec, r.Type, rt.Properties, r.Properties, name) {
				t.Errorf("%s: %s", path, p)
			}
		}
	}
}

func isIntrinsic(v any) bool {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return false
	}
	for k := range m {
		return k == "Ref" || strings.HasPrefix(k, "Fn::")
	}
	return false
}

// checkProps checks properties against a property set of the specification; typ is the
// resource type that qualifies nested property type names.
func checkProps(spec *cfnSpec, typ string, want map[string]cfnSpecProp, have map[string]any, at string) []string {
	var out []string
	for _, k := range keysOf(want) {
		if _, ok := have[k]; want[k].Required && !ok {
			out = append(out, fmt.Sprintf("%s: required property %s missing", at, k))
		}
	}
	for _, k := range keysOf(have) {
		p, ok := want[k]
		if !ok {
			out = append(out, fmt.Sprintf("%s: unknown property %s", at, k))
			continue
		}
		out = append(out, checkValue(spec, typ, p, have[k], at+"."+k)...)
	}
	return out
}

func checkValue(spec *cfnSpec, typ string, p cfnSpecProp, v any, at string) []string {
	if isIntrinsic(v) {
		return nil
	}
	switch {
	case p.PrimitiveType != "":
		return checkPrimitive(p.PrimitiveType, v, at)
	case p.Type == "List" || p.Type == "Map":
		var items []any
		switch c := v.(type) {
		case []any:
			if p.Type != "List" {
				return []string{at + ": want a map"}
			}
			items = c
		case map[string]any:
			if p.Type != "Map" {
				return []string{at + ": want a list"}
			}
			for _, k := range keysOf(c) {
				items = append(items, c[k])
			}
		default:
			return []string{fmt.Sprintf("%s: want a %s, got %T", at, strings.ToLower(p.Type), v)}
		}
		var out []string
		for i, it := range items {
			item := cfnSpecProp{PrimitiveType: p.PrimitiveItemType, Type: p.ItemType}
			out = append(out, checkValue(spec, typ, item, it, fmt.Sprintf("%s[%d]", at, i))...)
		}
		return out
	case p.Type != "":
		pt, ok := spec.PropertyTypes[typ+"."+p.Type]
		if !ok {
			pt, ok = spec.PropertyTypes[p.Type] // shared types such as Tag
		}
		if !ok {
			return []string{fmt.Sprintf("%s: the specification has no property type %s", at, p.Type)}
		}
		m, ok := v.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want a %s object, got %T", at, p.Type, v)}
		}
		return checkProps(spec, typ, pt.Properties, m, at)
	}
	return nil // a union type: not checked further
}

func checkPrimitive(kind string, v any, at string) []string {
	switch kind {
	case "Json":
		switch v.(type) {
		case map[string]any, []any, string:
			return nil
		}
	case "String", "Timestamp":
		switch v.(type) {
		case string, int, float64, bool:
			return nil
		}
	case "Integer", "Long", "Double":
		switch x := v.(type) {
		case int, float64:
			return nil
		case string:
			if _, err := strconv.ParseFloat(x, 64); err == nil {
				return nil
			}
		}
	case "Boolean":
		switch x := v.(type) {
		case bool:
			return nil
		case string:
			if x == "true" || x == "false" {
				return nil
			}
		}
	default:
		return nil
	}
	return []string{fmt.Sprintf("%s: want %s, got %v (%T)", at, kind, v, v)}
}

const (
	cfnRegion  = "eu-west-1"
	cfnAccount = "210987654321"
)

// noValue is AWS::NoValue once resolved: removed from the list or map that holds it.
type noValue struct{}

// cfnResolver evaluates intrinsic functions with parameter values and sample resource values.
type cfnResolver struct {
	t      *testing.T
	tpl    *cfnTemplate
	params map[string]string
	conds  map[string]bool
}

func newResolver(t *testing.T, tpl *cfnTemplate, raw map[string]any, params map[string]string) *cfnResolver {
	t.Helper()
	r := &cfnResolver{t: t, tpl: tpl, params: map[string]string{}, conds: map[string]bool{}}
	for name, p := range tpl.Parameters {
		if p.Default != nil {
			r.params[name] = fmt.Sprint(p.Default)
		}
	}
	for k, v := range params {
		if _, ok := tpl.Parameters[k]; !ok {
			t.Fatalf("parameter %s is not declared", k)
		}
		r.params[k] = v
	}
	for name := range tpl.Parameters {
		if _, ok := r.params[name]; !ok {
			t.Fatalf("parameter %s has no default and no value", name)
		}
	}
	conds := raw["Conditions"].(map[string]any)
	var eval func(name string) bool
	evaluating := map[string]bool{}
	eval = func(name string) bool {
		if v, ok := r.conds[name]; ok {
			return v
		}
		if evaluating[name] {
			t.Fatalf("condition %s refers to itself", name)
		}
		evaluating[name] = true
		r.conds[name] = r.condition(conds[name], eval)
		return r.conds[name]
	}
	for name := range conds {
		eval(name)
	}
	return r
}

func (r *cfnResolver) condition(v any, named func(string) bool) bool {
	m := v.(map[string]any)
	for k, arg := range m {
		l, _ := arg.([]any)
		switch k {
		case "Condition":
			return named(arg.(string))
		case "Fn::Equals":
			return fmt.Sprint(r.resolve(l[0])) == fmt.Sprint(r.resolve(l[1]))
		case "Fn::Not":
			return !r.condition(l[0], named)
		case "Fn::And":
			for _, c := range l {
				if !r.condition(c, named) {
					return false
				}
			}
			return true
		case "Fn::Or":
			for _, c := range l {
				if r.condition(c, named) {
					return true
				}
			}
			return false
		}
	}
	r.t.Fatalf("not a condition: %v", v)
	return false
}

// resourceRef and resourceAtt are what CloudFormation answers for the template's resources,
// with sample physical names.
func (r *cfnResolver) resourceRef(name string) string {
	res := r.tpl.Resources[name]
	if res.Condition != "" && !r.conds[res.Condition] {
		r.t.Fatalf("Ref %s: the resource's condition %s is false", name, res.Condition)
	}
	switch res.Type {
	case "AWS::SQS::Queue":
		return "https://sqs." + cfnRegion + ".amazonaws.com/" + cfnAccount + "/" + r.physicalName(name)
	case "AWS::SNS::Topic":
		return "arn:aws:sns:" + cfnRegion + ":" + cfnAccount + ":" + r.physicalName(name)
	}
	return r.physicalName(name)
}

func (r *cfnResolver) physicalName(name string) string {
	res := r.tpl.Resources[name]
	for _, k := range []string{"QueueName", "TopicName", "FunctionName", "RoleName", "LogGroupName", "Name", "BucketName"} {
		if v, ok := res.Properties[k]; ok {
			if s, ok := r.resolve(v).(string); ok || k != "BucketName" {
				return fmt.Sprint(s)
			}
		}
	}
	if res.Type == "AWS::S3::Bucket" {
		return "stack-" + strings.ToLower(name) + "-1a2b3c4d" // generated bucket names are lower-case
	}
	return "stack-" + name + "-1A2B3C4D"
}

func (r *cfnResolver) resourceAtt(name, attr string) string {
	res := r.tpl.Resources[name]
	if res.Condition != "" && !r.conds[res.Condition] {
		r.t.Fatalf("GetAtt %s.%s: the resource's condition %s is false", name, attr, res.Condition)
	}
	if attr != "Arn" {
		return r.physicalName(name)
	}
	n := r.physicalName(name)
	switch res.Type {
	case "AWS::SQS::Queue":
		return "arn:aws:sqs:" + cfnRegion + ":" + cfnAccount + ":" + n
	case "AWS::Logs::LogGroup":
		return "arn:aws:logs:" + cfnRegion + ":" + cfnAccount + ":log-group:" + n + ":*" // as CloudFormation answers
	case "AWS::KMS::Key":
		return "arn:aws:kms:" + cfnRegion + ":" + cfnAccount + ":key/5c1f9d9e-8a1b-4c55-9f27-3e2d1c0b9a87"
	case "AWS::IAM::Role":
		return "arn:aws:iam::" + cfnAccount + ":role/" + n
	case "AWS::Lambda::Function":
		return "arn:aws:lambda:" + cfnRegion + ":" + cfnAccount + ":function:" + n
	}
	return "arn:aws:" + strings.ToLower(res.Type) + ":" + n
}

func (r *cfnResolver) ref(name string, vars map[string]any) any {
	if v, ok := vars[name]; ok {
		return v
	}
	switch name {
	case "AWS::Region":
		return cfnRegion
	case "AWS::AccountId":
		return cfnAccount
	case "AWS::Partition":
		return "aws"
	case "AWS::URLSuffix":
		return "amazonaws.com"
	case "AWS::StackName":
		return "keycycle"
	case "AWS::NoValue":
		return noValue{}
	}
	if v, ok := r.params[name]; ok {
		return v
	}
	return r.resourceRef(name)
}

func (r *cfnResolver) resolve(v any) any {
	switch v := v.(type) {
	case []any:
		out := []any{}
		for _, x := range v {
			if y := r.resolve(x); y != (noValue{}) {
				out = append(out, y)
			}
		}
		return out
	case map[string]any:
		if len(v) == 1 {
			for k, arg := range v {
				l, _ := arg.([]any)
				switch k {
				case "Ref":
					return r.ref(arg.(string), nil)
				case "Fn::GetAtt":
					return r.resourceAtt(fmt.Sprint(l[0]), fmt.Sprint(l[1]))
				case "Fn::If":
					if r.conds[l[0].(string)] {
						return r.resolve(l[1])
					}
					return r.resolve(l[2])
				case "Fn::Sub":
					s, vars := arg, map[string]any{}
					if l != nil {
						s = l[0]
						for name, x := range l[1].(map[string]any) {
							vars[name] = r.resolve(x)
						}
					}
					out := subRefRE.ReplaceAllStringFunc(s.(string), func(m string) string {
						name := m[2 : len(m)-1]
						if res, attr, ok := strings.Cut(name, "."); ok {
							return r.resourceAtt(res, attr)
						}
						return fmt.Sprint(r.ref(name, vars))
					})
					return strings.ReplaceAll(out, "${!", "${")
				case "Fn::Join":
					parts := r.resolve(l[1]).([]any)
					strs := make([]string, len(parts))
					for i, p := range parts {
						strs[i] = fmt.Sprint(p)
					}
					return strings.Join(strs, l[0].(string))
				case "Fn::Select":
					i, _ := strconv.Atoi(fmt.Sprint(r.resolve(l[0])))
					return r.resolve(l[1]).([]any)[i]
				case "Fn::Split":
					var out []any
					for _, p := range strings.Split(fmt.Sprint(r.resolve(l[1])), l[0].(string)) {
						out = append(out, p)
					}
					return out
				case "Fn::FindInMap":
					return r.tpl.Mappings[fmt.Sprint(r.resolve(l[0]))][fmt.Sprint(r.resolve(l[1]))][fmt.Sprint(r.resolve(l[2]))]
				}
				if strings.HasPrefix(k, "Fn::") {
					r.t.Fatalf("intrinsic function %s is not modelled by this test", k)
				}
			}
		}
		out := map[string]any{}
		for k, x := range v {
			if y := r.resolve(x); y != (noValue{}) {
				out[k] = y
			}
		}
		return out
	}
	return v
}

// cfnPolicy is the resolved policy document of a role resource.
func cfnPolicy(t *testing.T, r *cfnResolver, role string) iampolicy.Document {
	t.Helper()
	props := r.resolve(r.tpl.Resources[role].Properties).(map[string]any)
	pols := props["Policies"].([]any)
	if len(pols) != 1 {
		t.Fatalf("%s: want one inline policy, got %d", role, len(pols))
	}
	b, err := json.Marshal(pols[0].(map[string]any)["PolicyDocument"])
	if err != nil {
		t.Fatal(err)
	}
	d, err := iampolicy.Parse(b)
	if err != nil {
		t.Fatalf("%s: %v\n%s", role, err, b)
	}
	return d
}

// TestCloudFormationPoliciesMatchKeycyclePolicy resolves both templates for several parameter
// sets, parses the configuration the hub template hands the function, and requires the hub and
// member roles' policies to be what `keycycle policy` makes of it.
func TestCloudFormationPoliciesMatchKeycyclePolicy(t *testing.T) {
	for _, tc := range []struct {
		name      string
		params    map[string]string
		discovery iampolicy.Discovery
		// report and prefix: the report bucket and prefix the parameters deploy ("": none, default prefix).
		report, prefix string
	}{
		{name: "defaults", params: map[string]string{"CodeS3Bucket": "artifacts"}, discovery: iampolicy.DiscoverOrganization},
		{name: "listed accounts, mail, topic, key, keycycle names", discovery: iampolicy.DiscoverNone, params: map[string]string{
			"CodeS3Bucket": "artifacts", "Accounts": "111111111111,222222222222", "SenderEmailAddress": "keycycle@example.com",
			"CreateSNSTopic": "true", "CreateKMSKey": "true", "SecretNamePreset": "keycycle", "AdminEmailAddress": "sec@example.com",
			"AWSOrgID": "o-abc123def4", "DryRunFlag": "False", "FunctionName": "rotator", "MemberRoleName": "KeycycleWorker",
			"GitHubRepository": "acme/{{user}}", "GitHubEnvironment": "prod", "GitHubTokenSecret": "keycycle/github-token",
		}},
		{name: "report bucket, generated name", discovery: iampolicy.DiscoverOrganization, report: "stack-reportbucket-1a2b3c4d",
			params: map[string]string{"CodeS3Bucket": "artifacts", "CreateReportBucket": "true"}},
		{name: "named report bucket and prefix", discovery: iampolicy.DiscoverOrganization, report: "acme-keycycle", prefix: "org/reports/",
			params: map[string]string{"CodeS3Bucket": "artifacts", "CreateReportBucket": "true", "ReportBucketName": "acme-keycycle", "ReportPrefix": "org/reports/"}},
		{name: "OUs, no console passwords", discovery: iampolicy.DiscoverOUs, params: map[string]string{
			"CodeS3Bucket": "artifacts", "OrganizationalUnits": "ou-ab12-34cd56ef", "PasswordRotationPeriod": "0", "ConsoleUnusedPeriod": "0",
			"RotationPeriod": "30", "InactivePeriod": "45", "RecoveryGracePeriod": "7", "ExternalId": "kc-7f3a",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hubTpl, hubRaw := loadTemplate(t, cfnTemplates[0])
			hub := newResolver(t, hubTpl, hubRaw, tc.params)
			fn := hub.resolve(hubTpl.Resources["Function"].Properties).(map[string]any)
			env := fn["Environment"].(map[string]any)["Variables"].(map[string]any)
			doc := env[lambdafn.EnvConfigYAML].(string)
			cfg, err := config.Parse("KEYCYCLE_CONFIG_YAML", []byte(doc))
			if err != nil {
				t.Fatalf("the configuration the template writes does not validate: %v\n%s", err, doc)
			}
			if got, _ := env[lambdafn.EnvReportBucket].(string); got != tc.report {
				t.Errorf("%s = %q, want %q", lambdafn.EnvReportBucket, got, tc.report)
			}
			gotHub := cfnPolicy(t, hub, "HubRole")
			wantHub, err := iampolicy.Policy(cfg, iampolicy.Hub, iampolicy.Options{Region: cfnRegion, Account: cfnAccount,
				Name: hub.params["FunctionName"], MemberRole: hub.params["MemberRoleName"], Discovery: tc.discovery,
				ReportBucket: tc.report, ReportPrefix: tc.prefix})
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(wantHub.Normalize(), gotHub.Normalize()); d != "" {
				t.Errorf("hub policy (-keycycle policy +template):\n%s", d)
			}

			// The member template, deployed with the hub stack's outputs and settings.
			memberTpl, memberRaw := loadTemplate(t, cfnTemplates[1])
			mp := map[string]string{"HubRoleArn": hub.resourceAtt("HubRole", "Arn"), "RoleName": hub.params["MemberRoleName"],
				"ExternalId": hub.params["ExternalId"], "SecretNamePreset": hub.params["SecretNamePreset"],
				"PasswordRotationPeriod": hub.params["PasswordRotationPeriod"], "ConsoleUnusedPeriod": hub.params["ConsoleUnusedPeriod"],
				"SenderEmailAddress": hub.params["SenderEmailAddress"], "GitHubTokenSecret": hub.params["GitHubTokenSecret"]}
			if hub.conds["MakeKey"] {
				mp["KMSKeyArn"] = hub.resourceAtt("SecretsKey", "Arn")
			}
			if hub.conds["MakeTopic"] {
				mp["SNSTopicArn"] = hub.resourceRef("EventsTopic")
			}
			member := newResolver(t, memberTpl, memberRaw, mp)
			gotMember := cfnPolicy(t, member, "MemberRole")
			wantMember, err := iampolicy.Policy(cfg, iampolicy.Member, iampolicy.Options{Region: cfnRegion})
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(wantMember.Normalize(), gotMember.Normalize()); d != "" {
				t.Errorf("member policy (-keycycle policy +template):\n%s", d)
			}
			trust := member.resolve(memberTpl.Resources["MemberRole"].Properties).(map[string]any)["AssumeRolePolicyDocument"]
			b, _ := json.Marshal(trust)
			if !strings.Contains(string(b), mp["HubRoleArn"]) || (mp["ExternalId"] != "") != strings.Contains(string(b), "sts:ExternalId") {
				t.Errorf("member role trust: %s", b)
			}

			// The settings mean what the CloudFormation solution's parameters meant.
			days := func(p string) string { return hub.params[p] + "d" }
			th := cfg.Rules.Default
			for _, c := range []struct {
				got  string
				want string
			}{
				{policy.FormatDuration(th.RotateAfter), days("RotationPeriod")},
				{policy.FormatDuration(th.HardLimit), days("InactivePeriod")},
				{policy.FormatDuration(th.DeleteAfter), days("RecoveryGracePeriod")},
				{cfg.Rules.Selection.ExemptionGroup, hub.params["IAMExemptionGroup"]},
				{cfg.Notify.FallbackEmail, hub.params["AdminEmailAddress"]},
				{env[lambdafn.EnvDryRun].(string), map[bool]string{true: "false", false: "true"}[strings.EqualFold(hub.params["DryRunFlag"], "false")]},
			} {
				if c.got != c.want {
					t.Errorf("setting %q, want %q", c.got, c.want)
				}
			}
		})
	}
}

// TestCloudFormationConfigurationReachesTheFunction builds the Lambda handler from the
// environment the hub template gives it (against the sandbox): the function runs with the
// template's thresholds, not the defaults.
func TestCloudFormationConfigurationReachesTheFunction(t *testing.T) {
	tpl, raw := loadTemplate(t, cfnTemplates[0])
	res := newResolver(t, tpl, raw, map[string]string{"CodeS3Bucket": "artifacts", "RotationPeriod": "45", "InactivePeriod": "60"})
	env := res.resolve(tpl.Resources["Function"].Properties).(map[string]any)["Environment"].(map[string]any)["Variables"].(map[string]any)
	sb, _ := awssimtest.Start(t)
	cred, _ := sb.OperatorCredential(sb.Accounts()[0].ID)
	for k, v := range map[string]string{"AWS_ENDPOINT_URL": sb.URL, "AWS_ACCESS_KEY_ID": cred.AccessKeyID, "AWS_SECRET_ACCESS_KEY": cred.SecretAccessKey,
		"AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": filepath.Join(t.TempDir(), "none"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(t.TempDir(), "none")} {
		t.Setenv(k, v)
	}
	t.Setenv("AWS_PROFILE", "")
	os.Unsetenv("AWS_PROFILE")
	h, err := lambdafn.FromEnv(context.Background(), func(k string) string {
		if v, ok := env[k].(string); ok {
			return v
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	if th := h.Fleet.Runner.Rules.Default; th.RotateAfter != 45*policy.Day || th.HardLimit != 60*policy.Day {
		t.Fatalf("the function runs with rotate_after %v, hard_limit %v", th.RotateAfter, th.HardLimit)
	}
	if h.DryRun != true || h.Fleet.Role.Name != "KeycycleMember" {
		t.Fatalf("dry run %v, role %q", h.DryRun, h.Fleet.Role.Name)
	}
}

// TestCloudFormationAlarmsCoverEveryDeadLetterQueueAndFunction: every queue a redrive policy
// sends to has an alarm on its depth, every function one on its errors and one on its
// throttles, all to the events topic; and the account planner runs with the function's
// environment (the same configuration, queues and role).
func TestCloudFormationAlarmsCoverEveryDeadLetterQueueAndFunction(t *testing.T) {
	tpl, raw := loadTemplate(t, cfnTemplates[0])
	res := newResolver(t, tpl, raw, map[string]string{"CodeS3Bucket": "artifacts", "CreateSNSTopic": "true"})
	topic := res.resourceRef("EventsTopic")
	alarms := map[string]bool{} // "namespace/metric/dimension value"
	for name, r := range tpl.Resources {
		if r.Type != "AWS::CloudWatch::Alarm" {
			continue
		}
		p := res.resolve(r.Properties).(map[string]any)
		dims := p["Dimensions"].([]any)
		if len(dims) != 1 {
			t.Errorf("%s: dimensions %v", name, dims)
			continue
		}
		acts, _ := json.Marshal(p["AlarmActions"])
		if !strings.Contains(string(acts), topic) {
			t.Errorf("%s: actions %s, want the events topic", name, acts)
		}
		alarms[fmt.Sprint(p["Namespace"], "/", p["MetricName"], "/", dims[0].(map[string]any)["Value"])] = true
	}
	for name, r := range tpl.Resources {
		switch r.Type {
		case "AWS::SQS::Queue":
			rp, ok := r.Properties["RedrivePolicy"].(map[string]any)
			if !ok {
				continue
			}
			dlq := res.resolve(rp["deadLetterTargetArn"]).(string)
			q := dlq[strings.LastIndex(dlq, ":")+1:]
			if !alarms["AWS/SQS/ApproximateNumberOfMessagesVisible/"+q] {
				t.Errorf("%s: no alarm on the depth of its dead-letter queue %s", name, q)
			}
		case "AWS::Lambda::Function":
			fn := res.resourceRef(name)
			for _, m := range []string{"Errors", "Throttles"} {
				if !alarms["AWS/Lambda/"+m+"/"+fn] {
					t.Errorf("%s: no alarm on its %s", name, m)
				}
			}
		}
	}
	envOf := func(fn string) any {
		return res.resolve(tpl.Resources[fn].Properties).(map[string]any)["Environment"]
	}
	if d := cmp.Diff(envOf("Function"), envOf("PlannerFunction")); d != "" {
		t.Errorf("the planner's environment differs from the function's (-function +planner):\n%s", d)
	}
	if env := envOf("Function").(map[string]any)["Variables"].(map[string]any); env[lambdafn.EnvAccountQueueURL] != res.resourceRef("AccountQueue") {
		t.Errorf("the schedule's account queue: %v", env[lambdafn.EnvAccountQueueURL])
	}
}
