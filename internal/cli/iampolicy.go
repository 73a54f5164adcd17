package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/keycycle/keycycle/internal/iampolicy"
)

// iamPolicyCommand is `keycycle policy`: the least-privilege IAM policy a configuration needs, as
// JSON on stdout (internal/iampolicy declares the actions of every code path).
func iamPolicyCommand(fs *flag.FlagSet, e *env) runFunc {
	cfgFile := fs.String("config", "", "configuration `file` (YAML, see docs/configuration.md); none: the documented defaults")
	role := fs.String("role", string(iampolicy.Member), "`role`: member (works inside an account: the member role, or your own credentials for plan/apply) or hub (the Lambda function's role)")
	memberRole := fs.String("member-role", iampolicy.DefaultMemberRole, "hub: the member role `name` or ARN template with {{account}} it assumes (KEYCYCLE_ROLE)")
	name := fs.String("name", iampolicy.DefaultName, "hub: the deployment `name`: function, log group /aws/lambda/<name>, queue <name>.fifo")
	discovery := fs.String("discovery", string(iampolicy.DiscoverOrganization), "hub: how accounts are found: organization (every account), ous (KEYCYCLE_OUS) or accounts (a fixed KEYCYCLE_ACCOUNTS list)")
	engine := fs.String("engine", string(iampolicy.EngineLambda), "hub: lambda (the deployed function) or cli (plan/apply with the configuration's accounts section, which then decides discovery and member role)")
	partition := fs.String("partition", "aws", "ARN `partition`: aws, aws-us-gov, aws-cn")
	region := fs.String("region", "*", "`region` in the ARNs of the account's own resources")
	account := fs.String("account", "*", "account `id` in the ARNs of the account's own resources")
	cleanup := fs.Bool("cleanup-queue", false, "hub: the deployment retires old keys through its cleanup queue <name>-cleanup (the CDK construct's cleanupWaitDuration)")
	singleLevel := fs.Bool("single-level", false, "hub: the deployment has no account queue and planner function (the schedule plans every account itself, as the CDK construct)")
	reportBucket := fs.String("report-bucket", "", "hub: the S3 `bucket` the schedule writes its report to (KEYCYCLE_REPORT_BUCKET); empty: no report")
	reportPrefix := fs.String("report-prefix", "", "hub: the `prefix` of the report's keys (KEYCYCLE_REPORT_PREFIX, default keycycle/)")
	selftestPerms := fs.Bool("selftest", false, "member: add what `keycycle selftest` needs (creating and deleting its throwaway user under /keycycle-selftest/)")
	checkPerms := fs.Bool("check", false, "member: add what `keycycle check` and apply's pre-flight read to verify senders and topics (ses:GetEmailIdentity, sns:GetTopicAttributes)")
	return func(_ context.Context, args []string) int {
		if len(args) > 0 {
			return usageError(fs, "takes no arguments")
		}
		cfg, err := loadConfig(e, *cfgFile)
		if err != nil {
			fmt.Fprintf(e.stderr, "keycycle: %v\n", err)
			return exitUsage
		}
		doc, err := iampolicy.Policy(cfg, iampolicy.Role(*role), iampolicy.Options{
			Partition: *partition, Region: *region, Account: *account,
			MemberRole: *memberRole, Name: *name, Discovery: iampolicy.Discovery(*discovery), Engine: iampolicy.Engine(*engine),
			CleanupQueue: *cleanup,
			Selftest:     *selftestPerms,
			Check:        *checkPerms,
			SingleLevel:  *singleLevel,
			ReportBucket: *reportBucket,
			ReportPrefix: *reportPrefix,
		})
		if err != nil {
			return usageError(fs, "%v", err)
		}
		if err := doc.Write(e.stdout); err != nil {
			fmt.Fprintf(e.stderr, "keycycle policy: write: %v\n", err)
			return exitFail
		}
		return exitOK
	}
}
