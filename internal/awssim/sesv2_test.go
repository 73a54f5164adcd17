package awssim_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sestypes "github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/keycycle/keycycle/internal/awssim"
	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
)

func sesClient(t *testing.T) (*awssimtest.Sandbox, *sesv2.Client) {
	t.Helper()
	sb, cfg := awssimtest.Start(t)
	return sb, sesv2.NewFromConfig(cfg)
}

func createIdentity(t *testing.T, c *sesv2.Client, id string) *sesv2.CreateEmailIdentityOutput {
	t.Helper()
	out, err := c.CreateEmailIdentity(context.Background(), &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(id)})
	if err != nil {
		t.Fatalf("create identity %s: %v", id, err)
	}
	return out
}

func simpleMail(from string, to ...string) *sesv2.SendEmailInput {
	return &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(from),
		Destination:      &sestypes.Destination{ToAddresses: to},
		Content: &sestypes.EmailContent{Simple: &sestypes.Message{
			Subject: &sestypes.Content{Data: aws.String("Your access key was rotated")},
			Body:    &sestypes.Body{Text: &sestypes.Content{Data: aws.String("Key AKIA...1234 replaces AKIA...9876.")}},
		}},
	}
}

func TestSESIdentitiesAreVerifiedAtOnce(t *testing.T) {
	ctx := context.Background()
	_, c := sesClient(t)
	out := createIdentity(t, c, "keycycle@Example.COM")
	if out.IdentityType != sestypes.IdentityTypeEmailAddress || !out.VerifiedForSendingStatus {
		t.Fatalf("create address = %+v", out)
	}
	dom := createIdentity(t, c, "Corp.Example.org")
	if dom.IdentityType != sestypes.IdentityTypeDomain || !dom.VerifiedForSendingStatus || dom.DkimAttributes == nil || len(dom.DkimAttributes.Tokens) != 3 {
		t.Fatalf("create domain = %+v", dom)
	}
	_, err := c.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("corp.example.org")})
	var exists *sestypes.AlreadyExistsException
	if !errors.As(err, &exists) {
		t.Fatalf("duplicate (domains are case-insensitive): want AlreadyExistsException, got %v", err)
	}
	got, err := c.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("keycycle@example.com")})
	if err != nil || got.IdentityType != sestypes.IdentityTypeEmailAddress || !got.VerifiedForSendingStatus || got.VerificationStatus != sestypes.VerificationStatusSuccess {
		t.Fatalf("GetEmailIdentity = %+v, %v", got, err)
	}
	_, err = c.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("nobody@example.com")})
	var nf *sestypes.NotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("unknown identity: want NotFoundException, got %v", err)
	}
	list, err := c.ListEmailIdentities(ctx, &sesv2.ListEmailIdentitiesInput{PageSize: aws.Int32(1)})
	if err != nil || len(list.EmailIdentities) != 1 || list.NextToken == nil || aws.ToString(list.EmailIdentities[0].IdentityName) != "corp.example.org" {
		t.Fatalf("ListEmailIdentities = %+v, %v", list, err)
	}
	if _, err := c.DeleteEmailIdentity(ctx, &sesv2.DeleteEmailIdentityInput{EmailIdentity: aws.String("corp.example.org")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteEmailIdentity(ctx, &sesv2.DeleteEmailIdentityInput{EmailIdentity: aws.String("corp.example.org")}); !errors.As(err, &nf) {
		t.Fatalf("delete twice: want NotFoundException, got %v", err)
	}
	_, err = c.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("not an identity")})
	var br *sestypes.BadRequestException
	if !errors.As(err, &br) {
		t.Fatalf("invalid identity: want BadRequestException, got %v", err)
	}
}

func TestSESSendEmailNeedsVerifiedSender(t *testing.T) {
	ctx := context.Background()
	sb, c := sesClient(t)
	_, err := c.SendEmail(ctx, simpleMail("keycycle@example.com", "bob@example.com"))
	var rej *sestypes.MessageRejected
	if !errors.As(err, &rej) || !strings.HasPrefix(aws.ToString(rej.Message), "Email address is not verified.") ||
		!strings.Contains(aws.ToString(rej.Message), "US-EAST-1: keycycle@example.com") {
		t.Fatalf("unverified sender: want MessageRejected, got %v", err)
	}
	createIdentity(t, c, "example.com")
	// A verified domain lets every address of it send, with a display name too.
	in := simpleMail("Keycycle <keycycle@EXAMPLE.com>", "bob@example.com")
	in.Destination.CcAddresses = []string{"team@example.com"}
	in.Destination.BccAddresses = []string{"audit@example.com"}
	in.ReplyToAddresses = []string{"platform@example.com"}
	in.Content.Simple.Body.Html = &sestypes.Content{Data: aws.String("<p>rotated</p>")}
	out, err := c.SendEmail(ctx, in)
	if err != nil || !strings.HasPrefix(aws.ToString(out.MessageId), "0100") {
		t.Fatalf("SendEmail = %+v, %v", out, err)
	}
	// Identities are per region.
	west := sesv2.NewFromConfig(sb.AccountConfig(t, "111111111111"), func(o *sesv2.Options) { o.Region = "eu-west-1" })
	if _, err := west.SendEmail(ctx, simpleMail("keycycle@example.com", "bob@example.com")); !errors.As(err, &rej) {
		t.Fatalf("other region: want MessageRejected, got %v", err)
	}

	var ob awssim.Outbox
	adminJSON(t, sb, "GET", "/_sandbox/outbox", "", http.StatusOK, &ob)
	if len(ob.Emails) != 1 {
		t.Fatalf("outbox emails = %+v", ob.Emails)
	}
	m := ob.Emails[0]
	if m.Account != "111111111111" || m.Region != "us-east-1" || m.From != "Keycycle <keycycle@EXAMPLE.com>" ||
		strings.Join(m.To, ",") != "bob@example.com" || strings.Join(m.Cc, ",") != "team@example.com" || strings.Join(m.Bcc, ",") != "audit@example.com" ||
		strings.Join(m.ReplyTo, ",") != "platform@example.com" || m.Subject != "Your access key was rotated" ||
		m.Text != "Key AKIA...1234 replaces AKIA...9876." || m.HTML != "<p>rotated</p>" || m.Raw != "" ||
		m.MessageID != aws.ToString(out.MessageId) || !m.Time.Equal(awssim.DefaultStart) {
		t.Fatalf("outbox email = %+v", m)
	}
}

func TestSESSendRawEmail(t *testing.T) {
	ctx := context.Background()
	sb, c := sesClient(t)
	createIdentity(t, c, "keycycle@example.com")
	raw := "From: Keycycle <keycycle@example.com>\r\n" +
		"To: bob@example.com, Carol <carol@example.com>\r\n" +
		"Subject: =?UTF-8?B?S2V5IHJvdGF0ZWQg4pyU?=\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"Your key was rotated =E2=9C=94\r\n" +
		"--b1\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		"PHA+cm90YXRlZDwvcD4=\r\n" +
		"--b1--\r\n"
	out, err := c.SendEmail(ctx, &sesv2.SendEmailInput{Content: &sestypes.EmailContent{Raw: &sestypes.RawMessage{Data: []byte(raw)}}})
	if err != nil {
		t.Fatal(err)
	}
	ob := sb.Outbox()
	if len(ob.Emails) != 1 {
		t.Fatalf("outbox = %+v", ob.Emails)
	}
	m := ob.Emails[0]
	if m.From != "Keycycle <keycycle@example.com>" || strings.Join(m.To, ",") != "bob@example.com,carol@example.com" ||
		m.Subject != "Key rotated ✔" || m.Text != "Your key was rotated ✔" || m.HTML != "<p>rotated</p>" || m.Raw != raw ||
		m.MessageID != aws.ToString(out.MessageId) {
		t.Fatalf("raw mail = %+v", m)
	}
	// The From header must be verified as well.
	forged := strings.Replace(raw, "keycycle@example.com", "ceo@example.net", 1)
	_, err = c.SendEmail(ctx, &sesv2.SendEmailInput{Content: &sestypes.EmailContent{Raw: &sestypes.RawMessage{Data: []byte(forged)}}})
	var rej *sestypes.MessageRejected
	if !errors.As(err, &rej) {
		t.Fatalf("unverified From header: want MessageRejected, got %v", err)
	}
}

func TestSESRefusesBadMessages(t *testing.T) {
	ctx := context.Background()
	sb, c := sesClient(t)
	createIdentity(t, c, "keycycle@example.com")
	noRecipients := simpleMail("keycycle@example.com")
	badTo := simpleMail("keycycle@example.com", "not an address")
	tooMany := simpleMail("keycycle@example.com")
	for i := range 51 {
		tooMany.Destination.ToAddresses = append(tooMany.Destination.ToAddresses, strings.Repeat("u", i+1)+"@example.com")
	}
	both := simpleMail("keycycle@example.com", "bob@example.com")
	both.Content.Raw = &sestypes.RawMessage{Data: []byte("Subject: x\r\n\r\nbody")}
	cfgSet := simpleMail("keycycle@example.com", "bob@example.com")
	cfgSet.ConfigurationSetName = aws.String("tracking")
	for name, tc := range map[string]struct {
		in   *sesv2.SendEmailInput
		code string
	}{
		"no recipients":     {noRecipients, "BadRequestException"},
		"bad address":       {badTo, "BadRequestException"},
		"51 recipients":     {tooMany, "MessageRejected"},
		"simple and raw":    {both, "BadRequestException"},
		"configuration set": {cfgSet, "NotFoundException"},
	} {
		_, err := c.SendEmail(ctx, tc.in)
		if err == nil {
			t.Fatalf("%s: accepted", name)
		}
		wantCode(t, err, tc.code)
	}
	if n := len(sb.Outbox().Emails); n != 0 {
		t.Fatalf("refused mails were recorded: %d", n)
	}
}

// A scenario identity with verified: false is pending, as an address whose link was not clicked:
// GetEmailIdentity says so, and SES refuses to send from it.
func TestSESPendingIdentityFromScenario(t *testing.T) {
	ctx := context.Background()
	_, cfg := awssimtest.Start(t, awssimtest.WithScenarioYAML(t, `
accounts:
  - id: "111111111111"
    email_identities:
      - {identity: pending@example.com, verified: false}
      - {identity: example.org}
`))
	c := sesv2.NewFromConfig(cfg)
	out, err := c.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("pending@example.com")})
	if err != nil || out.VerifiedForSendingStatus || out.VerificationStatus != "PENDING" {
		t.Fatalf("pending identity: %v %+v", err, out)
	}
	if out, err := c.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("example.org")}); err != nil || !out.VerifiedForSendingStatus {
		t.Fatalf("verified domain: %v %+v", err, out)
	}
	_, err = c.SendEmail(ctx, &sesv2.SendEmailInput{FromEmailAddress: aws.String("pending@example.com"),
		Destination: &sestypes.Destination{ToAddresses: []string{"a@example.net"}},
		Content: &sestypes.EmailContent{Simple: &sestypes.Message{Subject: &sestypes.Content{Data: aws.String("s")},
			Body: &sestypes.Body{Text: &sestypes.Content{Data: aws.String("b")}}}}})
	var rej *sestypes.MessageRejected
	if !errors.As(err, &rej) {
		t.Fatalf("send from a pending identity: want MessageRejected, got %v", err)
	}
	if _, err := awssim.ParseScenario("s.yaml", []byte("accounts:\n  - id: \"111111111111\"\n    email_identities: [{identity: \"not an address\"}]\n")); err == nil ||
		!strings.Contains(err.Error(), "email_identities[0].identity") {
		t.Fatalf("bad identity: %v", err)
	}
}
