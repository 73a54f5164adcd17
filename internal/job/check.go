package job

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"

	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/sink"
)

// Problem is one thing that keeps a configured sink or notifier from working: the configuration
// field it is about, and what is wrong. It never holds a secret (a webhook URL is named by its
// field, not printed).
type Problem struct {
	Field string
	Msg   string
	// Unverified: the check itself was refused (a verification-only read the identity may not
	// make: `keycycle policy --check` grants it); the run may work, nothing is known to be wrong.
	Unverified bool
}

func (p Problem) String() string { return p.Field + ": " + p.Msg }

// CheckOptions are the seams of Check.
type CheckOptions struct {
	// HTTP is the client for webhooks and Slack; nil: a client with a 10 s timeout.
	HTTP *http.Client
	// LookupEnv reads the environment (webhook signing keys); nil is os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// checkProbeUser and checkProbeAccount fill name templates for the reachability probes: a secret
// or parameter that does not exist answers "not found", which proves the service is reachable
// and the caller may read there.
const (
	checkProbeAccount = "000000000000"
	checkProbeUser    = "keycycle-check-probe"
)

// Check verifies, before anything changes, that every sink and notifier of the configuration is
// usable from the runner's identity: SES identities verified for sending, the SNS topic existing,
// Secrets Manager and SSM reachable under the configured names, Lambda functions invocable (a
// DryRun invocation), webhook signing keys present and webhooks answering, GitHub token secrets
// existing. It reports every problem at once, sorted by field; none is nil. The checks run
// concurrently and read only: nothing is created, sent or changed.
func (r *Runner) Check(ctx context.Context, cfg *config.Config, o CheckOptions) []Problem {
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	var (
		mu       sync.Mutex
		problems []Problem
		wg       sync.WaitGroup
		seen     = map[string]bool{}
	)
	add := func(field, format string, args ...any) {
		mu.Lock()
		problems = append(problems, Problem{Field: field, Msg: fmt.Sprintf(format, args...)})
		mu.Unlock()
	}
	unverified := func(field, format string, args ...any) {
		mu.Lock()
		problems = append(problems, Problem{Field: field, Msg: fmt.Sprintf(format, args...), Unverified: true})
		mu.Unlock()
	}
	// run starts a check once per key (the same sink in several lists is checked once).
	run := func(key string, f func()) {
		if seen[key] {
			return
		}
		seen[key] = true
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	if _, err := r.Identity(ctx); err != nil {
		return []Problem{{Field: "credentials", Msg: err.Error()}}
	}

	lists := map[string][]config.Sink{"delivery.sinks": cfg.Delivery.Sinks}
	for rule, l := range cfg.Delivery.Rules {
		lists[fmt.Sprintf("rules[%s].delivery", rule)] = l
	}
	names := make([]string, 0, len(lists))
	for n := range lists {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, list := range names {
		for i, s := range lists[list] {
			field := fmt.Sprintf("%s[%d] (%s %s)", list, i, s.Kind(), s.Name)
			a := s.Settings.Access(cfg.Secret)
			if a.Secret != "" {
				run("sm "+a.Secret, func() { r.checkSecretsManager(ctx, field, a.Secret, add) })
			}
			if a.Parameter != "" {
				run("ssm "+a.Parameter, func() { r.checkSSM(ctx, field, a.Parameter, add) })
			}
			if a.Function != "" {
				run("lambda "+a.Function, func() { r.checkLambda(ctx, field, a.Function, add) })
			}
			if a.Env != "" {
				if v, ok := o.LookupEnv(a.Env); !ok || v == "" {
					add(field, "environment variable %s (a secret the %s sink %s needs) is not set", a.Env, s.Kind(), s.Name)
				}
			}
			if a.URL != "" {
				run(string(s.Kind())+" "+a.URL, func() { checkWebhook(ctx, o.HTTP, field, a.URL, add) })
			}
			if a.Sender != "" {
				run("ses "+a.Sender, func() { r.checkSES(ctx, field, a.Sender, "", add, unverified) })
			}
			if a.ReadSecret != "" {
				run("secret "+a.ReadSecret, func() { r.checkSecretExists(ctx, field, a.ReadSecret, add) })
			}
		}
	}
	n := cfg.Notify
	if n.Email.From != "" {
		run("notify ses", func() { r.checkSES(ctx, "notify.email.from", n.Email.From, n.Email.Region, add, unverified) })
	}
	if n.SNSTopicARN != "" {
		run("notify sns", func() { r.checkSNS(ctx, "notify.sns.topic_arn", n.SNSTopicARN, add, unverified) })
	}
	if n.SlackWebhookURL != "" {
		run("notify slack", func() { checkSlack(ctx, o.HTTP, "notify.slack.webhook_url", n.SlackWebhookURL, add) })
	}
	wg.Wait()
	sort.Slice(problems, func(i, j int) bool {
		if problems[i].Field != problems[j].Field {
			return problems[i].Field < problems[j].Field
		}
		return problems[i].Msg < problems[j].Msg
	})
	return problems
}

type addFunc func(field, format string, args ...any)

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func isAccessDenied(code string) bool {
	return code == "AccessDenied" || code == "AccessDeniedException" || code == "AuthorizationError" || code == "UnauthorizedOperation"
}

// checkSecretsManager describes a secret that does not exist under the name template: not found
// proves Secrets Manager answers and the caller may look there.
func (r *Runner) checkSecretsManager(ctx context.Context, field, tmpl string, add addFunc) {
	name := sink.SecretName(tmpl, checkProbeAccount, checkProbeUser)
	_, err := secretsmanager.NewFromConfig(r.AWS).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	switch code := errorCode(err); {
	case err == nil, code == "ResourceNotFoundException":
	case isAccessDenied(code):
		add(field, "Secrets Manager refuses secretsmanager:DescribeSecret on %s (%s): the identity lacks the permissions keycycle policy prints", name, code)
	default:
		add(field, "Secrets Manager is not reachable: %v", err)
	}
}

func (r *Runner) checkSecretExists(ctx context.Context, field, id string, add addFunc) {
	_, err := secretsmanager.NewFromConfig(r.AWS).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	switch code := errorCode(err); {
	case err == nil:
	case code == "ResourceNotFoundException":
		add(field, "the token secret %s does not exist in Secrets Manager", id)
	case isAccessDenied(code):
		add(field, "Secrets Manager refuses secretsmanager:DescribeSecret on %s (%s)", id, code)
	default:
		add(field, "Secrets Manager is not reachable: %v", err)
	}
}

// checkSSM reads a parameter that does not exist under the name template.
func (r *Runner) checkSSM(ctx context.Context, field, tmpl string, add addFunc) {
	if tmpl == "" {
		tmpl = config.DefaultParameterTemplate
	}
	name := sink.SecretName(tmpl, checkProbeAccount, checkProbeUser)
	_, err := ssm.NewFromConfig(r.AWS).GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name)})
	switch code := errorCode(err); {
	case err == nil, code == "ParameterNotFound":
	case isAccessDenied(code):
		add(field, "SSM refuses ssm:GetParameter on %s (%s): the identity lacks the permissions keycycle policy prints", name, code)
	default:
		add(field, "SSM Parameter Store is not reachable: %v", err)
	}
}

// checkLambda invokes the function with InvocationType DryRun: Lambda checks that it exists and
// that the caller may invoke it, and runs nothing.
func (r *Runner) checkLambda(ctx context.Context, field, fn string, add addFunc) {
	_, err := lambda.NewFromConfig(r.AWS).Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(fn), InvocationType: lambdatypes.InvocationTypeDryRun})
	switch code := errorCode(err); {
	case err == nil:
	case code == "ResourceNotFoundException":
		add(field, "Lambda function %s does not exist", fn)
	case isAccessDenied(code):
		add(field, "Lambda refuses lambda:InvokeFunction on %s (%s)", fn, code)
	default:
		add(field, "Lambda function %s cannot be invoked: %v", fn, err)
	}
}

// checkSES asks SES whether the sender address, or its domain, is verified for sending.
func (r *Runner) checkSES(ctx context.Context, field, from, region string, add, unverified addFunc) {
	c := sesv2.NewFromConfig(r.AWS, func(o *sesv2.Options) {
		if region != "" {
			o.Region = region
		}
	})
	addr := from
	if i := strings.LastIndex(addr, "<"); i >= 0 { // "Name <addr>"
		addr = strings.TrimSuffix(addr[i+1:], ">")
	}
	candidates := []string{addr}
	if _, domain, ok := strings.Cut(addr, "@"); ok {
		candidates = append(candidates, domain)
	}
	var pending []string
	for _, id := range candidates {
		out, err := c.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String(id)})
		switch code := errorCode(err); {
		case err == nil && out.VerifiedForSendingStatus:
			return
		case err == nil:
			pending = append(pending, fmt.Sprintf("%s (verification %s)", id, out.VerificationStatus))
		case code == "NotFoundException":
		case isAccessDenied(code):
			unverified(field, "cannot verify the sender: SES refuses ses:GetEmailIdentity on %s (%s); grant what keycycle policy --check prints", id, code)
			return
		default:
			add(field, "SES is not reachable: %v", err)
			return
		}
	}
	where := c.Options().Region
	if len(pending) > 0 {
		add(field, "SES identity %s is not verified for sending in %s yet", strings.Join(pending, ", "), where)
		return
	}
	add(field, "sender %s is not verified in SES (%s): neither the address nor its domain is an SES identity there", addr, where)
}

// checkSNS asks for the topic's attributes: NotFound means the topic does not exist.
func (r *Runner) checkSNS(ctx context.Context, field, topic string, add, unverified addFunc) {
	a, err := arn.Parse(topic)
	if err != nil {
		add(field, "not a topic ARN: %v", err)
		return
	}
	c := sns.NewFromConfig(r.AWS, func(o *sns.Options) { o.Region = a.Region })
	_, err = c.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(topic)})
	switch code := errorCode(err); {
	case err == nil:
	case code == "NotFound":
		add(field, "SNS topic %s does not exist", topic)
	case isAccessDenied(code):
		unverified(field, "cannot verify the topic: SNS refuses sns:GetTopicAttributes on %s (%s); grant what keycycle policy --check prints", topic, code)
	default:
		add(field, "SNS topic %s cannot be checked: %v", topic, err)
	}
}

// checkWebhook asks whether the webhook answers at all: any HTTP response will do (HEAD sends
// nothing a receiver would act on). The URL is not printed: it may carry a token.
func checkWebhook(ctx context.Context, hc *http.Client, field, url string, add addFunc) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, url, nil)
	if err != nil {
		add(field, "the URL is not valid")
		return
	}
	resp, err := hc.Do(req)
	if err != nil {
		add(field, "the webhook does not answer: %s", redactURL(err, url))
		return
	}
	resp.Body.Close()
}

// checkSlack posts an empty JSON object: Slack answers 400 (no text) to a live webhook and posts
// nothing, 403/404/410 to a revoked or mistyped one.
func checkSlack(ctx context.Context, hc *http.Client, field, url string, add addFunc) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader("{}"))
	if err != nil {
		add(field, "the URL is not valid")
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		add(field, "Slack does not answer: %s", redactURL(err, url))
		return
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusForbidden, http.StatusNotFound, http.StatusGone:
		add(field, "Slack refuses the webhook URL (HTTP %d): it was revoked or mistyped", resp.StatusCode)
	}
}

// redactURL says what went wrong with a request without the URL (it may hold a token).
func redactURL(err error, url string) string {
	return strings.ReplaceAll(err.Error(), url, "<url>")
}
