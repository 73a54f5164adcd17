package awssim

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// protocol is how a service puts requests and answers on the wire.
type protocol int

const (
	protoQuery  protocol = iota // awsquery: form-encoded request, XML answer (IAM, STS)
	protoJSON11                 // awsJson1_1: JSON request and answer, X-Amz-Target (Secrets Manager)
	protoJSON10                 // awsJson1_0: as 1.1 with its own content type
	protoREST                   // restJson1: method + path select the action (Lambda, SES v2)
)

// isJSON reports whether the protocol answers errors in JSON.
func (p protocol) isJSON() bool { return p != protoQuery }

// contentType is the JSON protocols' Content-Type.
func (p protocol) contentType() string {
	switch p {
	case protoJSON10:
		return "application/x-amz-json-1.0"
	case protoREST:
		return "application/json"
	}
	return "application/x-amz-json-1.1"
}

// rawResult is a handler result written as it is (REST protocols: status, headers, body).
type rawResult struct {
	Status  int
	Headers map[string]string
	Body    []byte
}

// restRoute maps a method and a path pattern ("/2015-03-31/functions/{FunctionName}/invocations")
// to an action of a REST service.
type restRoute struct {
	Method, Pattern, Action string
}

// match returns the path parameters when path matches the route's pattern.
func (rt restRoute) match(method, path string) (map[string]string, bool) {
	if method != rt.Method {
		return nil, false
	}
	ps, pp := strings.Split(strings.Trim(rt.Pattern, "/"), "/"), strings.Split(strings.Trim(path, "/"), "/")
	if len(ps) != len(pp) {
		return nil, false
	}
	params := map[string]string{}
	for i, seg := range ps {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			v, err := url.PathUnescape(pp[i])
			if err != nil || v == "" {
				return nil, false
			}
			params[seg[1:len(seg)-1]] = v
			continue
		}
		if seg != pp[i] {
			return nil, false
		}
	}
	return params, true
}

// apiError is an error answer in AWS's shape. Code is what the SDK's typed errors match on.
type apiError struct {
	Status  int
	Code    string
	Message string
	// Sender is true for client faults (Type=Sender in XML answers).
	Receiver bool
	// QueryCode is the awsQuery error code a query-compatible JSON service (SQS) also sends in
	// the x-amzn-query-error header; the SDK makes it the error's ErrorCode().
	QueryCode string
	// Fields are extra members of a JSON error body (Organizations' "Reason").
	Fields map[string]string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Frequently used IAM/STS error constructors (status codes from the IAM API model).
func errNoSuchEntity(format string, args ...any) *apiError {
	return errorf(http.StatusNotFound, "NoSuchEntity", format, args...)
}
func errInvalidInput(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, "InvalidInput", format, args...)
}
func errValidation(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, "ValidationError", format, args...)
}
func errEntityExists(format string, args ...any) *apiError {
	return errorf(http.StatusConflict, "EntityAlreadyExists", format, args...)
}
func errLimitExceeded(format string, args ...any) *apiError {
	return errorf(http.StatusConflict, "LimitExceeded", format, args...)
}
func errDeleteConflict(format string, args ...any) *apiError {
	return errorf(http.StatusConflict, "DeleteConflict", format, args...)
}

// notImplemented answers an action the real service has but the sandbox does not model.
func notImplemented(service, action string) *apiError {
	return errorf(http.StatusNotImplemented, "NotImplemented",
		"%s:%s is not implemented in the keycycle sandbox (see docs/sandbox.md)", service, action)
}

const (
	nsIAM = "https://iam.amazonaws.com/doc/2010-05-08/"
	nsSTS = "https://sts.amazonaws.com/doc/2011-06-15/"
)

// writeQueryResult writes <ActionResponse><ActionResult>result</ActionResult><ResponseMetadata/>.
// result is a struct with xml tags for the fields inside ActionResult; nil writes no Result.
func writeQueryResult(w http.ResponseWriter, ns, action, requestID string, result any) {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, `<%sResponse xmlns="%s">`, action, ns)
	if result != nil {
		enc := xml.NewEncoder(&buf)
		if err := enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: action + "Result"}}); err != nil {
			writeQueryError(w, ns, requestID, errorf(http.StatusInternalServerError, "ServiceFailure", "sandbox could not encode the answer: %v", err))
			return
		}
	}
	fmt.Fprintf(&buf, `<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>`, requestID, action)
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", requestID)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

func writeQueryError(w http.ResponseWriter, ns, requestID string, e *apiError) {
	typ := "Sender"
	if e.Receiver || e.Status >= 500 {
		typ = "Receiver"
	}
	var msg bytes.Buffer
	_ = xml.EscapeText(&msg, []byte(e.Message))
	body := fmt.Sprintf(`<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
		ns, typ, e.Code, msg.String(), requestID)
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", requestID)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	_, _ = w.Write([]byte(body))
}

func writeJSONResult(w http.ResponseWriter, p protocol, requestID string, result any) {
	if raw, ok := result.(rawResult); ok {
		for k, v := range raw.Headers {
			w.Header().Set(k, v)
		}
		w.Header().Set("x-amzn-RequestId", requestID)
		w.Header().Set("Content-Length", strconv.Itoa(len(raw.Body)))
		status := raw.Status
		if status == 0 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		_, _ = w.Write(raw.Body)
		return
	}
	if result == nil {
		result = struct{}{}
	}
	body, err := json.Marshal(result)
	if err != nil {
		writeJSONError(w, p, requestID, errorf(http.StatusInternalServerError, "InternalServiceError", "sandbox could not encode the answer: %v", err))
		return
	}
	w.Header().Set("Content-Type", p.contentType())
	w.Header().Set("x-amzn-RequestId", requestID)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func writeJSONError(w http.ResponseWriter, p protocol, requestID string, e *apiError) {
	fields := map[string]string{"__type": e.Code, "Message": e.Message, "message": e.Message}
	for k, v := range e.Fields {
		fields[k] = v
	}
	body, _ := json.Marshal(fields)
	if e.QueryCode != "" {
		fault := "Sender"
		if e.Receiver || e.Status >= 500 {
			fault = "Receiver"
		}
		w.Header().Set("x-amzn-query-error", e.QueryCode+";"+fault)
	}
	w.Header().Set("Content-Type", p.contentType())
	w.Header().Set("x-amzn-RequestId", requestID)
	w.Header().Set("X-Amzn-ErrorType", e.Code)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}

// jsonTime is a timestamp in the JSON protocols' epoch-seconds form.
type jsonTime float64

func epoch(t interface{ Unix() int64 }) jsonTime { return jsonTime(t.Unix()) }

// queryList reads a query-protocol list parameter: Name.member.1, Name.member.2, ...
func queryList(form map[string][]string, name string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := form[name+".member."+strconv.Itoa(i)]
		if !ok || len(v) == 0 {
			return out
		}
		out = append(out, v[0])
	}
}

// queryTags reads Name.member.N.Key / Name.member.N.Value pairs in order.
func queryTags(form map[string][]string, name string) []tag {
	var out []tag
	for i := 1; ; i++ {
		p := name + ".member." + strconv.Itoa(i)
		k, ok := form[p+".Key"]
		if !ok || len(k) == 0 {
			return out
		}
		t := tag{Key: k[0]}
		if v := form[p+".Value"]; len(v) > 0 {
			t.Value = v[0]
		}
		out = append(out, t)
	}
}

// queryBool reads a boolean parameter ("true"/"false"); absent is def.
func queryBool(form map[string][]string, name string, def bool) (bool, *apiError) {
	v, ok := form[name]
	if !ok || len(v) == 0 {
		return def, nil
	}
	switch strings.ToLower(v[0]) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errValidation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must be a boolean", v[0], lowerFirst(name))
}

// queryInt reads an integer parameter; present reports whether it was given.
func queryInt(form map[string][]string, name string) (n int, present bool, e *apiError) {
	v, ok := form[name]
	if !ok || len(v) == 0 {
		return 0, false, nil
	}
	n, err := strconv.Atoi(v[0])
	if err != nil {
		return 0, true, errValidation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must be a number", v[0], lowerFirst(name))
	}
	return n, true, nil
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
