package iampolicy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
	"github.com/keycycle/keycycle/internal/cli"
	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/iampolicy"
	"github.com/keycycle/keycycle/internal/job"
	"github.com/keycycle/keycycle/internal/lambdafn"
	"github.com/keycycle/keycycle/internal/policy"
	"github.com/keycycle/keycycle/internal/rotation"
	"github.com/keycycle/keycycle/internal/sink"
	"github.com/keycycle/keycycle/internal/throttle"
)

const (
	hubAccount = "111111111111"
	acctA      = "222222222222"
	acctB      = "333333333333"
	hookEnv    = "KEYCYCLE_TEST_WEBHOOK_KEY"
	topicARN   = "arn:aws:sns:us-east-1:" + acctA + ":keycycle-events"
)

// recordingScenario: a hub (the organization's management account, which holds the work queue)
// and two member accounts with the member role. In A: alice is due and can receive encrypted
// mail, fragile is due under a rule whose delivery fails (a rollback), soon gets a warning,
// forced is young (force-rotated). In B: bob is due.
// reportBucket is the hub's report bucket in the run with every sink.
const reportBucket = "keycycle-reports"

const recordingScenario = `
start: 2026-11-21T09:00:00Z
accounts:
  - id: "111111111111"
    alias: hub
    buckets: [{name: keycycle-reports}]
    queues:
      - {name: keycycle-dlq.fifo, attributes: {FifoQueue: "true"}}
      - {name: keycycle.fifo, attributes: {FifoQueue: "true", VisibilityTimeout: "900"}}
      - {name: keycycle-cleanup}
      - {name: keycycle-accounts-dlq}
      - name: keycycle-accounts
        attributes:
          VisibilityTimeout: "900"
          RedrivePolicy: '{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:111111111111:keycycle-accounts-dlq","maxReceiveCount":3}'
  - id: "222222222222"
    alias: member-a
    roles: [{name: KeycycleMember, trusted_accounts: ["111111111111"]}]
    users:
      - {name: alice, tags: {owner: alice@example.com}, access_keys: [{age_days: 100, status: Active}]}
      - {name: fragile, path: /fragile/, tags: {owner: ops@example.com}, access_keys: [{age_days: 100, status: Active}]}
      - {name: soon, tags: {owner: soon@example.com}, access_keys: [{age_days: 80, status: Active}]}
      - {name: forced, tags: {owner: forced@example.com}, access_keys: [{age_days: 5, status: Active}]}
      - name: console
        tags: {owner: console@example.com}
        login_profile: {age_days: 300, password_age_days: 70, last_used_days_ago: 1}
      - name: idle
        tags: {owner: idle@example.com}
        login_profile: {age_days: 300, password_age_days: 10, last_used_days_ago: 100}
    functions:
      - name: handler
      - {name: broken, error: boom, error_type: HandlerError}
  - id: "333333333333"
    alias: member-b
    roles: [{name: KeycycleMember, trusted_accounts: ["111111111111"]}]
    users:
      - {name: bob, tags: {owner: bob@example.com}, access_keys: [{age_days: 120, status: Active}]}
    functions:
      - name: handler
organization:
  management_account: "111111111111"
  account_tags:
    "222222222222": {keycycle: enabled}
    "333333333333": {keycycle: enabled}
  ous:
    - {name: Members, accounts: ["222222222222", "333333333333"]}
`

// everything enables every sink and notification channel the code has, with KMS keys, and a
// rule whose required handler fails so that every sink rolls back.
const everything = `
dry_run: false
secret:
  kms_key_id: alias/keycycle
rules:
  - name: fragile
    match: {paths: [/fragile/]}
    delivery:
      - type: secretsmanager
      - type: ssm
        kms_key_id: alias/keycycle-ssm
      - type: lambda
        function: broken
delivery:
  - type: secretsmanager
  - type: ssm
    kms_key_id: alias/keycycle-ssm
  - type: lambda
    function: handler
    metadata: {alice: {team: payments}}
  - type: webhook
    url: {hook}/keycycle
    signing_secret_env: KEYCYCLE_TEST_WEBHOOK_KEY
    required: false
  - type: email
    from: keycycle@example.com
    required: false
notify:
  email: {from: keycycle@example.com}
  sns: {topic_arn: "` + topicARN + `"}
`

// cliFleet is `keycycle apply` over the organization's accounts that carry a tag.
const cliFleet = `
dry_run: false
accounts:
  source: organization
  role: KeycycleMember
  exclude: ["111111111111"]
  tags: {keycycle: enabled}
  rate_limit: {reads_per_second: 1000, read_burst: 1000, writes_per_second: 1000, write_burst: 1000}
`

// TestPolicyIsExactlyWhatTheCodeCalls runs the Lambda engine end to end against the sandbox
// (schedule, the event source mapping, the worker, force, notifications, and later runs that
// deactivate and delete) and compares every call the sandbox recorded, by role, with the policy
// `keycycle policy` prints for the same configuration: nothing called may be missing from it,
// and nothing in it may go uncalled (except what AWS services and the Lambda runtime call on
// keycycle's behalf, which the sandbox does not see; those must follow from a recorded call).
func TestPolicyIsExactlyWhatTheCodeCalls(t *testing.T) {
	for _, tc := range []struct {
		name      string
		engine    iampolicy.Engine
		config    string
		discovery iampolicy.Discovery
		notify    bool
		roles     []iampolicy.Role
	}{
		{name: "organization with every sink and channel", config: everything, discovery: iampolicy.DiscoverOrganization, notify: true},
		{name: "organizational units with the defaults", config: "dry_run: false\n", discovery: iampolicy.DiscoverOUs},
		// The member role's paths are the same as above; this variant checks the CLI's hub.
		{name: "CLI across the organization, by account tag", engine: iampolicy.EngineCLI, config: cliFleet,
			roles: []iampolicy.Role{iampolicy.Hub}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			engine := tc.engine
			if engine == "" {
				engine = iampolicy.EngineLambda
			}
			called := runEngine(t, engine, tc.config, tc.discovery, tc.notify)
			cfg := called.cfg
			roles := tc.roles
			if roles == nil {
				roles = []iampolicy.Role{iampolicy.Hub, iampolicy.Member}
			}
			for _, role := range roles {
				// The run with every sink also has the cleanup queue (the CDK construct's short waits).
				// ... and the report bucket.
				o := iampolicy.Options{Discovery: tc.discovery, Engine: engine, CleanupQueue: tc.notify, Check: tc.notify}
				if tc.notify {
					o.ReportBucket = reportBucket
				}
				doc, err := iampolicy.Policy(cfg, role, o)
				if err != nil {
					t.Fatal(err)
				}
				granted := map[string]bool{}
				for _, a := range doc.Actions() {
					granted[a] = true
				}
				got := called.byRole[role]
				for a := range got {
					if !granted[a] {
						t.Errorf("%s: the code called %s, which `keycycle policy --role %s` does not grant", role, a, role)
					}
				}
				for a := range granted {
					if got[a] {
						continue
					}
					if why, ok := calledOnBehalf(a, role, got); ok {
						t.Logf("%s: %s not recorded: %s", role, a, why)
						continue
					}
					t.Errorf("%s: the policy grants %s, which the code never called", role, a)
				}
			}
		})
	}
}

// calledOnBehalf says why a granted action the sandbox did not record is still needed: an AWS
// service calls it while serving a recorded call, or the Lambda runtime calls it.
func calledOnBehalf(action string, role iampolicy.Role, recorded map[string]bool) (string, bool) {
	for _, p := range iampolicy.Paths() {
		if p.Role != role {
			continue
		}
		for _, a := range p.Actions {
			if a.Name != action {
				continue
			}
			switch a.Caller {
			case iampolicy.Runtime:
				return "the Lambda runtime calls it (" + p.Code + ")", true
			case iampolicy.Service:
				for _, v := range a.Via {
					if recorded[v] {
						return "called by the service while serving " + v, true
					}
				}
			}
		}
	}
	return "", false
}

type recording struct {
	cfg    *config.Config
	byRole map[iampolicy.Role]map[string]bool
}

// runEngine builds the Lambda handler from its environment, as cmd/keycycle-lambda does, drives
// it through a rotation's whole life, and returns the IAM actions of the recorded calls by role.
// With the CLI engine it runs `keycycle apply` across the organization instead.
func runEngine(t *testing.T, engine iampolicy.Engine, cfgYAML string, discovery iampolicy.Discovery, withNotify bool) recording {
	sb, hub := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, recordingScenario))
	ctx := context.Background()
	hook := awssimtest.StartWebhook(t, sb)
	t.Setenv(hookEnv, "webhook-hmac-key")

	// Set-up with each account's operator, before recording: the SES senders, the topic, the
	// owner's age recipient, the queue URL and the OU id.
	for _, a := range []string{acctA, acctB} {
		if _, err := sesv2.NewFromConfig(sb.AccountConfig(t, a)).CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("example.com")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sns.NewFromConfig(sb.AccountConfig(t, acctA)).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("keycycle-events")}); err != nil {
		t.Fatal(err)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iam.NewFromConfig(sb.AccountConfig(t, acctA)).TagUser(ctx, &iam.TagUserInput{UserName: aws.String("alice"),
		Tags: []iamtypes.Tag{{Key: aws.String(sink.DefaultRecipientTag), Value: aws.String(id.Recipient().String())}}}); err != nil {
		t.Fatal(err)
	}
	q := sqs.NewFromConfig(hub)
	qu, err := q.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("keycycle.fifo")})
	if err != nil {
		t.Fatal(err)
	}
	queueURL := aws.ToString(qu.QueueUrl)
	aq, err := q.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(iampolicy.AccountQueueName("keycycle"))})
	if err != nil {
		t.Fatal(err)
	}
	accountQueueURL := aws.ToString(aq.QueueUrl)
	org := organizations.NewFromConfig(hub)
	roots, err := org.ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil {
		t.Fatal(err)
	}
	ous, err := org.ListOrganizationalUnitsForParent(ctx, &organizations.ListOrganizationalUnitsForParentInput{ParentId: roots.Roots[0].Id})
	if err != nil || len(ous.OrganizationalUnits) != 1 {
		t.Fatalf("OUs: %v %+v", err, ous)
	}

	keys := func(acct, user string) int {
		ks, _ := sb.Keys(acct, user)
		return len(ks)
	}

	// The function's environment.
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "keycycle.yaml")
	if err := os.WriteFile(cfgPath, []byte(strings.ReplaceAll(cfgYAML, "{hook}", hook.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	op, _ := sb.OperatorCredential(hubAccount)
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": sb.URL, "AWS_ACCESS_KEY_ID": op.AccessKeyID, "AWS_SECRET_ACCESS_KEY": op.SecretAccessKey,
		"AWS_SESSION_TOKEN": "", "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_CONFIG_FILE": filepath.Join(dir, "aws-config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "aws-credentials"),
	} {
		t.Setenv(k, v)
	}
	t.Setenv("AWS_PROFILE", "")
	os.Unsetenv("AWS_PROFILE") // restored by t.Setenv's clean-up
	env := map[string]string{
		lambdafn.EnvConfig: cfgPath, lambdafn.EnvQueueURL: queueURL, lambdafn.EnvAccountQueueURL: accountQueueURL,
		lambdafn.EnvRole:   iampolicy.DefaultMemberRole,
		lambdafn.EnvDryRun: "false",
	}
	if withNotify {
		cq, err := q.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("keycycle-cleanup")})
		if err != nil {
			t.Fatal(err)
		}
		env[lambdafn.EnvCleanupQueueURL], env[lambdafn.EnvCleanupWait] = aws.ToString(cq.QueueUrl), "300"
		env[lambdafn.EnvReportBucket] = reportBucket
	}
	switch discovery {
	case iampolicy.DiscoverOUs:
		env[lambdafn.EnvOUs] = aws.ToString(ous.OrganizationalUnits[0].Id)
	case iampolicy.DiscoverOrganization:
		env[lambdafn.EnvExclude] = hubAccount // the management account has no member role
	}
	sb.ResetStats()
	if engine == iampolicy.EngineCLI {
		// keycycle apply across the organization's accounts, signed by the hub's credentials.
		// Several accounts' workers write to stderr at once, as to a terminal.
		var out, errOut lockedBuffer
		if code := cli.Main(ctx, []string{"apply", "--config", cfgPath, "--yes", "--dry-run=false"}, &out, &errOut); code != 0 {
			t.Fatalf("keycycle apply: exit %d\n%s%s", code, out.String(), errOut.String())
		}
		if keys(acctA, "alice") != 2 || keys(acctB, "bob") != 2 {
			t.Fatalf("apply rotated nothing:\n%s", out.String())
		}
		return record(t, sb, cfg)
	}
	// instance starts a Lambda instance: a new one after each jump of the sandbox clock, whose
	// cached role sessions would otherwise outlive their expiry on the sandbox's time.
	var h *lambdafn.Handler
	instance := func() {
		t.Helper()
		var err error
		if h, err = lambdafn.FromEnv(ctx, func(k string) string { return env[k] }); err != nil {
			t.Fatal(err)
		}
		// Fast waits for the sandbox: report polls, key verification, webhook retries.
		h.Fleet.Runner.ReportPoll = 5 * time.Millisecond
		h.Fleet.Runner.Verify = job.Verify{Interval: 10 * time.Millisecond, Timeout: 5 * time.Second}
		h.Fleet.Runner.Delivery.Backoff = time.Millisecond
		h.Fleet.Limits = throttle.NewRegistry(throttle.Limits{Read: throttle.Budget{PerSecond: 1000, Burst: 1000},
			Write: throttle.Budget{PerSecond: 1000, Burst: 1000}})
	}
	instance()

	// drain does what an event source mapping does with the function's (hub) role: read the
	// queue, invoke the function with a batch, delete what it did not report as failed.
	var drain func(queueURL string) (handled, failed int)
	schedule := func() lambdafn.Report {
		t.Helper()
		out, err := h.Handle(ctx, json.RawMessage(`{"detail-type":"Scheduled Event","source":"aws.events","detail":{}}`))
		if err != nil {
			t.Fatal(err)
		}
		rep := out.(lambdafn.Report)
		if len(rep.Errors) > 0 || rep.Queued != 2 {
			t.Fatalf("schedule: %+v", rep)
		}
		// The account planners, on the account queue.
		if handled, failed := drain(accountQueueURL); handled != 2 || failed != 0 {
			t.Fatalf("planners: %d handled, %d failed", handled, failed)
		}
		return rep
	}
	drain = func(queueURL string) (handled, failed int) {
		t.Helper()
		if _, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(queueURL)}); err != nil {
			t.Fatal(err)
		}
		for {
			out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Messages) == 0 {
				return handled, failed
			}
			var ev events.SQSEvent
			for _, m := range out.Messages {
				ev.Records = append(ev.Records, events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
					Body: aws.ToString(m.Body), EventSource: "aws:sqs"})
			}
			raw, _ := json.Marshal(ev)
			res, err := h.Handle(ctx, raw)
			if err != nil {
				t.Fatal(err)
			}
			bad := map[string]bool{}
			for _, f := range res.(events.SQSEventResponse).BatchItemFailures {
				bad[f.ItemIdentifier] = true
			}
			for _, m := range out.Messages {
				if bad[aws.ToString(m.MessageId)] {
					failed++
					continue
				}
				handled++
				if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}

	esm := func() (handled, failed int) { return drain(queueURL) }

	// Day 0: rotate the due users; fragile's delivery fails and is rolled back; bob's rotation
	// is interrupted after its key was staged (the promotion fails, as if the worker had died).
	if err := sb.SetFaults(awssim.Faults{Errors: []awssim.ErrorRule{{Match: awssim.Match{Service: "secretsmanager",
		Action: "UpdateSecretVersionStage", Account: acctB}, Code: "InvalidRequestException", Status: 400}}}); err != nil {
		t.Fatal(err)
	}
	schedule()
	handled, failed := esm()
	fragileFails := 0
	if withNotify {
		fragileFails = 1
	}
	if failed != 1+fragileFails || handled < 2 {
		t.Fatalf("worker: %d handled, %d failed", handled, failed)
	}
	if keys(acctA, "alice") != 2 || keys(acctB, "bob") != 2 || keys(acctA, "fragile") != 2-fragileFails {
		t.Fatalf("after rotation: alice %d, bob %d, fragile %d keys", keys(acctA, "alice"), keys(acctB, "bob"), keys(acctA, "fragile"))
	}
	// The next run in B resumes bob's rotation from the staged secret.
	if err := sb.SetFaults(awssim.Faults{}); err != nil {
		t.Fatal(err)
	}
	rb := h.Fleet.Runner
	rb.AWS = h.Fleet.Config(acctB)
	sc, err := rb.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := rb.Apply(ctx, sc.Plan, false)
	if err != nil || len(res) != 1 || res[0].Outcome != rotation.Resumed {
		t.Fatalf("resume bob: %v %+v", err, res)
	}
	// A force request through the queue's message format, for a young key.
	out, err := h.Handle(ctx, json.RawMessage(`{"keycycle":"force","account_id":"`+acctA+`","user":"forced"}`))
	if err != nil || len(out.(lambdafn.Report).Errors) > 0 {
		t.Fatalf("force: %v %+v", err, out)
	}
	if keys(acctA, "forced") != 2 {
		t.Fatal("force rotated nothing")
	}
	// A run in A as the CLI's apply makes it, then notifications (the CLI's path to them).
	ra := h.Fleet.Runner
	ra.AWS = h.Fleet.Config(acctA)
	if withNotify {
		ra.Notify = job.Notify{Notify: config.Notify{Email: config.Email{From: cfg.Notify.Email.From}, SNSTopicARN: cfg.Notify.SNSTopicARN}}
	}
	sa, err := ra.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	resA, err := ra.Apply(ctx, sa.Plan, false)
	if err != nil {
		t.Fatal(err)
	}
	if withNotify {
		// The pre-flight (keycycle check, and apply before it changes anything), as the member role.
		if ps := ra.Check(ctx, cfg, job.CheckOptions{}); len(ps) > 0 {
			t.Fatalf("pre-flight check: %v", ps)
		}
		rep := ra.NotifyRun(ctx, sa.Account, sa.Plan, resA, false)
		if err := rep.Err(); err != nil || len(rep.Events) == 0 || len(rep.Channels) != 2 {
			t.Fatalf("notify: %v %+v", err, rep)
		}
	}

	// Day 11: the old keys are deactivated; day 22: deleted.
	for _, want := range []string{"Inactive", ""} {
		sb.Clock().Advance(11 * policy.Day)
		instance()
		schedule()
		esm()
		ks, _ := sb.Keys(acctB, "bob")
		switch {
		case want == "Inactive" && (len(ks) != 2 || ks[0].Status != "Inactive"):
			t.Fatalf("day 11: bob's keys %+v", ks)
		case want == "" && len(ks) != 1:
			t.Fatalf("day 22: bob's keys %+v", ks)
		}
	}
	return record(t, sb, cfg)
}

// record maps the sandbox's recorded calls to IAM actions by role: the hub account's calls are
// the hub role's, the member accounts' the member role's.
func record(t *testing.T, sb *awssimtest.Sandbox, cfg *config.Config) recording {
	t.Helper()
	rec := recording{cfg: cfg, byRole: map[iampolicy.Role]map[string]bool{iampolicy.Hub: {}, iampolicy.Member: {}}}
	var unknown []string
	for acct, svcs := range sb.Stats().Calls {
		role := iampolicy.Member
		if acct == hubAccount {
			role = iampolicy.Hub
		}
		for svc, ops := range svcs {
			for op := range ops {
				action, ok := iampolicy.OperationAction(svc, op)
				switch {
				case !ok:
					unknown = append(unknown, svc+"/"+op)
				case action != "":
					rec.byRole[role][action] = true
				}
			}
		}
	}
	sort.Strings(unknown)
	if len(unknown) > 0 {
		t.Errorf("the code called operations no path in internal/iampolicy declares: %v", unknown)
	}
	return rec
}

// lockedBuffer is a bytes.Buffer safe for concurrent writes, like a terminal or a file.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
