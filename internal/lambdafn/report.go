package lambdafn

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/job"
	"github.com/keycycle/keycycle/internal/report"
)

// ReportStore is the part of the S3 client the scheduled report is written with; *s3.Client
// satisfies it. PutObject replaces an object of the same key (the day's report, latest.*).
type ReportStore interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

var _ ReportStore = (*s3.Client)(nil)

// Reports says where the scheduled run writes its report (docs/report.md); a zero Bucket: none.
type Reports struct {
	Store  ReportStore
	Bucket string
	// Prefix starts every key (default "keycycle/"); the report of a run goes to
	// <prefix><YYYY-MM-DD>/report.{json,html} and <prefix>latest.{json,html}, a planner's (two-level
	// fan-out) per-account report to <prefix><YYYY-MM-DD>/accounts/<id>.{json,html}.
	Prefix string
	// Days is the forecast's length (0: report.DefaultDays).
	Days int
}

func (r Reports) prefix() string {
	if r.Prefix == "" {
		return "keycycle/"
	}
	if !strings.HasSuffix(r.Prefix, "/") {
		return r.Prefix + "/"
	}
	return r.Prefix
}

// writeFleetReport builds the report of a schedule's planned accounts and writes it as JSON and
// HTML, dated and as latest. It returns the keys written.
func (h *Handler) writeFleetReport(ctx context.Context, results []job.AccountResult) ([]string, error) {
	if h.Reports.Bucket == "" {
		return nil, nil
	}
	in := report.Input{Now: h.reportNow(), Days: h.Reports.Days, Rules: h.Fleet.Runner.Rules}
	for _, r := range results {
		if r.Err != nil {
			in.Failed = append(in.Failed, report.AccountError{AccountID: r.AccountID, Error: r.Err.Error()})
			continue
		}
		a := r.Scanned.Account
		if a.Alias == "" {
			a.Alias = r.Name
		}
		in.Accounts = append(in.Accounts, a)
	}
	day := in.Now.UTC().Format(time.DateOnly)
	p := h.Reports.prefix()
	return h.writeReport(ctx, report.Build(in), []string{p + day + "/report", p + "latest"})
}

// writeAccountReport writes one planned account's report (a planner of the two-level fan-out).
func (h *Handler) writeAccountReport(ctx context.Context, acct inventory.Account) ([]string, error) {
	if h.Reports.Bucket == "" {
		return nil, nil
	}
	now := h.reportNow()
	rep := report.Build(report.Input{Accounts: []inventory.Account{acct}, Rules: h.Fleet.Runner.Rules, Now: now, Days: h.Reports.Days})
	p := h.Reports.prefix()
	return h.writeReport(ctx, rep, []string{p + now.UTC().Format(time.DateOnly) + "/accounts/" + acct.ID})
}

// reportNow is the time a report describes: the runners' clock (AWS's time, as the plans use),
// else the handler's.
func (h *Handler) reportNow() time.Time {
	if h.Fleet.Runner.Now != nil {
		return h.Fleet.Runner.Now()
	}
	return h.now()
}

// writeReport writes rep as <base>.json and <base>.html for every base.
func (h *Handler) writeReport(ctx context.Context, rep report.Report, bases []string) ([]string, error) {
	var written []string
	for _, f := range []struct {
		format report.Format
		ext    string
		ctype  string
	}{{report.JSON, ".json", "application/json"}, {report.HTML, ".html", "text/html; charset=utf-8"}} {
		var buf bytes.Buffer
		if err := report.Write(&buf, rep, f.format); err != nil {
			return written, fmt.Errorf("render the %s report: %w", f.format, err)
		}
		for _, base := range bases {
			key := base + f.ext
			in := &s3.PutObjectInput{
				Bucket: aws.String(h.Reports.Bucket), Key: aws.String(key), Body: bytes.NewReader(buf.Bytes()),
				ContentType: aws.String(f.ctype), ServerSideEncryption: s3types.ServerSideEncryptionAes256,
			}
			if _, err := h.Reports.Store.PutObject(ctx, in); err != nil {
				return written, fmt.Errorf("write report s3://%s/%s: %w", h.Reports.Bucket, key, err)
			}
			written = append(written, key)
		}
	}
	h.log().Info("report written", "bucket", h.Reports.Bucket, "keys", written)
	return written, nil
}
