package lambdafn

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// withReportBucket gives the hub account of the fixture's scenario a report bucket and the
// handler the S3 client that writes it, as FromEnv builds it.
func withReportBucket(t *testing.T) (*fixture, *s3.Client) {
	t.Helper()
	f := newFixtureScenario(t, strings.Replace(scenario, "    alias: hub\n", "    alias: hub\n    buckets: [{name: keycycle-reports}]\n", 1))
	cred, _ := f.sb.OperatorCredential("111111111111")
	client := newS3(f.sb.Config(cred.AccessKeyID, cred.SecretAccessKey, ""))
	f.h.Reports = Reports{Store: client, Bucket: "keycycle-reports", Prefix: "reports", Days: 10}
	return f, client
}

func getObject(t *testing.T, c *s3.Client, key string) ([]byte, *s3.GetObjectOutput) {
	t.Helper()
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("keycycle-reports"), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b, out
}

func TestScheduleWritesTheReportToTheBucket(t *testing.T) {
	f, c := withReportBucket(t)
	rep := invoke(t, f.h, context.Background(), scheduledEvent).(Report)
	want := []string{"reports/2026-11-21/report.json", "reports/latest.json", "reports/2026-11-21/report.html", "reports/latest.html"}
	if len(rep.Errors) != 0 || strings.Join(rep.ReportKeys, " ") != strings.Join(want, " ") {
		t.Fatalf("schedule report = %+v", rep)
	}
	body, out := getObject(t, c, "reports/latest.json")
	if aws.ToString(out.ContentType) != "application/json" || out.ServerSideEncryption != "AES256" {
		t.Fatalf("latest.json: content type %q, SSE %q", aws.ToString(out.ContentType), out.ServerSideEncryption)
	}
	var r struct {
		Accounts []struct {
			ID    string `json:"account_id"`
			Users int    `json:"users"`
		} `json:"accounts"`
		Users    []struct{ User string } `json:"users"`
		Forecast struct{ Days int }      `json:"forecast"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Accounts) != 2 || r.Accounts[0].ID != "222222222222" || r.Accounts[0].Users != 4 || r.Accounts[1].Users != 3 ||
		len(r.Users) != 7 || r.Forecast.Days != 10 {
		t.Fatalf("report %+v", r)
	}
	dated, _ := getObject(t, c, "reports/2026-11-21/report.json")
	if !bytes.Equal(dated, body) {
		t.Fatal("the dated report differs from latest")
	}
	html, out := getObject(t, c, "reports/latest.html")
	if !strings.HasPrefix(aws.ToString(out.ContentType), "text/html") || !bytes.HasPrefix(html, []byte("<!DOCTYPE html>")) ||
		!bytes.Contains(html, []byte("due-c")) {
		t.Fatalf("latest.html: %q, %d bytes", aws.ToString(out.ContentType), len(html))
	}
}

func TestReportFailureDoesNotStopTheSchedule(t *testing.T) {
	f, _ := withReportBucket(t)
	f.h.Reports.Bucket = "no-such-bucket-here"
	rep := invoke(t, f.h, context.Background(), scheduledEvent).(Report)
	if rep.Planned != 2 || rep.Enqueued != 3 || len(rep.Errors) != 1 || !strings.Contains(rep.Errors[0], "NoSuchBucket") || len(rep.ReportKeys) != 0 {
		t.Fatalf("schedule report = %+v", rep)
	}
}
