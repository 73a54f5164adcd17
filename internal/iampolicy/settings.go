package iampolicy

import (
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/policy"
)

// Discovery is how the hub finds the accounts it works on (the Lambda's KEYCYCLE_ACCOUNTS and
// KEYCYCLE_OUS).
type Discovery string

// Discovery modes.
const (
	// DiscoverOrganization lists every account of the organization (neither variable set).
	DiscoverOrganization Discovery = "organization"
	// DiscoverOUs lists the accounts of organizational units (KEYCYCLE_OUS).
	DiscoverOUs Discovery = "ous"
	// DiscoverNone works on a fixed list of accounts (KEYCYCLE_ACCOUNTS): no Organizations calls.
	DiscoverNone Discovery = "accounts"
)

// Engine is what runs as the hub.
type Engine string

// Engines.
const (
	// EngineLambda: the Lambda function (schedule, SQS worker); accounts from its environment.
	EngineLambda Engine = "lambda"
	// EngineCLI: `keycycle plan`/`apply` with the configuration's accounts section.
	EngineCLI Engine = "cli"
)

// Options are what a policy depends on besides the configuration: where it runs and, for the
// hub, how the deployment names its parts.
type Options struct {
	// Engine is what the hub runs as (default lambda). With cli, the configuration's accounts
	// section says how accounts are found and which role is assumed, and MemberRole and
	// Discovery are ignored.
	Engine Engine
	// Partition is the ARN partition (default "aws").
	Partition string
	// Region and Account go into the ARNs of the account's own resources (default "*").
	Region, Account string
	// MemberRole is the member role name or ARN template with {{account}}, as KEYCYCLE_ROLE
	// (default KeycycleMember, the role deploy/ creates).
	MemberRole string
	// Name is the deployment's name: the function (log group /aws/lambda/<name>) and its work
	// queue <name>.fifo (default keycycle).
	Name      string
	Discovery Discovery
	// AccountTags: accounts are selected by their Organizations tags (cli only).
	AccountTags bool
	// CleanupQueue: the deployment retires old keys a short wait after the new key was
	// delivered through its cleanup queue <name>-cleanup (KEYCYCLE_CLEANUP_QUEUE_URL; the CDK
	// construct's cleanupWaitDuration). Lambda engine only.
	CleanupQueue bool
	// Selftest adds what `keycycle selftest` needs besides the member policy (member only).
	Selftest bool
	// Check adds what `keycycle check` and apply's pre-flight read only to verify (member only):
	// ses:GetEmailIdentity of the senders, sns:GetTopicAttributes of the topic. Without it the
	// pre-flight reports those two as refused; the rest of it needs nothing beyond the sinks'.
	Check bool
	// SingleLevel: the deployment has no account queue and planner function (the schedule plans
	// every account itself, as the CDK construct deploys it). Lambda engine only.
	SingleLevel bool
	// ReportBucket is the S3 bucket the schedule writes its report to (KEYCYCLE_REPORT_BUCKET);
	// empty: no report. ReportPrefix starts the report's keys (KEYCYCLE_REPORT_PREFIX, default
	// "keycycle/"). Lambda engine only.
	ReportBucket, ReportPrefix string
}

// Defaults of Options.
const (
	DefaultMemberRole = "KeycycleMember"
	DefaultName       = "keycycle"
)

// Settings are the resolved inputs of the scoping rules: ARN patterns and names taken from a
// configuration and Options.
type Settings struct {
	Options
	// Users are the user ARN patterns of the selection; empty: every user.
	Users []string
	// StatePrefix is keycycle's state tag prefix.
	StatePrefix string
	// PasswordRotation: some rule rotates console passwords; ConsoleRemoval: some rule removes
	// unused console access.
	PasswordRotation, ConsoleRemoval bool
	// Secrets are the ARN patterns of the Secrets Manager secrets keycycle writes.
	Secrets []string
	// SecretKeys are the KMS keys the secrets are encrypted with (empty: aws/secretsmanager).
	SecretKeys []string
	// Parameters are the ARN patterns of the SSM parameters keycycle writes.
	Parameters []string
	// ParameterKeys are the KMS keys of the parameters (empty: aws/ssm).
	ParameterKeys []string
	// SinkCredentials are the ARNs of the secrets the sinks read a credential from
	// (config.SinkAccess.ReadSecret: a github sink's token or GitHub App credential, a vault
	// sink's token).
	SinkCredentials []string
	// Functions are the ARNs of the Lambda handlers keycycle invokes.
	Functions []string
	// Senders are the e-mail addresses keycycle sends from, with the SES region of each.
	Senders []Sender
	// Topics are the SNS topic ARNs keycycle publishes to.
	Topics []string
	// MarkerTag: the selftest reads its marker from an Organizations account tag.
	MarkerTag bool
}

// Sender is one address keycycle sends e-mail from.
type Sender struct {
	Address string
	Region  string // "" is Options.Region
}

// placeholderRE finds the {{account}} and {{user}} placeholders of name templates.
var placeholderRE = regexp.MustCompile(`\{\{[a-z]+\}\}`)

// Resolve reads what the scoping rules need from a configuration.
func Resolve(cfg *config.Config, o Options) *Settings {
	if o.Partition == "" {
		o.Partition = "aws"
	}
	if o.Region == "" {
		o.Region = "*"
	}
	if o.Account == "" {
		o.Account = "*"
	}
	if o.MemberRole == "" {
		o.MemberRole = DefaultMemberRole
	}
	if o.Name == "" {
		o.Name = DefaultName
	}
	if o.Discovery == "" {
		o.Discovery = DiscoverOrganization
	}
	if o.Engine == "" {
		o.Engine = EngineLambda
	}
	if a := cfg.Accounts; o.Engine == EngineCLI && a != nil {
		o.MemberRole = a.Role
		switch {
		case a.Source == config.SourceList:
			o.Discovery = DiscoverNone
		case len(a.OUs) > 0:
			o.Discovery = DiscoverOUs
		default:
			o.Discovery = DiscoverOrganization
		}
		o.AccountTags = a.Source == config.SourceOrganization && len(a.Tags) > 0
	}
	s := &Settings{Options: o, StatePrefix: cfg.Rules.Tags.StatePrefix, MarkerTag: cfg.Selftest.AllowedTag != ""}
	s.Users = s.userPatterns(cfg)
	for _, th := range append([]policy.Thresholds{cfg.Rules.Default}, namedThresholds(cfg)...) {
		s.PasswordRotation = s.PasswordRotation || th.PasswordRotateAfter > 0
		s.ConsoleRemoval = s.ConsoleRemoval || th.ConsoleUnusedAfter > 0
	}

	lists := [][]config.Sink{cfg.Delivery.Sinks}
	if len(cfg.Delivery.Sinks) == 0 {
		lists[0] = config.DefaultSinks()
	}
	rules := make([]string, 0, len(cfg.Delivery.Rules))
	for r := range cfg.Delivery.Rules {
		rules = append(rules, r)
	}
	sort.Strings(rules)
	for _, r := range rules {
		lists = append(lists, cfg.Delivery.Rules[r])
	}
	for _, list := range lists {
		for _, sk := range list {
			a := sk.Settings.Access(cfg.Secret)
			if a.Secret != "" {
				s.Secrets = append(s.Secrets, s.arn("secretsmanager", "secret:"+secretPattern(s.fill(a.Secret))))
				if s.PasswordRotation {
					s.Secrets = append(s.Secrets, s.arn("secretsmanager", "secret:"+secretPattern(s.fill(cfg.Passwords.SecretTemplate))))
				}
				if cfg.Secret.KMSKeyID != "" {
					s.SecretKeys = append(s.SecretKeys, cfg.Secret.KMSKeyID)
				}
			}
			if a.Parameter != "" {
				name := strings.TrimPrefix(s.fill(a.Parameter), "/")
				s.Parameters = append(s.Parameters, s.arn("ssm", "parameter/"+name))
				if s.PasswordRotation {
					s.Parameters = append(s.Parameters, s.arn("ssm", "parameter/"+strings.TrimPrefix(s.fill(cfg.Passwords.ParameterTemplate), "/")))
				}
				if a.ParameterKey != "" {
					s.ParameterKeys = append(s.ParameterKeys, a.ParameterKey)
				}
			}
			if a.Function != "" {
				s.Functions = append(s.Functions, s.functionARN(a.Function))
			}
			if a.ReadSecret != "" {
				s.SinkCredentials = append(s.SinkCredentials, s.secretARN(a.ReadSecret))
			}
			if a.Sender != "" {
				s.Senders = append(s.Senders, Sender{Address: address(a.Sender)})
			}
		}
	}
	if from := cfg.Notify.Email.From; from != "" {
		s.Senders = append(s.Senders, Sender{Address: address(from), Region: cfg.Notify.Email.Region})
	}
	if t := cfg.Notify.SNSTopicARN; t != "" {
		s.Topics = append(s.Topics, t)
	}
	for _, l := range []*[]string{&s.Secrets, &s.SecretKeys, &s.Parameters, &s.ParameterKeys, &s.Functions, &s.Topics, &s.SinkCredentials} {
		*l = uniq(*l)
	}
	return s
}

// fill replaces the name templates' placeholders: {{account}} by the account when known, every
// other placeholder by a wildcard; runs of wildcards collapse.
func (s *Settings) fill(tmpl string) string {
	out := placeholderRE.ReplaceAllStringFunc(tmpl, func(ph string) string {
		if ph == "{{account}}" && s.Account != "*" {
			return s.Account
		}
		return "*"
	})
	for strings.Contains(out, "**") {
		out = strings.ReplaceAll(out, "**", "*")
	}
	return out
}

// secretPattern matches a secret name in an ARN: Secrets Manager appends "-" and six random
// characters to the name, which a pattern ending in a wildcard already covers.
func secretPattern(name string) string {
	if strings.HasSuffix(name, "*") {
		return name
	}
	return name + "-??????"
}

func (s *Settings) arn(service, resource string) string {
	return "arn:" + s.Partition + ":" + service + ":" + s.Region + ":" + s.Account + ":" + resource
}

// secretARN is the ARN pattern of a secret given by name or ARN (a name matches the six
// characters Secrets Manager appends).
func (s *Settings) secretARN(id string) string {
	if strings.HasPrefix(id, "arn:") {
		return id
	}
	return s.arn("secretsmanager", "secret:"+secretPattern(id))
}

func (s *Settings) functionARN(fn string) string {
	if strings.HasPrefix(fn, "arn:") {
		return fn
	}
	return s.arn("lambda", "function:"+fn)
}

// userPatterns scopes the user ARNs to the selection's include entries where IAM can express
// them: IAM paths (a prefix of the ARN's resource part) and user name globs without character
// classes. An entry selecting by groups or tags alone, or no include at all, is every user.
func (s *Settings) userPatterns(cfg *config.Config) []string {
	all := []string{s.userARN("/", "*")}
	inc := cfg.Rules.Selection.Include
	if len(inc) == 0 {
		return all
	}
	var out []string
	for _, m := range inc {
		paths := m.Paths
		if len(paths) == 0 {
			paths = []string{""}
		}
		names := m.Users
		if len(names) == 0 {
			names = []string{"*"}
		}
		if len(m.Paths) == 0 && len(m.Users) == 0 {
			return all
		}
		for _, p := range paths {
			for _, n := range names {
				if strings.ContainsAny(n, `[]\`) {
					n = "*" // a character class IAM cannot express: wider, never narrower
				}
				if p == "" {
					// Any path: the name at the root, or below any path.
					out = append(out, s.userARN("/", n), s.userARN("/*/", n))
					continue
				}
				out = append(out, s.userARN(p, n))
			}
		}
	}
	out = uniq(out)
	if slices.Contains(out, all[0]) {
		return all
	}
	return out
}

// userARN is the ARN of users under an IAM path prefix with a name pattern. A prefix that does
// not end in "/" already matches by prefix, so the name becomes a wildcard.
func (s *Settings) userARN(pathPrefix, name string) string {
	if !strings.HasSuffix(pathPrefix, "/") {
		name = "*"
	}
	r := "user" + pathPrefix + name
	for strings.Contains(r, "**") {
		r = strings.ReplaceAll(r, "**", "*")
	}
	return "arn:" + s.Partition + ":iam::" + s.Account + ":" + r
}

func (s *Settings) users() []string {
	if len(s.Users) == 0 {
		return []string{s.userARN("/", "*")}
	}
	return s.Users
}

// kmsScopes is the statement of the keys a service uses on keycycle's behalf, only through that
// service (kms:ViaService). Keys given by id or key ARN are resources; keys given by alias are
// matched by kms:ResourceAliases, as IAM evaluates KMS actions on the key, never on the alias.
func (s *Settings) kmsScopes(keys []string, via string) []scope {
	var ids, aliases []string
	for _, k := range keys {
		switch {
		case strings.HasPrefix(k, "alias/"):
			aliases = append(aliases, k)
		case strings.HasPrefix(k, "arn:") && strings.Contains(k, ":alias/"):
			aliases = append(aliases, k[strings.Index(k, ":alias/")+1:])
		case strings.HasPrefix(k, "arn:"):
			ids = append(ids, k)
		default:
			ids = append(ids, s.arn("kms", "key/"+k))
		}
	}
	viaService := map[string][]string{"kms:ViaService": {via + "." + s.Region + ".amazonaws.com"}}
	var out []scope
	if len(ids) > 0 {
		out = append(out, scope{Resources: uniq(ids), Condition: map[string]map[string][]string{"StringLike": viaService}})
	}
	if len(aliases) > 0 {
		out = append(out, scope{SidSuffix: "ByAlias", Resources: []string{s.arn("kms", "key/*")}, Condition: map[string]map[string][]string{
			"StringLike":               viaService,
			"ForAnyValue:StringEquals": {"kms:ResourceAliases": uniq(aliases)},
		}})
	}
	return out
}

// sesIdentities are the SES identities keycycle sends from, the address and its domain (SES
// authorizes against the identity that verified the sender, which can be either), and the
// addresses themselves for ses:FromAddress.
func (s *Settings) sesIdentities() (ids, from []string) {
	for _, snd := range s.Senders {
		region := snd.Region
		if region == "" {
			region = s.Region
		}
		from = append(from, snd.Address)
		ids = append(ids, "arn:"+s.Partition+":ses:"+region+":"+s.Account+":identity/"+snd.Address)
		if _, domain, ok := strings.Cut(snd.Address, "@"); ok {
			ids = append(ids, "arn:"+s.Partition+":ses:"+region+":"+s.Account+":identity/"+domain)
		}
	}
	return uniq(ids), uniq(from)
}

func (s *Settings) memberRoleARN() string {
	r := s.MemberRole
	if strings.HasPrefix(r, "arn:") {
		return strings.ReplaceAll(r, "{{account}}", "*")
	}
	return "arn:" + s.Partition + ":iam::*:role/" + strings.TrimPrefix(r, "/")
}

// QueueName is the work queue's name for a deployment name.
func QueueName(name string) string { return name + ".fifo" }

// LogGroup is the function's log group for a deployment name.
func LogGroup(name string) string { return "/aws/lambda/" + name }

func (s *Settings) queueARN() string { return s.arn("sqs", QueueName(s.Name)) }

// CleanupQueueName is the cleanup queue's name for a deployment name: a standard queue, as
// FIFO queues take no per-message delay.
func CleanupQueueName(name string) string { return name + "-cleanup" }

func (s *Settings) cleanupQueueARN() string { return s.arn("sqs", CleanupQueueName(s.Name)) }

// queues are the queues the function consumes.
func (s *Settings) queues() []string {
	qs := s.workQueues()
	if s.CleanupQueue {
		qs = append(qs, s.cleanupQueueARN())
	}
	return qs
}

// AccountQueueName is the account queue of a deployment (a standard queue: one message per
// account for the planners).
func AccountQueueName(name string) string { return name + "-accounts" }

func (s *Settings) accountQueueARN() string { return s.arn("sqs", AccountQueueName(s.Name)) }

// workQueues are the queues the hub sends work to: the work queue and, with the two-level
// fan-out, the account queue.
func (s *Settings) workQueues() []string {
	if s.SingleLevel {
		return []string{s.queueARN()}
	}
	return []string{s.queueARN(), s.accountQueueARN()}
}

func (s *Settings) logStreamsARN() []string {
	if s.SingleLevel {
		return []string{s.arn("logs", "log-group:"+LogGroup(s.Name)+":*")}
	}
	return []string{s.arn("logs", "log-group:"+LogGroup(s.Name)+":*"), s.arn("logs", "log-group:"+LogGroup(PlannerName(s.Name))+":*")}
}

// PlannerName is the account planner function of a deployment (the same package and role as
// the function <name>, on the account queue).
func PlannerName(name string) string { return name + "-planner" }

// address is the bare address of a sender ("Keycycle <k@example.com>" -> k@example.com).
func address(from string) string {
	if a, err := mail.ParseAddress(from); err == nil {
		return a.Address
	}
	return from
}

func uniq(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := slices.Clone(in)
	sort.Strings(out)
	return slices.Compact(out)
}

// Validate checks Options.
func (o Options) Validate() error {
	switch o.Engine {
	case "", EngineLambda, EngineCLI:
	default:
		return fmt.Errorf("engine %q: want lambda or cli", o.Engine)
	}
	switch o.Discovery {
	case "", DiscoverOrganization, DiscoverOUs, DiscoverNone:
	default:
		return fmt.Errorf("discovery %q: want organization, ous or accounts", o.Discovery)
	}
	if o.Account != "" && o.Account != "*" && (len(o.Account) != 12 || strings.Trim(o.Account, "0123456789") != "") {
		return fmt.Errorf("account %q is not a 12-digit account id", o.Account)
	}
	if strings.ContainsAny(o.Name, " /:*") {
		return fmt.Errorf("name %q: letters, digits, - and _ only", o.Name)
	}
	if o.ReportBucket != "" && !reportBucketRE.MatchString(o.ReportBucket) {
		return fmt.Errorf("report bucket %q is not an S3 bucket name", o.ReportBucket)
	}
	if strings.ContainsAny(o.ReportPrefix, "*?") {
		return fmt.Errorf("report prefix %q: no wildcards", o.ReportPrefix)
	}
	return nil
}

var reportBucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// DefaultReportPrefix starts the keys of the scheduled report (internal/lambdafn).
const DefaultReportPrefix = "keycycle/"

// reportObjectsARN is the ARN pattern of the report's objects.
func (s *Settings) reportObjectsARN() string {
	p := s.ReportPrefix
	if p == "" {
		p = DefaultReportPrefix
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return "arn:" + s.Partition + ":s3:::" + s.ReportBucket + "/" + p + "*"
}

func namedThresholds(cfg *config.Config) []policy.Thresholds {
	out := make([]policy.Thresholds, 0, len(cfg.Rules.Named))
	for _, r := range cfg.Rules.Named {
		out = append(out, r.Thresholds)
	}
	return out
}
