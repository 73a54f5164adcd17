package awssim

import (
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"time"
)

// IAM access keys.
var iamKeyActions = map[string]handler{
	"CreateAccessKey":      iamCreateAccessKey,
	"ListAccessKeys":       iamListAccessKeys,
	"UpdateAccessKey":      iamUpdateAccessKey,
	"DeleteAccessKey":      iamDeleteAccessKey,
	"GetAccessKeyLastUsed": iamGetAccessKeyLastUsed,
}

// maxKeysPerUser is IAM's AccessKeysPerUser quota; inactive keys count too.
const maxKeysPerUser = 2

// accessKeyIDRE is IAM's accessKeyIdType: 16-128 word characters.
var accessKeyIDRE = regexp.MustCompile(`^\w{16,128}$`)

// xmlAccessKey is IAM's AccessKey shape: the only answer that ever carries the secret.
type xmlAccessKey struct {
	UserName        string    `xml:"UserName"`
	AccessKeyId     string    `xml:"AccessKeyId"`
	Status          string    `xml:"Status"`
	SecretAccessKey string    `xml:"SecretAccessKey"`
	CreateDate      time.Time `xml:"CreateDate"`
}

// xmlAccessKeyMetadata is IAM's AccessKeyMetadata shape.
type xmlAccessKeyMetadata struct {
	UserName    string    `xml:"UserName,omitempty"`
	AccessKeyId string    `xml:"AccessKeyId"`
	Status      string    `xml:"Status"`
	CreateDate  time.Time `xml:"CreateDate"`
}

// keyUser resolves whose keys an access key action works on. IAM acts on the calling IAM user
// when UserName is absent, and on the root user when the caller is the root user. root is true
// in that last case (the sandbox's operator credential stands for the root user).
func keyUser(q *request) (u *user, root bool, e *apiError) {
	if q.form.Get("UserName") == "" && q.caller.cred.Kind == kindOperator {
		return nil, true, nil
	}
	u, e = userParam(q, false)
	return u, false, e
}

// errRootKeys refuses to manage root access keys. Real IAM lets the root user create, change and
// delete its own access keys this way; the sandbox does not model root keys as credentials
// (they exist only to appear in the credential report), so it refuses instead.
func errRootKeys(action string) *apiError {
	return errInvalidInput("The keycycle sandbox does not manage root user access keys: %s without UserName, signed by the account's operator (root) credential, would act on the root user's keys in AWS. Pass UserName to act on an IAM user.", action)
}

func findKey(u *user, id string) *accessKey {
	for _, k := range u.Keys {
		if k.ID == id {
			return k
		}
	}
	return nil
}

func keyIDParam(q *request) (string, *apiError) {
	id := q.form.Get("AccessKeyId")
	if id == "" {
		return "", errValidation("1 validation error detected: Value null at 'accessKeyId' failed to satisfy constraint: Member must not be null")
	}
	if !accessKeyIDRE.MatchString(id) {
		return "", errValidation("1 validation error detected: Value '%s' at 'accessKeyId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w]+ and length 16-128", id)
	}
	return id, nil
}

func errNoSuchKey(id string) *apiError {
	return errNoSuchEntity("The Access Key with id %s cannot be found.", id)
}

type createAccessKeyResult struct {
	AccessKey xmlAccessKey `xml:"AccessKey"`
}

// iamCreateAccessKey creates an active key. The key authenticates only once the configured
// KeyPropagationDelay (wall clock) has passed, modelling IAM's eventual consistency.
func iamCreateAccessKey(s *Server, q *request) (any, *apiError) {
	u, root, e := keyUser(q)
	if e != nil {
		return nil, e
	}
	if root {
		return nil, errRootKeys("CreateAccessKey")
	}
	if len(u.Keys) >= maxKeysPerUser {
		return nil, errLimitExceeded("Cannot exceed quota for AccessKeysPerUser: %d", maxKeysPerUser)
	}
	k := &accessKey{
		ID:       s.world.newID("AKIA"),
		Secret:   s.world.newSecret(),
		Status:   "Active",
		Created:  q.now,
		usableAt: q.wall.Add(time.Duration(s.faults.get().KeyPropagationDelay)),
	}
	s.world.addUserKey(q.acct, u, k)
	return createAccessKeyResult{AccessKey: xmlAccessKey{UserName: u.Name, AccessKeyId: k.ID, Status: k.Status,
		SecretAccessKey: k.Secret, CreateDate: k.Created}}, nil
}

type listAccessKeysResult struct {
	AccessKeyMetadata []xmlAccessKeyMetadata `xml:"AccessKeyMetadata>member"`
	IsTruncated       bool                   `xml:"IsTruncated"`
	Marker            string                 `xml:"Marker,omitempty"`
}

// keyOrder identifies a key in ListAccessKeys markers. Keys are listed oldest first, keys created
// at the same sandbox second in creation order.
func keyOrder(k *accessKey) string { return fmt.Sprintf("%020d|%s", k.Created.UnixNano(), k.ID) }

// iamListAccessKeys lists a user's keys oldest first. Signed by the operator (root) without
// UserName it lists the root user's keys, as IAM does for the root user.
func iamListAccessKeys(_ *Server, q *request) (any, *apiError) {
	u, root, e := keyUser(q)
	if e != nil {
		return nil, e
	}
	keys, owner, kind := q.acct.rootKeys, "", "ListAccessKeys\x00root"
	if !root {
		keys, owner, kind = u.Keys, u.Name, "ListAccessKeys\x00"+u.UserID
	}
	p, e := newPager(q, kind)
	if e != nil {
		return nil, e
	}
	sorted := append([]*accessKey(nil), keys...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Created.Before(sorted[j].Created) })
	page, truncated, next := pageOf(p, sorted, keyOrder)
	out := listAccessKeysResult{AccessKeyMetadata: make([]xmlAccessKeyMetadata, 0, len(page)), IsTruncated: truncated, Marker: next}
	for _, k := range page {
		out.AccessKeyMetadata = append(out.AccessKeyMetadata, xmlAccessKeyMetadata{UserName: owner, AccessKeyId: k.ID, Status: k.Status, CreateDate: k.Created})
	}
	return out, nil
}

// userKeyParam resolves AccessKeyId (and UserName) to one of a user's keys.
func userKeyParam(q *request, action string) (*user, *accessKey, *apiError) {
	u, root, e := keyUser(q)
	if e != nil {
		return nil, nil, e
	}
	id, e := keyIDParam(q)
	if e != nil {
		return nil, nil, e
	}
	if root {
		for _, k := range q.acct.rootKeys {
			if k.ID == id {
				return nil, nil, errRootKeys(action)
			}
		}
		return nil, nil, errNoSuchKey(id)
	}
	k := findKey(u, id)
	if k == nil {
		return nil, nil, errNoSuchKey(id)
	}
	return u, k, nil
}

// iamUpdateAccessKey sets a key Active or Inactive; signing sees the change at once.
// (Re-activation has no propagation delay in the sandbox.)
func iamUpdateAccessKey(_ *Server, q *request) (any, *apiError) {
	status := q.form.Get("Status")
	if status == "" {
		return nil, errValidation("1 validation error detected: Value null at 'status' failed to satisfy constraint: Member must not be null")
	}
	if status != "Active" && status != "Inactive" {
		return nil, errValidation("1 validation error detected: Value '%s' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]", status)
	}
	_, k, e := userKeyParam(q, "UpdateAccessKey")
	if e != nil {
		return nil, e
	}
	k.Status = status
	return nil, nil
}

// iamDeleteAccessKey deletes a key whatever its status: IAM does not require deactivating first.
func iamDeleteAccessKey(s *Server, q *request) (any, *apiError) {
	u, k, e := userKeyParam(q, "DeleteAccessKey")
	if e != nil {
		return nil, e
	}
	s.world.removeUserKey(u, k.ID)
	return nil, nil
}

type xmlAccessKeyLastUsed struct {
	LastUsedDate *time.Time `xml:"LastUsedDate,omitempty"`
	ServiceName  string     `xml:"ServiceName"`
	Region       string     `xml:"Region"`
}

type getAccessKeyLastUsedResult struct {
	UserName          string               `xml:"UserName"`
	AccessKeyLastUsed xmlAccessKeyLastUsed `xml:"AccessKeyLastUsed"`
}

// iamGetAccessKeyLastUsed answers for any IAM user key of the caller's account. A key that does
// not exist or belongs to another account answers AccessDenied, as IAM does (the operation has no
// NoSuchEntity error). Root keys are not looked up (see errRootKeys) and answer AccessDenied too.
func iamGetAccessKeyLastUsed(s *Server, q *request) (any, *apiError) {
	id, e := keyIDParam(q)
	if e != nil {
		return nil, e
	}
	c, ok := s.world.creds[id]
	if !ok || c.Kind != kindUser || c.Account != q.acct {
		return nil, errorf(http.StatusForbidden, "AccessDenied",
			"User: %s is not authorized to perform: iam:GetAccessKeyLastUsed on resource: access key %s", q.caller.arn(), id)
	}
	out := getAccessKeyLastUsedResult{UserName: c.User.Name,
		AccessKeyLastUsed: xmlAccessKeyLastUsed{ServiceName: "N/A", Region: "N/A"}}
	if k := c.Key; !k.LastUsed.IsZero() {
		t := k.LastUsed
		out.AccessKeyLastUsed = xmlAccessKeyLastUsed{LastUsedDate: &t, ServiceName: k.LastUsedService, Region: k.LastUsedRegion}
	}
	return out, nil
}
