package yamlfile

import (
	"errors"
	"strings"
	"testing"
)

type inner struct {
	Name string `yaml:"name"`
	Days int    `yaml:"days"`
}

type outer struct {
	Items []inner `yaml:"items"`
}

func TestDecodeUnknownFieldNamesLine(t *testing.T) {
	src := "items:\n  - name: a\n    days: 3\n  - name: b\n    dayz: 4\n"
	var v outer
	_, err := Decode("f.yaml", []byte(src), &v)
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 1 {
		t.Fatalf("want one problem, got %v", err)
	}
	if ps[0].Line != 5 || !strings.Contains(ps[0].Msg, "dayz") {
		t.Fatalf("problem = %+v", ps[0])
	}
	if got := ps[0].Error(); !strings.HasPrefix(got, "f.yaml:5: ") {
		t.Fatalf("Error() = %q", got)
	}
}

func TestDecodeTypeErrorsAllReported(t *testing.T) {
	src := "items:\n  - name: a\n    days: x\n  - name: b\n    days: y\n"
	var v outer
	_, err := Decode("f.yaml", []byte(src), &v)
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 2 || ps[0].Line != 3 || ps[1].Line != 5 {
		t.Fatalf("want problems on lines 3 and 5, got %v", err)
	}
}

func TestDocLineAndProblem(t *testing.T) {
	src := "items:\n  - name: a\n    days: 3\n  - name: b\n    days: -4\n"
	var v outer
	doc, err := Decode("f.yaml", []byte(src), &v)
	if err != nil {
		t.Fatal(err)
	}
	p := doc.Problem("must not be negative", "items", 1, "days")
	if p.Line != 5 || p.Field != "items[1].days" {
		t.Fatalf("problem = %+v", p)
	}
	if got := doc.Line("items", 7, "days"); got != 1 {
		t.Fatalf("missing index: line %d, want the closest existing node (1)", got)
	}
	if got := (Problems{p}).Err().Error(); got != "f.yaml:5: items[1].days: must not be negative" {
		t.Fatalf("Err() = %q", got)
	}
}

func TestDecodeSyntaxErrorAndEmpty(t *testing.T) {
	var v outer
	if _, err := Decode("f.yaml", []byte("items: [\n"), &v); err == nil {
		t.Fatal("want syntax error")
	}
	if _, err := Decode("f.yaml", nil, &v); err != nil {
		t.Fatalf("empty document: %v", err)
	}
}

func TestSecondDocumentIsRefused(t *testing.T) {
	var v struct {
		DryRun bool `yaml:"dry_run"`
	}
	for _, doc := range []string{"dry_run: true\n---\ndry_run: false\n", "---\ndry_run: true\n---\n", "dry_run: true\n...\n---\nx: 1\n"} {
		_, err := Decode("c.yaml", []byte(doc), &v)
		if err == nil || !strings.Contains(err.Error(), "second YAML document") {
			t.Errorf("Decode(%q) = %v, want the second document refused", doc, err)
		}
	}
	if _, err := Decode("c.yaml", []byte("---\ndry_run: true\n"), &v); err != nil || !v.DryRun {
		t.Errorf("one document with a leading ---: %v %+v", err, v)
	}
}
