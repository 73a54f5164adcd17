package awssim_test

import (
	"context"
	"errors"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
)

// Tokens as keycycle derives them (32..64 characters).
const (
	tokA = "keycycle-00000000000000000000000a"
	tokB = "keycycle-00000000000000000000000b"
	tokC = "keycycle-00000000000000000000000c"
)

func smClient(t *testing.T) (*awssimtest.Sandbox, *secretsmanager.Client) {
	t.Helper()
	sb, cfg := awssimtest.Start(t)
	return sb, secretsmanager.NewFromConfig(cfg)
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Fatalf("want %s, got %v", code, err)
	}
}

func create(t *testing.T, c *secretsmanager.Client, name, value string) *secretsmanager.CreateSecretOutput {
	t.Helper()
	out, err := c.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return out
}

func getValue(t *testing.T, c *secretsmanager.Client, in *secretsmanager.GetSecretValueInput) *secretsmanager.GetSecretValueOutput {
	t.Helper()
	out, err := c.GetSecretValue(context.Background(), in)
	if err != nil {
		t.Fatalf("GetSecretValue %s: %v", aws.ToString(in.SecretId), err)
	}
	return out
}

func stagesOf(t *testing.T, c *secretsmanager.Client, id string) map[string][]string {
	t.Helper()
	out, err := c.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	if err != nil {
		t.Fatalf("DescribeSecret %s: %v", id, err)
	}
	return out.VersionIdsToStages
}

func TestSecretsCreateGetDescribe(t *testing.T) {
	ctx := context.Background()
	sb, c := smClient(t)
	now := sb.Clock().Now()

	out, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("keycycle/alice"), SecretString: aws.String(`{"k":"v1"}`),
		Description: aws.String("alice's key"), KmsKeyId: aws.String("alias/keycycle"),
		Tags: []smtypes.Tag{{Key: aws.String("owner"), Value: aws.String("alice@example.com")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(out.ARN)
	if !regexp.MustCompile(`^arn:aws:secretsmanager:us-east-1:111111111111:secret:keycycle/alice-[A-Za-z0-9]{6}$`).MatchString(arn) {
		t.Fatalf("ARN = %s", arn)
	}
	if out.VersionId == nil {
		t.Fatal("CreateSecret with a value answers no VersionId")
	}

	d, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("keycycle/alice")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(d.ARN) != arn || aws.ToString(d.Description) != "alice's key" || aws.ToString(d.KmsKeyId) != "alias/keycycle" ||
		!d.CreatedDate.Equal(now) || !d.LastChangedDate.Equal(now) || d.LastAccessedDate != nil || d.DeletedDate != nil ||
		len(d.Tags) != 1 || aws.ToString(d.Tags[0].Value) != "alice@example.com" {
		t.Fatalf("DescribeSecret = %+v", d)
	}
	if got := d.VersionIdsToStages[aws.ToString(out.VersionId)]; len(got) != 1 || got[0] != "AWSCURRENT" {
		t.Fatalf("VersionIdsToStages = %v", d.VersionIdsToStages)
	}

	// Name, full ARN and partial ARN (without the suffix) all find it.
	sb.Clock().Advance(5 * time.Hour)
	for _, id := range []string{"keycycle/alice", arn, arn[:len(arn)-7]} {
		v := getValue(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		if aws.ToString(v.SecretString) != `{"k":"v1"}` || aws.ToString(v.VersionId) != aws.ToString(out.VersionId) ||
			len(v.VersionStages) != 1 || !v.CreatedDate.Equal(now) {
			t.Fatalf("GetSecretValue(%s) = %+v", id, v)
		}
	}
	d, _ = c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if d.LastAccessedDate == nil || !d.LastAccessedDate.Equal(now.Truncate(24*time.Hour)) {
		t.Fatalf("LastAccessedDate = %v, want the day %v", d.LastAccessedDate, now.Truncate(24*time.Hour))
	}

	// A default-key secret shows no KmsKeyId; a secret without a value has no version.
	bare, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("bare")})
	if err != nil || bare.VersionId != nil {
		t.Fatalf("CreateSecret without value = %+v, %v", bare, err)
	}
	d, _ = c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("bare")})
	if d.KmsKeyId != nil || len(d.VersionIdsToStages) != 0 || d.Description != nil {
		t.Fatalf("bare secret = %+v", d)
	}
	_, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("bare")})
	var rnf *smtypes.ResourceNotFoundException
	if !errors.As(err, &rnf) {
		t.Fatalf("value of a secret without versions: want ResourceNotFound, got %v", err)
	}

	_, err = c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("keycycle/alice"), SecretString: aws.String("x")})
	var exists *smtypes.ResourceExistsException
	if !errors.As(err, &exists) {
		t.Fatalf("duplicate name: want ResourceExists, got %v", err)
	}
	_, err = c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("bad name"), SecretString: aws.String("x")})
	wantCode(t, err, "ValidationException")
	_, err = c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("bad*name")})
	wantCode(t, err, "ValidationException")
	_, err = c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("both"), SecretString: aws.String("x"), SecretBinary: []byte("y")})
	var ipe *smtypes.InvalidParameterException
	if !errors.As(err, &ipe) {
		t.Fatalf("string and binary: want InvalidParameter, got %v", err)
	}
	for _, id := range []string{"nobody", arn[:len(arn)-6] + "zzzzzz", strings.Replace(arn, "111111111111", "222222222222", 1)} {
		_, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		if !errors.As(err, &rnf) {
			t.Fatalf("GetSecretValue(%s): want ResourceNotFound, got %v", id, err)
		}
	}
}

func TestSecretsPartialARNOfHyphenSuffixedName(t *testing.T) {
	ctx := context.Background()
	_, c := smClient(t)
	out := create(t, c, "app-a1b2c3", "v")
	arn := aws.ToString(out.ARN)
	// AWS takes an ARN ending in "-XXXXXX" as complete: the partial ARN of such a name fails.
	_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn[:len(arn)-7])})
	var rnf *smtypes.ResourceNotFoundException
	if !errors.As(err, &rnf) {
		t.Fatalf("partial ARN of a hyphen-suffixed name: want ResourceNotFound, got %v", err)
	}
	getValue(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
}

func TestSecretsBinaryValue(t *testing.T) {
	ctx := context.Background()
	_, c := smClient(t)
	bin := []byte{0, 1, 2, 0xff, 'k'}
	if _, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("bin"), SecretBinary: bin}); err != nil {
		t.Fatal(err)
	}
	v := getValue(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("bin")})
	if string(v.SecretBinary) != string(bin) || v.SecretString != nil {
		t.Fatalf("binary = %v, string = %v", v.SecretBinary, v.SecretString)
	}
}

func TestSecretsPutIdempotency(t *testing.T) {
	ctx := context.Background()
	_, c := smClient(t)
	first, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("s"), SecretString: aws.String("v0"), ClientRequestToken: aws.String(tokA)})
	if err != nil || aws.ToString(first.VersionId) != tokA {
		t.Fatalf("CreateSecret = %+v, %v", first, err)
	}
	// A retried CreateSecret with the same token and value answers the same secret.
	again, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("s"), SecretString: aws.String("v0"), ClientRequestToken: aws.String(tokA)})
	if err != nil || aws.ToString(again.ARN) != aws.ToString(first.ARN) || aws.ToString(again.VersionId) != tokA {
		t.Fatalf("retried CreateSecret = %+v, %v", again, err)
	}

	put := func(token, value string, stages ...string) (*secretsmanager.PutSecretValueOutput, error) {
		in := &secretsmanager.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String(value), ClientRequestToken: aws.String(token)}
		if len(stages) > 0 {
			in.VersionStages = stages
		}
		return c.PutSecretValue(ctx, in)
	}
	p1, err := put(tokB, "v1", "AWSPENDING")
	if err != nil || aws.ToString(p1.VersionId) != tokB || len(p1.VersionStages) != 1 || p1.VersionStages[0] != "AWSPENDING" {
		t.Fatalf("PutSecretValue = %+v, %v", p1, err)
	}
	// Same token, same value: ignored, answers the existing version (and moves no label even
	// though this call names no stages).
	p2, err := put(tokB, "v1")
	if err != nil || aws.ToString(p2.VersionId) != tokB || len(p2.VersionStages) != 1 || p2.VersionStages[0] != "AWSPENDING" {
		t.Fatalf("idempotent PutSecretValue = %+v, %v", p2, err)
	}
	if cur := getValue(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")}); aws.ToString(cur.SecretString) != "v0" {
		t.Fatalf("AWSCURRENT moved on an ignored retry: %s", aws.ToString(cur.VersionId))
	}
	// Same token, different value: refused.
	_, err = put(tokB, "s3cr3t-VALUE-xyz")
	var exists *smtypes.ResourceExistsException
	if !errors.As(err, &exists) || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("same token, different value: want ResourceExists without the value, got %v", err)
	}
	_, err = c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("s"), SecretString: aws.String("changed"), ClientRequestToken: aws.String(tokA)})
	if !errors.As(err, &exists) {
		t.Fatalf("CreateSecret retry with another value: want ResourceExists, got %v", err)
	}
	list, err := c.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String("s"), IncludeDeprecated: aws.Bool(true)})
	if err != nil || len(list.Versions) != 2 {
		t.Fatalf("versions after retries = %+v, %v", list, err)
	}
	_, err = put("too-short", "v")
	wantCode(t, err, "ValidationException")
	_, err = c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("s")})
	var ipe *smtypes.InvalidParameterException
	if !errors.As(err, &ipe) {
		t.Fatalf("no value: want InvalidParameter, got %v", err)
	}
	// Without a token (the SDK fills one in) every call is a new version.
	a, _ := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String("same")})
	b, _ := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String("same")})
	if aws.ToString(a.VersionId) == aws.ToString(b.VersionId) || len(aws.ToString(a.VersionId)) != 36 {
		t.Fatalf("auto tokens: %s %s", aws.ToString(a.VersionId), aws.ToString(b.VersionId))
	}
}

func TestSecretsPendingPromotion(t *testing.T) {
	ctx := context.Background()
	_, c := smClient(t)
	v0 := aws.ToString(create(t, c, "rot", "old").VersionId)

	if _, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("rot"),
		SecretString: aws.String("new"), ClientRequestToken: aws.String(tokA), VersionStages: []string{"AWSPENDING"}}); err != nil {
		t.Fatal(err)
	}
	// Staged, not current: readers still get the old value; the pending version is visible.
	if cur := getValue(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("rot")}); aws.ToString(cur.SecretString) != "old" {
		t.Fatalf("AWSCURRENT = %s", aws.ToString(cur.SecretString))
	}
	if p := getValue(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("rot"), VersionStage: aws.String("AWSPENDING")}); aws.ToString(p.SecretString) != "new" {
		t.Fatalf("AWSPENDING = %s", aws.ToString(p.SecretString))
	}
	st := stagesOf(t, c, "rot")
	if len(st) != 2 || st[v0][0] != "AWSCURRENT" || st[tokA][0] != "AWSPENDING" {
		t.Fatalf("leftover AWSPENDING not visible in DescribeSecret: %v", st)
	}

	// Moving AWSCURRENT needs RemoveFromVersionId naming its holder.
	_, err := c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String("rot"),
		VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: aws.String(tokA)})
	var ipe *smtypes.InvalidParameterException
	if !errors.As(err, &ipe) || !strings.Contains(err.Error(), v0) {
		t.Fatalf("move without RemoveFromVersionId: want InvalidParameter naming %s, got %v", v0, err)
	}
	_, err = c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String("rot"),
		VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: aws.String(tokA), RemoveFromVersionId: aws.String(tokA)})
	if !errors.As(err, &ipe) {
		t.Fatalf("RemoveFromVersionId not holding the label: want InvalidParameter, got %v", err)
	}
	// Removing AWSCURRENT without a destination is refused.
	_, err = c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String("rot"),
		VersionStage: aws.String("AWSCURRENT"), RemoveFromVersionId: aws.String(v0)})
	if !errors.As(err, &ipe) {
		t.Fatalf("remove AWSCURRENT alone: want InvalidParameter, got %v", err)
	}
	up, err := c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String("rot"),
		VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: aws.String(tokA), RemoveFromVersionId: aws.String(v0)})
	if err != nil || aws.ToString(up.Name) != "rot" {
		t.Fatalf("promotion = %+v, %v", up, err)
	}
	st = stagesOf(t, c, "rot")
	if !equalStages(st[tokA], "AWSCURRENT", "AWSPENDING") || !equalStages(st[v0], "AWSPREVIOUS") {
		t.Fatalf("after promotion: %v (AWSPENDING stays on the promoted version, as in AWS)", st)
	}
	if cur := getValue(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("rot")}); aws.ToString(cur.SecretString) != "new" {
		t.Fatalf("AWSCURRENT after promotion = %s", aws.ToString(cur.SecretString))
	}
	if prev := getValue(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("rot"), VersionStage: aws.String("AWSPREVIOUS")}); aws.ToString(prev.SecretString) != "old" {
		t.Fatalf("AWSPREVIOUS = %s", aws.ToString(prev.SecretString))
	}

	// Next rotation: a new AWSPENDING moves the label; a plain put then moves AWSCURRENT and
	// AWSPREVIOUS follows; the version that lost both labels is deprecated.
	if _, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("rot"),
		SecretString: aws.String("newer"), ClientRequestToken: aws.String(tokB), VersionStages: []string{"AWSPENDING"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("rot"),
		SecretString: aws.String("newest"), ClientRequestToken: aws.String(tokC)}); err != nil {
		t.Fatal(err)
	}
	st = stagesOf(t, c, "rot")
	if len(st) != 3 || !equalStages(st[tokC], "AWSCURRENT") || !equalStages(st[tokA], "AWSPREVIOUS") || !equalStages(st[tokB], "AWSPENDING") {
		t.Fatalf("after plain put: %v", st)
	}
	// A plain put that takes AWSCURRENT from a version that also holds AWSPENDING drops that
	// AWSPENDING (observed AWS behaviour).
	if _, err := c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String("rot"),
		VersionStage: aws.String("AWSPENDING"), MoveToVersionId: aws.String(tokC), RemoveFromVersionId: aws.String(tokB)}); err != nil {
		t.Fatal(err)
	}
	last, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("rot"), SecretString: aws.String("last")})
	if err != nil {
		t.Fatal(err)
	}
	st = stagesOf(t, c, "rot")
	if len(st) != 2 || !equalStages(st[tokC], "AWSPREVIOUS") || !equalStages(st[aws.ToString(last.VersionId)], "AWSCURRENT") {
		t.Fatalf("after put over a finished rotation: %v", st)
	}

	// Custom labels: a label attached elsewhere needs RemoveFromVersionId too; removing works.
	if _, err := c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String("rot"),
		VersionStage: aws.String("MINE"), MoveToVersionId: aws.String(tokA)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String("rot"),
		VersionStage: aws.String("MINE"), MoveToVersionId: aws.String(tokC)})
	if !errors.As(err, &ipe) {
		t.Fatalf("custom label held elsewhere: want InvalidParameter, got %v", err)
	}
	if _, err := c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String("rot"),
		VersionStage: aws.String("MINE"), RemoveFromVersionId: aws.String(tokA)}); err != nil {
		t.Fatal(err)
	}
	if st := stagesOf(t, c, "rot"); len(st) != 2 {
		t.Fatalf("tokA should be deprecated after its last label went: %v", st)
	}
	_, err = c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String("rot"),
		VersionStage: aws.String("X"), MoveToVersionId: aws.String("keycycle-nonexistent-version-00000")})
	if !errors.As(err, &ipe) {
		t.Fatalf("unknown version: want InvalidParameter, got %v", err)
	}
}

func equalStages(got []string, want ...string) bool {
	g := append([]string{}, got...)
	sort.Strings(g)
	sort.Strings(want)
	return strings.Join(g, ",") == strings.Join(want, ",")
}

func TestSecretsGetValueSelectors(t *testing.T) {
	ctx := context.Background()
	_, c := smClient(t)
	v0 := aws.ToString(create(t, c, "sel", "zero").VersionId)
	if _, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("sel"), SecretString: aws.String("one"), ClientRequestToken: aws.String(tokA)}); err != nil {
		t.Fatal(err)
	}
	// VersionId and VersionStage together must agree.
	if v := getValue(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("sel"), VersionId: aws.String(v0), VersionStage: aws.String("AWSPREVIOUS")}); aws.ToString(v.SecretString) != "zero" {
		t.Fatalf("by id and stage = %s", aws.ToString(v.SecretString))
	}
	_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("sel"), VersionId: aws.String(v0), VersionStage: aws.String("AWSCURRENT")})
	var ire *smtypes.InvalidRequestException
	if !errors.As(err, &ire) {
		t.Fatalf("disagreeing id and stage: want InvalidRequest, got %v", err)
	}
	var rnf *smtypes.ResourceNotFoundException
	_, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("sel"), VersionStage: aws.String("AWSPENDING")})
	if !errors.As(err, &rnf) || !strings.Contains(err.Error(), "staging label: AWSPENDING") {
		t.Fatalf("absent stage: want ResourceNotFound, got %v", err)
	}
	_, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("sel"), VersionId: aws.String(tokB)})
	if !errors.As(err, &rnf) {
		t.Fatalf("absent version: want ResourceNotFound, got %v", err)
	}
}

func TestSecretsVersionPaginationAndPruning(t *testing.T) {
	ctx := context.Background()
	sb, c := smClient(t)
	create(t, c, "many", "v0")
	for i := 1; i <= 5; i++ {
		if _, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("many"), SecretString: aws.String("v")}); err != nil {
			t.Fatal(err)
		}
	}
	collect := func(deprecated bool, size int32) (ids []string, pages int) {
		p := secretsmanager.NewListSecretVersionIdsPaginator(c, &secretsmanager.ListSecretVersionIdsInput{
			SecretId: aws.String("many"), IncludeDeprecated: aws.Bool(deprecated), MaxResults: aws.Int32(size)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, v := range page.Versions {
				ids = append(ids, aws.ToString(v.VersionId))
				if len(v.KmsKeyIds) != 1 || v.KmsKeyIds[0] != "DefaultEncryptionKey" || v.CreatedDate == nil {
					t.Fatalf("version entry = %+v", v)
				}
			}
		}
		return ids, pages
	}
	if ids, pages := collect(true, 2); len(ids) != 6 || pages != 3 {
		t.Fatalf("with deprecated: %d versions in %d pages", len(ids), pages)
	}
	if ids, _ := collect(false, 1); len(ids) != 2 {
		t.Fatalf("labelled versions: %v", ids)
	}
	for _, n := range []int32{0, 101} {
		_, err := c.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String("many"), MaxResults: aws.Int32(n)})
		wantCode(t, err, "ValidationException")
	}
	_, err := c.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String("many"), NextToken: aws.String("garbage")})
	var bad *smtypes.InvalidNextTokenException
	if !errors.As(err, &bad) {
		t.Fatalf("bad NextToken: want InvalidNextToken, got %v", err)
	}

	// Deprecated versions younger than 24 hours are kept past 100; once old, the oldest go.
	for i := 0; i < 100; i++ {
		if _, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("many"), SecretString: aws.String("w")}); err != nil {
			t.Fatal(err)
		}
	}
	if ids, _ := collect(true, 100); len(ids) != 106 {
		t.Fatalf("young versions: %d, want all 106 kept", len(ids))
	}
	sb.Clock().Advance(25 * time.Hour)
	if _, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("many"), SecretString: aws.String("x")}); err != nil {
		t.Fatal(err)
	}
	if ids, _ := collect(true, 100); len(ids) != 100 {
		t.Fatalf("after clean-up: %d versions, want 100", len(ids))
	}
	if st := stagesOf(t, c, "many"); len(st) != 2 {
		t.Fatalf("labelled versions after clean-up: %v", st)
	}
}

func TestSecretsDeletionWindow(t *testing.T) {
	ctx := context.Background()
	sb, c := smClient(t)
	first := create(t, c, "gone", "v")

	_, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("gone"), RecoveryWindowInDays: aws.Int64(7), ForceDeleteWithoutRecovery: aws.Bool(true)})
	var ipe *smtypes.InvalidParameterException
	if !errors.As(err, &ipe) {
		t.Fatalf("window and force: want InvalidParameter, got %v", err)
	}
	_, err = c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("gone"), RecoveryWindowInDays: aws.Int64(6)})
	if !errors.As(err, &ipe) {
		t.Fatalf("window 6: want InvalidParameter, got %v", err)
	}

	now := sb.Clock().Now()
	del, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("gone"), RecoveryWindowInDays: aws.Int64(7)})
	if err != nil || !del.DeletionDate.Equal(now.Add(7*24*time.Hour)) {
		t.Fatalf("DeleteSecret = %+v, %v", del, err)
	}
	var ire *smtypes.InvalidRequestException
	_, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("gone")})
	if !errors.As(err, &ire) || !strings.Contains(err.Error(), "marked for deletion") {
		t.Fatalf("GetSecretValue when scheduled: want InvalidRequest, got %v", err)
	}
	_, err = c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("gone"), SecretString: aws.String("w")})
	if !errors.As(err, &ire) {
		t.Fatalf("PutSecretValue when scheduled: want InvalidRequest, got %v", err)
	}
	_, err = c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("gone"), SecretString: aws.String("w")})
	if !errors.As(err, &ire) {
		t.Fatalf("CreateSecret over a scheduled name: want InvalidRequest, got %v", err)
	}
	d, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("gone")})
	if err != nil || d.DeletedDate == nil || !d.DeletedDate.Equal(*del.DeletionDate) {
		t.Fatalf("DescribeSecret when scheduled = %+v, %v", d, err)
	}
	l, _ := c.ListSecrets(ctx, &secretsmanager.ListSecretsInput{})
	if len(l.SecretList) != 0 {
		t.Fatalf("ListSecrets shows a scheduled secret: %v", l.SecretList)
	}
	l, _ = c.ListSecrets(ctx, &secretsmanager.ListSecretsInput{IncludePlannedDeletion: aws.Bool(true)})
	if len(l.SecretList) != 1 || l.SecretList[0].DeletedDate == nil {
		t.Fatalf("ListSecrets(IncludePlannedDeletion) = %+v", l.SecretList)
	}

	if _, err := c.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: aws.String("gone")}); err != nil {
		t.Fatal(err)
	}
	getValue(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("gone")})

	// Default window is 30 days; a day before it ends the secret is still there.
	if _, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("gone")}); err != nil {
		t.Fatal(err)
	}
	sb.Clock().Advance(29 * 24 * time.Hour)
	if _, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("gone")}); err != nil {
		t.Fatalf("a day before the deletion date: %v", err)
	}
	sb.Clock().Advance(24 * time.Hour)
	_, err = c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("gone")})
	var rnf *smtypes.ResourceNotFoundException
	if !errors.As(err, &rnf) {
		t.Fatalf("after the deletion date: want ResourceNotFound, got %v", err)
	}
	again := create(t, c, "gone", "reborn")
	if aws.ToString(again.ARN) == aws.ToString(first.ARN) {
		t.Fatalf("a recreated secret gets a new ARN suffix: %s", aws.ToString(again.ARN))
	}

	// Force delete frees the name at once, and forcing a nonexistent secret is not an error.
	if _, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("gone"), ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	create(t, c, "gone", "third")
	if _, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("never-was"), ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
		t.Fatalf("force delete of a nonexistent secret: %v", err)
	}
	_, err = c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("never-was")})
	if !errors.As(err, &rnf) {
		t.Fatalf("delete of a nonexistent secret: want ResourceNotFound, got %v", err)
	}
}

func TestSecretsRegionAndAccountIsolation(t *testing.T) {
	ctx := context.Background()
	sb, cfg := awssimtest.Start(t)
	east := secretsmanager.NewFromConfig(cfg)
	out := create(t, east, "shared-name", "east")

	westCfg := cfg.Copy()
	westCfg.Region = "eu-west-1"
	west := secretsmanager.NewFromConfig(westCfg)
	var rnf *smtypes.ResourceNotFoundException
	_, err := west.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("shared-name")})
	if !errors.As(err, &rnf) {
		t.Fatalf("us-east-1 secret seen from eu-west-1: %v", err)
	}
	_, err = west.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: out.ARN})
	if !errors.As(err, &rnf) {
		t.Fatalf("us-east-1 ARN in eu-west-1: want ResourceNotFound, got %v", err)
	}
	if l, _ := west.ListSecrets(ctx, &secretsmanager.ListSecretsInput{}); len(l.SecretList) != 0 {
		t.Fatalf("eu-west-1 lists %v", l.SecretList)
	}
	// The same name in another region is another secret.
	w := create(t, west, "shared-name", "west")
	if !strings.Contains(aws.ToString(w.ARN), ":eu-west-1:") {
		t.Fatalf("west ARN = %s", aws.ToString(w.ARN))
	}

	other := secretsmanager.NewFromConfig(sb.AccountConfig(t, "222222222222"))
	_, err = other.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("shared-name")})
	if !errors.As(err, &rnf) {
		t.Fatalf("account A's secret seen by account B: %v", err)
	}
	_, err = other.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: out.ARN})
	if !errors.As(err, &rnf) {
		t.Fatalf("account A's ARN from account B: want ResourceNotFound, got %v", err)
	}
	if v := getValue(t, east, &secretsmanager.GetSecretValueInput{SecretId: aws.String("shared-name")}); aws.ToString(v.SecretString) != "east" {
		t.Fatalf("east value = %s", aws.ToString(v.SecretString))
	}
}

func TestSecretsResourcePolicy(t *testing.T) {
	ctx := context.Background()
	_, c := smClient(t)
	create(t, c, "pol", "v")
	g, err := c.GetResourcePolicy(ctx, &secretsmanager.GetResourcePolicyInput{SecretId: aws.String("pol")})
	if err != nil || g.ResourcePolicy != nil || aws.ToString(g.Name) != "pol" {
		t.Fatalf("GetResourcePolicy without policy = %+v, %v", g, err)
	}
	var mal *smtypes.MalformedPolicyDocumentException
	for _, doc := range []string{"not json", `{"Version":"2012-10-17"}`, `{"Statement":[]}`} {
		_, err = c.PutResourcePolicy(ctx, &secretsmanager.PutResourcePolicyInput{SecretId: aws.String("pol"), ResourcePolicy: aws.String(doc)})
		if !errors.As(err, &mal) {
			t.Fatalf("policy %q: want MalformedPolicyDocument, got %v", doc, err)
		}
	}
	public := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}`
	_, err = c.PutResourcePolicy(ctx, &secretsmanager.PutResourcePolicyInput{SecretId: aws.String("pol"), ResourcePolicy: aws.String(public), BlockPublicPolicy: aws.Bool(true)})
	var pub *smtypes.PublicPolicyException
	if !errors.As(err, &pub) {
		t.Fatalf("public policy with BlockPublicPolicy: want PublicPolicy, got %v", err)
	}
	owner := `{"Version":"2012-10-17","Statement":{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111111111111:user/alice"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}}`
	if _, err := c.PutResourcePolicy(ctx, &secretsmanager.PutResourcePolicyInput{SecretId: aws.String("pol"), ResourcePolicy: aws.String(owner), BlockPublicPolicy: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	g, err = c.GetResourcePolicy(ctx, &secretsmanager.GetResourcePolicyInput{SecretId: aws.String("pol")})
	if err != nil || aws.ToString(g.ResourcePolicy) != owner {
		t.Fatalf("GetResourcePolicy = %v, %v", aws.ToString(g.ResourcePolicy), err)
	}
	if _, err := c.DeleteResourcePolicy(ctx, &secretsmanager.DeleteResourcePolicyInput{SecretId: aws.String("pol")}); err != nil {
		t.Fatal(err)
	}
	if g, _ = c.GetResourcePolicy(ctx, &secretsmanager.GetResourcePolicyInput{SecretId: aws.String("pol")}); g.ResourcePolicy != nil {
		t.Fatalf("policy after delete = %s", aws.ToString(g.ResourcePolicy))
	}
}

func TestSecretsTagsAndListFilters(t *testing.T) {
	ctx := context.Background()
	sb, c := smClient(t)
	for i, name := range []string{"keycycle/alice", "keycycle/bob", "other/carol"} {
		create(t, c, name, "v")
		if i == 0 {
			sb.Clock().Advance(time.Minute)
		}
	}
	if _, err := c.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String("keycycle/bob"), Tags: []smtypes.Tag{
		{Key: aws.String("team"), Value: aws.String("platform")}, {Key: aws.String("owner"), Value: aws.String("bob")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String("keycycle/bob"), Tags: []smtypes.Tag{
		{Key: aws.String("team"), Value: aws.String("security")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagResource(ctx, &secretsmanager.UntagResourceInput{SecretId: aws.String("keycycle/bob"), TagKeys: []string{"owner"}}); err != nil {
		t.Fatal(err)
	}
	d, _ := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("keycycle/bob")})
	if len(d.Tags) != 1 || aws.ToString(d.Tags[0].Key) != "team" || aws.ToString(d.Tags[0].Value) != "security" {
		t.Fatalf("tags = %+v", d.Tags)
	}
	_, err := c.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String("keycycle/bob"), Tags: []smtypes.Tag{{Key: aws.String("aws:x"), Value: aws.String("y")}}})
	var ipe *smtypes.InvalidParameterException
	if !errors.As(err, &ipe) {
		t.Fatalf("aws: tag: want InvalidParameter, got %v", err)
	}
	_, err = c.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String("nobody"), Tags: []smtypes.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
	var rnf *smtypes.ResourceNotFoundException
	if !errors.As(err, &rnf) {
		t.Fatalf("tag a missing secret: want ResourceNotFound, got %v", err)
	}

	names := func(in *secretsmanager.ListSecretsInput) []string {
		var out []string
		p := secretsmanager.NewListSecretsPaginator(c, in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range page.SecretList {
				out = append(out, aws.ToString(s.Name))
				if len(s.SecretVersionsToStages) != 1 {
					t.Fatalf("list entry %+v", s)
				}
			}
		}
		return out
	}
	if got := names(&secretsmanager.ListSecretsInput{MaxResults: aws.Int32(1)}); strings.Join(got, ",") != "keycycle/alice,keycycle/bob,other/carol" {
		t.Fatalf("paged ListSecrets = %v", got)
	}
	if got := names(&secretsmanager.ListSecretsInput{SortOrder: smtypes.SortOrderTypeDesc}); strings.Join(got, ",") != "other/carol,keycycle/bob,keycycle/alice" {
		t.Fatalf("newest first = %v", got)
	}
	byPrefix := names(&secretsmanager.ListSecretsInput{Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{"keycycle/"}}}})
	if strings.Join(byPrefix, ",") != "keycycle/alice,keycycle/bob" {
		t.Fatalf("name prefix filter = %v", byPrefix)
	}
	if got := names(&secretsmanager.ListSecretsInput{Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{"Keycycle/"}}}}); len(got) != 0 {
		t.Fatalf("name filter is case-sensitive, got %v", got)
	}
	if got := names(&secretsmanager.ListSecretsInput{Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeTagKey, Values: []string{"team"}}}}); strings.Join(got, ",") != "keycycle/bob" {
		t.Fatalf("tag-key filter = %v", got)
	}
	if got := names(&secretsmanager.ListSecretsInput{Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{"!keycycle/"}}}}); strings.Join(got, ",") != "other/carol" {
		t.Fatalf("negated name filter = %v", got)
	}
	_, err = c.ListSecrets(ctx, &secretsmanager.ListSecretsInput{MaxResults: aws.Int32(101)})
	wantCode(t, err, "ValidationException")
}

func TestSecretsUpdateSecret(t *testing.T) {
	ctx := context.Background()
	_, c := smClient(t)
	v0 := aws.ToString(create(t, c, "upd", "one").VersionId)
	out, err := c.UpdateSecret(ctx, &secretsmanager.UpdateSecretInput{SecretId: aws.String("upd"), Description: aws.String("d")})
	if err != nil || out.VersionId != nil {
		t.Fatalf("description-only UpdateSecret = %+v, %v", out, err)
	}
	out, err = c.UpdateSecret(ctx, &secretsmanager.UpdateSecretInput{SecretId: aws.String("upd"), SecretString: aws.String("two"), ClientRequestToken: aws.String(tokA)})
	if err != nil || aws.ToString(out.VersionId) != tokA {
		t.Fatalf("UpdateSecret with value = %+v, %v", out, err)
	}
	st := stagesOf(t, c, "upd")
	if !equalStages(st[tokA], "AWSCURRENT") || !equalStages(st[v0], "AWSPREVIOUS") {
		t.Fatalf("stages = %v", st)
	}
	d, _ := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("upd")})
	if aws.ToString(d.Description) != "d" {
		t.Fatalf("description = %v", d.Description)
	}
}

func TestSecretsLabelQuotaAndScheduledMutations(t *testing.T) {
	ctx := context.Background()
	_, c := smClient(t)
	create(t, c, "q", "v")
	labels := make([]string, 20)
	for i := range labels {
		labels[i] = "L" + string(rune('a'+i))
	}
	// AWSCURRENT plus 20 more labels exceeds the 20-label quota of a secret.
	_, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("q"), SecretString: aws.String("w"), VersionStages: labels})
	var lim *smtypes.LimitExceededException
	if !errors.As(err, &lim) {
		t.Fatalf("21 labels: want LimitExceeded, got %v", err)
	}
	if _, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("q"), SecretString: aws.String("w"), VersionStages: labels[:19], ClientRequestToken: aws.String(tokA)}); err != nil {
		t.Fatalf("20 labels: %v", err)
	}

	if _, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("q")}); err != nil {
		t.Fatal(err)
	}
	var ire *smtypes.InvalidRequestException
	for name, call := range map[string]func() error{
		"UpdateSecretVersionStage": func() error {
			_, err := c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String("q"), VersionStage: aws.String("X"), MoveToVersionId: aws.String(tokA)})
			return err
		},
		"TagResource": func() error {
			_, err := c.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String("q"), Tags: []smtypes.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
			return err
		},
		"PutResourcePolicy": func() error {
			_, err := c.PutResourcePolicy(ctx, &secretsmanager.PutResourcePolicyInput{SecretId: aws.String("q"), ResourcePolicy: aws.String(`{"Statement":{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}}`)})
			return err
		},
		"DeleteSecret": func() error {
			_, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("q")})
			return err
		},
	} {
		if err := call(); !errors.As(err, &ire) {
			t.Fatalf("%s on a scheduled secret: want InvalidRequest, got %v", name, err)
		}
	}
	// Reading metadata still works while scheduled.
	if _, err := c.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String("q")}); err != nil {
		t.Fatal(err)
	}
}
