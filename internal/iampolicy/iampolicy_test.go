package iampolicy_test

import (
	"path"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/iampolicy"
)

func mustConfig(t *testing.T, src string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func statement(t *testing.T, d iampolicy.Document, sid string) *iampolicy.Statement {
	t.Helper()
	for i := range d.Statement {
		if d.Statement[i].Sid == sid {
			return &d.Statement[i]
		}
	}
	return nil
}

func TestScoping(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config string
		opts   iampolicy.Options
		sid    string
		want   *iampolicy.Statement // nil: no such statement
	}{
		{name: "every user without an include", sid: "RotateKeys",
			want: &iampolicy.Statement{Resource: iampolicy.Strings{"arn:aws:iam::*:user/*"}}},
		{name: "include by IAM path", sid: "RotateKeys", opts: iampolicy.Options{Account: "123456789012"},
			config: "selection: {include: [{paths: [/service/, /apps/team-a/]}]}",
			want:   &iampolicy.Statement{Resource: iampolicy.Strings{"arn:aws:iam::123456789012:user/apps/team-a/*", "arn:aws:iam::123456789012:user/service/*"}}},
		{name: "include by name glob, any path", sid: "ReadUsers",
			config: "selection: {include: [{users: [ci-*]}]}",
			want:   &iampolicy.Statement{Resource: iampolicy.Strings{"arn:aws:iam::*:user/*/ci-*", "arn:aws:iam::*:user/ci-*"}}},
		{name: "include by path and name", sid: "RotateKeys",
			config: "selection: {include: [{paths: [/service/], users: ['svc-?']}]}",
			want:   &iampolicy.Statement{Resource: iampolicy.Strings{"arn:aws:iam::*:user/service/svc-?"}}},
		{name: "an include by group alone is every user", sid: "RotateKeys",
			config: "selection: {include: [{paths: [/service/]}, {groups: [rotating]}]}",
			want:   &iampolicy.Statement{Resource: iampolicy.Strings{"arn:aws:iam::*:user/*"}}},
		{name: "a character class IAM cannot express widens", sid: "RotateKeys",
			config: "selection: {include: [{paths: [/service/], users: ['svc-[ab]']}]}",
			want:   &iampolicy.Statement{Resource: iampolicy.Strings{"arn:aws:iam::*:user/service/*"}}},
		{name: "state tags only", sid: "RecordState", config: "tags: {state_prefix: 'rot:'}",
			want: &iampolicy.Statement{Resource: iampolicy.Strings{"arn:aws:iam::*:user/*"},
				Condition: map[string]map[string]iampolicy.Strings{"ForAllValues:StringLike": {"aws:TagKeys": {"rot:*"}}}}},
		{name: "secret template with the account known", sid: "SecretsManagerSink", opts: iampolicy.Options{Account: "123456789012", Region: "eu-west-1"},
			config: "secret: {preset: cloudformation}",
			want: &iampolicy.Statement{Resource: iampolicy.Strings{
				"arn:aws:secretsmanager:eu-west-1:123456789012:secret:Account_123456789012_User_*_AccessKey-??????",
				"arn:aws:secretsmanager:eu-west-1:123456789012:secret:Account_123456789012_User_*_ConsolePassword-??????"}}},
		{name: "secret templates of every delivery list", sid: "SecretsManagerSink",
			config: "rules: [{name: svc, match: {paths: [/s/]}, delivery: [{type: secretsmanager, name_template: 'svc/{{user}}'}]}]",
			want: &iampolicy.Statement{Resource: iampolicy.Strings{
				"arn:aws:secretsmanager:*:*:secret:keycycle/*/*", "arn:aws:secretsmanager:*:*:secret:keycycle/*/*/console-??????",
				"arn:aws:secretsmanager:*:*:secret:svc/*"}}},
		{name: "no KMS statement without a key", sid: "SecretsManagerKey"},
		{name: "KMS key by alias: through the service, matched by alias", sid: "SecretsManagerKeyByAlias",
			config: "secret: {kms_key_id: alias/keycycle}", opts: iampolicy.Options{Region: "eu-west-1"},
			want: &iampolicy.Statement{Resource: iampolicy.Strings{"arn:aws:kms:eu-west-1:*:key/*"},
				Condition: map[string]map[string]iampolicy.Strings{
					"StringLike":               {"kms:ViaService": {"secretsmanager.eu-west-1.amazonaws.com"}},
					"ForAnyValue:StringEquals": {"kms:ResourceAliases": {"alias/keycycle"}},
				}}},
		{name: "KMS key by id", sid: "ParameterStoreKey",
			config: "delivery: [{type: ssm, kms_key_id: 1234abcd-12ab-34cd-56ef-1234567890ab}]",
			want: &iampolicy.Statement{Resource: iampolicy.Strings{"arn:aws:kms:*:*:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
				Condition: map[string]map[string]iampolicy.Strings{"StringLike": {"kms:ViaService": {"ssm.*.amazonaws.com"}}}}},
		{name: "SSM parameters, without Secrets Manager", sid: "ParameterStoreSink",
			config: "delivery: [{type: ssm}]",
			want:   &iampolicy.Statement{Resource: iampolicy.Strings{"arn:aws:ssm:*:*:parameter/keycycle/*/*", "arn:aws:ssm:*:*:parameter/keycycle/*/*/console"}}},
		{name: "no Secrets Manager when the primary is SSM", sid: "SecretsManagerSink", config: "delivery: [{type: ssm}]"},
		{name: "handler by name", sid: "InvokeHandler",
			config: "delivery: [{type: secretsmanager}, {type: lambda, function: on-new-key}]",
			want:   &iampolicy.Statement{Resource: iampolicy.Strings{"arn:aws:lambda:*:*:function:on-new-key"}}},
		{name: "senders and their domains, from those addresses only", sid: "SendMail",
			config: "notify: {email: {from: 'Keycycle <keycycle@example.com>', region: eu-west-1}}\n" +
				"delivery: [{type: secretsmanager}, {type: email, from: keys@corp.example.org}]",
			want: &iampolicy.Statement{Resource: iampolicy.Strings{
				"arn:aws:ses:*:*:identity/corp.example.org", "arn:aws:ses:*:*:identity/keys@corp.example.org",
				"arn:aws:ses:eu-west-1:*:identity/example.com", "arn:aws:ses:eu-west-1:*:identity/keycycle@example.com"},
				Condition: map[string]map[string]iampolicy.Strings{"StringEquals": {"ses:FromAddress": {"keycycle@example.com", "keys@corp.example.org"}}}}},
		{name: "topic", sid: "PublishEvents", config: "notify: {sns: {topic_arn: 'arn:aws:sns:eu-west-1:123456789012:events'}}",
			want: &iampolicy.Statement{Resource: iampolicy.Strings{"arn:aws:sns:eu-west-1:123456789012:events"}}},
		{name: "no topic, no statement", sid: "PublishEvents"},
		{name: "member role by name", sid: "AssumeMemberRole", opts: iampolicy.Options{MemberRole: "keycycle/Member"},
			want: &iampolicy.Statement{Resource: iampolicy.Strings{"arn:aws:iam::*:role/keycycle/Member"}}},
		{name: "member role by ARN template", sid: "AssumeMemberRole", opts: iampolicy.Options{MemberRole: "arn:aws:iam::{{account}}:role/R"},
			want: &iampolicy.Statement{Resource: iampolicy.Strings{"arn:aws:iam::*:role/R"}}},
		{name: "fixed accounts: no Organizations", sid: "ListAccounts", opts: iampolicy.Options{Discovery: iampolicy.DiscoverNone}},
		{name: "queue of the deployment", sid: "EnqueueWork", opts: iampolicy.Options{Name: "kc", Region: "eu-west-1", Account: "123456789012"},
			want: &iampolicy.Statement{Resource: iampolicy.Strings{"arn:aws:sqs:eu-west-1:123456789012:kc.fifo", "arn:aws:sqs:eu-west-1:123456789012:kc-accounts"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mustConfig(t, tc.config)
			role := iampolicy.Member
			if strings.HasPrefix(tc.sid, "AssumeMemberRole") || tc.sid == "ListAccounts" || tc.sid == "EnqueueWork" {
				role = iampolicy.Hub
			}
			doc, err := iampolicy.Policy(cfg, role, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			got := statement(t, doc, tc.sid)
			if tc.want == nil {
				if got != nil {
					t.Fatalf("want no %s statement, got %+v", tc.sid, got)
				}
				return
			}
			if got == nil {
				t.Fatalf("no %s statement in %+v", tc.sid, doc)
			}
			want := *tc.want
			want.Sid, want.Effect, want.Action = got.Sid, "Allow", got.Action
			if d := cmp.Diff(want, *got); d != "" {
				t.Fatalf("%s (-want +got):\n%s", tc.sid, d)
			}
		})
	}
}

// TestMemberRoleCannotEscalate: whatever the configuration, the member role gets no action that
// changes a principal's permissions or creates principals (iam:Put*, iam:Attach*, ...), no
// pass-role, and no IAM write beyond access keys and keycycle's own tags.
func TestMemberRoleCannotEscalate(t *testing.T) {
	forbidden := []string{"iam:Put*", "iam:Attach*", "iam:Detach*", "iam:Create*", "iam:Update*", "iam:Delete*", "iam:Add*",
		"iam:PassRole", "iam:SetDefaultPolicyVersion", "iam:*LoginProfile", "sts:*", "*:*Policy*"}
	// Rotating credentials is changing them; keycycle never creates console access
	// (iam:CreateLoginProfile) nor touches any policy but its secrets' reader policy.
	allowed := map[string]bool{"iam:CreateAccessKey": true, "iam:UpdateAccessKey": true, "iam:DeleteAccessKey": true,
		"iam:GetLoginProfile": true, "iam:UpdateLoginProfile": true, "iam:DeleteLoginProfile": true,
		"iam:GetAccountPasswordPolicy": true, "secretsmanager:PutResourcePolicy": true}
	for _, p := range iampolicy.Paths() {
		if p.Role != iampolicy.Member {
			continue
		}
		for _, a := range p.Actions {
			for _, f := range forbidden {
				if ok, _ := path.Match(f, a.Name); ok && !allowed[a.Name] {
					t.Errorf("path %s gives the member role %s (matches %s)", p.Sid, a.Name, f)
				}
			}
		}
	}
}

func TestPolicyParsesBackAndNormalizes(t *testing.T) {
	doc, err := iampolicy.Policy(mustConfig(t, "secret: {kms_key_id: alias/k}"), iampolicy.Member, iampolicy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := doc.Write(&b); err != nil {
		t.Fatal(err)
	}
	back, err := iampolicy.Parse([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(doc.Normalize(), back.Normalize()); d != "" {
		t.Fatal(d)
	}
	// IAM also accepts single strings; they compare equal to one-element lists.
	one, err := iampolicy.Parse([]byte(`{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`))
	if err != nil || len(one.Statement[0].Action) != 1 || one.Statement[0].Resource[0] != "*" {
		t.Fatalf("%v %+v", err, one)
	}
	if _, err := iampolicy.Policy(config.Default(), "admin", iampolicy.Options{}); err == nil {
		t.Fatal("an unknown role must be refused")
	}
}

func TestEveryOperationMapsToOneDeclaredAction(t *testing.T) {
	for _, tc := range []struct{ svc, op, want string }{
		{"lambda", "Invoke", "lambda:InvokeFunction"},
		{"ses", "SendEmail", "ses:SendEmail"},
		{"iam", "ListAccessKeys", "iam:ListAccessKeys"},
		{"sqs", "ReceiveMessage", "sqs:ReceiveMessage"},
		{"sts", "GetCallerIdentity", ""},
	} {
		got, ok := iampolicy.OperationAction(tc.svc, tc.op)
		if !ok || got != tc.want {
			t.Errorf("%s/%s = %q %v, want %q", tc.svc, tc.op, got, ok, tc.want)
		}
	}
	if _, ok := iampolicy.OperationAction("iam", "PutUserPolicy"); ok {
		t.Error("an undeclared operation must not map")
	}
	seen := map[string]string{}
	for _, p := range iampolicy.Paths() {
		for _, a := range p.Actions {
			if prev, dup := seen[string(p.Role)+a.Name]; dup && a.Caller == iampolicy.Code && a.Also != prev {
				t.Errorf("%s declared twice for the %s role: %s and %s", a.Name, p.Role, prev, p.Sid)
			}
			seen[string(p.Role)+a.Name] = p.Sid
		}
	}
}

// TestCleanupQueue: a deployment with short cleanup waits may send to its cleanup queue and
// consume it; without one, neither.
func TestCleanupQueue(t *testing.T) {
	cfg := mustConfig(t, "dry_run: true\n")
	o := iampolicy.Options{Region: "eu-west-1", Account: "123456789012", Name: "rotator"}
	off, err := iampolicy.Policy(cfg, iampolicy.Hub, o)
	if err != nil {
		t.Fatal(err)
	}
	if s := statement(t, off, "ScheduleCleanup"); s != nil {
		t.Fatalf("ScheduleCleanup without a cleanup queue: %+v", s)
	}
	o.CleanupQueue = true
	on, err := iampolicy.Policy(cfg, iampolicy.Hub, o)
	if err != nil {
		t.Fatal(err)
	}
	send := statement(t, on, "ScheduleCleanup")
	if send == nil || cmp.Diff(iampolicy.Strings{"sqs:SendMessage"}, send.Action) != "" ||
		cmp.Diff(iampolicy.Strings{"arn:aws:sqs:eu-west-1:123456789012:rotator-cleanup"}, send.Resource) != "" {
		t.Fatalf("ScheduleCleanup: %+v", send)
	}
	consume := statement(t, on, "ConsumeWork")
	if d := cmp.Diff(iampolicy.Strings{"arn:aws:sqs:eu-west-1:123456789012:rotator.fifo", "arn:aws:sqs:eu-west-1:123456789012:rotator-accounts", "arn:aws:sqs:eu-west-1:123456789012:rotator-cleanup"}, consume.Resource); d != "" {
		t.Fatalf("ConsumeWork resources: %s", d)
	}
	if got, ok := iampolicy.OperationAction("sqs", "SendMessage"); !ok || got != "sqs:SendMessage" {
		t.Fatalf("sqs/SendMessage maps to %q, %v", got, ok)
	}
}

// TestGitHubCredential: a github sink's credential secret, and only it, may be read.
func TestGitHubCredential(t *testing.T) {
	cfg := mustConfig(t, `
delivery:
  - type: secretsmanager
  - type: github
    repository: acme/api
    token_secret: keycycle/github-token
  - type: github
    organization: acme
    token_secret: arn:aws:secretsmanager:eu-west-1:123456789012:secret:gh-app-AbCdEf
`)
	d, err := iampolicy.Policy(cfg, iampolicy.Member, iampolicy.Options{Region: "eu-west-1", Account: "123456789012"})
	if err != nil {
		t.Fatal(err)
	}
	s := statement(t, d, "ReadGitHubCredential")
	want := iampolicy.Strings{"arn:aws:secretsmanager:eu-west-1:123456789012:secret:gh-app-AbCdEf",
		"arn:aws:secretsmanager:eu-west-1:123456789012:secret:keycycle/github-token-??????"}
	if s == nil || cmp.Diff(want, s.Resource) != "" || cmp.Diff(iampolicy.Strings{"secretsmanager:GetSecretValue"}, s.Action) != "" {
		t.Fatalf("ReadGitHubCredential: %+v", s)
	}
	if none := statement(t, mustPolicy(t, "dry_run: true\n"), "ReadGitHubCredential"); none != nil {
		t.Fatalf("without a github sink: %+v", none)
	}
}

func mustPolicy(t *testing.T, src string) iampolicy.Document {
	t.Helper()
	d, err := iampolicy.Policy(mustConfig(t, src), iampolicy.Member, iampolicy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}
