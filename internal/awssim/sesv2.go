package awssim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SES v2 (restJson1, signing name "ses", paths under /v2/email/). Identities live per account
// and per region in account.identities[region][key]. Accepted mails go to the outbox.
//
// Modelled: CreateEmailIdentity, GetEmailIdentity, DeleteEmailIdentity, ListEmailIdentities,
// SendEmail (Simple and Raw content). Divergences (docs/sandbox.md): a created identity is
// verified at once (real SES waits for a DNS record or a clicked link; scenario identities with
// verified: false stay pending); every account has
// production access (no SES sandbox: recipients need no verification, no sending quota);
// templates, configuration sets and attachments of Simple content are not modelled.
var sesActions = map[string]handler{
	"CreateEmailIdentity": sesCreateEmailIdentity,
	"GetEmailIdentity":    sesGetEmailIdentity,
	"DeleteEmailIdentity": sesDeleteEmailIdentity,
	"ListEmailIdentities": sesListEmailIdentities,
	"SendEmail":           sesSendEmail,
}

var sesRoutes = []restRoute{
	{Method: http.MethodPost, Pattern: "/v2/email/identities", Action: "CreateEmailIdentity"},
	// ListEmailIdentities: older SDKs and CLIs send GET with query parameters, newer ones POST
	// to list-identities with a JSON body.
	{Method: http.MethodGet, Pattern: "/v2/email/identities", Action: "ListEmailIdentities"},
	{Method: http.MethodPost, Pattern: "/v2/email/list-identities", Action: "ListEmailIdentities"},
	{Method: http.MethodGet, Pattern: "/v2/email/identities/{EmailIdentity}", Action: "GetEmailIdentity"},
	{Method: http.MethodDelete, Pattern: "/v2/email/identities/{EmailIdentity}", Action: "DeleteEmailIdentity"},
	{Method: http.MethodPost, Pattern: "/v2/email/outbound-emails", Action: "SendEmail"},
}

const (
	sesEmail  = "EMAIL_ADDRESS"
	sesDomain = "DOMAIN"
	// sesMaxRecipients is SES's limit of To+Cc+Bcc addresses of one message.
	sesMaxRecipients = 50
	sesPageSize      = 100
)

var sesDomainRE = regexp.MustCompile(`^(?i)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$`)

// sesIdentity is an email address or domain, verified unless Pending.
type sesIdentity struct {
	Name       string // as created; a domain (also an address's domain part) lower-cased
	Type       string // EMAIL_ADDRESS | DOMAIN
	Pending    bool   // verification not completed (scenario email_identities with verified: false)
	Created    time.Time
	Tags       []tag
	DkimTokens []string // domains only
}

func sesError(status int, code, format string, args ...any) *apiError {
	return errorf(status, code, format, args...)
}

func sesBadRequest(format string, args ...any) *apiError {
	return sesError(http.StatusBadRequest, "BadRequestException", format, args...)
}

func sesNotFound(format string, args ...any) *apiError {
	return sesError(http.StatusNotFound, "NotFoundException", format, args...)
}

// sesDecode reads a JSON request body (not echoing the parser's message, which could quote
// mail content).
func sesDecode(q *request, v any) *apiError {
	if len(bytes.TrimSpace(q.body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(q.body, v); err != nil {
		return sesBadRequest("The request body is not a JSON object of the shape %s expects.", q.action)
	}
	return nil
}

func sesRegion(q *request) map[string]*sesIdentity {
	if q.acct.identities == nil {
		q.acct.identities = map[string]map[string]*sesIdentity{}
	}
	m := q.acct.identities[q.region]
	if m == nil {
		m = map[string]*sesIdentity{}
		q.acct.identities[q.region] = m
	}
	return m
}

// sesNormalize returns an identity's type and canonical spelling: domains are
// case-insensitive, so they (and an address's domain part) are lower-cased; an address's
// local part is kept as given.
func sesNormalize(id string) (typ, canon string, ok bool) {
	if local, domain, isAddr := strings.Cut(id, "@"); isAddr {
		if local == "" || strings.ContainsAny(local, " \t\r\n<>") || !sesDomainRE.MatchString(domain) {
			return "", "", false
		}
		return sesEmail, local + "@" + strings.ToLower(domain), true
	}
	if len(id) > 253 || !sesDomainRE.MatchString(id) {
		return "", "", false
	}
	return sesDomain, strings.ToLower(id), true
}

func sesIdentityParam(q *request) (string, *apiError) {
	id := q.params["EmailIdentity"]
	_, canon, ok := sesNormalize(id)
	if !ok {
		return "", sesNotFound("Email identity %s does not exist.", id)
	}
	return canon, nil
}

// sesVerified reports whether addr (a bare address) may send: the address itself or its
// domain is an identity.
func sesVerified(q *request, addr string) bool {
	_, canon, ok := sesNormalize(addr)
	if !ok {
		return false
	}
	m := sesRegion(q)
	if m[canon] != nil && !m[canon].Pending {
		return true
	}
	_, domain, _ := strings.Cut(canon, "@")
	return m[domain] != nil && m[domain].Type == sesDomain && !m[domain].Pending
}

// loadEmailIdentities seeds a scenario account's SES identities (validated already).
func loadEmailIdentities(a *account, ids []ScenarioEmailIdentity, start time.Time) {
	for _, si := range ids {
		typ, canon, _ := sesNormalize(si.Identity)
		region := si.Region
		if region == "" {
			region = a.Region
		}
		if a.identities == nil {
			a.identities = map[string]map[string]*sesIdentity{}
		}
		if a.identities[region] == nil {
			a.identities[region] = map[string]*sesIdentity{}
		}
		a.identities[region][canon] = &sesIdentity{Name: canon, Type: typ, Created: start, Pending: si.Verified != nil && !*si.Verified}
	}
}

type sesDkimJSON struct {
	SigningEnabled             bool
	Status                     string
	Tokens                     []string `json:",omitempty"`
	SigningAttributesOrigin    string
	CurrentSigningKeyLength    string    `json:",omitempty"`
	NextSigningKeyLength       string    `json:",omitempty"`
	LastKeyGenerationTimestamp *jsonTime `json:",omitempty"`
}

func sesDkim(id *sesIdentity) sesDkimJSON {
	if id.Type != sesDomain {
		return sesDkimJSON{Status: "NOT_STARTED", SigningAttributesOrigin: "AWS_SES"}
	}
	t := epoch(id.Created)
	if id.Pending { // the DKIM records are not published yet
		return sesDkimJSON{SigningEnabled: true, Status: "PENDING", Tokens: id.DkimTokens, SigningAttributesOrigin: "AWS_SES",
			CurrentSigningKeyLength: "RSA_2048_BIT", NextSigningKeyLength: "RSA_2048_BIT", LastKeyGenerationTimestamp: &t}
	}
	return sesDkimJSON{SigningEnabled: true, Status: "SUCCESS", Tokens: id.DkimTokens, SigningAttributesOrigin: "AWS_SES",
		CurrentSigningKeyLength: "RSA_2048_BIT", NextSigningKeyLength: "RSA_2048_BIT", LastKeyGenerationTimestamp: &t}
}

type sesCreateEmailIdentityInput struct {
	EmailIdentity        string
	Tags                 []tag
	ConfigurationSetName *string
}

type sesCreateEmailIdentityOutput struct {
	IdentityType             string
	VerifiedForSendingStatus bool
	DkimAttributes           sesDkimJSON
}

// sesCreateEmailIdentity creates an identity and, unlike SES, marks it verified at once.
func sesCreateEmailIdentity(s *Server, q *request) (any, *apiError) {
	var in sesCreateEmailIdentityInput
	if e := sesDecode(q, &in); e != nil {
		return nil, e
	}
	if in.EmailIdentity == "" || len(in.EmailIdentity) > 320 {
		return nil, sesBadRequest("1 validation error detected: Value at 'emailIdentity' failed to satisfy constraint: Member must have length between 1 and 320")
	}
	typ, canon, ok := sesNormalize(in.EmailIdentity)
	if !ok {
		return nil, sesBadRequest("Invalid email address or domain %s.", in.EmailIdentity)
	}
	if in.ConfigurationSetName != nil {
		// Configuration sets are not modelled, so none exists.
		return nil, sesNotFound("Configuration set <%s> does not exist.", *in.ConfigurationSetName)
	}
	if len(in.Tags) > 50 {
		return nil, sesBadRequest("Too many tags: an identity has at most 50.")
	}
	for _, t := range in.Tags {
		if t.Key == "" || len(t.Key) > 128 || len(t.Value) > 256 || strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return nil, sesBadRequest("Invalid tag: keys have 1 to 128 characters and do not start with aws:, values at most 256 characters.")
		}
	}
	m := sesRegion(q)
	if m[canon] != nil {
		return nil, sesError(http.StatusBadRequest, "AlreadyExistsException", "Email identity %s already exist.", in.EmailIdentity)
	}
	id := &sesIdentity{Name: canon, Type: typ, Created: q.now, Tags: in.Tags}
	if typ == sesDomain {
		for range 3 {
			id.DkimTokens = append(id.DkimTokens, strings.ToLower(s.world.randString(upperAlnum, 32)))
		}
	}
	m[canon] = id
	return sesCreateEmailIdentityOutput{IdentityType: typ, VerifiedForSendingStatus: true, DkimAttributes: sesDkim(id)}, nil
}

type sesGetEmailIdentityOutput struct {
	IdentityType             string
	FeedbackForwardingStatus bool
	VerifiedForSendingStatus bool
	VerificationStatus       string
	DkimAttributes           sesDkimJSON
	MailFromAttributes       struct{ BehaviorOnMxFailure string }
	Policies                 map[string]string
	Tags                     []tag
	VerificationInfo         struct{ LastCheckedTimestamp, LastSuccessTimestamp jsonTime }
}

func sesGetEmailIdentity(_ *Server, q *request) (any, *apiError) {
	canon, e := sesIdentityParam(q)
	if e != nil {
		return nil, e
	}
	id := sesRegion(q)[canon]
	if id == nil {
		return nil, sesNotFound("Email identity %s does not exist.", q.params["EmailIdentity"])
	}
	out := sesGetEmailIdentityOutput{IdentityType: id.Type, FeedbackForwardingStatus: true, VerifiedForSendingStatus: !id.Pending,
		VerificationStatus: "SUCCESS", DkimAttributes: sesDkim(id), Policies: map[string]string{}, Tags: append([]tag{}, id.Tags...)}
	out.MailFromAttributes.BehaviorOnMxFailure = "USE_DEFAULT_VALUE"
	out.VerificationInfo.LastCheckedTimestamp = epoch(id.Created)
	if id.Pending {
		out.VerificationStatus = "PENDING"
	} else {
		out.VerificationInfo.LastSuccessTimestamp = epoch(id.Created)
	}
	return out, nil
}

func sesDeleteEmailIdentity(_ *Server, q *request) (any, *apiError) {
	canon, e := sesIdentityParam(q)
	if e != nil {
		return nil, e
	}
	m := sesRegion(q)
	if m[canon] == nil {
		return nil, sesNotFound("Email identity %s does not exist.", q.params["EmailIdentity"])
	}
	delete(m, canon)
	return struct{}{}, nil
}

type sesIdentityInfo struct {
	IdentityType       string
	IdentityName       string
	SendingEnabled     bool
	VerificationStatus string
}

type sesListEmailIdentitiesOutput struct {
	EmailIdentities []sesIdentityInfo
	NextToken       string `json:",omitempty"`
}

// sesListEmailIdentities lists identities ordered by name (PageSize 1..1000, default 100).
func sesListEmailIdentities(_ *Server, q *request) (any, *apiError) {
	var in struct {
		PageSize  *int
		NextToken string
		Filter    *struct{ FilterKey, FilterValue string }
	}
	if len(q.body) > 0 {
		if e := sesDecode(q, &in); e != nil {
			return nil, e
		}
	} else {
		in.NextToken = q.form.Get("NextToken")
		if v := q.form.Get("PageSize"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, sesBadRequest("PageSize must be a number.")
			}
			in.PageSize = &n
		}
	}
	if in.Filter != nil {
		return nil, notImplemented("ses", "ListEmailIdentities with a Filter")
	}
	size := sesPageSize
	if in.PageSize != nil {
		if *in.PageSize < 1 || *in.PageSize > 1000 {
			return nil, sesBadRequest("PageSize must be between 1 and 1000.")
		}
		size = *in.PageSize
	}
	m := sesRegion(q)
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	start, end, next, e := smPage("ListEmailIdentities\x00"+q.region, in.NextToken, size, len(names))
	if e != nil {
		return nil, sesBadRequest("Invalid NextToken.")
	}
	out := sesListEmailIdentitiesOutput{EmailIdentities: []sesIdentityInfo{}, NextToken: next}
	for _, k := range names[start:end] {
		info := sesIdentityInfo{IdentityType: m[k].Type, IdentityName: m[k].Name, SendingEnabled: true, VerificationStatus: "SUCCESS"}
		if m[k].Pending {
			info.VerificationStatus = "PENDING"
		}
		out.EmailIdentities = append(out.EmailIdentities, info)
	}
	return out, nil
}

type sesContentJSON struct {
	Data    string
	Charset string
}

type sesSendEmailInput struct {
	FromEmailAddress            string
	FromEmailAddressIdentityArn string
	Destination                 *struct {
		ToAddresses, CcAddresses, BccAddresses []string
	}
	ReplyToAddresses []string
	Content          *struct {
		Simple *struct {
			Subject     *sesContentJSON
			Body        *struct{ Text, Html *sesContentJSON }
			Attachments []json.RawMessage
		}
		Raw      *struct{ Data []byte }
		Template json.RawMessage
	}
	ConfigurationSetName *string
}

type sesSendEmailOutput struct {
	MessageId string
}

// sesSendEmail accepts a message from a verified identity and records it in the outbox. The
// message is not delivered anywhere.
func sesSendEmail(s *Server, q *request) (any, *apiError) {
	var in sesSendEmailInput
	if e := sesDecode(q, &in); e != nil {
		return nil, e
	}
	c := in.Content
	if c == nil {
		return nil, sesBadRequest("1 validation error detected: Value null at 'content' failed to satisfy constraint: Member must not be null")
	}
	kinds := 0
	for _, set := range []bool{c.Simple != nil, c.Raw != nil, len(c.Template) > 0 && string(c.Template) != "null"} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		return nil, sesBadRequest("Content must contain exactly one of Simple, Raw or Template.")
	}
	if c.Simple == nil && c.Raw == nil {
		return nil, notImplemented("ses", "SendEmail with Content.Template")
	}
	if in.ConfigurationSetName != nil {
		return nil, sesNotFound("Configuration set <%s> does not exist.", *in.ConfigurationSetName)
	}
	sent := OutboxEmail{Account: q.acct.ID, Region: q.region, From: in.FromEmailAddress, To: []string{}, Cc: []string{}, Bcc: []string{}, ReplyTo: []string{}, Time: q.now}
	if in.Destination != nil {
		sent.To = append(sent.To, in.Destination.ToAddresses...)
		sent.Cc = append(sent.Cc, in.Destination.CcAddresses...)
		sent.Bcc = append(sent.Bcc, in.Destination.BccAddresses...)
	}
	sent.ReplyTo = append(sent.ReplyTo, in.ReplyToAddresses...)

	if c.Simple != nil {
		if len(c.Simple.Attachments) > 0 {
			return nil, notImplemented("ses", "SendEmail with Content.Simple.Attachments")
		}
		if c.Simple.Subject == nil || c.Simple.Body == nil {
			return nil, sesBadRequest("Simple content needs a Subject and a Body.")
		}
		sent.Subject = c.Simple.Subject.Data
		if b := c.Simple.Body; b.Text != nil {
			sent.Text = b.Text.Data
		}
		if b := c.Simple.Body; b.Html != nil {
			sent.HTML = b.Html.Data
		}
		if sent.Text == "" && sent.HTML == "" {
			return nil, sesBadRequest("Simple content needs a Text or an Html body.")
		}
		if sent.From == "" {
			return nil, sesBadRequest("FromEmailAddress is required for Simple content.")
		}
	} else {
		if len(c.Raw.Data) == 0 {
			return nil, sesBadRequest("1 validation error detected: Value null at 'content.raw.data' failed to satisfy constraint: Member must not be null")
		}
		if e := sesReadRaw(c.Raw.Data, &sent, in.Destination == nil); e != nil {
			return nil, e
		}
	}
	if sent.From == "" {
		return nil, sesBadRequest("The message has no sender: give FromEmailAddress or a From header.")
	}
	if n := len(sent.To) + len(sent.Cc) + len(sent.Bcc); n == 0 {
		return nil, sesBadRequest("The message has no recipients: give Destination or To/Cc/Bcc headers.")
	} else if n > sesMaxRecipients {
		return nil, sesError(http.StatusBadRequest, "MessageRejected", "Recipient count exceeds %d.", sesMaxRecipients)
	}
	for _, list := range [][]string{sent.To, sent.Cc, sent.Bcc, sent.ReplyTo} {
		for _, a := range list {
			if _, err := mail.ParseAddress(a); err != nil {
				return nil, sesBadRequest("Illegal address")
			}
		}
	}
	from, err := mail.ParseAddress(sent.From)
	if err != nil {
		return nil, sesBadRequest("Illegal address")
	}
	if arn := in.FromEmailAddressIdentityArn; arn != "" {
		prefix := "arn:aws:ses:" + q.region + ":" + q.acct.ID + ":identity/"
		_, canon, ok := sesNormalize(strings.TrimPrefix(arn, prefix))
		if !strings.HasPrefix(arn, prefix) || !ok || sesRegion(q)[canon] == nil {
			// Sending authorization (another account's identity) is not modelled.
			return nil, sesError(http.StatusBadRequest, "MessageRejected", "Email address is not verified. The following identities failed the check in region %s: %s", strings.ToUpper(q.region), arn)
		}
	}
	if !sesVerified(q, from.Address) {
		return nil, sesError(http.StatusBadRequest, "MessageRejected", "Email address is not verified. The following identities failed the check in region %s: %s", strings.ToUpper(q.region), from.Address)
	}
	sent.MessageID = sesMessageID(s.world, q.now)
	s.world.outbox.recordEmail(sent)
	return sesSendEmailOutput{MessageId: sent.MessageID}, nil
}

// sesMessageID is shaped like SES's: 0100 and the send time in hex milliseconds, a UUID and
// -000000.
func sesMessageID(w *world, now time.Time) string {
	return fmt.Sprintf("0100%012x-%s-000000", now.UnixMilli(), smNewVersionID(w))
}

// sesReadRaw fills the mail from a raw MIME message: From when the request named none, the
// recipients from the To/Cc/Bcc headers when the request had no Destination, the subject and
// the first text/plain and text/html parts.
func sesReadRaw(data []byte, m *OutboxEmail, recipientsFromHeaders bool) *apiError {
	m.Raw = string(data)
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return sesBadRequest("The raw message is not a MIME message.")
	}
	if m.From == "" {
		m.From = msg.Header.Get("From")
	}
	if recipientsFromHeaders {
		for _, h := range []struct {
			name string
			dst  *[]string
		}{{"To", &m.To}, {"Cc", &m.Cc}, {"Bcc", &m.Bcc}} {
			if msg.Header.Get(h.name) == "" {
				continue
			}
			list, err := msg.Header.AddressList(h.name)
			if err != nil {
				return sesBadRequest("Illegal address")
			}
			for _, a := range list {
				*h.dst = append(*h.dst, a.Address)
			}
		}
	}
	if len(m.ReplyTo) == 0 && msg.Header.Get("Reply-To") != "" {
		if list, err := msg.Header.AddressList("Reply-To"); err == nil {
			for _, a := range list {
				m.ReplyTo = append(m.ReplyTo, a.Address)
			}
		}
	}
	dec := new(mime.WordDecoder)
	if subj, err := dec.DecodeHeader(msg.Header.Get("Subject")); err == nil {
		m.Subject = subj
	} else {
		m.Subject = msg.Header.Get("Subject")
	}
	mimeText(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, 0, &m.Text, &m.HTML)
	return nil
}

// mimeText finds the first text/plain and text/html parts of a MIME entity, decoding their
// transfer encoding. Attachments are skipped; nesting is followed a few levels deep.
func mimeText(contentType, encoding string, body io.Reader, depth int, text, html *string) {
	if depth > 5 {
		return
	}
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil || contentType == "" {
		mediaType = "text/plain"
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextPart()
			if err != nil {
				return
			}
			if d, _, _ := mime.ParseMediaType(part.Header.Get("Content-Disposition")); d == "attachment" {
				continue
			}
			// multipart.Reader decodes quoted-printable parts itself and drops the header.
			mimeText(part.Header.Get("Content-Type"), part.Header.Get("Content-Transfer-Encoding"), part, depth+1, text, html)
		}
	}
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(io.LimitReader(body, maxBody))
	if err != nil {
		return
	}
	switch mediaType {
	case "text/plain":
		if *text == "" {
			*text = string(b)
		}
	case "text/html":
		if *html == "" {
			*html = string(b)
		}
	}
}
