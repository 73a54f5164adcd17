package layout

import (
	"bufio"
	"bytes"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/keycycle/keycycle/"

// layers places every package of the module. Data flows one way (DESIGN.md): pure data and
// decisions at the bottom, adapters above them, job wiring the adapters, entry points on top; the
// sandbox stands apart and shares nothing with the client side.
var layers = map[string]string{
	// pure: no I/O, no AWS SDK, no clock reads; only other pure packages.
	"internal/inventory": "pure",
	"internal/plan":      "pure",
	"internal/policy":    "pure",
	"internal/secret":    "pure",
	"internal/password":  "pure",
	"internal/sinkname":  "pure",

	// base: small shared machinery any client-side package may use.
	"internal/backoff":   "base",
	"internal/audit":     "base",
	"internal/yamlfile":  "base",
	"internal/exitcode":  "base",
	"internal/throttle":  "base",
	"internal/awscfg":    "base",
	"internal/config":    "base",
	"internal/iampolicy": "base",
	// report builds and renders reports: pure decisions plus the audit record type; it writes only
	// to the io.Writer it is given.
	"internal/report": "base",

	// adapters: AWS and the outside world; they never import each other.
	"internal/scan":     "adapter",
	"internal/rotation": "adapter",
	"internal/sink":     "adapter",
	"internal/notify":   "adapter",

	// wiring: the one package that puts adapters together.
	"internal/job": "wiring",

	// entry points: subcommands and Lambda handlers.
	"internal/cli":      "entry",
	"internal/lambdafn": "entry",
	"internal/selftest": "entry",

	// test support: drives entry points in tests (an in-process SQS event source mapping).
	"internal/lambdafn/lambdafntest": "test-support",
	"internal/chaos":                 "test-support",

	// models: standalone simulations that import nothing of keycycle.
	"internal/orgsim": "base",

	// the sandbox: an AWS model, stdlib only (plus strict YAML for scenario files).
	"internal/awssim":            "sandbox",
	"internal/awssim/awssimtest": "sandbox-test",

	// mains and build tooling.
	"cmd/keycycle":        "main",
	"cmd/keycycle-lambda": "main",
	"deploy":              "main",
	"deploy/build":        "main",
	"internal/layout":     "main",
}

// mayImport says which layers a layer's packages may import (besides their own layer where noted).
var mayImport = map[string][]string{
	"pure":         {"pure"},
	"base":         {"pure", "base"},
	"adapter":      {"pure", "base"},
	"wiring":       {"pure", "base", "adapter"},
	"entry":        {"pure", "base", "adapter", "wiring", "sandbox"},
	"sandbox":      {},
	"sandbox-test": {"sandbox", "base"},
	"test-support": {"pure", "base", "adapter", "wiring", "entry", "sandbox", "sandbox-test"},
	"main":         {"pure", "base", "adapter", "wiring", "entry", "sandbox", "sandbox-test", "test-support"},
}

// sameLayer lists the layers whose packages may import each other.
var sameLayer = map[string]bool{"pure": true, "base": true, "entry": true}

// sandboxAllowed are the only keycycle packages the sandbox may import.
var sandboxAllowed = map[string]bool{"internal/yamlfile": true}

// pureForbidden are standard packages that do I/O or read the environment: pure packages must not
// import them, nor anything outside the standard library.
var pureForbidden = []string{"os", "os/exec", "net", "net/http", "syscall", "io/ioutil", "io/fs", "database/sql", "crypto/tls"}

// TestImportRules reads `go list` and fails on every edge the layout does not allow.
func TestImportRules(t *testing.T) {
	out := goList(t, "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}")
	var problems []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		from := strings.TrimPrefix(fields[0], module)
		layer, ok := layers[from]
		if !ok {
			problems = append(problems, from+": not in the layout table (internal/layout/layout_test.go): give it a layer")
			continue
		}
		for _, imp := range fields[1:] {
			problems = append(problems, check(from, layer, imp)...)
		}
	}
	sort.Strings(problems)
	for _, p := range problems {
		t.Error(p)
	}
}

// check returns what is wrong with the edge from -> imp.
func check(from, layer, imp string) []string {
	std := !strings.Contains(strings.Split(imp, "/")[0], ".")
	if !strings.HasPrefix(imp, module) {
		switch {
		case layer == "pure" && !std:
			return []string{from + " is pure and imports " + imp + " (outside the standard library)"}
		case layer == "pure":
			for _, f := range pureForbidden {
				if imp == f {
					return []string{from + " is pure and imports " + imp + " (I/O)"}
				}
			}
		case layer == "sandbox" && !std && imp != "go.yaml.in/yaml/v3":
			return []string{from + " is the sandbox and imports " + imp + " (the sandbox uses the standard library only)"}
		}
		return nil
	}
	to := strings.TrimPrefix(imp, module)
	toLayer, ok := layers[to]
	if !ok {
		return nil // reported where that package is listed itself
	}
	if layer == "sandbox" {
		if sandboxAllowed[to] {
			return nil
		}
		return []string{from + " is the sandbox and imports " + to + " (client-side code)"}
	}
	if toLayer == layer {
		if sameLayer[layer] {
			return nil
		}
		return []string{from + " imports " + to + ": " + layer + "s never import each other"}
	}
	for _, l := range mayImport[layer] {
		if l == toLayer {
			return nil
		}
	}
	return []string{from + " (" + layer + ") imports " + to + " (" + toLayer + "): not allowed"}
}

// TestCheckRefusesWhatTheLayoutForbids: the rules themselves, on edges that would break them.
func TestCheckRefusesWhatTheLayoutForbids(t *testing.T) {
	for _, c := range []struct {
		from, imp string
		bad       bool
	}{
		{"internal/rotation", module + "internal/sink", true},
		{"internal/scan", module + "internal/notify", true},
		{"internal/policy", "os", true},
		{"internal/policy", "github.com/aws/aws-sdk-go-v2/service/iam", true},
		{"internal/policy", module + "internal/scan", true},
		{"internal/awssim", module + "internal/inventory", true},
		{"internal/awssim", "github.com/aws/aws-sdk-go-v2/aws", true},
		{"internal/scan", module + "internal/job", true},
		{"internal/job", module + "internal/cli", true},
		{"internal/policy", module + "internal/plan", false},
		{"internal/job", module + "internal/rotation", false},
		{"internal/awssim", module + "internal/yamlfile", false},
		{"internal/awssim", "go.yaml.in/yaml/v3", false},
		{"internal/cli", module + "internal/awssim", false},
	} {
		got := check(c.from, layers[c.from], c.imp)
		if (len(got) > 0) != c.bad {
			t.Errorf("%s -> %s: problems %v, want refused=%v", c.from, c.imp, got, c.bad)
		}
	}
}

// TestProgramsThatReadAConfigurationKnowTheSinkTypes: sink types register themselves from
// internal/sink (config may not import it), so every program that links internal/config must
// link internal/sink too, or a delivery list's types would be unknown to it.
func TestProgramsThatReadAConfigurationKnowTheSinkTypes(t *testing.T) {
	out := goList(t, "{{if eq .Name \"main\"}}{{.ImportPath}}{{range .Deps}} {{.}}{{end}}{{end}}")
	mains := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<22)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		mains++
		deps := map[string]bool{}
		for _, d := range fields[1:] {
			deps[d] = true
		}
		if deps[module+"internal/config"] && !deps[module+"internal/sink"] {
			t.Errorf("%s links internal/config but not internal/sink: import it (blank) so the sink types register", fields[0])
		}
	}
	if mains < 3 {
		t.Fatalf("found %d main packages: %s", mains, out)
	}
}

// goList is `go list -f format ./...` of the module, skipping the test without the go command.
func goList(t *testing.T, format string) []byte {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command (install Go)")
	}
	cmd := exec.Command("go", "list", "-f", format, "./...")
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	return out
}
