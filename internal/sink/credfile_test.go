package sink_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/secret"
	"github.com/keycycle/keycycle/internal/sink"
)

const credFile = "# my credentials\r\n" +
	"[default]\r\n" +
	"aws_access_key_id = AKIAOTHEROTHEROTHER1\r\n" +
	"aws_secret_access_key = other/secret\r\n" +
	"\r\n" +
	"; the work account\n" +
	"[work]\n" +
	"region=eu-west-1   \n" +
	"AWS_ACCESS_KEY_ID\t=\tAKIAOLDOLDOLDOLDOLD1\n" +
	"# keep me\n" +
	"aws_secret_access_key=old/secret/value\n" +
	"s3 =\n" +
	"  max_concurrent_requests = 20\n" +
	"\n" +
	"[other]\n" +
	"aws_access_key_id = AKIAOTHEROTHEROTHER2\n" +
	"aws_secret_access_key = other2"

func writeCred(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func newKey(id, sec string) secret.AccessKey {
	return secret.AccessKey{AccountID: "111111111111", UserName: "alice", KeyID: inventory.KeyID(id), Secret: secret.New(sec)}
}

func TestCredentialsFileRewritesOnlyTheProfileKeys(t *testing.T) {
	ctx := context.Background()
	p := writeCred(t, credFile, 0o640)
	c := &sink.CredentialsFile{Path: p, Profile: "work"}
	id, sec, err := c.Current()
	if err != nil || id != "AKIAOLDOLDOLDOLDOLD1" || sec.Reveal() != "old/secret/value" {
		t.Fatalf("current = %s %v", id, err)
	}
	k := newKey("AKIANEWNEWNEWNEWNEW1", "new+secret/value")
	if held, _ := c.Holds(ctx, k); held {
		t.Fatal("holds before the write")
	}
	if err := c.Stage(ctx, k); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != credFile {
		t.Fatal("Stage changed the file")
	}
	if err := c.Promote(ctx, k); err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(strings.Replace(credFile, "AKIAOLDOLDOLDOLDOLD1", "AKIANEWNEWNEWNEWNEW1", 1), "old/secret/value", "new+secret/value", 1)
	b, _ := os.ReadFile(p)
	if string(b) != want {
		t.Fatalf("file after promote:\n%q\nwant\n%q", b, want)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v, want 0640", st.Mode().Perm())
	}
	if got, err := c.Read(ctx, k); err != nil || got.Reveal() != "new+secret/value" {
		t.Fatalf("read back: %v", err)
	}
	// Idempotent: a second promote writes nothing.
	st1, _ := os.Stat(p)
	if err := c.Promote(ctx, k); err != nil {
		t.Fatal(err)
	}
	if st2, _ := os.Stat(p); !os.SameFile(st1, st2) {
		t.Fatal("a second promote rewrote the file")
	}
	// Abort puts the old key back, byte for byte.
	if err := c.Abort(ctx, k); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != credFile {
		t.Fatalf("file after abort:\n%q", b)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(p), ".*")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

func TestCredentialsFileRefusals(t *testing.T) {
	ctx := context.Background()
	k := newKey("AKIANEWNEWNEWNEWNEW1", "s")
	for name, tc := range map[string]struct{ content, want string }{
		"missing profile": {"[default]\naws_access_key_id = A\naws_secret_access_key = B\n", "no profile work"},
		"temporary":       {"[work]\naws_access_key_id = ASIA\naws_secret_access_key = B\naws_session_token = T\n", "temporary credentials"},
		"twice":           {"[work]\naws_access_key_id = A\naws_secret_access_key = B\n[work]\nregion = x\n", "appears twice"},
		"no keys":         {"[work]\nregion = x\n", "no aws_access_key_id"},
	} {
		t.Run(name, func(t *testing.T) {
			p := writeCred(t, tc.content, 0o600)
			c := &sink.CredentialsFile{Path: p, Profile: "work"}
			err := c.Stage(ctx, k)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Stage: %v, want %q", err, tc.want)
			}
			if err := c.Promote(ctx, k); err == nil {
				t.Fatal("Promote must refuse too")
			}
			if b, _ := os.ReadFile(p); string(b) != tc.content {
				t.Fatal("a refusal changed the file")
			}
		})
	}
}

func TestCredentialsFileThroughSymlink(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	real := filepath.Join(dir, "real-credentials")
	content := "[work]\naws_access_key_id = AKIAOLDOLDOLDOLDOLD1\naws_secret_access_key = old\n# trailing comment\n\n[next]\nregion = x\n"
	if err := os.WriteFile(real, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "credentials")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	c := &sink.CredentialsFile{Path: link, Profile: "work"}
	k := newKey("AKIANEWNEWNEWNEWNEW1", "new")
	if err := c.Stage(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := c.Promote(ctx, k); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatal("the symlink was replaced by a file")
	}
	b, _ := os.ReadFile(real)
	want := "[work]\naws_access_key_id = AKIANEWNEWNEWNEWNEW1\naws_secret_access_key = new\n# trailing comment\n\n[next]\nregion = x\n"
	if string(b) != want {
		t.Fatalf("got\n%s", b)
	}
}
