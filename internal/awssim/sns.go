package awssim

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SNS (awsquery, XML namespace nsSNS). Topics live per account and per region in
// account.topics[region][name]. Published messages are recorded in the outbox and delivered
// nowhere: subscriptions are not modelled.
//
// Modelled: CreateTopic, DeleteTopic, ListTopics, GetTopicAttributes, Publish (standard and FIFO
// topics, with FIFO deduplication over 5 minutes of sandbox time).
var snsActions = map[string]handler{
	"CreateTopic":        snsCreateTopic,
	"GetTopicAttributes": snsGetTopicAttributes,
	"DeleteTopic":        snsDeleteTopic,
	"ListTopics":         snsListTopics,
	"Publish":            snsPublish,
}

const (
	nsSNS = "http://sns.amazonaws.com/doc/2010-03-31/"

	snsMaxMessage    = 262144 // bytes of message and attributes
	snsMaxAttributes = 10
	snsPageSize      = 100
	snsDedupWindow   = 5 * time.Minute
)

var (
	snsNameRE     = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)
	snsFifoNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,251}\.fifo$`)
	snsARNRE      = regexp.MustCompile(`^arn:aws:sns:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_.-]{1,256})$`)
	snsAttrNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,256}$`)

	// snsTopicAttributes are the attribute names CreateTopic takes.
	snsTopicAttributes = map[string]bool{
		"DeliveryPolicy": true, "DisplayName": true, "Policy": true, "SignatureVersion": true, "TracingConfig": true,
		"KmsMasterKeyId": true, "FifoTopic": true, "ContentBasedDeduplication": true, "ArchivePolicy": true,
		"FifoThroughputScope": true,
	}
)

type snsTopic struct {
	Name       string
	ARN        string
	Attributes map[string]string
	Tags       []tag
	Created    time.Time
	seq        uint64             // FIFO: last sequence number
	dedup      map[string]snsSent // FIFO: deduplication id -> first publish
	dedupOrder []string           // FIFO: dedup ids oldest first, for expiry
}

type snsSent struct {
	MessageID string
	Sequence  string
	At        time.Time
}

func (t *snsTopic) fifo() bool { return t.Attributes["FifoTopic"] == "true" }

func snsError(status int, code, format string, args ...any) *apiError {
	return errorf(status, code, format, args...)
}

func snsInvalid(format string, args ...any) *apiError {
	return snsError(http.StatusBadRequest, "InvalidParameter", "Invalid parameter: "+format, args...)
}

func snsNotFound() *apiError {
	return snsError(http.StatusNotFound, "NotFound", "Topic does not exist")
}

func snsRegion(a *account, region string) map[string]*snsTopic {
	if a.topics == nil {
		a.topics = map[string]map[string]*snsTopic{}
	}
	m := a.topics[region]
	if m == nil {
		m = map[string]*snsTopic{}
		a.topics[region] = m
	}
	return m
}

// queryMap reads a query-protocol map: Name.entry.N.<key> / Name.entry.N.<value>.
func queryMap(form map[string][]string, name, key, value string) map[string]string {
	out := map[string]string{}
	for i := 1; ; i++ {
		p := name + ".entry." + strconv.Itoa(i)
		k, ok := form[p+"."+key]
		if !ok || len(k) == 0 {
			return out
		}
		v := ""
		if vs := form[p+"."+value]; len(vs) > 0 {
			v = vs[0]
		}
		out[k[0]] = v
	}
}

// snsTopicParam resolves a topic ARN parameter for the caller. An ARN of another region is a
// bad ARN for this endpoint, as in SNS. An existing topic of another account is refused, as
// topic policies (cross-account access) are not modelled.
func snsTopicParam(s *Server, q *request, arn, action string) (*snsTopic, *apiError) {
	m := snsARNRE.FindStringSubmatch(arn)
	if m == nil || m[1] != q.region {
		return nil, snsInvalid("TopicArn")
	}
	owner := q.acct
	if m[2] != q.acct.ID {
		owner = s.world.accounts[m[2]]
		if owner == nil {
			return nil, snsNotFound()
		}
	}
	t := snsRegion(owner, q.region)[m[3]]
	if t == nil {
		return nil, snsNotFound()
	}
	if owner != q.acct {
		return nil, snsError(http.StatusForbidden, "AuthorizationError",
			"User: %s is not authorized to perform: SNS:%s on resource: %s because no resource-based policy allows the SNS:%s action", q.caller.arn(), action, arn, action)
	}
	return t, nil
}

type snsAttributeEntry struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

type snsGetTopicAttributesResult struct {
	Attributes []snsAttributeEntry `xml:"Attributes>entry"`
}

// snsGetTopicAttributes answers a topic's attributes: those it was created with, and the ones SNS
// always reports (TopicArn, Owner, the subscription counts, which are 0: subscriptions are not
// modelled). A missing topic is NotFound (404), a malformed ARN InvalidParameter, as in SNS.
func snsGetTopicAttributes(s *Server, q *request) (any, *apiError) {
	t, e := snsTopicParam(s, q, q.form.Get("TopicArn"), "GetTopicAttributes")
	if e != nil {
		return nil, e
	}
	attrs := map[string]string{
		"TopicArn": t.ARN, "Owner": q.acct.ID, "SubscriptionsConfirmed": "0", "SubscriptionsPending": "0",
		"SubscriptionsDeleted": "0", "DisplayName": "",
	}
	for k, v := range t.Attributes {
		attrs[k] = v
	}
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := snsGetTopicAttributesResult{}
	for _, k := range keys {
		out.Attributes = append(out.Attributes, snsAttributeEntry{Key: k, Value: attrs[k]})
	}
	return out, nil
}

type snsCreateTopicResult struct {
	TopicArn string `xml:"TopicArn"`
}

// snsCreateTopic is idempotent by name: the same name answers the same ARN, unless the request
// gives attributes or tags that differ from the topic's.
func snsCreateTopic(_ *Server, q *request) (any, *apiError) {
	name := q.form.Get("Name")
	attrs := queryMap(q.form, "Attributes", "key", "value")
	tags := queryTags(q.form, "Tags")
	for k := range attrs {
		if !snsTopicAttributes[k] {
			return nil, snsInvalid("AttributeName")
		}
	}
	if v, ok := attrs["FifoTopic"]; ok && v != "true" && v != "false" {
		return nil, snsInvalid("Attributes Reason: FifoTopic must be true or false")
	}
	switch {
	case attrs["FifoTopic"] == "true" && !snsFifoNameRE.MatchString(name):
		return nil, snsInvalid("Fifo Topic names must end with .fifo and must be made up of only uppercase and lowercase ASCII letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long.")
	case attrs["FifoTopic"] != "true" && !snsNameRE.MatchString(name):
		return nil, snsInvalid("Topic Name")
	}
	if len(tags) > 50 {
		return nil, snsError(http.StatusBadRequest, "TagLimitExceeded", "Could not complete request: tag quota of per resource exceeded")
	}
	m := snsRegion(q.acct, q.region)
	if t := m[name]; t != nil {
		for k, v := range attrs {
			if t.Attributes[k] != v {
				return nil, snsInvalid("Attributes Reason: Topic already exists with different attributes")
			}
		}
		if len(tags) > 0 && !sameTags(t.Tags, tags) {
			return nil, snsInvalid("Tags Reason: Topic already exists with different tags")
		}
		return snsCreateTopicResult{TopicArn: t.ARN}, nil
	}
	t := &snsTopic{Name: name, ARN: "arn:aws:sns:" + q.region + ":" + q.acct.ID + ":" + name, Attributes: attrs, Tags: tags, Created: q.now}
	m[name] = t
	return snsCreateTopicResult{TopicArn: t.ARN}, nil
}

func sameTags(a, b []tag) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]string{}
	for _, t := range a {
		m[t.Key] = t.Value
	}
	for _, t := range b {
		if v, ok := m[t.Key]; !ok || v != t.Value {
			return false
		}
	}
	return true
}

// snsDeleteTopic deletes a topic; deleting one that does not exist succeeds, as in SNS.
func snsDeleteTopic(s *Server, q *request) (any, *apiError) {
	t, e := snsTopicParam(s, q, q.form.Get("TopicArn"), "DeleteTopic")
	if e != nil {
		if e.Code == "NotFound" {
			return nil, nil
		}
		return nil, e
	}
	delete(snsRegion(q.acct, q.region), t.Name)
	return nil, nil
}

type snsListTopicsResult struct {
	Topics    []snsTopicMember `xml:"Topics>member"`
	NextToken string           `xml:"NextToken,omitempty"`
}

type snsTopicMember struct {
	TopicArn string `xml:"TopicArn"`
}

// snsListTopics lists the region's topics ordered by ARN, 100 a page.
func snsListTopics(_ *Server, q *request) (any, *apiError) {
	m := snsRegion(q.acct, q.region)
	arns := make([]string, 0, len(m))
	for _, t := range m {
		arns = append(arns, t.ARN)
	}
	sort.Strings(arns)
	start, end, next, e := smPage("ListTopics\x00"+q.region, q.form.Get("NextToken"), snsPageSize, len(arns))
	if e != nil {
		return nil, snsInvalid("NextToken")
	}
	out := snsListTopicsResult{Topics: []snsTopicMember{}, NextToken: next}
	for _, a := range arns[start:end] {
		out.Topics = append(out.Topics, snsTopicMember{TopicArn: a})
	}
	return out, nil
}

type snsPublishResult struct {
	MessageId      string `xml:"MessageId"`
	SequenceNumber string `xml:"SequenceNumber,omitempty"`
}

// snsMessageAttributes reads MessageAttributes.entry.N.Name / .Value.DataType /
// .Value.StringValue / .Value.BinaryValue and returns them with their size in bytes.
func snsMessageAttributes(form map[string][]string) (map[string]SNSAttribute, int, *apiError) {
	out := map[string]SNSAttribute{}
	size := 0
	for i := 1; ; i++ {
		p := "MessageAttributes.entry." + strconv.Itoa(i)
		names, ok := form[p+".Name"]
		if !ok || len(names) == 0 {
			break
		}
		name := names[0]
		get := func(k string) string {
			if v := form[p+".Value."+k]; len(v) > 0 {
				return v[0]
			}
			return ""
		}
		a := SNSAttribute{DataType: get("DataType"), StringValue: get("StringValue")}
		if !snsAttrNameRE.MatchString(name) || strings.Contains(name, "..") || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") ||
			strings.HasPrefix(strings.ToLower(name), "aws.") || strings.HasPrefix(strings.ToLower(name), "amazon.") {
			return nil, 0, snsError(http.StatusBadRequest, "ParameterValueInvalid", "The message attribute name '%s' is invalid.", name)
		}
		base, _, _ := strings.Cut(a.DataType, ".")
		switch base {
		case "String", "Number":
			if a.StringValue == "" {
				return nil, 0, snsError(http.StatusBadRequest, "ParameterValueInvalid", "The message attribute '%s' must contain non-empty message attribute value for message attribute type '%s'.", name, a.DataType)
			}
			if base == "Number" {
				if _, err := strconv.ParseFloat(a.StringValue, 64); err != nil {
					return nil, 0, snsError(http.StatusBadRequest, "ParameterValueInvalid", "The message attribute '%s' with type 'Number' must use a valid number value.", name)
				}
			}
		case "Binary":
			b, err := base64.StdEncoding.DecodeString(get("BinaryValue"))
			if err != nil || len(b) == 0 {
				return nil, 0, snsError(http.StatusBadRequest, "ParameterValueInvalid", "The message attribute '%s' must contain non-empty message attribute value for message attribute type '%s'.", name, a.DataType)
			}
			a.BinaryValue = b
		default:
			return nil, 0, snsError(http.StatusBadRequest, "ParameterValueInvalid", "The message attribute '%s' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.", name)
		}
		out[name] = a
		size += len(name) + len(a.DataType) + len(a.StringValue) + len(a.BinaryValue)
	}
	if len(out) > snsMaxAttributes {
		return nil, 0, snsInvalid("MessageAttributes Reason: Number of message attributes [%d] exceeds the allowed maximum [%d].", len(out), snsMaxAttributes)
	}
	return out, size, nil
}

// snsSubjectOK is SNS's rule for subjects: 1-100 printable ASCII characters, no line breaks.
func snsSubjectOK(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return false
		}
	}
	return s[0] != ' '
}

func snsPublish(s *Server, q *request) (any, *apiError) {
	arn := q.form.Get("TopicArn")
	if arn == "" {
		arn = q.form.Get("TargetArn")
	}
	if arn == "" {
		if q.form.Get("PhoneNumber") != "" {
			return nil, notImplemented("sns", "Publish to a PhoneNumber")
		}
		return nil, snsInvalid("TopicArn or TargetArn Reason: no value for required parameter")
	}
	msgs, hasMsg := q.form["Message"]
	if !hasMsg || len(msgs) == 0 {
		return nil, snsError(http.StatusBadRequest, "ValidationError", "1 validation error detected: Value null at 'message' failed to satisfy constraint: Member must not be null")
	}
	msg := msgs[0]
	if msg == "" {
		return nil, snsInvalid("Empty message")
	}
	t, e := snsTopicParam(s, q, arn, "Publish")
	if e != nil {
		return nil, e
	}
	subject, hasSubject := q.form["Subject"]
	if hasSubject && len(subject) > 0 && !snsSubjectOK(subject[0]) {
		return nil, snsInvalid("Subject")
	}
	attrs, attrSize, e := snsMessageAttributes(q.form)
	if e != nil {
		return nil, e
	}
	if len(msg)+attrSize > snsMaxMessage {
		return nil, snsInvalid("Message too long")
	}
	structure := q.form.Get("MessageStructure")
	switch structure {
	case "":
	case "json":
		var doc map[string]any
		if err := json.Unmarshal([]byte(msg), &doc); err != nil {
			return nil, snsInvalid("Message Structure - JSON message body failed to parse")
		}
		if _, ok := doc["default"].(string); !ok {
			return nil, snsInvalid("Message Structure - No default entry in JSON message body")
		}
	default:
		return nil, snsInvalid("MessageStructure")
	}
	group, dedupID := q.form.Get("MessageGroupId"), q.form.Get("MessageDeduplicationId")
	out := snsPublishResult{MessageId: smNewVersionID(s.world)}
	if t.fifo() {
		if group == "" {
			return nil, snsInvalid("The MessageGroupId parameter is required for FIFO topics")
		}
		if dedupID == "" {
			if t.Attributes["ContentBasedDeduplication"] != "true" {
				return nil, snsInvalid("The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
			}
			sum := sha256.Sum256([]byte(msg))
			dedupID = hex.EncodeToString(sum[:])
		}
		t.expireDedup(q.now)
		if prev, dup := t.dedup[dedupID]; dup {
			// A duplicate within the window is accepted and not published again.
			return snsPublishResult{MessageId: prev.MessageID, SequenceNumber: prev.Sequence}, nil
		}
		t.seq++
		out.SequenceNumber = fmt.Sprintf("1%019d", t.seq)
		if t.dedup == nil {
			t.dedup = map[string]snsSent{}
		}
		t.dedup[dedupID] = snsSent{MessageID: out.MessageId, Sequence: out.SequenceNumber, At: q.now}
		t.dedupOrder = append(t.dedupOrder, dedupID)
	} else if dedupID != "" {
		return nil, snsInvalid("MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that is not valid for this topic type")
	}
	rec := OutboxSNS{Account: q.acct.ID, Region: q.region, TopicARN: t.ARN, Message: msg, MessageStructure: structure,
		MessageGroupID: group, Attributes: attrs, MessageID: out.MessageId, Time: q.now}
	if hasSubject && len(subject) > 0 {
		rec.Subject = subject[0]
	}
	s.world.outbox.recordSNS(rec)
	return out, nil
}

// expireDedup forgets deduplication ids older than the window.
func (t *snsTopic) expireDedup(now time.Time) {
	n := 0
	for _, id := range t.dedupOrder {
		if sent, ok := t.dedup[id]; ok && now.Sub(sent.At) < snsDedupWindow {
			break
		}
		delete(t.dedup, id)
		n++
	}
	t.dedupOrder = t.dedupOrder[n:]
}
