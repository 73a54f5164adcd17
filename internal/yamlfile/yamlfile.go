// Package yamlfile decodes a YAML document strictly into a Go value and keeps the document's
// node tree, so that validation done after decoding can name the line of the field it rejects.
//
// It is a file-format helper shared by the keycycle configuration and the sandbox's scenario
// files; it knows nothing about AWS.
package yamlfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong with a document: where it is and what is wrong.
type Problem struct {
	File  string // file name as given to Decode; may be empty
	Line  int    // 1-based; 0 when unknown
	Field string // dotted path such as accounts[0].users[2].name; may be empty
	Msg   string
}

func (p Problem) Error() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		b.WriteString(":")
	}
	if p.Line > 0 {
		b.WriteString(strconv.Itoa(p.Line))
		b.WriteString(":")
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is every problem found in one document, in line order. It is an error when non-empty.
type Problems []Problem

func (ps Problems) Error() string {
	msgs := make([]string, len(ps))
	for i, p := range ps {
		msgs[i] = p.Error()
	}
	return strings.Join(msgs, "\n")
}

// Err returns ps sorted by line as an error, or nil when there is none.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
	return ps
}

// Doc is a decoded document; it answers the line of a field path for error messages.
type Doc struct {
	File string
	root *yaml.Node
}

// Decode parses data strictly into v: unknown fields, duplicate keys and type mismatches are
// reported as Problems naming the line. An empty document decodes to v's zero value. A file holds
// one document: a second one (after "---") is refused, never silently ignored.
func Decode(file string, data []byte, v any) (*Doc, error) {
	doc := &Doc{File: file}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return doc, Problems{parseProblem(file, err)}
	}
	if len(root.Content) > 0 {
		doc.root = root.Content[0]
	}
	if p, ok := secondDocument(file, data); ok {
		return doc, Problems{p}
	}
	if doc.root == nil {
		return doc, nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			ps := make(Problems, 0, len(te.Errors))
			for _, msg := range te.Errors {
				ps = append(ps, parseProblem(file, errors.New(msg)))
			}
			return doc, ps.Err()
		}
		return doc, Problems{parseProblem(file, err)}
	}
	return doc, nil
}

// DecodeNode decodes the node n of the document into v (not strictly: the caller checks the
// keys), reporting type mismatches as Problems naming their lines.
func (d *Doc) DecodeNode(n *yaml.Node, v any) Problems {
	err := n.Decode(v)
	if err == nil {
		return nil
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		ps := make(Problems, 0, len(te.Errors))
		for _, msg := range te.Errors {
			ps = append(ps, parseProblem(d.File, errors.New(msg)))
		}
		return ps
	}
	return Problems{parseProblem(d.File, err)}
}

// secondDocument finds a second YAML document in data ("a: 1\n---\nb: 2"), a problem naming its
// line.
func secondDocument(file string, data []byte) (Problem, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var first, next yaml.Node
	if err := dec.Decode(&first); err != nil {
		return Problem{}, false
	}
	if err := dec.Decode(&next); err != nil {
		if errors.Is(err, io.EOF) {
			return Problem{}, false
		}
		return parseProblem(file, err), true
	}
	line := next.Line
	if len(next.Content) > 0 {
		line = next.Content[0].Line
	}
	return Problem{File: file, Line: line, Msg: "a second YAML document (after ---): the file must hold exactly one; nothing of it is used"}, true
}

// ReadFile reads the file at path, refusing one larger than limit bytes without reading it all.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, Problems{{File: path, Msg: fmt.Sprintf("the file is larger than %d bytes, the limit", limit)}}
	}
	return data, nil
}

var lineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// parseProblem turns the YAML library's "line N: msg" text into a Problem. This reads the
// library's own message format (not an AWS error), which is the only place it reports the line.
func parseProblem(file string, err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n")
	msg = strings.TrimSpace(msg)
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return Problem{File: file, Line: n, Msg: m[2]}
	}
	return Problem{File: file, Msg: msg}
}

// Problem builds a Problem for the field at path (for example "accounts", 0, "users", 2, "name").
// The line is the closest existing node on that path.
func (d *Doc) Problem(msg string, path ...any) Problem {
	return Problem{File: d.File, Line: d.Line(path...), Field: FieldPath(path...), Msg: msg}
}

// Line returns the line of the deepest node found along path: string elements select mapping
// keys (the key's line), int elements select sequence items. 0 when the document is empty.
func (d *Doc) Line(path ...any) int {
	if d == nil || d.root == nil {
		return 0
	}
	n := d.root
	line := n.Line
	for _, el := range path {
		switch k := el.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return line
			}
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == k {
					line = n.Content[i].Line
					n = n.Content[i+1]
					found = true
					break
				}
			}
			if !found {
				return line
			}
		case int:
			if n.Kind != yaml.SequenceNode || k < 0 || k >= len(n.Content) {
				return line
			}
			n = n.Content[k]
			line = n.Line
		default:
			return line
		}
	}
	return line
}

// FieldPath renders a path as a.b[2].c.
func FieldPath(path ...any) string {
	var b strings.Builder
	for _, el := range path {
		switch k := el.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", k)
		default:
			if b.Len() > 0 {
				b.WriteString(".")
			}
			fmt.Fprint(&b, k)
		}
	}
	return b.String()
}

// LongLists reports every list of the document with more than max entries, naming its field.
func (d *Doc) LongLists(max int) Problems {
	if d == nil || d.root == nil {
		return nil
	}
	var ps Problems
	var walk func(n *yaml.Node, path []any)
	walk = func(n *yaml.Node, path []any) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i+1], append(path[:len(path):len(path)], n.Content[i].Value))
			}
		case yaml.SequenceNode:
			if len(n.Content) > max {
				ps = append(ps, Problem{File: d.File, Line: n.Line, Field: FieldPath(path...),
					Msg: fmt.Sprintf("%d entries; at most %d are allowed", len(n.Content), max)})
				return
			}
			for i, c := range n.Content {
				walk(c, append(path[:len(path):len(path)], i))
			}
		}
	}
	walk(d.root, nil)
	return ps
}
