package awssim

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// IAM account-wide reads: credential report, authorization details, aliases, summary.
var iamAccountActions = map[string]handler{
	"GenerateCredentialReport":       iamGenerateCredentialReport,
	"GetCredentialReport":            iamGetCredentialReport,
	"GetAccountAuthorizationDetails": iamGetAccountAuthorizationDetails,
	"ListAccountAliases":             iamListAccountAliases,
	"GetAccountSummary":              iamGetAccountSummary,
}

// credentialReport is a generated credential report: a CSV snapshot of the account.
type credentialReport struct {
	Generated time.Time // sandbox time of the snapshot
	CSV       []byte
	readyAt   time.Time // wall clock time from which GetCredentialReport returns it
}

// reportMaxAge is how long a credential report stays current. IAM generates a new report at most
// every 4 hours; until then GenerateCredentialReport keeps the existing one, so a report can be
// up to 4 hours stale. Measured on the sandbox clock.
const reportMaxAge = 4 * time.Hour

// acctList is a query-protocol list that is written even when empty (<Name/>), as IAM does.
type acctList[T any] struct {
	Member []T `xml:"member"`
}

type generateCredentialReportResult struct {
	Description string `xml:"Description,omitempty"`
	State       string `xml:"State"`
}

// iamGenerateCredentialReport starts a new report unless the current one is younger than
// reportMaxAge (sandbox time). The new report is a snapshot taken now; GetCredentialReport
// answers ReportInProgress until Faults.ReportDelay (wall clock) has passed.
func iamGenerateCredentialReport(s *Server, q *request) (any, *apiError) {
	a := q.acct
	if r := a.report; r != nil {
		if q.wall.Before(r.readyAt) {
			// The wording of INPROGRESS/COMPLETE descriptions is not documented (docs/sandbox.md).
			return generateCredentialReportResult{State: "INPROGRESS", Description: "Report generation in progress"}, nil
		}
		if q.now.Sub(r.Generated) < reportMaxAge {
			return generateCredentialReportResult{State: "COMPLETE", Description: "Report generated"}, nil
		}
	}
	a.report = &credentialReport{
		Generated: q.now,
		CSV:       credentialReportCSV(a, q.now),
		readyAt:   q.wall.Add(time.Duration(s.faults.get().ReportDelay)),
	}
	// The description is the one in the IAM API reference's example.
	return generateCredentialReportResult{State: "STARTED", Description: "No report exists. Starting a new report generation task"}, nil
}

type getCredentialReportResult struct {
	Content       string    `xml:"Content"` // base64 of the CSV: the SDK decodes it into []byte
	ReportFormat  string    `xml:"ReportFormat"`
	GeneratedTime time.Time `xml:"GeneratedTime"`
}

// iamGetCredentialReport answers the last generated report. Choice (docs/sandbox.md): a report
// older than reportMaxAge on the sandbox clock answers ReportExpired, so a reader that never
// regenerates cannot silently use a stale snapshot.
func iamGetCredentialReport(_ *Server, q *request) (any, *apiError) {
	r := q.acct.report
	switch {
	case r == nil:
		return nil, errorf(http.StatusGone, "ReportNotPresent",
			"Credential report not present. To generate a credential report, use GenerateCredentialReport.")
	case q.wall.Before(r.readyAt):
		return nil, errorf(http.StatusNotFound, "ReportInProgress", "The credential report is still being generated.")
	case q.now.Sub(r.Generated) >= reportMaxAge:
		return nil, errorf(http.StatusGone, "ReportExpired",
			"The most recent credential report has expired. To generate a new credential report, use GenerateCredentialReport.")
	}
	return getCredentialReportResult{
		Content:       base64.StdEncoding.EncodeToString(r.CSV),
		ReportFormat:  "text/csv",
		GeneratedTime: r.Generated,
	}, nil
}

// credentialReportHeader is the report's 22 columns in IAM's order (IAM User Guide,
// "Generate credential reports for your AWS account").
var credentialReportHeader = []string{
	"user", "arn", "user_creation_time", "password_enabled", "password_last_used",
	"password_last_changed", "password_next_rotation", "mfa_active",
	"access_key_1_active", "access_key_1_last_rotated", "access_key_1_last_used_date",
	"access_key_1_last_used_region", "access_key_1_last_used_service",
	"access_key_2_active", "access_key_2_last_rotated", "access_key_2_last_used_date",
	"access_key_2_last_used_region", "access_key_2_last_used_service",
	"cert_1_active", "cert_1_last_rotated", "cert_2_active", "cert_2_last_rotated",
}

const (
	reportNA            = "N/A"
	reportNoInformation = "no_information"
	reportNotSupported  = "not_supported"
)

// reportTime formats a timestamp as the report does: ISO 8601 with an explicit +00:00 offset.
func reportTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05+00:00") }

// credentialReportCSV snapshots the account. The first row is the root user, then every IAM user
// by name. The sandbox's operator credential is not a root access key and is not listed.
func credentialReportCSV(a *account, now time.Time) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(credentialReportHeader)

	root := []string{"<root_account>", "arn:aws:iam::" + a.ID + ":root", reportTime(accountCreated(a, now)),
		reportNotSupported, reportNoInformation, reportNotSupported, reportNotSupported, "false"}
	root = append(root, reportKeyColumns(a.rootKeys)...)
	_ = w.Write(append(root, reportCertColumns()...))

	for _, u := range a.sortedUsers() {
		row := []string{u.Name, a.userARN(u), reportTime(u.Created)}
		if u.Login == nil {
			row = append(row, "false", reportNA, reportNA, reportNA)
		} else {
			used := reportNoInformation
			if !u.PasswordLastUsed.IsZero() {
				used = reportTime(u.PasswordLastUsed)
			}
			next := reportNA
			if pp := a.passwordPolicy; pp != nil && pp.MaxPasswordAge > 0 {
				next = reportTime(u.Login.PasswordSet.Add(time.Duration(pp.MaxPasswordAge) * day))
			}
			row = append(row, "true", used, reportTime(u.Login.PasswordSet), next)
		}
		row = append(row, strconv.FormatBool(u.MFA))
		row = append(row, reportKeyColumns(u.Keys)...)
		_ = w.Write(append(row, reportCertColumns()...))
	}
	w.Flush()
	return buf.Bytes()
}

// reportKeyColumns renders the two access key slots; access_key_1 is the older key.
// last_rotated is N/A for an inactive key, as the IAM User Guide states ("If the user does not
// have an active access key, the value in this field is N/A").
func reportKeyColumns(keys []*accessKey) []string {
	sorted := append([]*accessKey(nil), keys...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Created.Before(sorted[j].Created) })
	var out []string
	for i := range 2 {
		if i >= len(sorted) {
			out = append(out, "false", reportNA, reportNA, reportNA, reportNA)
			continue
		}
		k := sorted[i]
		active := k.Status == "Active"
		rotated := reportNA
		if active {
			rotated = reportTime(k.Created)
		}
		usedDate, usedRegion, usedService := reportNA, reportNA, reportNA
		if !k.LastUsed.IsZero() {
			usedDate, usedRegion, usedService = reportTime(k.LastUsed), k.LastUsedRegion, k.LastUsedService
		}
		out = append(out, strconv.FormatBool(active), rotated, usedDate, usedRegion, usedService)
	}
	return out
}

// reportCertColumns: the sandbox models no signing certificates.
func reportCertColumns() []string { return []string{"false", reportNA, "false", reportNA} }

// accountCreated approximates the account's creation time, which the sandbox does not store:
// the oldest thing in the account, or now for an empty account.
func accountCreated(a *account, now time.Time) time.Time {
	t := now
	older := func(c time.Time) {
		if !c.IsZero() && c.Before(t) {
			t = c
		}
	}
	for _, u := range a.users {
		older(u.Created)
	}
	for _, g := range a.groups {
		older(g.Created)
	}
	for _, r := range a.roles {
		older(r.Created)
	}
	for _, k := range a.rootKeys {
		older(k.Created)
	}
	return t
}

// acctMaxItems reads MaxItems (1..1000, default 100) as IAM's List* calls do.
func acctMaxItems(q *request) (int, *apiError) {
	n, present, e := queryInt(q.form, "MaxItems")
	if e != nil || !present {
		return 100, e
	}
	if n < 1 {
		return 0, errValidation("1 validation error detected: Value '%d' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1", n)
	}
	if n > 1000 {
		return 0, errValidation("1 validation error detected: Value '%d' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 1000", n)
	}
	return n, nil
}

type gaadUser struct {
	Path                    string                   `xml:"Path"`
	UserName                string                   `xml:"UserName"`
	UserId                  string                   `xml:"UserId"`
	Arn                     string                   `xml:"Arn"`
	CreateDate              time.Time                `xml:"CreateDate"`
	UserPolicyList          acctList[gaadPolicyStub] `xml:"UserPolicyList"`
	GroupList               acctList[string]         `xml:"GroupList"`
	AttachedManagedPolicies acctList[gaadPolicyStub] `xml:"AttachedManagedPolicies"`
	Tags                    acctList[tag]            `xml:"Tags"`
}

type gaadGroup struct {
	Path                    string                   `xml:"Path"`
	GroupName               string                   `xml:"GroupName"`
	GroupId                 string                   `xml:"GroupId"`
	Arn                     string                   `xml:"Arn"`
	CreateDate              time.Time                `xml:"CreateDate"`
	GroupPolicyList         acctList[gaadPolicyStub] `xml:"GroupPolicyList"`
	AttachedManagedPolicies acctList[gaadPolicyStub] `xml:"AttachedManagedPolicies"`
}

type gaadRole struct {
	Path                     string                   `xml:"Path"`
	RoleName                 string                   `xml:"RoleName"`
	RoleId                   string                   `xml:"RoleId"`
	Arn                      string                   `xml:"Arn"`
	CreateDate               time.Time                `xml:"CreateDate"`
	AssumeRolePolicyDocument string                   `xml:"AssumeRolePolicyDocument"`
	InstanceProfileList      acctList[gaadPolicyStub] `xml:"InstanceProfileList"`
	RolePolicyList           acctList[gaadPolicyStub] `xml:"RolePolicyList"`
	AttachedManagedPolicies  acctList[gaadPolicyStub] `xml:"AttachedManagedPolicies"`
	Tags                     acctList[tag]            `xml:"Tags"`
}

// gaadPolicyStub stands for policy shapes the sandbox does not model; its lists stay empty.
type gaadPolicyStub struct{}

type getAccountAuthorizationDetailsResult struct {
	UserDetailList  acctList[gaadUser]       `xml:"UserDetailList"`
	GroupDetailList acctList[gaadGroup]      `xml:"GroupDetailList"`
	RoleDetailList  acctList[gaadRole]       `xml:"RoleDetailList"`
	Policies        acctList[gaadPolicyStub] `xml:"Policies"`
	IsTruncated     bool                     `xml:"IsTruncated"`
	Marker          string                   `xml:"Marker,omitempty"`
}

// gaadEntry is one item of the combined, ordered list GetAccountAuthorizationDetails pages over.
type gaadEntry struct {
	kind int // 0 user, 1 group, 2 role
	key  string
	u    *user
	g    *group
	r    *role
}

func (e gaadEntry) marker() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(e.kind) + ":" + e.key))
}

// gaadAtOrAfter reports whether e sorts at or after the position a marker names.
func gaadAtOrAfter(e gaadEntry, kind int, key string) bool {
	if e.kind != kind {
		return e.kind > kind
	}
	return e.key >= key
}

var gaadFilters = []string{"User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy"}

// iamGetAccountAuthorizationDetails pages over users, then groups, then roles (each by name),
// MaxItems counting entries of all lists together. Markers name the next entry, so a page
// boundary survives entries being added or deleted between calls. Managed policies are not
// modelled: asking for them yields an empty Policies list.
func iamGetAccountAuthorizationDetails(_ *Server, q *request) (any, *apiError) {
	want := map[string]bool{}
	filter := queryList(q.form, "Filter")
	for _, f := range filter {
		ok := false
		for _, v := range gaadFilters {
			ok = ok || v == f
		}
		if !ok {
			return nil, errValidation("1 validation error detected: Value '[%s]' at 'filter' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [%s]]",
				strings.Join(filter, ", "), strings.Join(gaadFilters, ", "))
		}
		want[f] = true
	}
	all := len(want) == 0
	limit, e := acctMaxItems(q)
	if e != nil {
		return nil, e
	}
	kind, key := 0, ""
	if m := q.form.Get("Marker"); m != "" {
		raw, err := base64.RawURLEncoding.DecodeString(m)
		k, rest, ok := strings.Cut(string(raw), ":")
		n, nerr := strconv.Atoi(k)
		if err != nil || !ok || nerr != nil || n < 0 || n > 2 {
			// IAM's answer to a forged marker is not documented; the sandbox refuses it.
			return nil, errValidation("Invalid Marker: %q was not returned by a previous call", m)
		}
		kind, key = n, rest
	}

	a := q.acct
	var entries []gaadEntry
	if all || want["User"] {
		for _, u := range a.sortedUsers() {
			entries = append(entries, gaadEntry{kind: 0, key: strings.ToLower(u.Name), u: u})
		}
	}
	if all || want["Group"] {
		for _, g := range a.sortedGroups() {
			entries = append(entries, gaadEntry{kind: 1, key: strings.ToLower(g.Name), g: g})
		}
	}
	if all || want["Role"] {
		roles := make([]*role, 0, len(a.roles))
		for _, r := range a.roles {
			roles = append(roles, r)
		}
		sort.Slice(roles, func(i, j int) bool { return strings.ToLower(roles[i].Name) < strings.ToLower(roles[j].Name) })
		for _, r := range roles {
			entries = append(entries, gaadEntry{kind: 2, key: strings.ToLower(r.Name), r: r})
		}
	}

	var out getAccountAuthorizationDetailsResult
	n := 0
	for _, en := range entries {
		if !gaadAtOrAfter(en, kind, key) {
			continue
		}
		if n == limit {
			out.IsTruncated, out.Marker = true, en.marker()
			break
		}
		n++
		switch en.kind {
		case 0:
			u := en.u
			d := gaadUser{Path: u.Path, UserName: u.Name, UserId: u.UserID, Arn: a.userARN(u), CreateDate: u.Created}
			d.GroupList.Member = append([]string(nil), u.Groups...)
			d.Tags.Member = append([]tag(nil), u.Tags...)
			out.UserDetailList.Member = append(out.UserDetailList.Member, d)
		case 1:
			g := en.g
			out.GroupDetailList.Member = append(out.GroupDetailList.Member,
				gaadGroup{Path: g.Path, GroupName: g.Name, GroupId: g.GroupID, Arn: a.groupARN(g), CreateDate: g.Created})
		case 2:
			r := en.r
			out.RoleDetailList.Member = append(out.RoleDetailList.Member,
				gaadRole{Path: r.Path, RoleName: r.Name, RoleId: r.RoleID, Arn: a.roleARN(r), CreateDate: r.Created,
					AssumeRolePolicyDocument: url.QueryEscape(trustPolicy(r))})
		}
	}
	return out, nil
}

// trustPolicy renders a role's trust as the JSON policy document IAM would hold for it.
// IAM answers it URL-encoded in GetAccountAuthorizationDetails and GetRole.
func trustPolicy(r *role) string {
	type statement struct {
		Effect    string                       `json:"Effect"`
		Principal map[string]any               `json:"Principal"`
		Action    string                       `json:"Action"`
		Condition map[string]map[string]string `json:"Condition,omitempty"`
	}
	var principals []string
	for _, t := range r.TrustedAccounts {
		if t == "*" {
			principals = []string{"*"}
			break
		}
		principals = append(principals, "arn:aws:iam::"+t+":root")
	}
	var p any = principals
	if len(principals) == 1 {
		p = principals[0] // IAM stores a single principal as a string
	}
	st := statement{Effect: "Allow", Principal: map[string]any{"AWS": p}, Action: "sts:AssumeRole"}
	if r.ExternalID != "" {
		st.Condition = map[string]map[string]string{"StringEquals": {"sts:ExternalId": r.ExternalID}}
	}
	doc, _ := json.Marshal(struct {
		Version   string      `json:"Version"`
		Statement []statement `json:"Statement"`
	}{"2012-10-17", []statement{st}})
	return string(doc)
}

type listAccountAliasesResult struct {
	AccountAliases acctList[string] `xml:"AccountAliases"`
	IsTruncated    bool             `xml:"IsTruncated"`
}

// iamListAccountAliases answers the account's alias (an account has at most one).
func iamListAccountAliases(_ *Server, q *request) (any, *apiError) {
	if _, e := acctMaxItems(q); e != nil {
		return nil, e
	}
	var out listAccountAliasesResult
	out.AccountAliases.Member = []string{}
	if q.acct.Alias != "" {
		out.AccountAliases.Member = append(out.AccountAliases.Member, q.acct.Alias)
	}
	return out, nil
}

type summaryEntry struct {
	Key   string `xml:"key"`
	Value int    `xml:"value"`
}

type getAccountSummaryResult struct {
	SummaryMap []summaryEntry `xml:"SummaryMap>entry"`
}

// iamGetAccountSummary answers counts from the account's state and IAM's default quotas.
// Entities the sandbox does not model (policies, certificates, instance profiles, providers)
// count 0; the root user has no password or MFA device in the sandbox.
func iamGetAccountSummary(_ *Server, q *request) (any, *apiError) {
	a := q.acct
	mfa := 0
	for _, u := range a.users {
		if u.MFA {
			mfa++
		}
	}
	rootKeys := 0
	if len(a.rootKeys) > 0 {
		rootKeys = 1
	}
	m := map[string]int{
		"Users": len(a.users), "UsersQuota": 5000,
		"Groups": len(a.groups), "GroupsQuota": 300,
		"Roles": len(a.roles), "RolesQuota": 1000,
		"AccessKeysPerUserQuota": 2, "GroupsPerUserQuota": 10, "SigningCertificatesPerUserQuota": 2,
		"MFADevices": mfa, "MFADevicesInUse": mfa,
		"AccountMFAEnabled": 0, "AccountAccessKeysPresent": rootKeys, "AccountPasswordPresent": 0,
		"AccountSigningCertificatesPresent": 0,
		"ServerCertificates":                0, "ServerCertificatesQuota": 20,
		"UserPolicySizeQuota": 2048, "GroupPolicySizeQuota": 5120, "RolePolicySizeQuota": 10240,
		"AssumeRolePolicySizeQuota":    2048,
		"AttachedPoliciesPerUserQuota": 10, "AttachedPoliciesPerGroupQuota": 10, "AttachedPoliciesPerRoleQuota": 10,
		"Policies": 0, "PoliciesQuota": 1500, "PolicySizeQuota": 6144,
		"PolicyVersionsInUse": 0, "PolicyVersionsInUseQuota": 10000, "VersionsPerPolicyQuota": 5,
		"InstanceProfiles": 0, "InstanceProfilesQuota": 1000, "Providers": 0,
		"GlobalEndpointTokenVersion": 1,
	}
	var out getAccountSummaryResult
	for k, v := range m {
		out.SummaryMap = append(out.SummaryMap, summaryEntry{Key: k, Value: v})
	}
	sort.Slice(out.SummaryMap, func(i, j int) bool { return out.SummaryMap[i].Key < out.SummaryMap[j].Key })
	return out, nil
}
