package awssim

import (
	"encoding/base64"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// SSM Parameter Store (awsJson1_1, X-Amz-Target "AmazonSSM."). Parameters live per account and
// per region in account.params[region][name]; names are case-sensitive. Every error is HTTP 400
// with an SSM code. Parameter values never appear in error messages.
//
// Modelled: PutParameter, GetParameter, GetParameterHistory, DeleteParameter. Not modelled:
// parameter policies (refused as not implemented), labels (always empty), tag APIs, shared
// parameters. Divergences are listed in docs/sandbox.md and commented beside the code.
var ssmActions = map[string]handler{
	"PutParameter":        ssmPutParameter,
	"GetParameter":        ssmGetParameter,
	"GetParameterHistory": ssmGetParameterHistory,
	"DeleteParameter":     ssmDeleteParameter,
}

const (
	ssmStandardMax = 4096 // bytes of a Standard-tier value
	ssmAdvancedMax = 8192 // bytes of an Advanced-tier value
	ssmMaxVersions = 100  // versions kept per parameter
	ssmMaxLevels   = 15   // hierarchy depth
	ssmMaxNameLen  = 1011 // including the ARN's "arn:aws:ssm:REGION:ACCOUNT:parameter/" prefix
	ssmHistoryPage = 50
	ssmDefaultKey  = "alias/aws/ssm"

	ssmTierStandard    = "Standard"
	ssmTierAdvanced    = "Advanced"
	ssmTierIntelligent = "Intelligent-Tiering"
)

var (
	ssmSegmentRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]+$`)
	ssmKeyIDRE   = regexp.MustCompile(`^[a-zA-Z0-9:/_-]{1,256}$`)
)

type ssmParam struct {
	Name     string
	Tags     []tag
	versions []*ssmVersion // oldest first, at most ssmMaxVersions
}

// ssmVersion is one version of a parameter. A SecureString keeps its value as given (the
// sandbox has no KMS) and an opaque stand-in for the ciphertext real SSM would answer.
type ssmVersion struct {
	Version        int64
	Value          string
	Cipher         string
	Type           string
	KeyID          string
	Description    string
	AllowedPattern string
	DataType       string
	Tier           string
	Modified       time.Time
	User           string
}

func (p *ssmParam) latest() *ssmVersion { return p.versions[len(p.versions)-1] }

func ssmError(code, format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, code, format, args...)
}

func ssmValidation(format string, args ...any) *apiError {
	return ssmError("ValidationException", format, args...)
}

// ssmNotFound answers an unknown parameter. Real SSM answers ParameterNotFound with an empty
// message on GetParameter; the sandbox does so on every action.
func ssmNotFound() *apiError { return ssmError("ParameterNotFound", "") }

// ssmBadName is SSM's answer to a name that breaks its naming rules (its own wording).
func ssmBadName() *apiError {
	return ssmValidation(`Parameter name: can't be prefixed with "aws" or "ssm" (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_`)
}

// ssmRegion returns the caller's parameters in the request's region.
func ssmRegion(q *request) map[string]*ssmParam {
	if q.acct.params == nil {
		q.acct.params = map[string]map[string]*ssmParam{}
	}
	m := q.acct.params[q.region]
	if m == nil {
		m = map[string]*ssmParam{}
		q.acct.params[q.region] = m
	}
	return m
}

func ssmARN(q *request, name string) string {
	return "arn:aws:ssm:" + q.region + ":" + q.acct.ID + ":parameter/" + strings.TrimPrefix(name, "/")
}

// ssmCheckName applies Parameter Store's naming rules to a name to create. SSM trims spaces
// around a name; a name with a "/" must start with one (a hierarchy), each level is made of
// a-zA-Z0-9_.-, at most 15 levels, and no name (or first level) starts with aws or ssm.
func ssmCheckName(q *request, name string) (string, *apiError) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", ssmValidation("1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null")
	}
	body := name
	if strings.Contains(name, "/") {
		if !strings.HasPrefix(name, "/") {
			return "", ssmBadName()
		}
		body = name[1:]
	}
	levels := strings.Split(body, "/")
	for _, l := range levels {
		if !ssmSegmentRE.MatchString(l) {
			return "", ssmBadName()
		}
	}
	if first := strings.ToLower(levels[0]); strings.HasPrefix(first, "aws") || strings.HasPrefix(first, "ssm") {
		return "", ssmBadName()
	}
	if len(levels) > ssmMaxLevels {
		return "", ssmError("HierarchyLevelLimitExceededException", "A hierarchy can have a maximum of 15 levels. For more information, see Requirements and constraints for parameter names in the AWS Systems Manager User Guide.")
	}
	// The wording of this one is the sandbox's: AWS documents the limit, not its message.
	if n := len(ssmARN(q, name)); n > ssmMaxNameLen {
		return "", ssmValidation("Parameter name is too long: with its ARN it has %d characters, at most %d are allowed.", n, ssmMaxNameLen)
	}
	return name, nil
}

// ssmResolve reads a Name parameter of GetParameter/GetParameterHistory/DeleteParameter: a
// name or an ARN of this account and region, with an optional ":version" or ":label" selector
// when selectors are allowed.
func ssmResolve(q *request, raw string, selectors bool) (p *ssmParam, version *ssmVersion, selector string, e *apiError) {
	name := strings.TrimSpace(raw)
	if name == "" {
		return nil, nil, "", ssmValidation("1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null")
	}
	if len(name) > 2048 {
		return nil, nil, "", ssmValidation("1 validation error detected: Value at 'name' failed to satisfy constraint: Member must have length less than or equal to 2048")
	}
	m := ssmRegion(q)
	arnPrefix := "arn:aws:ssm:" + q.region + ":" + q.acct.ID + ":parameter/"
	isARN := strings.HasPrefix(name, "arn:")
	if isARN {
		if !strings.HasPrefix(name, arnPrefix) {
			// Parameters shared from other accounts are not modelled: a foreign ARN (or one of
			// another region) names nothing the caller can see.
			return nil, nil, "", ssmNotFound()
		}
		name = name[len(arnPrefix):]
	}
	// Names cannot hold ":", so a last ":" starts a version or label selector.
	if i := strings.LastIndex(name, ":"); i >= 0 {
		if !selectors {
			return nil, nil, "", ssmBadName()
		}
		name, selector = name[:i], name[i:]
	}
	if isARN {
		// "parameter/a/b" names "/a/b"; "parameter/x" names "x", or "/x" when only that exists.
		if strings.Contains(name, "/") || (m[name] == nil && m["/"+name] != nil) {
			name = "/" + name
		}
	}
	p = m[name]
	if p == nil {
		return nil, nil, "", ssmNotFound()
	}
	version = p.latest()
	if selector != "" {
		n, err := strconv.ParseInt(selector[1:], 10, 64)
		if err != nil {
			// Labels are not modelled: no version carries one.
			return nil, nil, "", ssmError("ParameterVersionNotFound", "Systems Manager could not find version %s of %s. Verify the version and try again.", selector[1:], name)
		}
		version = nil
		for _, v := range p.versions {
			if v.Version == n {
				version = v
			}
		}
		if version == nil {
			return nil, nil, "", ssmError("ParameterVersionNotFound", "Systems Manager could not find version %d of %s. Verify the version and try again.", n, name)
		}
	}
	return p, version, selector, nil
}

// ssmCipher stands in for the base64 KMS ciphertext that SSM answers for a SecureString read
// without decryption: random bytes shaped like a KMS envelope (it decodes to nothing useful).
func ssmCipher(w *world, value string) string {
	b := []byte{0x01, 0x02, 0x02, 0x00, 0x78}
	for i := 0; i < 32+len(value)+16; i++ {
		b = append(b, byte(w.rng.IntN(256)))
	}
	return base64.StdEncoding.EncodeToString(b)
}

type ssmPutParameterInput struct {
	Name           string
	Value          *string
	Type           string
	KeyId          *string
	Overwrite      *bool
	Description    *string
	AllowedPattern *string
	DataType       *string
	Tier           string
	Policies       *string
	Tags           []tag
}

type ssmPutParameterOutput struct {
	Tier    string
	Version int64
}

func ssmPutParameter(s *Server, q *request) (any, *apiError) {
	var in ssmPutParameterInput
	if e := smDecode(q, &in); e != nil {
		return nil, e
	}
	name, e := ssmCheckName(q, in.Name)
	if e != nil {
		return nil, e
	}
	if in.Value == nil {
		return nil, ssmValidation("1 validation error detected: Value null at 'value' failed to satisfy constraint: Member must not be null")
	}
	if *in.Value == "" {
		return nil, ssmValidation("1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	switch in.Type {
	case "", "String", "StringList", "SecureString":
	default:
		return nil, ssmValidation("1 validation error detected: Value '%s' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]", in.Type)
	}
	switch in.Tier {
	case "", ssmTierStandard, ssmTierAdvanced, ssmTierIntelligent:
	default:
		return nil, ssmValidation("1 validation error detected: Value '%s' at 'tier' failed to satisfy constraint: Member must satisfy enum value set: [Advanced, Intelligent-Tiering, Standard]", in.Tier)
	}
	if in.Description != nil && len(*in.Description) > 1024 {
		return nil, ssmValidation("1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 1024")
	}
	if in.KeyId != nil && !ssmKeyIDRE.MatchString(*in.KeyId) {
		return nil, ssmValidation("1 validation error detected: Value '%s' at 'keyId' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([a-zA-Z0-9:/_-]+)$", *in.KeyId)
	}
	if in.Policies != nil && strings.TrimSpace(*in.Policies) != "" && strings.TrimSpace(*in.Policies) != "[]" {
		return nil, notImplemented("ssm", "PutParameter with Policies")
	}
	if in.DataType != nil {
		switch *in.DataType {
		case "text", "aws:ec2:image", "aws:ssm:integration":
		default:
			return nil, ssmValidation("The following data type is not supported: %s (Data type names are all lowercase.)", *in.DataType)
		}
	}
	overwrite := in.Overwrite != nil && *in.Overwrite
	if overwrite && len(in.Tags) > 0 {
		return nil, ssmValidation("Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.")
	}
	m := ssmRegion(q)
	p := m[name]
	if p != nil && !overwrite {
		return nil, ssmError("ParameterAlreadyExists", "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.")
	}

	// What an update does not say, it keeps from the latest version: type, key, description,
	// pattern, data type and tier. (AWS documents this for Type; for the others it is how the
	// service behaves as far as its documentation says, see docs/sandbox.md.)
	v := &ssmVersion{Value: *in.Value, Type: in.Type, DataType: "text", Tier: ssmTierStandard, Modified: q.now, User: q.caller.arn()}
	if p != nil {
		prev := p.latest()
		if v.Type == "" {
			v.Type = prev.Type
		}
		v.DataType, v.Tier, v.Description, v.AllowedPattern = prev.DataType, prev.Tier, prev.Description, prev.AllowedPattern
		if v.Type == "SecureString" && prev.Type == "SecureString" {
			v.KeyID = prev.KeyID
		}
	}
	if v.Type == "" {
		return nil, ssmValidation("A parameter type is required when you create a parameter.")
	}
	if in.KeyId != nil {
		if v.Type != "SecureString" {
			return nil, ssmValidation("KeyId is required for SecureString type parameter only.")
		}
		v.KeyID = *in.KeyId
	}
	if v.Type == "SecureString" && v.KeyID == "" {
		v.KeyID = ssmDefaultKey
	}
	if in.Description != nil {
		v.Description = *in.Description
	}
	if in.DataType != nil {
		v.DataType = *in.DataType
	}
	if in.AllowedPattern != nil {
		if len(*in.AllowedPattern) > 1024 {
			return nil, ssmValidation("1 validation error detected: Value at 'allowedPattern' failed to satisfy constraint: Member must have length less than or equal to 1024")
		}
		v.AllowedPattern = *in.AllowedPattern
	}
	if v.AllowedPattern != "" {
		// SSM evaluates Java regular expressions; the sandbox uses Go's RE2, which refuses a
		// few Java constructs (backreferences, lookaround).
		re, err := regexp.Compile(v.AllowedPattern)
		if err != nil {
			return nil, ssmError("InvalidAllowedPatternException", "The request does not meet the regular expression requirement.")
		}
		if !re.MatchString(v.Value) {
			return nil, ssmError("ParameterPatternMismatchException", "Parameter value, cannot be validated against allowedPattern: %s", v.AllowedPattern)
		}
	}
	switch {
	case in.Tier == ssmTierAdvanced:
		v.Tier = ssmTierAdvanced
	case in.Tier == ssmTierStandard && v.Tier == ssmTierAdvanced:
		return nil, ssmValidation("This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the advanced-parameter tier to the standard-parameter tier. If necessary, you can delete the advanced parameter and recreate it as a standard parameter.")
	case in.Tier == ssmTierIntelligent && len(v.Value) > ssmStandardMax:
		v.Tier = ssmTierAdvanced
	}
	if v.Tier == ssmTierStandard && len(v.Value) > ssmStandardMax {
		return nil, ssmValidation("Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier. For more information, see https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html")
	}
	if len(v.Value) > ssmAdvancedMax {
		return nil, ssmValidation("Advanced tier parameters support a maximum parameter value of 8192 characters.")
	}
	if v.Type == "SecureString" {
		v.Cipher = ssmCipher(s.world, v.Value)
	}
	if p == nil {
		if e := ssmCheckTags(in.Tags); e != nil {
			return nil, e
		}
		p = &ssmParam{Name: name, Tags: in.Tags}
		m[name] = p
		v.Version = 1
	} else {
		v.Version = p.latest().Version + 1
	}
	// Past 100 versions SSM drops the oldest (it refuses only when that one has a label, and
	// labels are not modelled).
	p.versions = append(p.versions, v)
	if len(p.versions) > ssmMaxVersions {
		p.versions = append([]*ssmVersion(nil), p.versions[len(p.versions)-ssmMaxVersions:]...)
	}
	return ssmPutParameterOutput{Tier: v.Tier, Version: v.Version}, nil
}

// ssmCheckTags checks the tags of a new parameter (SSM allows 50 per resource).
func ssmCheckTags(tags []tag) *apiError {
	if len(tags) > 50 {
		return ssmValidation("1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50")
	}
	seen := map[string]bool{}
	for _, t := range tags {
		if len(t.Key) < 1 || len(t.Key) > 128 || len(t.Value) > 256 || strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return ssmValidation("1 validation error detected: tag keys have 1 to 128 characters and do not start with aws:, values at most 256 characters")
		}
		if seen[t.Key] {
			return ssmValidation("Duplicate tag keys are not allowed: %s", t.Key)
		}
		seen[t.Key] = true
	}
	return nil
}

type ssmNameInput struct {
	Name           string
	WithDecryption *bool
	MaxResults     *int
	NextToken      string
}

type ssmParameterJSON struct {
	ARN              string
	DataType         string
	LastModifiedDate jsonTime
	Name             string
	Selector         string `json:",omitempty"`
	Type             string
	Value            string
	Version          int64
}

type ssmGetParameterOutput struct {
	Parameter ssmParameterJSON
}

// ssmValue is what a read answers as the value: SecureStrings only decrypted on request.
func ssmValue(v *ssmVersion, decrypt *bool) string {
	if v.Type == "SecureString" && (decrypt == nil || !*decrypt) {
		return v.Cipher
	}
	return v.Value
}

func ssmGetParameter(_ *Server, q *request) (any, *apiError) {
	var in ssmNameInput
	if e := smDecode(q, &in); e != nil {
		return nil, e
	}
	p, v, sel, e := ssmResolve(q, in.Name, true)
	if e != nil {
		return nil, e
	}
	return ssmGetParameterOutput{Parameter: ssmParameterJSON{
		ARN: ssmARN(q, p.Name), DataType: v.DataType, LastModifiedDate: epoch(v.Modified), Name: p.Name,
		Selector: sel, Type: v.Type, Value: ssmValue(v, in.WithDecryption), Version: v.Version,
	}}, nil
}

type ssmHistoryJSON struct {
	AllowedPattern   string `json:",omitempty"`
	DataType         string
	Description      string `json:",omitempty"`
	KeyId            string `json:",omitempty"`
	Labels           []string
	LastModifiedDate jsonTime
	LastModifiedUser string
	Name             string
	Policies         []struct{}
	Tier             string
	Type             string
	Value            string
	Version          int64
}

type ssmGetParameterHistoryOutput struct {
	Parameters []ssmHistoryJSON
	NextToken  string `json:",omitempty"`
}

// ssmGetParameterHistory lists every kept version, oldest first.
func ssmGetParameterHistory(_ *Server, q *request) (any, *apiError) {
	var in ssmNameInput
	if e := smDecode(q, &in); e != nil {
		return nil, e
	}
	size := ssmHistoryPage
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > ssmHistoryPage {
			return nil, ssmValidation("1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and %d", *in.MaxResults, ssmHistoryPage)
		}
		size = *in.MaxResults
	}
	p, _, _, e := ssmResolve(q, in.Name, false)
	if e != nil {
		return nil, e
	}
	start, end, next, e := smPage("GetParameterHistory\x00"+q.region+"\x00"+p.Name, in.NextToken, size, len(p.versions))
	if e != nil {
		return nil, ssmError("InvalidNextToken", "The specified token isn't valid.")
	}
	out := ssmGetParameterHistoryOutput{Parameters: []ssmHistoryJSON{}, NextToken: next}
	for _, v := range p.versions[start:end] {
		out.Parameters = append(out.Parameters, ssmHistoryJSON{
			AllowedPattern: v.AllowedPattern, DataType: v.DataType, Description: v.Description, KeyId: v.KeyID,
			Labels: []string{}, LastModifiedDate: epoch(v.Modified), LastModifiedUser: v.User, Name: p.Name,
			Policies: []struct{}{}, Tier: v.Tier, Type: v.Type, Value: ssmValue(v, in.WithDecryption), Version: v.Version,
		})
	}
	return out, nil
}

// ssmDeleteParameter deletes a parameter with all its versions; creating it again starts over
// at version 1, as in SSM.
func ssmDeleteParameter(_ *Server, q *request) (any, *apiError) {
	var in ssmNameInput
	if e := smDecode(q, &in); e != nil {
		return nil, e
	}
	p, _, _, e := ssmResolve(q, in.Name, false)
	if e != nil {
		return nil, e
	}
	delete(ssmRegion(q), p.Name)
	return struct{}{}, nil
}
