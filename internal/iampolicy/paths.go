// Package iampolicy declares, once, which AWS actions each keycycle code path calls and how
// their resources are scoped, and turns a configuration into the least-privilege IAM policy of
// each role keycycle runs as:
//
//   - the member role works inside one account: scan, rotation, delivery sinks, notifications.
//     It is the role the hub assumes in every member account, and also what your own
//     credentials need for `keycycle plan` and `keycycle apply` in a single account;
//   - the hub role is the Lambda function's own role: it lists the organization's accounts,
//     assumes the member roles, and feeds and drains the work queue. With the CLI engine it is
//     whoever runs `keycycle plan`/`apply` with an accounts section: no queue, no logs.
//
// The table in this file is the only place an action is named. `keycycle policy` prints what it
// yields for a configuration; the Terraform module and the CloudFormation templates are checked
// against it (deploy/); and a test drives the end-to-end paths against the sandbox, recording
// every call, and fails when the code calls anything the policy omits or the policy grants
// anything the code never calls.
package iampolicy

import "strings"

// Role is who runs a code path.
type Role string

// Roles.
const (
	// Member works inside one account (the member role, or your own credentials in one account).
	Member Role = "member"
	// Hub is the Lambda function's role: Organizations, sts:AssumeRole, the work queue.
	Hub Role = "hub"
	// Selftest is what `keycycle selftest` needs on top of the member policy: its throwaway user
	// (`keycycle policy --selftest` prints both).
	Selftest Role = "selftest"
)

// Caller says who makes a call that needs an action.
type Caller int

// Callers.
const (
	// Code: keycycle calls the API itself, through the AWS SDK; the sandbox records the call.
	Code Caller = iota
	// Service: an AWS service calls it with keycycle's credentials while serving one of
	// keycycle's calls (KMS behind Secrets Manager and SSM, tagging behind CreateSecret). The
	// sandbox does not model these; Via names the calls that cause them.
	Service
	// Runtime: the Lambda service calls it with the function's role (the SQS event source
	// mapping, CloudWatch Logs), not keycycle's code.
	Runtime
)

func (c Caller) String() string {
	switch c {
	case Service:
		return "service"
	case Runtime:
		return "runtime"
	}
	return "code"
}

// Action is one IAM action a code path needs.
type Action struct {
	// Name is the IAM action, such as "iam:ListAccessKeys".
	Name string
	// Operation is the API operation keycycle calls, as service/Operation where it differs from
	// the action ("lambda/Invoke" needs lambda:InvokeFunction); empty: the action's own name.
	Operation string
	Caller    Caller
	// Via lists the actions whose calls make the service call this one (Caller Service).
	Via []string
	// Also names the other path of the same role that declares this action for other
	// resources (a different purpose, scoped apart); empty: declared here only.
	Also string
}

// Path is one code path: what calls the actions, as whom, and which resources they touch.
type Path struct {
	// Sid names the path; it is the Sid of its statement.
	Sid  string
	Role Role
	// Code is where the calls are made.
	Code string
	// Why says in one line what the path does with the actions.
	Why     string
	Actions []Action
	// scope returns the statements' resources and conditions under s; none: the path is off.
	scope func(s *Settings) []scope
}

// scope is the resource part of a statement.
type scope struct {
	// SidSuffix tells apart the statements of a path that needs more than one.
	SidSuffix string
	Resources []string
	Condition map[string]map[string][]string
}

// when returns sc when on, else nothing.
func when(on bool, sc scope) []scope {
	if !on {
		return nil
	}
	return []scope{sc}
}

// NoPermission lists the operations keycycle calls that need no IAM permission:
// sts:GetCallerIdentity works for every principal and cannot be denied (AWS-FACTS.md).
var NoPermission = []string{"sts/GetCallerIdentity"}

// paths is the declaration: every action keycycle needs, once, by code path. Order is the
// order of the statements in a policy.
var paths = []Path{
	// Member: inside one account.
	{Sid: "ScanAccount", Role: Member, Code: "internal/scan (Scan)",
		Why: "read the credential report, users with their tags and groups, and the account alias: a handful of calls per account",
		Actions: []Action{
			{Name: "iam:GenerateCredentialReport"}, {Name: "iam:GetCredentialReport"},
			{Name: "iam:GetAccountAuthorizationDetails"}, {Name: "iam:ListAccountAliases"},
		},
		scope: func(*Settings) []scope { return when(true, scope{Resources: []string{"*"}}) }, // no resource-level permissions
	},
	{Sid: "ReadUsers", Role: Member, Code: "internal/scan (ReadKeys), internal/rotation (re-read before a change), internal/job (force.go)",
		Why: "read a user's keys, last use, login profile, tags (GetUser) and groups right before changing it",
		Actions: []Action{
			{Name: "iam:GetUser"}, {Name: "iam:ListAccessKeys"},
			{Name: "iam:GetAccessKeyLastUsed"}, {Name: "iam:ListGroupsForUser"}, {Name: "iam:GetLoginProfile"},
		},
		scope: func(s *Settings) []scope { return when(true, scope{Resources: s.users()}) },
	},
	{Sid: "RotateKeys", Role: Member, Code: "internal/rotation",
		Why: "create the new key, deactivate the old one after its grace, delete it later (also a new key whose delivery failed)",
		Actions: []Action{
			{Name: "iam:CreateAccessKey"}, {Name: "iam:UpdateAccessKey"}, {Name: "iam:DeleteAccessKey"},
		},
		scope: func(s *Settings) []scope { return when(true, scope{Resources: s.users()}) },
	},
	{Sid: "RotatePasswords", Role: Member, Code: "internal/rotation (password.go)",
		Why: "set a new console password (reset required at next sign-in by default); keycycle never creates console access",
		Actions: []Action{
			{Name: "iam:UpdateLoginProfile"},
		},
		scope: func(s *Settings) []scope { return when(s.PasswordRotation, scope{Resources: s.users()}) },
	},
	{Sid: "ReadPasswordPolicy", Role: Member, Code: "internal/rotation (password.go)",
		Why: "generate passwords the account's password policy accepts",
		Actions: []Action{
			{Name: "iam:GetAccountPasswordPolicy"},
		},
		scope: func(s *Settings) []scope { return when(s.PasswordRotation, scope{Resources: []string{"*"}}) }, // no resource-level permissions
	},
	{Sid: "RemoveUnusedConsoleAccess", Role: Member, Code: "internal/rotation (password.go)",
		Why: "delete the login profile of console access unused for console_unused_after, after the warnings",
		Actions: []Action{
			{Name: "iam:DeleteLoginProfile"},
		},
		scope: func(s *Settings) []scope { return when(s.ConsoleRemoval, scope{Resources: s.users()}) },
	},
	{Sid: "RecordState", Role: Member, Code: "internal/rotation (intent, rotated, delivered, deactivated tags)",
		Why: "record progress on the user in keycycle's own state tags, and only those",
		Actions: []Action{
			{Name: "iam:TagUser"}, {Name: "iam:UntagUser"},
		},
		scope: func(s *Settings) []scope {
			return when(true, scope{Resources: s.users(), Condition: map[string]map[string][]string{
				"ForAllValues:StringLike": {"aws:TagKeys": {s.StatePrefix + "*"}},
			}})
		},
	},
	{Sid: "SecretsManagerSink", Role: Member, Code: "internal/sink (secretsmanager.go)",
		Why: "create the user's secret with its resource policy, stage the new key as AWSPENDING, read it back, promote it",
		Actions: []Action{
			{Name: "secretsmanager:DescribeSecret"}, {Name: "secretsmanager:CreateSecret"},
			{Name: "secretsmanager:PutResourcePolicy"}, {Name: "secretsmanager:PutSecretValue"},
			{Name: "secretsmanager:GetSecretValue"}, {Name: "secretsmanager:UpdateSecretVersionStage"},
			// CreateSecret with Tags needs it too (Secrets Manager API reference, CreateSecret).
			{Name: "secretsmanager:TagResource", Caller: Service, Via: []string{"secretsmanager:CreateSecret"}},
		},
		scope: func(s *Settings) []scope { return when(len(s.Secrets) > 0, scope{Resources: s.Secrets}) },
	},
	{Sid: "SecretsManagerKey", Role: Member, Code: "internal/sink (secretsmanager.go, secret.kms_key_id)",
		Why: "Secrets Manager encrypts and decrypts the secret with the configured key, as the caller",
		Actions: []Action{
			{Name: "kms:GenerateDataKey", Caller: Service, Via: []string{"secretsmanager:CreateSecret", "secretsmanager:PutSecretValue"}},
			{Name: "kms:Decrypt", Caller: Service, Via: []string{"secretsmanager:PutSecretValue", "secretsmanager:GetSecretValue"}},
		},
		scope: func(s *Settings) []scope {
			if len(s.Secrets) == 0 {
				return nil
			}
			return s.kmsScopes(s.SecretKeys, "secretsmanager")
		},
	},
	{Sid: "ParameterStoreSink", Role: Member, Code: "internal/sink (ssm.go)",
		Why: "write the new key as a SecureString parameter; read it back; restore or delete it when a rotation is rolled back",
		Actions: []Action{
			{Name: "ssm:GetParameter"}, {Name: "ssm:PutParameter"},
			{Name: "ssm:GetParameterHistory"}, {Name: "ssm:DeleteParameter"},
		},
		scope: func(s *Settings) []scope { return when(len(s.Parameters) > 0, scope{Resources: s.Parameters}) },
	},
	{Sid: "ParameterStoreKey", Role: Member, Code: "internal/sink (ssm.go, kms_key_id)",
		Why: "SSM encrypts and decrypts the SecureString parameter with the configured key, as the caller",
		Actions: []Action{
			{Name: "kms:Encrypt", Caller: Service, Via: []string{"ssm:PutParameter"}},
			{Name: "kms:Decrypt", Caller: Service, Via: []string{"ssm:GetParameter", "ssm:GetParameterHistory"}},
		},
		scope: func(s *Settings) []scope { return s.kmsScopes(s.ParameterKeys, "ssm") },
	},
	// The Sid keeps the name the deployments (deploy/) already use; it grants every sink's
	// token_secret (config.SinkAccess.ReadSecret), not only the github sinks'.
	{Sid: "ReadGitHubCredential", Role: Member, Code: "internal/sink (token_secret: github.go, vault.go)",
		Why: "read the credential a sink needs for a service outside AWS (a GitHub token or GitHub App credential, a Vault token) from Secrets Manager (never from the configuration)",
		Actions: []Action{
			{Name: "secretsmanager:GetSecretValue", Also: "SecretsManagerSink"},
		},
		scope: func(s *Settings) []scope {
			return when(len(s.SinkCredentials) > 0, scope{Resources: s.SinkCredentials})
		},
	},
	{Sid: "InvokeHandler", Role: Member, Code: "internal/sink (lambda.go)",
		Why: "invoke the configured handler with {username, secretName, metadata} after a new key",
		Actions: []Action{
			{Name: "lambda:InvokeFunction", Operation: "lambda/Invoke"},
		},
		scope: func(s *Settings) []scope { return when(len(s.Functions) > 0, scope{Resources: s.Functions}) },
	},
	{Sid: "SendMail", Role: Member, Code: "internal/notify (mail.go), internal/sink (email.go)",
		Why: "send owner notices and encrypted keys through SES v2, from the configured senders only",
		Actions: []Action{
			{Name: "ses:SendEmail", Operation: "ses/SendEmail"},
		},
		scope: func(s *Settings) []scope {
			ids, from := s.sesIdentities()
			return when(len(ids) > 0, scope{Resources: ids, Condition: map[string]map[string][]string{
				"StringEquals": {"ses:FromAddress": from},
			}})
		},
	},
	{Sid: "PublishEvents", Role: Member, Code: "internal/notify (sns.go)",
		Why: "publish one JSON message per event to the configured topic",
		Actions: []Action{
			{Name: "sns:Publish"},
		},
		scope: func(s *Settings) []scope { return when(len(s.Topics) > 0, scope{Resources: s.Topics}) },
	},

	{Sid: "CheckSenders", Role: Member, Code: "internal/job (check.go): keycycle check and apply's pre-flight (keycycle policy --check)",
		Why: "verify before a run that the configured senders (or their domains) are verified for sending in SES",
		Actions: []Action{
			{Name: "ses:GetEmailIdentity"},
		},
		scope: func(s *Settings) []scope {
			ids, _ := s.sesIdentities()
			return when(s.Check && len(ids) > 0, scope{Resources: ids})
		},
	},
	{Sid: "CheckTopics", Role: Member, Code: "internal/job (check.go): keycycle check and apply's pre-flight (keycycle policy --check)",
		Why: "verify before a run that the configured topic exists",
		Actions: []Action{
			{Name: "sns:GetTopicAttributes"},
		},
		scope: func(s *Settings) []scope { return when(s.Check && len(s.Topics) > 0, scope{Resources: s.Topics}) },
	},

	// Hub: the Lambda function's role.
	{Sid: "ListAccounts", Role: Hub, Code: "internal/scan (org.go): internal/lambdafn without KEYCYCLE_ACCOUNTS and KEYCYCLE_OUS, internal/cli with accounts.source organization",
		Why: "list the organization's accounts to work on",
		Actions: []Action{
			{Name: "organizations:ListAccounts"},
		},
		scope: func(s *Settings) []scope {
			return when(s.Discovery == DiscoverOrganization, scope{Resources: []string{"*"}}) // no resource-level permissions
		},
	},
	{Sid: "ListOUAccounts", Role: Hub, Code: "internal/scan (org.go): internal/lambdafn with KEYCYCLE_OUS, internal/cli with accounts.ous",
		Why: "list the accounts of the selected organizational units, recursively",
		Actions: []Action{
			{Name: "organizations:ListAccountsForParent"}, {Name: "organizations:ListOrganizationalUnitsForParent"},
		},
		scope: func(s *Settings) []scope {
			return when(s.Discovery == DiscoverOUs, scope{Resources: []string{"*"}}) // no resource-level permissions
		},
	},
	{Sid: "ReadAccountTags", Role: Hub, Code: "internal/scan (org.go), internal/cli (accounts.tags)",
		Why: "read the accounts' Organizations tags to select them",
		Actions: []Action{
			{Name: "organizations:ListTagsForResource"},
		},
		scope: func(s *Settings) []scope { return when(s.AccountTags, scope{Resources: []string{"*"}}) },
	},
	{Sid: "AssumeMemberRole", Role: Hub, Code: "internal/job (fleet.go)",
		Why: "assume the member role in each account worked on (sessions cached)",
		Actions: []Action{
			{Name: "sts:AssumeRole"},
		},
		scope: func(s *Settings) []scope { return when(true, scope{Resources: []string{s.memberRoleARN()}}) },
	},
	{Sid: "EnqueueWork", Role: Hub, Code: "internal/lambdafn (schedule: account queue; account planner: work queue)",
		Why: "enqueue one message per account for the planners, and one FIFO message per user with work",
		Actions: []Action{
			{Name: "sqs:SendMessageBatch"},
		},
		scope: func(s *Settings) []scope {
			return when(s.Engine == EngineLambda, scope{Resources: s.workQueues()})
		},
	},
	{Sid: "ScheduleCleanup", Role: Hub, Code: "internal/lambdafn (cleanup.go)",
		Why: "after a rotation or deactivation, send the user's follow-up to the cleanup queue with a delivery delay (the short cleanup wait)",
		Actions: []Action{
			{Name: "sqs:SendMessage"},
		},
		scope: func(s *Settings) []scope {
			return when(s.Engine == EngineLambda && s.CleanupQueue, scope{Resources: []string{s.cleanupQueueARN()}})
		},
	},
	{Sid: "ConsumeWork", Role: Hub, Code: "the Lambda event source mappings of the work queue and the account queue (and the cleanup queue)",
		Why: "the Lambda service polls the queues with the functions' role and deletes what the functions handled",
		Actions: []Action{
			{Name: "sqs:ReceiveMessage", Caller: Runtime}, {Name: "sqs:DeleteMessage", Caller: Runtime},
			{Name: "sqs:GetQueueAttributes", Caller: Runtime},
		},
		scope: func(s *Settings) []scope {
			return when(s.Engine == EngineLambda, scope{Resources: s.queues()})
		},
	},
	{Sid: "WriteReport", Role: Hub, Code: "internal/lambdafn (report.go): the schedule, and the planners of the two-level fan-out",
		Why: "write the scheduled report (JSON and HTML, dated and latest) under the report prefix of the report bucket",
		Actions: []Action{
			{Name: "s3:PutObject"},
		},
		scope: func(s *Settings) []scope {
			return when(s.Engine == EngineLambda && s.ReportBucket != "", scope{Resources: []string{s.reportObjectsARN()}})
		},
	},
	// Selftest (`keycycle policy --selftest`): on top of the member policy, the throwaway user.
	{Sid: "SelftestUser", Role: Selftest, Code: "internal/selftest",
		Why: "create the throwaway selftest user under path /keycycle-selftest/ with a key and a console password, drive keycycle through its lifecycle, and delete it",
		Actions: []Action{
			{Name: "iam:CreateUser"}, {Name: "iam:DeleteUser"}, {Name: "iam:TagUser"}, {Name: "iam:UntagUser"},
			{Name: "iam:ListUserTags"}, {Name: "iam:GetUser"}, {Name: "iam:ListGroupsForUser"},
			{Name: "iam:CreateAccessKey"}, {Name: "iam:UpdateAccessKey"}, {Name: "iam:DeleteAccessKey"},
			{Name: "iam:ListAccessKeys"}, {Name: "iam:GetAccessKeyLastUsed"},
			{Name: "iam:CreateLoginProfile"}, {Name: "iam:GetLoginProfile"}, {Name: "iam:UpdateLoginProfile"},
			{Name: "iam:DeleteLoginProfile"},
		},
		scope: func(s *Settings) []scope {
			return when(true, scope{Resources: []string{s.userARN("/keycycle-selftest/", "*")}})
		},
	},
	{Sid: "SelftestFind", Role: Selftest, Code: "internal/selftest (--cleanup, --resume)",
		Why: "find leftover selftest users by their path and tag; read the account's password policy for the first password",
		Actions: []Action{
			{Name: "iam:ListUsers"}, {Name: "iam:GetAccountPasswordPolicy"},
		},
		scope: func(s *Settings) []scope { return when(true, scope{Resources: []string{"*"}}) },
	},
	{Sid: "SelftestSecrets", Role: Selftest, Code: "internal/selftest (cleanup)",
		Why: "delete the secrets the sinks wrote for the selftest user",
		Actions: []Action{
			{Name: "secretsmanager:DeleteSecret"},
		},
		scope: func(s *Settings) []scope { return when(len(s.Secrets) > 0, scope{Resources: s.Secrets}) },
	},
	{Sid: "SelftestMarker", Role: Selftest, Code: "internal/selftest (selftest.allowed_tag)",
		Why: "read the account's keycycle:selftest-allowed marker tag in AWS Organizations",
		Actions: []Action{
			{Name: "organizations:ListTagsForResource"},
		},
		scope: func(s *Settings) []scope { return when(s.MarkerTag, scope{Resources: []string{"*"}}) },
	},
	{Sid: "WriteLogs", Role: Hub, Code: "the Lambda runtime",
		Why: "the functions' log lines go to their log groups (created by the deployment, with their retention)",
		Actions: []Action{
			{Name: "logs:CreateLogStream", Caller: Runtime}, {Name: "logs:PutLogEvents", Caller: Runtime},
		},
		scope: func(s *Settings) []scope {
			return when(s.Engine == EngineLambda, scope{Resources: s.logStreamsARN()})
		},
	},
}

// Paths returns the declaration (copies; the scoping rules stay inside the package).
func Paths() []Path {
	out := make([]Path, len(paths))
	copy(out, paths)
	for i := range out {
		out[i].scope = nil
	}
	return out
}

// OperationAction maps an API operation as the sandbox records it (service and operation) to the
// IAM action declared for it, called by keycycle's code or by the Lambda runtime; ok is false for
// an operation no path declares. Operations in NoPermission map to "" and true.
func OperationAction(service, operation string) (string, bool) {
	op := service + "/" + operation
	for _, n := range NoPermission {
		if n == op {
			return "", true
		}
	}
	for _, p := range paths {
		for _, a := range p.Actions {
			if a.Caller == Service {
				continue // the service calls it, not a client: nothing to record
			}
			want := a.Operation
			if want == "" {
				prefix, name, _ := strings.Cut(a.Name, ":")
				want = prefix + "/" + name
			}
			if want == op {
				return a.Name, true
			}
		}
	}
	return "", false
}
