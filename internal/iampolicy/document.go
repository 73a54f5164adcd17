package iampolicy

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/keycycle/keycycle/internal/config"
)

// Document is an IAM policy document.
type Document struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one statement of a Document.
type Statement struct {
	Sid       string                        `json:"Sid,omitempty"`
	Effect    string                        `json:"Effect"`
	Action    Strings                       `json:"Action"`
	Resource  Strings                       `json:"Resource"`
	Condition map[string]map[string]Strings `json:"Condition,omitempty"`
}

// Strings is a list of strings that IAM also accepts written as a single string.
type Strings []string

// UnmarshalJSON reads a string or a list of strings.
func (s *Strings) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = Strings{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("want a string or a list of strings: %w", err)
	}
	*s = many
	return nil
}

// Policy is the least-privilege policy of role for cfg: a statement per code path the
// configuration turns on, actions sorted, Sid the path's name.
func Policy(cfg *config.Config, role Role, o Options) (Document, error) {
	if role != Member && role != Hub {
		return Document{}, fmt.Errorf("role %q: want hub or member", role)
	}
	if err := o.Validate(); err != nil {
		return Document{}, err
	}
	if o.Selftest && role != Member {
		return Document{}, fmt.Errorf("--selftest adds to the member policy: the selftest runs inside one account")
	}
	if role == Hub && o.Engine == EngineCLI && cfg.Accounts == nil {
		return Document{}, fmt.Errorf("the configuration has no accounts section: the CLI works in the credentials' own account, with the member policy")
	}
	s := Resolve(cfg, o)
	doc := Document{Version: "2012-10-17"}
	for _, p := range paths {
		if p.Role != role && !(o.Selftest && p.Role == Selftest) {
			continue
		}
		actions := make([]string, 0, len(p.Actions))
		for _, a := range p.Actions {
			actions = append(actions, a.Name)
		}
		sort.Strings(actions)
		for _, sc := range p.scope(s) {
			st := Statement{Sid: p.Sid + sc.SidSuffix, Effect: "Allow", Action: actions, Resource: sc.Resources}
			for op, kv := range sc.Condition {
				if st.Condition == nil {
					st.Condition = map[string]map[string]Strings{}
				}
				st.Condition[op] = map[string]Strings{}
				for k, v := range kv {
					st.Condition[op][k] = v
				}
			}
			doc.Statement = append(doc.Statement, st)
		}
	}
	return doc, nil
}

// Write prints the document as indented JSON with a final newline.
func (d Document) Write(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(d)
}

// Parse reads a policy document.
func Parse(data []byte) (Document, error) {
	var d Document
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return Document{}, fmt.Errorf("policy document: %w", err)
	}
	return d, nil
}

// Normalize returns d with its statements sorted by Sid and every list sorted, so that two
// documents that grant the same compare equal whatever order they were written in.
func (d Document) Normalize() Document {
	out := Document{Version: d.Version, Statement: make([]Statement, len(d.Statement))}
	for i, st := range d.Statement {
		n := Statement{Sid: st.Sid, Effect: st.Effect, Action: sorted(st.Action), Resource: sorted(st.Resource)}
		if len(st.Condition) > 0 {
			n.Condition = map[string]map[string]Strings{}
			for op, kv := range st.Condition {
				n.Condition[op] = map[string]Strings{}
				for k, v := range kv {
					n.Condition[op][k] = sorted(v)
				}
			}
		}
		out.Statement[i] = n
	}
	sort.SliceStable(out.Statement, func(i, j int) bool { return out.Statement[i].Sid < out.Statement[j].Sid })
	return out
}

func sorted(s Strings) Strings {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}

// Actions returns every action the document allows, sorted, without duplicates.
func (d Document) Actions() []string {
	var out []string
	for _, st := range d.Statement {
		if st.Effect == "Allow" {
			out = append(out, st.Action...)
		}
	}
	return uniq(out)
}
