package job

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/keycycle/keycycle/internal/audit"
	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/notify"
	"github.com/keycycle/keycycle/internal/plan"
	"github.com/keycycle/keycycle/internal/policy"
	"github.com/keycycle/keycycle/internal/rotation"
	"github.com/keycycle/keycycle/internal/sinkname"
)

// Notify says who hears about a run and through which channels: the configuration's notify
// section (a channel is on when its essential field is set; the owner tag is Rules.Tags.Owner)
// with its mail templates loaded.
type Notify struct {
	config.Notify
	// Templates are the loaded mail templates; nil: the built-in ones.
	Templates *notify.Templates

	// Notifiers, when set, replaces the channels built from the fields above.
	Notifiers []notify.Notifier
}

// NotifyReport is what the notifications of a run came to.
type NotifyReport struct {
	Events []notify.Event
	// DryRun: nothing was sent; Channels says what would have been.
	DryRun   bool
	Channels []ChannelReport
	// Unowned are the users with events that no owner tag or group default names an owner for,
	// sorted by name: their e-mail went to the fallback address, or nowhere.
	Unowned []Unowned
}

// ChannelReport is what one channel did.
type ChannelReport struct {
	Name   string
	Events int
	Err    error // never holds a secret or a webhook URL
}

// Unowned is a user with notices and no owner.
type Unowned struct {
	User string
	// Fallback is where the user's e-mail went instead; empty: nowhere.
	Fallback string
	// Problem says why the owner tag was not used, when it was there.
	Problem string
}

// Events turns a run into notification events, sorted (notify.SortEvents), and lists the users
// with events and no owner. acct gives the users' tags, groups and keys; results are the steps'
// outcomes (plan steps that were only noted included). It decides nothing new: rotations,
// deactivations and deletions that happened, the plan's warnings and blocks, and exemptions
// expiring within Notify.ExemptionNotice.
func (r *Runner) Events(acct inventory.Account, results []rotation.Result) ([]notify.Event, []Unowned) {
	users := make(map[string]*inventory.User, len(acct.Users))
	for i := range acct.Users {
		users[acct.Users[i].Name] = &acct.Users[i]
	}
	name := r.Notify.Email.AccountName
	if name == "" {
		name = acct.Alias
	}
	if name == "" {
		name = acct.ID
	}
	now := r.now()
	var evs []notify.Event
	for _, res := range results {
		st := res.Step
		// A dry run's would-be changes make the events a real run would send (nothing is sent).
		done := res.Outcome == rotation.Done || res.Outcome == rotation.Resumed || res.Outcome == rotation.DryRun
		e := notify.Event{AccountID: st.AccountID, AccountName: name, User: st.User, AccessKeyID: st.AccessKeyID,
			Reason: st.Reason, When: now}
		if st.Credential == plan.Password && res.Outcome != rotation.Blocked {
			if r.passwordEvent(&e, res, users[st.User], done) {
				evs = append(evs, e)
			}
			continue
		}
		switch {
		case res.Outcome == rotation.Blocked:
			e.Kind, e.Reason = notify.Blocked, res.Detail
		case st.Action == plan.Blocked && res.Outcome == rotation.Noted:
			e.Kind = notify.Blocked
		case st.Action == plan.Rotate && done:
			e.Kind, e.NewAccessKeyID, e.Location = notify.Rotated, res.NewKeyID, r.location(res)
		case st.Action == plan.Deactivate && done:
			e.Kind = notify.Deactivated
		case st.Action == plan.Delete && done:
			e.Kind = notify.Deleted
		case st.Action == plan.Warn && res.Outcome == rotation.Noted && st.AccessKeyID != "":
			if !r.warning(&e, st, users[st.User]) {
				continue
			}
		default:
			continue
		}
		evs = append(evs, e)
	}
	if within := r.Notify.ExemptionNotice; within > 0 {
		for _, u := range acct.Users {
			if ex, why, ok := policy.ExemptionNotice(u, r.Rules, now, within); ok {
				evs = append(evs, notify.Event{Kind: notify.ExemptionExpiring, AccountID: acct.ID, AccountName: name,
					User: u.Name, Reason: why, When: ex.Until})
			}
		}
	}

	owners := notify.Owners{Tag: r.Rules.Tags.Owner, GroupDefaults: r.Notify.GroupOwners, Fallback: r.Notify.FallbackEmail}
	var unowned []Unowned
	seen := map[string]bool{}
	for i := range evs {
		u := users[evs[i].User]
		if u == nil {
			u = &inventory.User{Name: evs[i].User}
		}
		addr, src, bad := owners.Resolve(*u)
		evs[i].Owner = addr
		if (src == notify.FromFallback || src == notify.NoOwner) && !seen[u.Name] {
			seen[u.Name] = true
			unowned = append(unowned, Unowned{User: u.Name, Fallback: addr, Problem: bad})
		}
	}
	sort.Slice(unowned, func(i, j int) bool { return unowned[i].User < unowned[j].User })
	notify.SortEvents(evs)
	return evs, unowned
}

// warning fills e for a plan warning about one key, and reports whether it is one owners hear
// about, by the step's code: a key keycycle replaced that is still in use (or was reactivated,
// or used after its deactivation), or a rotation coming up. Other warnings (unreadable tags, a
// stale intent) are for the operator and stay in the plan; so are the warnings of a plan saved
// before steps carried codes.
func (r *Runner) warning(e *notify.Event, st plan.Step, u *inventory.User) bool {
	if u == nil {
		return false
	}
	k := u.Key(e.AccessKeyID)
	if k == nil {
		return false
	}
	switch st.Code {
	case plan.CodeOldKeyInUse, plan.CodeOldKeyReactivated, plan.CodeInactiveKeyUsed, plan.CodeNewKeyInactive:
		e.Kind = notify.OldKeyInUse
		// The key that replaced it: the other key the plan saw (a user has at most two).
		for _, o := range st.Precondition.Keys {
			if o.ID != k.ID {
				e.NewAccessKeyID = o.ID
			}
		}
		if k.LastUsedKnown {
			e.LastUsed = notify.LastUsed{Date: k.LastUsed, Service: k.LastUsedService, Region: k.LastUsedRegion}
		}
	case plan.CodeRotationUpcoming:
		e.Kind = notify.UpcomingRotation
		e.When = r.Rules.RotationDue(*u, *k)
	default:
		return false
	}
	return true
}

// location is where the owner fetches what a rotation delivered: its primary sink (the first
// of res.Sinks), told the way that sink's kind is read (get-secret-value for Secrets Manager,
// get-parameter for SSM, no command for a sink no AWS CLI command reads).
func (r *Runner) location(res rotation.Result) notify.Location {
	if res.Location == "" {
		return notify.Location{}
	}
	var kind sinkname.Kind
	for _, s := range res.Sinks {
		if s.Location == res.Location {
			kind = s.Kind
			break
		}
	}
	return notify.NewLocation(kind, res.Location, r.AWS.Region)
}

// passwordEvent fills e for a console password step, and reports whether owners hear about it:
// a new password (where to fetch it, never the password), console access about to be removed
// (every run of the warning period, with the date), and its removal. Other password warnings
// (no MFA, unreadable tags) are for the operator and stay in the plan.
func (r *Runner) passwordEvent(e *notify.Event, res rotation.Result, u *inventory.User, done bool) bool {
	st := res.Step
	switch {
	case st.Action == plan.Rotate && done:
		e.Kind, e.Location = notify.PasswordRotated, r.location(res)
	case st.Action == plan.Delete && done:
		e.Kind = notify.ConsoleRemoved
	case st.Action == plan.Warn && u != nil && (res.Outcome == rotation.Noted || done):
		when, ok := policy.ConsoleRemoval(*u, r.Rules, e.When)
		if !ok {
			return false
		}
		e.Kind, e.When = notify.ConsoleRemovalWarning, when
	default:
		return false
	}
	return true
}

// channels builds the configured notifiers.
func (r *Runner) channels() ([]notify.Notifier, error) {
	n := r.Notify
	if n.Notifiers != nil {
		return n.Notifiers, nil
	}
	var out []notify.Notifier
	if n.Email.From != "" {
		client := sesv2.NewFromConfig(r.AWS, func(o *sesv2.Options) {
			if n.Email.Region != "" {
				o.Region = n.Email.Region
			}
		})
		out = append(out, &notify.Mail{API: client, From: n.Email.From, ReplyTo: n.Email.ReplyTo, Templates: n.Templates})
	}
	if n.SNSTopicARN != "" {
		a, err := arn.Parse(n.SNSTopicARN)
		if err != nil {
			return nil, fmt.Errorf("SNS topic: %w", err)
		}
		out = append(out, &notify.SNS{API: sns.NewFromConfig(r.AWS, func(o *sns.Options) { o.Region = a.Region }), TopicARN: n.SNSTopicARN})
	}
	if n.SlackWebhookURL != "" {
		out = append(out, &notify.Slack{URL: n.SlackWebhookURL})
	}
	return out, nil
}

// NotifyRun tells owners and other systems about a run: the events of results (see Events) through
// every configured channel. With no results (nothing to apply) the plan's steps count as noted,
// so warnings and blocks are still told. acct supplies owners; when it has no users (a saved plan
// was applied), the account is scanned again for them. In a dry run nothing is sent.
//
// A failure to notify never fails the run: it is in the report, the log and the audit trail.
func (r *Runner) NotifyRun(ctx context.Context, acct inventory.Account, p plan.Plan, results []rotation.Result, dryRun bool) NotifyReport {
	if results == nil {
		for _, st := range p.Steps {
			results = append(results, rotation.Result{Step: st, Outcome: rotation.Noted, Detail: st.Reason})
		}
	}
	rep := NotifyReport{DryRun: dryRun}
	chans, err := r.channels()
	if err != nil {
		rep.Channels = append(rep.Channels, ChannelReport{Name: "notify", Err: err})
		return rep
	}
	if len(chans) == 0 && r.Notify.FallbackEmail == "" && len(r.Notify.GroupOwners) == 0 {
		return rep // notifications are not configured
	}
	if len(acct.Users) == 0 && len(results) > 0 {
		s, err := r.Plan(ctx)
		if err != nil {
			rep.Channels = append(rep.Channels, ChannelReport{Name: "notify", Err: fmt.Errorf("read owners: %w", err)})
			return rep
		}
		acct = s.Account
	}
	rep.Events, rep.Unowned = r.Events(acct, results)
	if len(rep.Events) == 0 {
		return rep
	}
	runID := r.RunID
	if runID == "" {
		runID = NewRunID(r.now())
	}
	for _, ch := range chans {
		cr := ChannelReport{Name: ch.Name(), Events: len(rep.Events)}
		if !dryRun {
			cr.Err = ch.Notify(ctx, rep.Events)
		}
		rep.Channels = append(rep.Channels, cr)
		rec := audit.Record{Time: r.now(), RunID: runID, AccountID: acct.ID, Action: "notify", Sink: ch.Name(),
			Event: "notification_sent", Outcome: string(rotation.Done), DryRun: dryRun,
			Reason: fmt.Sprintf("%d events: %s", len(rep.Events), kinds(rep.Events))}
		switch {
		case dryRun:
			rec.Event, rec.Outcome = "notification_planned", string(rotation.DryRun)
		case cr.Err != nil:
			rec.Event, rec.Outcome, rec.Error = "notification_failed", string(rotation.Failed), cr.Err.Error()
			r.log().Warn("notification failed", "account_id", acct.ID, "channel", ch.Name(), "error", cr.Err.Error())
		default:
			r.log().Info("notified", "account_id", acct.ID, "channel", ch.Name(), "events", len(rep.Events))
		}
		r.Audit.Write(rec)
	}
	return rep
}

// Err joins the channels' errors.
func (rep NotifyReport) Err() error {
	var errs []error
	for _, c := range rep.Channels {
		if c.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.Name, c.Err))
		}
	}
	return errors.Join(errs...)
}

// kinds counts events by kind: "rotated 1, old_key_in_use 2".
func kinds(evs []notify.Event) string {
	n := map[notify.Kind]int{}
	for _, e := range evs {
		n[e.Kind]++
	}
	var parts []string
	for _, k := range notify.Kinds {
		if n[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, n[k]))
		}
	}
	return strings.Join(parts, ", ")
}
