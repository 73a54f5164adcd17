package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
)

// skipMarker, on the line before a ```sh block of README.md or docs/*.md, says the block cannot
// run against the sandbox and why: `<!-- docs-test: skip: needs a real AWS account -->`.
const skipMarker = "<!-- docs-test: skip"

type shBlock struct {
	file string
	line int
	code string
	skip string // the reason, when marked
}

// shBlocks returns the ```sh blocks of a Markdown file, in page order.
func shBlocks(t *testing.T, path string) []shBlock {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		out        []shBlock
		cur        *shBlock
		prev, name = "", filepath.Base(path)
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && line == "```sh":
			cur = &shBlock{file: name, line: n}
			if strings.HasPrefix(strings.TrimSpace(prev), skipMarker) {
				cur.skip = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(prev), skipMarker+":"), "-->")
				cur.skip = strings.TrimSpace(cur.skip)
			}
		case cur != nil && strings.HasPrefix(line, "```"):
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.code += line + "\n"
		}
		if strings.TrimSpace(line) != "" {
			prev = line
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDocsCommandBlocks runs every ```sh block of README.md and docs/*.md that is not marked with
// skipMarker, against a sandbox: each file's blocks in page order against one sandbox (so a page
// whose examples only work in another order fails), in a scratch directory holding the files the
// docs name by their repository path. `go run ./cmd/keycycle` and `keycycle` are the binary built
// from this tree; http://127.0.0.1:4566 is the test's sandbox. keycycle's exit codes 3 (changes
// pending) and 4 (needs a person) count as success; curl fails on HTTP errors.
func TestDocsCommandBlocks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds keycycle and runs the documentation's commands")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not found: install bash")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	files := []string{filepath.Join(root, "README.md")}
	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	files = append(files, docs...)

	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "keycycle"), ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	_, awsErr := exec.LookPath("aws")
	_, jqErr := exec.LookPath("jq")
	_, curlErr := exec.LookPath("curl")

	ran := 0
	for _, file := range files {
		blocks := shBlocks(t, file)
		if len(blocks) == 0 {
			continue
		}
		t.Run(filepath.Base(file), func(t *testing.T) {
			sb, _ := awssimtest.Start(t)
			cred, _ := sb.OperatorCredential("111111111111")
			dir := t.TempDir()
			for _, f := range []string{"internal/awssim/default_scenario.yaml", "deploy/keycycle.example.yaml"} {
				data, err := os.ReadFile(filepath.Join(root, f))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(f)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			env := []string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"), "HOME=" + dir,
				"AWS_ENDPOINT_URL=" + sb.URL, "AWS_ACCESS_KEY_ID=" + cred.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + cred.SecretAccessKey,
				"AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=us-east-1", "AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true",
				"AWS_CONFIG_FILE=" + filepath.Join(dir, "aws-config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "aws-credentials"),
				"NO_COLOR=1"}
			for _, b := range blocks {
				if b.skip != "" {
					continue
				}
				switch {
				case strings.Contains(b.code, "aws ") && awsErr != nil:
					t.Logf("%s:%d skipped: aws CLI not found (apt-get install -y awscli)", b.file, b.line)
					continue
				case strings.Contains(b.code, "jq ") && jqErr != nil:
					t.Logf("%s:%d skipped: jq not found (apt-get install -y jq)", b.file, b.line)
					continue
				case strings.Contains(b.code, "curl ") && curlErr != nil:
					t.Logf("%s:%d skipped: curl not found (apt-get install -y curl)", b.file, b.line)
					continue
				}
				code := strings.ReplaceAll(b.code, "go run ./cmd/keycycle", "keycycle")
				code = strings.ReplaceAll(code, "http://127.0.0.1:4566", sb.URL)
				script := `set -e -o pipefail
keycycle() { command keycycle "$@" || { c=$?; [ $c -eq 3 ] || [ $c -eq 4 ] || return $c; }; }
curl() { command curl --fail-with-body "$@"; }
aws() { command aws --endpoint-url "$AWS_ENDPOINT_URL" "$@"; }
` + code
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				cmd := exec.CommandContext(ctx, bash, "-c", script)
				cmd.Dir, cmd.Env = dir, env
				// A block that leaves a process behind holding the output open must not hang the test.
				cmd.WaitDelay = 5 * time.Second
				out, err := cmd.CombinedOutput()
				cancel()
				if err != nil {
					t.Errorf("%s:%d: %v\n%s\noutput:\n%s", b.file, b.line, err, b.code, out)
				} else {
					t.Logf("%s:%d ran", b.file, b.line)
				}
				ran++
			}
		})
	}
	if ran == 0 {
		t.Fatal("no documentation block ran")
	}
}
