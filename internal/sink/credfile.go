package sink

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/keycycle/keycycle/internal/inventory"
	"github.com/keycycle/keycycle/internal/secret"
	"github.com/keycycle/keycycle/internal/sinkname"
)

// Keys of a credentials file profile.
const (
	keyID     = "aws_access_key_id"
	keySecret = "aws_secret_access_key"
	keyToken  = "aws_session_token"
)

// CredentialsFile keeps one profile of an AWS shared credentials file (the file the AWS CLI and
// SDKs read, ~/.aws/credentials or AWS_SHARED_CREDENTIALS_FILE). It edits only the values of
// aws_access_key_id and aws_secret_access_key in that profile: comments, blank lines, other keys
// and other profiles stay byte for byte, and the file keeps its mode. A write goes to a temporary
// file in the same directory, synced, then renamed over the original (through a symlink to its
// target), so a reader sees either the old file or the new one.
//
// Phases: Stage checks that the profile exists once, holds long-term credentials and that its
// directory is writable, and remembers the key it held; Promote writes the new key (nothing when
// the profile holds it already); Abort writes the remembered key back when the profile holds the
// new one.
type CredentialsFile struct {
	Path    string
	Profile string

	mu       sync.Mutex
	replaced map[inventory.KeyID][2]string // new key id -> the id and secret it replaced
}

// Name identifies the sink.
func (c *CredentialsFile) Name() string { return "credentials-file" }

// Location is the file and profile.
func (c *CredentialsFile) Location(secret.AccessKey) string {
	return c.Path + " [" + c.Profile + "]"
}

// Current returns the access key the profile holds.
func (c *CredentialsFile) Current() (inventory.KeyID, secret.Value, error) {
	f, err := c.load()
	if err != nil {
		return "", secret.Value{}, err
	}
	id, sec, err := f.creds(c.Profile)
	if err != nil {
		return "", secret.Value{}, fmt.Errorf("%s: %w", c.Path, err)
	}
	return inventory.KeyID(id), secret.New(sec), nil
}

func (c *CredentialsFile) load() (*iniFile, error) {
	data, err := os.ReadFile(c.Path)
	if err != nil {
		return nil, fmt.Errorf("read credentials file: %w", err)
	}
	return parseINI(string(data)), nil
}

// Stage checks the profile and the directory and remembers the key the profile holds.
func (c *CredentialsFile) Stage(_ context.Context, k secret.AccessKey) error {
	f, err := c.load()
	if err != nil {
		return err
	}
	id, sec, err := f.creds(c.Profile)
	if err != nil {
		return fmt.Errorf("%s: %w", c.Path, err)
	}
	real, err := filepath.EvalSymlinks(c.Path)
	if err != nil {
		return fmt.Errorf("resolve credentials file: %w", err)
	}
	probe, err := os.CreateTemp(filepath.Dir(real), ".keycycle-probe-*")
	if err != nil {
		return fmt.Errorf("credentials file directory is not writable: %w", err)
	}
	probe.Close()
	os.Remove(probe.Name())
	if id == k.KeyID.Raw() {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.replaced == nil {
		c.replaced = map[inventory.KeyID][2]string{}
	}
	c.replaced[k.KeyID] = [2]string{id, sec}
	return nil
}

// Promote writes k into the profile.
func (c *CredentialsFile) Promote(_ context.Context, k secret.AccessKey) error {
	return c.write(k.KeyID.Raw(), k.Secret.Reveal(), "")
}

// Abort writes back the key k replaced, when the profile holds k.
func (c *CredentialsFile) Abort(_ context.Context, k secret.AccessKey) error {
	f, err := c.load()
	if err != nil {
		return err
	}
	if id, _, err := f.creds(c.Profile); err != nil || id != k.KeyID.Raw() {
		return nil
	}
	c.mu.Lock()
	old, ok := c.replaced[k.KeyID]
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("%s: profile %s holds key %s and the key it replaced is unknown", c.Path, c.Profile, k.KeyID)
	}
	return c.write(old[0], old[1], k.KeyID.Raw())
}

// write sets the profile's key (when it holds only, if not empty) and replaces the file atomically.
func (c *CredentialsFile) write(id, sec, only string) error {
	real, err := filepath.EvalSymlinks(c.Path)
	if err != nil {
		return fmt.Errorf("resolve credentials file: %w", err)
	}
	st, err := os.Stat(real)
	if err != nil {
		return fmt.Errorf("credentials file: %w", err)
	}
	f, err := c.load()
	if err != nil {
		return err
	}
	curID, curSec, err := f.creds(c.Profile)
	if err != nil {
		return fmt.Errorf("%s: %w", c.Path, err)
	}
	if curID == id && curSec == sec {
		return nil
	}
	if only != "" && curID != only {
		return nil
	}
	f.set(c.Profile, keyID, id)
	f.set(c.Profile, keySecret, sec)
	return writeAtomic(real, []byte(f.String()), st.Mode().Perm())
}

// Holds reports whether the profile holds k's key id.
func (c *CredentialsFile) Holds(_ context.Context, k secret.AccessKey) (bool, error) {
	id, _, err := c.Current()
	return err == nil && id == k.KeyID, err
}

// Read returns the profile's secret when it holds k's key id.
func (c *CredentialsFile) Read(_ context.Context, k secret.AccessKey) (secret.Value, error) {
	id, sec, err := c.Current()
	if err != nil {
		return secret.Value{}, err
	}
	if id != k.KeyID {
		return secret.Value{}, fmt.Errorf("%s: profile %s does not hold key %s", c.Path, c.Profile, k.KeyID)
	}
	return sec, nil
}

// writeAtomic replaces path with data: a temporary file in the same directory with the given
// mode, synced, renamed over path. On any error path is left as it was.
func writeAtomic(path string, data []byte, mode os.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".keycycle-*")
	if err != nil {
		return fmt.Errorf("write credentials file: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(mode); err != nil {
		return fmt.Errorf("write credentials file: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write credentials file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write credentials file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write credentials file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write credentials file: %w", err)
	}
	if d, err := os.Open(dir); err == nil { // make the rename durable; best effort
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// iniFile is a credentials file as lines, each with its own line ending, so that what is not
// edited is written back byte for byte.
type iniFile struct {
	lines []string // each includes its "\n" or "\r\n", except perhaps the last
}

func parseINI(s string) *iniFile {
	f := &iniFile{}
	for s != "" {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			f.lines = append(f.lines, s)
			break
		}
		f.lines = append(f.lines, s[:i+1])
		s = s[i+1:]
	}
	return f
}

func (f *iniFile) String() string { return strings.Join(f.lines, "") }

func body(line string) string { return strings.TrimRight(line, "\r\n") }

// section returns the name of a section header line.
func section(line string) (string, bool) {
	t := strings.TrimSpace(body(line))
	if !strings.HasPrefix(t, "[") {
		return "", false
	}
	end := strings.IndexByte(t, ']')
	if end < 0 {
		return "", false
	}
	return strings.TrimSpace(t[1:end]), true
}

// keyOf returns the lower-case key of a "key = value" line, and the index where its value starts
// (after "=" and the spaces following it). Comments, blank and continuation lines have no key.
func keyOf(line string) (string, int, bool) {
	b := body(line)
	t := strings.TrimSpace(b)
	if t == "" || t[0] == '#' || t[0] == ';' || b[0] == ' ' || b[0] == '\t' {
		return "", 0, false
	}
	eq := strings.IndexByte(b, '=')
	if eq < 0 {
		return "", 0, false
	}
	v := eq + 1
	for v < len(b) && (b[v] == ' ' || b[v] == '\t') {
		v++
	}
	return strings.ToLower(strings.TrimSpace(b[:eq])), v, true
}

// span returns the line range [start, end) of the profile's section body; ok is false when the
// profile has no section. A profile that appears twice is refused.
func (f *iniFile) span(profile string) (start, end int, err error) {
	start = -1
	for i, l := range f.lines {
		name, ok := section(l)
		if !ok {
			continue
		}
		if start >= 0 && end < 0 {
			end = i
		}
		if name == profile {
			if start >= 0 {
				return 0, 0, fmt.Errorf("profile %s appears twice; merge the two sections by hand", profile)
			}
			start, end = i+1, -1
		}
	}
	if start < 0 {
		return 0, 0, errNoProfile
	}
	if end < 0 {
		end = len(f.lines)
	}
	return start, end, nil
}

var errNoProfile = errors.New("no such profile")

// creds returns the profile's long-term credentials.
func (f *iniFile) creds(profile string) (id, sec string, err error) {
	start, end, err := f.span(profile)
	if errors.Is(err, errNoProfile) {
		return "", "", fmt.Errorf("no profile %s", profile)
	}
	if err != nil {
		return "", "", err
	}
	for _, l := range f.lines[start:end] {
		k, v, ok := keyOf(l)
		if !ok {
			continue
		}
		val := strings.TrimSpace(body(l)[v:])
		switch k {
		case keyID:
			id = val
		case keySecret:
			sec = val
		case keyToken:
			return "", "", fmt.Errorf("profile %s holds temporary credentials (aws_session_token): only long-term access keys can be rotated", profile)
		}
	}
	if id == "" || sec == "" {
		return "", "", fmt.Errorf("profile %s has no aws_access_key_id and aws_secret_access_key", profile)
	}
	return id, sec, nil
}

// set replaces the value of key in the profile (every occurrence), keeping the line's key,
// spacing and line ending. The profile has the key: creds checked it.
func (f *iniFile) set(profile, key, value string) {
	start, end, err := f.span(profile)
	if err != nil {
		return
	}
	for i := start; i < end; i++ {
		l := f.lines[i]
		if k, v, ok := keyOf(l); ok && k == key {
			f.lines[i] = body(l)[:v] + value + l[len(body(l)):]
		}
	}
}

// KindCredentialsFile is the kind of the credentials file rotate-self writes (no configuration
// sink type: `keycycle rotate-self` builds it from its flags).
const KindCredentialsFile sinkname.Kind = "credentials-file"

func init() {
	sinkname.Register(KindCredentialsFile, sinkname.About{Service: "an AWS credentials file"})
}

// Kind is the kind of sink, whatever its configured name.
func (*CredentialsFile) Kind() sinkname.Kind { return KindCredentialsFile }
