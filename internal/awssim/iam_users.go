package awssim

import (
	"strings"
	"time"
)

// IAM users, tags and groups.
var iamUserActions = map[string]handler{
	"CreateUser": iamCreateUser,
	"GetUser":    iamGetUser,
}

// xmlUser is IAM's User shape.
type xmlUser struct {
	Path             string     `xml:"Path"`
	UserName         string     `xml:"UserName"`
	UserId           string     `xml:"UserId"`
	Arn              string     `xml:"Arn"`
	CreateDate       time.Time  `xml:"CreateDate"`
	PasswordLastUsed *time.Time `xml:"PasswordLastUsed,omitempty"`
	Tags             []tag      `xml:"Tags>member,omitempty"`
}

func userXML(a *account, u *user, withTags bool) xmlUser {
	x := xmlUser{Path: u.Path, UserName: u.Name, UserId: u.UserID, Arn: a.userARN(u), CreateDate: u.Created}
	if !u.PasswordLastUsed.IsZero() {
		t := u.PasswordLastUsed
		x.PasswordLastUsed = &t
	}
	if withTags {
		x.Tags = u.Tags
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

type createUserResult struct {
	User xmlUser `xml:"User"`
}

func iamCreateUser(s *Server, q *request) (any, *apiError) {
	name := q.form.Get("UserName")
	if !iamNameRE.MatchString(name) {
		return nil, errValidation("1 validation error detected: Value '%s' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+ and length 1-64", name)
	}
	path := q.form.Get("Path")
	if path == "" {
		path = "/"
	}
	if !pathRE.MatchString(path) || len(path) > 512 {
		return nil, errValidation("1 validation error detected: Value '%s' at 'path' failed to satisfy constraint: Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)", path)
	}
	if q.acct.findUser(name) != nil {
		return nil, errEntityExists("User with name %s already exists.", name)
	}
	tags := queryTags(q.form, "Tags")
	if e := validateTags(tags, nil); e != nil {
		return nil, e
	}
	u := &user{Name: name, Path: path, UserID: s.world.newID("AIDA"), Created: q.now, Tags: tags}
	q.acct.users[strings.ToLower(name)] = u
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

// validateTags checks tags to add against IAM's limits, given the tags already present.
func validateTags(add []tag, existing []tag) *apiError {
	keys := map[string]bool{}
	for _, t := range existing {
		keys[strings.ToLower(t.Key)] = true
	}
	seen := map[string]bool{}
	for _, t := range add {
		if t.Key == "" || len(t.Key) > 128 || len(t.Value) > 256 {
			return errInvalidInput("Tag key must be 1-128 characters and value at most 256: %q", t.Key)
		}
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return errInvalidInput("User tag keys cannot start with the reserved prefix 'aws:'.")
		}
		lk := strings.ToLower(t.Key)
		if seen[lk] {
			return errInvalidInput("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
		}
		seen[lk] = true
		keys[lk] = true
	}
	if len(keys) > 50 {
		return errLimitExceeded("The number of tags has reached the maximum limit.")
	}
	return nil
}
