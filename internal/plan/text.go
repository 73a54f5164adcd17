package plan

import (
	"bufio"
	"fmt"
	"io"
	"strings"
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
		userW = max(userW, len(s.User))
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
			fmt.Fprintf(bw, "account %s\n", acct)
		}
		head := fmt.Sprintf("%s %-10s", symbols[s.Action], s.Action)
		if colour {
			head = colours[s.Action] + head + reset
		}
		reason := strings.ReplaceAll(s.Reason, "\n", " ")
		line := fmt.Sprintf("  %s  %-*s  %-*s  %s", head, userW, s.User, keyW, credentialLabel(s), reason)
		fmt.Fprintln(bw, strings.TrimRight(line, " "))
	}
	fmt.Fprintln(bw)
	fmt.Fprintln(bw, SummaryLine(Summarize(p.Steps)))
	return bw.Flush()
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
