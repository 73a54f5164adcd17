package awssim

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Amazon SQS (awsJson1_0, X-Amz-Target "AmazonSQS."), as the current SDKs and AWS CLI v1.45+
// speak it. SQS is query-compatible: errors carry the awsQuery code in the x-amzn-query-error
// header besides the JSON __type, and the SDK reports the former as ErrorCode() (for example
// "AWS.SimpleQueueService.NonExistentQueue" on a *types.QueueDoesNotExist). The older query
// (XML) protocol is not served.
//
// Queues live per account and region (the request's signing region); a queue URL is
// <endpoint>/<account>/<name> with the endpoint the client addressed. Delays, visibility
// timeouts, retention, the FIFO deduplication interval and the 60-second waits after DeleteQueue
// and PurgeQueue all run on the sandbox clock, so tests move them by advancing it.
// ReceiveMessage answers at once: WaitTimeSeconds is validated, but long polling does not wait.
//
// Modelled: CreateQueue, GetQueueUrl, GetQueueAttributes, SetQueueAttributes, DeleteQueue,
// ListQueues, PurgeQueue, SendMessage, SendMessageBatch, ReceiveMessage, DeleteMessage,
// DeleteMessageBatch, ChangeMessageVisibility, and redrive to a dead-letter queue.
var sqsActions = map[string]handler{
	"CreateQueue":             sqsCreateQueue,
	"GetQueueUrl":             sqsGetQueueURL,
	"GetQueueAttributes":      sqsGetQueueAttributes,
	"SetQueueAttributes":      sqsSetQueueAttributes,
	"DeleteQueue":             sqsDeleteQueue,
	"ListQueues":              sqsListQueues,
	"PurgeQueue":              sqsPurgeQueue,
	"SendMessage":             sqsSendMessage,
	"SendMessageBatch":        sqsSendMessageBatch,
	"ReceiveMessage":          sqsReceiveMessage,
	"DeleteMessage":           sqsDeleteMessage,
	"DeleteMessageBatch":      sqsDeleteMessageBatch,
	"ChangeMessageVisibility": sqsChangeMessageVisibility,
}

const (
	// sqsMaxSize is the largest message (and batch) SQS accepts since 2025: 1 MiB. It is also
	// MaximumMessageSize's default.
	sqsMaxSize = 1 << 20
	// sqsDedupWindow is FIFO queues' deduplication interval.
	sqsDedupWindow = 5 * time.Minute
	// sqsMaxVisibility bounds VisibilityTimeout and a message's total time in flight per receive.
	sqsMaxVisibility = 43200
	// sqsRecreateWait is how long after DeleteQueue a queue of the same name cannot be created,
	// and how long a PurgeQueue blocks the next one.
	sqsRecreateWait = 60 * time.Second
	sqsMaxBatch     = 10
	sqsMaxListPage  = 1000
)

var (
	sqsQueueNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)
	sqsFifoNameRE  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,75}\.fifo$`)
	sqsBatchIDRE   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)
	sqsGroupIDRE   = regexp.MustCompile(`^[!-~]{1,128}$`) // printable ASCII, as the docs allow
	sqsAttrNameRE  = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,256}$`)
)

// sqsWorld is every SQS queue of the sandbox; it lives in world.sqs.
type sqsWorld struct {
	// rng generates message ids, apart from world.rng (see orgWorld.rng).
	rng *rand.Rand
	// key authenticates receipt handles: a handle names its queue, message and receive, so
	// nothing needs to remember the handles issued.
	key     []byte
	queues  map[sqsKey]*sqsQueue
	deleted map[sqsKey]time.Time // when a queue was deleted, for QueueDeletedRecently
}

type sqsKey struct{ acct, region, name string }

type sqsQueue struct {
	key      sqsKey
	fifo     bool
	attrs    map[string]string // settable attributes, defaults filled in
	redrive  *sqsRedrive
	created  time.Time
	modified time.Time
	purged   time.Time
	tags     map[string]string
	// msgs are the queue's messages in send (FIFO: sequence) order; deleted ones are dropped
	// lazily (dead counts them), so that a delete does not copy the queue.
	msgs []*sqsMessage
	dead int
	// live indexes the messages not deleted by their number, which receipt handles carry.
	live    map[uint64]*sqsMessage
	nextNum uint64
	dedup   map[string]sqsDedup
	seq     uint64
}

type sqsRedrive struct {
	target   string // dead-letter queue ARN
	maxCount int
}

type sqsDedup struct {
	messageID, seq string
	at             time.Time
}

type sqsMessage struct {
	id        string
	body      string
	attrs     map[string]sqsAttrValue
	system    map[string]sqsAttrValue // AWSTraceHeader
	sender    string
	sent      time.Time
	visibleAt time.Time // delay, then visibility timeout
	receives  int
	firstRecv time.Time
	lastRecv  time.Time
	num       uint64 // the message's number in its queue (receipt handles carry it)
	deleted   bool
	group     string
	dedupID   string
	seq       string
	dlqSource string // DeadLetterQueueSourceArn once redriven
}

// sqsAttrValue is a message attribute as SendMessage takes it.
type sqsAttrValue struct {
	DataType         string   `json:"DataType"`
	StringValue      *string  `json:"StringValue,omitempty"`
	BinaryValue      []byte   `json:"BinaryValue,omitempty"`
	StringListValues []string `json:"StringListValues,omitempty"`
	BinaryListValues [][]byte `json:"BinaryListValues,omitempty"`
}

func newSQSWorld(seed uint64) *sqsWorld {
	sw := &sqsWorld{
		rng:     rand.New(rand.NewPCG(seed^0x737173, seed+0x737173)),
		queues:  map[sqsKey]*sqsQueue{},
		deleted: map[sqsKey]time.Time{},
	}
	sw.key = make([]byte, 32)
	for i := range sw.key {
		sw.key[i] = byte(sw.rng.UintN(256))
	}
	return sw
}

func (sw *sqsWorld) uuid() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(sw.rng.UintN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// receiptHandle returns the handle of m's current receive in qu: the message number and the
// receive count, authenticated for the queue, then padding to the length of AWS's handles.
func (sw *sqsWorld) receiptHandle(qu *sqsQueue, m *sqsMessage) string {
	b := make([]byte, 12, 120)
	binary.BigEndian.PutUint64(b, m.num)
	binary.BigEndian.PutUint32(b[8:], uint32(m.receives))
	b = append(b, sw.handleMAC(qu, b)...)
	for len(b) < cap(b) {
		b = append(b, byte(sw.rng.UintN(256)))
	}
	return base64.StdEncoding.EncodeToString(b)
}

func (sw *sqsWorld) handleMAC(qu *sqsQueue, b []byte) []byte {
	mac := hmac.New(sha256.New, sw.key)
	mac.Write([]byte(qu.arn()))
	mac.Write(b[:12])
	return mac.Sum(nil)[:16]
}

// parseHandle returns the message number and receive count a handle of qu names; ok is false
// for a handle the queue never issued.
func (sw *sqsWorld) parseHandle(qu *sqsQueue, h string) (num uint64, receive int, ok bool) {
	b, err := base64.StdEncoding.DecodeString(h)
	if err != nil || len(b) < 28 || !hmac.Equal(b[12:28], sw.handleMAC(qu, b)) {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(b), int(binary.BigEndian.Uint32(b[8:])), true
}

// add appends a new message (or a redriven copy) to the queue and numbers it.
func (qu *sqsQueue) add(m *sqsMessage) {
	qu.nextNum++
	m.num = qu.nextNum
	qu.msgs = append(qu.msgs, m)
	qu.live[m.num] = m
}

// remove deletes m from the queue; the slice is compacted once half of it is dead.
func (qu *sqsQueue) remove(m *sqsMessage) {
	if m.deleted {
		return
	}
	m.deleted = true
	delete(qu.live, m.num)
	qu.dead++
	if qu.dead > 32 && qu.dead*2 > len(qu.msgs) {
		qu.compact()
	}
}

func (qu *sqsQueue) compact() {
	kept := make([]*sqsMessage, 0, len(qu.msgs)-qu.dead)
	for _, m := range qu.msgs {
		if !m.deleted {
			kept = append(kept, m)
		}
	}
	qu.msgs, qu.dead = kept, 0
}

func (qu *sqsQueue) arn() string {
	return "arn:aws:sqs:" + qu.key.region + ":" + qu.key.acct + ":" + qu.key.name
}

func sqsURL(q *request, k sqsKey) string { return q.endpoint + "/" + k.acct + "/" + k.name }

func (qu *sqsQueue) int(name string) int {
	n, _ := strconv.Atoi(qu.attrs[name])
	return n
}

// Errors. Code is the shape name the SDK maps to a typed error; QueryCode is the awsQuery code
// the x-amzn-query-error header carries.

func sqsErr(status int, code, query, format string, args ...any) *apiError {
	e := errorf(status, code, format, args...)
	e.QueryCode = query
	return e
}

func sqsInvalidParam(format string, args ...any) *apiError {
	return sqsErr(http.StatusBadRequest, "InvalidParameterValue", "InvalidParameterValue", format, args...)
}

func sqsMissing(name string) *apiError {
	return sqsErr(http.StatusBadRequest, "MissingParameter", "MissingParameter", "The request must contain the parameter %s.", name)
}

func sqsNoQueue() *apiError {
	return sqsErr(http.StatusBadRequest, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.")
}

func sqsBadAttrName(name string) *apiError {
	return sqsErr(http.StatusBadRequest, "InvalidAttributeName", "InvalidAttributeName", "Unknown Attribute %s.", name)
}

func sqsBadAttrValue(name string) *apiError {
	return sqsErr(http.StatusBadRequest, "InvalidAttributeValue", "InvalidAttributeValue", "Invalid value for the parameter %s.", name)
}

func sqsBadHandle(h string) *apiError {
	return sqsErr(http.StatusNotFound, "ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", "The input receipt handle %q is not a valid receipt handle.", h)
}

func sqsNotInflight() *apiError {
	return sqsErr(http.StatusBadRequest, "MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight", "Message does not exist or is not available for visibility timeout change.")
}

func sqsRange(name string, v, lo, hi int) *apiError {
	if v < lo || v > hi {
		return sqsInvalidParam("Value %d for parameter %s is invalid. Reason: Must be between %d and %d, if provided.", v, name, lo, hi)
	}
	return nil
}

// sqsDecode reads the JSON body; the parser's message is not echoed (it could quote a body).
func sqsDecode(q *request, v any) *apiError {
	if len(bytes.TrimSpace(q.body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(q.body, v); err != nil {
		return sqsErr(http.StatusBadRequest, "SerializationException", "SerializationException", "The request body is not a JSON object of the shape %s expects.", q.action)
	}
	return nil
}

// sqsQueueFor resolves a QueueUrl: any host, path /<account>/<name>, the caller's account, the
// request's region. Cross-account access through queue policies is not modelled: another
// account's queue answers AccessDenied.
func sqsQueueFor(s *Server, q *request, raw *string) (*sqsQueue, *apiError) {
	if raw == nil || *raw == "" {
		return nil, sqsMissing("QueueUrl")
	}
	u, err := url.Parse(*raw)
	parts := []string{}
	if err == nil {
		parts = strings.Split(strings.Trim(u.Path, "/"), "/")
	}
	if err != nil || len(parts) != 2 || !accountIDRE.MatchString(parts[0]) || parts[1] == "" {
		return nil, sqsErr(http.StatusNotFound, "InvalidAddress", "InvalidAddress", "The address %s is not valid for this endpoint.", *raw)
	}
	if parts[0] != q.acct.ID {
		return nil, sqsErr(http.StatusForbidden, "AccessDenied", "AccessDenied", "Access to the resource %s is denied.", *raw)
	}
	qu := s.world.sqs.queues[sqsKey{q.acct.ID, q.region, parts[1]}]
	if qu == nil {
		return nil, sqsNoQueue()
	}
	qu.sweep(q.now)
	return qu, nil
}

// sweep drops messages past the retention period (counted from the first enqueue, also after a
// redrive) and deduplication entries past their interval.
func (qu *sqsQueue) sweep(now time.Time) {
	keep := time.Duration(qu.int("MessageRetentionPeriod")) * time.Second
	for _, m := range qu.msgs {
		if !m.deleted && now.Sub(m.sent) >= keep {
			qu.remove(m)
		}
	}
	for k, d := range qu.dedup {
		if now.Sub(d.at) >= sqsDedupWindow {
			delete(qu.dedup, k)
		}
	}
}

// Queue attributes.

// sqsSettable lists the attributes CreateQueue and SetQueueAttributes take, with their defaults
// ("" when unset by default) and whether only FIFO queues have them.
var sqsSettable = map[string]struct {
	def      string
	fifoOnly bool
}{
	"DelaySeconds":                  {"0", false},
	"MaximumMessageSize":            {strconv.Itoa(sqsMaxSize), false},
	"MessageRetentionPeriod":        {"345600", false},
	"ReceiveMessageWaitTimeSeconds": {"0", false},
	"VisibilityTimeout":             {"30", false},
	"Policy":                        {"", false},
	"RedrivePolicy":                 {"", false},
	"RedriveAllowPolicy":            {"", false},
	"KmsMasterKeyId":                {"", false},
	"KmsDataKeyReusePeriodSeconds":  {"", false},
	"SqsManagedSseEnabled":          {"true", false},
	"FifoQueue":                     {"", true},
	"ContentBasedDeduplication":     {"false", true},
	"DeduplicationScope":            {"queue", true},
	"FifoThroughputLimit":           {"perQueue", true},
}

// sqsReadOnly are the attributes only GetQueueAttributes answers.
var sqsReadOnly = []string{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
	"ApproximateNumberOfMessagesDelayed", "CreatedTimestamp", "LastModifiedTimestamp", "QueueArn"}

// sqsCheckAttrs validates attributes for a queue (fifo tells which kind) and returns them with
// the parsed redrive policy. create is true for CreateQueue (FifoQueue may be given only there).
func (sw *sqsWorld) sqsCheckAttrs(attrs map[string]string, fifo, create bool, k sqsKey) (*sqsRedrive, *apiError) {
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	var rd *sqsRedrive
	for _, n := range names {
		v := attrs[n]
		spec, ok := sqsSettable[n]
		if !ok || (spec.fifoOnly && !fifo && n != "FifoQueue") {
			return nil, sqsBadAttrName(n)
		}
		intIn := func(lo, hi int) *apiError {
			i, err := strconv.Atoi(v)
			if err != nil || i < lo || i > hi {
				return sqsBadAttrValue(n)
			}
			return nil
		}
		var e *apiError
		switch n {
		case "DelaySeconds":
			e = intIn(0, 900)
		case "MaximumMessageSize":
			e = intIn(1024, sqsMaxSize)
		case "MessageRetentionPeriod":
			e = intIn(60, 1209600)
		case "ReceiveMessageWaitTimeSeconds":
			e = intIn(0, 20)
		case "VisibilityTimeout":
			e = intIn(0, sqsMaxVisibility)
		case "KmsDataKeyReusePeriodSeconds":
			e = intIn(60, 86400)
		case "FifoQueue":
			// Only CreateQueue takes it; "false" creates a standard queue, as AWS does.
			if !create || (v != "true" && v != "false") {
				e = sqsBadAttrValue(n)
			}
		case "ContentBasedDeduplication", "SqsManagedSseEnabled":
			if v != "true" && v != "false" {
				e = sqsBadAttrValue(n)
			}
		case "DeduplicationScope":
			if v != "queue" && v != "messageGroup" {
				e = sqsBadAttrValue(n)
			}
		case "FifoThroughputLimit":
			if v != "perQueue" && v != "perMessageGroupId" {
				e = sqsBadAttrValue(n)
			}
		case "Policy", "RedriveAllowPolicy":
			if v != "" && !json.Valid([]byte(v)) {
				e = sqsBadAttrValue(n)
			}
		case "RedrivePolicy":
			if v != "" {
				rd, e = sw.parseRedrive(v, fifo, k)
			}
		}
		if e != nil {
			return nil, e
		}
	}
	return rd, nil
}

// parseRedrive reads {"deadLetterTargetArn": ARN, "maxReceiveCount": N} (N as a number or a
// string, both of which AWS accepts). The dead-letter queue must exist, in the same account and
// region, and be of the same kind.
func (sw *sqsWorld) parseRedrive(v string, fifo bool, k sqsKey) (*sqsRedrive, *apiError) {
	var raw struct {
		Target string          `json:"deadLetterTargetArn"`
		Max    json.RawMessage `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal([]byte(v), &raw); err != nil || raw.Target == "" || len(raw.Max) == 0 {
		return nil, sqsInvalidParam("Value %s for parameter RedrivePolicy is invalid. Reason: Redrive policy is not a valid JSON map with deadLetterTargetArn and maxReceiveCount.", v)
	}
	n, err := strconv.Atoi(strings.Trim(string(raw.Max), `"`))
	if err != nil || n < 1 || n > 1000 {
		return nil, sqsInvalidParam("Value %s for parameter RedrivePolicy is invalid. Reason: Invalid value for maxReceiveCount: %s, valid values are from 1 to 1000 both inclusive.", v, strings.Trim(string(raw.Max), `"`))
	}
	f := strings.Split(raw.Target, ":")
	var dlq *sqsQueue
	if len(f) == 6 && f[0] == "arn" && f[2] == "sqs" && f[3] == k.region && f[4] == k.acct {
		dlq = sw.queues[sqsKey{f[4], f[3], f[5]}]
	}
	if dlq == nil {
		return nil, sqsInvalidParam("Value %s for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist.", v)
	}
	if dlq.fifo != fifo {
		return nil, sqsInvalidParam("Value %s for parameter RedrivePolicy is invalid. Reason: Dead-letter queue must be same type of queue as the source.", v)
	}
	if dlq.key == k {
		return nil, sqsInvalidParam("Value %s for parameter RedrivePolicy is invalid. Reason: A queue cannot be its own dead-letter queue.", v)
	}
	return &sqsRedrive{target: raw.Target, maxCount: n}, nil
}

// newQueue validates a queue's name and attributes and creates it (CreateQueue, scenarios).
func (sw *sqsWorld) newQueue(k sqsKey, attrs map[string]string, tags map[string]string, now time.Time) (*sqsQueue, *apiError) {
	fifo := attrs["FifoQueue"] == "true"
	switch {
	case fifo && !sqsFifoNameRE.MatchString(k.name):
		return nil, sqsInvalidParam("The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.")
	case !fifo && !sqsQueueNameRE.MatchString(k.name):
		return nil, sqsInvalidParam("Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
	}
	rd, e := sw.sqsCheckAttrs(attrs, fifo, true, k)
	if e != nil {
		return nil, e
	}
	qu := &sqsQueue{key: k, fifo: fifo, attrs: map[string]string{}, redrive: rd, created: now, modified: now,
		tags: map[string]string{}, live: map[uint64]*sqsMessage{}, dedup: map[string]sqsDedup{}}
	for n, spec := range sqsSettable {
		if spec.def != "" && (fifo || !spec.fifoOnly) {
			qu.attrs[n] = spec.def
		}
	}
	for n, v := range attrs {
		if n == "FifoQueue" && !fifo {
			continue
		}
		qu.attrs[n] = v
	}
	if fifo {
		qu.attrs["FifoQueue"] = "true"
	}
	for k, v := range tags {
		qu.tags[k] = v
	}
	sw.queues[k] = qu
	return qu, nil
}

func sqsCreateQueue(s *Server, q *request) (any, *apiError) {
	var in struct {
		QueueName  *string
		Attributes map[string]string
		Tags       map[string]string `json:"tags"`
	}
	if e := sqsDecode(q, &in); e != nil {
		return nil, e
	}
	if in.QueueName == nil || *in.QueueName == "" {
		return nil, sqsMissing("QueueName")
	}
	sw := s.world.sqs
	k := sqsKey{q.acct.ID, q.region, *in.QueueName}
	if qu := sw.queues[k]; qu != nil {
		// Creating an existing queue is idempotent as long as the attributes given match.
		names := make([]string, 0, len(in.Attributes))
		for n := range in.Attributes {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			have, ok := qu.attrs[n]
			if n == "FifoQueue" && !qu.fifo {
				have, ok = "false", true
			}
			if !ok || have != in.Attributes[n] {
				return nil, sqsErr(http.StatusBadRequest, "QueueNameExists", "QueueAlreadyExists", "A queue already exists with the same name and a different value for attribute %s", n)
			}
		}
		return map[string]string{"QueueUrl": sqsURL(q, k)}, nil
	}
	if at, ok := sw.deleted[k]; ok && q.now.Sub(at) < sqsRecreateWait {
		return nil, sqsErr(http.StatusBadRequest, "QueueDeletedRecently", "AWS.SimpleQueueService.QueueDeletedRecently", "You must wait 60 seconds after deleting a queue before you can create another with the same name.")
	}
	if len(in.Tags) > 50 {
		return nil, sqsInvalidParam("Too many tags added for queue %s.", k.name)
	}
	if _, e := sw.newQueue(k, in.Attributes, in.Tags, q.now); e != nil {
		return nil, e
	}
	delete(sw.deleted, k)
	return map[string]string{"QueueUrl": sqsURL(q, k)}, nil
}

func sqsGetQueueURL(s *Server, q *request) (any, *apiError) {
	var in struct {
		QueueName              *string
		QueueOwnerAWSAccountID *string `json:"QueueOwnerAWSAccountId"`
	}
	if e := sqsDecode(q, &in); e != nil {
		return nil, e
	}
	if in.QueueName == nil || *in.QueueName == "" {
		return nil, sqsMissing("QueueName")
	}
	owner := q.acct.ID
	if in.QueueOwnerAWSAccountID != nil && *in.QueueOwnerAWSAccountID != "" {
		owner = *in.QueueOwnerAWSAccountID
	}
	k := sqsKey{owner, q.region, *in.QueueName}
	// Another account's queue would need a queue policy granting the caller access, which
	// the sandbox does not evaluate: it answers as if the queue did not exist.
	if owner != q.acct.ID || s.world.sqs.queues[k] == nil {
		return nil, sqsNoQueue()
	}
	return map[string]string{"QueueUrl": sqsURL(q, k)}, nil
}

// counts returns the visible, in-flight and delayed messages.
func (qu *sqsQueue) counts(now time.Time) (visible, inflight, delayed int) {
	for _, m := range qu.msgs {
		switch {
		case m.deleted:
		case !now.Before(m.visibleAt):
			visible++
		case m.receives > 0:
			inflight++
		default:
			delayed++
		}
	}
	return
}

func sqsGetQueueAttributes(s *Server, q *request) (any, *apiError) {
	var in struct {
		QueueUrl       *string
		AttributeNames []string
	}
	if e := sqsDecode(q, &in); e != nil {
		return nil, e
	}
	qu, e := sqsQueueFor(s, q, in.QueueUrl)
	if e != nil {
		return nil, e
	}
	visible, inflight, delayed := qu.counts(q.now)
	all := map[string]string{}
	for n, v := range qu.attrs {
		if v != "" {
			all[n] = v
		}
	}
	all["ApproximateNumberOfMessages"] = strconv.Itoa(visible)
	all["ApproximateNumberOfMessagesNotVisible"] = strconv.Itoa(inflight)
	all["ApproximateNumberOfMessagesDelayed"] = strconv.Itoa(delayed)
	all["CreatedTimestamp"] = strconv.FormatInt(qu.created.Unix(), 10)
	all["LastModifiedTimestamp"] = strconv.FormatInt(qu.modified.Unix(), 10)
	all["QueueArn"] = qu.arn()
	out := map[string]string{}
	for _, n := range in.AttributeNames {
		if n == "All" {
			out = all
			break
		}
		_, settable := sqsSettable[n]
		readOnly := false
		for _, r := range sqsReadOnly {
			readOnly = readOnly || r == n
		}
		if !settable && !readOnly {
			return nil, sqsBadAttrName(n)
		}
		if v, ok := all[n]; ok {
			out[n] = v
		}
	}
	if len(out) == 0 {
		return struct{}{}, nil
	}
	return map[string]any{"Attributes": out}, nil
}

func sqsSetQueueAttributes(s *Server, q *request) (any, *apiError) {
	var in struct {
		QueueUrl   *string
		Attributes map[string]string
	}
	if e := sqsDecode(q, &in); e != nil {
		return nil, e
	}
	qu, e := sqsQueueFor(s, q, in.QueueUrl)
	if e != nil {
		return nil, e
	}
	if len(in.Attributes) == 0 {
		return nil, sqsMissing("Attributes")
	}
	if _, ok := in.Attributes["FifoQueue"]; ok {
		// A queue's kind is fixed at creation.
		return nil, sqsBadAttrName("FifoQueue")
	}
	rd, e := s.world.sqs.sqsCheckAttrs(in.Attributes, qu.fifo, false, qu.key)
	if e != nil {
		return nil, e
	}
	for n, v := range in.Attributes {
		qu.attrs[n] = v
		if n == "RedrivePolicy" {
			qu.redrive = rd // nil when the policy is set to "" (removed)
		}
	}
	qu.modified = q.now
	return struct{}{}, nil
}

func sqsDeleteQueue(s *Server, q *request) (any, *apiError) {
	var in struct{ QueueUrl *string }
	if e := sqsDecode(q, &in); e != nil {
		return nil, e
	}
	qu, e := sqsQueueFor(s, q, in.QueueUrl)
	if e != nil {
		return nil, e
	}
	// AWS takes up to 60 seconds to delete a queue; the sandbox deletes at once and keeps the
	// name blocked for 60 seconds of sandbox time.
	delete(s.world.sqs.queues, qu.key)
	s.world.sqs.deleted[qu.key] = q.now
	return struct{}{}, nil
}

func sqsListQueues(s *Server, q *request) (any, *apiError) {
	var in struct {
		QueueNamePrefix string
		MaxResults      *int
		NextToken       *string
	}
	if e := sqsDecode(q, &in); e != nil {
		return nil, e
	}
	var names []string
	for k := range s.world.sqs.queues {
		if k.acct == q.acct.ID && k.region == q.region && strings.HasPrefix(k.name, in.QueueNamePrefix) {
			names = append(names, k.name)
		}
	}
	sort.Strings(names)
	size := sqsMaxListPage
	if in.MaxResults != nil {
		if e := sqsRange("MaxResults", *in.MaxResults, 1, sqsMaxListPage); e != nil {
			return nil, e
		}
		size = *in.MaxResults
	}
	start := 0
	if in.NextToken != nil && *in.NextToken != "" {
		raw, err := base64.RawURLEncoding.DecodeString(*in.NextToken)
		i, aerr := strconv.Atoi(strings.TrimPrefix(string(raw), "queues:"))
		if err != nil || !strings.HasPrefix(string(raw), "queues:") || aerr != nil || i < 0 || i > len(names) {
			return nil, sqsInvalidParam("Invalid NextToken value.")
		}
		start = i
	}
	end := min(start+size, len(names))
	out := map[string]any{}
	if end > start {
		urls := make([]string, 0, end-start)
		for _, n := range names[start:end] {
			urls = append(urls, sqsURL(q, sqsKey{q.acct.ID, q.region, n}))
		}
		out["QueueUrls"] = urls
	}
	// Without MaxResults AWS answers up to 1000 queues and no NextToken.
	if in.MaxResults != nil && end < len(names) {
		out["NextToken"] = base64.RawURLEncoding.EncodeToString([]byte("queues:" + strconv.Itoa(end)))
	}
	return out, nil
}

func sqsPurgeQueue(s *Server, q *request) (any, *apiError) {
	var in struct{ QueueUrl *string }
	if e := sqsDecode(q, &in); e != nil {
		return nil, e
	}
	qu, e := sqsQueueFor(s, q, in.QueueUrl)
	if e != nil {
		return nil, e
	}
	if !qu.purged.IsZero() && q.now.Sub(qu.purged) < sqsRecreateWait {
		return nil, sqsErr(http.StatusForbidden, "PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress",
			"Only one PurgeQueue operation on %s is allowed every 60 seconds.", qu.key.name)
	}
	// AWS may take up to 60 seconds to purge; the sandbox drops every message at once.
	for _, m := range qu.msgs {
		m.deleted = true
	}
	qu.msgs, qu.dead, qu.live = nil, 0, map[uint64]*sqsMessage{}
	qu.purged = q.now
	return struct{}{}, nil
}

// Sending.

type sqsSendEntry struct {
	ID                      string `json:"Id"`
	MessageBody             *string
	DelaySeconds            *int
	MessageAttributes       map[string]sqsAttrValue
	MessageSystemAttributes map[string]sqsAttrValue
	MessageDeduplicationID  *string `json:"MessageDeduplicationId"`
	MessageGroupID          *string `json:"MessageGroupId"`
}

type sqsSendResult struct {
	MessageID                    string `json:"MessageId"`
	MD5OfMessageBody             string `json:"MD5OfMessageBody"`
	MD5OfMessageAttributes       string `json:"MD5OfMessageAttributes,omitempty"`
	MD5OfMessageSystemAttributes string `json:"MD5OfMessageSystemAttributes,omitempty"`
	SequenceNumber               string `json:"SequenceNumber,omitempty"`
}

// sqsOutboxEntry is one sent message as GET /_sandbox/outbox lists it under "sqs".
// Deduplicated is true for a FIFO send accepted but not enqueued (a duplicate within 5 minutes).
type sqsOutboxEntry struct {
	Account      string    `json:"account"`
	Region       string    `json:"region"`
	QueueURL     string    `json:"queue_url"`
	Body         string    `json:"body"`
	GroupID      string    `json:"group_id,omitempty"`
	DedupID      string    `json:"dedup_id,omitempty"`
	MessageID    string    `json:"message_id"`
	Deduplicated bool      `json:"deduplicated"`
	Time         time.Time `json:"time"`
}

// validBody reports whether every character is one SQS allows: #x9 #xA #xD #x20-#xD7FF
// #xE000-#xFFFD #x10000-#x10FFFF.
func validBody(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		switch {
		case r == 0x9 || r == 0xA || r == 0xD:
		case r >= 0x20 && r <= 0xD7FF:
		case r >= 0xE000 && r <= 0xFFFD:
		case r >= 0x10000 && r <= 0x10FFFF:
		default:
			return false
		}
	}
	return true
}

// checkMsgAttrs validates message attributes and returns their size in bytes.
func checkMsgAttrs(attrs map[string]sqsAttrValue, system bool) (int, *apiError) {
	if len(attrs) > 10 {
		return 0, sqsInvalidParam("Number of message attributes [%d] exceeds the allowed maximum [10].", len(attrs))
	}
	size := 0
	for name, v := range attrs {
		if system {
			if name != "AWSTraceHeader" || v.DataType != "String" || v.StringValue == nil {
				return 0, sqsInvalidParam("Message system attribute name '%s' is invalid.", name)
			}
		} else {
			low := strings.ToLower(name)
			if !sqsAttrNameRE.MatchString(name) || strings.HasPrefix(low, "aws.") || strings.HasPrefix(low, "amazon.") ||
				strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
				return 0, sqsInvalidParam("Message attribute name '%s' is invalid.", name)
			}
		}
		base, _, _ := strings.Cut(v.DataType, ".")
		switch base {
		case "String", "Number":
			if v.StringValue == nil {
				return 0, sqsInvalidParam("The message attribute '%s' with type '%s' must use field 'String'.", name, base)
			}
			if base == "Number" {
				if _, err := strconv.ParseFloat(*v.StringValue, 64); err != nil {
					return 0, sqsInvalidParam("Can't cast the value of message (user) attribute '%s' to a number.", name)
				}
			}
			size += len(*v.StringValue)
		case "Binary":
			if v.BinaryValue == nil {
				return 0, sqsInvalidParam("The message attribute '%s' with type 'Binary' must use field 'Binary'.", name)
			}
			size += len(v.BinaryValue)
		default:
			return 0, sqsInvalidParam("The type of message (user) attribute '%s' is invalid. You must use only the following supported type prefixes: Binary, Number, String.", name)
		}
		size += len(name) + len(v.DataType)
	}
	return size, nil
}

// attrsMD5 is SQS's digest of message attributes: for each attribute in name order, the
// length-prefixed (4 bytes, big-endian) name and data type, a transport byte (1 string,
// 2 binary) and the length-prefixed value.
func attrsMD5(attrs map[string]sqsAttrValue) string {
	if len(attrs) == 0 {
		return ""
	}
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	h := md5.New()
	put := func(b []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	for _, n := range names {
		v := attrs[n]
		put([]byte(n))
		put([]byte(v.DataType))
		if v.StringValue != nil {
			h.Write([]byte{1})
			put([]byte(*v.StringValue))
		} else {
			h.Write([]byte{2})
			put(v.BinaryValue)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// send validates one message and enqueues it (or, a FIFO duplicate, accepts it only).
func (s *Server) sqsSend(q *request, qu *sqsQueue, in sqsSendEntry) (sqsSendResult, *apiError) {
	if in.MessageBody == nil || *in.MessageBody == "" {
		return sqsSendResult{}, sqsMissing("MessageBody")
	}
	body := *in.MessageBody
	if !validBody(body) {
		return sqsSendResult{}, sqsErr(http.StatusBadRequest, "InvalidMessageContents", "InvalidMessageContents",
			"Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF")
	}
	asize, e := checkMsgAttrs(in.MessageAttributes, false)
	if e != nil {
		return sqsSendResult{}, e
	}
	if _, e := checkMsgAttrs(in.MessageSystemAttributes, true); e != nil {
		return sqsSendResult{}, e
	}
	if limit := qu.int("MaximumMessageSize"); len(body)+asize > limit {
		return sqsSendResult{}, sqsInvalidParam("One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", limit)
	}
	delay := qu.int("DelaySeconds")
	if in.DelaySeconds != nil {
		if qu.fifo && *in.DelaySeconds != 0 {
			return sqsSendResult{}, sqsInvalidParam("Value %d for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.", *in.DelaySeconds)
		}
		if *in.DelaySeconds < 0 || *in.DelaySeconds > 900 {
			return sqsSendResult{}, sqsInvalidParam("Value %d for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.", *in.DelaySeconds)
		}
		if !qu.fifo {
			delay = *in.DelaySeconds
		}
	}
	m := &sqsMessage{body: body, attrs: in.MessageAttributes, system: in.MessageSystemAttributes,
		sender: q.caller.userID(), sent: q.now, visibleAt: q.now.Add(time.Duration(delay) * time.Second)}
	if in.MessageGroupID != nil {
		if !sqsGroupIDRE.MatchString(*in.MessageGroupID) {
			return sqsSendResult{}, sqsInvalidParam("Value %s for parameter MessageGroupId is invalid. Reason: MessageGroupId can only include alphanumeric and punctuation characters. 1 to 128 in length.", *in.MessageGroupID)
		}
		// Standard queues accept a MessageGroupId too (fair queues); it only orders FIFO queues.
		m.group = *in.MessageGroupID
	}
	sw := s.world.sqs
	res := sqsSendResult{MD5OfMessageBody: md5Hex(body), MD5OfMessageAttributes: attrsMD5(in.MessageAttributes),
		MD5OfMessageSystemAttributes: attrsMD5(in.MessageSystemAttributes)}
	entry := sqsOutboxEntry{Account: q.acct.ID, Region: q.region, QueueURL: sqsURL(q, qu.key), Body: body, GroupID: m.group, Time: q.now}
	if qu.fifo {
		if in.MessageGroupID == nil {
			return sqsSendResult{}, sqsMissing("MessageGroupId")
		}
		switch {
		case in.MessageDeduplicationID != nil:
			if !sqsGroupIDRE.MatchString(*in.MessageDeduplicationID) {
				return sqsSendResult{}, sqsInvalidParam("Value %s for parameter MessageDeduplicationId is invalid. Reason: MessageDeduplicationId can only include alphanumeric and punctuation characters. 1 to 128 in length.", *in.MessageDeduplicationID)
			}
			m.dedupID = *in.MessageDeduplicationID
		case qu.attrs["ContentBasedDeduplication"] == "true":
			sum := sha256.Sum256([]byte(body))
			m.dedupID = hex.EncodeToString(sum[:])
		default:
			return sqsSendResult{}, sqsInvalidParam("The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
		}
		entry.DedupID = m.dedupID
		key := m.dedupID
		if qu.attrs["DeduplicationScope"] == "messageGroup" {
			key = m.group + "\x00" + key
		}
		if d, dup := qu.dedup[key]; dup {
			// Accepted but not delivered again; AWS answers the first send's id and sequence number.
			res.MessageID, res.SequenceNumber = d.messageID, d.seq
			entry.MessageID, entry.Deduplicated = d.messageID, true
			s.world.outbox.recordSQS(entry)
			return res, nil
		}
		qu.seq++
		m.seq = fmt.Sprintf("1%019d", qu.seq)
		res.SequenceNumber = m.seq
		m.id = sw.uuid()
		qu.dedup[key] = sqsDedup{messageID: m.id, seq: m.seq, at: q.now}
	} else {
		if in.MessageDeduplicationID != nil {
			return sqsSendResult{}, sqsInvalidParam("The request include parameter MessageDeduplicationId that is not valid for this queue type")
		}
		m.id = sw.uuid()
	}
	res.MessageID = m.id
	qu.add(m)
	entry.MessageID = m.id
	s.world.outbox.recordSQS(entry)
	return res, nil
}

func sqsSendMessage(s *Server, q *request) (any, *apiError) {
	var in struct {
		QueueUrl *string
		sqsSendEntry
	}
	if e := sqsDecode(q, &in); e != nil {
		return nil, e
	}
	qu, e := sqsQueueFor(s, q, in.QueueUrl)
	if e != nil {
		return nil, e
	}
	res, e := s.sqsSend(q, qu, in.sqsSendEntry)
	if e != nil {
		return nil, e
	}
	return res, nil
}

type sqsBatchError struct {
	ID          string `json:"Id"`
	SenderFault bool   `json:"SenderFault"`
	Code        string `json:"Code"`
	Message     string `json:"Message"`
}

// checkBatch validates a batch's entry ids as every *Batch action does.
func checkBatch(ids []string) *apiError {
	if len(ids) == 0 {
		return sqsErr(http.StatusBadRequest, "EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest", "There should be at least one entry in the request.")
	}
	if len(ids) > sqsMaxBatch {
		return sqsErr(http.StatusBadRequest, "TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
			"Maximum number of entries per request are %d. You have sent %d.", sqsMaxBatch, len(ids))
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if !sqsBatchIDRE.MatchString(id) {
			return sqsErr(http.StatusBadRequest, "InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId",
				"A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.")
		}
		if seen[id] {
			return sqsErr(http.StatusBadRequest, "BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "Id %s repeated.", id)
		}
		seen[id] = true
	}
	return nil
}

func batchFailure(id string, e *apiError) sqsBatchError {
	code := e.QueryCode
	if code == "" {
		code = e.Code
	}
	return sqsBatchError{ID: id, SenderFault: e.Status < 500, Code: code, Message: e.Message}
}

func sqsSendMessageBatch(s *Server, q *request) (any, *apiError) {
	var in struct {
		QueueUrl *string
		Entries  []sqsSendEntry
	}
	if e := sqsDecode(q, &in); e != nil {
		return nil, e
	}
	qu, e := sqsQueueFor(s, q, in.QueueUrl)
	if e != nil {
		return nil, e
	}
	ids := make([]string, len(in.Entries))
	total := 0
	for i, en := range in.Entries {
		ids[i] = en.ID
		if en.MessageBody != nil {
			total += len(*en.MessageBody)
		}
		for n, v := range en.MessageAttributes {
			total += len(n) + len(v.DataType) + len(v.BinaryValue)
			if v.StringValue != nil {
				total += len(*v.StringValue)
			}
		}
	}
	if e := checkBatch(ids); e != nil {
		return nil, e
	}
	if total > sqsMaxSize {
		return nil, sqsErr(http.StatusBadRequest, "BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong",
			"Batch requests cannot be longer than %d bytes. You have sent %d bytes.", sqsMaxSize, total)
	}
	type ok struct {
		ID string `json:"Id"`
		sqsSendResult
	}
	good, failed := []ok{}, []sqsBatchError{}
	for _, en := range in.Entries {
		res, e := s.sqsSend(q, qu, en)
		if e != nil {
			failed = append(failed, batchFailure(en.ID, e))
			continue
		}
		good = append(good, ok{ID: en.ID, sqsSendResult: res})
	}
	return map[string]any{"Successful": good, "Failed": failed}, nil
}

// Receiving.

type sqsMessageOut struct {
	MessageID              string                  `json:"MessageId"`
	ReceiptHandle          string                  `json:"ReceiptHandle"`
	MD5OfBody              string                  `json:"MD5OfBody"`
	Body                   string                  `json:"Body"`
	Attributes             map[string]string       `json:"Attributes,omitempty"`
	MD5OfMessageAttributes string                  `json:"MD5OfMessageAttributes,omitempty"`
	MessageAttributes      map[string]sqsAttrValue `json:"MessageAttributes,omitempty"`
}

// sqsSystemNames are the message system attributes ReceiveMessage can return.
var sqsSystemNames = []string{"All", "SenderId", "SentTimestamp", "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp",
	"SequenceNumber", "MessageDeduplicationId", "MessageGroupId", "AWSTraceHeader", "DeadLetterQueueSourceArn"}

func (m *sqsMessage) systemAttrs(want map[string]bool) map[string]string {
	if len(want) == 0 {
		return nil
	}
	all := map[string]string{
		"SenderId":                         m.sender,
		"SentTimestamp":                    strconv.FormatInt(m.sent.UnixMilli(), 10),
		"ApproximateReceiveCount":          strconv.Itoa(m.receives),
		"ApproximateFirstReceiveTimestamp": strconv.FormatInt(m.firstRecv.UnixMilli(), 10),
	}
	opt := map[string]string{"SequenceNumber": m.seq, "MessageDeduplicationId": m.dedupID, "MessageGroupId": m.group,
		"DeadLetterQueueSourceArn": m.dlqSource}
	if t, ok := m.system["AWSTraceHeader"]; ok && t.StringValue != nil {
		opt["AWSTraceHeader"] = *t.StringValue
	}
	for k, v := range opt {
		if v != "" {
			all[k] = v
		}
	}
	if want["All"] {
		return all
	}
	out := map[string]string{}
	for k := range want {
		if v, ok := all[k]; ok {
			out[k] = v
		}
	}
	return out
}

// selectAttrs returns the message attributes MessageAttributeNames asks for: "All" or ".*"
// for every one, "prefix.*" for a prefix, else exact names.
func selectAttrs(attrs map[string]sqsAttrValue, names []string) map[string]sqsAttrValue {
	out := map[string]sqsAttrValue{}
	for _, want := range names {
		for n, v := range attrs {
			switch {
			case want == "All" || want == ".*":
				out[n] = v
			case strings.HasSuffix(want, ".*") && strings.HasPrefix(n, strings.TrimSuffix(want, "*")):
				out[n] = v
			case want == n:
				out[n] = v
			}
		}
	}
	return out
}

// redriveTarget returns the queue's dead-letter queue, nil without one (or when it was deleted:
// then messages stay in the source queue; AWS's docs do not say what it does).
func (sw *sqsWorld) redriveTarget(qu *sqsQueue) *sqsQueue {
	if qu.redrive == nil {
		return nil
	}
	f := strings.Split(qu.redrive.target, ":")
	if len(f) != 6 {
		return nil
	}
	return sw.queues[sqsKey{f[4], f[3], f[5]}]
}

func sqsReceiveMessage(s *Server, q *request) (any, *apiError) {
	var in struct {
		QueueUrl                    *string
		AttributeNames              []string
		MessageSystemAttributeNames []string
		MessageAttributeNames       []string
		MaxNumberOfMessages         *int
		VisibilityTimeout           *int
		WaitTimeSeconds             *int
		ReceiveRequestAttemptID     *string `json:"ReceiveRequestAttemptId"`
	}
	if e := sqsDecode(q, &in); e != nil {
		return nil, e
	}
	qu, e := sqsQueueFor(s, q, in.QueueUrl)
	if e != nil {
		return nil, e
	}
	limit := 1
	if in.MaxNumberOfMessages != nil {
		if e := sqsRange("MaxNumberOfMessages", *in.MaxNumberOfMessages, 1, sqsMaxBatch); e != nil {
			return nil, e
		}
		limit = *in.MaxNumberOfMessages
	}
	vis := qu.int("VisibilityTimeout")
	if in.VisibilityTimeout != nil {
		if e := sqsRange("VisibilityTimeout", *in.VisibilityTimeout, 0, sqsMaxVisibility); e != nil {
			return nil, e
		}
		vis = *in.VisibilityTimeout
	}
	if in.WaitTimeSeconds != nil {
		// Validated, but the sandbox answers at once: a handler must not block, and its clock
		// only moves when told to.
		if e := sqsRange("WaitTimeSeconds", *in.WaitTimeSeconds, 0, 20); e != nil {
			return nil, e
		}
	}
	want := map[string]bool{}
	for _, n := range append(append([]string{}, in.AttributeNames...), in.MessageSystemAttributeNames...) {
		known := false
		for _, k := range sqsSystemNames {
			known = known || k == n
		}
		if !known {
			return nil, sqsBadAttrName(n)
		}
		want[n] = true
	}
	// ReceiveRequestAttemptId (FIFO retries of a lost receive) is accepted and not modelled.
	sw := s.world.sqs
	dlq := sw.redriveTarget(qu)
	// Candidates in queue order. FIFO: a group with a message in flight or not yet visible
	// gives nothing after it, and AWS returns as many messages of one group as it can before
	// the next group's, so candidates are regrouped by the order their groups first appear.
	blocked := map[string]bool{}
	var cands []*sqsMessage
	for _, m := range qu.msgs {
		if m.deleted {
			continue
		}
		if q.now.Before(m.visibleAt) {
			if qu.fifo {
				blocked[m.group] = true
			}
			continue
		}
		if qu.fifo && blocked[m.group] {
			continue
		}
		cands = append(cands, m)
	}
	if qu.fifo {
		rank := map[string]int{}
		for _, m := range cands {
			if _, ok := rank[m.group]; !ok {
				rank[m.group] = len(rank)
			}
		}
		sort.SliceStable(cands, func(i, j int) bool { return rank[cands[i].group] < rank[cands[j].group] })
	}
	var got []*sqsMessage
	for _, m := range cands {
		if len(got) == limit {
			break
		}
		if dlq != nil && m.receives >= qu.redrive.maxCount {
			// This receive would exceed maxReceiveCount: the message moves to the dead-letter
			// queue instead, keeping its id, body, attributes, receive count and first sent time.
			moved := *m // a copy: the source queue may still hold m, deleted, until it compacts
			qu.remove(m)
			moved.dlqSource = qu.arn()
			moved.visibleAt = q.now
			dlq.add(&moved)
			continue
		}
		m.receives++
		if m.receives == 1 {
			m.firstRecv = q.now
		}
		m.lastRecv = q.now
		m.visibleAt = q.now.Add(time.Duration(vis) * time.Second)
		got = append(got, m)
	}
	if len(got) == 0 {
		return struct{}{}, nil
	}
	out := make([]sqsMessageOut, 0, len(got))
	for _, m := range got {
		mo := sqsMessageOut{MessageID: m.id, ReceiptHandle: sw.receiptHandle(qu, m), MD5OfBody: md5Hex(m.body), Body: m.body,
			Attributes: m.systemAttrs(want)}
		if sel := selectAttrs(m.attrs, in.MessageAttributeNames); len(sel) > 0 {
			mo.MessageAttributes, mo.MD5OfMessageAttributes = sel, attrsMD5(sel)
		}
		out = append(out, mo)
	}
	return map[string]any{"Messages": out}, nil
}

// deleteByHandle is DeleteMessage for one receipt handle.
func (sw *sqsWorld) deleteByHandle(qu *sqsQueue, h string, now time.Time) *apiError {
	if h == "" {
		return sqsMissing("ReceiptHandle")
	}
	num, receive, ok := sw.parseHandle(qu, h)
	if !ok {
		return sqsBadHandle(h)
	}
	m := qu.live[num]
	if m == nil {
		return nil // deleted already (or expired, purged, redriven): deleting again succeeds
	}
	if receive != m.receives || (qu.fifo && !now.Before(m.visibleAt)) {
		if qu.fifo {
			return sqsInvalidParam("Value %s for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.", h)
		}
		// A standard queue accepts a stale handle and may not delete the message; the sandbox
		// never does, so that a consumer whose visibility lapsed cannot delete another's receive.
		return nil
	}
	qu.remove(m)
	return nil
}

func sqsDeleteMessage(s *Server, q *request) (any, *apiError) {
	var in struct {
		QueueUrl      *string
		ReceiptHandle string
	}
	if e := sqsDecode(q, &in); e != nil {
		return nil, e
	}
	qu, e := sqsQueueFor(s, q, in.QueueUrl)
	if e != nil {
		return nil, e
	}
	if e := s.world.sqs.deleteByHandle(qu, in.ReceiptHandle, q.now); e != nil {
		return nil, e
	}
	return struct{}{}, nil
}

func sqsDeleteMessageBatch(s *Server, q *request) (any, *apiError) {
	var in struct {
		QueueUrl *string
		Entries  []struct {
			ID            string `json:"Id"`
			ReceiptHandle string
		}
	}
	if e := sqsDecode(q, &in); e != nil {
		return nil, e
	}
	qu, e := sqsQueueFor(s, q, in.QueueUrl)
	if e != nil {
		return nil, e
	}
	ids := make([]string, len(in.Entries))
	for i, en := range in.Entries {
		ids[i] = en.ID
	}
	if e := checkBatch(ids); e != nil {
		return nil, e
	}
	type ok struct {
		ID string `json:"Id"`
	}
	good, failed := []ok{}, []sqsBatchError{}
	for _, en := range in.Entries {
		if e := s.world.sqs.deleteByHandle(qu, en.ReceiptHandle, q.now); e != nil {
			failed = append(failed, batchFailure(en.ID, e))
			continue
		}
		good = append(good, ok{ID: en.ID})
	}
	return map[string]any{"Successful": good, "Failed": failed}, nil
}

func sqsChangeMessageVisibility(s *Server, q *request) (any, *apiError) {
	var in struct {
		QueueUrl          *string
		ReceiptHandle     string
		VisibilityTimeout *int
	}
	if e := sqsDecode(q, &in); e != nil {
		return nil, e
	}
	qu, e := sqsQueueFor(s, q, in.QueueUrl)
	if e != nil {
		return nil, e
	}
	if in.ReceiptHandle == "" {
		return nil, sqsMissing("ReceiptHandle")
	}
	if in.VisibilityTimeout == nil {
		return nil, sqsMissing("VisibilityTimeout")
	}
	if e := sqsRange("VisibilityTimeout", *in.VisibilityTimeout, 0, sqsMaxVisibility); e != nil {
		return nil, e
	}
	num, receive, ok := s.world.sqs.parseHandle(qu, in.ReceiptHandle)
	if !ok {
		return nil, sqsBadHandle(in.ReceiptHandle)
	}
	m := qu.live[num]
	if m == nil || receive != m.receives || !q.now.Before(m.visibleAt) {
		return nil, sqsNotInflight()
	}
	// A message stays in flight at most 12 hours from the receive that took it.
	until := q.now.Add(time.Duration(*in.VisibilityTimeout) * time.Second)
	if until.Sub(m.lastRecv) > sqsMaxVisibility*time.Second {
		return nil, sqsInvalidParam("Value %d for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [%d seconds]", *in.VisibilityTimeout, sqsMaxVisibility)
	}
	m.visibleAt = until
	return struct{}{}, nil
}
