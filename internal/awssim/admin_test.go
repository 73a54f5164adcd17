package awssim_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
)

// adminCall sends one admin API request and returns the status and body.
func adminCall(t *testing.T, sb *awssimtest.Sandbox, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, sb.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: Content-Type %q", method, path, ct)
	}
	return resp.StatusCode, b
}

// adminJSON sends a request that must answer want and decodes the answer into v (if not nil).
func adminJSON(t *testing.T, sb *awssimtest.Sandbox, method, path, body string, want int, v any) {
	t.Helper()
	status, b := adminCall(t, sb, method, path, body)
	if status != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, status, want, b)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

type clockAnswer struct {
	Now time.Time `json:"now"`
}

func TestAdminHealthAndUnknownRoute(t *testing.T) {
	sb, _ := awssimtest.Start(t)
	var health struct {
		Status   string               `json:"status"`
		Now      time.Time            `json:"now"`
		Accounts []awssim.AccountInfo `json:"accounts"`
	}
	adminJSON(t, sb, "GET", "/_sandbox/health", "", http.StatusOK, &health)
	if health.Status != "ok" || !health.Now.Equal(awssim.DefaultStart) || len(health.Accounts) != 2 ||
		health.Accounts[0] != (awssim.AccountInfo{ID: "111111111111", Alias: "acme-prod"}) {
		t.Fatalf("health = %+v", health)
	}
	var nf struct {
		Error  string   `json:"error"`
		Routes []string `json:"routes"`
	}
	adminJSON(t, sb, "GET", "/_sandbox/nope", "", http.StatusNotFound, &nf)
	if len(nf.Routes) == 0 || !strings.Contains(nf.Error, "/_sandbox/nope") {
		t.Fatalf("unknown route = %+v", nf)
	}
}

func TestAdminClock(t *testing.T) {
	ctx := context.Background()
	sb, cfg := awssimtest.Start(t)
	var now clockAnswer
	adminJSON(t, sb, "GET", "/_sandbox/clock", "", http.StatusOK, &now)
	if !now.Now.Equal(awssim.DefaultStart) {
		t.Fatalf("clock = %v", now.Now)
	}
	adminJSON(t, sb, "POST", "/_sandbox/clock", `{"advance":"240h"}`, http.StatusOK, &now)
	later := awssim.DefaultStart.Add(240 * time.Hour)
	if !now.Now.Equal(later) || !sb.Clock().Now().Equal(later) {
		t.Fatalf("after advance: %v", now.Now)
	}
	out, err := iam.NewFromConfig(cfg).CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("carol")})
	if err != nil {
		t.Fatal(err)
	}
	if !aws.ToTime(out.User.CreateDate).Equal(later) {
		t.Fatalf("CreateDate %v does not follow the sandbox clock %v", aws.ToTime(out.User.CreateDate), later)
	}
	adminJSON(t, sb, "POST", "/_sandbox/clock", `{"set":"2027-03-01T12:00:00Z"}`, http.StatusOK, &now)
	set := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	if !now.Now.Equal(set) {
		t.Fatalf("after set: %v", now.Now)
	}
	for _, body := range []string{
		``, `{}`, `not json`,
		`{"advance":"1h","set":"2027-03-01T12:00:00Z"}`,
		`{"advance":"-1h"}`, `{"advance":"ten days"}`,
		`{"set":"yesterday"}`, `{"speed":"2x"}`,
	} {
		var e struct {
			Error string `json:"error"`
		}
		adminJSON(t, sb, "POST", "/_sandbox/clock", body, http.StatusBadRequest, &e)
		if !strings.HasPrefix(e.Error, "clock: ") {
			t.Errorf("body %q: error %q", body, e.Error)
		}
	}
	if !sb.Clock().Now().Equal(set) {
		t.Fatalf("a refused request moved the clock to %v", sb.Clock().Now())
	}
}

func TestAdminResetRestoresScenarioAndClearsFaults(t *testing.T) {
	ctx := context.Background()
	sb, cfg := awssimtest.Start(t)
	c := iam.NewFromConfig(cfg)
	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("carol")}); err != nil {
		t.Fatal(err)
	}
	adminJSON(t, sb, "POST", "/_sandbox/faults", `{"errors":[{"action":"GetUser","user_name":"alice","code":"ServiceFailure"}]}`, http.StatusOK, nil)
	if err := callGetUser(ctx, c, "alice"); apiErrorCode(err) != "ServiceFailure" {
		t.Fatalf("fault not in effect: %v", err)
	}
	adminJSON(t, sb, "POST", "/_sandbox/clock", `{"advance":"48h"}`, http.StatusOK, nil)

	var reset struct {
		Status string    `json:"status"`
		Now    time.Time `json:"now"`
	}
	adminJSON(t, sb, "POST", "/_sandbox/reset", "", http.StatusOK, &reset)
	if reset.Status != "reset" || !reset.Now.Equal(awssim.DefaultStart) {
		t.Fatalf("reset = %+v", reset)
	}
	var f awssim.Faults
	adminJSON(t, sb, "GET", "/_sandbox/faults", "", http.StatusOK, &f)
	if len(f.Errors)+len(f.Latency)+len(f.RateLimits) != 0 {
		t.Fatalf("faults after reset = %+v", f)
	}
	if st := sb.Stats(); st.Total != 0 {
		t.Fatalf("stats after reset: %d calls", st.Total)
	}
	// The operator credential is regenerated from the same seed, so cfg still signs.
	if err := callGetUser(ctx, c, "alice"); err != nil {
		t.Fatalf("alice after reset: %v", err)
	}
	var nse *iamtypes.NoSuchEntityException
	if err := callGetUser(ctx, c, "carol"); !errors.As(err, &nse) {
		t.Fatalf("carol survived the reset: %v", err)
	}
}

func TestAdminScenarioReplace(t *testing.T) {
	ctx := context.Background()
	sb, oldCfg := awssimtest.Start(t)
	scenario := "accounts:\n  - id: \"333333333333\"\n    users:\n      - name: zoe\n"
	var loaded struct {
		Status   string               `json:"status"`
		Accounts []awssim.AccountInfo `json:"accounts"`
	}
	adminJSON(t, sb, "POST", "/_sandbox/scenario", scenario, http.StatusOK, &loaded)
	if loaded.Status != "loaded" || len(loaded.Accounts) != 1 || loaded.Accounts[0].ID != "333333333333" {
		t.Fatalf("scenario = %+v", loaded)
	}
	_, err := sts.NewFromConfig(oldCfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantAPIError(t, err, "InvalidClientTokenId", http.StatusForbidden)

	var cred awssim.Credential
	adminJSON(t, sb, "GET", "/_sandbox/credentials", "", http.StatusOK, &cred) // the first account by default
	c := iam.NewFromConfig(sb.Config(cred.AccessKeyID, cred.SecretAccessKey, ""))
	if err := callGetUser(ctx, c, "zoe"); err != nil {
		t.Fatal(err)
	}

	// A bad scenario is refused with its line and changes nothing.
	var e struct {
		Error string `json:"error"`
	}
	adminJSON(t, sb, "POST", "/_sandbox/scenario", "accounts:\n  - id: \"1\"\n", http.StatusBadRequest, &e)
	if !strings.Contains(e.Error, "scenario:2: accounts[0].id") {
		t.Fatalf("error = %q", e.Error)
	}
	if err := callGetUser(ctx, c, "zoe"); err != nil {
		t.Fatalf("a refused scenario replaced the state: %v", err)
	}

	// Reset goes back to the last loaded scenario, not the one the server started with.
	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("yann")}); err != nil {
		t.Fatal(err)
	}
	adminJSON(t, sb, "POST", "/_sandbox/reset", "", http.StatusOK, nil)
	if err := callGetUser(ctx, c, "zoe"); err != nil {
		t.Fatalf("zoe after reset: %v", err)
	}
	var nse *iamtypes.NoSuchEntityException
	if err := callGetUser(ctx, c, "yann"); !errors.As(err, &nse) {
		t.Fatalf("yann survived the reset: %v", err)
	}
}

func TestAdminCredentialsAndKeys(t *testing.T) {
	ctx := context.Background()
	sb, cfg := awssimtest.Start(t)
	var cred awssim.Credential
	adminJSON(t, sb, "GET", "/_sandbox/credentials?account=222222222222", "", http.StatusOK, &cred)
	if cred.Region != "us-east-1" || cred.AccessKeyID == "" || len(cred.SecretAccessKey) != 40 {
		t.Fatalf("credential = {%s, region %s}", cred.AccessKeyID, cred.Region)
	}
	id, err := sts.NewFromConfig(sb.Config(cred.AccessKeyID, cred.SecretAccessKey, "")).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(id.Arn) != "arn:aws:iam::222222222222:root" {
		t.Fatalf("operator of 222222222222: %v %v", id, err)
	}
	adminJSON(t, sb, "GET", "/_sandbox/credentials?account=999999999999", "", http.StatusNotFound, nil)

	type keysAnswer struct {
		Keys []awssim.KeyInfo `json:"keys"`
	}
	var ka keysAnswer
	adminJSON(t, sb, "GET", "/_sandbox/keys?account=111111111111&user=alice", "", http.StatusOK, &ka)
	if len(ka.Keys) != 2 || ka.Keys[0].Status != "Active" || ka.Keys[1].Status != "Inactive" ||
		len(ka.Keys[0].SecretAccessKey) != 40 || len(ka.Keys[1].SecretAccessKey) != 40 {
		t.Fatalf("alice's seeded keys = %+v", ka.Keys)
	}
	// A seeded secret really signs.
	bob := func() awssim.KeyInfo {
		adminJSON(t, sb, "GET", "/_sandbox/keys?account=111111111111&user=bob", "", http.StatusOK, &ka)
		return ka.Keys[0]
	}()
	id, err = sts.NewFromConfig(sb.Config(bob.AccessKeyID, bob.SecretAccessKey, "")).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(id.Arn) != "arn:aws:iam::111111111111:user/bob" {
		t.Fatalf("bob's seeded key: %v %v", id, err)
	}

	// A key created through the API never shows its secret again.
	created, err := iam.NewFromConfig(cfg).CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("bob")})
	if err != nil {
		t.Fatal(err)
	}
	status, raw := adminCall(t, sb, "GET", "/_sandbox/keys?account=111111111111&user=bob", "")
	if status != http.StatusOK {
		t.Fatalf("keys: %d %s", status, raw)
	}
	if strings.Contains(string(raw), aws.ToString(created.AccessKey.SecretAccessKey)) {
		t.Fatal("the admin API shows the secret of a key created through the API")
	}
	if err := json.Unmarshal(raw, &ka); err != nil {
		t.Fatal(err)
	}
	if len(ka.Keys) != 2 || ka.Keys[1].AccessKeyID != aws.ToString(created.AccessKey.AccessKeyId) || ka.Keys[1].SecretAccessKey != "" {
		t.Fatalf("bob's keys = %+v", ka.Keys)
	}
	adminJSON(t, sb, "GET", "/_sandbox/keys?account=111111111111&user=nobody", "", http.StatusNotFound, nil)
}

func TestAdminOutboxIsEmptyLists(t *testing.T) {
	sb, _ := awssimtest.Start(t)
	var out map[string]json.RawMessage
	adminJSON(t, sb, "GET", "/_sandbox/outbox", "", http.StatusOK, &out)
	for _, k := range []string{"emails", "sns", "sqs", "webhooks", "lambda"} {
		if string(out[k]) != "[]" {
			t.Errorf("outbox %s = %s, want []", k, out[k])
		}
	}
}

func TestAdminStatsCountByAccountServiceAction(t *testing.T) {
	ctx := context.Background()
	sb, cfg := awssimtest.Start(t)
	c := iam.NewFromConfig(cfg)
	for range 2 {
		if err := callGetUser(ctx, c, "alice"); err != nil {
			t.Fatal(err)
		}
	}
	var nse *iamtypes.NoSuchEntityException
	if err := callGetUser(ctx, c, "nobody"); !errors.As(err, &nse) {
		t.Fatal(err)
	}
	if _, err := sts.NewFromConfig(sb.AccountConfig(t, "222222222222")).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	var st awssim.Stats
	adminJSON(t, sb, "GET", "/_sandbox/stats", "", http.StatusOK, &st)
	if st.Total != 4 || st.Calls["111111111111"]["iam"]["GetUser"] != 3 || st.Calls["222222222222"]["sts"]["GetCallerIdentity"] != 1 {
		t.Fatalf("stats = %+v", st)
	}
	var zero awssim.Stats
	adminJSON(t, sb, "POST", "/_sandbox/stats/reset", "", http.StatusOK, &zero)
	if zero.Total != 0 || len(zero.Calls) != 0 {
		t.Fatalf("after reset: %+v", zero)
	}
}

func TestAdminFaultsAreValidated(t *testing.T) {
	ctx := context.Background()
	sb, cfg := awssimtest.Start(t)
	for _, body := range []string{
		`{"errors":[{"action":"GetUser"}]}`,
		`{"rate_limits":[{"per_second":0,"burst":1}]}`,
		`{"latency":[{"delay":"soon"}]}`,
		`{"latency":[{"delay":"-1s"}]}`,
		`{"chaos":true}`,
	} {
		adminJSON(t, sb, "POST", "/_sandbox/faults", body, http.StatusBadRequest, nil)
	}
	var f awssim.Faults
	adminJSON(t, sb, "POST", "/_sandbox/faults", `{"errors":[{"service":"iam","action":"GetUser","code":"NoSuchEntity","status":404,"nth":1}],"report_delay":"2s"}`, http.StatusOK, &f)
	if len(f.Errors) != 1 || time.Duration(f.ReportDelay) != 2*time.Second {
		t.Fatalf("faults = %+v", f)
	}
	var nse *iamtypes.NoSuchEntityException
	if err := callGetUser(ctx, iam.NewFromConfig(cfg), "alice"); !errors.As(err, &nse) {
		t.Fatalf("injected NoSuchEntity is typed: got %v", err)
	}
}
