package awssim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// sigv4 is a parsed Authorization header.
type sigv4 struct {
	AccessKeyID   string
	Date          string // yyyymmdd from the credential scope
	Region        string
	Service       string
	SignedHeaders []string
	Signature     string
}

// parseAuthorization reads "AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request,
// SignedHeaders=a;b, Signature=hex". ok is false when the header is missing or not SigV4.
func parseAuthorization(h string) (sigv4, bool) {
	var s sigv4
	const algo = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(h, algo) {
		return s, false
	}
	for _, part := range strings.Split(h[len(algo):], ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "Credential":
			f := strings.Split(v, "/")
			if len(f) != 5 || f[4] != "aws4_request" {
				return s, false
			}
			s.AccessKeyID, s.Date, s.Region, s.Service = f[0], f[1], f[2], f[3]
		case "SignedHeaders":
			s.SignedHeaders = strings.Split(v, ";")
		case "Signature":
			s.Signature = v
		}
	}
	return s, s.AccessKeyID != "" && s.Signature != "" && len(s.SignedHeaders) > 0
}

// expectedSignature computes the SigV4 signature of r (whose body is body) with secret.
func expectedSignature(r *http.Request, body []byte, s sigv4, secret string) string {
	amzDate := r.Header.Get("X-Amz-Date")
	scope := s.Date + "/" + s.Region + "/" + s.Service + "/aws4_request"
	creq := canonicalRequest(r, body, s.SignedHeaders, s.Service)
	sum := sha256.Sum256([]byte(creq))
	sts := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	k := hmacSHA256([]byte("AWS4"+secret), s.Date)
	k = hmacSHA256(k, s.Region)
	k = hmacSHA256(k, s.Service)
	k = hmacSHA256(k, "aws4_request")
	return hex.EncodeToString(hmacSHA256(k, sts))
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func canonicalRequest(r *http.Request, body []byte, signed []string, service string) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	if service == "s3" {
		b.WriteString(s3CanonicalPath(r.URL.Path))
	} else {
		b.WriteString(escapeSigV4Path(path))
	}
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.Query()))
	b.WriteByte('\n')
	for _, h := range signed {
		b.WriteString(h)
		b.WriteByte(':')
		b.WriteString(canonicalHeaderValue(r, h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signed, ";"))
	b.WriteByte('\n')
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		sum := sha256.Sum256(body)
		payload = hex.EncodeToString(sum[:])
	}
	b.WriteString(payload)
	return b.String()
}

// escapeSigV4Path URI-encodes the request's (already escaped) path once more, keeping only
// unreserved characters and "/": SigV4 encodes the path twice for every service but S3, which
// matters for REST paths such as Lambda's function ARNs ("%3A" is signed as "%253A").
func escapeSigV4Path(p string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-._~/", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

func canonicalHeaderValue(r *http.Request, name string) string {
	switch name {
	case "host":
		return r.Host
	case "content-length":
		if v := r.Header.Get("Content-Length"); v != "" {
			return v
		}
		return strconv.FormatInt(r.ContentLength, 10)
	}
	vals := r.Header.Values(name)
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(out, ",")
}

func canonicalQuery(q url.Values) string {
	type kv struct{ k, v string }
	var pairs []kv
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, kv{awsEscape(k), awsEscape(v)})
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = p.k + "=" + p.v
	}
	return strings.Join(parts, "&")
}

// awsEscape is SigV4's URI encoding: everything but A-Z a-z 0-9 - _ . ~ is %XX.
func awsEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{c})))
	}
	return b.String()
}

// authErrors are the codes each protocol family uses for authentication failures.
type authErrors struct {
	invalidToken, badSignature, expired, missing string
	status                                       int
}

var (
	queryAuthErrors = authErrors{"InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken", "MissingAuthenticationToken", http.StatusForbidden}
	jsonAuthErrors  = authErrors{"UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException", "MissingAuthenticationTokenException", http.StatusBadRequest}
)

// authenticate verifies r's signature against the credentials the sandbox holds and returns
// who signed it. wallNow is the wall clock, on which key propagation and session expiry run.
// Called with s.mu held.
func (w *world) authenticate(r *http.Request, body []byte, sig sigv4, ae authErrors, wallNow time.Time) (*credential, *apiError) {
	c, ok := w.creds[sig.AccessKeyID]
	invalid := errorf(ae.status, ae.invalidToken, "The security token included in the request is invalid.")
	if !ok {
		return nil, invalid
	}
	switch c.Kind {
	case kindUser:
		if c.Key.Status != "Active" || wallNow.Before(c.Key.usableAt) {
			return nil, invalid
		}
	case kindSession:
		if r.Header.Get("X-Amz-Security-Token") != c.SessionToken {
			return nil, invalid
		}
	}
	if !hmac.Equal([]byte(expectedSignature(r, body, sig, c.Secret)), []byte(sig.Signature)) {
		return nil, errorf(ae.status, ae.badSignature, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	if c.Kind == kindSession && !wallNow.Before(c.Expires) {
		return nil, errorf(ae.status, ae.expired, "The security token included in the request is expired")
	}
	return c, nil
}

// lastUsedWindow models IAM recording only the first use of a key in a window.
const lastUsedWindow = 15 * time.Minute

// recordUse stamps a user key's last use, as IAM does for every authenticated request.
func recordUse(c *credential, service, region string, now time.Time) {
	if c.Kind != kindUser {
		return
	}
	k := c.Key
	if !k.LastUsed.IsZero() && now.Sub(k.LastUsed) < lastUsedWindow && k.LastUsedService == service && k.LastUsedRegion == region {
		return
	}
	k.LastUsed, k.LastUsedService, k.LastUsedRegion = now, service, region
}
