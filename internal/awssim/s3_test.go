package awssim_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
)

const s3Scenario = `
accounts:
  - id: "111111111111"
    buckets: [{name: reports}]
  - id: "222222222222"
    buckets: [{name: theirs}]
`

func s3Client(sb *awssimtest.Sandbox, acct string) *s3.Client {
	cred, _ := sb.OperatorCredential(acct)
	return s3.NewFromConfig(sb.Config(cred.AccessKeyID, cred.SecretAccessKey, ""), func(o *s3.Options) { o.UsePathStyle = true })
}

func s3Code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// TestS3WithTheSDK: what the scheduled report does with the SDK (keys with spaces and unicode
// are signed as S3 signs them), and S3's error codes.
func TestS3WithTheSDK(t *testing.T) {
	ctx := context.Background()
	sb, _ := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, s3Scenario))
	c := s3Client(sb, "111111111111")
	for _, key := range []string{"keycycle/2026-11-21/report.json", "keycycle/odd name (1)+é.json"} {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("reports"), Key: aws.String(key),
			Body: strings.NewReader(`{"version":1}`), ContentType: aws.String("application/json")}); err != nil {
			t.Fatalf("put %q: %v", key, err)
		}
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("reports"), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("get %q: %v", key, err)
		}
		b, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if string(b) != `{"version":1}` || aws.ToString(out.ContentType) != "application/json" || out.ServerSideEncryption != "AES256" {
			t.Fatalf("get %q: %q %q %q", key, b, aws.ToString(out.ContentType), out.ServerSideEncryption)
		}
	}
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("reports"), Prefix: aws.String("keycycle/"), Delimiter: aws.String("/")})
	if err != nil || len(list.Contents) != 1 || len(list.CommonPrefixes) != 1 || aws.ToString(list.CommonPrefixes[0].Prefix) != "keycycle/2026-11-21/" {
		t.Fatalf("list: %v %+v", err, list)
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("reports"), Key: aws.String("missing")})
	if s3Code(err) != "NoSuchKey" {
		t.Fatalf("missing key: %v", err)
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("nobody"), Key: aws.String("k"), Body: strings.NewReader("x")})
	if s3Code(err) != "NoSuchBucket" {
		t.Fatalf("missing bucket: %v", err)
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("theirs"), Key: aws.String("k"), Body: strings.NewReader("x")})
	if s3Code(err) != "AccessDenied" {
		t.Fatalf("another account's bucket: %v", err)
	}
	if got := sb.BucketKeys("theirs"); len(got) != 0 {
		t.Fatalf("a refused put stored %v", got)
	}
	// A body that is not the one signed is refused.
	cred, _ := sb.OperatorCredential("111111111111")
	tamper := s3.NewFromConfig(sb.Config(cred.AccessKeyID, cred.SecretAccessKey, ""), func(o *s3.Options) {
		o.UsePathStyle = true
		o.HTTPClient = tamperingClient{}
	})
	_, err = tamper.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("reports"), Key: aws.String("tampered"), Body: bytes.NewReader([]byte("original"))})
	if c := s3Code(err); c != "XAmzContentSHA256Mismatch" {
		t.Fatalf("tampered body: %v", err)
	}
	if _, _, ok := sb.BucketObject("reports", "tampered"); ok {
		t.Fatal("a tampered put was stored")
	}
}

// tamperingClient replaces a request's body after it was signed.
type tamperingClient struct{}

func (tamperingClient) Do(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && r.Header.Get("X-Amz-Content-Sha256") != "UNSIGNED-PAYLOAD" {
		r.Body = io.NopCloser(strings.NewReader("tampered"))
		r.ContentLength = int64(len("tampered"))
	}
	return http.DefaultClient.Do(r)
}
