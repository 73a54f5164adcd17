package yamlfile

import (
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// KeyPath returns the path (as Doc.Problem takes it) of the mapping key named key on line, the
// deepest one when several are; nil when there is none. It places the YAML library's "field X
// not found" problems, which name only a line.
func (d *Doc) KeyPath(line int, key string) []any {
	if d == nil || d.root == nil {
		return nil
	}
	return keyPath(d.root, line, key, nil)
}

func keyPath(n *yaml.Node, line int, key string, path []any) []any {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := appendPath(path, k.Value)
			if deeper := keyPath(v, line, key, p); deeper != nil {
				return deeper
			}
			if k.Line == line && k.Value == key {
				return p
			}
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			if deeper := keyPath(item, line, key, appendPath(path, i)); deeper != nil {
				return deeper
			}
		}
	}
	return nil
}

// ValuePath returns the path of the deepest value on line whose YAML tag is tag ("!!map",
// "!!seq", "!!str", ...); nil when there is none. It places the YAML library's type errors
// ("cannot unmarshal !!map into ..."), which name only a line.
func (d *Doc) ValuePath(line int, tag string) []any {
	if d == nil || d.root == nil {
		return nil
	}
	p, _ := valuePath(d.root, line, tag, nil)
	return p
}

func valuePath(n *yaml.Node, line int, tag string, path []any) ([]any, bool) {
	if n.Line > line && n.Kind == yaml.ScalarNode {
		return nil, false
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if p, ok := valuePath(n.Content[i+1], line, tag, appendPath(path, n.Content[i].Value)); ok {
				return p, true
			}
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			if p, ok := valuePath(item, line, tag, appendPath(path, i)); ok {
				return p, true
			}
		}
	}
	if n.Line == line && n.ShortTag() == tag && len(path) > 0 {
		return path, true
	}
	return nil, false
}

func appendPath(path []any, el any) []any {
	return append(append(make([]any, 0, len(path)+1), path...), el)
}

// FieldNames lists the YAML field names of the struct that path leads to in t (the type
// decoded into), following struct fields by their yaml names, and slice and map elements by
// index or key; nil when path does not lead to a struct. It feeds "did you mean" suggestions.
func FieldNames(t reflect.Type, path ...any) []string {
	for _, el := range path {
		t = deref(t)
		switch t.Kind() {
		case reflect.Struct:
			name, ok := el.(string)
			if !ok {
				return nil
			}
			f, ok := fieldByYAMLName(t, name)
			if !ok {
				return nil
			}
			t = f.Type
		case reflect.Slice, reflect.Array, reflect.Map:
			t = t.Elem()
		default:
			return nil
		}
	}
	t = deref(t)
	if t.Kind() != reflect.Struct {
		return nil
	}
	var names []string
	eachField(t, func(name string, _ reflect.StructField) { names = append(names, name) })
	return names
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

func fieldByYAMLName(t reflect.Type, name string) (reflect.StructField, bool) {
	var found reflect.StructField
	ok := false
	eachField(t, func(n string, f reflect.StructField) {
		if n == name && !ok {
			found, ok = f, true
		}
	})
	return found, ok
}

// eachField calls fn with every field of struct t as YAML names it, inline structs flattened.
func eachField(t reflect.Type, fn func(string, reflect.StructField)) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",inline,") {
			if ft := deref(f.Type); ft.Kind() == reflect.Struct {
				eachField(ft, fn)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fn(name, f)
	}
}

// Nearest returns the candidate closest to name by edit distance, or "" when none is close
// enough to be a likely typo (at most 2 edits, or a third of the letters for long names, never more than 3).
func Nearest(name string, candidates []string) string {
	best, bestD := "", min(3, max(2, len(name)/3))+1
	for _, c := range candidates {
		if d := editDistance(name, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// TypeWords says a Go type of the decoding target in the configuration's own terms ("a list",
// "a mapping", "a string", ...) for type errors that would otherwise name Go types.
func TypeWords(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map["):
		return "a mapping"
	case goType == "string", goType == "*string":
		return "a string"
	case goType == "bool", goType == "*bool":
		return "true or false"
	case strings.Contains(goType, "int") || strings.Contains(goType, "float"):
		return "a number"
	}
	return "a mapping" // a struct
}

// TagWords says a YAML tag in words.
func TagWords(tag string) string {
	switch tag {
	case "!!map":
		return "a mapping"
	case "!!seq":
		return "a list"
	case "!!str":
		return "a string"
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "true or false"
	case "!!null":
		return "nothing"
	}
	return tag
}
