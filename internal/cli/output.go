package cli

import (
	"encoding/json"
	"io"

	"github.com/keycycle/keycycle/internal/job"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/rotation"
)

// The JSON results of `keycycle apply --output json` and `keycycle rotate --output json`
// (docs/cli.md, "JSON results"). Like a plan, they never hold a secret: key ids, outcomes, where
// keys were delivered, and error messages.
type jsonResults struct {
	DryRun        bool               `json:"dry_run"`
	Results       []jsonResult       `json:"results"`
	Summary       map[string]int     `json:"summary"`
	Notifications []jsonNotification `json:"notifications"`
	ExitCode      int                `json:"exit_code"`
}

type jsonResult struct {
	AccountID      string     `json:"account_id"`
	User           string     `json:"user"`
	Credential     string     `json:"credential"`
	AccessKeyID    string     `json:"access_key_id"`
	Action         string     `json:"action"`
	Outcome        string     `json:"outcome"`
	NewAccessKeyID string     `json:"new_access_key_id,omitempty"`
	Detail         string     `json:"detail"`
	Error          string     `json:"error,omitempty"`
	Sinks          []jsonSink `json:"sinks,omitempty"`
}

type jsonSink struct {
	Name     string `json:"name"`
	Required bool   `json:"required"`
	Outcome  string `json:"outcome"`
	Location string `json:"location"`
	Error    string `json:"error,omitempty"`
}

type jsonNotification struct {
	Channel string `json:"channel"`
	Events  int    `json:"events"`
	Sent    bool   `json:"sent"`
	Error   string `json:"error,omitempty"`
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// writeResultsJSON writes the results of an apply as one JSON document.
func writeResultsJSON(w io.Writer, dryRun bool, all []rotation.Result, notices []job.NotifyReport, code int) {
	out := jsonResults{DryRun: dryRun, Results: []jsonResult{}, Notifications: []jsonNotification{}, ExitCode: code, Summary: map[string]int{}}
	counts := resultCounts(all)
	for _, o := range []rotation.Outcome{rotation.Done, rotation.Resumed, rotation.DryRun, rotation.Stale, rotation.Blocked, rotation.Failed, rotation.Skipped, rotation.Noted} {
		out.Summary[string(o)] = counts[o]
	}
	for _, r := range all {
		jr := jsonResult{AccountID: r.Step.AccountID, User: r.Step.User, Credential: string(r.Step.Credential),
			AccessKeyID: r.Step.AccessKeyID.Raw(), Action: string(r.Step.Action), Outcome: string(r.Outcome),
			NewAccessKeyID: r.NewKeyID.Raw(), Detail: r.Detail, Error: errString(r.Err)}
		if r.Outcome == rotation.Noted && r.Step.Action == plan.Blocked {
			jr.Outcome = string(rotation.Blocked)
		}
		for _, s := range r.Sinks {
			jr.Sinks = append(jr.Sinks, jsonSink{Name: s.Name, Required: s.Required, Outcome: string(s.Outcome), Location: s.Location, Error: errString(s.Err)})
		}
		out.Results = append(out.Results, jr)
	}
	for _, rep := range notices {
		for _, c := range rep.Channels {
			out.Notifications = append(out.Notifications, jsonNotification{Channel: c.Name, Events: c.Events, Sent: !rep.DryRun && c.Err == nil, Error: errString(c.Err)})
		}
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
}
