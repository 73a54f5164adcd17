package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keycycle/keycycle/internal/yamlfile"
)

// Issue 11, point 4: what a hostile or runaway configuration would do is refused up front,
// naming the field.
func TestConfigBoundsAreRefusedUpFront(t *testing.T) {
	for _, c := range []struct {
		name, doc, want string
	}{
		{"multi-document YAML", "dry_run: true\n---\ndry_run: false\n", "3: a second YAML document"},
		{"secret name template too long for Secrets Manager", "secret:\n  name_template: " + strings.Repeat("x", 531) + "{{user}}\n",
			"secret.name_template: template of 539 characters: with a 64-character user name the secret name has 595 characters; Secrets Manager allows 512"},
		{"parameter template too long for SSM", "delivery:\n  - type: ssm\n    parameter: /" + strings.Repeat("p", 1000) + "/{{user}}\n",
			"delivery[0].parameter: template of 1010 characters: with a 64-character user name the parameter name has 1115 characters with its ARN; SSM allows 1011"},
		{"a list past the entry limit", "selection:\n  exclude:\n    - users: [" + strings.Repeat("u, ", MaxListEntries) + "u]\n",
			"selection.exclude[0].users: 10001 entries; at most 10000 are allowed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("keycycle.yaml", []byte(c.doc))
			var ps yamlfile.Problems
			if !errors.As(err, &ps) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want a problem containing %q, got %v", c.want, err)
			}
		})
	}
}

func TestConfigFileLargerThanTheLimitIsNotRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(path, []byte("# "+strings.Repeat("x", MaxFileSize)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	var ps yamlfile.Problems
	if !errors.As(err, &ps) || !strings.Contains(err.Error(), "larger than 1048576 bytes (1 MiB), the limit") {
		t.Fatalf("got %v", err)
	}
	if _, err := Parse("x.yaml", make([]byte, MaxFileSize+1)); err == nil || !strings.Contains(err.Error(), "at most 1048576") {
		t.Fatalf("Parse of an over-size document: %v", err)
	}
}
