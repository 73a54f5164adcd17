package awssim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Secrets Manager (awsJson1_1). Secrets live per account and per region in
// account.secrets[region][name]; names are case-sensitive. Every error is HTTP 400 with a
// Secrets Manager code, as the service answers. Secret values never appear in error messages.
//
// Modelled: CreateSecret, UpdateSecret, PutSecretValue, GetSecretValue, DescribeSecret,
// ListSecrets, ListSecretVersionIds, UpdateSecretVersionStage, DeleteSecret, RestoreSecret,
// Put/Get/DeleteResourcePolicy, TagResource, UntagResource. Divergences are listed in
// docs/sandbox.md and commented beside the code.
var secretsActions = map[string]handler{
	"CreateSecret":             smCreateSecret,
	"UpdateSecret":             smUpdateSecret,
	"PutSecretValue":           smPutSecretValue,
	"GetSecretValue":           smGetSecretValue,
	"DescribeSecret":           smDescribeSecret,
	"ListSecrets":              smListSecrets,
	"ListSecretVersionIds":     smListSecretVersionIds,
	"UpdateSecretVersionStage": smUpdateSecretVersionStage,
	"DeleteSecret":             smDeleteSecret,
	"RestoreSecret":            smRestoreSecret,
	"PutResourcePolicy":        smPutResourcePolicy,
	"GetResourcePolicy":        smGetResourcePolicy,
	"DeleteResourcePolicy":     smDeleteResourcePolicy,
	"TagResource":              smTagResource,
	"UntagResource":            smUntagResource,
}

const (
	smCurrent  = "AWSCURRENT"
	smPrevious = "AWSPREVIOUS"
	smPending  = "AWSPENDING"

	// smKeepVersions and smKeepYoung model AWS's documented clean-up: unlabeled (deprecated)
	// versions are removed when a secret has more than 100 versions, but never those created
	// less than 24 hours ago. AWS does it in the background; the sandbox does it whenever a
	// version is added.
	smKeepVersions = 100
	smKeepYoung    = 24 * time.Hour
	// smMaxLabels is the quota of staging labels attached across all versions of a secret.
	smMaxLabels = 20
	smMaxTags   = 50
	// smDefaultWindow is DeleteSecret's default recovery window in days.
	smDefaultWindow = 30
	smMaxPage       = 100
	smMaxValue      = 65536
	smMaxPolicy     = 20480

	smSuffixAlph = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

var (
	// smNameRE is what Secrets Manager accepts as a secret name or a SecretId that is not an
	// ARN (its error message lists the same characters).
	smNameRE = regexp.MustCompile(`^[A-Za-z0-9/_+=.@!-]+$`)
	// smSuffixRE matches the "-XXXXXX" Secrets Manager appends to a secret's name in its ARN.
	smSuffixRE = regexp.MustCompile(`-[A-Za-z0-9]{6}$`)
)

// Secrets Manager error constructors; every Secrets Manager error is HTTP 400.
func smError(code, format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, code, format, args...)
}

func smNotFound() *apiError {
	return smError("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
}

func smInvalidRequest(format string, args ...any) *apiError {
	return smError("InvalidRequestException", format, args...)
}

func smInvalidParam(format string, args ...any) *apiError {
	return smError("InvalidParameterException", format, args...)
}

// smValidation is the JSON protocol's model-constraint failure (no typed error in the SDK).
func smValidation(format string, args ...any) *apiError {
	return smError("ValidationException", format, args...)
}

func smMarkedForDeletion() *apiError {
	return smInvalidRequest("You can't perform this operation on the secret because it was marked for deletion.")
}

func smBadName() *apiError {
	return smValidation("Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!")
}

// smDecode reads the JSON request body into v. The parser's own message is not echoed: it
// could quote part of a secret value.
func smDecode(q *request, v any) *apiError {
	if len(bytes.TrimSpace(q.body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(q.body, v); err != nil {
		return smError("SerializationException", "The request body is not a JSON object of the shape %s expects.", q.action)
	}
	return nil
}

func smLength(field, v string, lo, hi int) *apiError {
	if len(v) < lo || len(v) > hi {
		return smValidation("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have length between %d and %d", field, lo, hi)
	}
	return nil
}

// smPageSize checks MaxResults (1..100); absent is the default page of 100.
func smPageSize(max *int) (int, *apiError) {
	if max == nil {
		return smMaxPage, nil
	}
	if *max < 1 {
		return 0, smValidation("1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1", *max)
	}
	if *max > smMaxPage {
		return 0, smValidation("1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to %d", *max, smMaxPage)
	}
	return *max, nil
}

// smPage returns the window [start, end) of n items for a NextToken and the token of the
// next page. Tokens are opaque offsets bound to what they list (kind).
func smPage(kind, token string, size, n int) (start, end int, next string, e *apiError) {
	if token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		cut := strings.LastIndex(string(raw), ":")
		i, aerr := strconv.Atoi(string(raw[cut+1:]))
		if err != nil || cut < 0 || string(raw[:cut]) != kind || aerr != nil || i < 0 || i > n {
			return 0, 0, "", smError("InvalidNextTokenException", "The NextToken value is invalid.")
		}
		start = i
	}
	end = min(start+size, n)
	if end < n {
		next = base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + strconv.Itoa(end)))
	}
	return start, end, next, nil
}

// smRegion returns the caller's secrets in the request's region.
func smRegion(q *request) map[string]*secret {
	m := q.acct.secrets[q.region]
	if m == nil {
		m = map[string]*secret{}
		q.acct.secrets[q.region] = m
	}
	return m
}

// smExpired reports whether a scheduled deletion has come due on the sandbox clock. AWS
// deletes "some time after" the deletion date; the sandbox does it exactly at that date.
func smExpired(sec *secret, now time.Time) bool {
	return !sec.Deleted.IsZero() && !now.Before(sec.Deleted)
}

// smFind looks a name up, dropping the secret first if its deletion came due.
func smFind(m map[string]*secret, name string, now time.Time) *secret {
	sec := m[name]
	if sec != nil && smExpired(sec, now) {
		delete(m, name)
		return nil
	}
	return sec
}

// smSweep drops every secret whose deletion came due.
func smSweep(m map[string]*secret, now time.Time) {
	for name, sec := range m {
		if smExpired(sec, now) {
			delete(m, name)
		}
	}
}

// smResolve finds the secret a SecretId names: a name, a complete ARN, or a partial ARN
// (an ARN without the 6-character suffix). As in AWS, an ARN whose last part ends in a
// hyphen and 6 characters is taken as complete, so a secret whose own name ends that way is
// only found by name or complete ARN. ARNs of another account or region are not found:
// cross-account access through resource policies is not modelled.
func smResolve(q *request, id string) (*secret, *apiError) {
	if id == "" {
		return nil, smValidation("1 validation error detected: Value null at 'secretId' failed to satisfy constraint: Member must not be null")
	}
	if e := smLength("secretId", id, 1, 2048); e != nil {
		return nil, e
	}
	m := smRegion(q)
	if !strings.HasPrefix(id, "arn:") {
		if !smNameRE.MatchString(id) {
			return nil, smBadName()
		}
		if sec := smFind(m, id, q.now); sec != nil {
			return sec, nil
		}
		return nil, smNotFound()
	}
	f := strings.SplitN(id, ":", 7)
	if len(f) != 7 || f[2] != "secretsmanager" || f[3] != q.region || f[4] != q.acct.ID || f[5] != "secret" || f[6] == "" {
		return nil, smNotFound()
	}
	rest := f[6]
	if smSuffixRE.MatchString(rest) {
		if sec := smFind(m, rest[:len(rest)-7], q.now); sec != nil && sec.ARN == id {
			return sec, nil
		}
		return nil, smNotFound()
	}
	if sec := smFind(m, rest, q.now); sec != nil {
		return sec, nil
	}
	return nil, smNotFound()
}

// smLive resolves a secret that must not be scheduled for deletion.
func smLive(q *request, id string) (*secret, *apiError) {
	sec, e := smResolve(q, id)
	if e != nil {
		return nil, e
	}
	if !sec.Deleted.IsZero() {
		return nil, smMarkedForDeletion()
	}
	return sec, nil
}

// Staging labels.

func smHas(v *secretVersion, label string) bool {
	for _, l := range v.Stages {
		if l == label {
			return true
		}
	}
	return false
}

func smAddLabel(v *secretVersion, label string) {
	if !smHas(v, label) {
		v.Stages = append(v.Stages, label)
	}
}

func smRemoveLabel(v *secretVersion, label string) {
	for i, l := range v.Stages {
		if l == label {
			v.Stages = append(v.Stages[:i], v.Stages[i+1:]...)
			return
		}
	}
}

// smHolder returns the version a label is attached to: at most one.
func smHolder(sec *secret, label string) *secretVersion {
	for _, id := range sec.versionSeq {
		if v := sec.versions[id]; smHas(v, label) {
			return v
		}
	}
	return nil
}

// smMoveLabel attaches label to v, detaching it from whichever version held it.
func smMoveLabel(sec *secret, label string, v *secretVersion) {
	if h := smHolder(sec, label); h != nil && h != v {
		smRemoveLabel(h, label)
	}
	smAddLabel(v, label)
}

// smLabelsAfter counts the distinct labels the secret would carry with extra added.
func smLabelsAfter(sec *secret, extra []string) int {
	set := map[string]bool{}
	for _, v := range sec.versions {
		for _, l := range v.Stages {
			set[l] = true
		}
	}
	for _, l := range extra {
		set[l] = true
	}
	return len(set)
}

// smStages is a version's labels as Secrets Manager lists them: sorted.
func smStages(v *secretVersion) []string {
	out := append([]string{}, v.Stages...)
	sort.Strings(out)
	return out
}

// smNewVersionID is what the SDK would have sent as ClientRequestToken: a random UUID.
func smNewVersionID(w *world) string {
	const hex = "0123456789abcdef"
	b := []byte(w.randString(hex, 32))
	b[12] = '4'
	b[16] = hex[8+w.rng.IntN(4)]
	return fmt.Sprintf("%s-%s-%s-%s-%s", b[0:8], b[8:12], b[12:16], b[16:20], b[20:32])
}

// smValue is a secret value in a request.
type smValue struct {
	str *string
	bin []byte
}

func (v smValue) present() bool { return v.str != nil || v.bin != nil }

func (v smValue) check() *apiError {
	if v.str != nil && v.bin != nil {
		return smInvalidParam("You can't specify both a binary secret value and a string secret value in the same secret.")
	}
	if v.str != nil && len(*v.str) > smMaxValue {
		return smValidation("1 validation error detected: Value at 'secretString' failed to satisfy constraint: Member must have length less than or equal to %d", smMaxValue)
	}
	if len(v.bin) > smMaxValue {
		return smValidation("1 validation error detected: Value at 'secretBinary' failed to satisfy constraint: Member must have length less than or equal to %d", smMaxValue)
	}
	return nil
}

func (v smValue) equals(ver *secretVersion) bool {
	if (v.str == nil) != (ver.String == nil) || (v.bin == nil) != (ver.Binary == nil) {
		return false
	}
	if v.str != nil && *v.str != *ver.String {
		return false
	}
	return bytes.Equal(v.bin, ver.Binary)
}

func smCheckToken(token string) *apiError {
	if token == "" {
		return nil
	}
	return smLength("clientRequestToken", token, 32, 64)
}

func smCheckStages(stages []string) *apiError {
	if len(stages) < 1 || len(stages) > smMaxLabels {
		return smValidation("1 validation error detected: Value at 'versionStages' failed to satisfy constraint: Member must have length between 1 and %d", smMaxLabels)
	}
	for _, l := range stages {
		if e := smLength("versionStages.member", l, 1, 256); e != nil {
			return e
		}
	}
	return nil
}

// smAddVersion stores a new version of sec with the ClientRequestToken idempotency rules:
// a token naming an existing version with the same value answers that version unchanged;
// with another value it is refused. stages nil means the default
// (AWSCURRENT moves to the new version).
func smAddVersion(s *Server, q *request, sec *secret, token string, val smValue, stages []string) (*secretVersion, *apiError) {
	if token != "" {
		if old := sec.versions[token]; old != nil {
			if val.equals(old) {
				return old, nil
			}
			return nil, smError("ResourceExistsException", "You can't modify an existing version, you can only create new versions.")
		}
	} else {
		token = smNewVersionID(s.world)
	}
	labels := stages
	if labels == nil {
		labels = []string{smCurrent}
	}
	if smHolder(sec, smCurrent) == nil && !smContains(labels, smCurrent) {
		// The first version of a secret always gets AWSCURRENT.
		labels = append(append([]string{}, labels...), smCurrent)
	}
	if smLabelsAfter(sec, labels) > smMaxLabels {
		return nil, smError("LimitExceededException", "A secret can have at most %d staging labels across all of its versions.", smMaxLabels)
	}
	v := &secretVersion{ID: token, String: val.str, Binary: val.bin, Created: q.now}
	oldCurrent := smHolder(sec, smCurrent)
	sec.versions[v.ID] = v
	sec.versionSeq = append(sec.versionSeq, v.ID)
	for _, l := range labels {
		smMoveLabel(sec, l, v)
	}
	if oldCurrent != nil && oldCurrent != v && smContains(labels, smCurrent) {
		// Observed in AWS: when PutSecretValue/UpdateSecret take AWSCURRENT from a version that
		// also carried AWSPENDING (a finished rotation), that AWSPENDING goes too.
		if !smContains(labels, smPending) {
			smRemoveLabel(oldCurrent, smPending)
		}
		smMoveLabel(sec, smPrevious, oldCurrent)
	}
	sec.Changed = q.now
	smPrune(sec, q.now)
	return v, nil
}

func smContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// smPrune removes the oldest unlabeled versions while the secret has more than 100,
// sparing those younger than 24 hours (AWS's documented rule).
func smPrune(sec *secret, now time.Time) {
	excess := len(sec.versionSeq) - smKeepVersions
	if excess <= 0 {
		return
	}
	kept := sec.versionSeq[:0]
	for _, id := range sec.versionSeq {
		v := sec.versions[id]
		if excess > 0 && len(v.Stages) == 0 && now.Sub(v.Created) >= smKeepYoung {
			delete(sec.versions, id)
			excess--
			continue
		}
		kept = append(kept, id)
	}
	sec.versionSeq = kept
}

// Tags.

func smCheckTags(add []tag) *apiError {
	seen := map[string]bool{}
	for _, t := range add {
		if len(t.Key) < 1 || len(t.Key) > 128 || len(t.Value) > 256 {
			return smValidation("1 validation error detected: tag keys must have length between 1 and 128 and values at most 256")
		}
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return smInvalidParam("Tag keys starting with 'aws:' are reserved for AWS use.")
		}
		if seen[t.Key] {
			return smInvalidParam("Duplicate tag key %q in the request.", t.Key)
		}
		seen[t.Key] = true
	}
	return nil
}

// smMergeTags adds or overwrites tags by key, keeping first-added order.
func smMergeTags(have, add []tag) ([]tag, *apiError) {
	out := append([]tag{}, have...)
	for _, t := range add {
		replaced := false
		for i := range out {
			if out[i].Key == t.Key {
				out[i].Value = t.Value
				replaced = true
				break
			}
		}
		if !replaced {
			out = append(out, t)
		}
	}
	if len(out) > smMaxTags {
		return nil, smInvalidParam("A secret can have at most %d tags.", smMaxTags)
	}
	return out, nil
}

// Answers.

// smTime is a timestamp for an answer, absent when zero.
func smTime(t time.Time) *jsonTime {
	if t.IsZero() {
		return nil
	}
	j := epoch(t)
	return &j
}

// smDay is LastAccessedDate as Secrets Manager records it: the day, at midnight UTC.
func smDay(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }

type smIDResult struct {
	ARN  string `json:"ARN"`
	Name string `json:"Name"`
}

type smVersionResult struct {
	ARN           string   `json:"ARN"`
	Name          string   `json:"Name"`
	VersionId     string   `json:"VersionId,omitempty"`
	VersionStages []string `json:"VersionStages,omitempty"`
}

// smSecretResult is DescribeSecret's answer and a ListSecrets entry.
type smSecretResult struct {
	ARN                    string              `json:"ARN"`
	Name                   string              `json:"Name"`
	Description            string              `json:"Description,omitempty"`
	KmsKeyId               string              `json:"KmsKeyId,omitempty"`
	CreatedDate            *jsonTime           `json:"CreatedDate,omitempty"`
	LastChangedDate        *jsonTime           `json:"LastChangedDate,omitempty"`
	LastAccessedDate       *jsonTime           `json:"LastAccessedDate,omitempty"`
	DeletedDate            *jsonTime           `json:"DeletedDate,omitempty"`
	Tags                   []tag               `json:"Tags,omitempty"`
	VersionIdsToStages     map[string][]string `json:"VersionIdsToStages,omitempty"`
	SecretVersionsToStages map[string][]string `json:"SecretVersionsToStages,omitempty"`
}

// smDescribe renders a secret. KmsKeyId is absent for the default key aws/secretsmanager,
// Description and Tags when empty, and the version map lists only labelled versions.
// DeletedDate is the scheduled deletion date (AWS documents it as "the date the secret is
// scheduled for deletion").
func smDescribe(sec *secret, listEntry bool) smSecretResult {
	r := smSecretResult{
		ARN: sec.ARN, Name: sec.Name, Description: sec.Description, KmsKeyId: sec.KmsKeyID,
		CreatedDate: smTime(sec.Created), LastChangedDate: smTime(sec.Changed),
		LastAccessedDate: smTime(sec.Accessed), DeletedDate: smTime(sec.Deleted),
		Tags: sec.Tags,
	}
	stages := map[string][]string{}
	for _, id := range sec.versionSeq {
		if v := sec.versions[id]; len(v.Stages) > 0 {
			stages[id] = smStages(v)
		}
	}
	if len(stages) > 0 {
		if listEntry {
			r.SecretVersionsToStages = stages
		} else {
			r.VersionIdsToStages = stages
		}
	}
	return r
}

// CreateSecret.

type smCreateSecretInput struct {
	Name               string  `json:"Name"`
	ClientRequestToken string  `json:"ClientRequestToken"`
	Description        *string `json:"Description"`
	KmsKeyId           string  `json:"KmsKeyId"`
	SecretString       *string `json:"SecretString"`
	SecretBinary       []byte  `json:"SecretBinary"`
	Tags               []tag   `json:"Tags"`
	AddReplicaRegions  []any   `json:"AddReplicaRegions"`
	Type               string  `json:"Type"`
}

func smCreateSecret(s *Server, q *request) (any, *apiError) {
	var in smCreateSecretInput
	if e := smDecode(q, &in); e != nil {
		return nil, e
	}
	if e := smLength("name", in.Name, 1, 512); e != nil {
		return nil, e
	}
	if !smNameRE.MatchString(in.Name) {
		return nil, smBadName()
	}
	if len(in.AddReplicaRegions) > 0 || in.Type != "" {
		return nil, errorf(http.StatusNotImplemented, "NotImplemented", "secret replication and externally managed secret types are not modelled in the keycycle sandbox (see docs/sandbox.md)")
	}
	if e := smCheckToken(in.ClientRequestToken); e != nil {
		return nil, e
	}
	if in.Description != nil {
		if e := smLength("description", *in.Description, 0, 2048); e != nil {
			return nil, e
		}
	}
	if e := smLength("kmsKeyId", in.KmsKeyId, 0, 2048); e != nil {
		return nil, e
	}
	val := smValue{str: in.SecretString, bin: in.SecretBinary}
	if e := val.check(); e != nil {
		return nil, e
	}
	if e := smCheckTags(in.Tags); e != nil {
		return nil, e
	}
	if len(in.Tags) > smMaxTags {
		return nil, smInvalidParam("A secret can have at most %d tags.", smMaxTags)
	}
	m := smRegion(q)
	if old := smFind(m, in.Name, q.now); old != nil {
		if !old.Deleted.IsZero() {
			return nil, smInvalidRequest("You can't create this secret because a secret with this name is already scheduled for deletion.")
		}
		// A retried CreateSecret (same ClientRequestToken, same value) is answered as the first
		// one was; the API reference documents this for ClientRequestToken.
		if v := old.versions[in.ClientRequestToken]; in.ClientRequestToken != "" && v != nil {
			if val.equals(v) {
				return smVersionResult{ARN: old.ARN, Name: old.Name, VersionId: v.ID}, nil
			}
			return nil, smError("ResourceExistsException", "You can't modify an existing version, you can only create new versions.")
		}
		return nil, smError("ResourceExistsException", "The operation failed because the secret %s already exists.", in.Name)
	}
	sec := &secret{
		Name: in.Name,
		ARN: "arn:aws:secretsmanager:" + q.region + ":" + q.acct.ID + ":secret:" + in.Name + "-" +
			s.world.randString(smSuffixAlph, 6),
		KmsKeyID: in.KmsKeyId, Created: q.now, Changed: q.now,
		Tags: append([]tag(nil), in.Tags...), versions: map[string]*secretVersion{},
	}
	if in.Description != nil {
		sec.Description = *in.Description
	}
	out := smVersionResult{ARN: sec.ARN, Name: sec.Name}
	if val.present() {
		v, e := smAddVersion(s, q, sec, in.ClientRequestToken, val, nil)
		if e != nil {
			return nil, e
		}
		out.VersionId = v.ID
	}
	m[sec.Name] = sec
	return out, nil
}

// UpdateSecret.

type smUpdateSecretInput struct {
	SecretId           string  `json:"SecretId"`
	ClientRequestToken string  `json:"ClientRequestToken"`
	Description        *string `json:"Description"`
	KmsKeyId           *string `json:"KmsKeyId"`
	SecretString       *string `json:"SecretString"`
	SecretBinary       []byte  `json:"SecretBinary"`
	Type               string  `json:"Type"`
}

func smUpdateSecret(s *Server, q *request) (any, *apiError) {
	var in smUpdateSecretInput
	if e := smDecode(q, &in); e != nil {
		return nil, e
	}
	if in.Type != "" {
		return nil, errorf(http.StatusNotImplemented, "NotImplemented", "externally managed secret types are not modelled in the keycycle sandbox (see docs/sandbox.md)")
	}
	if e := smCheckToken(in.ClientRequestToken); e != nil {
		return nil, e
	}
	val := smValue{str: in.SecretString, bin: in.SecretBinary}
	if e := val.check(); e != nil {
		return nil, e
	}
	if in.Description != nil {
		if e := smLength("description", *in.Description, 0, 2048); e != nil {
			return nil, e
		}
	}
	sec, e := smLive(q, in.SecretId)
	if e != nil {
		return nil, e
	}
	out := smVersionResult{ARN: sec.ARN, Name: sec.Name}
	if val.present() {
		v, e := smAddVersion(s, q, sec, in.ClientRequestToken, val, nil)
		if e != nil {
			return nil, e
		}
		out.VersionId = v.ID
	}
	if in.Description != nil {
		sec.Description = *in.Description
	}
	if in.KmsKeyId != nil {
		sec.KmsKeyID = *in.KmsKeyId
	}
	sec.Changed = q.now
	return out, nil
}

// PutSecretValue.

type smPutSecretValueInput struct {
	SecretId           string    `json:"SecretId"`
	ClientRequestToken string    `json:"ClientRequestToken"`
	SecretString       *string   `json:"SecretString"`
	SecretBinary       []byte    `json:"SecretBinary"`
	VersionStages      *[]string `json:"VersionStages"`
}

func smPutSecretValue(s *Server, q *request) (any, *apiError) {
	var in smPutSecretValueInput
	if e := smDecode(q, &in); e != nil {
		return nil, e
	}
	if e := smCheckToken(in.ClientRequestToken); e != nil {
		return nil, e
	}
	val := smValue{str: in.SecretString, bin: in.SecretBinary}
	if e := val.check(); e != nil {
		return nil, e
	}
	if !val.present() {
		return nil, smInvalidParam("You must provide either SecretString or SecretBinary.")
	}
	var stages []string
	if in.VersionStages != nil {
		if e := smCheckStages(*in.VersionStages); e != nil {
			return nil, e
		}
		stages = smDedupe(*in.VersionStages)
	}
	sec, e := smLive(q, in.SecretId)
	if e != nil {
		return nil, e
	}
	v, e := smAddVersion(s, q, sec, in.ClientRequestToken, val, stages)
	if e != nil {
		return nil, e
	}
	return smVersionResult{ARN: sec.ARN, Name: sec.Name, VersionId: v.ID, VersionStages: smStages(v)}, nil
}

func smDedupe(list []string) []string {
	out := make([]string, 0, len(list))
	for _, x := range list {
		if !smContains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// GetSecretValue.

type smGetSecretValueInput struct {
	SecretId     string `json:"SecretId"`
	VersionId    string `json:"VersionId"`
	VersionStage string `json:"VersionStage"`
}

type smGetSecretValueResult struct {
	ARN           string    `json:"ARN"`
	Name          string    `json:"Name"`
	VersionId     string    `json:"VersionId"`
	SecretString  *string   `json:"SecretString,omitempty"`
	SecretBinary  []byte    `json:"SecretBinary,omitempty"`
	VersionStages []string  `json:"VersionStages,omitempty"`
	CreatedDate   *jsonTime `json:"CreatedDate,omitempty"`
}

func smGetSecretValue(_ *Server, q *request) (any, *apiError) {
	var in smGetSecretValueInput
	if e := smDecode(q, &in); e != nil {
		return nil, e
	}
	if in.VersionId != "" {
		if e := smLength("versionId", in.VersionId, 32, 64); e != nil {
			return nil, e
		}
	}
	if in.VersionStage != "" {
		if e := smLength("versionStage", in.VersionStage, 1, 256); e != nil {
			return nil, e
		}
	}
	sec, e := smLive(q, in.SecretId)
	if e != nil {
		return nil, e
	}
	var v *secretVersion
	switch {
	case in.VersionId != "":
		v = sec.versions[in.VersionId]
		if v == nil {
			return nil, smError("ResourceNotFoundException", "Secrets Manager can't find the specified secret value for VersionId: %s", in.VersionId)
		}
		if in.VersionStage != "" && !smHas(v, in.VersionStage) {
			return nil, smInvalidRequest("You provided a VersionStage that is not associated to the provided VersionId.")
		}
	default:
		stage := in.VersionStage
		if stage == "" {
			stage = smCurrent
		}
		v = smHolder(sec, stage)
		if v == nil {
			return nil, smError("ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: %s", stage)
		}
	}
	sec.Accessed = smDay(q.now)
	v.Accessed = smDay(q.now)
	return smGetSecretValueResult{ARN: sec.ARN, Name: sec.Name, VersionId: v.ID, SecretString: v.String,
		SecretBinary: v.Binary, VersionStages: smStages(v), CreatedDate: smTime(v.Created)}, nil
}

// DescribeSecret.

type smSecretIDInput struct {
	SecretId string `json:"SecretId"`
}

func smDescribeSecret(_ *Server, q *request) (any, *apiError) {
	var in smSecretIDInput
	if e := smDecode(q, &in); e != nil {
		return nil, e
	}
	sec, e := smResolve(q, in.SecretId)
	if e != nil {
		return nil, e
	}
	return smDescribe(sec, false), nil
}

// ListSecrets.

type smFilter struct {
	Key    string   `json:"Key"`
	Values []string `json:"Values"`
}

type smListSecretsInput struct {
	Filters                []smFilter `json:"Filters"`
	IncludePlannedDeletion bool       `json:"IncludePlannedDeletion"`
	MaxResults             *int       `json:"MaxResults"`
	NextToken              string     `json:"NextToken"`
	SortBy                 string     `json:"SortBy"`
	SortOrder              string     `json:"SortOrder"`
}

type smListSecretsResult struct {
	SecretList []smSecretResult `json:"SecretList"`
	NextToken  string           `json:"NextToken,omitempty"`
}

var smFilterKeys = map[string]bool{"description": true, "name": true, "tag-key": true, "tag-value": true,
	"primary-region": true, "owning-service": true, "all": true}

func smListSecrets(_ *Server, q *request) (any, *apiError) {
	var in smListSecretsInput
	if e := smDecode(q, &in); e != nil {
		return nil, e
	}
	size, e := smPageSize(in.MaxResults)
	if e != nil {
		return nil, e
	}
	for _, f := range in.Filters {
		if !smFilterKeys[f.Key] {
			return nil, smValidation("1 validation error detected: Value '%s' at 'filters.member.key' failed to satisfy constraint: Member must satisfy enum value set: [all, name, tag-key, description, tag-value, primary-region, owning-service]", f.Key)
		}
		if len(f.Values) < 1 || len(f.Values) > 10 {
			return nil, smValidation("1 validation error detected: Value at 'filters.member.values' failed to satisfy constraint: Member must have length between 1 and 10")
		}
	}
	switch in.SortBy {
	case "", "created-date", "last-accessed-date", "last-changed-date", "name":
	default:
		return nil, smValidation("1 validation error detected: Value '%s' at 'sortBy' failed to satisfy constraint: Member must satisfy enum value set: [created-date, last-accessed-date, last-changed-date, name]", in.SortBy)
	}
	switch in.SortOrder {
	case "", "asc", "desc":
	default:
		return nil, smValidation("1 validation error detected: Value '%s' at 'sortOrder' failed to satisfy constraint: Member must satisfy enum value set: [asc, desc]", in.SortOrder)
	}
	m := smRegion(q)
	smSweep(m, q.now)
	var list []*secret
	for _, sec := range m {
		if !sec.Deleted.IsZero() && !in.IncludePlannedDeletion {
			continue
		}
		if smMatches(sec, in.Filters) {
			list = append(list, sec)
		}
	}
	key := func(sec *secret) time.Time {
		switch in.SortBy {
		case "last-accessed-date":
			return sec.Accessed
		case "last-changed-date":
			return sec.Changed
		}
		return sec.Created
	}
	// Without SortOrder the sandbox lists oldest first (AWS documents only "by CreatedDate").
	desc := in.SortOrder == "desc"
	sort.Slice(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if in.SortBy != "name" {
			if ka, kb := key(a), key(b); !ka.Equal(kb) {
				return ka.Before(kb) != desc
			}
		}
		if a.Name != b.Name {
			return (a.Name < b.Name) != desc
		}
		return a.ARN < b.ARN
	})
	start, end, next, e := smPage("secrets", in.NextToken, size, len(list))
	if e != nil {
		return nil, e
	}
	out := smListSecretsResult{SecretList: []smSecretResult{}, NextToken: next}
	for _, sec := range list[start:end] {
		out.SecretList = append(out.SecretList, smDescribe(sec, true))
	}
	return out, nil
}

// smMatches applies ListSecrets filters: filters AND together, values within one filter OR,
// and a value starting with "!" must not match. primary-region and owning-service never
// match: replication and service-owned secrets are not modelled.
func smMatches(sec *secret, filters []smFilter) bool {
	for _, f := range filters {
		anyPositive, positiveHit := false, false
		for _, raw := range f.Values {
			neg := strings.HasPrefix(raw, "!")
			v := strings.TrimPrefix(raw, "!")
			hit := smFilterHit(sec, f.Key, v)
			if neg {
				if hit {
					return false
				}
				continue
			}
			anyPositive = true
			positiveHit = positiveHit || hit
		}
		if anyPositive && !positiveHit {
			return false
		}
	}
	return true
}

func smFilterHit(sec *secret, key, v string) bool {
	switch key {
	case "name":
		return strings.HasPrefix(sec.Name, v)
	case "description":
		return smWordPrefix(sec.Description, v)
	case "tag-key":
		for _, t := range sec.Tags {
			if strings.HasPrefix(t.Key, v) {
				return true
			}
		}
	case "tag-value":
		for _, t := range sec.Tags {
			if strings.HasPrefix(t.Value, v) {
				return true
			}
		}
	case "all":
		for _, w := range smWords(v) {
			if smWordPrefix(sec.Name, w) || smWordPrefix(sec.Description, w) {
				return true
			}
			for _, t := range sec.Tags {
				if smWordPrefix(t.Key, w) || smWordPrefix(t.Value, w) {
					return true
				}
			}
		}
	}
	return false
}

func smWords(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// smWordPrefix is a case-insensitive prefix match against s or any word of s.
func smWordPrefix(s, prefix string) bool {
	s, prefix = strings.ToLower(s), strings.ToLower(prefix)
	if strings.HasPrefix(s, prefix) {
		return true
	}
	for _, w := range smWords(s) {
		if strings.HasPrefix(w, prefix) {
			return true
		}
	}
	return false
}

// ListSecretVersionIds.

type smListVersionsInput struct {
	SecretId          string `json:"SecretId"`
	IncludeDeprecated bool   `json:"IncludeDeprecated"`
	MaxResults        *int   `json:"MaxResults"`
	NextToken         string `json:"NextToken"`
}

type smVersionEntry struct {
	VersionId        string    `json:"VersionId"`
	VersionStages    []string  `json:"VersionStages,omitempty"`
	CreatedDate      *jsonTime `json:"CreatedDate,omitempty"`
	LastAccessedDate *jsonTime `json:"LastAccessedDate,omitempty"`
	KmsKeyIds        []string  `json:"KmsKeyIds,omitempty"`
}

type smListVersionsResult struct {
	ARN       string           `json:"ARN"`
	Name      string           `json:"Name"`
	Versions  []smVersionEntry `json:"Versions"`
	NextToken string           `json:"NextToken,omitempty"`
}

func smListSecretVersionIds(_ *Server, q *request) (any, *apiError) {
	var in smListVersionsInput
	if e := smDecode(q, &in); e != nil {
		return nil, e
	}
	size, e := smPageSize(in.MaxResults)
	if e != nil {
		return nil, e
	}
	sec, e := smResolve(q, in.SecretId)
	if e != nil {
		return nil, e
	}
	var list []*secretVersion
	for _, id := range sec.versionSeq {
		if v := sec.versions[id]; in.IncludeDeprecated || len(v.Stages) > 0 {
			list = append(list, v)
		}
	}
	start, end, next, e := smPage("versions:"+sec.ARN, in.NextToken, size, len(list))
	if e != nil {
		return nil, e
	}
	// AWS lists "DefaultEncryptionKey" for versions under the default key aws/secretsmanager.
	kms := sec.KmsKeyID
	if kms == "" {
		kms = "DefaultEncryptionKey"
	}
	out := smListVersionsResult{ARN: sec.ARN, Name: sec.Name, Versions: []smVersionEntry{}, NextToken: next}
	for _, v := range list[start:end] {
		out.Versions = append(out.Versions, smVersionEntry{VersionId: v.ID, VersionStages: smStages(v),
			CreatedDate: smTime(v.Created), LastAccessedDate: smTime(v.Accessed), KmsKeyIds: []string{kms}})
	}
	return out, nil
}

// UpdateSecretVersionStage.

type smUpdateStageInput struct {
	SecretId            string `json:"SecretId"`
	VersionStage        string `json:"VersionStage"`
	MoveToVersionId     string `json:"MoveToVersionId"`
	RemoveFromVersionId string `json:"RemoveFromVersionId"`
}

func smUpdateSecretVersionStage(_ *Server, q *request) (any, *apiError) {
	var in smUpdateStageInput
	if e := smDecode(q, &in); e != nil {
		return nil, e
	}
	if e := smLength("versionStage", in.VersionStage, 1, 256); e != nil {
		return nil, e
	}
	if in.MoveToVersionId != "" {
		if e := smLength("moveToVersionId", in.MoveToVersionId, 32, 64); e != nil {
			return nil, e
		}
	}
	if in.RemoveFromVersionId != "" {
		if e := smLength("removeFromVersionId", in.RemoveFromVersionId, 32, 64); e != nil {
			return nil, e
		}
	}
	sec, e := smLive(q, in.SecretId)
	if e != nil {
		return nil, e
	}
	label := in.VersionStage
	if in.MoveToVersionId == "" && in.RemoveFromVersionId == "" {
		return nil, smInvalidParam("You must specify MoveToVersionId, RemoveFromVersionId or both.")
	}
	// Unknown version ids: AWS's exact code here is not documented; InvalidParameterException
	// as the other emulators answer.
	var to, from *secretVersion
	if in.MoveToVersionId != "" {
		if to = sec.versions[in.MoveToVersionId]; to == nil {
			return nil, smInvalidParam("Not a valid version: %s", in.MoveToVersionId)
		}
	}
	if in.RemoveFromVersionId != "" {
		if from = sec.versions[in.RemoveFromVersionId]; from == nil {
			return nil, smInvalidParam("Not a valid version: %s", in.RemoveFromVersionId)
		}
		if !smHas(from, label) {
			return nil, smInvalidParam("The staging label %s is not attached to version %s, so it can't be removed from it.", label, from.ID)
		}
	}
	holder := smHolder(sec, label)
	if to == nil {
		// Removing a label. AWSCURRENT can only move, never disappear.
		if label == smCurrent {
			return nil, smInvalidParam("You can't remove the staging label AWSCURRENT from version %s without moving it to another version in MoveToVersionId.", from.ID)
		}
		smRemoveLabel(from, label)
		sec.Changed = q.now
		return smIDResult{ARN: sec.ARN, Name: sec.Name}, nil
	}
	if holder != nil && holder != to && from == nil {
		return nil, smInvalidParam("The parameter RemoveFromVersionId can't be empty. Staging label %s is currently attached to version %s, so you must explicitly reference that version in RemoveFromVersionId.", label, holder.ID)
	}
	if holder == nil && smLabelsAfter(sec, []string{label}) > smMaxLabels {
		return nil, smError("LimitExceededException", "A secret can have at most %d staging labels across all of its versions.", smMaxLabels)
	}
	smMoveLabel(sec, label, to)
	if label == smCurrent && holder != nil && holder != to {
		// Whenever AWSCURRENT moves, AWSPREVIOUS follows to the version it left.
		smMoveLabel(sec, smPrevious, holder)
	}
	sec.Changed = q.now
	return smIDResult{ARN: sec.ARN, Name: sec.Name}, nil
}

// DeleteSecret and RestoreSecret.

type smDeleteSecretInput struct {
	SecretId                   string `json:"SecretId"`
	ForceDeleteWithoutRecovery bool   `json:"ForceDeleteWithoutRecovery"`
	RecoveryWindowInDays       *int64 `json:"RecoveryWindowInDays"`
}

type smDeleteSecretResult struct {
	ARN          string    `json:"ARN"`
	Name         string    `json:"Name"`
	DeletionDate *jsonTime `json:"DeletionDate,omitempty"`
}

func smDeleteSecret(s *Server, q *request) (any, *apiError) {
	var in smDeleteSecretInput
	if e := smDecode(q, &in); e != nil {
		return nil, e
	}
	if w := in.RecoveryWindowInDays; w != nil && (*w < 7 || *w > 30) {
		return nil, smInvalidParam("The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")
	}
	if in.RecoveryWindowInDays != nil && in.ForceDeleteWithoutRecovery {
		return nil, smInvalidParam("You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
	}
	sec, e := smResolve(q, in.SecretId)
	if e != nil {
		if e.Code != "ResourceNotFoundException" || !in.ForceDeleteWithoutRecovery {
			return nil, e
		}
		// Documented: forcibly deleting a nonexistent or already deleted secret does not
		// answer ResourceNotFoundException.
		name, arn := in.SecretId, in.SecretId
		if strings.HasPrefix(in.SecretId, "arn:") {
			name = in.SecretId[strings.LastIndex(in.SecretId, ":")+1:]
			if smSuffixRE.MatchString(name) {
				name = name[:len(name)-7]
			}
		} else {
			arn = "arn:aws:secretsmanager:" + q.region + ":" + q.acct.ID + ":secret:" + name + "-" + s.world.randString(smSuffixAlph, 6)
		}
		return smDeleteSecretResult{ARN: arn, Name: name, DeletionDate: smTime(q.now)}, nil
	}
	if in.ForceDeleteWithoutRecovery {
		// AWS deletes asynchronously (the name may stay taken for a moment); the sandbox at once.
		delete(smRegion(q), sec.Name)
		return smDeleteSecretResult{ARN: sec.ARN, Name: sec.Name, DeletionDate: smTime(q.now)}, nil
	}
	if !sec.Deleted.IsZero() {
		return nil, smMarkedForDeletion()
	}
	days := int64(smDefaultWindow)
	if in.RecoveryWindowInDays != nil {
		days = *in.RecoveryWindowInDays
	}
	sec.Deleted = q.now.Add(time.Duration(days) * day)
	sec.Changed = q.now
	return smDeleteSecretResult{ARN: sec.ARN, Name: sec.Name, DeletionDate: smTime(sec.Deleted)}, nil
}

func smRestoreSecret(_ *Server, q *request) (any, *apiError) {
	var in smSecretIDInput
	if e := smDecode(q, &in); e != nil {
		return nil, e
	}
	sec, e := smResolve(q, in.SecretId)
	if e != nil {
		return nil, e
	}
	if !sec.Deleted.IsZero() {
		sec.Deleted = time.Time{}
		sec.Changed = q.now
	}
	return smIDResult{ARN: sec.ARN, Name: sec.Name}, nil
}

// Resource policies. The sandbox stores them and answers them back; it does not evaluate
// them when a request reads a secret (no IAM policy evaluation is modelled).

type smPutPolicyInput struct {
	SecretId          string `json:"SecretId"`
	ResourcePolicy    string `json:"ResourcePolicy"`
	BlockPublicPolicy bool   `json:"BlockPublicPolicy"`
}

func smPutResourcePolicy(_ *Server, q *request) (any, *apiError) {
	var in smPutPolicyInput
	if e := smDecode(q, &in); e != nil {
		return nil, e
	}
	if e := smLength("resourcePolicy", in.ResourcePolicy, 1, smMaxPolicy); e != nil {
		return nil, e
	}
	sec, e := smLive(q, in.SecretId)
	if e != nil {
		return nil, e
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(in.ResourcePolicy), &doc); err != nil {
		return nil, smError("MalformedPolicyDocumentException", "The resource policy is not a valid JSON policy document.")
	}
	stmts, e := smStatements(doc)
	if e != nil {
		return nil, e
	}
	if in.BlockPublicPolicy && smPublic(stmts) {
		return nil, smError("PublicPolicyException", "BlockPublicPolicy is set and the resource policy grants broad access to the secret.")
	}
	sec.Policy = in.ResourcePolicy
	sec.Changed = q.now
	return smIDResult{ARN: sec.ARN, Name: sec.Name}, nil
}

type smStatement struct {
	Effect    string          `json:"Effect"`
	Principal json.RawMessage `json:"Principal"`
	Condition json.RawMessage `json:"Condition"`
}

// smStatements reads the policy's Statement, a statement or a non-empty list of them.
func smStatements(doc map[string]json.RawMessage) ([]smStatement, *apiError) {
	raw, ok := doc["Statement"]
	bad := smError("MalformedPolicyDocumentException", "The resource policy must contain a Statement with at least one statement that has an Effect.")
	if !ok {
		return nil, bad
	}
	var list []smStatement
	if err := json.Unmarshal(raw, &list); err != nil {
		var one smStatement
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, bad
		}
		list = []smStatement{one}
	}
	if len(list) == 0 {
		return nil, bad
	}
	for _, st := range list {
		if st.Effect != "Allow" && st.Effect != "Deny" {
			return nil, bad
		}
	}
	return list, nil
}

// smPublic reports an Allow statement without conditions for the principal "*".
func smPublic(stmts []smStatement) bool {
	for _, st := range stmts {
		if st.Effect != "Allow" || len(st.Condition) > 0 {
			continue
		}
		var star string
		if json.Unmarshal(st.Principal, &star) == nil && star == "*" {
			return true
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(st.Principal, &m) == nil {
			aws := m["AWS"]
			var one string
			var many []string
			if json.Unmarshal(aws, &one) == nil && one == "*" {
				return true
			}
			if json.Unmarshal(aws, &many) == nil && smContains(many, "*") {
				return true
			}
		}
	}
	return false
}

type smGetPolicyResult struct {
	ARN            string  `json:"ARN"`
	Name           string  `json:"Name"`
	ResourcePolicy *string `json:"ResourcePolicy,omitempty"`
}

func smGetResourcePolicy(_ *Server, q *request) (any, *apiError) {
	var in smSecretIDInput
	if e := smDecode(q, &in); e != nil {
		return nil, e
	}
	sec, e := smResolve(q, in.SecretId)
	if e != nil {
		return nil, e
	}
	out := smGetPolicyResult{ARN: sec.ARN, Name: sec.Name}
	if sec.Policy != "" {
		p := sec.Policy
		out.ResourcePolicy = &p
	}
	return out, nil
}

func smDeleteResourcePolicy(_ *Server, q *request) (any, *apiError) {
	var in smSecretIDInput
	if e := smDecode(q, &in); e != nil {
		return nil, e
	}
	sec, e := smLive(q, in.SecretId)
	if e != nil {
		return nil, e
	}
	if sec.Policy != "" {
		sec.Policy = ""
		sec.Changed = q.now
	}
	return smIDResult{ARN: sec.ARN, Name: sec.Name}, nil
}

// Tags.

type smTagInput struct {
	SecretId string   `json:"SecretId"`
	Tags     []tag    `json:"Tags"`
	TagKeys  []string `json:"TagKeys"`
}

func smTagResource(_ *Server, q *request) (any, *apiError) {
	var in smTagInput
	if e := smDecode(q, &in); e != nil {
		return nil, e
	}
	if e := smCheckTags(in.Tags); e != nil {
		return nil, e
	}
	sec, e := smLive(q, in.SecretId)
	if e != nil {
		return nil, e
	}
	tags, e := smMergeTags(sec.Tags, in.Tags)
	if e != nil {
		return nil, e
	}
	sec.Tags = tags
	sec.Changed = q.now
	return struct{}{}, nil
}

func smUntagResource(_ *Server, q *request) (any, *apiError) {
	var in smTagInput
	if e := smDecode(q, &in); e != nil {
		return nil, e
	}
	sec, e := smLive(q, in.SecretId)
	if e != nil {
		return nil, e
	}
	kept := sec.Tags[:0:0]
	for _, t := range sec.Tags {
		if !smContains(in.TagKeys, t.Key) {
			kept = append(kept, t)
		}
	}
	sec.Tags = kept
	sec.Changed = q.now
	return struct{}{}, nil
}
