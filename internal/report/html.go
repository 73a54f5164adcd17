package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/keycycle/keycycle/internal/inventory"
)

//go:embed report.html.tmpl
var htmlSource string

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"day":     fmtDay,
	"minute":  fmtMinute,
	"pct":     func(f float64) string { return fmt.Sprintf("%.1f%%", f) },
	"subject": stepSubject,
	"mfa":     mfaWords,
	"intOr":   intOr,
}).Parse(htmlSource))

// page is what the HTML template renders: the report and the figures the charts draw.
type page struct {
	Report
	Bars []bar
	// BarsHeight is the compliance bar chart's height.
	BarsHeight int
	Histogram  []bucket
	HistMax    int
	Calendar   []calWeek
	Rows       []htmlRow
	// Events are the forecast events listed one by one; MoreEvents counts those left out.
	Events     []Event
	MoreEvents int
}

// bar is one compliance bar.
type bar struct {
	Label   string
	Percent float64
	Width   float64 // 0..100
	Y       int
	Fails   int
}

// bucket is one key-age histogram column.
type bucket struct {
	Label        string
	Count        int
	X, Y, Height int
	Overdue      bool
}

type calWeek struct{ Days []calDay }

// calDay is one forecast calendar cell.
type calDay struct {
	Date   string
	Blank  bool
	Counts []calCount
	Title  string
}

type calCount struct {
	Action string
	N      int
}

// htmlRow is one row of the sortable user table; the Sort fields are the sort keys.
type htmlRow struct {
	User
	Alias      string
	OldestKey  int // days; -1: no active key
	Fails      []string
	Next       string
	StateWords string
	Standing   string
}

// histogram buckets of active key age, in days: [from, to).
var ageBuckets = []struct {
	label    string
	from, to int
}{{"0-29", 0, 30}, {"30-59", 30, 60}, {"60-89", 60, 90}, {"90-119", 90, 120}, {"120-179", 120, 180}, {"180-364", 180, 365}, {"365+", 365, 1 << 30}}

const histHeight = 160

// WriteHTML writes the report as one self-contained HTML page: inline CSS, inline SVG charts and
// a small inline script that sorts the user table; it loads nothing (its Content-Security-Policy
// forbids any fetch).
func WriteHTML(w io.Writer, r Report) error {
	p := page{Report: r}
	alias := map[string]string{}
	for i, a := range r.Accounts {
		alias[a.ID] = a.Alias
		label := a.ID
		if a.Alias != "" {
			label += " (" + a.Alias + ")"
		}
		fails := 0
		for _, c := range a.Controls {
			fails += c.Fail
		}
		p.Bars = append(p.Bars, bar{Label: label, Percent: a.Compliance, Width: a.Compliance * 2.6, Y: i * 28, Fails: fails})
	}
	p.BarsHeight = max(28, len(p.Bars)*28)
	counts := make([]int, len(ageBuckets))
	rotate := 90
	for _, t := range r.Thresholds {
		if t.Rule == "default" {
			rotate = t.RotateAfterDays
		}
	}
	for _, u := range r.Users {
		row := htmlRow{User: u, Alias: alias[u.AccountID], OldestKey: -1, Fails: u.failing(), StateWords: u.State.words(), Standing: u.standing()}
		for _, k := range u.Keys {
			if k.Status != string(inventory.StatusActive) || k.AgeDays == nil {
				continue
			}
			row.OldestKey = max(row.OldestKey, *k.AgeDays)
			for i, b := range ageBuckets {
				if *k.AgeDays >= b.from && *k.AgeDays < b.to {
					counts[i]++
				}
			}
		}
		for i, n := range u.Next {
			if i > 0 {
				row.Next += "; "
			}
			row.Next += n.Action + " " + stepSubject(n.Credential, n.Key)
		}
		p.Rows = append(p.Rows, row)
	}
	for _, c := range counts {
		p.HistMax = max(p.HistMax, c)
	}
	for i, b := range ageBuckets {
		h := 0
		if p.HistMax > 0 {
			h = counts[i] * (histHeight - 20) / p.HistMax
		}
		p.Histogram = append(p.Histogram, bucket{Label: b.label, Count: counts[i], X: 40 + i*70, Y: histHeight - h, Height: h, Overdue: b.from >= rotate})
	}
	if r.Forecast != nil {
		p.Calendar = calendar(*r.Forecast)
		p.Events = r.Forecast.Events
		if len(p.Events) > htmlEvents {
			p.Events, p.MoreEvents = p.Events[:htmlEvents], len(p.Events)-htmlEvents
		}
	}
	return htmlTemplate.Execute(w, p)
}

// calTitleLines bounds the events a calendar day's tooltip lists.
const calTitleLines = 25

// htmlEvents bounds the forecast events the page lists one by one (the JSON has them all).
const htmlEvents = 2000

// calendar lays the forecast's days out in weeks starting on Monday.
func calendar(f Forecast) []calWeek {
	byDay := map[int][]Event{}
	for _, e := range f.Events {
		byDay[e.Day] = append(byDay[e.Day], e)
	}
	var weeks []calWeek
	var cur calWeek
	lead := (int(f.From.Weekday()) + 6) % 7 // Monday = 0
	for i := 0; i < lead; i++ {
		cur.Days = append(cur.Days, calDay{Blank: true})
	}
	for d := 0; d < f.Days; d++ {
		at := f.From.Add(time.Duration(d) * 24 * time.Hour)
		cd := calDay{Date: at.Format("Mon 2 Jan")}
		n := map[string]int{}
		var title strings.Builder
		for i, e := range byDay[d] {
			n[e.Action]++
			switch {
			case i < calTitleLines:
				title.WriteString(e.Action + " " + e.User + " " + stepSubject(e.Credential, e.Key) + "\n")
			case i == calTitleLines:
				fmt.Fprintf(&title, "... and %d more\n", len(byDay[d])-calTitleLines)
			}
		}
		var actions []string
		for a := range n {
			actions = append(actions, a)
		}
		sort.Strings(actions)
		for _, a := range actions {
			cd.Counts = append(cd.Counts, calCount{Action: a, N: n[a]})
		}
		cd.Title = title.String()
		cur.Days = append(cur.Days, cd)
		if len(cur.Days) == 7 {
			weeks = append(weeks, cur)
			cur = calWeek{}
		}
	}
	if len(cur.Days) > 0 {
		weeks = append(weeks, cur)
	}
	return weeks
}

// LastUsedWords says when and where the key was last used (for the HTML template).
func (k Key) LastUsedWords() string { return k.lastUsed() }

// SignInWords says when the password was last used (for the HTML template).
func (c *Console) SignInWords() string { return c.signIn() }
