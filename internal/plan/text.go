package plan

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Symbols of the text form, one per action.
var symbols = map[Action]string{
	Rotate:     "+",
	Deactivate: "~",
	Delete:     "-",
	Warn:       "!",
	Blocked:    "x",
	Skip:       ".",
}

// ANSI colours per action; used only when the caller says the output is a terminal.
var colours = map[Action]string{
	Rotate:     "\x1b[32m",   // green
	Deactivate: "\x1b[33m",   // yellow
	Delete:     "\x1b[31m",   // red
	Warn:       "\x1b[35m",   // magenta
	Blocked:    "\x1b[1;31m", // bold red
	Skip:       "\x1b[2m",    // dim
}

const reset = "\x1b[0m"

// RenderText writes the plan for a person, grouped by account, one line per step:
//
//	account 111111111111
//	  + rotate      alice  AKIA...7Q2X  key AKIA...7Q2X age 93d >= rotate_after 90d (rule 'default')
//
//	Plan: 1 to rotate, 0 to deactivate, 0 to delete, 0 warnings, 0 blocked, 0 skipped.
//
// Key ids are masked. colour adds ANSI colours to the symbol and action; pass it only when the
// writer is a terminal.
func RenderText(w io.Writer, p Plan, colour bool) error {
	bw := bufio.NewWriter(w)
	userW, keyW := 0, 0
	for _, s := range p.Steps {
		userW = max(userW, len(Printable(s.User)))
		keyW = max(keyW, len(credentialLabel(s)))
	}
	if len(p.Steps) == 0 {
		fmt.Fprintln(bw, "No steps: no credential needs attention.")
	}
	acct := ""
	for i, s := range p.Steps {
		if i == 0 || s.AccountID != acct {
			if i > 0 {
				fmt.Fprintln(bw)
			}
			acct = s.AccountID
			fmt.Fprintf(bw, "account %s\n", Printable(acct))
		}
		head := fmt.Sprintf("%s %-10s", symbols[s.Action], s.Action)
		if colour {
			head = colours[s.Action] + head + reset
		}
		line := fmt.Sprintf("  %s  %-*s  %-*s  %s", head, userW, Printable(s.User), keyW, Printable(credentialLabel(s)), Printable(s.Reason))
		fmt.Fprintln(bw, strings.TrimRight(line, " "))
	}
	fmt.Fprintln(bw)
	fmt.Fprintln(bw, SummaryLine(Summarize(p.Steps)))
	return bw.Flush()
}

// Printable escapes what a terminal would act on instead of showing: control characters (newline,
// carriage return, ESC and its ANSI sequences, DEL, the C1 controls), invalid UTF-8 and the
// Unicode bidirectional overrides, as Go escapes (\n, \x1b, \u202e). IAM allows some of them in
// tag values, and a plan file or an SQS message can carry anything in a user name; whatever is
// printed for a person goes through Printable. Plain text is returned unchanged.
func Printable(s string) string {
	clean := true
	for _, r := range s {
		if !printableRune(r) {
			clean = false
			break
		}
	}
	if clean && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			fmt.Fprintf(&b, "\\x%02x", s[i])
		case printableRune(r):
			b.WriteRune(r)
		default:
			q := strconv.QuoteRuneToASCII(r) // 'x' with the rune escaped
			b.WriteString(q[1 : len(q)-1])
		}
	}
	return b.String()
}

func printableRune(r rune) bool {
	if r == utf8.RuneError || unicode.IsControl(r) {
		return false
	}
	switch {
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f:
		return false // bidirectional overrides and marks
	case r == 0x2028, r == 0x2029:
		return false // line and paragraph separators (IAM allows them in tag values)
	}
	return true
}

// SummaryLine is the last line of the text form:
// "Plan: 2 to rotate, 1 to deactivate, 0 to delete, 1 warning, 1 blocked, 3 skipped."
func SummaryLine(s Summary) string {
	warnings := "warnings"
	if s.Warn == 1 {
		warnings = "warning"
	}
	return fmt.Sprintf("Plan: %d to rotate, %d to deactivate, %d to delete, %d %s, %d blocked, %d skipped.",
		s.Rotate, s.Deactivate, s.Delete, s.Warn, warnings, s.Blocked, s.Skip)
}

// credentialLabel names the credential of a step in the text form: the masked key id, "password",
// or "-" for a step about the user as a whole.
func credentialLabel(s Step) string {
	switch {
	case s.Credential == Password:
		return "password"
	case s.AccessKeyID == "":
		return "-"
	}
	return s.AccessKeyID.String()
}
