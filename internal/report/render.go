package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Format is an output format of the report.
type Format string

// Formats.
const (
	Table    Format = "table"
	JSON     Format = "json"
	CSV      Format = "csv"
	Markdown Format = "markdown"
	HTML     Format = "html"
)

// Formats lists every format, for usage text.
var Formats = []Format{Table, JSON, CSV, Markdown, HTML}

// ParseFormat reads a format name.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats {
		if string(f) == s {
			return f, nil
		}
	}
	if s == "md" {
		return Markdown, nil
	}
	return "", fmt.Errorf("unknown format %q: want one of table, json, csv, markdown, html", s)
}

// Write renders r in format f.
func Write(w io.Writer, r Report, f Format) error {
	switch f {
	case JSON:
		return WriteJSON(w, r)
	case CSV:
		return WriteCSV(w, r)
	case Markdown:
		return WriteMarkdown(w, r)
	case HTML:
		return WriteHTML(w, r)
	case Table:
		return WriteTable(w, r)
	}
	return fmt.Errorf("unknown format %q", f)
}

// WriteJSON writes the report's JSON form (docs/report.md), indented.
func WriteJSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

func fmtDay(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02")
}

func fmtMinute(t time.Time) string { return t.UTC().Format("2006-01-02 15:04Z") }

func intOr(p *int, def string) string {
	if p == nil {
		return def
	}
	return strconv.Itoa(*p)
}

// lastUsed says when and where a key was last used.
func (k Key) lastUsed() string {
	switch {
	case !k.LastUsedKnown:
		return "unknown"
	case k.LastUsed.IsZero():
		return "never"
	}
	s := fmtDay(k.LastUsed)
	for _, x := range []string{k.LastUsedService, k.LastUsedRegion} {
		if x != "" {
			s += " " + x
		}
	}
	return s
}

func (c *Console) signIn() string {
	switch {
	case !c.LastSignInKnown:
		return "unknown"
	case c.LastSignIn.IsZero():
		return "never"
	}
	return fmtDay(c.LastSignIn)
}

func mfaWords(m *bool) string {
	switch {
	case m == nil:
		return "unknown"
	case *m:
		return "yes"
	}
	return "no"
}

// standing says whether keycycle manages the user.
func (u User) standing() string {
	switch {
	case !u.Managed:
		return "not managed: " + u.NotManaged
	case u.Exemption != nil && u.Exemption.Expired:
		return "managed (exemption expired " + fmtDay(u.Exemption.Until) + ")"
	case u.Exemption != nil && u.Exemption.Until.IsZero():
		return "exempt: " + u.Exemption.Reason
	case u.Exemption != nil:
		return "exempt until " + fmtDay(u.Exemption.Until) + ": " + u.Exemption.Reason
	}
	return "managed"
}

// stateWords summarises keycycle's state on the user; empty when none.
func (s State) words() string {
	var parts []string
	if !s.RotationStarted.IsZero() {
		parts = append(parts, "rotation in progress since "+fmtMinute(s.RotationStarted))
	}
	if !s.Delivered.IsZero() {
		parts = append(parts, "new key "+s.NewKey+" delivered "+fmtDay(s.Delivered)+" replacing "+s.ReplacedKey)
	}
	if !s.Deactivated.IsZero() {
		parts = append(parts, "key "+s.DeactivatedKey+" deactivated "+fmtDay(s.Deactivated))
	}
	if !s.PasswordRotated.IsZero() {
		parts = append(parts, "password rotated "+fmtDay(s.PasswordRotated))
	}
	if !s.ConsoleWarned.IsZero() {
		parts = append(parts, "unused console access warned "+fmtDay(s.ConsoleWarned))
	}
	return strings.Join(parts, "; ")
}

// failing lists the ids of the controls u fails.
func (u User) failing() []string {
	var out []string
	for _, c := range controlDefs {
		if u.Controls[c.id] == Fail {
			out = append(out, c.id)
		}
	}
	return out
}

// WriteTable writes the report for a terminal.
func WriteTable(w io.Writer, r Report) error {
	ew := &errWriter{w: w}
	if r.History != nil && len(r.Users) == 0 {
		writeHistoryTable(ew, *r.History)
		return ew.err
	}
	s := r.Summary
	ew.printf("keycycle report %s: %d accounts, %d users (%d managed, %d exempt), %d active keys, %d console users; compliance %.1f%%\n",
		fmtMinute(r.GeneratedAt), s.Accounts, s.Users, s.Managed, s.Exempt, s.ActiveKeys, s.Consoles, s.Compliance)
	for _, f := range r.Failed {
		ew.printf("  account %s not read: %s\n", f.AccountID, f.Error)
	}
	ew.printf("\nControls:\n")
	tw := tabwriter.NewWriter(ew, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  CONTROL\tPASS\tFAIL\tN/A\tUNKNOWN\tPERCENT\tTITLE\n")
	for _, c := range r.Controls {
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t%.1f%%\t%s\n", c.ID, c.Pass, c.Fail, c.NotApplicable, c.Unknown, c.Percent, c.Title)
	}
	_ = tw.Flush()
	ew.printf("  Thresholds:\n")
	for _, c := range r.Controls {
		if c.Threshold != "" {
			ew.printf("    %-8s %s\n", c.ID, c.Threshold)
		}
	}
	ew.printf("\nAccounts:\n")
	tw = tabwriter.NewWriter(ew, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  ACCOUNT\tALIAS\tUSERS\tCOMPLIANCE")
	for _, c := range r.Controls {
		fmt.Fprintf(tw, "\t%s", c.ID)
	}
	fmt.Fprintln(tw)
	for _, a := range r.Accounts {
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%.1f%%", a.ID, dash(a.Alias), a.Users, a.Compliance)
		for _, c := range a.Controls {
			fmt.Fprintf(tw, "\t%d/%d", c.Pass, c.Pass+c.Fail)
		}
		fmt.Fprintln(tw)
	}
	_ = tw.Flush()
	ew.printf("\nUsers:\n")
	for _, u := range r.Users {
		ew.printf("  %s %s  rule %s, %s", u.AccountID, u.Name, u.Rule, u.standing())
		if u.Owner != "" {
			ew.printf(", owner %s", u.Owner)
		}
		ew.printf("\n")
		if !u.KeysKnown {
			ew.printf("    keys unknown: %s\n", u.KeysUnknown)
		}
		for _, k := range u.Keys {
			ew.printf("    key %-24s %-8s age %-5s last used %s\n", k.ID, k.Status, intOr(k.AgeDays, "?")+"d", k.lastUsed())
		}
		if c := u.Console; c != nil {
			ew.printf("    console password age %sd, last sign-in %s, MFA %s\n", intOr(c.PasswordAgeDays, "?"), c.signIn(), mfaWords(u.MFA))
		} else if !u.ConsoleKnown {
			ew.printf("    console access unknown\n")
		}
		if st := u.State.words(); st != "" {
			ew.printf("    keycycle: %s\n", st)
		}
		if f := u.failing(); len(f) > 0 {
			ew.printf("    fails: %s\n", strings.Join(f, ", "))
		}
		for _, n := range u.Next {
			ew.printf("    next: %s %s: %s\n", n.Action, stepSubject(n.Credential, n.Key), n.Reason)
		}
	}
	if f := r.Forecast; f != nil {
		ew.printf("\nForecast: %d days from %s (assuming no one acts):\n", f.Days, fmtDay(f.From))
		if len(f.Events) == 0 {
			ew.printf("  nothing\n")
		}
		tw = tabwriter.NewWriter(ew, 0, 4, 2, ' ', 0)
		for _, e := range f.Events {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", fmtDay(e.At), e.AccountID, e.User, e.Action, stepSubject(e.Credential, e.Key), e.Reason)
		}
		_ = tw.Flush()
	}
	if r.History != nil {
		ew.printf("\n")
		writeHistoryTable(ew, *r.History)
	}
	return ew.err
}

func stepSubject(cred, key string) string {
	switch {
	case cred == "password":
		return "password"
	case key != "":
		return key
	case cred == "":
		return "user"
	}
	return "keys"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func historyTitle(h History) string {
	t := "History"
	if h.User != "" {
		t += " of user " + h.User
	}
	if h.AccountID != "" {
		t += " in account " + h.AccountID
	}
	return t
}

// historyCells are the key ("old -> new" for a rotation) and the detail (reason, then any error)
// of a history entry, as the table and Markdown forms show them.
func historyCells(e HistoryEntry) (key, detail string) {
	key = e.Key
	if e.NewKey != "" {
		key += " -> " + e.NewKey
	}
	detail = e.Reason
	if e.Error != "" {
		detail = strings.TrimSpace(detail + " error: " + e.Error)
	}
	return key, detail
}

func writeHistoryTable(ew *errWriter, h History) {
	ew.printf("%s: %d records\n", historyTitle(h), len(h.Entries))
	tw := tabwriter.NewWriter(ew, 0, 4, 2, ' ', 0)
	for _, e := range h.Entries {
		key, detail := historyCells(e)
		if e.DryRun {
			detail = "(dry run) " + detail
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", fmtMinute(e.Time), e.AccountID, e.User, e.Action, e.Event, e.Outcome, dash(key), detail)
	}
	_ = tw.Flush()
}

// csvColumns are the user columns of the CSV form, before one column per control.
var csvColumns = []string{
	"account_id", "account_alias", "user", "path", "owner", "rule", "managed", "exempt_until", "exemption_reason", "keys_known",
	"key_1_id", "key_1_status", "key_1_age_days", "key_1_last_used", "key_1_last_used_service",
	"key_2_id", "key_2_status", "key_2_age_days", "key_2_last_used", "key_2_last_used_service",
	"console", "password_age_days", "last_sign_in", "mfa",
	"rotation_in_progress_since", "delivered_on", "deactivated_on", "next",
}

// WriteCSV writes one row per user (the inventory and each control's result); a report holding
// only a history writes one row per audit record.
func WriteCSV(w io.Writer, r Report) error {
	cw := csv.NewWriter(w)
	if r.History != nil && len(r.Users) == 0 {
		_ = cw.Write([]string{"time", "account_id", "user", "credential", "action", "event", "outcome", "key", "new_key", "reason", "error", "dry_run"})
		for _, e := range r.History.Entries {
			_ = cw.Write([]string{e.Time.Format(time.RFC3339), e.AccountID, e.User, e.Credential, e.Action, e.Event, e.Outcome,
				e.Key, e.NewKey, e.Reason, e.Error, strconv.FormatBool(e.DryRun)})
		}
		cw.Flush()
		return cw.Error()
	}
	alias := map[string]string{}
	for _, a := range r.Accounts {
		alias[a.ID] = a.Alias
	}
	head := append([]string(nil), csvColumns...)
	for _, c := range controlDefs {
		head = append(head, c.id)
	}
	_ = cw.Write(head)
	for _, u := range r.Users {
		var exUntil, exReason string
		if u.Exemption != nil && !u.Exemption.Expired {
			exUntil, exReason = fmtDay(u.Exemption.Until), u.Exemption.Reason
			if exUntil == "" {
				exUntil = "never"
			}
		}
		row := []string{u.AccountID, alias[u.AccountID], u.Name, u.Path, u.Owner, u.Rule, strconv.FormatBool(u.Managed),
			exUntil, exReason, strconv.FormatBool(u.KeysKnown)}
		for i := 0; i < 2; i++ {
			if i < len(u.Keys) {
				k := u.Keys[i]
				row = append(row, k.ID, k.Status, intOr(k.AgeDays, ""), k.lastUsed(), k.LastUsedService)
			} else {
				row = append(row, "", "", "", "", "")
			}
		}
		switch {
		case u.Console != nil:
			row = append(row, "yes", intOr(u.Console.PasswordAgeDays, ""), u.Console.signIn())
		case u.ConsoleKnown:
			row = append(row, "no", "", "")
		default:
			row = append(row, "unknown", "", "")
		}
		row = append(row, mfaWords(u.MFA), rfc(u.State.RotationStarted), fmtDay(u.State.Delivered), fmtDay(u.State.Deactivated))
		var next []string
		for _, n := range u.Next {
			next = append(next, n.Action+" "+stepSubject(n.Credential, n.Key))
		}
		row = append(row, strings.Join(next, "; "))
		for _, c := range controlDefs {
			row = append(row, string(u.Controls[c.id]))
		}
		_ = cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

func rfc(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// mdCell escapes a Markdown table cell.
func mdCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "\n", " ")
	if s == "" {
		return "-"
	}
	return s
}

// WriteMarkdown writes the report as a Markdown document (GitHub tables).
func WriteMarkdown(w io.Writer, r Report) error {
	ew := &errWriter{w: w}
	row := func(cells ...string) {
		for i := range cells {
			cells[i] = mdCell(cells[i])
		}
		ew.printf("| %s |\n", strings.Join(cells, " | "))
	}
	sep := func(n int) { ew.printf("|%s\n", strings.Repeat(" --- |", n)) }
	if r.History != nil && len(r.Users) == 0 {
		writeHistoryMarkdown(ew, *r.History, row, sep)
		return ew.err
	}
	s := r.Summary
	ew.printf("# keycycle report\n\nGenerated %s. %d accounts, %d users (%d managed, %d exempt), %d active keys, %d console users. **Compliance %.1f%%.**\n",
		fmtMinute(r.GeneratedAt), s.Accounts, s.Users, s.Managed, s.Exempt, s.ActiveKeys, s.Consoles, s.Compliance)
	for _, f := range r.Failed {
		ew.printf("\n> Account %s was not read: %s\n", f.AccountID, mdCell(f.Error))
	}
	ew.printf("\n## Controls\n\n")
	row("Control", "Framework", "Title", "Pass", "Fail", "N/A", "Unknown", "Percent", "Threshold")
	sep(9)
	for _, c := range r.Controls {
		row(c.ID, c.Framework, c.Title, strconv.Itoa(c.Pass), strconv.Itoa(c.Fail), strconv.Itoa(c.NotApplicable),
			strconv.Itoa(c.Unknown), fmt.Sprintf("%.1f%%", c.Percent), c.Threshold)
	}
	ew.printf("\n## Accounts\n\n")
	head := []string{"Account", "Alias", "Users", "Compliance"}
	for _, c := range r.Controls {
		head = append(head, c.ID)
	}
	row(head...)
	sep(len(head))
	for _, a := range r.Accounts {
		cells := []string{a.ID, a.Alias, strconv.Itoa(a.Users), fmt.Sprintf("%.1f%%", a.Compliance)}
		for _, c := range a.Controls {
			cells = append(cells, fmt.Sprintf("%d/%d", c.Pass, c.Pass+c.Fail))
		}
		row(cells...)
	}
	ew.printf("\n## Users\n\n")
	row("Account", "User", "Owner", "Rule", "Standing", "Keys", "Console", "MFA", "keycycle state", "Fails", "Next")
	sep(11)
	for _, u := range r.Users {
		var keys []string
		for _, k := range u.Keys {
			keys = append(keys, fmt.Sprintf("%s %s %sd, used %s", k.ID, k.Status, intOr(k.AgeDays, "?"), k.lastUsed()))
		}
		if !u.KeysKnown {
			keys = append(keys, "unknown: "+u.KeysUnknown)
		}
		console := "none"
		switch {
		case u.Console != nil:
			console = fmt.Sprintf("password %sd, sign-in %s", intOr(u.Console.PasswordAgeDays, "?"), u.Console.signIn())
		case !u.ConsoleKnown:
			console = "unknown"
		}
		var next []string
		for _, n := range u.Next {
			next = append(next, n.Action+" "+stepSubject(n.Credential, n.Key))
		}
		row(u.AccountID, u.Name, u.Owner, u.Rule, u.standing(), strings.Join(keys, "; "), console, mfaWords(u.MFA),
			u.State.words(), strings.Join(u.failing(), ", "), strings.Join(next, "; "))
	}
	if f := r.Forecast; f != nil {
		ew.printf("\n## Forecast\n\n%d days from %s, assuming no one acts.\n\n", f.Days, fmtDay(f.From))
		row("Date", "Account", "User", "Action", "Credential", "Reason")
		sep(6)
		for _, e := range f.Events {
			row(fmtDay(e.At), e.AccountID, e.User, e.Action, stepSubject(e.Credential, e.Key), e.Reason)
		}
	}
	if r.History != nil {
		ew.printf("\n")
		writeHistoryMarkdown(ew, *r.History, row, sep)
	}
	return ew.err
}

func writeHistoryMarkdown(ew *errWriter, h History, row func(...string), sep func(int)) {
	ew.printf("## %s\n\n", historyTitle(h))
	row("Time", "Account", "User", "Action", "Event", "Outcome", "Key", "Detail")
	sep(8)
	for _, e := range h.Entries {
		key, detail := historyCells(e)
		row(fmtMinute(e.Time), e.AccountID, e.User, e.Action, e.Event, e.Outcome, key, detail)
	}
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return len(p), nil
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, nil
}

func (e *errWriter) printf(format string, args ...any) { fmt.Fprintf(e, format, args...) }
