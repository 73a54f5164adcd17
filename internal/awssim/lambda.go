package awssim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
)

// Lambda (restJson1, signing name "lambda"): Invoke only. Functions exist when the scenario
// declares them (ScenarioAccount.Functions); they run no code: each answers its configured
// response, or fails with its configured error as an unhandled function error. Every
// invocation (not DryRun) is recorded in the outbox with its payload.
var lambdaActions = map[string]handler{
	"Invoke": lambdaInvoke,
}

var lambdaRoutes = []restRoute{
	{Method: http.MethodPost, Pattern: "/2015-03-31/functions/{FunctionName}/invocations", Action: "Invoke"},
}

const (
	lambdaSyncMax  = 6 << 20 // bytes of a RequestResponse payload
	lambdaAsyncMax = 1 << 20 // bytes of an Event payload (raised from 256 KB in 2025)
	lambdaLatest   = "$LATEST"
)

var (
	// lambdaNameRE is Lambda's NamespacedFunctionName: a name, a partial ARN or an ARN, with an
	// optional qualifier. Groups: region, account, name, qualifier.
	lambdaNameRE = regexp.MustCompile(`^(?:arn:aws[a-zA-Z-]*:lambda:)?(?:([a-z]{2}(?:-gov)?-[a-z]+-\d):)?(?:(\d{12}):)?(?:function:)?([a-zA-Z0-9_.-]{1,140})(?::(\$LATEST|[a-zA-Z0-9_-]{1,128}))?$`)
	// lambdaFuncRE is a function name as a scenario declares it.
	lambdaFuncRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	regionRE     = regexp.MustCompile(`^[a-z]{2}(-gov)?-[a-z]+-\d$`)
)

// lambdaFunction is a function a scenario declared.
type lambdaFunction struct {
	Name      string
	Region    string
	Error     string // non-empty: every invocation fails with this errorMessage
	ErrorType string
	Response  json.RawMessage
}

func (a *account) functionARN(region, name string) string {
	return "arn:aws:lambda:" + region + ":" + a.ID + ":function:" + name
}

// ScenarioFunction is a Lambda function of an account that lambda:Invoke can call.
type ScenarioFunction struct {
	Name string `yaml:"name"`
	// Region defaults to the account's region.
	Region string `yaml:"region"`
	// Error, when set, makes every invocation fail as an unhandled function error with this
	// errorMessage and ErrorType (default "Error") as errorType.
	Error     string `yaml:"error"`
	ErrorType string `yaml:"error_type"`
	// Response is the JSON document the function returns; empty returns null.
	Response string `yaml:"response"`
}

// validateFunctions checks an account's functions (region is the account's, "" for the
// default); at gives the path of a field of function i.
func validateFunctions(region string, fns []ScenarioFunction, bad func(string, ...any), at func(i int, field string) []any) {
	if region == "" {
		region = newAccount("").Region
	}
	seen := map[string]bool{}
	for i, f := range fns {
		if !lambdaFuncRE.MatchString(f.Name) {
			bad(fmt.Sprintf("invalid function name %q (1-64 of letters, digits, - and _)", f.Name), at(i, "name")...)
		}
		if f.Region != "" && !regionRE.MatchString(f.Region) {
			bad(fmt.Sprintf("invalid region %q", f.Region), at(i, "region")...)
		}
		r := f.Region
		if r == "" {
			r = region
		}
		if key := r + "\x00" + f.Name; seen[key] {
			bad(fmt.Sprintf("function %q is listed twice in its region", f.Name), at(i, "name")...)
		} else {
			seen[key] = true
		}
		if f.Response != "" && !json.Valid([]byte(f.Response)) {
			bad("must be a JSON document", at(i, "response")...)
		}
		if f.ErrorType != "" && f.Error == "" {
			bad("error_type needs error", at(i, "error_type")...)
		}
	}
}

// loadFunctions installs a scenario account's functions.
func loadFunctions(a *account, fns []ScenarioFunction) {
	for _, f := range fns {
		region := f.Region
		if region == "" {
			region = a.Region
		}
		fn := &lambdaFunction{Name: f.Name, Region: region, Error: f.Error, ErrorType: f.ErrorType, Response: json.RawMessage("null")}
		if fn.ErrorType == "" {
			fn.ErrorType = "Error"
		}
		if f.Response != "" {
			var b bytes.Buffer
			if json.Compact(&b, []byte(f.Response)) == nil {
				fn.Response = b.Bytes()
			}
		}
		if a.functions == nil {
			a.functions = map[string]map[string]*lambdaFunction{}
		}
		if a.functions[region] == nil {
			a.functions[region] = map[string]*lambdaFunction{}
		}
		a.functions[region][f.Name] = fn
	}
}

func lambdaError(status int, code, format string, args ...any) *apiError {
	return errorf(status, code, format, args...)
}

// lambdaInvoke serves POST /2015-03-31/functions/{FunctionName}/invocations.
func lambdaInvoke(s *Server, q *request) (any, *apiError) {
	raw := q.params["FunctionName"]
	m := lambdaNameRE.FindStringSubmatch(raw)
	if m == nil || len(raw) > 170 {
		return nil, lambdaError(http.StatusBadRequest, "ValidationException",
			"1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?", raw)
	}
	region, acctID, name, qual := m[1], m[2], m[3], m[4]
	if qp := q.form.Get("Qualifier"); qp != "" {
		if qual != "" && qual != qp {
			return nil, lambdaError(http.StatusBadRequest, "InvalidParameterValueException", "The derived qualifier from the function name does not match the specified qualifier.")
		}
		qual = qp
	}
	if region == "" {
		region = q.region
	}
	if acctID == "" {
		acctID = q.acct.ID
	}
	arn := "arn:aws:lambda:" + region + ":" + acctID + ":function:" + name
	if qual != "" {
		arn += ":" + qual
	}
	if acctID != q.acct.ID {
		// Resource-based policies are not modelled, so no other account may invoke.
		return nil, lambdaError(http.StatusForbidden, "AccessDeniedException",
			"User: %s is not authorized to perform: lambda:InvokeFunction on resource: %s because no resource-based policy allows the lambda:InvokeFunction action", q.caller.arn(), arn)
	}
	// A function of another region than the endpoint's is not found there. Functions have no
	// published versions or aliases in the sandbox: only $LATEST exists.
	fn := q.acct.functions[q.region][name]
	if region != q.region || fn == nil || (qual != "" && qual != lambdaLatest) {
		return nil, lambdaError(http.StatusNotFound, "ResourceNotFoundException", "Function not found: %s", arn)
	}

	invType := q.header.Get("X-Amz-Invocation-Type")
	if invType == "" {
		invType = "RequestResponse"
	}
	limit := lambdaSyncMax
	switch invType {
	case "RequestResponse", "DryRun":
	case "Event":
		limit = lambdaAsyncMax
	default:
		return nil, lambdaError(http.StatusBadRequest, "ValidationException",
			"1 validation error detected: Value '%s' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]", invType)
	}
	logType := q.header.Get("X-Amz-Log-Type")
	if logType != "" && logType != "None" && logType != "Tail" {
		return nil, lambdaError(http.StatusBadRequest, "ValidationException",
			"1 validation error detected: Value '%s' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [None, Tail]", logType)
	}
	if len(q.body) > limit {
		op := "InvokeFunction"
		if invType == "Event" {
			op = "InvokeAsync"
		}
		return nil, lambdaError(http.StatusRequestEntityTooLarge, "RequestTooLargeException", "Request must be smaller than %d bytes for the %s operation", limit, op)
	}
	// An empty payload reaches the function as {} (an empty JSON object).
	payload := json.RawMessage("{}")
	if len(bytes.TrimSpace(q.body)) > 0 {
		if !json.Valid(q.body) {
			return nil, lambdaError(http.StatusBadRequest, "InvalidRequestContentException", "Could not parse request body into json: Could not parse payload into json: the payload is not a JSON document")
		}
		payload = append(json.RawMessage(nil), q.body...)
	}
	headers := map[string]string{"Content-Type": "application/json"}
	switch invType {
	case "DryRun":
		// DryRun checks the parameters and the caller's permission and runs nothing.
		return rawResult{Status: http.StatusNoContent, Headers: headers}, nil
	case "Event":
		recordInvocation(s, q, fn, payload, invType, "")
		return rawResult{Status: http.StatusAccepted, Headers: headers}, nil
	}
	headers["X-Amz-Executed-Version"] = lambdaLatest
	body := []byte(fn.Response)
	funcErr := ""
	if fn.Error != "" {
		funcErr = "Unhandled"
		headers["X-Amz-Function-Error"] = funcErr
		body, _ = json.Marshal(struct {
			ErrorMessage string   `json:"errorMessage"`
			ErrorType    string   `json:"errorType"`
			StackTrace   []string `json:"stackTrace"`
		}{fn.Error, fn.ErrorType, []string{}})
	}
	if logType == "Tail" {
		id := smNewVersionID(s.world) // a request id: a random UUID
		logs := "START RequestId: " + id + " Version: $LATEST\nEND RequestId: " + id + "\nREPORT RequestId: " + id + "\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 64 MB\t\n"
		headers["X-Amz-Log-Result"] = base64.StdEncoding.EncodeToString([]byte(logs))
	}
	recordInvocation(s, q, fn, payload, invType, funcErr)
	return rawResult{Status: http.StatusOK, Headers: headers, Body: body}, nil
}

func recordInvocation(s *Server, q *request, fn *lambdaFunction, payload json.RawMessage, invType, funcErr string) {
	s.world.outbox.recordLambda(OutboxLambda{
		Account: q.acct.ID, Region: fn.Region, Function: fn.Name, FunctionARN: q.acct.functionARN(fn.Region, fn.Name),
		Payload: payload, InvocationType: invType, FunctionError: funcErr, Time: q.now,
	})
}
