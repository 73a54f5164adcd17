package main

import (
	"archive/zip"
	"bytes"
	"context"
	"debug/elf"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildIsReproducible builds the package twice, with the configuration inside, and finds the
// same bytes: a bootstrap for linux/arm64 with mode 0755, and the configuration.
func TestBuildIsReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the Lambda function twice")
	}
	if raceEnabled {
		// The builds are child processes the race detector cannot see; the plain run (CI runs
		// both) covers them.
		t.Skip("builds the Lambda function in child processes: runs in the plain `go test` run, not under -race")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "keycycle.yaml")
	if err := os.WriteFile(cfg, []byte("dry_run: true\nthresholds: {rotate_after: 60d}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var sums []string
	for _, name := range []string{"a.zip", "b.zip"} {
		sum, err := Build(context.Background(), Options{Out: filepath.Join(dir, name), Config: cfg, Module: filepath.Join("..", "..")})
		if err != nil {
			t.Fatal(err)
		}
		sums = append(sums, sum)
	}
	if sums[0] != sums[1] {
		t.Fatalf("two builds differ: %s and %s", sums[0], sums[1])
	}
	zr, err := zip.OpenReader(filepath.Join(dir, "a.zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != 2 || zr.File[0].Name != "bootstrap" || zr.File[1].Name != "keycycle.yaml" {
		t.Fatalf("entries: %v", zr.File)
	}
	boot := zr.File[0]
	if boot.Mode().Perm() != 0o755 || !boot.Modified.Equal(zipTime) {
		t.Fatalf("bootstrap: mode %v, modified %v", boot.Mode(), boot.Modified)
	}
	rc, err := boot.Open()
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if bin.Machine != elf.EM_AARCH64 || bin.OSABI != elf.ELFOSABI_NONE && bin.OSABI != elf.ELFOSABI_LINUX {
		t.Fatalf("bootstrap is for %v/%v, want linux arm64", bin.Machine, bin.OSABI)
	}
}

func TestBuildRefusesABadConfiguration(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "keycycle.yaml")
	if err := os.WriteFile(cfg, []byte("thresholds: {rotate_after: ninety}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "x.zip")
	if _, err := Build(context.Background(), Options{Out: out, Config: cfg, Module: filepath.Join("..", "..")}); err == nil {
		t.Fatal("a configuration that does not validate must not be packaged")
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatal("nothing may be written")
	}
}

// The configuration is checked with every sink type known: a delivery list's problem is the one
// of its field, not an unknown type (the build imports internal/sink).
func TestBuildChecksTheSinksOfTheConfiguration(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "keycycle.yaml")
	if err := os.WriteFile(cfg, []byte("delivery:\n  - type: ssm\n    parameter: x/{{user}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Build(context.Background(), Options{Out: filepath.Join(t.TempDir(), "x.zip"), Config: cfg, Module: filepath.Join("..", "..")})
	if err == nil || !strings.Contains(err.Error(), "delivery[0].parameter") || strings.Contains(err.Error(), "unknown sink type") {
		t.Fatalf("got %v", err)
	}
}
