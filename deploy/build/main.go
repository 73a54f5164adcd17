// Command build makes the Lambda deployment package of keycycle reproducibly: the function
// (cmd/keycycle-lambda) built for linux/arm64 as bootstrap for the provided.al2023 runtime, in
// a zip whose bytes depend only on the source and the Go toolchain.
//
//	go run ./deploy/build                            # dist/keycycle-lambda.zip
//	go run ./deploy/build -o x.zip -config k.yaml    # with the configuration inside (KEYCYCLE_CONFIG=keycycle.yaml)
//
// What makes it reproducible: -trimpath (no local paths), -buildvcs=false (no VCS stamp),
// -ldflags "-s -w -buildid=" (no symbol table, no build id), CGO_ENABLED=0, and a zip whose
// entries are sorted, carry a fixed modification time and fixed modes.
// It prints the file's SHA-256 (and the base64 form Lambda reports as CodeSha256).
package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"time"

	"github.com/keycycle/keycycle/internal/config"
	// The sink types the configuration's delivery lists name register themselves here.
	_ "github.com/keycycle/keycycle/internal/sink"
)

// zipTime is every entry's modification time: a fixed date, so that the zip's bytes do not
// depend on when it was built (MS-DOS times start in 1980).
var zipTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	out := flag.String("o", filepath.Join("dist", "keycycle-lambda.zip"), "output `zip` file")
	cfg := flag.String("config", "", "configuration `file` to put in the package as keycycle.yaml (validated first)")
	arch := flag.String("arch", "arm64", "`architecture`: arm64 or amd64 (the function's Architectures)")
	flag.Parse()
	sum, err := Build(ctx, Options{Out: *out, Config: *cfg, Arch: *arch, Stderr: os.Stderr})
	if err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n", err)
		os.Exit(1)
	}
	raw, _ := hex.DecodeString(sum)
	fmt.Printf("%s\nsha256 %s\nCodeSha256 %s\n", *out, sum, base64.StdEncoding.EncodeToString(raw))
}

// Options of Build.
type Options struct {
	Out    string // the zip to write
	Config string // optional configuration file to include as keycycle.yaml
	Arch   string // GOARCH: arm64 (default) or amd64
	// Module is the directory of the keycycle module (default: the current directory).
	Module string
	Stderr io.Writer
}

// Build compiles the function and writes the zip; it returns the zip's SHA-256 in hex.
func Build(ctx context.Context, o Options) (string, error) {
	if o.Arch == "" {
		o.Arch = "arm64"
	}
	if o.Arch != "arm64" && o.Arch != "amd64" {
		return "", fmt.Errorf("arch %q: want arm64 or amd64", o.Arch)
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	files := map[string]file{}
	if o.Config != "" {
		if _, err := config.Load(o.Config); err != nil {
			return "", fmt.Errorf("configuration %s does not validate:\n%w", o.Config, err)
		}
		data, err := os.ReadFile(o.Config)
		if err != nil {
			return "", err
		}
		files["keycycle.yaml"] = file{data: data, mode: 0o644}
	}
	tmp, err := os.MkdirTemp("", "keycycle-build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "bootstrap")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-tags", "lambda.norpc",
		"-ldflags", "-s -w -buildid=", "-o", bin, "./cmd/keycycle-lambda")
	cmd.Dir = o.Module
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+o.Arch, "CGO_ENABLED=0", "GOFLAGS=")
	cmd.Stdout, cmd.Stderr = o.Stderr, o.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build: %w", err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	files["bootstrap"] = file{data: data, mode: 0o755}
	zipped, err := zipFiles(files)
	if err != nil {
		return "", err
	}
	if dir := filepath.Dir(o.Out); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
	}
	if err := os.WriteFile(o.Out, zipped, 0o644); err != nil {
		return "", err
	}
	sum := sha256.Sum256(zipped)
	return hex.EncodeToString(sum[:]), nil
}

type file struct {
	data []byte
	mode os.FileMode
}

// zipFiles writes the files sorted by name, each with zipTime and its mode.
func zipFiles(files map[string]file) ([]byte, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range names {
		h := &zip.FileHeader{Name: n, Method: zip.Deflate, Modified: zipTime}
		h.SetMode(files[n].mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(files[n].data); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
