package awssim

import (
	"crypto/sha256"
	"encoding/base64"
	"regexp"
	"sort"
	"strings"
	"time"
)

// IAM users, tags and groups.
var iamUserActions = map[string]handler{
	"CreateUser":          iamCreateUser,
	"GetUser":             iamGetUser,
	"DeleteUser":          iamDeleteUser,
	"ListUsers":           iamListUsers,
	"TagUser":             iamTagUser,
	"UntagUser":           iamUntagUser,
	"ListUserTags":        iamListUserTags,
	"CreateGroup":         iamCreateGroup,
	"GetGroup":            iamGetGroup,
	"AddUserToGroup":      iamAddUserToGroup,
	"RemoveUserFromGroup": iamRemoveUserFromGroup,
	"ListGroupsForUser":   iamListGroupsForUser,
}

// IAM quotas the sandbox enforces (IAM User Guide, "IAM and AWS STS quotas").
const (
	maxTagsPerUser     = 50
	maxGroupsPerUser   = 10
	maxGroupsPerAcct   = 300
	defaultListMaxItem = 100
	maxListMaxItem     = 1000
)

// xmlUser is IAM's User shape.
type xmlUser struct {
	Path             string     `xml:"Path"`
	UserName         string     `xml:"UserName"`
	UserId           string     `xml:"UserId"`
	Arn              string     `xml:"Arn"`
	CreateDate       time.Time  `xml:"CreateDate"`
	PasswordLastUsed *time.Time `xml:"PasswordLastUsed,omitempty"`
	// Tags is a pointer: encoding/xml writes an empty <Tags></Tags> for a nil slice under a
	// "Tags>member" path, and IAM sends no Tags element where it lists none (ListUsers, GetGroup).
	Tags *xmlTagList `xml:"Tags,omitempty"`
}

type xmlTagList struct {
	Member []tag `xml:"member"`
}

func userXML(a *account, u *user, withTags bool) xmlUser {
	x := xmlUser{Path: u.Path, UserName: u.Name, UserId: u.UserID, Arn: a.userARN(u), CreateDate: u.Created}
	if !u.PasswordLastUsed.IsZero() {
		t := u.PasswordLastUsed
		x.PasswordLastUsed = &t
	}
	if withTags && len(u.Tags) > 0 {
		// A copy: the answer is written after the state lock is released, while TagUser may
		// replace tags in place.
		x.Tags = &xmlTagList{Member: append([]tag(nil), u.Tags...)}
	}
	return x
}

// userParam resolves the UserName parameter. When absent and the caller is an IAM user, IAM
// acts on the caller (GetUser, ListAccessKeys, CreateAccessKey, ... document this).
func userParam(q *request, required bool) (*user, *apiError) {
	name := q.form.Get("UserName")
	if name == "" {
		if !required && q.caller.cred.Kind == kindUser {
			return q.caller.cred.User, nil
		}
		if required {
			return nil, errValidation("1 validation error detected: Value null at 'userName' failed to satisfy constraint: Member must not be null")
		}
		return nil, errValidation("Must specify userName when calling with non-User credentials")
	}
	if !iamNameRE.MatchString(name) {
		return nil, errValidation("1 validation error detected: Value '%s' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+", name)
	}
	u := q.acct.findUser(name)
	if u == nil {
		return nil, errNoSuchEntity("The user with name %s cannot be found.", name)
	}
	return u, nil
}

// groupParam resolves the required GroupName parameter.
func groupParam(q *request) (*group, *apiError) {
	name := q.form.Get("GroupName")
	if name == "" {
		return nil, errValidation("1 validation error detected: Value null at 'groupName' failed to satisfy constraint: Member must not be null")
	}
	if !groupNameRE.MatchString(name) {
		return nil, errValidation("1 validation error detected: Value '%s' at 'groupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+", name)
	}
	g := q.acct.findGroup(name)
	if g == nil {
		return nil, errNoSuchEntity("The group with name %s cannot be found.", name)
	}
	return g, nil
}

// pathParam reads a Path parameter (default "/").
func pathParam(q *request) (string, *apiError) {
	path := q.form.Get("Path")
	if path == "" {
		path = "/"
	}
	if !pathRE.MatchString(path) || len(path) > 512 {
		return "", errValidation("1 validation error detected: Value '%s' at 'path' failed to satisfy constraint: Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)", path)
	}
	return path, nil
}

// pager is one List* request's MaxItems and Marker.
//
// IAM markers are opaque. The sandbox's marker is base64 of the list it belongs to and the sort
// key of the first item of the next page, so a page boundary survives deletions in between and a
// marker from another list (another action, user or group) is refused as IAM refuses a foreign
// marker: ValidationError "Invalid Marker.".
type pager struct {
	kind string
	max  int
	from string // sort key of the first item to answer; "" from the start
}

func newPager(q *request, kind string) (pager, *apiError) {
	p := pager{kind: kind, max: defaultListMaxItem}
	n, present, e := queryInt(q.form, "MaxItems")
	if e != nil {
		return p, e
	}
	if present {
		if n < 1 {
			return p, errValidation("1 validation error detected: Value '%d' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1", n)
		}
		if n > maxListMaxItem {
			return p, errValidation("1 validation error detected: Value '%d' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 1000", n)
		}
		p.max = n
	}
	if v, ok := q.form["Marker"]; ok && len(v) > 0 {
		m := v[0]
		if m == "" || len(m) > 320 {
			return p, errValidation("1 validation error detected: Value '%s' at 'marker' failed to satisfy constraint: Member must have length between 1 and 320", m)
		}
		raw, err := base64.RawURLEncoding.DecodeString(m)
		prefix := p.markerPrefix()
		if err != nil || !strings.HasPrefix(string(raw), prefix) || len(raw) == len(prefix) {
			return p, errValidation("Invalid Marker.")
		}
		p.from = string(raw[len(prefix):])
	}
	return p, nil
}

// markerPrefix binds a marker to its list with a short digest of the list's identity.
func (p pager) markerPrefix() string {
	sum := sha256.Sum256([]byte(p.kind))
	return "kc1" + string(sum[:6])
}

func (p pager) marker(key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(p.markerPrefix() + key))
}

// pageOf answers one page of items, whose keys are unique. Items are sorted by key ascending,
// except that equal-time access keys keep their creation order: the page starts at the item
// whose key the marker names or, when that item is gone, at the first item sorting after it.
func pageOf[T any](p pager, items []T, key func(T) string) (page []T, truncated bool, next string) {
	start := 0
	if p.from != "" {
		start = sort.Search(len(items), func(i int) bool { return key(items[i]) >= p.from })
		if start == len(items) || key(items[start]) != p.from {
			for i, it := range items {
				if key(it) == p.from {
					start = i
					break
				}
			}
		}
	}
	end := min(start+p.max, len(items))
	if end < len(items) {
		return items[start:end], true, p.marker(key(items[end]))
	}
	return items[start:end], false, ""
}

func userKey(u *user) string { return strings.ToLower(u.Name) }

type createUserResult struct {
	User xmlUser `xml:"User"`
}

func iamCreateUser(s *Server, q *request) (any, *apiError) {
	name := q.form.Get("UserName")
	if !iamNameRE.MatchString(name) {
		return nil, errValidation("1 validation error detected: Value '%s' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+ and length 1-64", name)
	}
	path, e := pathParam(q)
	if e != nil {
		return nil, e
	}
	if q.acct.findUser(name) != nil {
		return nil, errEntityExists("User with name %s already exists.", name)
	}
	tags := queryTags(q.form, "Tags")
	if e := validateTags(tags, nil); e != nil {
		return nil, e
	}
	// A new user gets a new UserId even when the name was used before: key state, groups and
	// password history belong to the old UserId and are gone with it.
	u := &user{Name: name, Path: path, UserID: s.world.newID("AIDA"), Created: q.now, Tags: tags}
	q.acct.setUser(u)
	return createUserResult{User: userXML(q.acct, u, true)}, nil
}

type getUserResult struct {
	User xmlUser `xml:"User"`
}

func iamGetUser(_ *Server, q *request) (any, *apiError) {
	u, e := userParam(q, false)
	if e != nil {
		return nil, e
	}
	return getUserResult{User: userXML(q.acct, u, true)}, nil
}

// iamDeleteUser refuses, like IAM, while the user still has a password, access keys, an MFA
// device or group memberships. (The sandbox models no signing certificates, SSH keys or
// policies, so those never block.)
func iamDeleteUser(_ *Server, q *request) (any, *apiError) {
	u, e := userParam(q, true)
	if e != nil {
		return nil, e
	}
	switch {
	case u.Login != nil:
		return nil, errDeleteConflict("Cannot delete entity, must delete login profile first.")
	case len(u.Keys) > 0:
		return nil, errDeleteConflict("Cannot delete entity, must delete access keys first.")
	case u.MFA:
		return nil, errDeleteConflict("Cannot delete entity, must delete MFA device first.")
	case len(u.Groups) > 0:
		return nil, errDeleteConflict("Cannot delete entity, must remove users from group first.")
	}
	q.acct.removeUser(u)
	return nil, nil
}

type listUsersResult struct {
	Users       []xmlUser `xml:"Users>member"`
	IsTruncated bool      `xml:"IsTruncated"`
	Marker      string    `xml:"Marker,omitempty"`
}

var pathPrefixRE = regexp.MustCompile(`^/[\x21-\x7f]*$`)

// iamListUsers lists users ordered by name. Like IAM it omits tags (GetUser and ListUserTags
// return them).
func iamListUsers(_ *Server, q *request) (any, *apiError) {
	prefix := q.form.Get("PathPrefix")
	if prefix == "" {
		prefix = "/"
	}
	if !pathPrefixRE.MatchString(prefix) || len(prefix) > 512 {
		return nil, errValidation("1 validation error detected: Value '%s' at 'pathPrefix' failed to satisfy constraint: Member must satisfy regular expression pattern: \\u002F[\\u0021-\\u007F]*", prefix)
	}
	p, e := newPager(q, "ListUsers\x00"+prefix)
	if e != nil {
		return nil, e
	}
	all := q.acct.sortedUsers()
	users := all[:0:0]
	for _, u := range all {
		if strings.HasPrefix(u.Path, prefix) {
			users = append(users, u)
		}
	}
	page, truncated, next := pageOf(p, users, userKey)
	out := listUsersResult{Users: make([]xmlUser, 0, len(page)), IsTruncated: truncated, Marker: next}
	for _, u := range page {
		out.Users = append(out.Users, userXML(q.acct, u, false))
	}
	return out, nil
}

// Tag keys and values: IAM's tagKeyType and tagValueType patterns.
var (
	tagKeyRE   = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$`)
	tagValueRE = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
)

// validateTags checks tags to add against IAM's limits, given the tags already present.
// Model constraints (lengths, patterns, at most 50 in one request) answer ValidationError;
// the aws: prefix and duplicate keys InvalidInput; more than 50 tags on the user LimitExceeded.
func validateTags(add []tag, existing []tag) *apiError {
	if len(add) > maxTagsPerUser {
		return errValidation("1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50")
	}
	keys := map[string]bool{}
	for _, t := range existing {
		keys[strings.ToLower(t.Key)] = true
	}
	seen := map[string]bool{}
	for _, t := range add {
		if len(t.Key) == 0 || len(t.Key) > 128 || !tagKeyRE.MatchString(t.Key) {
			return errValidation("1 validation error detected: Value '%s' at 'tags.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+ and length 1-128", t.Key)
		}
		if len(t.Value) > 256 || !tagValueRE.MatchString(t.Value) {
			return errValidation("1 validation error detected: Value at 'tags.member.value' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]* and length 0-256")
		}
		lk := strings.ToLower(t.Key)
		if strings.HasPrefix(lk, "aws:") {
			return errInvalidInput("User tag keys cannot start with the reserved prefix 'aws:'.")
		}
		if seen[lk] {
			return errInvalidInput("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
		}
		seen[lk] = true
		keys[lk] = true
	}
	if len(keys) > maxTagsPerUser {
		return errLimitExceeded("The number of tags has reached the maximum limit.")
	}
	return nil
}

// iamTagUser adds tags; a key already present (compared case-insensitively, as IAM does) takes
// the new key spelling and value.
func iamTagUser(_ *Server, q *request) (any, *apiError) {
	u, e := userParam(q, true)
	if e != nil {
		return nil, e
	}
	add := queryTags(q.form, "Tags")
	if len(add) == 0 {
		return nil, errValidation("1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null")
	}
	if e := validateTags(add, u.Tags); e != nil {
		return nil, e
	}
	for _, t := range add {
		replaced := false
		for i := range u.Tags {
			if strings.EqualFold(u.Tags[i].Key, t.Key) {
				u.Tags[i] = t
				replaced = true
				break
			}
		}
		if !replaced {
			u.Tags = append(u.Tags, t)
		}
	}
	return nil, nil
}

// iamUntagUser removes tags by key (case-insensitively); keys the user does not have are ignored.
func iamUntagUser(_ *Server, q *request) (any, *apiError) {
	u, e := userParam(q, true)
	if e != nil {
		return nil, e
	}
	keys := queryList(q.form, "TagKeys")
	if len(keys) == 0 {
		return nil, errValidation("1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null")
	}
	if len(keys) > maxTagsPerUser {
		return nil, errValidation("1 validation error detected: Value at 'tagKeys' failed to satisfy constraint: Member must have length less than or equal to 50")
	}
	drop := map[string]bool{}
	for _, k := range keys {
		drop[strings.ToLower(k)] = true
	}
	kept := u.Tags[:0:0]
	for _, t := range u.Tags {
		if !drop[strings.ToLower(t.Key)] {
			kept = append(kept, t)
		}
	}
	u.Tags = kept
	return nil, nil
}

type listUserTagsResult struct {
	Tags        []tag  `xml:"Tags>member"`
	IsTruncated bool   `xml:"IsTruncated"`
	Marker      string `xml:"Marker,omitempty"`
}

// iamListUserTags lists a user's tags ordered by key (case-insensitively).
func iamListUserTags(_ *Server, q *request) (any, *apiError) {
	u, e := userParam(q, true)
	if e != nil {
		return nil, e
	}
	p, e := newPager(q, "ListUserTags\x00"+u.UserID)
	if e != nil {
		return nil, e
	}
	tags := append([]tag(nil), u.Tags...)
	key := func(t tag) string { return strings.ToLower(t.Key) }
	sort.Slice(tags, func(i, j int) bool { return key(tags[i]) < key(tags[j]) })
	page, truncated, next := pageOf(p, tags, key)
	return listUserTagsResult{Tags: append([]tag{}, page...), IsTruncated: truncated, Marker: next}, nil
}

// xmlGroup is IAM's Group shape.
type xmlGroup struct {
	Path       string    `xml:"Path"`
	GroupName  string    `xml:"GroupName"`
	GroupId    string    `xml:"GroupId"`
	Arn        string    `xml:"Arn"`
	CreateDate time.Time `xml:"CreateDate"`
}

func groupXML(a *account, g *group) xmlGroup {
	return xmlGroup{Path: g.Path, GroupName: g.Name, GroupId: g.GroupID, Arn: a.groupARN(g), CreateDate: g.Created}
}

type createGroupResult struct {
	Group xmlGroup `xml:"Group"`
}

func iamCreateGroup(s *Server, q *request) (any, *apiError) {
	name := q.form.Get("GroupName")
	if !groupNameRE.MatchString(name) {
		return nil, errValidation("1 validation error detected: Value '%s' at 'groupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+ and length 1-128", name)
	}
	path, e := pathParam(q)
	if e != nil {
		return nil, e
	}
	if q.acct.findGroup(name) != nil {
		return nil, errEntityExists("Group with name %s already exists.", name)
	}
	if len(q.acct.groups) >= maxGroupsPerAcct {
		return nil, errLimitExceeded("Cannot exceed quota for GroupsPerAccount: %d", maxGroupsPerAcct)
	}
	g := &group{Name: name, Path: path, GroupID: s.world.newID("AGPA"), Created: q.now}
	q.acct.groups[strings.ToLower(name)] = g
	return createGroupResult{Group: groupXML(q.acct, g)}, nil
}

type getGroupResult struct {
	Group       xmlGroup  `xml:"Group"`
	Users       []xmlUser `xml:"Users>member"`
	IsTruncated bool      `xml:"IsTruncated"`
	Marker      string    `xml:"Marker,omitempty"`
}

// iamGetGroup answers the group and its members ordered by name (without tags, as IAM).
func iamGetGroup(_ *Server, q *request) (any, *apiError) {
	g, e := groupParam(q)
	if e != nil {
		return nil, e
	}
	p, e := newPager(q, "GetGroup\x00"+g.GroupID)
	if e != nil {
		return nil, e
	}
	members := make([]*user, 0, len(g.members))
	for _, m := range g.members {
		if u := q.acct.users[m]; u != nil {
			members = append(members, u)
		}
	}
	sort.Slice(members, func(i, j int) bool { return userKey(members[i]) < userKey(members[j]) })
	page, truncated, next := pageOf(p, members, userKey)
	out := getGroupResult{Group: groupXML(q.acct, g), Users: make([]xmlUser, 0, len(page)), IsTruncated: truncated, Marker: next}
	for _, u := range page {
		out.Users = append(out.Users, userXML(q.acct, u, false))
	}
	return out, nil
}

func isMember(g *group, u *user) bool {
	for _, m := range g.members {
		if m == strings.ToLower(u.Name) {
			return true
		}
	}
	return false
}

// iamAddUserToGroup is idempotent like IAM: adding a member again changes nothing.
func iamAddUserToGroup(_ *Server, q *request) (any, *apiError) {
	g, e := groupParam(q)
	if e != nil {
		return nil, e
	}
	u, e := userParam(q, true)
	if e != nil {
		return nil, e
	}
	if isMember(g, u) {
		return nil, nil
	}
	if len(u.Groups) >= maxGroupsPerUser {
		return nil, errLimitExceeded("Cannot exceed quota for GroupsPerUser: %d", maxGroupsPerUser)
	}
	g.members = append(g.members, strings.ToLower(u.Name))
	u.Groups = append(u.Groups, g.Name)
	return nil, nil
}

// iamRemoveUserFromGroup answers NoSuchEntity when the user is not a member of the group.
func iamRemoveUserFromGroup(_ *Server, q *request) (any, *apiError) {
	g, e := groupParam(q)
	if e != nil {
		return nil, e
	}
	u, e := userParam(q, true)
	if e != nil {
		return nil, e
	}
	if !isMember(g, u) {
		return nil, errNoSuchEntity("The user with name %s cannot be found.", u.Name)
	}
	lu := strings.ToLower(u.Name)
	members := g.members[:0:0]
	for _, m := range g.members {
		if m != lu {
			members = append(members, m)
		}
	}
	g.members = members
	groups := u.Groups[:0:0]
	for _, n := range u.Groups {
		if !strings.EqualFold(n, g.Name) {
			groups = append(groups, n)
		}
	}
	u.Groups = groups
	return nil, nil
}

type listGroupsForUserResult struct {
	Groups      []xmlGroup `xml:"Groups>member"`
	IsTruncated bool       `xml:"IsTruncated"`
	Marker      string     `xml:"Marker,omitempty"`
}

// iamListGroupsForUser lists the user's groups ordered by name.
func iamListGroupsForUser(_ *Server, q *request) (any, *apiError) {
	u, e := userParam(q, true)
	if e != nil {
		return nil, e
	}
	p, e := newPager(q, "ListGroupsForUser\x00"+u.UserID)
	if e != nil {
		return nil, e
	}
	groups := make([]*group, 0, len(u.Groups))
	for _, n := range u.Groups {
		if g := q.acct.findGroup(n); g != nil {
			groups = append(groups, g)
		}
	}
	key := func(g *group) string { return strings.ToLower(g.Name) }
	sort.Slice(groups, func(i, j int) bool { return key(groups[i]) < key(groups[j]) })
	page, truncated, next := pageOf(p, groups, key)
	out := listGroupsForUserResult{Groups: make([]xmlGroup, 0, len(page)), IsTruncated: truncated, Marker: next}
	for _, g := range page {
		out.Groups = append(out.Groups, groupXML(q.acct, g))
	}
	return out, nil
}
