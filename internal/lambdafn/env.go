package lambdafn

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keycycle/keycycle/internal/awscfg"
	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/job"
)

// Environment variables of the Lambda function (set by the Terraform module and the
// CloudFormation template; documented in docs/lambda.md).
const (
	EnvConfig      = "KEYCYCLE_CONFIG"      // path of the YAML configuration in the package (default keycycle.yaml)
	EnvQueueURL    = "KEYCYCLE_QUEUE_URL"   // the FIFO work queue
	EnvRole        = "KEYCYCLE_ROLE"        // member role name or ARN template (default KeycycleMember)
	EnvExternalID  = "KEYCYCLE_EXTERNAL_ID" // ExternalId for the member role
	EnvAccounts    = "KEYCYCLE_ACCOUNTS"    // comma-separated account ids; empty: the whole organization
	EnvOUs         = "KEYCYCLE_OUS"         // comma-separated OU ids to select (recursive)
	EnvExclude     = "KEYCYCLE_EXCLUDE"     // comma-separated account ids (globs) to leave out
	EnvDryRun      = "KEYCYCLE_DRY_RUN"     // "false" changes AWS; anything else is a dry run
	EnvConcurrency = "KEYCYCLE_CONCURRENCY" // accounts at once in one invocation (default 8)
	// EnvAccountQueueURL is the account queue of the two-level fan-out; unset, the schedule
	// plans every account itself.
	EnvAccountQueueURL = "KEYCYCLE_ACCOUNT_QUEUE_URL"
	EnvMarginSecond    = "KEYCYCLE_MARGIN_SECONDS" // stop starting work this long before the deadline (default 30)
	// EnvCleanupQueueURL and EnvCleanupWait turn on short cleanup waits (cleanup.go): the
	// standard queue of the follow-ups and the wait in seconds (the CDK construct sets both).
	EnvCleanupQueueURL = "KEYCYCLE_CLEANUP_QUEUE_URL"
	EnvCleanupWait     = "KEYCYCLE_CLEANUP_WAIT_SECONDS"
	// EnvConfigYAML is the configuration document itself, for deployments that cannot add a file
	// (the CloudFormation template); it wins over EnvConfig.
	EnvConfigYAML = "KEYCYCLE_CONFIG_YAML"
	// EnvReportBucket turns on the scheduled report (JSON and HTML, SSE-S3 encrypted) in this S3
	// bucket; EnvReportPrefix starts its keys (default "keycycle/"), EnvReportDays is the
	// forecast's length (default 30).
	EnvReportBucket = "KEYCYCLE_REPORT_BUCKET"
	EnvReportPrefix = "KEYCYCLE_REPORT_PREFIX"
	EnvReportDays   = "KEYCYCLE_REPORT_DAYS"
)

// FromEnv builds the handler of a Lambda instance from its environment and configuration file.
func FromEnv(ctx context.Context, getenv func(string) string) (*Handler, error) {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	path := getenv(EnvConfig)
	if path == "" {
		path = "keycycle.yaml"
	}
	cfg := config.Default()
	if doc := getenv(EnvConfigYAML); doc != "" {
		var err error
		if cfg, err = config.Parse(EnvConfigYAML, []byte(doc)); err != nil {
			return nil, err
		}
	} else if _, err := os.Stat(path); err == nil || getenv(EnvConfig) != "" {
		var err error
		if cfg, err = config.Load(path); err != nil {
			return nil, err
		}
	}
	awsCfg, clock, err := awscfg.Load(ctx, awscfg.Options{})
	if err != nil {
		return nil, err
	}
	id, err := sts.NewFromConfig(awsCfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return nil, fmt.Errorf("who am I: %w", err)
	}
	// The configuration's accounts section, with the environment (set by the deployment)
	// winning: the same constructor as the CLI's.
	concurrency, _ := strconv.Atoi(getenv(EnvConcurrency))
	margin, _ := strconv.Atoi(getenv(EnvMarginSecond))
	runner, err := job.FromConfig(cfg, awsCfg, clock.Now, log)
	if err != nil {
		return nil, err
	}
	fleet, sel := job.FleetFromConfig(cfg, runner, job.Deployment{
		Role: getenv(EnvRole), ExternalID: getenv(EnvExternalID), Concurrency: concurrency,
		IDs: list(getenv(EnvAccounts)), OUs: list(getenv(EnvOUs)), Exclude: list(getenv(EnvExclude)),
		Organization: true,
	})
	h := &Handler{
		Fleet:           fleet,
		DefaultAccount:  aws.ToString(id.Account),
		SQS:             sqs.NewFromConfig(awsCfg),
		QueueURL:        getenv(EnvQueueURL),
		AccountQueueURL: getenv(EnvAccountQueueURL),
		DryRun:          getenv(EnvDryRun) != "false",
		Log:             log,
	}
	if margin > 0 {
		h.Margin = secondsDuration(margin)
	}
	if b := getenv(EnvReportBucket); b != "" {
		days := 0
		if v := getenv(EnvReportDays); v != "" {
			if days, err = strconv.Atoi(v); err != nil || days < 1 || days > 366 {
				return nil, fmt.Errorf("%s must be a number of days within 1..366, got %q", EnvReportDays, v)
			}
		}
		h.Reports = Reports{Store: newS3(awsCfg), Bucket: b, Prefix: getenv(EnvReportPrefix), Days: days}
	}
	if u := getenv(EnvCleanupQueueURL); u != "" {
		wait, err := strconv.Atoi(getenv(EnvCleanupWait))
		if err != nil || wait <= 0 {
			return nil, fmt.Errorf("%s is set: %s must be a positive number of seconds, got %q", EnvCleanupQueueURL, EnvCleanupWait, getenv(EnvCleanupWait))
		}
		h.CleanupQueueURL, h.CleanupWait = u, secondsDuration(wait)
	}
	org := organizations.NewFromConfig(awsCfg)
	h.Targets = func(ctx context.Context) ([]job.Target, error) {
		ts, skipped, err := sel.Targets(ctx, org)
		if err != nil {
			return nil, err
		}
		for _, s := range skipped {
			log.Info("account skipped", "account_id", s.ID, "reason", s.Reason)
		}
		return ts, nil
	}
	return h, nil
}

// newS3 is the report bucket's client: path-style addressing on a custom endpoint (the sandbox,
// which has no per-bucket host names), AWS's virtual-hosted style otherwise.
func newS3(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = cfg.BaseEndpoint != nil })
}

func list(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
