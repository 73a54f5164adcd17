package awssim

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// IAM login profiles and the account password policy.
var iamLoginActions = map[string]handler{
	"CreateLoginProfile":          iamCreateLoginProfile,
	"GetLoginProfile":             iamGetLoginProfile,
	"UpdateLoginProfile":          iamUpdateLoginProfile,
	"DeleteLoginProfile":          iamDeleteLoginProfile,
	"GetAccountPasswordPolicy":    iamGetAccountPasswordPolicy,
	"UpdateAccountPasswordPolicy": iamUpdateAccountPasswordPolicy,
	"DeleteAccountPasswordPolicy": iamDeleteAccountPasswordPolicy,
}

// passwordSymbols are the non-alphanumeric characters IAM's password policy counts as symbols.
const passwordSymbols = "!@#$%^&*()_+-=[]{}|'"

// maxPasswordHistory bounds user.passwordHistory: PasswordReusePrevention is at most 24.
const maxPasswordHistory = 24

type xmlLoginProfile struct {
	UserName              string    `xml:"UserName"`
	CreateDate            time.Time `xml:"CreateDate"`
	PasswordResetRequired bool      `xml:"PasswordResetRequired"`
}

func loginProfileXML(u *user) xmlLoginProfile {
	return xmlLoginProfile{UserName: u.Name, CreateDate: u.Login.Created, PasswordResetRequired: u.Login.ResetRequired}
}

func errPasswordPolicy(detail string) *apiError {
	return errorf(http.StatusBadRequest, "PasswordPolicyViolation", "Password does not conform to the account password policy. %s", detail)
}

// passwordParam reads the Password parameter against IAM's passwordType (1-128 characters of
// tab, LF, CR and U+0020..U+00FF). The value never appears in an error.
func passwordParam(q *request) (pw string, present bool, e *apiError) {
	v, ok := q.form["Password"]
	if !ok || len(v) == 0 {
		return "", false, nil
	}
	pw = v[0]
	if len(pw) == 0 || len([]rune(pw)) > 128 {
		return "", true, errValidation("1 validation error detected: Value at 'password' failed to satisfy constraint: Member must have length between 1 and 128")
	}
	for _, r := range pw {
		if r != '\t' && r != '\n' && r != '\r' && (r < 0x20 || r > 0xff) {
			return "", true, errValidation("1 validation error detected: Value at 'password' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+")
		}
	}
	return pw, true, nil
}

// checkPassword applies the account's password policy, or AWS's default policy when none is set,
// and PasswordReusePrevention against the user's previous passwords.
//
// AWS's default policy: at least 8 characters, at least three of upper case, lower case, digits
// and symbols, and not the account name or e-mail. The sandbox knows no account e-mail, so it
// refuses the user's name and the account alias instead.
// IAM documents reuse prevention for passwords users set themselves; the sandbox applies it to
// passwords set through CreateLoginProfile and UpdateLoginProfile too.
func checkPassword(a *account, u *user, pw string) *apiError {
	var upper, lower, digit, symbol bool
	for _, r := range pw {
		switch {
		case 'A' <= r && r <= 'Z':
			upper = true
		case 'a' <= r && r <= 'z':
			lower = true
		case '0' <= r && r <= '9':
			digit = true
		case strings.ContainsRune(passwordSymbols, r):
			symbol = true
		}
	}
	n := len([]rune(pw))
	pp := a.passwordPolicy
	if pp == nil {
		if n < 8 {
			return errPasswordPolicy("It must be at least 8 characters long.")
		}
		kinds := 0
		for _, ok := range []bool{upper, lower, digit, symbol} {
			if ok {
				kinds++
			}
		}
		if kinds < 3 {
			return errPasswordPolicy("It must contain at least three of: upper case letters, lower case letters, numbers, symbols (" + passwordSymbols + ").")
		}
		if strings.EqualFold(pw, u.Name) || (a.Alias != "" && strings.EqualFold(pw, a.Alias)) {
			return errPasswordPolicy("It must not be the user name or the account name.")
		}
		return nil
	}
	switch {
	case n < pp.MinimumPasswordLength:
		return errPasswordPolicy("It must be at least " + strconv.Itoa(pp.MinimumPasswordLength) + " characters long.")
	case pp.RequireUppercaseCharacters && !upper:
		return errPasswordPolicy("It must contain at least one upper case letter.")
	case pp.RequireLowercaseCharacters && !lower:
		return errPasswordPolicy("It must contain at least one lower case letter.")
	case pp.RequireNumbers && !digit:
		return errPasswordPolicy("It must contain at least one number.")
	case pp.RequireSymbols && !symbol:
		return errPasswordPolicy("It must contain at least one symbol (" + passwordSymbols + ").")
	}
	if pp.PasswordReusePrevention > 0 {
		h := hashPassword(pw)
		hist := u.passwordHistory
		if len(hist) > pp.PasswordReusePrevention {
			hist = hist[len(hist)-pp.PasswordReusePrevention:]
		}
		for _, old := range hist {
			if old == h {
				return errPasswordPolicy("It must not be one of the user's last " + strconv.Itoa(pp.PasswordReusePrevention) + " passwords.")
			}
		}
	}
	return nil
}

// setPassword records a password change on the user's login profile and history.
func setPassword(u *user, pw string, now time.Time) {
	h := hashPassword(pw)
	u.Login.passwordHash = h
	u.Login.PasswordSet = now
	u.passwordHistory = append(u.passwordHistory, h)
	if len(u.passwordHistory) > maxPasswordHistory {
		u.passwordHistory = append([]string(nil), u.passwordHistory[len(u.passwordHistory)-maxPasswordHistory:]...)
	}
}

// loginUser resolves UserName for login profile actions. Root (operator) calls without UserName
// would act on the root user in AWS (through an AssumeRoot session); the sandbox asks for a name.
func loginUser(q *request) (*user, *apiError) {
	if q.form.Get("UserName") == "" && q.caller.cred.Kind == kindOperator {
		return nil, errValidation("The keycycle sandbox does not manage the root user's password: pass UserName to act on an IAM user.")
	}
	return userParam(q, false)
}

type loginProfileResult struct {
	LoginProfile xmlLoginProfile `xml:"LoginProfile"`
}

func iamCreateLoginProfile(s *Server, q *request) (any, *apiError) {
	u, e := loginUser(q)
	if e != nil {
		return nil, e
	}
	pw, present, e := passwordParam(q)
	if e != nil {
		return nil, e
	}
	if !present {
		return nil, errValidation("1 validation error detected: Value null at 'password' failed to satisfy constraint: Member must not be null")
	}
	reset, e := queryBool(q.form, "PasswordResetRequired", false)
	if e != nil {
		return nil, e
	}
	if u.Login != nil {
		return nil, errEntityExists("Login Profile for user %s already exists.", u.Name)
	}
	if e := checkPassword(q.acct, u, pw); e != nil {
		return nil, e
	}
	u.Login = &loginProfile{Created: q.now, ResetRequired: reset}
	setPassword(u, pw, q.now)
	s.world.noteSecret(pw)
	return loginProfileResult{LoginProfile: loginProfileXML(u)}, nil
}

func errNoLoginProfile(u *user) *apiError {
	return errNoSuchEntity("Login Profile for User %s cannot be found.", u.Name)
}

func iamGetLoginProfile(_ *Server, q *request) (any, *apiError) {
	u, e := loginUser(q)
	if e != nil {
		return nil, e
	}
	if u.Login == nil {
		return nil, errNoLoginProfile(u)
	}
	return loginProfileResult{LoginProfile: loginProfileXML(u)}, nil
}

// iamUpdateLoginProfile changes the password and/or PasswordResetRequired; an absent parameter
// leaves that setting as it is.
func iamUpdateLoginProfile(s *Server, q *request) (any, *apiError) {
	u, e := loginUser(q)
	if e != nil {
		return nil, e
	}
	pw, present, e := passwordParam(q)
	if e != nil {
		return nil, e
	}
	reset, e := queryBool(q.form, "PasswordResetRequired", false)
	if e != nil {
		return nil, e
	}
	if u.Login == nil {
		return nil, errNoLoginProfile(u)
	}
	if present {
		if e := checkPassword(q.acct, u, pw); e != nil {
			return nil, e
		}
		setPassword(u, pw, q.now)
		s.world.noteSecret(pw)
	}
	if _, given := q.form["PasswordResetRequired"]; given {
		u.Login.ResetRequired = reset
	}
	return nil, nil
}

// iamDeleteLoginProfile removes console access. The user's password history stays with the user
// (IAM does not document whether it survives; keeping it is the stricter choice).
func iamDeleteLoginProfile(_ *Server, q *request) (any, *apiError) {
	u, e := loginUser(q)
	if e != nil {
		return nil, e
	}
	if u.Login == nil {
		return nil, errNoLoginProfile(u)
	}
	u.Login = nil
	return nil, nil
}

type xmlPasswordPolicy struct {
	MinimumPasswordLength      int  `xml:"MinimumPasswordLength"`
	RequireSymbols             bool `xml:"RequireSymbols"`
	RequireNumbers             bool `xml:"RequireNumbers"`
	RequireUppercaseCharacters bool `xml:"RequireUppercaseCharacters"`
	RequireLowercaseCharacters bool `xml:"RequireLowercaseCharacters"`
	AllowUsersToChangePassword bool `xml:"AllowUsersToChangePassword"`
	ExpirePasswords            bool `xml:"ExpirePasswords"`
	MaxPasswordAge             int  `xml:"MaxPasswordAge,omitempty"`
	PasswordReusePrevention    int  `xml:"PasswordReusePrevention,omitempty"`
	HardExpiry                 bool `xml:"HardExpiry,omitempty"`
}

type getAccountPasswordPolicyResult struct {
	PasswordPolicy xmlPasswordPolicy `xml:"PasswordPolicy"`
}

func iamGetAccountPasswordPolicy(_ *Server, q *request) (any, *apiError) {
	pp := q.acct.passwordPolicy
	if pp == nil {
		return nil, errNoSuchEntity("The Password Policy with domain name %s cannot be found.", q.acct.ID)
	}
	return getAccountPasswordPolicyResult{PasswordPolicy: xmlPasswordPolicy{
		MinimumPasswordLength: pp.MinimumPasswordLength, RequireSymbols: pp.RequireSymbols, RequireNumbers: pp.RequireNumbers,
		RequireUppercaseCharacters: pp.RequireUppercaseCharacters, RequireLowercaseCharacters: pp.RequireLowercaseCharacters,
		AllowUsersToChangePassword: pp.AllowUsersToChangePassword, ExpirePasswords: pp.MaxPasswordAge > 0,
		MaxPasswordAge: pp.MaxPasswordAge, PasswordReusePrevention: pp.PasswordReusePrevention, HardExpiry: pp.HardExpiry,
	}}, nil
}

// intRange reads an optional integer parameter within lo..hi (IAM model constraints).
func intRange(q *request, name string, lo, hi, def int) (int, *apiError) {
	n, present, e := queryInt(q.form, name)
	if e != nil || !present {
		return def, e
	}
	if n < lo {
		return 0, errValidation("1 validation error detected: Value '%d' at '%s' failed to satisfy constraint: Member must have value greater than or equal to %d", n, lowerFirst(name), lo)
	}
	if n > hi {
		return 0, errValidation("1 validation error detected: Value '%d' at '%s' failed to satisfy constraint: Member must have value less than or equal to %d", n, lowerFirst(name), hi)
	}
	return n, nil
}

// iamUpdateAccountPasswordPolicy replaces the whole policy: as IAM documents, a parameter left out
// takes its default (MinimumPasswordLength 6, the rest false or 0), it is not left unchanged.
func iamUpdateAccountPasswordPolicy(_ *Server, q *request) (any, *apiError) {
	var pp passwordPolicy
	var e *apiError
	if pp.MinimumPasswordLength, e = intRange(q, "MinimumPasswordLength", 6, 128, 6); e != nil {
		return nil, e
	}
	if pp.MaxPasswordAge, e = intRange(q, "MaxPasswordAge", 1, 1095, 0); e != nil {
		return nil, e
	}
	if pp.PasswordReusePrevention, e = intRange(q, "PasswordReusePrevention", 1, 24, 0); e != nil {
		return nil, e
	}
	for _, b := range []struct {
		name string
		dst  *bool
	}{
		{"RequireSymbols", &pp.RequireSymbols}, {"RequireNumbers", &pp.RequireNumbers},
		{"RequireUppercaseCharacters", &pp.RequireUppercaseCharacters}, {"RequireLowercaseCharacters", &pp.RequireLowercaseCharacters},
		{"AllowUsersToChangePassword", &pp.AllowUsersToChangePassword}, {"HardExpiry", &pp.HardExpiry},
	} {
		if *b.dst, e = queryBool(q.form, b.name, false); e != nil {
			return nil, e
		}
	}
	q.acct.passwordPolicy = &pp
	return nil, nil
}

func iamDeleteAccountPasswordPolicy(_ *Server, q *request) (any, *apiError) {
	if q.acct.passwordPolicy == nil {
		return nil, errNoSuchEntity("The Password Policy with domain name %s cannot be found.", q.acct.ID)
	}
	q.acct.passwordPolicy = nil
	return nil, nil
}
