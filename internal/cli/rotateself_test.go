package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
	"github.com/keycycle/keycycle/internal/exitcode"
)

const selfScenario = `
start: 2026-11-21T09:00:00Z
accounts:
  - id: "111111111111"
    users:
      - name: alice
        tags: {owner: alice@example.com}
        access_keys:
          - {age_days: 95, status: Active, last_used_days_ago: 1}
      - name: bob
        access_keys:
          - {age_days: 95, status: Active, last_used_days_ago: 1}
    functions:
      - name: handler
`

// selfEnv starts a sandbox reached through the environment, with HOME a temporary directory and
// no AWS_SHARED_CREDENTIALS_FILE, so that ~/.aws/credentials is the file rotate-self edits.
func selfEnv(t *testing.T, opts ...awssimtest.Option) (*awssimtest.Sandbox, string) {
	t.Helper()
	sb, _ := awssimtest.Start(t, append([]awssimtest.Option{awssimtest.WithScenarioYAML(t, selfScenario)}, opts...)...)
	cred, _ := sb.OperatorCredential("111111111111")
	home := t.TempDir()
	for k, v := range map[string]string{
		"HOME": home, "AWS_ENDPOINT_URL": sb.URL, "AWS_REGION": "us-east-1", "AWS_PROFILE": "", "AWS_SESSION_TOKEN": "",
		"AWS_ACCESS_KEY_ID": cred.AccessKeyID, "AWS_SECRET_ACCESS_KEY": cred.SecretAccessKey,
		"AWS_CONFIG_FILE": filepath.Join(home, ".aws", "config"), "AWS_SHARED_CREDENTIALS_FILE": "",
	} {
		t.Setenv(k, v)
	}
	return sb, home
}

// credentialsFor writes ~/.aws/credentials with the user's key in profile work between others.
func credentialsFor(t *testing.T, sb *awssimtest.Sandbox, home, user string) (path, content string, old awssim.KeyInfo) {
	t.Helper()
	keys, _ := sb.Keys("111111111111", user)
	old = keys[0]
	content = "# personal keys\n[default]\naws_access_key_id = AKIAEXAMPLEEXAMPLE01\naws_secret_access_key = untouched/default\n\n" +
		"[work]\n# rotated by keycycle rotate-self\nregion = us-east-1\naws_access_key_id = " + old.AccessKeyID + "\naws_secret_access_key=" + old.SecretAccessKey +
		"\ncli_pager =\n\n[zeta]\naws_access_key_id = AKIAEXAMPLEEXAMPLE02\naws_secret_access_key = untouched/zeta\n"
	path = filepath.Join(home, ".aws", "credentials")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	return path, content, old
}

func TestRotateSelfRewritesOnlyItsProfile(t *testing.T) {
	sb, home := selfEnv(t)
	path, before, old := credentialsFor(t, sb, home, "alice")

	// Not a terminal and no --yes: refused, nothing changed.
	r := runMain(t, "yes\n", "rotate-self", "--profile", "work")
	if r.code != 2 || !strings.Contains(r.stderr, "not a terminal") {
		t.Fatalf("without --yes: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if b, _ := os.ReadFile(path); string(b) != before {
		t.Fatal("a refused rotate-self changed the file")
	}

	r = runMain(t, "", "rotate-self", "--profile", "work", "--yes")
	if r.code != 0 || !strings.Contains(r.stdout, "Rotated:") || !strings.Contains(r.stdout, "is deactivated") {
		t.Fatalf("rotate-self: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	keys, _ := sb.Keys("111111111111", "alice")
	if len(keys) != 2 || keys[0].AccessKeyID != old.AccessKeyID || keys[0].Status != "Inactive" || keys[1].Status != "Active" {
		t.Fatalf("keys after rotate-self: %+v", keys)
	}
	nk := keys[1]
	b, _ := os.ReadFile(path)
	// The sandbox does not give created keys' secrets back: read it from the file.
	_, rest, _ := strings.Cut(string(b), "[work]")
	_, rest, _ = strings.Cut(rest, "aws_secret_access_key=")
	nk.SecretAccessKey, _, _ = strings.Cut(rest, "\n")
	want := strings.Replace(strings.Replace(before, old.AccessKeyID, nk.AccessKeyID, 1), old.SecretAccessKey, nk.SecretAccessKey, 1)
	if len(nk.SecretAccessKey) != 40 || string(b) != want {
		t.Fatalf("file after rotate-self:\n%s\nwant\n%s", b, want)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v", st.Mode().Perm())
	}
	// The file's key works.
	cfg := sb.Config(nk.AccessKeyID, nk.SecretAccessKey, "")
	if _, err := sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("the new key does not authenticate: %v", err)
	}
	for _, s := range []string{old.SecretAccessKey, nk.SecretAccessKey} {
		if strings.Contains(r.stdout+r.stderr, s) {
			t.Fatal("a secret reached the output")
		}
	}

	// Again: the user now has two keys; refused, nothing changed.
	r = runMain(t, "", "rotate-self", "--profile", "work", "--yes")
	if r.code != 1 || !strings.Contains(r.stderr, "no room for a new key") {
		t.Fatalf("third key: exit %d\n%s", r.code, r.stderr)
	}
	if b2, _ := os.ReadFile(path); string(b2) != string(b) {
		t.Fatal("a refused rotation changed the file")
	}
}

func TestRotateSelfDeleteAndDefaultProfile(t *testing.T) {
	sb, home := selfEnv(t)
	path, _, old := credentialsFor(t, sb, home, "bob")
	t.Setenv("AWS_PROFILE", "work")
	r := runMain(t, "", "rotate-self", "--yes", "--delete")
	if r.code != 0 || !strings.Contains(r.stdout, "is deleted") {
		t.Fatalf("rotate-self --delete: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	keys, _ := sb.Keys("111111111111", "bob")
	if len(keys) != 1 || keys[0].AccessKeyID == old.AccessKeyID {
		t.Fatalf("keys %+v", keys)
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), "aws_access_key_id = "+keys[0].AccessKeyID+"\n") {
		t.Fatalf("file:\n%s", b)
	}
}

func TestRotateSelfFailureLeavesTheFileAsItWas(t *testing.T) {
	// GetCallerIdentity #1 tells whose key it is; every later call (the new key's checks) fails.
	sb, home := selfEnv(t, awssimtest.WithFaults(awssim.Faults{Errors: []awssim.ErrorRule{
		{Match: awssim.Match{Service: "sts", Action: "GetCallerIdentity"}, Code: "InvalidClientTokenId", Status: 403, Nth: 2, Times: 1000},
	}}))
	path, before, old := credentialsFor(t, sb, home, "alice")
	r := runMain(t, "", "rotate-self", "--profile", "work", "--yes", "--verify-timeout", "300ms")
	if r.code != 1 || !strings.Contains(r.stderr, "did not authenticate") || !strings.Contains(r.stderr, "old key is untouched") {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if b, _ := os.ReadFile(path); string(b) != before {
		t.Fatalf("the file changed:\n%s", b)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v", st.Mode().Perm())
	}
	keys, _ := sb.Keys("111111111111", "alice")
	if len(keys) != 1 || keys[0].AccessKeyID != old.AccessKeyID || keys[0].Status != "Active" {
		t.Fatalf("keys %+v: the new key must be deleted, the old one untouched", keys)
	}
	if left, _ := filepath.Glob(filepath.Join(home, ".aws", ".*")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

func TestRotateSelfRefusesWhatItCannotRotate(t *testing.T) {
	sb, home := selfEnv(t)
	credentialsFor(t, sb, home, "alice")
	r := runMain(t, "", "rotate-self", "--profile", "missing", "--yes")
	if r.code == 0 || !strings.Contains(r.stderr, "no profile missing") || !strings.Contains(r.stderr, "Nothing was changed") {
		t.Fatalf("missing profile: exit %d\n%s", r.code, r.stderr)
	}
	// The operator (root) credential is not an IAM user's key.
	cred, _ := sb.OperatorCredential("111111111111")
	root := "[root]\naws_access_key_id = " + cred.AccessKeyID + "\naws_secret_access_key = " + cred.SecretAccessKey + "\n"
	if err := os.WriteFile(filepath.Join(home, ".aws", "credentials"), []byte(root), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runMain(t, "", "rotate-self", "--profile", "root", "--yes")
	if r.code != 1 || !strings.Contains(r.stderr, "not as an IAM user") {
		t.Fatalf("root: exit %d\n%s", r.code, r.stderr)
	}
}

// TestNoSecretInAnySinkOutput rotates with every sink configured and looks for the secret in
// everything keycycle wrote or sent: stdout, stderr, the audit trail, Lambda payloads, webhook
// requests (body and headers) and mails. The webhook carries it only with include_secret.
func TestNoSecretInAnySinkOutput(t *testing.T) {
	ctx := context.Background()
	sb, home := selfEnv(t)
	cfg := sb.AccountConfig(t, "111111111111")
	if _, err := sesv2.NewFromConfig(cfg).CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("example.com")}); err != nil {
		t.Fatal(err)
	}
	id, _ := age.GenerateX25519Identity()
	if _, err := iam.NewFromConfig(cfg).TagUser(ctx, &iam.TagUserInput{UserName: aws.String("alice"),
		Tags: []iamtypes.Tag{{Key: aws.String("keycycle:age-recipient"), Value: aws.String(id.Recipient().String())}}}); err != nil {
		t.Fatal(err)
	}
	hook := awssimtest.StartWebhook(t, sb)
	t.Setenv("HOOK_KEY", "hmac-signing-key")
	conf := filepath.Join(home, "keycycle.yaml")
	auditFile := filepath.Join(home, "audit.jsonl")
	if err := os.WriteFile(conf, []byte(`selection:
  include: [{users: [alice]}]
delivery:
  - type: secretsmanager
  - type: ssm
  - type: lambda
    function: handler
    metadata: {alice: {team: payments}}
  - type: webhook
    url: `+hook.URL+`/keycycle?token=not-for-logs
    signing_secret_env: HOOK_KEY
  - type: email
    from: keycycle@example.com
`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runMain(t, "", "apply", "--config", conf, "--yes", "--dry-run=false", "--audit", auditFile, "--verbose")
	if r.code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"rotated: new key delivered", "webhook", "delivered", "/keycycle/111111111111/alice", "lambda:handler"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("the report lacks %q:\n%s", want, r.stdout)
		}
	}
	keys, _ := sb.Keys("111111111111", "alice")
	if len(keys) != 2 {
		t.Fatalf("keys %+v", keys)
	}
	out, err := ssm.NewFromConfig(cfg).GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/keycycle/111111111111/alice"), WithDecryption: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ AccessKeyId, SecretAccessKey string }
	if err := json.Unmarshal([]byte(aws.ToString(out.Parameter.Value)), &v); err != nil || v.AccessKeyId != keys[1].AccessKeyID || len(v.SecretAccessKey) != 40 {
		t.Fatalf("the parameter must hold the new key: %v", err)
	}
	secrets := []string{keys[0].SecretAccessKey, v.SecretAccessKey, "hmac-signing-key"}

	var all strings.Builder
	all.WriteString(r.stdout + r.stderr)
	b, _ := os.ReadFile(auditFile)
	all.Write(b)
	ob := sb.Outbox()
	j, _ := json.Marshal(struct {
		L, W, E any
	}{ob.Lambda, ob.Webhooks, ob.Emails})
	all.Write(j)
	posts := 0 // the pre-flight check's HEAD asked whether the webhook answers; one POST delivered
	for _, w := range ob.Webhooks {
		if w.Method == "POST" {
			posts++
		}
	}
	if len(ob.Lambda) != 1 || posts != 1 || len(ob.Emails) != 1 {
		t.Fatalf("outbox: %d invocations, %d webhook POSTs, %d mails", len(ob.Lambda), posts, len(ob.Emails))
	}
	text := all.String()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Fatalf("a secret reached an output or a sink's message")
		}
	}
	if strings.Contains(r.stdout+r.stderr+string(b), "not-for-logs") {
		t.Fatal("the webhook URL's query reached the output")
	}

	// Configured explicitly, the webhook body carries the secret, and still nothing else does.
	if err := os.WriteFile(conf, []byte(`selection:
  include: [{users: [bob]}]
delivery:
  - type: secretsmanager
  - type: webhook
    url: `+hook.URL+`/keycycle
    signing_secret_env: HOOK_KEY
    include_secret: true
`), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runMain(t, "", "apply", "--config", conf, "--yes", "--dry-run=false", "--audit", auditFile, "--verbose")
	if r.code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	bob, _ := sb.Keys("111111111111", "bob")
	reqs := hook.Requests()
	var body struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
	}
	if err := json.Unmarshal(reqs[len(reqs)-1].Body, &body); err != nil || len(bob) != 2 || body.AccessKeyID != bob[1].AccessKeyID || len(body.SecretAccessKey) != 40 {
		t.Fatal("include_secret: the webhook body must carry the new secret")
	}
	if _, err := sts.NewFromConfig(sb.Config(body.AccessKeyID, body.SecretAccessKey, "")).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("the secret in the webhook body does not work: %v", err)
	}
	b, _ = os.ReadFile(auditFile)
	if strings.Contains(r.stdout+r.stderr+string(b), body.SecretAccessKey) {
		t.Fatal("the secret reached the CLI output or the audit trail")
	}
}

// A declined prompt changes nothing and exits 130; the prompt goes to the terminal.
func TestRotateSelfDeclined(t *testing.T) {
	sb, home := selfEnv(t)
	path, before, old := credentialsFor(t, sb, home, "alice")
	r, prompt := runTerm(t, context.Background(), "no\n", "rotate-self", "--profile", "work")
	if r.code != exitcode.Interrupted || !strings.Contains(prompt, "Only 'yes'") || !strings.Contains(r.stderr, "cancelled") {
		t.Fatalf("exit %d, prompt %q\n%s\n%s", r.code, prompt, r.stdout, r.stderr)
	}
	if b, _ := os.ReadFile(path); string(b) != before {
		t.Fatalf("the file changed:\n%s", b)
	}
	if keys, _ := sb.Keys("111111111111", "alice"); len(keys) != 1 || keys[0].AccessKeyID != old.AccessKeyID {
		t.Fatalf("keys changed: %+v", keys)
	}
}
