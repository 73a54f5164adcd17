package awssim_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
)

func ssmClient(t *testing.T) (*awssimtest.Sandbox, *ssm.Client) {
	t.Helper()
	sb, cfg := awssimtest.Start(t)
	return sb, ssm.NewFromConfig(cfg)
}

func putParam(t *testing.T, c *ssm.Client, in *ssm.PutParameterInput) *ssm.PutParameterOutput {
	t.Helper()
	out, err := c.PutParameter(context.Background(), in)
	if err != nil {
		t.Fatalf("put %s: %v", aws.ToString(in.Name), err)
	}
	return out
}

func TestSSMPutGetVersionsAndOverwrite(t *testing.T) {
	ctx := context.Background()
	sb, c := ssmClient(t)
	out := putParam(t, c, &ssm.PutParameterInput{Name: aws.String("/keycycle/bob/access-key-id"), Value: aws.String("AKIAEXAMPLE"),
		Type: ssmtypes.ParameterTypeString, Description: aws.String("bob's key id")})
	if out.Version != 1 || out.Tier != ssmtypes.ParameterTierStandard {
		t.Fatalf("first put = %+v", out)
	}
	_, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/keycycle/bob/access-key-id"), Value: aws.String("AKIAOTHER"), Type: ssmtypes.ParameterTypeString})
	var exists *ssmtypes.ParameterAlreadyExists
	if !errors.As(err, &exists) {
		t.Fatalf("put without overwrite: want ParameterAlreadyExists, got %v", err)
	}
	sb.Clock().Advance(time.Hour)
	// Type may be left out on update: the parameter keeps it.
	out = putParam(t, c, &ssm.PutParameterInput{Name: aws.String("/keycycle/bob/access-key-id"), Value: aws.String("AKIAOTHER"), Overwrite: aws.Bool(true)})
	if out.Version != 2 {
		t.Fatalf("overwrite version = %d", out.Version)
	}
	got, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/keycycle/bob/access-key-id")})
	if err != nil {
		t.Fatal(err)
	}
	p := got.Parameter
	if aws.ToString(p.Value) != "AKIAOTHER" || p.Version != 2 || p.Type != ssmtypes.ParameterTypeString ||
		aws.ToString(p.ARN) != "arn:aws:ssm:us-east-1:111111111111:parameter/keycycle/bob/access-key-id" ||
		aws.ToString(p.DataType) != "text" || !p.LastModifiedDate.Equal(awssim.DefaultStart.Add(time.Hour)) {
		t.Fatalf("GetParameter = %+v", p)
	}
	// A version selector and the ARN name the same parameter.
	got, err = c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("arn:aws:ssm:us-east-1:111111111111:parameter/keycycle/bob/access-key-id:1")})
	if err != nil || aws.ToString(got.Parameter.Value) != "AKIAEXAMPLE" || aws.ToString(got.Parameter.Selector) != ":1" ||
		aws.ToString(got.Parameter.Name) != "/keycycle/bob/access-key-id" {
		t.Fatalf("GetParameter by ARN:1 = %+v, %v", got, err)
	}
	_, err = c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/keycycle/bob/access-key-id:7")})
	var nover *ssmtypes.ParameterVersionNotFound
	if !errors.As(err, &nover) {
		t.Fatalf("missing version: want ParameterVersionNotFound, got %v", err)
	}
	// Per region: the same name in another region does not exist.
	west := ssm.NewFromConfig(sb.AccountConfig(t, "111111111111"), func(o *ssm.Options) { o.Region = "eu-west-1" })
	_, err = west.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/keycycle/bob/access-key-id")})
	var nf *ssmtypes.ParameterNotFound
	if !errors.As(err, &nf) {
		t.Fatalf("other region: want ParameterNotFound, got %v", err)
	}
	// Per account, too.
	other := ssm.NewFromConfig(sb.AccountConfig(t, "222222222222"))
	if _, err = other.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/keycycle/bob/access-key-id")}); !errors.As(err, &nf) {
		t.Fatalf("other account: want ParameterNotFound, got %v", err)
	}
}

func TestSSMSecureStringNeedsDecryption(t *testing.T) {
	ctx := context.Background()
	_, c := ssmClient(t)
	const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	putParam(t, c, &ssm.PutParameterInput{Name: aws.String("/keycycle/bob/secret"), Value: aws.String(secret), Type: ssmtypes.ParameterTypeSecureString})
	enc, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/keycycle/bob/secret")})
	if err != nil {
		t.Fatal(err)
	}
	v := aws.ToString(enc.Parameter.Value)
	raw, derr := base64.StdEncoding.DecodeString(v)
	if v == secret || strings.Contains(v, secret) || derr != nil || strings.Contains(string(raw), secret) || !strings.HasPrefix(v, "AQICAH") {
		t.Fatalf("without decryption the value must be an opaque base64 blob, got %q", v)
	}
	dec, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/keycycle/bob/secret"), WithDecryption: aws.Bool(true)})
	if err != nil || aws.ToString(dec.Parameter.Value) != secret || dec.Parameter.Type != ssmtypes.ParameterTypeSecureString {
		t.Fatalf("with decryption = %+v, %v", dec, err)
	}
	h, err := c.GetParameterHistory(ctx, &ssm.GetParameterHistoryInput{Name: aws.String("/keycycle/bob/secret")})
	if err != nil || len(h.Parameters) != 1 || aws.ToString(h.Parameters[0].KeyId) != "alias/aws/ssm" || aws.ToString(h.Parameters[0].Value) == secret {
		t.Fatalf("history = %+v, %v", h, err)
	}
	// KeyId is kept for a SecureString, and refused for other types.
	putParam(t, c, &ssm.PutParameterInput{Name: aws.String("/keycycle/bob/secret"), Value: aws.String(secret + "2"), KeyId: aws.String("alias/keycycle"), Overwrite: aws.Bool(true)})
	h, _ = c.GetParameterHistory(ctx, &ssm.GetParameterHistoryInput{Name: aws.String("/keycycle/bob/secret"), WithDecryption: aws.Bool(true)})
	if len(h.Parameters) != 2 || aws.ToString(h.Parameters[1].KeyId) != "alias/keycycle" || aws.ToString(h.Parameters[1].Value) != secret+"2" {
		t.Fatalf("history after key change = %+v", h.Parameters)
	}
	_, err = c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("plain"), Value: aws.String("x"), Type: ssmtypes.ParameterTypeString, KeyId: aws.String("alias/k")})
	wantCode(t, err, "ValidationException")
}

func TestSSMHistoryPagesAndDelete(t *testing.T) {
	ctx := context.Background()
	sb, c := ssmClient(t)
	for i := range 7 {
		sb.Clock().Advance(time.Minute)
		putParam(t, c, &ssm.PutParameterInput{Name: aws.String("/app/config"), Value: aws.String(strings.Repeat("v", i+1)), Type: ssmtypes.ParameterTypeStringList, Overwrite: aws.Bool(true)})
	}
	var versions []int64
	p := ssm.NewGetParameterHistoryPaginator(c, &ssm.GetParameterHistoryInput{Name: aws.String("/app/config"), MaxResults: aws.Int32(3)})
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, h := range page.Parameters {
			versions = append(versions, h.Version)
			if h.Labels == nil || len(h.Labels) != 0 || aws.ToString(h.LastModifiedUser) != "arn:aws:iam::111111111111:root" || h.Type != ssmtypes.ParameterTypeStringList {
				t.Fatalf("history entry = %+v", h)
			}
		}
	}
	if pages != 3 || len(versions) != 7 || versions[0] != 1 || versions[6] != 7 {
		t.Fatalf("pages %d versions %v", pages, versions)
	}
	_, err := c.GetParameterHistory(ctx, &ssm.GetParameterHistoryInput{Name: aws.String("/app/config"), NextToken: aws.String("bogus")})
	wantCode(t, err, "InvalidNextToken")
	_, err = c.GetParameterHistory(ctx, &ssm.GetParameterHistoryInput{Name: aws.String("/app/config"), MaxResults: aws.Int32(51)})
	wantCode(t, err, "ValidationException")

	if _, err := c.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String("/app/config")}); err != nil {
		t.Fatal(err)
	}
	var nf *ssmtypes.ParameterNotFound
	for _, err := range []error{
		func() error {
			_, err := c.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String("/app/config")})
			return err
		}(),
		func() error {
			_, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/app/config")})
			return err
		}(),
		func() error {
			_, err := c.GetParameterHistory(ctx, &ssm.GetParameterHistoryInput{Name: aws.String("/app/config")})
			return err
		}(),
	} {
		if !errors.As(err, &nf) {
			t.Fatalf("after delete: want ParameterNotFound, got %v", err)
		}
	}
	// Created again, it starts over at version 1.
	if out := putParam(t, c, &ssm.PutParameterInput{Name: aws.String("/app/config"), Value: aws.String("a"), Type: ssmtypes.ParameterTypeString}); out.Version != 1 {
		t.Fatalf("recreated version = %d", out.Version)
	}
}

func TestSSMKeepsAtMost100Versions(t *testing.T) {
	ctx := context.Background()
	_, c := ssmClient(t)
	for i := range 102 {
		putParam(t, c, &ssm.PutParameterInput{Name: aws.String("counter"), Value: aws.String(strings.Repeat("x", i+1)), Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true)})
	}
	var n int
	var first int64
	p := ssm.NewGetParameterHistoryPaginator(c, &ssm.GetParameterHistoryInput{Name: aws.String("counter")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range page.Parameters {
			if n == 0 {
				first = h.Version
			}
			n++
		}
	}
	if n != 100 || first != 3 {
		t.Fatalf("kept %d versions from %d, want 100 from 3", n, first)
	}
	// A name without a "/" is addressed by a one-level ARN.
	got, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("arn:aws:ssm:us-east-1:111111111111:parameter/counter")})
	if err != nil || got.Parameter.Version != 102 {
		t.Fatalf("by ARN = %+v, %v", got, err)
	}
}

func TestSSMRefusesWhatAWSRefuses(t *testing.T) {
	ctx := context.Background()
	_, c := ssmClient(t)
	str := ssmtypes.ParameterTypeString
	deep := "/" + strings.Repeat("l/", 15) + "leaf"
	cases := []struct {
		name string
		in   *ssm.PutParameterInput
		code string
	}{
		{"no type on create", &ssm.PutParameterInput{Name: aws.String("/a"), Value: aws.String("v")}, "ValidationException"},
		{"relative hierarchy", &ssm.PutParameterInput{Name: aws.String("a/b"), Value: aws.String("v"), Type: str}, "ValidationException"},
		{"aws prefix", &ssm.PutParameterInput{Name: aws.String("/AWS/x"), Value: aws.String("v"), Type: str}, "ValidationException"},
		{"ssm prefix", &ssm.PutParameterInput{Name: aws.String("ssmthing"), Value: aws.String("v"), Type: str}, "ValidationException"},
		{"space inside", &ssm.PutParameterInput{Name: aws.String("/a b"), Value: aws.String("v"), Type: str}, "ValidationException"},
		{"bad character", &ssm.PutParameterInput{Name: aws.String("/a/b@c"), Value: aws.String("v"), Type: str}, "ValidationException"},
		{"empty level", &ssm.PutParameterInput{Name: aws.String("/a//b"), Value: aws.String("v"), Type: str}, "ValidationException"},
		{"16 levels", &ssm.PutParameterInput{Name: aws.String(deep), Value: aws.String("v"), Type: str}, "HierarchyLevelLimitExceededException"},
		{"value over 4 KB", &ssm.PutParameterInput{Name: aws.String("/big"), Value: aws.String(strings.Repeat("x", 4097)), Type: str}, "ValidationException"},
		{"advanced over 8 KB", &ssm.PutParameterInput{Name: aws.String("/big"), Value: aws.String(strings.Repeat("x", 8193)), Type: str, Tier: ssmtypes.ParameterTierAdvanced}, "ValidationException"},
		{"empty value", &ssm.PutParameterInput{Name: aws.String("/e"), Value: aws.String(""), Type: str}, "ValidationException"},
		{"tags with overwrite", &ssm.PutParameterInput{Name: aws.String("/t"), Value: aws.String("v"), Type: str, Overwrite: aws.Bool(true),
			Tags: []ssmtypes.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}, "ValidationException"},
		{"pattern mismatch", &ssm.PutParameterInput{Name: aws.String("/n"), Value: aws.String("abc"), Type: str, AllowedPattern: aws.String(`^\d+$`)}, "ParameterPatternMismatchException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.PutParameter(ctx, tc.in)
			wantCode(t, err, tc.code)
		})
	}
	var lvl *ssmtypes.HierarchyLevelLimitExceededException
	if _, err := c.PutParameter(ctx, cases[7].in); !errors.As(err, &lvl) {
		t.Fatalf("typed hierarchy error: %v", err)
	}
	// 15 levels are fine, a 4 KB value too, 8 KB in the advanced tier, and surrounding spaces
	// are trimmed.
	putParam(t, c, &ssm.PutParameterInput{Name: aws.String("/" + strings.Repeat("l/", 14) + "leaf"), Value: aws.String("v"), Type: str})
	putParam(t, c, &ssm.PutParameterInput{Name: aws.String("/big"), Value: aws.String(strings.Repeat("x", 4096)), Type: str})
	out := putParam(t, c, &ssm.PutParameterInput{Name: aws.String("/bigger"), Value: aws.String(strings.Repeat("x", 8192)), Type: str, Tier: ssmtypes.ParameterTierIntelligentTiering})
	if out.Tier != ssmtypes.ParameterTierAdvanced {
		t.Fatalf("intelligent tiering chose %s", out.Tier)
	}
	_, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/bigger"), Value: aws.String("x"), Tier: ssmtypes.ParameterTierStandard, Overwrite: aws.Bool(true)})
	wantCode(t, err, "ValidationException")
	putParam(t, c, &ssm.PutParameterInput{Name: aws.String("  padded  "), Value: aws.String("v"), Type: str})
	if _, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("padded")}); err != nil {
		t.Fatalf("trimmed name: %v", err)
	}
}
