package awssim

import (
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"sort"
	"strings"
	"time"
)

// The sandbox's world. Every field is guarded by Server.mu; handlers run with it held.

type tag struct {
	Key   string `xml:"Key" json:"Key"`
	Value string `xml:"Value" json:"Value"`
}

// world is all state of one sandbox; reset and scenario replace it whole.
type world struct {
	accounts map[string]*account // by 12-digit id
	// buckets are the S3 buckets of every account, by name (bucket names are global).
	buckets map[string]*s3Bucket
	order   []string // account ids as the scenario listed them
	// creds indexes every credential that can sign a request, by access key id.
	creds map[string]*credential
	rng   *rand.Rand
	// outbox records what the sandbox's services sent out (admin.go).
	outbox outbox
	// orgs is AWS Organizations (organizations.go); sqs is every SQS queue (sqs.go).
	orgs *orgWorld
	sqs  *sqsWorld
	// issued, when not nil, records every secret the sandbox handed out or was given
	// (Options.RecordSecrets; admin.go IssuedSecrets).
	issued *[]string
}

type account struct {
	ID             string
	Alias          string
	Region         string           // default region printed for the operator credential
	users          map[string]*user // by lower-cased name: IAM names are case-insensitive
	usersSorted    []*user          // users by name, cached by sortedUsers; nil when stale
	groups         map[string]*group
	roles          map[string]*role
	passwordPolicy *passwordPolicy
	report         *credentialReport
	reportPending  *credentialReport // generated, not yet visible (see Faults.ReportDelay)
	operator       *credential
	// rootKeys are access keys of the root user, only ever listed in the credential report.
	rootKeys []*accessKey
	// secrets by region, then by name.
	secrets map[string]map[string]*secret
	// Delivery sinks, each by region then by name, created on first use: SSM parameters
	// (ssm.go), SNS topics (sns.go), SES identities (sesv2.go), and the Lambda functions the
	// scenario declares (lambda.go).
	params     map[string]map[string]*ssmParam
	topics     map[string]map[string]*snsTopic
	identities map[string]map[string]*sesIdentity
	functions  map[string]map[string]*lambdaFunction
}

type user struct {
	Name    string
	Path    string
	UserID  string
	Created time.Time
	Tags    []tag
	Groups  []string // group names in join order, as the group spells them
	Keys    []*accessKey
	Login   *loginProfile
	MFA     bool
	// PasswordLastUsed is zero when the password was never used.
	PasswordLastUsed time.Time
	passwordHistory  []string // sha256 of previous passwords, newest last
}

func (a *account) userARN(u *user) string { return "arn:aws:iam::" + a.ID + ":user" + u.Path + u.Name }

type accessKey struct {
	ID      string
	Secret  string
	Status  string // Active | Inactive
	Created time.Time
	// Seeded keys came from a scenario: the admin API may show their secret.
	Seeded bool
	// Last use, zero when never used.
	LastUsed        time.Time
	LastUsedService string
	LastUsedRegion  string
	// usableAt is the wall-clock time from which the key authenticates (IAM eventual consistency).
	usableAt time.Time
}

type loginProfile struct {
	Created       time.Time
	PasswordSet   time.Time // password_last_changed
	ResetRequired bool
	passwordHash  string
}

type group struct {
	Name    string
	Path    string
	GroupID string
	Created time.Time
	members []string // lower-cased user names
}

func (a *account) groupARN(g *group) string {
	return "arn:aws:iam::" + a.ID + ":group" + g.Path + g.Name
}

type role struct {
	Name    string
	Path    string
	RoleID  string
	Created time.Time
	// TrustedAccounts may assume the role ("*" for any sandbox account).
	TrustedAccounts []string
	ExternalID      string
	MaxSession      time.Duration
}

func (a *account) roleARN(r *role) string { return "arn:aws:iam::" + a.ID + ":role" + r.Path + r.Name }

type passwordPolicy struct {
	MinimumPasswordLength      int
	RequireSymbols             bool
	RequireNumbers             bool
	RequireUppercaseCharacters bool
	RequireLowercaseCharacters bool
	AllowUsersToChangePassword bool
	MaxPasswordAge             int
	PasswordReusePrevention    int
	HardExpiry                 bool
}

// credentialKind says who signs with a credential.
type credentialKind int

const (
	kindOperator credentialKind = iota // the account's sandbox operator (root authority)
	kindUser                           // an IAM user's access key
	kindSession                        // temporary credentials from sts:AssumeRole
)

// credential is anything that can sign a request.
type credential struct {
	AccessKeyID  string
	Secret       string
	SessionToken string
	Kind         credentialKind
	Account      *account
	User         *user      // kindUser
	Key          *accessKey // kindUser
	// kindSession
	RoleARN     string
	RoleID      string
	SessionName string
	// Expires is wall-clock time: the client compares a session's Expiration with its own
	// clock, so the sandbox hands it out and enforces it on that clock (docs/sandbox.md, Time).
	Expires time.Time
}

// principal is the identity a verified request acts as.
type principal struct {
	cred *credential
}

func (p principal) account() *account { return p.cred.Account }

func (p principal) arn() string {
	c := p.cred
	switch c.Kind {
	case kindUser:
		return c.Account.userARN(c.User)
	case kindSession:
		name := c.RoleARN[strings.LastIndex(c.RoleARN, "/")+1:]
		return "arn:aws:sts::" + c.Account.ID + ":assumed-role/" + name + "/" + c.SessionName
	default:
		return "arn:aws:iam::" + c.Account.ID + ":root"
	}
}

func (p principal) userID() string {
	c := p.cred
	switch c.Kind {
	case kindUser:
		return c.User.UserID
	case kindSession:
		return c.RoleID + ":" + c.SessionName
	default:
		return c.Account.ID
	}
}

type secret struct {
	Name        string
	ARN         string
	Description string
	KmsKeyID    string
	Created     time.Time
	Changed     time.Time
	Accessed    time.Time
	Tags        []tag
	Policy      string
	Deleted     time.Time // scheduled deletion date; zero when not scheduled
	versions    map[string]*secretVersion
	versionSeq  []string // version ids in creation order
}

type secretVersion struct {
	ID       string
	String   *string
	Binary   []byte
	Stages   []string
	Created  time.Time
	Accessed time.Time
}

func newWorld(seed uint64) *world {
	return &world{
		accounts: map[string]*account{},
		buckets:  map[string]*s3Bucket{},
		creds:    map[string]*credential{},
		rng:      rand.New(rand.NewPCG(seed, seed^0x6b6579637963)),
		orgs:     newOrgWorld(seed),
		sqs:      newSQSWorld(seed),
	}
}

func newAccount(id string) *account {
	return &account{
		ID:      id,
		Region:  "us-east-1",
		users:   map[string]*user{},
		groups:  map[string]*group{},
		roles:   map[string]*role{},
		secrets: map[string]map[string]*secret{},
	}
}

const (
	upperAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	secretAlph = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
)

func (w *world) randString(alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[w.rng.IntN(len(alphabet))]
	}
	return string(b)
}

// newID returns an IAM unique id or access key id: a 4-letter prefix and 16 more characters
// (AKIA access keys, ASIA temporary keys, AIDA users, AGPA groups, AROA roles).
func (w *world) newID(prefix string) string {
	for {
		id := prefix + w.randString(upperAlnum, 16)
		if _, taken := w.creds[id]; !taken {
			return id
		}
	}
}

func (w *world) newSecret() string {
	v := w.randString(secretAlph, 40)
	w.noteSecret(v)
	return v
}

// noteSecret records a secret when Options.RecordSecrets asked for it.
func (w *world) noteSecret(v string) {
	if w.issued != nil {
		*w.issued = append(*w.issued, v)
	}
}

// sortedUsers returns the account's users ordered by name, as IAM lists them. The order is
// cached until a user is added or removed (setUser, removeUser): listing 100,000 users a page at
// a time would otherwise sort them all for every page. Callers must not modify the slice.
func (a *account) sortedUsers() []*user {
	if a.usersSorted != nil {
		return a.usersSorted
	}
	out := make([]*user, 0, len(a.users))
	for _, u := range a.users {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	a.usersSorted = out
	return out
}

// setUser adds (or replaces) a user; removeUser deletes one. Both drop the cached order.
func (a *account) setUser(u *user) {
	a.users[strings.ToLower(u.Name)] = u
	a.usersSorted = nil
}

func (a *account) removeUser(u *user) {
	delete(a.users, strings.ToLower(u.Name))
	a.usersSorted = nil
}

func (a *account) sortedGroups() []*group {
	out := make([]*group, 0, len(a.groups))
	for _, g := range a.groups {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	return out
}

func (a *account) findUser(name string) *user { return a.users[strings.ToLower(name)] }

func (a *account) findGroup(name string) *group { return a.groups[strings.ToLower(name)] }

func hashPassword(p string) string {
	sum := sha256.Sum256([]byte(p))
	return hex.EncodeToString(sum[:])
}

// addUserKey registers a new access key for u and indexes it for signing.
func (w *world) addUserKey(a *account, u *user, k *accessKey) {
	u.Keys = append(u.Keys, k)
	w.creds[k.ID] = &credential{AccessKeyID: k.ID, Secret: k.Secret, Kind: kindUser, Account: a, User: u, Key: k}
}

// removeUserKey deletes the key from u and from the signing index.
func (w *world) removeUserKey(u *user, id string) bool {
	for i, k := range u.Keys {
		if k.ID == id {
			u.Keys = append(u.Keys[:i], u.Keys[i+1:]...)
			delete(w.creds, id)
			return true
		}
	}
	return false
}
