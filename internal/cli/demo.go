package cli

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keycycle/keycycle/internal/audit"
	"github.com/keycycle/keycycle/internal/awscfg"
	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/job"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/policy"
	"github.com/keycycle/keycycle/internal/rotation"
	"github.com/keycycle/keycycle/internal/secret"
	"github.com/keycycle/keycycle/internal/sink"
)

//go:embed demo_scenario.yaml
var demoScenario []byte

const demoAccount = "111111111111"

func demoCommand(fs *flag.FlagSet, e *env) runFunc {
	auditFile := fs.String("audit", "", "also write the audit trail (JSON lines) to `file`")
	colour := fs.String("color", "auto", "colour output: auto (on a terminal only), always, never")
	return func(ctx context.Context, args []string) int {
		if len(args) > 0 {
			return usageError(fs, "takes no arguments")
		}
		c := common{colour: colour}
		if err := runDemo(ctx, e, c.useColour(e.stdout), *auditFile); err != nil {
			fmt.Fprintf(e.stderr, "keycycle demo: %v\n", err)
			return exitFail
		}
		return exitOK
	}
}

// recorder keeps everything the demo prints, to prove at the end that no secret is in it.
type recorder struct {
	mu  sync.Mutex
	w   io.Writer
	buf bytes.Buffer
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf.Write(p)
	return r.w.Write(p)
}

// demo is one run of the lifecycle on an in-process sandbox.
type demo struct {
	out     io.Writer
	colour  bool
	srv     *awssim.Server
	url     string
	cfg     aws.Config
	runner  *job.Runner
	secrets []string // every secret access key the demo handled, for the leak check
	// hadActive are the users with an active key when the demo started: each must still have one
	// at the end (I2).
	hadActive map[string]bool
}

func runDemo(ctx context.Context, e *env, colour bool, auditPath string) error {
	sc, err := awssim.ParseScenario("demo_scenario.yaml", demoScenario)
	if err != nil {
		return err
	}
	srv, err := awssim.New(awssim.Options{Scenario: sc, Faults: awssim.Faults{KeyPropagationDelay: awssim.Duration(300 * time.Millisecond)}})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()

	rec := &recorder{w: e.stdout}
	var auditBuf bytes.Buffer
	auditOut := io.Writer(&auditBuf)
	if auditPath != "" {
		f, err := openFileAppend(auditPath)
		if err != nil {
			return err
		}
		defer f.Close()
		auditOut = io.MultiWriter(&auditBuf, f)
	}
	op, _ := srv.OperatorCredential(demoAccount)
	d := &demo{out: rec, colour: colour, srv: srv, url: "http://" + ln.Addr().String()}
	d.cfg = d.config(op.AccessKeyID, op.SecretAccessKey)
	rules := config.Default().Rules
	rules.Selection.Exclude = []policy.Match{{Users: []string{"break-glass-*"}}}
	d.runner = &job.Runner{
		AWS:        d.cfg,
		Rules:      rules,
		Secret:     config.Secret{NameTemplate: config.DefaultSecretTemplate},
		Verify:     job.Verify{Successes: 3, Interval: 100 * time.Millisecond, MaxInterval: 500 * time.Millisecond, Timeout: 30 * time.Second},
		Now:        srv.Clock().Now,
		Audit:      audit.NewWriter(auditOut),
		ReportPoll: 50 * time.Millisecond,
		RunID:      "demo",
	}
	for _, u := range []string{"app-orders", "app-legacy"} {
		ks, _ := srv.Keys(demoAccount, u)
		d.secrets = append(d.secrets, ks[0].SecretAccessKey)
	}
	if err := d.run(ctx); err != nil {
		return err
	}
	// The proof: nothing printed and nothing audited holds a secret access key.
	all := rec.buf.String() + auditBuf.String()
	for _, s := range d.secrets {
		if s != "" && strings.Contains(all, s) {
			return errors.New("a secret access key appeared in the output: this is a bug, please report it")
		}
	}
	fmt.Fprintf(d.out, "\nChecked: none of the %d secret access keys handled in this demo appears in its output or audit trail (%d audit records).\n",
		len(d.secrets), strings.Count(auditBuf.String(), "\n"))
	return nil
}

func (d *demo) config(id, sec string) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(d.url),
		Credentials:  credentials.NewStaticCredentialsProvider(id, sec, ""),
		HTTPClient:   awscfg.Client(awshttp.NewBuildableClient(), nil),
	}
}

func (d *demo) say(format string, args ...any) { fmt.Fprintf(d.out, format+"\n", args...) }

func (d *demo) day(n int, what string) {
	now := d.srv.Clock().Now()
	d.say("\n== Day %d (%s): %s", n, now.Format("2006-01-02"), what)
}

func (d *demo) advanceTo(start time.Time, day int) {
	d.srv.Clock().Set(start.Add(time.Duration(day) * 24 * time.Hour))
}

func (d *demo) run(ctx context.Context) error {
	start := d.srv.Clock().Now()
	d.say("keycycle demo: the access-key lifecycle on the built-in AWS sandbox (no AWS account, nothing leaves this machine).")
	d.say("Account %s holds 12 IAM users; the configuration is the default plus `exclude: break-glass-*`.", demoAccount)
	d.say("New keys take 300ms to start working, as IAM's eventual consistency: keycycle waits it out.")

	d.day(0, "keycycle plan")
	scanned, err := d.runner.Plan(ctx)
	if err != nil {
		return err
	}
	d.hadActive = map[string]bool{}
	for _, u := range scanned.Account.Users {
		keys, _ := d.srv.Keys(demoAccount, u.Name)
		for _, k := range keys {
			d.hadActive[u.Name] = d.hadActive[u.Name] || k.Status == "Active"
		}
	}
	if err := plan.RenderText(d.out, scanned.Plan, d.colour); err != nil {
		return err
	}
	d.day(0, "keycycle apply --yes --dry-run=false")
	if err := d.apply(ctx, scanned.Plan); err != nil {
		return err
	}
	ordersNew, err := d.fetch(ctx, "app-orders")
	if err != nil {
		return err
	}
	if err := d.use(ctx, ordersNew); err != nil {
		return err
	}
	d.say("   app-orders' deployment reads keycycle/%s/app-orders and switches to %s.", demoAccount, ordersNew.KeyID)
	legacyOld, _ := d.srv.Keys(demoAccount, "app-legacy")
	if err := d.useSeeded(ctx, legacyOld[0]); err != nil {
		return err
	}
	d.say("   app-legacy got its new key too, but an old server still signs with %s.", inventory.KeyID(legacyOld[0].AccessKeyID))

	d.advanceTo(start, 5)
	if err := d.useSeeded(ctx, legacyOld[0]); err != nil {
		return err
	}
	d.say("\n== Day 5: the old app-legacy server is still using %s.", inventory.KeyID(legacyOld[0].AccessKeyID))

	d.advanceTo(start, 11)
	d.day(11, "keycycle apply (delivery grace of 10 days has passed)")
	if err := d.planApply(ctx); err != nil {
		return err
	}
	d.advanceTo(start, 12)
	legacyNew, err := d.fetch(ctx, "app-legacy")
	if err != nil {
		return err
	}
	if err := d.use(ctx, legacyNew); err != nil {
		return err
	}
	d.say("\n== Day 12: the old app-legacy server finally switches to %s.", legacyNew.KeyID)

	d.advanceTo(start, 16)
	d.day(16, "keycycle apply (the old app-legacy key has been idle for the 10-day guard window)")
	if err := d.planApply(ctx); err != nil {
		return err
	}
	d.advanceTo(start, 22)
	d.day(22, "keycycle apply (keys deactivated on day 11 are past delete_after 10d)")
	if err := d.planApply(ctx); err != nil {
		return err
	}
	d.advanceTo(start, 27)
	d.day(27, "keycycle apply")
	if err := d.planApply(ctx); err != nil {
		return err
	}
	d.day(27, "where every user ended up")
	return d.final()
}

func (d *demo) planApply(ctx context.Context) error {
	scanned, err := d.runner.Plan(ctx)
	if err != nil {
		return err
	}
	return d.apply(ctx, scanned.Plan)
}

func (d *demo) apply(ctx context.Context, p plan.Plan) error {
	results, err := d.runner.Apply(ctx, p, false)
	if err != nil {
		return err
	}
	renderResults(d.out, results)
	for _, r := range results {
		if r.Outcome == rotation.Failed {
			return fmt.Errorf("step failed for %s: %v", r.Step.User, r.Err)
		}
	}
	return nil
}

// fetch reads a user's current key from Secrets Manager, as its deployment would.
func (d *demo) fetch(ctx context.Context, user string) (secret.AccessKey, error) {
	out, err := secretsmanager.NewFromConfig(d.cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId: aws.String(sink.SecretName(config.DefaultSecretTemplate, demoAccount, user))})
	if err != nil {
		return secret.AccessKey{}, fmt.Errorf("fetch %s's key: %w", user, err)
	}
	var v struct{ AccessKeyId, SecretAccessKey string }
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &v); err != nil {
		return secret.AccessKey{}, fmt.Errorf("fetch %s's key: %w", user, err)
	}
	d.secrets = append(d.secrets, v.SecretAccessKey)
	return secret.AccessKey{UserName: user, KeyID: inventory.KeyID(v.AccessKeyId), Secret: secret.New(v.SecretAccessKey)}, nil
}

// use makes one authenticated call with a key, as the application would.
func (d *demo) use(ctx context.Context, k secret.AccessKey) error {
	_, err := sts.NewFromConfig(d.config(k.KeyID.Raw(), k.Secret.Reveal())).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return fmt.Errorf("%s's key %s does not work: %w", k.UserName, k.KeyID, err)
	}
	return nil
}

func (d *demo) useSeeded(ctx context.Context, k awssim.KeyInfo) error {
	return d.use(ctx, secret.AccessKey{UserName: "app-legacy", KeyID: inventory.KeyID(k.AccessKeyID), Secret: secret.New(k.SecretAccessKey)})
}

// final prints every user's keys and checks that each user who had an active key at the start
// still has one (I2); it fails the demo otherwise.
func (d *demo) final() error {
	scanned, err := d.runner.Plan(context.Background())
	if err != nil {
		return err
	}
	now := d.srv.Clock().Now()
	users := scanned.Account.Users
	sort.Slice(users, func(i, j int) bool { return users[i].Name < users[j].Name })
	var lost []string
	for _, u := range users {
		keys, _ := d.srv.Keys(demoAccount, u.Name)
		var parts []string
		active := false
		for _, k := range keys {
			active = active || k.Status == "Active"
			parts = append(parts, fmt.Sprintf("%s %s %dd", inventory.KeyID(k.AccessKeyID), strings.ToLower(k.Status), int(now.Sub(k.CreateDate).Hours()/24)))
			d.secrets = append(d.secrets, k.SecretAccessKey)
		}
		if len(parts) == 0 {
			parts = []string{"no keys"}
		}
		d.say("  %-18s %s", u.Name, strings.Join(parts, ", "))
		if d.hadActive[u.Name] && !active {
			lost = append(lost, u.Name)
		}
		if k, err := d.fetch(context.Background(), u.Name); err == nil {
			_ = k // fetched only to include its secret in the leak check
		}
	}
	s := scanned.Plan.Summary
	d.say("\nThe next run would do: %s", strings.TrimPrefix(plan.SummaryLine(s), "Plan: "))
	if len(lost) > 0 {
		return fmt.Errorf("users left without an active key: %s", strings.Join(lost, ", "))
	}
	d.say("Checked: every user that had an active key at the start still has one.")
	return nil
}
