// Package scan reads an AWS account's IAM users, access keys and console passwords into an
// inventory, cheaply: the credential report and GetAccountAuthorizationDetails describe the whole
// account in a few calls. Keys the report describes carry placeholder ids (inventory.ReportKeyID:
// the report lists keys by slot); NeedsDetail may ask for a fresh ListAccessKeys and
// GetAccessKeyLastUsed (and GetLoginProfile and GetUser) of a user, and users the report does not
// know yet are always read fresh. A read that fails is "unknown" for the users it concerns, never
// "empty". ListKeys, LastUse and ReadLogin are the fresh per-user reads the executor makes right
// before a change.
package scan

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"

	"github.com/keycycle/keycycle/internal/backoff"
	"github.com/keycycle/keycycle/internal/inventory"
)

// IAMAPI is the part of the IAM client the scan calls; *iam.Client satisfies it.
type IAMAPI interface {
	GenerateCredentialReport(ctx context.Context, in *iam.GenerateCredentialReportInput, optFns ...func(*iam.Options)) (*iam.GenerateCredentialReportOutput, error)
	GetCredentialReport(ctx context.Context, in *iam.GetCredentialReportInput, optFns ...func(*iam.Options)) (*iam.GetCredentialReportOutput, error)
	iam.GetAccountAuthorizationDetailsAPIClient
	iam.ListAccessKeysAPIClient
	GetAccessKeyLastUsed(ctx context.Context, in *iam.GetAccessKeyLastUsedInput, optFns ...func(*iam.Options)) (*iam.GetAccessKeyLastUsedOutput, error)
	ListAccountAliases(ctx context.Context, in *iam.ListAccountAliasesInput, optFns ...func(*iam.Options)) (*iam.ListAccountAliasesOutput, error)
	LoginReader
}

var _ IAMAPI = (*iam.Client)(nil)

// Scanner reads one account. The zero value is not usable: set IAM.
type Scanner struct {
	IAM IAMAPI
	Log *slog.Logger
	// NeedsDetail says, from the credential report's view of a user (key ids empty), whether the
	// user's keys must be read fresh now. nil reads every user's keys (slow, exact).
	NeedsDetail func(inventory.User) bool
	// PollInterval between credential report polls (default 2s); ReportTimeout bounds the wait
	// for the report (default 5m).
	PollInterval  time.Duration
	ReportTimeout time.Duration
	// Concurrency of per-user detail reads (default 4).
	Concurrency int
	// Logins: the detail read of a user also reads its login profile fresh (GetLoginProfile,
	// GetUser) when the credential report says it has one or does not know the user. Without it
	// the report alone describes console passwords.
	Logins bool
}

// Stats counts what a scan did.
type Stats struct {
	Users       int // users found
	Detailed    int // users whose keys were read fresh
	UnknownKeys int // users whose keys could not be read
}

// Scan reads the account the client is signed into. accountID and alias label the result.
// It fails only when the account-wide reads fail (then nothing is known, and nothing must be
// changed); a failed per-user read marks that user unknown and the scan goes on.
func (s *Scanner) Scan(ctx context.Context, accountID string) (inventory.Account, Stats, error) {
	acct := inventory.Account{ID: accountID}
	var st Stats
	if out, err := s.IAM.ListAccountAliases(ctx, &iam.ListAccountAliasesInput{}); err == nil && len(out.AccountAliases) > 0 {
		acct.Alias = out.AccountAliases[0]
	}
	report, generated, err := s.credentialReport(ctx)
	if err != nil {
		return acct, st, &AccountError{AccountID: accountID, Err: fmt.Errorf("credential report: %w", err)}
	}
	users, err := s.users(ctx)
	if err != nil {
		return acct, st, &AccountError{AccountID: accountID, Err: fmt.Errorf("list users (GetAccountAuthorizationDetails): %w", err)}
	}
	st.Users = len(users)
	var detail []int
	for i := range users {
		u := &users[i]
		row, ok := report[u.Name]
		if ok && row.bad != "" {
			// An unreadable line: nothing is known of this user, and a fresh read must not make
			// it look known either (the report alone dates its password and MFA). Left unchanged.
			u.KeysKnown, u.Unknown, u.LoginUnknown = false, row.bad, row.bad
			continue
		}
		if ok && row.matches(u.Created) {
			u.Keys, u.KeysKnown, u.ReportTime = row.keys(), true, generated
			u.Login, u.LoginKnown = row.login(), row.passwordKnown
			u.MFA, u.MFAKnown = row.mfa, row.mfaKnown
			if !row.passwordKnown {
				u.LoginUnknown = "the credential report does not say whether the user has a password"
			}
		} else {
			// Created after the report (or a recreated user with the same name): the report
			// says nothing reliable about this user's keys.
			u.KeysKnown, u.Unknown = false, "not in the credential report yet"
		}
		if !u.KeysKnown || s.NeedsDetail == nil || s.NeedsDetail(*u) {
			detail = append(detail, i)
		}
	}
	s.detail(ctx, accountID, users, detail, report, &st)
	acct.Users = users
	return acct, st, nil
}

// detail reads fresh keys (and login profiles, see Logins) for users[idx...] with bounded
// concurrency.
func (s *Scanner) detail(ctx context.Context, accountID string, users []inventory.User, idx []int, report map[string]reportRow, st *Stats) {
	n := s.Concurrency
	if n <= 0 {
		n = 4
	}
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, i := range idx {
		wg.Add(1)
		sem <- struct{}{}
		go func(u *inventory.User) {
			defer wg.Done()
			defer func() { <-sem }()
			keys, err := s.Keys(ctx, u.Name)
			var login *inventory.LoginProfile
			var loginErr error
			row, inReport := report[u.Name]
			inReport = inReport && row.matches(u.Created)
			// With NeedsDetail (the cheap scan: its detail reads are about keys), a user the report
			// describes keeps the report's view of its console password, as every other user's
			// plan does: a fresh read dates an unused password differently (from the login
			// profile's creation), so reading it only for the users whose keys keycycle just
			// changed would change decisions with no time passing (I5). Without NeedsDetail every
			// user is read fresh, password included.
			readLogin := s.Logins && (!inReport || !row.passwordKnown || (s.NeedsDetail == nil && row.passwordEnabled))
			if readLogin {
				login, loginErr = ReadLogin(ctx, s.IAM, u.Name)
			}
			mu.Lock()
			defer mu.Unlock()
			st.Detailed++
			switch {
			case !readLogin:
			case loginErr != nil:
				u.Login, u.LoginKnown, u.LoginUnknown = nil, false, loginErr.Error()
				s.logger().Warn("cannot read the login profile; console password left unchanged", "account_id", accountID, "user", u.Name, "error", loginErr)
			default:
				if login != nil && inReport {
					// Only the report says when the password was last changed.
					login.PasswordChanged = row.passwordChanged
				}
				u.Login, u.LoginKnown, u.LoginUnknown = login, true, ""
			}
			if err != nil {
				st.UnknownKeys++
				u.Keys, u.KeysKnown, u.Unknown = nil, false, err.Error()
				s.logger().Warn("cannot read access keys; user left unchanged", "account_id", accountID, "user", u.Name, "error", err)
				return
			}
			u.Keys, u.KeysKnown, u.Unknown, u.ReportTime = keys, true, "", time.Time{}
		}(&users[i])
	}
	wg.Wait()
}

func (s *Scanner) logger() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// Keys reads a user's access keys and each key's last use, fresh. Any failure fails the whole
// read: a partial answer must not look like "no more keys" or "never used".
func (s *Scanner) Keys(ctx context.Context, userName string) ([]inventory.AccessKey, error) {
	return ReadKeys(ctx, s.IAM, userName)
}

// KeyReader is what ReadKeys needs; *iam.Client satisfies it.
type KeyReader interface {
	iam.ListAccessKeysAPIClient
	GetAccessKeyLastUsed(ctx context.Context, in *iam.GetAccessKeyLastUsedInput, optFns ...func(*iam.Options)) (*iam.GetAccessKeyLastUsedOutput, error)
}

// ReadKeys lists a user's access keys (every page) and their last use.
func ReadKeys(ctx context.Context, c KeyReader, userName string) ([]inventory.AccessKey, error) {
	keys, err := ListKeys(ctx, c, userName)
	if err != nil {
		return nil, err
	}
	for i := range keys {
		if err := LastUse(ctx, c, userName, &keys[i]); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// ListKeys lists a user's access keys (every page), oldest first, without their last use
// (LastUsedKnown false).
func ListKeys(ctx context.Context, c iam.ListAccessKeysAPIClient, userName string) ([]inventory.AccessKey, error) {
	var keys []inventory.AccessKey
	p := iam.NewListAccessKeysPaginator(c, &iam.ListAccessKeysInput{UserName: aws.String(userName)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list access keys of %s: %w", userName, err)
		}
		for _, m := range page.AccessKeyMetadata {
			keys = append(keys, inventory.AccessKey{
				ID:      inventory.KeyID(aws.ToString(m.AccessKeyId)),
				Status:  inventory.KeyStatus(m.Status),
				Created: aws.ToTime(m.CreateDate).UTC(),
			})
		}
	}
	inventory.SortKeys(keys)
	return keys, nil
}

// LastUseReader is what LastUse needs; *iam.Client satisfies it.
type LastUseReader interface {
	GetAccessKeyLastUsed(ctx context.Context, in *iam.GetAccessKeyLastUsedInput, optFns ...func(*iam.Options)) (*iam.GetAccessKeyLastUsedOutput, error)
}

// LastUse reads k's last use into it. An error is not "never used" (AWS-FACTS): k stays with
// LastUsedKnown false and the error names the user and the key.
func LastUse(ctx context.Context, c LastUseReader, userName string, k *inventory.AccessKey) error {
	out, err := c.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(k.ID.Raw())})
	if err != nil {
		return fmt.Errorf("last use of %s's key %s: %w", userName, k.ID, err)
	}
	k.LastUsedKnown = true
	if lu := out.AccessKeyLastUsed; lu != nil {
		if lu.LastUsedDate != nil {
			k.LastUsed = lu.LastUsedDate.UTC()
		}
		k.LastUsedService = aws.ToString(lu.ServiceName)
		k.LastUsedRegion = aws.ToString(lu.Region)
	}
	return nil
}

// LoginReader is what ReadLogin needs; *iam.Client satisfies it.
type LoginReader interface {
	GetLoginProfile(ctx context.Context, in *iam.GetLoginProfileInput, optFns ...func(*iam.Options)) (*iam.GetLoginProfileOutput, error)
	GetUser(ctx context.Context, in *iam.GetUserInput, optFns ...func(*iam.Options)) (*iam.GetUserOutput, error)
}

// ReadLogin reads a user's login profile fresh: nil when the user has none. The password's last
// use comes from GetUser; when it was changed is not in either answer (only the credential report
// has it), so PasswordChanged stays zero. Any failure fails the read: an error is not "no
// password".
func ReadLogin(ctx context.Context, c LoginReader, userName string) (*inventory.LoginProfile, error) {
	out, err := c.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: aws.String(userName)})
	var nse *iamtypes.NoSuchEntityException
	if errors.As(err, &nse) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get login profile of %s: %w", userName, err)
	}
	l := &inventory.LoginProfile{
		Created:       aws.ToTime(out.LoginProfile.CreateDate).UTC(),
		ResetRequired: out.LoginProfile.PasswordResetRequired,
	}
	u, err := c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(userName)})
	if err != nil {
		return nil, fmt.Errorf("password last use of %s: %w", userName, err)
	}
	// Absent PasswordLastUsed: never used (or not since IAM began tracking in 2014).
	l.LastUsed, l.LastUsedKnown = aws.ToTime(u.User.PasswordLastUsed).UTC(), true
	if u.User.PasswordLastUsed == nil {
		l.LastUsed = time.Time{}
	}
	return l, nil
}

// users lists every user with tags and groups through GetAccountAuthorizationDetails.
func (s *Scanner) users(ctx context.Context) ([]inventory.User, error) {
	var out []inventory.User
	p := iam.NewGetAccountAuthorizationDetailsPaginator(s.IAM, &iam.GetAccountAuthorizationDetailsInput{
		Filter:   []iamtypes.EntityType{iamtypes.EntityTypeUser},
		MaxItems: aws.Int32(1000),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, d := range page.UserDetailList {
			u := inventory.User{
				Name:    aws.ToString(d.UserName),
				UserID:  aws.ToString(d.UserId),
				ARN:     aws.ToString(d.Arn),
				Path:    aws.ToString(d.Path),
				Created: aws.ToTime(d.CreateDate).UTC(),
				Groups:  append([]string(nil), d.GroupList...),
			}
			if len(d.Tags) > 0 {
				u.Tags = make(map[string]string, len(d.Tags))
			}
			for _, t := range d.Tags {
				u.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
			}
			out = append(out, u)
		}
	}
	return out, nil
}

// AccountError is a failure of an account-wide read: nothing is known of the account. It names
// the account once; callers that add the account themselves check for it with errors.As.
type AccountError struct {
	AccountID string
	Err       error
}

func (e *AccountError) Error() string { return fmt.Sprintf("account %s: %v", e.AccountID, e.Err) }
func (e *AccountError) Unwrap() error { return e.Err }

// reportRow is one user's line of the credential report.
type reportRow struct {
	// bad, when set, says why the line could not be read: the user is unknown.
	bad     string
	created time.Time
	slots   [2]reportKey
	// passwordKnown: password_enabled was true or false (not not_supported or missing).
	passwordKnown   bool
	passwordEnabled bool
	passwordChanged time.Time // zero when N/A
	passwordUsed    time.Time // zero: never used (N/A, no_information)
	mfa, mfaKnown   bool
}

// matches reports whether the row describes the user created at created: the report writes whole
// seconds, while an endpoint may give sub-second creation times, so they compare to the second. A
// user deleted and recreated under the same name differs by at least a second.
func (r reportRow) matches(created time.Time) bool {
	return r.created.Unix() == created.Unix()
}

// login is the console password the report describes: nil when the user has none (or the report
// does not say).
func (r reportRow) login() *inventory.LoginProfile {
	if !r.passwordKnown || !r.passwordEnabled {
		return nil
	}
	// password_last_used: N/A (never used) and no_information (not used since IAM began tracking
	// in 2014) both mean no use keycycle can date: the password counts as never used.
	return &inventory.LoginProfile{PasswordChanged: r.passwordChanged, LastUsed: r.passwordUsed, LastUsedKnown: true}
}

type reportKey struct {
	present  bool
	active   bool
	rotated  time.Time // zero when N/A
	lastUsed time.Time // zero when N/A (never used)
	service  string
	region   string
}

func (r reportRow) keys() []inventory.AccessKey {
	var out []inventory.AccessKey
	for n, k := range r.slots {
		if n == 0 && !k.present && r.slots[1].present {
			// The report fills slot 1 first: a key in slot 2 means slot 1 holds one it shows no
			// date for, an inactive key never used (a use would be reported).
			out = append(out, inventory.AccessKey{ID: inventory.ReportKeyID(1), Status: inventory.StatusInactive, LastUsedKnown: true})
			continue
		}
		if !k.present {
			continue
		}
		st := inventory.StatusInactive
		if k.active {
			st = inventory.StatusActive
		}
		out = append(out, inventory.AccessKey{ID: inventory.ReportKeyID(n + 1), Status: st, Created: k.rotated, LastUsed: k.lastUsed,
			LastUsedKnown: true, LastUsedService: k.service, LastUsedRegion: k.region})
	}
	return out
}

// credentialReport generates (or reuses, when fresh) the report, waits for it and parses it.
func (s *Scanner) credentialReport(ctx context.Context) (map[string]reportRow, time.Time, error) {
	poll := s.PollInterval
	if poll <= 0 {
		poll = 2 * time.Second
	}
	limit := s.ReportTimeout
	if limit <= 0 {
		limit = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	// A new report takes seconds: poll soon, then back off to the interval.
	wait := min(250*time.Millisecond, poll)
	for {
		gen, err := s.IAM.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{})
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("generate: %w", err)
		}
		if gen.State == iamtypes.ReportStateTypeComplete {
			out, err := s.IAM.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
			if err == nil {
				rows, err := parseReport(out.Content)
				return rows, aws.ToTime(out.GeneratedTime).UTC(), err
			}
			var ae smithy.APIError
			if !errors.As(err, &ae) {
				return nil, time.Time{}, fmt.Errorf("get: %w", err)
			}
			switch ae.ErrorCode() {
			case "ReportInProgress", "ReportExpired", "ReportNotPresent":
				// generate again / wait
			default:
				return nil, time.Time{}, fmt.Errorf("get: %w", err)
			}
		}
		if err := backoff.Sleep(ctx, wait); err != nil {
			return nil, time.Time{}, fmt.Errorf("report not ready after %s: %w", limit, err)
		}
		wait = min(wait*2, poll)
	}
}

// parseReport reads the CSV by column name, so added columns do not break it.
func parseReport(content []byte) (map[string]reportRow, error) {
	r := csv.NewReader(bytes.NewReader(content))
	r.FieldsPerRecord = -1 // a line of the wrong length marks its user unknown, see below
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("parse credential report header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	for _, need := range []string{"user", "user_creation_time", "access_key_1_active", "access_key_1_last_rotated", "access_key_1_last_used_date", "access_key_2_active"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("credential report lacks column %q", need)
		}
	}
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return rec[i]
		}
		return ""
	}
	rows := map[string]reportRow{}
	for line := 2; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			// A line the CSV reader cannot split names no user reliably: its user is absent
			// from the rows, so the scan reads that user fresh like one created after the report.
			continue
		}
		name := get(rec, "user")
		if name == "<root_account>" {
			continue // root keys cannot be managed by IAM principals
		}
		if len(rec) != len(header) {
			if name != "" {
				rows[name] = reportRow{bad: fmt.Sprintf("credential report line %d unreadable (%d fields, the header has %d): user left unchanged",
					line, len(rec), len(header))}
			}
			continue
		}
		row := reportRow{created: reportTime(get(rec, "user_creation_time"))}
		switch get(rec, "password_enabled") {
		case "true":
			row.passwordKnown, row.passwordEnabled = true, true
			row.passwordChanged = reportTime(get(rec, "password_last_changed"))
			row.passwordUsed = reportTime(get(rec, "password_last_used"))
		case "false":
			row.passwordKnown = true
		}
		switch get(rec, "mfa_active") {
		case "true":
			row.mfa, row.mfaKnown = true, true
		case "false":
			row.mfaKnown = true
		}
		for n := 1; n <= 2; n++ {
			p := fmt.Sprintf("access_key_%d_", n)
			active := get(rec, p+"active")
			k := reportKey{
				active:   active == "true",
				rotated:  reportTime(get(rec, p+"last_rotated")),
				lastUsed: reportTime(get(rec, p+"last_used_date")),
				service:  get(rec, p+"last_used_service"),
				region:   get(rec, p+"last_used_region"),
			}
			// A slot holds a key when it is active, or inactive with any date recorded.
			k.present = k.active || !k.rotated.IsZero() || !k.lastUsed.IsZero()
			row.slots[n-1] = k
		}
		rows[name] = row
	}
}

// reportTime parses the report's ISO 8601 times; N/A, no_information, not_supported are zero.
func reportTime(v string) time.Time {
	v = strings.TrimSpace(v)
	if len(v) < 19 || v[0] < '0' || v[0] > '9' { // N/A, no_information, not_supported, empty
		return time.Time{}
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05-07:00", "2006-01-02T15:04:05Z07:00"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// ReadGroups lists the names of the groups a user belongs to (every page).
func ReadGroups(ctx context.Context, c iam.ListGroupsForUserAPIClient, userName string) ([]string, error) {
	var out []string
	p := iam.NewListGroupsForUserPaginator(c, &iam.ListGroupsForUserInput{UserName: aws.String(userName)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("groups of %s: %w", userName, err)
		}
		for _, g := range page.Groups {
			out = append(out, aws.ToString(g.GroupName))
		}
	}
	return out, nil
}
