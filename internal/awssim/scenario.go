package awssim

import (
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/keycycle/keycycle/internal/yamlfile"
)

// Scenario is the sandbox's seed state: a YAML file (docs/sandbox.md) or a value built in Go.
type Scenario struct {
	// Start is the sandbox clock's initial time; zero means 2026-11-21T09:00:00Z.
	Start time.Time `yaml:"start"`
	// Seed makes generated ids and secrets reproducible; 0 uses a fixed default.
	Seed     uint64            `yaml:"seed"`
	Accounts []ScenarioAccount `yaml:"accounts"`
	// Organization puts every account of the scenario in one AWS Organization; nil: none.
	Organization *ScenarioOrganization `yaml:"organization"`
}

// ScenarioAccount is one AWS account.
type ScenarioAccount struct {
	ID             string                  `yaml:"id"`
	Alias          string                  `yaml:"alias"`
	Region         string                  `yaml:"region"`
	PasswordPolicy *ScenarioPasswordPolicy `yaml:"password_policy"`
	Groups         []string                `yaml:"groups"`
	Roles          []ScenarioRole          `yaml:"roles"`
	RootAccessKeys []ScenarioKey           `yaml:"root_access_keys"`
	Users          []ScenarioUser          `yaml:"users"`
	// Functions are the Lambda functions lambda:Invoke can call (lambda.go).
	Functions []ScenarioFunction `yaml:"functions"`
	// Buckets are S3 buckets owned by the account (s3.go).
	Buckets []ScenarioBucket `yaml:"buckets"`
	// Name and Email are the account's as AWS Organizations shows them; Name defaults to the
	// alias, else "Account <id>", Email to aws+<id>@example.com.
	Name  string `yaml:"name"`
	Email string `yaml:"email"`
	// Queues are SQS queues that exist from the start (sqs.go), created in the order listed.
	Queues []ScenarioQueue `yaml:"queues"`
	// EmailIdentities are SES identities that exist from the start (sesv2.go), verified unless
	// they say otherwise.
	EmailIdentities []ScenarioEmailIdentity `yaml:"email_identities"`
}

// ScenarioEmailIdentity is an SES identity: an e-mail address or a domain. Verified false models
// one whose verification is still pending (the link not clicked, the DNS records not published):
// GetEmailIdentity answers VerifiedForSendingStatus false and VerificationStatus PENDING, and
// SendEmail from it is refused with MessageRejected, as SES does.
type ScenarioEmailIdentity struct {
	Identity string `yaml:"identity"`
	Region   string `yaml:"region"` // default: the account's region
	Verified *bool  `yaml:"verified"`
}

// ScenarioQueue is an SQS queue, with attributes as CreateQueue takes them (a dead-letter queue
// named in a RedrivePolicy must be listed before the queues that name it).
type ScenarioQueue struct {
	Name string `yaml:"name"`
	// Region defaults to the account's.
	Region     string            `yaml:"region"`
	Attributes map[string]string `yaml:"attributes"`
}

// ScenarioOrganization is the AWS Organization of the scenario. Every account of the scenario
// is a member; accounts no OU lists sit in the root.
type ScenarioOrganization struct {
	// ManagementAccount is the id of the account that manages the organization.
	ManagementAccount string       `yaml:"management_account"`
	OUs               []ScenarioOU `yaml:"ous"`
	// Suspended lists member accounts whose status is SUSPENDED.
	Suspended []string `yaml:"suspended"`
	// AccountTags are Organizations tags on accounts, by account id.
	AccountTags map[string]map[string]string `yaml:"account_tags"`
}

// ScenarioOU is an organizational unit.
type ScenarioOU struct {
	Name string `yaml:"name"`
	// Parent is "root" (the default) or the name of another OU of the scenario.
	Parent   string            `yaml:"parent"`
	Accounts []string          `yaml:"accounts"`
	Tags     map[string]string `yaml:"tags"`
}

// ScenarioPasswordPolicy mirrors UpdateAccountPasswordPolicy.
type ScenarioPasswordPolicy struct {
	MinimumLength              int  `yaml:"minimum_length"`
	RequireSymbols             bool `yaml:"require_symbols"`
	RequireNumbers             bool `yaml:"require_numbers"`
	RequireUppercase           bool `yaml:"require_uppercase"`
	RequireLowercase           bool `yaml:"require_lowercase"`
	AllowUsersToChangePassword bool `yaml:"allow_users_to_change_password"`
	MaxPasswordAge             int  `yaml:"max_password_age"`
	PasswordReusePrevention    int  `yaml:"password_reuse_prevention"`
	HardExpiry                 bool `yaml:"hard_expiry"`
}

// ScenarioRole is a role other accounts may assume with sts:AssumeRole.
type ScenarioRole struct {
	Name string `yaml:"name"`
	Path string `yaml:"path"`
	// TrustedAccounts lists account ids allowed to assume the role; "*" allows every sandbox account.
	TrustedAccounts []string `yaml:"trusted_accounts"`
	ExternalID      string   `yaml:"external_id"`
	// MaxSessionDuration is a Go duration from 1h to 12h; empty is 1h.
	MaxSessionDuration string `yaml:"max_session_duration"`
}

// ScenarioUser is one IAM user.
type ScenarioUser struct {
	Name         string                `yaml:"name"`
	Path         string                `yaml:"path"`
	AgeDays      *int                  `yaml:"age_days"`
	Tags         map[string]string     `yaml:"tags"`
	Groups       []string              `yaml:"groups"`
	MFA          bool                  `yaml:"mfa"`
	LoginProfile *ScenarioLoginProfile `yaml:"login_profile"`
	AccessKeys   []ScenarioKey         `yaml:"access_keys"`
}

// ScenarioLoginProfile is a console password.
type ScenarioLoginProfile struct {
	AgeDays         int  `yaml:"age_days"`
	PasswordAgeDays *int `yaml:"password_age_days"`
	LastUsedDaysAgo *int `yaml:"last_used_days_ago"`
	ResetRequired   bool `yaml:"reset_required"`
}

// ScenarioKey is one access key. ID and Secret are generated when empty.
type ScenarioKey struct {
	ID              string `yaml:"id"`
	Secret          string `yaml:"secret"`
	AgeDays         int    `yaml:"age_days"`
	Status          string `yaml:"status"`
	LastUsedDaysAgo *int   `yaml:"last_used_days_ago"`
	LastUsedService string `yaml:"last_used_service"`
	LastUsedRegion  string `yaml:"last_used_region"`
}

//go:embed default_scenario.yaml
var defaultScenarioYAML []byte

// DefaultScenario is the small built-in scenario `keycycle sandbox` loads without --scenario.
func DefaultScenario() (*Scenario, error) {
	return ParseScenario("default_scenario.yaml", defaultScenarioYAML)
}

// DefaultStart is the sandbox clock's start when a scenario names none.
var DefaultStart = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

var (
	accountIDRE  = regexp.MustCompile(`^[0-9]{12}$`)
	aliasRE      = regexp.MustCompile(`^[a-z0-9]([a-z0-9]|-(?:[a-z0-9]))*$`)
	iamNameRE    = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	groupNameRE  = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)
	bucketNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	pathRE       = regexp.MustCompile(`^/([\x21-\x7e]*/)?$`)
	accessKeyRE  = regexp.MustCompile(`^AKIA[A-Z0-9]{16}$`)
)

// ParseScenario reads and validates a scenario file. Every problem is reported at once, each
// naming the file, line and field.
func ParseScenario(file string, data []byte) (*Scenario, error) {
	var sc Scenario
	doc, err := yamlfile.Decode(file, data, &sc)
	var ps yamlfile.Problems
	if err != nil {
		// A syntax error leaves no document (Line() is 0): nothing more to check. Unknown fields
		// and type mismatches leave the rest decoded, so validate it too and report all at once.
		if !errors.As(err, &ps) || doc.Line() == 0 {
			return nil, err
		}
	}
	if ps = append(ps, sc.validate(doc)...); len(ps) > 0 {
		return nil, ps.Err()
	}
	return &sc, nil
}

// Validate checks a scenario built in Go.
func (sc *Scenario) Validate() error { return sc.validate(&yamlfile.Doc{}).Err() }

func (sc *Scenario) validate(doc *yamlfile.Doc) yamlfile.Problems {
	var ps yamlfile.Problems
	bad := func(msg string, path ...any) { ps = append(ps, doc.Problem(msg, path...)) }
	if len(sc.Accounts) == 0 {
		bad("at least one account is required", "accounts")
	}
	ids := map[string]bool{}
	for _, a := range sc.Accounts {
		ids[a.ID] = true
	}
	seenAcct := map[string]bool{}
	seenKey := map[string]bool{}
	seenBucket := map[string]bool{}
	for i, a := range sc.Accounts {
		p := []any{"accounts", i}
		at := func(more ...any) []any { return append(append([]any{}, p...), more...) }
		if !accountIDRE.MatchString(a.ID) {
			bad(fmt.Sprintf("must be 12 digits (quote it in YAML), got %q", a.ID), at("id")...)
		} else if seenAcct[a.ID] {
			bad(fmt.Sprintf("account %s is listed twice", a.ID), at("id")...)
		}
		seenAcct[a.ID] = true
		if a.Alias != "" && (len(a.Alias) < 3 || len(a.Alias) > 63 || !aliasRE.MatchString(a.Alias)) {
			bad("must be 3-63 lower-case letters, digits and single hyphens", at("alias")...)
		}
		if pp := a.PasswordPolicy; pp != nil {
			if pp.MinimumLength != 0 && (pp.MinimumLength < 6 || pp.MinimumLength > 128) {
				bad("must be within 6..128", at("password_policy", "minimum_length")...)
			}
			if pp.MaxPasswordAge < 0 || pp.MaxPasswordAge > 1095 {
				bad("must be within 0..1095 (0: passwords never expire)", at("password_policy", "max_password_age")...)
			}
			if pp.PasswordReusePrevention < 0 || pp.PasswordReusePrevention > 24 {
				bad("must be within 0..24", at("password_policy", "password_reuse_prevention")...)
			}
		}
		for j, b := range a.Buckets {
			if !bucketNameRE.MatchString(b.Name) || strings.Contains(b.Name, "..") {
				bad(fmt.Sprintf("invalid bucket name %q: 3-63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit", b.Name), at("buckets", j, "name")...)
			} else if seenBucket[b.Name] {
				bad(fmt.Sprintf("bucket %q is listed twice (bucket names are global)", b.Name), at("buckets", j, "name")...)
			}
			seenBucket[b.Name] = true
		}
		groups := map[string]bool{}
		for j, g := range a.Groups {
			if !groupNameRE.MatchString(g) {
				bad(fmt.Sprintf("invalid group name %q", g), at("groups", j)...)
			}
			if groups[strings.ToLower(g)] {
				bad(fmt.Sprintf("group %q is listed twice", g), at("groups", j)...)
			}
			groups[strings.ToLower(g)] = true
		}
		for j, r := range a.Roles {
			if !iamNameRE.MatchString(r.Name) {
				bad(fmt.Sprintf("invalid role name %q", r.Name), at("roles", j, "name")...)
			}
			if r.Path != "" && !pathRE.MatchString(r.Path) {
				bad("a path starts and ends with /", at("roles", j, "path")...)
			}
			for k, t := range r.TrustedAccounts {
				if t != "*" && !ids[t] {
					bad(fmt.Sprintf("account %q is not in this scenario", t), at("roles", j, "trusted_accounts", k)...)
				}
			}
			if r.MaxSessionDuration != "" {
				d, err := time.ParseDuration(r.MaxSessionDuration)
				if err != nil || d < time.Hour || d > 12*time.Hour {
					bad("must be a duration from 1h to 12h", at("roles", j, "max_session_duration")...)
				}
			}
		}
		for j, k := range a.RootAccessKeys {
			validateKey(k, 0, bad, seenKey, at("root_access_keys", j)...)
		}
		if len(a.RootAccessKeys) > 2 {
			bad("the root user has at most 2 access keys", at("root_access_keys")...)
		}
		users := map[string]bool{}
		for j, u := range a.Users {
			up := at("users", j)
			uat := func(more ...any) []any { return append(append([]any{}, up...), more...) }
			if !iamNameRE.MatchString(u.Name) {
				bad(fmt.Sprintf("invalid user name %q (1-64 of letters, digits and +=,.@_-)", u.Name), uat("name")...)
			}
			if users[strings.ToLower(u.Name)] {
				bad(fmt.Sprintf("user %q is listed twice (IAM user names are case-insensitive)", u.Name), uat("name")...)
			}
			users[strings.ToLower(u.Name)] = true
			if u.Path != "" && !pathRE.MatchString(u.Path) {
				bad("a path starts and ends with /", uat("path")...)
			}
			if u.AgeDays != nil && *u.AgeDays < 0 {
				bad("must not be negative", uat("age_days")...)
			}
			if len(u.Tags) > 50 {
				bad("a user has at most 50 tags", uat("tags")...)
			}
			for k, v := range u.Tags {
				if k == "" || len(k) > 128 || len(v) > 256 || strings.HasPrefix(strings.ToLower(k), "aws:") {
					bad(fmt.Sprintf("tag %q: keys are 1-128 characters not starting with aws:, values at most 256", k), uat("tags", k)...)
				}
			}
			for k, g := range u.Groups {
				if !groups[strings.ToLower(g)] {
					bad(fmt.Sprintf("group %q is not declared in this account's groups", g), uat("groups", k)...)
				}
			}
			if lp := u.LoginProfile; lp != nil {
				if lp.AgeDays < 0 {
					bad("must not be negative", uat("login_profile", "age_days")...)
				}
				if lp.PasswordAgeDays != nil && (*lp.PasswordAgeDays < 0 || *lp.PasswordAgeDays > lp.AgeDays) {
					bad("must be within 0..login_profile.age_days", uat("login_profile", "password_age_days")...)
				}
				if lp.LastUsedDaysAgo != nil && (*lp.LastUsedDaysAgo < 0 || *lp.LastUsedDaysAgo > lp.AgeDays) {
					bad("must be within 0..login_profile.age_days (a password is not used before it exists)", uat("login_profile", "last_used_days_ago")...)
				}
			}
			if len(u.AccessKeys) > 2 {
				bad("IAM allows at most 2 access keys per user", uat("access_keys")...)
			}
			for k, key := range u.AccessKeys {
				validateKey(key, k, bad, seenKey, uat("access_keys", k)...)
			}
		}
		validateFunctions(a.Region, a.Functions, bad, func(j int, field string) []any { return at("functions", j, field) })
		for j, id := range a.EmailIdentities {
			if _, _, ok := sesNormalize(id.Identity); !ok {
				bad(fmt.Sprintf("%q is not an e-mail address or a domain", id.Identity), at("email_identities", j, "identity")...)
			}
		}
	}
	ps = append(ps, sc.validateOrganization(doc)...)
	ps = append(ps, sc.validateQueues(doc)...)
	return ps
}

// validateQueues creates the scenario's queues in a throwaway world: a queue the sandbox would
// refuse is refused here, with CreateQueue's message.
func (sc *Scenario) validateQueues(doc *yamlfile.Doc) yamlfile.Problems {
	var ps yamlfile.Problems
	sw := newSQSWorld(1)
	for i, a := range sc.Accounts {
		for j, sq := range a.Queues {
			k := sqsKey{a.ID, scenarioQueueRegion(a, sq), sq.Name}
			if sw.queues[k] != nil {
				ps = append(ps, doc.Problem(fmt.Sprintf("queue %q is listed twice in %s", sq.Name, k.region), "accounts", i, "queues", j, "name"))
				continue
			}
			if _, e := sw.newQueue(k, sq.Attributes, nil, DefaultStart); e != nil {
				ps = append(ps, doc.Problem(e.Message, "accounts", i, "queues", j))
			}
		}
	}
	return ps
}

func scenarioQueueRegion(a ScenarioAccount, sq ScenarioQueue) string {
	switch {
	case sq.Region != "":
		return sq.Region
	case a.Region != "":
		return a.Region
	}
	return "us-east-1"
}

var orgEmailRE = regexp.MustCompile(`^[^\s@]+@[^\s@]+\.[^\s@]+$`)

// validateOrganization checks the accounts' names and emails and the organization section.
func (sc *Scenario) validateOrganization(doc *yamlfile.Doc) yamlfile.Problems {
	var ps yamlfile.Problems
	bad := func(msg string, path ...any) { ps = append(ps, doc.Problem(msg, path...)) }
	ids := map[string]bool{}
	for i, a := range sc.Accounts {
		ids[a.ID] = true
		if a.Name != "" && len(a.Name) > 50 {
			bad("an account name is 1-50 characters", "accounts", i, "name")
		}
		if a.Email != "" && (len(a.Email) < 6 || len(a.Email) > 64 || !orgEmailRE.MatchString(a.Email)) {
			bad(fmt.Sprintf("%q is not an email address of 6-64 characters", a.Email), "accounts", i, "email")
		}
	}
	o := sc.Organization
	if o == nil {
		return ps
	}
	checkTags := func(tags map[string]string, path ...any) {
		if len(tags) > 50 {
			bad("at most 50 tags", path...)
		}
		for k, v := range tags {
			if k == "" || len(k) > 128 || len(v) > 256 || strings.HasPrefix(strings.ToLower(k), "aws:") {
				bad(fmt.Sprintf("tag %q: keys are 1-128 characters not starting with aws:, values at most 256", k), append(path, k)...)
			}
		}
	}
	if !ids[o.ManagementAccount] {
		bad(fmt.Sprintf("account %q is not in this scenario", o.ManagementAccount), "organization", "management_account")
	}
	names := map[string]int{}
	for i, ou := range o.OUs {
		if ou.Name == "" || len(ou.Name) > 128 {
			bad("an OU name is 1-128 characters", "organization", "ous", i, "name")
		} else if _, dup := names[ou.Name]; dup || ou.Name == "root" {
			bad(fmt.Sprintf("OU name %q is used twice or is \"root\" (parents name OUs, so names are unique here)", ou.Name), "organization", "ous", i, "name")
		}
		names[ou.Name] = i
	}
	placed := map[string]bool{}
	for i, ou := range o.OUs {
		if ou.Parent != "" && ou.Parent != "root" {
			if _, ok := names[ou.Parent]; !ok {
				bad(fmt.Sprintf("parent %q is neither root nor an OU of this organization", ou.Parent), "organization", "ous", i, "parent")
			} else {
				// Walk up to the root: a cycle never gets there, and AWS nests OUs 5 levels deep.
				depth, p, seen := 1, ou.Parent, map[string]bool{ou.Name: true}
				for p != "" && p != "root" && !seen[p] {
					k, known := names[p]
					if !known {
						break // reported on the OU that names it
					}
					seen[p] = true
					depth++
					p = o.OUs[k].Parent
				}
				if _, known := names[p]; known && seen[p] {
					bad("OU parents form a cycle", "organization", "ous", i, "parent")
				} else if depth > orgMaxDepth {
					bad(fmt.Sprintf("OUs nest at most %d levels below the root", orgMaxDepth), "organization", "ous", i, "parent")
				}
			}
		}
		for j, id := range ou.Accounts {
			switch {
			case !ids[id]:
				bad(fmt.Sprintf("account %q is not in this scenario", id), "organization", "ous", i, "accounts", j)
			case placed[id]:
				bad(fmt.Sprintf("account %s is in two OUs", id), "organization", "ous", i, "accounts", j)
			}
			placed[id] = true
		}
		checkTags(ou.Tags, "organization", "ous", i, "tags")
	}
	for i, id := range o.Suspended {
		switch {
		case !ids[id]:
			bad(fmt.Sprintf("account %q is not in this scenario", id), "organization", "suspended", i)
		case id == o.ManagementAccount:
			bad("the management account cannot be suspended", "organization", "suspended", i)
		}
	}
	for id, tags := range o.AccountTags {
		if !ids[id] {
			bad(fmt.Sprintf("account %q is not in this scenario", id), "organization", "account_tags", id)
		}
		checkTags(tags, "organization", "account_tags", id)
	}
	return ps
}

func validateKey(k ScenarioKey, _ int, bad func(string, ...any), seen map[string]bool, p ...any) {
	at := func(more ...any) []any { return append(append([]any{}, p...), more...) }
	if k.Status != "Active" && k.Status != "Inactive" && k.Status != "" {
		bad(fmt.Sprintf("must be Active or Inactive, got %q", k.Status), at("status")...)
	}
	if k.AgeDays < 0 {
		bad("must not be negative", at("age_days")...)
	}
	if k.LastUsedDaysAgo != nil && (*k.LastUsedDaysAgo < 0 || *k.LastUsedDaysAgo > k.AgeDays) {
		bad("must be within 0..age_days (a key is not used before it exists)", at("last_used_days_ago")...)
	}
	if k.ID != "" {
		if !accessKeyRE.MatchString(k.ID) {
			bad("must be AKIA followed by 16 upper-case letters or digits", at("id")...)
		} else if seen[k.ID] {
			bad(fmt.Sprintf("access key id %s is used twice", k.ID), at("id")...)
		}
		seen[k.ID] = true
	}
	if k.Secret != "" && len(k.Secret) != 40 {
		bad("must be 40 characters", at("secret")...)
	}
}

const day = 24 * time.Hour

// Load replaces all state with sc (validated first) and sets the clock to its start.
func (s *Server) Load(sc *Scenario) error {
	if err := sc.Validate(); err != nil {
		return err
	}
	start := sc.Start
	if start.IsZero() {
		start = DefaultStart
	}
	seed := sc.Seed
	if seed == 0 {
		seed = 20261121
	}
	w := newWorld(seed)
	w.issued = s.issued
	for _, sa := range sc.Accounts {
		a := newAccount(sa.ID)
		a.Alias = sa.Alias
		if sa.Region != "" {
			a.Region = sa.Region
		}
		if pp := sa.PasswordPolicy; pp != nil {
			a.passwordPolicy = &passwordPolicy{
				MinimumPasswordLength: max(pp.MinimumLength, 6), RequireSymbols: pp.RequireSymbols,
				RequireNumbers: pp.RequireNumbers, RequireUppercaseCharacters: pp.RequireUppercase,
				RequireLowercaseCharacters: pp.RequireLowercase, AllowUsersToChangePassword: pp.AllowUsersToChangePassword,
				MaxPasswordAge: pp.MaxPasswordAge, PasswordReusePrevention: pp.PasswordReusePrevention, HardExpiry: pp.HardExpiry,
			}
		}
		for _, g := range sa.Groups {
			a.groups[strings.ToLower(g)] = &group{Name: g, Path: "/", GroupID: w.newID("AGPA"), Created: start.Add(-365 * day)}
		}
		for _, r := range sa.Roles {
			msd := time.Hour
			if r.MaxSessionDuration != "" {
				msd, _ = time.ParseDuration(r.MaxSessionDuration)
			}
			path := r.Path
			if path == "" {
				path = "/"
			}
			a.roles[strings.ToLower(r.Name)] = &role{Name: r.Name, Path: path, RoleID: w.newID("AROA"), Created: start.Add(-365 * day),
				TrustedAccounts: append([]string(nil), r.TrustedAccounts...), ExternalID: r.ExternalID, MaxSession: msd}
		}
		for _, k := range sa.RootAccessKeys {
			a.rootKeys = append(a.rootKeys, seedKey(w, k, start))
		}
		for _, su := range sa.Users {
			u := &user{Name: su.Name, Path: su.Path, UserID: w.newID("AIDA"), MFA: su.MFA}
			if u.Path == "" {
				u.Path = "/"
			}
			oldest := 0
			for _, k := range su.AccessKeys {
				oldest = max(oldest, k.AgeDays)
			}
			if su.LoginProfile != nil {
				oldest = max(oldest, su.LoginProfile.AgeDays)
			}
			age := oldest + 30
			if su.AgeDays != nil {
				age = max(*su.AgeDays, oldest)
			}
			u.Created = start.Add(-time.Duration(age) * day)
			keys := make([]string, 0, len(su.Tags))
			for k := range su.Tags {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				u.Tags = append(u.Tags, tag{Key: k, Value: su.Tags[k]})
			}
			a.setUser(u)
			for _, g := range su.Groups {
				grp := a.findGroup(g)
				grp.members = append(grp.members, strings.ToLower(u.Name))
				u.Groups = append(u.Groups, grp.Name)
			}
			if lp := su.LoginProfile; lp != nil {
				created := start.Add(-time.Duration(lp.AgeDays) * day)
				set := created
				if lp.PasswordAgeDays != nil {
					set = start.Add(-time.Duration(*lp.PasswordAgeDays) * day)
				}
				pw := w.newSecret()
				u.Login = &loginProfile{Created: created, PasswordSet: set, ResetRequired: lp.ResetRequired, passwordHash: hashPassword(pw)}
				u.passwordHistory = []string{hashPassword(pw)}
				if lp.LastUsedDaysAgo != nil {
					u.PasswordLastUsed = start.Add(-time.Duration(*lp.LastUsedDaysAgo) * day)
				}
			}
			sorted := append([]ScenarioKey(nil), su.AccessKeys...)
			sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].AgeDays > sorted[j].AgeDays })
			for _, sk := range sorted {
				w.addUserKey(a, u, seedKey(w, sk, start))
			}
		}
		loadFunctions(a, sa.Functions)
		loadEmailIdentities(a, sa.EmailIdentities, start)
		for _, sb := range sa.Buckets {
			region := sb.Region
			if region == "" {
				region = a.Region
			}
			w.buckets[sb.Name] = &s3Bucket{Name: sb.Name, Owner: a.ID, Region: region, Created: start.Add(-30 * day), objects: map[string]*s3Object{}}
		}
		a.operator = &credential{AccessKeyID: w.newID("AKIA"), Secret: w.newSecret(), Kind: kindOperator, Account: a}
		w.creds[a.operator.AccessKeyID] = a.operator
		w.accounts[a.ID] = a
		w.order = append(w.order, a.ID)
	}
	w.orgs.seedOrganization(sc, start)
	for _, a := range sc.Accounts {
		for _, sq := range a.Queues {
			// Validated already: the same calls succeeded on a throwaway world.
			_, _ = w.sqs.newQueue(sqsKey{a.ID, scenarioQueueRegion(a, sq), sq.Name}, sq.Attributes, nil, start)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.world = w
	s.scenario = sc
	if s.clock == nil {
		s.clock = NewClock(start)
	} else {
		s.clock.Set(start)
	}
	return nil
}

func seedKey(w *world, sk ScenarioKey, start time.Time) *accessKey {
	k := &accessKey{ID: sk.ID, Secret: sk.Secret, Status: sk.Status, Seeded: true,
		Created: start.Add(-time.Duration(sk.AgeDays) * day)}
	if k.ID == "" {
		k.ID = w.newID("AKIA")
	}
	if k.Secret == "" {
		k.Secret = w.newSecret()
	}
	if k.Status == "" {
		k.Status = "Active"
	}
	if sk.LastUsedDaysAgo != nil {
		k.LastUsed = start.Add(-time.Duration(*sk.LastUsedDaysAgo) * day)
		k.LastUsedService, k.LastUsedRegion = sk.LastUsedService, sk.LastUsedRegion
		if k.LastUsedService == "" {
			k.LastUsedService = "s3"
		}
		if k.LastUsedRegion == "" {
			k.LastUsedRegion = "us-east-1"
		}
	}
	return k
}

// Reset reloads the last loaded scenario, dropping every change since, and clears faults and stats.
func (s *Server) Reset() error {
	s.mu.Lock()
	sc := s.scenario
	s.mu.Unlock()
	s.faults.set(Faults{})
	s.ResetStats()
	return s.Load(sc)
}
