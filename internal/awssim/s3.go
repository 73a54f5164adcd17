package awssim

// S3: the subset keycycle's scheduled report needs (PutObject, GetObject, HeadObject,
// ListObjectsV2) and ListBuckets, for the AWS CLI's `aws s3 cp` and `aws s3 ls`. REST-XML with
// path-style addressing (http://endpoint/bucket/key): a sandbox on an IP address or localhost has
// no per-bucket host names. Buckets come from the scenario (accounts[].buckets); a bucket answers
// only principals of its own account (no bucket policies, ACLs or cross-account access are
// modelled: AccessDenied). Objects keep their body, content type, ETag (the MD5 of the body, as
// S3 gives for a single-part upload) and server-side encryption header.
//
// Ambiguities written down (see also docs/sandbox.md):
//   - S3 signs the path URI-encoded once (other services twice); the canonical path here is each
//     segment of the decoded path encoded with SigV4's unreserved set.
//   - A payload hash that is a hex digest must match the body (XAmzContentSHA256Mismatch);
//     UNSIGNED-PAYLOAD is accepted; aws-chunked bodies (STREAMING-UNSIGNED-PAYLOAD-TRAILER,
//     which newer SDKs send with a trailing checksum) are decoded, their chunk signatures and
//     trailing checksums not verified.

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

const nsS3 = "http://s3.amazonaws.com/doc/2006-03-01/"

// ScenarioBucket is an S3 bucket a scenario account owns.
type ScenarioBucket struct {
	Name   string `yaml:"name"`
	Region string `yaml:"region"` // default: the account's region
}

// s3Bucket is an S3 bucket; names are global across accounts.
type s3Bucket struct {
	Name    string
	Owner   string // account id
	Region  string
	Created time.Time
	objects map[string]*s3Object
}

type s3Object struct {
	Key          string
	Body         []byte
	ETag         string // quoted hex MD5
	ContentType  string
	SSE          string // x-amz-server-side-encryption as stored
	SSEKMSKeyID  string
	LastModified time.Time
}

// s3AuthErrors are S3's authentication errors.
var s3AuthErrors = authErrors{"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "AccessDenied", http.StatusForbidden}

// writeS3Error writes S3's error document (no namespace, no wrapper).
func writeS3Error(w http.ResponseWriter, requestID string, e *apiError, resource string) {
	var msg, res bytes.Buffer
	_ = xml.EscapeText(&msg, []byte(e.Message))
	_ = xml.EscapeText(&res, []byte(resource))
	body := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<Error><Code>%s</Code><Message>%s</Message><Resource>%s</Resource><RequestId>%s</RequestId><HostId>keycycle-sandbox</HostId></Error>`,
		e.Code, msg.String(), res.String(), requestID)
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("x-amz-request-id", requestID)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	_, _ = w.Write([]byte(body))
}

// s3CanonicalPath is the canonical URI S3 signs: the decoded path, each segment URI-encoded once.
func s3CanonicalPath(p string) string {
	if p == "" {
		return "/"
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = awsEscape(s)
	}
	return strings.Join(segs, "/")
}

// s3Body checks the payload hash S3 requires and returns the object bytes (aws-chunked decoded).
func s3Body(r *http.Request, body []byte) ([]byte, *apiError) {
	h := r.Header.Get("X-Amz-Content-Sha256")
	switch {
	case h == "":
		return nil, errorf(http.StatusBadRequest, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
	case h == "UNSIGNED-PAYLOAD":
		return body, nil
	case strings.HasPrefix(h, "STREAMING-"):
		if !strings.Contains(r.Header.Get("Content-Encoding"), "aws-chunked") && !strings.HasPrefix(h, "STREAMING-") {
			return nil, errorf(http.StatusBadRequest, "InvalidRequest", "streaming payload without aws-chunked encoding")
		}
		return decodeAWSChunked(body)
	}
	sum := sha256.Sum256(body)
	if !strings.EqualFold(h, hex.EncodeToString(sum[:])) {
		return nil, errorf(http.StatusBadRequest, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	return body, nil
}

// decodeAWSChunked reads "<hex size>[;chunk-signature=...]\r\n<data>\r\n" chunks up to the zero
// chunk; trailers after it are ignored.
func decodeAWSChunked(b []byte) ([]byte, *apiError) {
	rd := bufio.NewReader(bytes.NewReader(b))
	var out bytes.Buffer
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "IncompleteBody", "The request body terminated unexpectedly")
		}
		sizeHex, _, _ := strings.Cut(strings.TrimSpace(line), ";")
		n, err := strconv.ParseInt(sizeHex, 16, 64)
		if err != nil || n < 0 || n > maxBody {
			return nil, errorf(http.StatusBadRequest, "InvalidChunkSizeError", "Only the last chunk is allowed to have a size less than 8192 bytes")
		}
		if n == 0 {
			return out.Bytes(), nil
		}
		if _, err := io.CopyN(&out, rd, n); err != nil {
			return nil, errorf(http.StatusBadRequest, "IncompleteBody", "The request body terminated unexpectedly")
		}
		if crlf, err := rd.ReadString('\n'); err != nil || strings.TrimSpace(crlf) != "" {
			return nil, errorf(http.StatusBadRequest, "IncompleteBody", "The request body terminated unexpectedly")
		}
	}
}

// serveS3 serves an authenticated-or-not S3 request; sig is its parsed Authorization header.
func (s *Server) serveS3(w http.ResponseWriter, r *http.Request, body []byte, sig sigv4, requestID string) {
	resource := r.URL.Path
	fail := func(e *apiError) { writeS3Error(w, requestID, e, resource) }
	wall := s.wallNow()
	s.mu.Lock()
	cred, aerr := s.world.authenticate(r, body, sig, s3AuthErrors, wall)
	if aerr == nil {
		recordUse(cred, "s3", sig.Region, s.clock.Now())
	}
	s.mu.Unlock()
	if aerr != nil {
		if aerr.Code == "InvalidAccessKeyId" {
			aerr.Message = "The AWS Access Key Id you provided does not exist in our records."
		}
		fail(aerr)
		return
	}
	bucketName, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	q.Del("x-id") // the SDKs name the operation in the query; S3 ignores it
	action := s3Action(r.Method, bucketName, key, q)
	s.stats.count(cred.Account.ID, "s3", action)
	if d := s.faults.latency("s3", action, cred.Account.ID); d > 0 {
		if s.sleep(r.Context(), d) != nil {
			return
		}
	}
	if !s.faults.allow("s3", action, cred.Account.ID, s.wallNow()) {
		s.stats.throttle(cred.Account.ID, "s3", action)
		fail(errorf(http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate."))
		return
	}
	if e := s.faults.injected("s3", action, cred.Account.ID, ""); e != nil {
		s.stats.inject(cred.Account.ID, "s3", action)
		fail(e)
		return
	}
	if action == "" {
		fail(errorf(http.StatusNotImplemented, "NotImplemented", "%s %s is not implemented in the keycycle sandbox (see docs/sandbox.md)", r.Method, r.URL.RequestURI()))
		return
	}
	var payload []byte
	if action == "PutObject" {
		var e *apiError
		if payload, e = s3Body(r, body); e != nil {
			fail(e)
			return
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	w.Header().Set("x-amz-request-id", requestID)
	if action == "ListBuckets" {
		var res listAllMyBucketsResult
		res.Owner.ID = cred.Account.ID
		for _, b := range s.world.sortedBuckets() {
			if b.Owner == cred.Account.ID {
				res.Buckets = append(res.Buckets, s3BucketEntry{Name: b.Name, CreationDate: b.Created.UTC().Format(time.RFC3339)})
			}
		}
		writeS3XML(w, res)
		return
	}
	b := s.world.buckets[bucketName]
	if b == nil {
		resource = "/" + bucketName
		fail(errorf(http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist"))
		return
	}
	if b.Owner != cred.Account.ID {
		fail(errorf(http.StatusForbidden, "AccessDenied", "Access Denied"))
		return
	}
	switch action {
	case "PutObject":
		if sse := r.Header.Get("X-Amz-Server-Side-Encryption"); sse != "" && sse != "AES256" && sse != "aws:kms" && sse != "aws:kms:dsse" {
			fail(errorf(http.StatusBadRequest, "InvalidArgument", "The encryption method specified is not supported"))
			return
		}
		sum := md5.Sum(payload)
		o := &s3Object{Key: key, Body: append([]byte(nil), payload...), ETag: `"` + hex.EncodeToString(sum[:]) + `"`,
			ContentType: r.Header.Get("Content-Type"), SSE: r.Header.Get("X-Amz-Server-Side-Encryption"),
			SSEKMSKeyID: r.Header.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"), LastModified: now.Truncate(time.Second)}
		if o.SSE == "" {
			o.SSE = "AES256" // every bucket encrypts by default (SSE-S3) since January 2023
		}
		if o.ContentType == "" {
			o.ContentType = "binary/octet-stream"
		}
		b.objects[key] = o
		w.Header().Set("ETag", o.ETag)
		w.Header().Set("x-amz-server-side-encryption", o.SSE)
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
	case "GetObject", "HeadObject":
		o := b.objects[key]
		if o == nil {
			if action == "HeadObject" {
				w.WriteHeader(http.StatusNotFound) // HEAD answers carry no body
				return
			}
			fail(errorf(http.StatusNotFound, "NoSuchKey", "The specified key does not exist."))
			return
		}
		h := w.Header()
		h.Set("Content-Type", o.ContentType)
		h.Set("ETag", o.ETag)
		h.Set("Last-Modified", o.LastModified.UTC().Format(http.TimeFormat))
		h.Set("Content-Length", strconv.Itoa(len(o.Body)))
		h.Set("Accept-Ranges", "bytes")
		h.Set("x-amz-server-side-encryption", o.SSE)
		if o.SSEKMSKeyID != "" {
			h.Set("x-amz-server-side-encryption-aws-kms-key-id", o.SSEKMSKeyID)
		}
		w.WriteHeader(http.StatusOK)
		if action == "GetObject" {
			_, _ = w.Write(o.Body)
		}
	case "ListObjectsV2":
		res, e := listObjectsV2(b, r.URL.Query())
		if e != nil {
			fail(e)
			return
		}
		writeS3XML(w, res)
	}
}

// s3Action names the operation a path-style request asks for; empty: not modelled.
func s3Action(method, bucketName, key string, q url.Values) string {
	switch {
	case bucketName == "" && method == http.MethodGet:
		return "ListBuckets"
	case key == "" && method == http.MethodGet && q.Get("list-type") == "2":
		return "ListObjectsV2"
	case key == "" || len(q) > 0:
		return "" // subresources (?acl, ?tagging, multipart uploads, ...) are not modelled
	case method == http.MethodPut:
		return "PutObject"
	case method == http.MethodGet:
		return "GetObject"
	case method == http.MethodHead:
		return "HeadObject"
	}
	return ""
}

type s3BucketEntry struct {
	Name         string `xml:"Name"`
	CreationDate string `xml:"CreationDate"`
}

type listAllMyBucketsResult struct {
	XMLName xml.Name `xml:"ListAllMyBucketsResult"`
	Xmlns   string   `xml:"xmlns,attr"`
	Owner   struct {
		ID string `xml:"ID"`
	} `xml:"Owner"`
	Buckets []s3BucketEntry `xml:"Buckets>Bucket"`
}

type s3Content struct {
	Key          string `xml:"Key"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int    `xml:"Size"`
	StorageClass string `xml:"StorageClass"`
}

type s3Prefix struct {
	Prefix string `xml:"Prefix"`
}

type listBucketResult struct {
	XMLName               xml.Name    `xml:"ListBucketResult"`
	Xmlns                 string      `xml:"xmlns,attr"`
	Name                  string      `xml:"Name"`
	Prefix                string      `xml:"Prefix"`
	Delimiter             string      `xml:"Delimiter,omitempty"`
	MaxKeys               int         `xml:"MaxKeys"`
	EncodingType          string      `xml:"EncodingType,omitempty"`
	KeyCount              int         `xml:"KeyCount"`
	IsTruncated           bool        `xml:"IsTruncated"`
	ContinuationToken     string      `xml:"ContinuationToken,omitempty"`
	NextContinuationToken string      `xml:"NextContinuationToken,omitempty"`
	StartAfter            string      `xml:"StartAfter,omitempty"`
	Contents              []s3Content `xml:"Contents"`
	CommonPrefixes        []s3Prefix  `xml:"CommonPrefixes"`
}

// listObjectsV2 lists b's keys in UTF-8 binary order, grouping by delimiter, one page of
// max-keys (default and limit 1000). The continuation token is the last key returned, encoded.
func listObjectsV2(b *s3Bucket, q url.Values) (listBucketResult, *apiError) {
	res := listBucketResult{Xmlns: nsS3, Name: b.Name, Prefix: q.Get("prefix"), Delimiter: q.Get("delimiter"),
		MaxKeys: 1000, StartAfter: q.Get("start-after"), ContinuationToken: q.Get("continuation-token")}
	if v := q.Get("max-keys"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return res, errorf(http.StatusBadRequest, "InvalidArgument", "Provided max-keys not an integer or within integer range")
		}
		res.MaxKeys = min(n, 1000)
	}
	switch et := q.Get("encoding-type"); et {
	case "", "url":
		res.EncodingType = et
	default:
		return res, errorf(http.StatusBadRequest, "InvalidArgument", "Invalid Encoding Method specified in Request")
	}
	after := res.StartAfter
	if t := res.ContinuationToken; t != "" {
		raw, err := hex.DecodeString(t)
		if err != nil {
			return res, errorf(http.StatusBadRequest, "InvalidArgument", "The continuation token provided is incorrect")
		}
		after = string(raw)
	}
	keys := make([]string, 0, len(b.objects))
	for k := range b.objects {
		if strings.HasPrefix(k, res.Prefix) && k > after {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	enc := func(s string) string {
		if res.EncodingType == "url" {
			return strings.ReplaceAll(url.QueryEscape(s), "%2F", "/")
		}
		return s
	}
	seenPrefix := map[string]bool{}
	last := ""
	for _, k := range keys {
		if res.KeyCount == res.MaxKeys {
			res.IsTruncated = true
			break
		}
		if d := res.Delimiter; d != "" {
			if i := strings.Index(k[len(res.Prefix):], d); i >= 0 {
				p := k[:len(res.Prefix)+i+len(d)]
				last = k
				if !seenPrefix[p] {
					seenPrefix[p] = true
					res.CommonPrefixes = append(res.CommonPrefixes, s3Prefix{Prefix: enc(p)})
					res.KeyCount++
				}
				continue
			}
		}
		o := b.objects[k]
		res.Contents = append(res.Contents, s3Content{Key: enc(k), LastModified: o.LastModified.UTC().Format("2006-01-02T15:04:05.000Z"),
			ETag: o.ETag, Size: len(o.Body), StorageClass: "STANDARD"})
		res.KeyCount++
		last = k
	}
	if res.IsTruncated {
		res.NextContinuationToken = hex.EncodeToString([]byte(last))
	}
	res.Prefix, res.Delimiter, res.StartAfter = enc(res.Prefix), enc(res.Delimiter), enc(res.StartAfter)
	return res, nil
}

func writeS3XML(w http.ResponseWriter, v any) {
	out, err := xml.Marshal(v)
	if err != nil {
		writeS3Error(w, w.Header().Get("x-amz-request-id"), errorf(http.StatusInternalServerError, "InternalError", "%v", err), "")
		return
	}
	body := append([]byte(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"), out...)
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func (w *world) sortedBuckets() []*s3Bucket {
	out := make([]*s3Bucket, 0, len(w.buckets))
	for _, b := range w.buckets {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// BucketObject returns an object's body and content type as stored (for tests).
func (s *Server) BucketObject(bucketName, key string) (body []byte, contentType string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.world.buckets[bucketName]
	if b == nil || b.objects[key] == nil {
		return nil, "", false
	}
	o := b.objects[key]
	return append([]byte(nil), o.Body...), o.ContentType, true
}

// BucketKeys lists a bucket's object keys, sorted (for tests).
func (s *Server) BucketKeys(bucketName string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.world.buckets[bucketName]
	if b == nil {
		return nil
	}
	var out []string
	for k := range b.objects {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
