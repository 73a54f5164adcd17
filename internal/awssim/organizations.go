package awssim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// AWS Organizations (awsJson1_1, X-Amz-Target "AWSOrganizationsV20161128."). Organizations is a
// global service: the request's region is ignored. The caller's account decides everything:
// an account in no organization is answered AWSOrganizationsNotInUseException (except by
// CreateOrganization), a member account may only DescribeOrganization, and every other action
// needs the management account (AccessDeniedException otherwise). Delegated administrators and
// IAM policies are not modelled: any principal of the management account may call every action.
//
// Modelled: CreateOrganization, DescribeOrganization, ListRoots, ListAccounts,
// ListAccountsForParent, ListOrganizationalUnitsForParent, ListChildren, ListParents,
// DescribeAccount, DescribeOrganizationalUnit, CreateOrganizationalUnit, MoveAccount,
// TagResource, UntagResource, ListTagsForResource. Every error is HTTP 400 (the API model gives
// its errors no other status); InvalidInputException and ConstraintViolationException carry a
// Reason as AWS's do.
var orgActions = map[string]handler{
	"CreateOrganization":               orgCreateOrganization,
	"DescribeOrganization":             orgDescribeOrganization,
	"ListRoots":                        orgListRoots,
	"ListAccounts":                     orgListAccounts,
	"ListAccountsForParent":            orgListAccountsForParent,
	"ListOrganizationalUnitsForParent": orgListOUsForParent,
	"ListChildren":                     orgListChildren,
	"ListParents":                      orgListParents,
	"DescribeAccount":                  orgDescribeAccount,
	"DescribeOrganizationalUnit":       orgDescribeOU,
	"CreateOrganizationalUnit":         orgCreateOU,
	"MoveAccount":                      orgMoveAccount,
	"TagResource":                      orgTagResource,
	"UntagResource":                    orgUntagResource,
	"ListTagsForResource":              orgListTags,
}

const (
	// orgMaxPage is the model's MaxResults range (1..20) and the page size when it is absent.
	orgMaxPage = 20
	// orgMaxDepth is how deep OUs nest below the root (AWS quota: five levels).
	orgMaxDepth = 5
	// orgMaxOUs is AWS's quota of OUs in an organization.
	orgMaxOUs  = 1000
	orgMaxTags = 50

	orgIDAlph = "abcdefghijklmnopqrstuvwxyz0123456789"
)

var (
	orgAccountIDRE = regexp.MustCompile(`^\d{12}$`)
	orgRootIDRE    = regexp.MustCompile(`^r-[0-9a-z]{4,32}$`)
	orgOUIDRE      = regexp.MustCompile(`^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$`)
)

// orgWorld is the sandbox's AWS Organizations state; it lives in world.orgs.
type orgWorld struct {
	// rng generates organization, root and OU ids. It is separate from world.rng so that adding
	// an organization to a scenario does not change the ids and secrets generated elsewhere.
	rng       *rand.Rand
	byAccount map[string]*organization // member account id -> its organization
	// profiles are the scenario's account names and emails, used when an account joins.
	profiles map[string]orgProfile
}

type orgProfile struct{ Name, Email string }

type organization struct {
	ID         string
	FeatureSet string
	Management string // account id
	root       *orgNode
	nodes      map[string]*orgNode // root and OUs by id
	accounts   map[string]*orgAccount
	members    []string // account ids in join order, as ListAccounts answers
}

// orgNode is the root or an OU.
type orgNode struct {
	ID       string
	Name     string
	parent   *orgNode // nil for the root
	children []*orgNode
	accounts []string // account ids in join order
	tags     []tag
}

type orgAccount struct {
	ID, Name, Email string
	Status          string // ACTIVE | SUSPENDED
	JoinedMethod    string // INVITED | CREATED
	Joined          time.Time
	parent          *orgNode
	tags            []tag
}

func newOrgWorld(seed uint64) *orgWorld {
	return &orgWorld{
		rng:       rand.New(rand.NewPCG(seed^0x6f7267, seed+0x6f7267)),
		byAccount: map[string]*organization{},
		profiles:  map[string]orgProfile{},
	}
}

func (ow *orgWorld) randID(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = orgIDAlph[ow.rng.IntN(len(orgIDAlph))]
	}
	return string(b)
}

func (ow *orgWorld) newOrganization(mgmt, featureSet string, joined time.Time) *organization {
	o := &organization{ID: "o-" + ow.randID(10), FeatureSet: featureSet, Management: mgmt,
		nodes: map[string]*orgNode{}, accounts: map[string]*orgAccount{}}
	o.root = &orgNode{ID: "r-" + ow.randID(4), Name: "Root"}
	o.nodes[o.root.ID] = o.root
	// AWS lists the management account as INVITED: it joined the organization it created.
	ow.join(o, mgmt, "INVITED", joined, o.root)
	return o
}

func (ow *orgWorld) join(o *organization, id, method string, at time.Time, parent *orgNode) *orgAccount {
	p := ow.profiles[id]
	a := &orgAccount{ID: id, Name: p.Name, Email: p.Email, Status: "ACTIVE", JoinedMethod: method, Joined: at, parent: parent}
	if a.Name == "" {
		a.Name = "Account " + id
	}
	if a.Email == "" {
		a.Email = "aws+" + id + "@example.com"
	}
	o.accounts[id] = a
	o.members = append(o.members, id)
	parent.accounts = append(parent.accounts, id)
	ow.byAccount[id] = o
	return a
}

func (ow *orgWorld) newOU(o *organization, parent *orgNode, name string) *orgNode {
	for {
		id := "ou-" + strings.TrimPrefix(o.root.ID, "r-") + "-" + ow.randID(8)
		if o.nodes[id] == nil {
			n := &orgNode{ID: id, Name: name, parent: parent}
			o.nodes[id] = n
			parent.children = append(parent.children, n)
			return n
		}
	}
}

// seedOrganization loads the scenario's organization section (already validated) and every
// account's name and email.
func (ow *orgWorld) seedOrganization(sc *Scenario, start time.Time) {
	for _, a := range sc.Accounts {
		name := a.Name
		if name == "" {
			name = a.Alias
		}
		ow.profiles[a.ID] = orgProfile{Name: name, Email: a.Email}
	}
	so := sc.Organization
	if so == nil {
		return
	}
	joined := start.Add(-365 * day)
	o := ow.newOrganization(so.ManagementAccount, "ALL", joined)
	// OUs may name a parent listed after them: create them in dependency order.
	byName := map[string]*orgNode{}
	for len(byName) < len(so.OUs) {
		progress := false
		for _, ou := range so.OUs {
			if byName[ou.Name] != nil {
				continue
			}
			parent := o.root
			if ou.Parent != "" && ou.Parent != "root" {
				if parent = byName[ou.Parent]; parent == nil {
					continue
				}
			}
			n := ow.newOU(o, parent, ou.Name)
			n.tags = sortedTags(ou.Tags)
			byName[ou.Name] = n
			progress = true
		}
		if !progress {
			break // a cycle; validation refuses it
		}
	}
	placed := map[string]*orgNode{}
	for _, ou := range so.OUs {
		for _, id := range ou.Accounts {
			placed[id] = byName[ou.Name]
		}
	}
	if n := placed[so.ManagementAccount]; n != nil {
		// newOrganization put the management account in the root, alone so far: move it.
		o.root.accounts = o.root.accounts[:0]
		o.accounts[so.ManagementAccount].parent = n
		n.accounts = append(n.accounts, so.ManagementAccount)
	}
	for _, a := range sc.Accounts {
		if a.ID == so.ManagementAccount {
			continue
		}
		parent := o.root
		if n := placed[a.ID]; n != nil {
			parent = n
		}
		ow.join(o, a.ID, "CREATED", joined, parent)
	}
	for _, id := range so.Suspended {
		if a := o.accounts[id]; a != nil {
			a.Status = "SUSPENDED"
		}
	}
	for id, tags := range so.AccountTags {
		if a := o.accounts[id]; a != nil {
			a.tags = sortedTags(tags)
		}
	}
}

func sortedTags(m map[string]string) []tag {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]tag, 0, len(keys))
	for _, k := range keys {
		out = append(out, tag{Key: k, Value: m[k]})
	}
	return out
}

// Wire shapes.

type orgOrganizationOut struct {
	Arn                  string          `json:"Arn"`
	AvailablePolicyTypes []orgPolicyType `json:"AvailablePolicyTypes"`
	FeatureSet           string          `json:"FeatureSet"`
	ID                   string          `json:"Id"`
	MasterAccountArn     string          `json:"MasterAccountArn"`
	MasterAccountEmail   string          `json:"MasterAccountEmail"`
	MasterAccountID      string          `json:"MasterAccountId"`
}

type orgPolicyType struct {
	Type   string `json:"Type"`
	Status string `json:"Status"`
}

type orgRootOut struct {
	Arn         string          `json:"Arn"`
	ID          string          `json:"Id"`
	Name        string          `json:"Name"`
	PolicyTypes []orgPolicyType `json:"PolicyTypes"`
}

type orgAccountOut struct {
	Arn             string   `json:"Arn"`
	Email           string   `json:"Email"`
	ID              string   `json:"Id"`
	JoinedMethod    string   `json:"JoinedMethod"`
	JoinedTimestamp jsonTime `json:"JoinedTimestamp"`
	Name            string   `json:"Name"`
	State           string   `json:"State"`
	Status          string   `json:"Status"`
}

type orgOUOut struct {
	Arn  string `json:"Arn"`
	ID   string `json:"Id"`
	Name string `json:"Name"`
	Path string `json:"Path"`
}

type orgChildOut struct {
	ID   string `json:"Id"`
	Type string `json:"Type"`
}

func (o *organization) arn(kind, id string) string {
	return "arn:aws:organizations::" + o.Management + ":" + kind + "/" + o.ID + "/" + id
}

func (o *organization) out() orgOrganizationOut {
	m := o.accounts[o.Management]
	return orgOrganizationOut{
		Arn:                  "arn:aws:organizations::" + o.Management + ":organization/" + o.ID,
		AvailablePolicyTypes: []orgPolicyType{}, FeatureSet: o.FeatureSet, ID: o.ID,
		MasterAccountArn: o.arn("account", o.Management), MasterAccountEmail: m.Email, MasterAccountID: o.Management,
	}
}

func (o *organization) accountOut(a *orgAccount) orgAccountOut {
	// Status is deprecated in favour of State; AWS still answers both.
	return orgAccountOut{Arn: o.arn("account", a.ID), Email: a.Email, ID: a.ID, JoinedMethod: a.JoinedMethod,
		JoinedTimestamp: epoch(a.Joined), Name: a.Name, State: a.Status, Status: a.Status}
}

func (o *organization) ouOut(n *orgNode) orgOUOut {
	path := ""
	for p := n; p != nil; p = p.parent {
		path = p.ID + "/" + path
	}
	return orgOUOut{Arn: o.arn("ou", n.ID), ID: n.ID, Name: n.Name, Path: o.ID + "/" + path}
}

// depth is 0 for the root, 1 for an OU directly below it, and so on.
func (n *orgNode) depth() int {
	d := 0
	for p := n.parent; p != nil; p = p.parent {
		d++
	}
	return d
}

func nodeType(n *orgNode) string {
	if n.parent == nil {
		return "ROOT"
	}
	return "ORGANIZATIONAL_UNIT"
}

// Errors.

func orgErr(code, format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, code, format, args...)
}

func orgReason(code, reason, format string, args ...any) *apiError {
	e := orgErr(code, format, args...)
	e.Fields = map[string]string{"Reason": reason}
	return e
}

func orgInvalid(reason, format string, args ...any) *apiError {
	return orgReason("InvalidInputException", reason, format, args...)
}

func orgRequired(field string) *apiError {
	return orgInvalid("INPUT_REQUIRED", "You must specify a value for %s.", field)
}

// orgDecode reads the JSON body; the parser's own message is not echoed.
func orgDecode(q *request, v any) *apiError {
	if len(bytes.TrimSpace(q.body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(q.body, v); err != nil {
		return orgErr("SerializationException", "The request body is not a JSON object of the shape %s expects.", q.action)
	}
	return nil
}

// orgCaller returns the caller's organization, for actions any member account may call.
// Accounts in no organization get AWSOrganizationsNotInUseException.
func orgCaller(s *Server, q *request) (*organization, *apiError) {
	o := s.world.orgs.byAccount[q.acct.ID]
	if o == nil {
		return nil, orgErr("AWSOrganizationsNotInUseException", "Your account is not a member of an organization.")
	}
	return o, nil
}

// orgManagement is orgCaller for actions only the management account may call.
func orgManagement(s *Server, q *request) (*organization, *apiError) {
	o, e := orgCaller(s, q)
	if e != nil {
		return nil, e
	}
	if o.Management != q.acct.ID {
		return nil, orgErr("AccessDeniedException", "You don't have permissions to access this resource.")
	}
	return o, nil
}

// orgPage returns the window [start, end) of n items for a NextToken and MaxResults (1..20,
// default 20) and the next page's token. Tokens are opaque offsets bound to what they list.
func orgPage(kind string, token *string, maxResults *int, n int) (start, end int, next *string, e *apiError) {
	size := orgMaxPage
	if maxResults != nil {
		if *maxResults < 1 {
			return 0, 0, nil, orgInvalid("MIN_VALUE_EXCEEDED", "You provided a value that is lower than the minimum allowed for MaxResults (1).")
		}
		if *maxResults > orgMaxPage {
			return 0, 0, nil, orgInvalid("MAX_VALUE_EXCEEDED", "You provided a value that is greater than the maximum allowed for MaxResults (%d).", orgMaxPage)
		}
		size = *maxResults
	}
	if token != nil && *token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(*token)
		cut := strings.LastIndex(string(raw), ":")
		if err != nil || cut < 0 || string(raw[:cut]) != kind {
			return 0, 0, nil, orgInvalid("INVALID_NEXT_TOKEN", "The NextToken value is not valid.")
		}
		i, aerr := strconv.Atoi(string(raw[cut+1:]))
		if aerr != nil || i < 0 || i > n {
			return 0, 0, nil, orgInvalid("INVALID_NEXT_TOKEN", "The NextToken value is not valid.")
		}
		start = i
	}
	end = min(start+size, n)
	if end < n {
		t := base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + strconv.Itoa(end)))
		next = &t
	}
	return start, end, next, nil
}

// orgParent resolves a ParentId (root or OU) of the caller's organization.
func orgParent(o *organization, id *string) (*orgNode, *apiError) {
	if id == nil || *id == "" {
		return nil, orgRequired("ParentId")
	}
	if !orgRootIDRE.MatchString(*id) && !orgOUIDRE.MatchString(*id) {
		return nil, orgInvalid("INVALID_PATTERN", "The parent ID %q is not a root ID (r-...) or an OU ID (ou-...-...).", *id)
	}
	n := o.nodes[*id]
	if n == nil {
		return nil, orgErr("ParentNotFoundException", "We can't find a root or OU with the ParentId that you specified.")
	}
	return n, nil
}

func orgAccountID(id *string, field string) (string, *apiError) {
	if id == nil || *id == "" {
		return "", orgRequired(field)
	}
	if !orgAccountIDRE.MatchString(*id) {
		return "", orgInvalid("INVALID_PATTERN", "The %s %q is not 12 digits.", field, *id)
	}
	return *id, nil
}

// Actions.

func orgCreateOrganization(s *Server, q *request) (any, *apiError) {
	var in struct {
		FeatureSet string
	}
	if e := orgDecode(q, &in); e != nil {
		return nil, e
	}
	switch in.FeatureSet {
	case "":
		in.FeatureSet = "ALL"
	case "ALL", "CONSOLIDATED_BILLING":
	default:
		return nil, orgInvalid("INVALID_ENUM", "FeatureSet must be ALL or CONSOLIDATED_BILLING.")
	}
	ow := s.world.orgs
	if ow.byAccount[q.acct.ID] != nil {
		return nil, orgErr("AlreadyInOrganizationException", "This account is already a member of an organization. An account can belong to only one organization at a time.")
	}
	// The sandbox models no invitations: a new organization holds only its management account.
	o := ow.newOrganization(q.acct.ID, in.FeatureSet, q.now)
	return map[string]any{"Organization": o.out()}, nil
}

func orgDescribeOrganization(s *Server, q *request) (any, *apiError) {
	o, e := orgCaller(s, q)
	if e != nil {
		return nil, e
	}
	return map[string]any{"Organization": o.out()}, nil
}

type orgListInput struct {
	MaxResults *int
	NextToken  *string
	ParentId   *string
	ChildId    *string
	ChildType  string
}

// orgList is the shared answer of the List* actions: items under key, and NextToken.
func orgList(key string, items any, next *string) map[string]any {
	out := map[string]any{key: items}
	if next != nil {
		out["NextToken"] = *next
	}
	return out
}

func orgListRoots(s *Server, q *request) (any, *apiError) {
	o, e := orgManagement(s, q)
	if e != nil {
		return nil, e
	}
	var in orgListInput
	if e := orgDecode(q, &in); e != nil {
		return nil, e
	}
	start, end, next, e := orgPage("roots", in.NextToken, in.MaxResults, 1)
	if e != nil {
		return nil, e
	}
	roots := []orgRootOut{}
	if start < end {
		roots = append(roots, orgRootOut{Arn: o.arn("root", o.root.ID), ID: o.root.ID, Name: o.root.Name, PolicyTypes: []orgPolicyType{}})
	}
	return orgList("Roots", roots, next), nil
}

func (o *organization) accountsPage(kind string, ids []string, in orgListInput) (any, *apiError) {
	start, end, next, e := orgPage(kind, in.NextToken, in.MaxResults, len(ids))
	if e != nil {
		return nil, e
	}
	out := make([]orgAccountOut, 0, end-start)
	for _, id := range ids[start:end] {
		out = append(out, o.accountOut(o.accounts[id]))
	}
	return orgList("Accounts", out, next), nil
}

func orgListAccounts(s *Server, q *request) (any, *apiError) {
	o, e := orgManagement(s, q)
	if e != nil {
		return nil, e
	}
	var in orgListInput
	if e := orgDecode(q, &in); e != nil {
		return nil, e
	}
	return o.accountsPage("accounts", o.members, in)
}

func orgListAccountsForParent(s *Server, q *request) (any, *apiError) {
	o, e := orgManagement(s, q)
	if e != nil {
		return nil, e
	}
	var in orgListInput
	if e := orgDecode(q, &in); e != nil {
		return nil, e
	}
	n, e := orgParent(o, in.ParentId)
	if e != nil {
		return nil, e
	}
	return o.accountsPage("accounts/"+n.ID, n.accounts, in)
}

func orgListOUsForParent(s *Server, q *request) (any, *apiError) {
	o, e := orgManagement(s, q)
	if e != nil {
		return nil, e
	}
	var in orgListInput
	if e := orgDecode(q, &in); e != nil {
		return nil, e
	}
	n, e := orgParent(o, in.ParentId)
	if e != nil {
		return nil, e
	}
	start, end, next, e := orgPage("ous/"+n.ID, in.NextToken, in.MaxResults, len(n.children))
	if e != nil {
		return nil, e
	}
	out := make([]orgOUOut, 0, end-start)
	for _, c := range n.children[start:end] {
		out = append(out, o.ouOut(c))
	}
	return orgList("OrganizationalUnits", out, next), nil
}

func orgListChildren(s *Server, q *request) (any, *apiError) {
	o, e := orgManagement(s, q)
	if e != nil {
		return nil, e
	}
	var in orgListInput
	if e := orgDecode(q, &in); e != nil {
		return nil, e
	}
	n, e := orgParent(o, in.ParentId)
	if e != nil {
		return nil, e
	}
	var ids []string
	switch in.ChildType {
	case "":
		return nil, orgRequired("ChildType")
	case "ACCOUNT":
		ids = n.accounts
	case "ORGANIZATIONAL_UNIT":
		for _, c := range n.children {
			ids = append(ids, c.ID)
		}
	default:
		return nil, orgInvalid("INVALID_ENUM", "ChildType must be ACCOUNT or ORGANIZATIONAL_UNIT.")
	}
	start, end, next, e := orgPage("children/"+in.ChildType+"/"+n.ID, in.NextToken, in.MaxResults, len(ids))
	if e != nil {
		return nil, e
	}
	out := make([]orgChildOut, 0, end-start)
	for _, id := range ids[start:end] {
		out = append(out, orgChildOut{ID: id, Type: in.ChildType})
	}
	return orgList("Children", out, next), nil
}

func orgListParents(s *Server, q *request) (any, *apiError) {
	o, e := orgManagement(s, q)
	if e != nil {
		return nil, e
	}
	var in orgListInput
	if e := orgDecode(q, &in); e != nil {
		return nil, e
	}
	if in.ChildId == nil || *in.ChildId == "" {
		return nil, orgRequired("ChildId")
	}
	id := *in.ChildId
	var parent *orgNode
	switch {
	case orgAccountIDRE.MatchString(id):
		if a := o.accounts[id]; a != nil {
			parent = a.parent
		}
	case orgOUIDRE.MatchString(id):
		if n := o.nodes[id]; n != nil {
			parent = n.parent
		}
	default:
		return nil, orgInvalid("INVALID_PATTERN", "The child ID %q is not an account ID or an OU ID.", id)
	}
	if parent == nil {
		return nil, orgErr("ChildNotFoundException", "We can't find an organizational unit (OU) or AWS account with the ChildId that you specified.")
	}
	start, end, next, e := orgPage("parents/"+id, in.NextToken, in.MaxResults, 1)
	if e != nil {
		return nil, e
	}
	out := []orgChildOut{}
	if start < end {
		out = append(out, orgChildOut{ID: parent.ID, Type: nodeType(parent)})
	}
	return orgList("Parents", out, next), nil
}

func orgDescribeAccount(s *Server, q *request) (any, *apiError) {
	o, e := orgManagement(s, q)
	if e != nil {
		return nil, e
	}
	var in struct{ AccountId *string }
	if e := orgDecode(q, &in); e != nil {
		return nil, e
	}
	id, e := orgAccountID(in.AccountId, "AccountId")
	if e != nil {
		return nil, e
	}
	a := o.accounts[id]
	if a == nil {
		return nil, orgErr("AccountNotFoundException", "You specified an account that doesn't exist.")
	}
	return map[string]any{"Account": o.accountOut(a)}, nil
}

func orgDescribeOU(s *Server, q *request) (any, *apiError) {
	o, e := orgManagement(s, q)
	if e != nil {
		return nil, e
	}
	var in struct{ OrganizationalUnitId *string }
	if e := orgDecode(q, &in); e != nil {
		return nil, e
	}
	if in.OrganizationalUnitId == nil || *in.OrganizationalUnitId == "" {
		return nil, orgRequired("OrganizationalUnitId")
	}
	if !orgOUIDRE.MatchString(*in.OrganizationalUnitId) {
		return nil, orgInvalid("INVALID_PATTERN", "The OU ID %q is not an OU ID (ou-...-...).", *in.OrganizationalUnitId)
	}
	n := o.nodes[*in.OrganizationalUnitId]
	if n == nil || n.parent == nil {
		return nil, orgErr("OrganizationalUnitNotFoundException", "We can't find an OU with the OrganizationalUnitId that you specified.")
	}
	return map[string]any{"OrganizationalUnit": o.ouOut(n)}, nil
}

type orgTagIn struct {
	Key   *string
	Value *string
}

// orgCheckTags validates tags as TagResource and CreateOrganizationalUnit do.
func orgCheckTags(tags []orgTagIn) ([]tag, *apiError) {
	out := make([]tag, 0, len(tags))
	seen := map[string]bool{}
	for _, t := range tags {
		if t.Key == nil || t.Value == nil {
			return nil, orgRequired("Tags.Key and Tags.Value")
		}
		k, v := *t.Key, *t.Value
		if len(k) < 1 || len(k) > 128 {
			return nil, orgInvalid("MAX_LENGTH_EXCEEDED", "A tag key must be 1 to 128 characters long.")
		}
		if len(v) > 256 {
			return nil, orgInvalid("MAX_LENGTH_EXCEEDED", "A tag value must be at most 256 characters long.")
		}
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return nil, orgInvalid("INVALID_SYSTEM_TAGS_PARAMETER", "Tag keys starting with aws: are reserved for AWS.")
		}
		if seen[k] {
			return nil, orgInvalid("DUPLICATE_TAG_KEY", "The tag key %q appears more than once.", k)
		}
		seen[k] = true
		out = append(out, tag{Key: k, Value: v})
	}
	return out, nil
}

// orgMergeTags sets tags on existing ones (a key present is overwritten), within the quota.
func orgMergeTags(have, set []tag) ([]tag, *apiError) {
	out := append([]tag(nil), have...)
	for _, t := range set {
		found := false
		for i := range out {
			if out[i].Key == t.Key {
				out[i].Value, found = t.Value, true
				break
			}
		}
		if !found {
			out = append(out, t)
		}
	}
	if len(out) > orgMaxTags {
		return nil, orgReason("ConstraintViolationException", "MAX_TAG_LIMIT_EXCEEDED", "You have exceeded the number of tags allowed on this resource (%d).", orgMaxTags)
	}
	return out, nil
}

func orgCreateOU(s *Server, q *request) (any, *apiError) {
	o, e := orgManagement(s, q)
	if e != nil {
		return nil, e
	}
	var in struct {
		ParentId *string
		Name     *string
		Tags     []orgTagIn
	}
	if e := orgDecode(q, &in); e != nil {
		return nil, e
	}
	if in.Name == nil || *in.Name == "" {
		return nil, orgRequired("Name")
	}
	if len(*in.Name) > 128 {
		return nil, orgInvalid("MAX_LENGTH_EXCEEDED", "An OU name must be at most 128 characters long.")
	}
	parent, e := orgParent(o, in.ParentId)
	if e != nil {
		return nil, e
	}
	tags, e := orgCheckTags(in.Tags)
	if e != nil {
		return nil, e
	}
	if len(tags) > orgMaxTags {
		return nil, orgReason("ConstraintViolationException", "MAX_TAG_LIMIT_EXCEEDED", "You have exceeded the number of tags allowed on this resource (%d).", orgMaxTags)
	}
	for _, c := range parent.children {
		if c.Name == *in.Name {
			return nil, orgErr("DuplicateOrganizationalUnitException", "An OU with the same name already exists.")
		}
	}
	if parent.depth()+1 > orgMaxDepth {
		return nil, orgReason("ConstraintViolationException", "OU_DEPTH_LIMIT_EXCEEDED", "You attempted to create an OU tree that is too many levels deep.")
	}
	if len(o.nodes)-1 >= orgMaxOUs {
		return nil, orgReason("ConstraintViolationException", "OU_NUMBER_LIMIT_EXCEEDED", "You attempted to exceed the number of OUs that you can have in an organization.")
	}
	n := s.world.orgs.newOU(o, parent, *in.Name)
	n.tags = tags
	return map[string]any{"OrganizationalUnit": o.ouOut(n)}, nil
}

func orgMoveAccount(s *Server, q *request) (any, *apiError) {
	o, e := orgManagement(s, q)
	if e != nil {
		return nil, e
	}
	var in struct {
		AccountId           *string
		SourceParentId      *string
		DestinationParentId *string
	}
	if e := orgDecode(q, &in); e != nil {
		return nil, e
	}
	id, e := orgAccountID(in.AccountId, "AccountId")
	if e != nil {
		return nil, e
	}
	if in.SourceParentId == nil || *in.SourceParentId == "" {
		return nil, orgRequired("SourceParentId")
	}
	if in.DestinationParentId == nil || *in.DestinationParentId == "" {
		return nil, orgRequired("DestinationParentId")
	}
	a := o.accounts[id]
	if a == nil {
		return nil, orgErr("AccountNotFoundException", "You specified an account that doesn't exist.")
	}
	src := o.nodes[*in.SourceParentId]
	// A source that exists but does not hold the account is answered like an unknown one: it is
	// not the account's source parent. (AWS's docs do not say which error it gives.)
	if src == nil || a.parent != src {
		return nil, orgErr("SourceParentNotFoundException", "We can't find a source root or OU with the ParentId that you specified.")
	}
	dst := o.nodes[*in.DestinationParentId]
	if dst == nil {
		return nil, orgErr("DestinationParentNotFoundException", "We can't find the destination container (a root or OU) with the ParentId that you specified.")
	}
	if dst == src {
		return nil, orgErr("DuplicateAccountException", "That account is already present in the specified destination.")
	}
	for i, aid := range src.accounts {
		if aid == id {
			src.accounts = append(src.accounts[:i], src.accounts[i+1:]...)
			break
		}
	}
	dst.accounts = append(dst.accounts, id)
	a.parent = dst
	return struct{}{}, nil
}

// orgTagTarget returns the tags of a root, OU or account of the organization.
func orgTagTarget(o *organization, id *string) (*[]tag, *apiError) {
	if id == nil || *id == "" {
		return nil, orgRequired("ResourceId")
	}
	switch {
	case orgAccountIDRE.MatchString(*id):
		if a := o.accounts[*id]; a != nil {
			return &a.tags, nil
		}
	case orgRootIDRE.MatchString(*id), orgOUIDRE.MatchString(*id):
		if n := o.nodes[*id]; n != nil {
			return &n.tags, nil
		}
	default:
		// Policies and resource policies are taggable in AWS but not modelled.
		return nil, orgInvalid("INVALID_PATTERN_TARGET_ID", "The resource ID %q is not a root, OU or account ID.", *id)
	}
	return nil, orgErr("TargetNotFoundException", "We can't find a root, OU, account, or policy with the TargetId that you specified.")
}

func orgTagResource(s *Server, q *request) (any, *apiError) {
	o, e := orgManagement(s, q)
	if e != nil {
		return nil, e
	}
	var in struct {
		ResourceId *string
		Tags       []orgTagIn
	}
	if e := orgDecode(q, &in); e != nil {
		return nil, e
	}
	target, e := orgTagTarget(o, in.ResourceId)
	if e != nil {
		return nil, e
	}
	if len(in.Tags) == 0 {
		return nil, orgRequired("Tags")
	}
	tags, e := orgCheckTags(in.Tags)
	if e != nil {
		return nil, e
	}
	merged, e := orgMergeTags(*target, tags)
	if e != nil {
		return nil, e
	}
	*target = merged
	return struct{}{}, nil
}

func orgUntagResource(s *Server, q *request) (any, *apiError) {
	o, e := orgManagement(s, q)
	if e != nil {
		return nil, e
	}
	var in struct {
		ResourceId *string
		TagKeys    []string
	}
	if e := orgDecode(q, &in); e != nil {
		return nil, e
	}
	target, e := orgTagTarget(o, in.ResourceId)
	if e != nil {
		return nil, e
	}
	if len(in.TagKeys) == 0 {
		return nil, orgRequired("TagKeys")
	}
	drop := map[string]bool{}
	for _, k := range in.TagKeys {
		drop[k] = true
	}
	kept := []tag{}
	for _, t := range *target {
		if !drop[t.Key] {
			kept = append(kept, t)
		}
	}
	*target = kept
	return struct{}{}, nil
}

func orgListTags(s *Server, q *request) (any, *apiError) {
	o, e := orgManagement(s, q)
	if e != nil {
		return nil, e
	}
	var in struct {
		ResourceId *string
		NextToken  *string
	}
	if e := orgDecode(q, &in); e != nil {
		return nil, e
	}
	target, e := orgTagTarget(o, in.ResourceId)
	if e != nil {
		return nil, e
	}
	// ListTagsForResource takes no MaxResults; all of a resource's (at most 50) tags fit one
	// page, so the sandbox never hands out a NextToken here.
	if in.NextToken != nil && *in.NextToken != "" {
		return nil, orgInvalid("INVALID_NEXT_TOKEN", "The NextToken value is not valid.")
	}
	return map[string]any{"Tags": append([]tag{}, (*target)...)}, nil
}
