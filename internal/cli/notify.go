package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/keycycle/keycycle/internal/job"
	"github.com/keycycle/keycycle/internal/notify"
	"github.com/keycycle/keycycle/internal/plan"
)

// renderNotifications prints what the run's notifications came to, and the users without an
// owner. It prints nothing when there was nothing to tell.
func renderNotifications(w io.Writer, rep job.NotifyReport) {
	if len(rep.Events) == 0 && len(rep.Channels) == 0 {
		return
	}
	fmt.Fprintln(w)
	if len(rep.Events) > 0 {
		counts := map[notify.Kind]int{}
		for _, e := range rep.Events {
			counts[e.Kind]++
		}
		var parts []string
		for _, k := range notify.Kinds {
			if counts[k] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", counts[k], strings.ReplaceAll(string(k), "_", " ")))
			}
		}
		fmt.Fprintf(w, "Notifications: %d (%s)\n", len(rep.Events), strings.Join(parts, ", "))
	}
	for _, c := range rep.Channels {
		switch {
		case rep.DryRun:
			fmt.Fprintf(w, "  ? %-7s would send %s (dry run: nothing sent)\n", c.Name, events(c.Events))
		case c.Err != nil:
			fmt.Fprintf(w, "  x %-7s failed (the run itself is not affected): %v\n", c.Name, c.Err)
		default:
			fmt.Fprintf(w, "  + %-7s sent %s\n", c.Name, events(c.Events))
		}
	}
	if len(rep.Channels) == 0 && len(rep.Events) > 0 {
		fmt.Fprintln(w, "  no channel configured (notify.email, notify.sns, notify.slack): nothing sent")
	}
	if len(rep.Unowned) > 0 {
		fmt.Fprintf(w, "Users without an owner (set the owner tag, or notify.owners.group_defaults): %d\n", len(rep.Unowned))
		for _, u := range rep.Unowned {
			line := "  " + plan.Printable(u.User)
			if u.Fallback != "" {
				line += ": notices went to the fallback " + u.Fallback
			} else {
				line += ": no e-mail sent (no notify.owners.fallback)"
			}
			if u.Problem != "" {
				line += " (" + plan.Printable(u.Problem) + ")"
			}
			fmt.Fprintln(w, line)
		}
	}
}

func events(n int) string {
	if n == 1 {
		return "1 event"
	}
	return fmt.Sprintf("%d events", n)
}
