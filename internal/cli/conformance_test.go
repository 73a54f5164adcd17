package cli_test

// The AWS CLI conformance test: `keycycle sandbox` driven by the real AWS CLI (v1 from pip or v2
// from Debian's awscli package), checking the answers it parses, not only exit codes.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// awsCLI runs the AWS CLI against one sandbox with an isolated configuration.
type awsCLI struct {
	t        *testing.T
	sb       *sandbox
	bin      string
	endpoint string
	base     []string // environment without credentials
	op       cred     // the sandbox operator credential
}

type cred struct{ id, secret string }

func newAWSCLI(t *testing.T, sb *sandbox) *awsCLI {
	t.Helper()
	bin, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("aws CLI not found: install it with 'apt-get install -y awscli' (CI does)")
	}
	dir := t.TempDir()
	config, creds := filepath.Join(dir, "config"), filepath.Join(dir, "credentials")
	for _, f := range []string{config, creds} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"AWS_ENDPOINT_URL="+sb.url(),
		"AWS_REGION="+sb.env["AWS_REGION"],
		"AWS_DEFAULT_REGION="+sb.env["AWS_DEFAULT_REGION"], // AWS CLI v1 reads only this one
		"AWS_CONFIG_FILE="+config,
		"AWS_SHARED_CREDENTIALS_FILE="+creds,
		"AWS_PAGER=",
		"AWS_EC2_METADATA_DISABLED=true",
	)
	c := &awsCLI{t: t, sb: sb, bin: bin, endpoint: sb.url(), base: env,
		op: cred{sb.env["AWS_ACCESS_KEY_ID"], sb.env["AWS_SECRET_ACCESS_KEY"]}}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("aws --version: %v\n%s", err, out)
	}
	t.Logf("using %s", strings.TrimSpace(string(out)))
	return c
}

// exec runs `aws --endpoint-url URL --output json args...` signed with cr.
func (c *awsCLI) exec(cr cred, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, append([]string{"--endpoint-url", c.endpoint, "--output", "json"}, args...)...)
	cmd.Env = append(slices.Clip(c.base), "AWS_ACCESS_KEY_ID="+cr.id, "AWS_SECRET_ACCESS_KEY="+cr.secret)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// ok runs a command that must succeed and decodes its JSON answer into v (nil: no check).
// Failures print stderr only: stdout may hold a secret.
func (c *awsCLI) ok(cr cred, v any, args ...string) {
	c.t.Helper()
	stdout, stderr, err := c.exec(cr, args...)
	if err != nil {
		c.t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	if v == nil {
		return
	}
	if err := json.Unmarshal([]byte(stdout), v); err != nil {
		c.t.Fatalf("aws %s: decode answer: %v", strings.Join(args, " "), err)
	}
}

// fails runs a command that must fail with the AWS error code and returns its stderr.
func (c *awsCLI) fails(cr cred, code string, args ...string) {
	c.t.Helper()
	_, stderr, err := c.exec(cr, args...)
	if err == nil {
		c.t.Fatalf("aws %s succeeded, want %s", strings.Join(args, " "), code)
	}
	if !strings.Contains(stderr, "("+code+")") {
		c.t.Fatalf("aws %s: want error code %s, stderr:\n%s", strings.Join(args, " "), code, stderr)
	}
}

type accessKeyMeta struct {
	UserName        string
	AccessKeyId     string
	Status          string
	SecretAccessKey *string
	CreateDate      time.Time
}

func (c *awsCLI) keyStatus(user, id string) string {
	c.t.Helper()
	var list struct{ AccessKeyMetadata []accessKeyMeta }
	c.ok(c.op, &list, "iam", "list-access-keys", "--user-name", user)
	for _, k := range list.AccessKeyMetadata {
		if k.SecretAccessKey != nil {
			c.t.Errorf("list-access-keys shows a SecretAccessKey")
		}
		if k.AccessKeyId == id {
			return k.Status
		}
	}
	c.t.Fatalf("list-access-keys %s: key %s not listed", user, id)
	return ""
}

type lastUsed struct {
	UserName          string
	AccessKeyLastUsed struct {
		LastUsedDate *time.Time
		ServiceName  string
		Region       string
	}
}

func wait(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	<-t.C
}

// TestAWSCLIConformance drives the sandbox with the AWS CLI, one sandbox per service family, the
// families in parallel: each `aws` call is a fresh Python process, so this is the slowest test of
// the suite. It does not run under the race detector, which would watch only the sandbox's side of
// requests that the plain run (CI runs both) already checks; the SDK-level tests of
// internal/awssim do run under it.
func TestAWSCLIConformance(t *testing.T) {
	if raceEnabled {
		t.Skip("the AWS CLI conformance test runs in the plain `go test` run, not under -race")
	}
	t.Run("iam and sts", func(t *testing.T) {
		t.Parallel()
		checkIAM(t, newAWSCLI(t, startSandbox(t)))
	})
	t.Run("secrets manager", func(t *testing.T) {
		t.Parallel()
		checkSecretsManager(t, newAWSCLI(t, startSandbox(t)))
	})
	t.Run("s3", func(t *testing.T) {
		t.Parallel()
		sc := filepath.Join(t.TempDir(), "s3.yaml")
		if err := os.WriteFile(sc, []byte(s3Scenario), 0o600); err != nil {
			t.Fatal(err)
		}
		checkS3(t, newAWSCLI(t, startSandbox(t, "--scenario", sc)))
	})
}

// checkIAM covers users, keys and their last use, STS, the credential report and
// GetAccountAuthorizationDetails.
func checkIAM(t *testing.T, aws *awsCLI) {
	sb := aws.sb
	now := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC) // the built-in scenario's frozen clock

	// New keys take a moment to authenticate, as in IAM.
	resp, err := http.Post(sb.url()+"/_sandbox/faults", "application/json", strings.NewReader(`{"key_propagation_delay":"1s"}`))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("set faults: %v %v", err, resp)
	}
	resp.Body.Close()

	const user = "carol"
	var created struct {
		User struct {
			Path, UserName, UserId, Arn string
			CreateDate                  time.Time
			Tags                        []struct{ Key, Value string }
		}
	}
	aws.ok(aws.op, &created, "iam", "create-user", "--user-name", user, "--path", "/conformance/",
		"--tags", "Key=owner,Value=carol@example.com")
	wantARN := "arn:aws:iam::111111111111:user/conformance/" + user
	if u := created.User; u.UserName != user || u.Path != "/conformance/" || u.Arn != wantARN ||
		!strings.HasPrefix(u.UserId, "AIDA") || !u.CreateDate.Equal(now) ||
		len(u.Tags) != 1 || u.Tags[0].Key != "owner" || u.Tags[0].Value != "carol@example.com" {
		t.Fatalf("create-user = %+v", u)
	}

	var ck struct{ AccessKey accessKeyMeta }
	aws.ok(aws.op, &ck, "iam", "create-access-key", "--user-name", user)
	key := ck.AccessKey
	if key.UserName != user || len(key.AccessKeyId) != 20 || !strings.HasPrefix(key.AccessKeyId, "AKIA") ||
		key.Status != "Active" || key.SecretAccessKey == nil || len(*key.SecretAccessKey) != 40 || !key.CreateDate.Equal(now) {
		t.Fatalf("create-access-key: user %q id %q status %q created %v, secret present %v",
			key.UserName, key.AccessKeyId, key.Status, key.CreateDate, key.SecretAccessKey != nil)
	}
	userCred := cred{key.AccessKeyId, *key.SecretAccessKey}
	if got := aws.keyStatus(user, key.AccessKeyId); got != "Active" {
		t.Fatalf("list-access-keys: status %q, want Active", got)
	}

	// A deactivated key no longer authenticates; reactivated, it does again (below).
	aws.ok(aws.op, nil, "iam", "update-access-key", "--user-name", user, "--access-key-id", key.AccessKeyId, "--status", "Inactive")
	if got := aws.keyStatus(user, key.AccessKeyId); got != "Inactive" {
		t.Fatalf("after update-access-key --status Inactive: %q", got)
	}
	aws.fails(userCred, "InvalidClientTokenId", "sts", "get-caller-identity")
	aws.ok(aws.op, nil, "iam", "update-access-key", "--user-name", user, "--access-key-id", key.AccessKeyId, "--status", "Active")
	if got := aws.keyStatus(user, key.AccessKeyId); got != "Active" {
		t.Fatalf("after update-access-key --status Active: %q", got)
	}

	// Never used yet (a refused request is no use): no date, N/A service and region.
	var lu lastUsed
	aws.ok(aws.op, &lu, "iam", "get-access-key-last-used", "--access-key-id", key.AccessKeyId)
	if lu.UserName != user || lu.AccessKeyLastUsed.LastUsedDate != nil ||
		lu.AccessKeyLastUsed.ServiceName != "N/A" || lu.AccessKeyLastUsed.Region != "N/A" {
		t.Fatalf("get-access-key-last-used before use = %+v", lu)
	}

	// Signed with the new key: bounded retries wait out the propagation delay.
	var caller struct{ UserId, Account, Arn string }
	for attempt := 1; ; attempt++ {
		stdout, stderr, err := aws.exec(userCred, "sts", "get-caller-identity")
		if err == nil {
			if err := json.Unmarshal([]byte(stdout), &caller); err != nil {
				t.Fatal(err)
			}
			break
		}
		if !strings.Contains(stderr, "(InvalidClientTokenId)") || attempt == 10 {
			t.Fatalf("sts get-caller-identity with the new key, attempt %d: %v\n%s", attempt, err, stderr)
		}
		wait(500 * time.Millisecond)
	}
	if caller.Arn != wantARN || caller.Account != "111111111111" || caller.UserId != created.User.UserId {
		t.Fatalf("get-caller-identity = %+v, want %s", caller, wantARN)
	}

	aws.ok(aws.op, &lu, "iam", "get-access-key-last-used", "--access-key-id", key.AccessKeyId)
	if d := lu.AccessKeyLastUsed.LastUsedDate; d == nil || !d.Equal(now) ||
		lu.AccessKeyLastUsed.ServiceName != "sts" || lu.AccessKeyLastUsed.Region != "us-east-1" {
		t.Fatalf("get-access-key-last-used after use = %+v", lu)
	}

	checkCredentialReport(t, aws, user, wantARN, now)

	// GetAccountAuthorizationDetails: users with ids, paths, tags and groups.
	var gaad struct {
		UserDetailList []struct {
			Path, UserName, UserId, Arn string
			GroupList                   []string
			Tags                        []struct{ Key, Value string }
		}
		IsTruncated bool
	}
	aws.ok(aws.op, &gaad, "iam", "get-account-authorization-details", "--filter", "User")
	var names []string
	for _, u := range gaad.UserDetailList {
		names = append(names, u.UserName)
		switch u.UserName {
		case user:
			if u.Arn != wantARN || u.UserId != created.User.UserId || u.Path != "/conformance/" || len(u.GroupList) != 0 ||
				len(u.Tags) != 1 || u.Tags[0].Value != "carol@example.com" {
				t.Errorf("gaad %s = %+v", user, u)
			}
		case "alice":
			if !slices.Equal(u.GroupList, []string{"developers"}) || u.Path != "/people/" {
				t.Errorf("gaad alice = %+v", u)
			}
		}
	}
	if !slices.Equal(names, []string{"alice", "bob", user, "ci-deployer", "legacy-batch"}) {
		t.Errorf("gaad users = %v", names)
	}

	// IAM allows two keys per user, inactive ones included.
	var second struct{ AccessKey accessKeyMeta }
	aws.ok(aws.op, &second, "iam", "create-access-key", "--user-name", user)
	aws.ok(aws.op, nil, "iam", "update-access-key", "--user-name", user, "--access-key-id", second.AccessKey.AccessKeyId, "--status", "Inactive")
	aws.fails(aws.op, "LimitExceeded", "iam", "create-access-key", "--user-name", user)
}

// checkCredentialReport generates the report until COMPLETE and reads user's row.
func checkCredentialReport(t *testing.T, aws *awsCLI, user, arn string, now time.Time) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		var gen struct{ State, Description string }
		aws.ok(aws.op, &gen, "iam", "generate-credential-report")
		if gen.State == "COMPLETE" {
			break
		}
		if (gen.State != "STARTED" && gen.State != "INPROGRESS") || attempt == 20 {
			t.Fatalf("generate-credential-report, attempt %d: state %q", attempt, gen.State)
		}
		wait(500 * time.Millisecond)
	}
	var rep struct {
		Content       string
		ReportFormat  string
		GeneratedTime time.Time
	}
	aws.ok(aws.op, &rep, "iam", "get-credential-report")
	if rep.ReportFormat != "text/csv" || !rep.GeneratedTime.Equal(now) {
		t.Errorf("get-credential-report: format %q, generated %v", rep.ReportFormat, rep.GeneratedTime)
	}
	raw, err := base64.StdEncoding.DecodeString(rep.Content)
	if err != nil {
		t.Fatalf("credential report content is not base64: %v", err)
	}
	rows, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil || len(rows) < 2 {
		t.Fatalf("credential report is not CSV with rows: %v\n%s", err, raw)
	}
	wantHeader := []string{"user", "arn", "user_creation_time", "password_enabled", "password_last_used",
		"password_last_changed", "password_next_rotation", "mfa_active",
		"access_key_1_active", "access_key_1_last_rotated", "access_key_1_last_used_date",
		"access_key_1_last_used_region", "access_key_1_last_used_service",
		"access_key_2_active", "access_key_2_last_rotated", "access_key_2_last_used_date",
		"access_key_2_last_used_region", "access_key_2_last_used_service",
		"cert_1_active", "cert_1_last_rotated", "cert_2_active", "cert_2_last_rotated"}
	if !slices.Equal(rows[0], wantHeader) {
		t.Fatalf("credential report header =\n%v\nwant\n%v", rows[0], wantHeader)
	}
	if rows[1][0] != "<root_account>" {
		t.Errorf("first report row is %q, want <root_account>", rows[1][0])
	}
	var row map[string]string
	for _, r := range rows[1:] {
		if len(r) != len(wantHeader) {
			t.Fatalf("report row %v has %d columns, want %d", r, len(r), len(wantHeader))
		}
		if r[0] == user {
			row = map[string]string{}
			for i, h := range wantHeader {
				row[h] = r[i]
			}
		}
	}
	if row == nil {
		t.Fatalf("no report row for %s", user)
	}
	isNow := func(col string) {
		t.Helper()
		ts, err := time.Parse(time.RFC3339, row[col])
		if err != nil || !ts.Equal(now) {
			t.Errorf("report %s = %q, want %s", col, row[col], now.Format(time.RFC3339))
		}
	}
	want := map[string]string{
		"arn": arn, "password_enabled": "false", "password_last_used": "N/A", "mfa_active": "false",
		"access_key_1_active": "true", "access_key_1_last_used_region": "us-east-1",
		"access_key_1_last_used_service": "sts", "access_key_2_active": "false",
		"access_key_2_last_rotated": "N/A", "access_key_2_last_used_date": "N/A",
	}
	for col, v := range want {
		if row[col] != v {
			t.Errorf("report %s = %q, want %q", col, row[col], v)
		}
	}
	isNow("user_creation_time")
	isNow("access_key_1_last_rotated")
	isNow("access_key_1_last_used_date")
}

// checkSecretsManager stages a pending value, reads it by stage and promotes it.
func checkSecretsManager(t *testing.T, aws *awsCLI) {
	t.Helper()
	const name = "conformance/carol"
	var cs struct{ ARN, Name, VersionId string }
	aws.ok(aws.op, &cs, "secretsmanager", "create-secret", "--name", name, "--secret-string", `{"v":1}`)
	if cs.Name != name || !strings.HasPrefix(cs.ARN, "arn:aws:secretsmanager:us-east-1:111111111111:secret:"+name+"-") || cs.VersionId == "" {
		t.Fatalf("create-secret = %+v", cs)
	}
	type version struct {
		ARN, Name, VersionId, SecretString string
		VersionStages                      []string
	}
	var put version
	aws.ok(aws.op, &put, "secretsmanager", "put-secret-value", "--secret-id", name, "--secret-string", `{"v":2}`,
		"--version-stages", "AWSPENDING")
	if put.VersionId == "" || put.VersionId == cs.VersionId || !slices.Equal(put.VersionStages, []string{"AWSPENDING"}) {
		t.Fatalf("put-secret-value = %+v", put)
	}
	get := func(args ...string) version {
		t.Helper()
		var v version
		aws.ok(aws.op, &v, append([]string{"secretsmanager", "get-secret-value", "--secret-id", name}, args...)...)
		return v
	}
	has := func(v version, id, value, stage string) {
		t.Helper()
		if v.VersionId != id || v.SecretString != value || !slices.Contains(v.VersionStages, stage) || v.ARN != cs.ARN {
			t.Errorf("get-secret-value: version %s stages %v value ok %v, want version %s with %s",
				v.VersionId, v.VersionStages, v.SecretString == value, id, stage)
		}
	}
	has(get("--version-stage", "AWSPENDING"), put.VersionId, `{"v":2}`, "AWSPENDING")
	has(get(), cs.VersionId, `{"v":1}`, "AWSCURRENT") // staging AWSPENDING did not move AWSCURRENT

	var moved struct{ ARN, Name string }
	aws.ok(aws.op, &moved, "secretsmanager", "update-secret-version-stage", "--secret-id", name,
		"--version-stage", "AWSCURRENT", "--move-to-version-id", put.VersionId, "--remove-from-version-id", cs.VersionId)
	if moved.ARN != cs.ARN || moved.Name != name {
		t.Errorf("update-secret-version-stage = %+v", moved)
	}
	has(get(), put.VersionId, `{"v":2}`, "AWSCURRENT")
	has(get("--version-stage", "AWSPREVIOUS"), cs.VersionId, `{"v":1}`, "AWSPREVIOUS")
	aws.fails(aws.op, "ResourceNotFoundException", "secretsmanager", "get-secret-value", "--secret-id", name+"-missing")
}

// s3Scenario gives the operator's account a bucket and another account one it may not read.
const s3Scenario = `
accounts:
  - id: "111111111111"
    buckets: [{name: keycycle-reports}]
  - id: "222222222222"
    buckets: [{name: someone-elses}]
`

// checkS3 covers what the scheduled report writes and what a person reads it with: `aws s3 cp`
// up and down, `aws s3 ls` of buckets, prefixes and keys, and S3's error codes.
func checkS3(t *testing.T, aws *awsCLI) {
	dir := t.TempDir()
	src := filepath.Join(dir, "report.html")
	body := []byte("<!DOCTYPE html><title>keycycle report</title>" + strings.Repeat("x", 70000))
	if err := os.WriteFile(src, body, 0o600); err != nil {
		t.Fatal(err)
	}
	aws.ok(aws.op, nil, "s3", "cp", src, "s3://keycycle-reports/reports/2026-11-21/report.html", "--content-type", "text/html", "--sse", "AES256")
	aws.ok(aws.op, nil, "s3", "cp", src, "s3://keycycle-reports/latest.html")
	got, stderr, err := aws.exec(aws.op, "s3", "ls", "s3://keycycle-reports/")
	if err != nil || !strings.Contains(got, "PRE reports/") || !strings.Contains(got, "70045 latest.html") || strings.Contains(got, "report.html") {
		t.Fatalf("s3 ls bucket: %v\n%s%s", err, got, stderr)
	}
	got, _, err = aws.exec(aws.op, "s3", "ls", "s3://keycycle-reports/", "--recursive")
	if err != nil || !strings.Contains(got, "reports/2026-11-21/report.html") || !strings.Contains(got, "latest.html") {
		t.Fatalf("s3 ls --recursive: %v\n%s", err, got)
	}
	got, _, err = aws.exec(aws.op, "s3", "ls")
	if err != nil || !strings.Contains(got, "keycycle-reports") || strings.Contains(got, "someone-elses") {
		t.Fatalf("s3 ls: %v\n%s", err, got)
	}
	dst := filepath.Join(dir, "back.html")
	aws.ok(aws.op, nil, "s3", "cp", "s3://keycycle-reports/reports/2026-11-21/report.html", dst)
	if back, err := os.ReadFile(dst); err != nil || !bytes.Equal(back, body) {
		t.Fatalf("downloaded %d bytes, want %d (%v)", len(back), len(body), err)
	}
	var head struct {
		ContentType, ServerSideEncryption, ETag string
		ContentLength                           int
	}
	aws.ok(aws.op, &head, "s3api", "head-object", "--bucket", "keycycle-reports", "--key", "reports/2026-11-21/report.html")
	if head.ContentType != "text/html" || head.ServerSideEncryption != "AES256" || head.ContentLength != len(body) || len(head.ETag) != 34 {
		t.Fatalf("head-object %+v", head)
	}
	var page struct {
		KeyCount              int
		IsTruncated           bool
		NextContinuationToken string
		Contents              []struct{ Key string }
	}
	aws.ok(aws.op, &page, "s3api", "list-objects-v2", "--bucket", "keycycle-reports", "--max-keys", "1", "--no-paginate")
	if page.KeyCount != 1 || !page.IsTruncated || page.NextContinuationToken == "" || page.Contents[0].Key != "latest.html" {
		t.Fatalf("first page %+v", page)
	}
	aws.ok(aws.op, &page, "s3api", "list-objects-v2", "--bucket", "keycycle-reports", "--max-keys", "1", "--no-paginate",
		"--continuation-token", page.NextContinuationToken)
	if page.KeyCount != 1 || page.IsTruncated || page.Contents[0].Key != "reports/2026-11-21/report.html" {
		t.Fatalf("second page %+v", page)
	}
	aws.fails(aws.op, "NoSuchKey", "s3api", "get-object", "--bucket", "keycycle-reports", "--key", "nothing-here", filepath.Join(dir, "x"))
	aws.fails(aws.op, "NoSuchBucket", "s3api", "list-objects-v2", "--bucket", "no-such-bucket-here")
	aws.fails(aws.op, "AccessDenied", "s3api", "list-objects-v2", "--bucket", "someone-elses")
	aws.fails(cred{aws.op.id, "not-the-secret"}, "SignatureDoesNotMatch", "s3api", "list-objects-v2", "--bucket", "keycycle-reports")
	aws.fails(cred{"AKIAIOSFODNN7EXAMPLE", "x"}, "InvalidAccessKeyId", "s3", "ls", "s3://keycycle-reports/")
}
