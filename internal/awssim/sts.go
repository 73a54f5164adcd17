package awssim

import (
	"net/http"
	"regexp"
	"strings"
	"time"
)

// STS.
var stsActions = map[string]handler{
	"GetCallerIdentity": stsGetCallerIdentity,
	"AssumeRole":        stsAssumeRole,
}

type getCallerIdentityResult struct {
	Arn     string `xml:"Arn"`
	UserId  string `xml:"UserId"`
	Account string `xml:"Account"`
}

// stsGetCallerIdentity needs no permission and cannot be denied: it answers who signed.
func stsGetCallerIdentity(_ *Server, q *request) (any, *apiError) {
	return getCallerIdentityResult{Arn: q.caller.arn(), UserId: q.caller.userID(), Account: q.acct.ID}, nil
}

var (
	// stsRoleARNRE splits arn:aws:iam::ACCOUNT:role/PATH/NAME into account, path and name.
	stsRoleARNRE     = regexp.MustCompile(`^arn:aws:iam::([0-9]{12}):role(/|/[\x21-\x7e]*/)([\w+=,.@-]{1,64})$`)
	stsSessionNameRE = regexp.MustCompile(`^[\w+=,.@-]*$`)
	stsExternalIDRE  = regexp.MustCompile(`^[\w+=,.@:/-]*$`)
)

const (
	stsMinDuration     = 900 * time.Second
	stsDefaultDuration = time.Hour
	// stsChainedMax is the longest session a role assumed with role credentials may have.
	stsChainedMax = time.Hour
)

type stsCredentials struct {
	AccessKeyId     string    `xml:"AccessKeyId"`
	SecretAccessKey string    `xml:"SecretAccessKey"`
	SessionToken    string    `xml:"SessionToken"`
	Expiration      time.Time `xml:"Expiration"`
}

type stsAssumedRoleUser struct {
	AssumedRoleId string `xml:"AssumedRoleId"`
	Arn           string `xml:"Arn"`
}

type assumeRoleResult struct {
	Credentials     stsCredentials     `xml:"Credentials"`
	AssumedRoleUser stsAssumedRoleUser `xml:"AssumedRoleUser"`
}

// stsAssumeRole issues temporary credentials for a role in any sandbox account whose trust
// (ScenarioRole.TrustedAccounts) names the caller's account. The credentials act in the role's
// account only. Their Expiration is wall-clock time (issue time + DurationSeconds on the real
// clock), and the sandbox refuses them with ExpiredToken once the real clock passes it: an SDK
// compares Expiration with its own clock to decide when to refresh, so an expiry on the settable
// sandbox clock would look expired (or never expire) to the client whenever the two clocks differ.
//
// Divergence (docs/sandbox.md): the operator credential, which answers as the account's root,
// may assume roles; real AWS refuses root users. The sandbox has no IAM policies, so any
// principal of a trusted account may assume the role.
func stsAssumeRole(s *Server, q *request) (any, *apiError) {
	arn := q.form.Get("RoleArn")
	name := q.form.Get("RoleSessionName")
	extID, hasExtID := q.form["ExternalId"]
	switch {
	case arn == "":
		return nil, errValidation("1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null")
	case len(arn) < 20 || len(arn) > 2048:
		return nil, errValidation("1 validation error detected: Value '%s' at 'roleArn' failed to satisfy constraint: Member must have length between 20 and 2048", arn)
	case name == "":
		return nil, errValidation("1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null")
	case len(name) < 2 || len(name) > 64:
		return nil, errValidation("1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must have length between 2 and 64", name)
	case !stsSessionNameRE.MatchString(name):
		return nil, errValidation("1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", name)
	}
	ext := ""
	if hasExtID && len(extID) > 0 {
		ext = extID[0]
		// ExternalId is not secret, but it is a shared check value: keep it out of messages.
		if len(ext) < 2 || len(ext) > 1224 || !stsExternalIDRE.MatchString(ext) {
			return nil, errValidation("1 validation error detected: Value at 'externalId' failed to satisfy constraint: Member must have length between 2 and 1224 and satisfy regular expression pattern: [\\w+=,.@:\\/-]*")
		}
	}
	duration := stsDefaultDuration
	secs, given, e := queryInt(q.form, "DurationSeconds")
	if e != nil {
		return nil, e
	}
	if given {
		if secs < int(stsMinDuration/time.Second) || secs > 43200 {
			return nil, errValidation("1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200", secs)
		}
		duration = time.Duration(secs) * time.Second
	}
	m := stsRoleARNRE.FindStringSubmatch(arn)
	if m == nil {
		return nil, errValidation("Request ARN is invalid")
	}

	denied := errorf(http.StatusForbidden, "AccessDenied", "User: %s is not authorized to perform: sts:AssumeRole on resource: %s", q.caller.arn(), arn)
	target, ok := s.world.accounts[m[1]]
	if !ok {
		return nil, denied
	}
	r := target.roles[strings.ToLower(m[3])]
	if r == nil || r.Path != m[2] || !stsTrusts(r, q.acct.ID) {
		return nil, denied
	}
	if r.ExternalID != "" && ext != r.ExternalID {
		return nil, denied
	}
	if q.caller.cred.Kind == kindSession && duration > stsChainedMax {
		return nil, errValidation("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
	}
	if duration > r.MaxSession {
		return nil, errValidation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}

	c := &credential{
		AccessKeyID:  s.world.newID("ASIA"),
		Secret:       s.world.newSecret(),
		SessionToken: s.world.randString(secretAlph, 356),
		Kind:         kindSession,
		Account:      target,
		RoleARN:      target.roleARN(r),
		RoleID:       r.RoleID,
		SessionName:  name,
		Expires:      q.wall.Add(duration).UTC().Truncate(time.Second),
	}
	s.world.creds[c.AccessKeyID] = c
	p := principal{cred: c}
	return assumeRoleResult{
		Credentials: stsCredentials{AccessKeyId: c.AccessKeyID, SecretAccessKey: c.Secret,
			SessionToken: c.SessionToken, Expiration: c.Expires},
		AssumedRoleUser: stsAssumedRoleUser{AssumedRoleId: p.userID(), Arn: p.arn()},
	}, nil
}

// stsTrusts reports whether the role's trust policy admits principals of account.
func stsTrusts(r *role, account string) bool {
	for _, t := range r.TrustedAccounts {
		if t == "*" || t == account {
			return true
		}
	}
	return false
}
