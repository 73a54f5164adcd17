package yamlfile_test

import (
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keycycle/keycycle/internal/yamlfile"
)

type inner struct {
	Users []string `yaml:"users"`
}

type outer struct {
	Name     string  `yaml:"name"`
	Exclude  []inner `yaml:"exclude"`
	Embedded `yaml:",inline"`
}

type Embedded struct {
	Extra string `yaml:"extra"`
}

func TestPathsAndSuggestions(t *testing.T) {
	var v outer
	doc, err := yamlfile.Decode("f.yaml", []byte("name: x\nexclude:\n  - users: {a: b}\n  - usrs: [a]\n"), &v)
	if err == nil {
		t.Fatal("want problems")
	}
	if got := doc.KeyPath(4, "usrs"); !cmp.Equal(got, []any{"exclude", 1, "usrs"}) {
		t.Errorf("KeyPath = %v", got)
	}
	if got := doc.ValuePath(3, "!!map"); !cmp.Equal(got, []any{"exclude", 0, "users"}) {
		t.Errorf("ValuePath = %v", got)
	}
	if got := yamlfile.FieldNames(reflect.TypeFor[outer](), "exclude", 1); !cmp.Equal(got, []string{"users"}) {
		t.Errorf("FieldNames = %v", got)
	}
	if got := yamlfile.FieldNames(reflect.TypeFor[outer]()); !cmp.Equal(got, []string{"name", "exclude", "extra"}) {
		t.Errorf("FieldNames (inline) = %v", got)
	}
	for name, want := range map[string]string{"usrs": "users", "rotate_afer": "rotate_after", "zzz": "", "nmae": "name"} {
		if got := yamlfile.Nearest(name, []string{"users", "rotate_after", "name"}); got != want {
			t.Errorf("Nearest(%q) = %q, want %q", name, got, want)
		}
	}
}
