package slurm

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"meridian.dev/meridian/catalog"
)

// TestSiteRecordKeyFile: a site's settings may name the key that signs
// its records (backend.recordKeyFile); the backend signs with it rather
// than with the server's key, and a record it signed verifies under that
// key only.
func TestSiteRecordKeyFile(t *testing.T) {
	dir := t.TempDir()
	key := bytes.Repeat([]byte{0x5a}, 32)
	path := filepath.Join(dir, "settings", "site-a.key")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	serverKey := RecordKeyFile(filepath.Join(dir, "settings", "slurm-record-key"))
	b, err := New(catalog.BackendSpec{Type: "slurm", RecordKeyFile: path}, state, serverKey)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.rec.seal.key, key) {
		t.Fatalf("the backend signs with %x; want the site's key %x", b.rec.seal.key, key)
	}
	if err := b.rec.record("r1-1", "7"); err != nil {
		t.Fatal(err)
	}
	withKey, err := New(catalog.BackendSpec{Type: "slurm"}, state, RecordKey(key), serverKey)
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := withKey.rec.recorded("r1-1"); !ok || id != "7" {
		t.Errorf("record read under the site's key: %q, %v; want 7", id, ok)
	}
	server, err := New(catalog.BackendSpec{Type: "slurm"}, state, serverKey)
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := server.rec.recorded("r1-1"); ok {
		t.Errorf("record read under the server's key: %q; want it refused (signed with the site's)", id)
	}
}

// TestSiteRecordKeyFileRefused: a key file a site names is checked as a
// secret is, and refused with an error naming the field and the file.
func TestSiteRecordKeyFileRefused(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	good := hex.EncodeToString(bytes.Repeat([]byte{1}, 32)) + "\n"
	write := func(name, data string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	link := filepath.Join(dir, "link.key")
	if err := os.Symlink(write("target.key", good, 0o600), link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.key")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "none.key"), "no such file"},
		{"readable by others", write("open.key", good, 0o644), "mode 0644"},
		{"readable by the group", write("group.key", good, 0o640), "mode 0640"},
		{"a link", link, "symbolic link"},
		{"a FIFO", fifo, "not a regular file"},
		{"too short", write("short.key", "abcd\n", 0o600), "at least 16 bytes"},
		{"not hex", write("text.key", strings.Repeat("z", 40), 0o600), "hex-encoded"},
		{"too large", write("large.key", strings.Repeat("a", maxRecordKeyFile+2), 0o600), "more than"},
		{"inside the state directory", write("state/my.key", good, 0o600), "inside the site's state directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(catalog.BackendSpec{Type: "slurm", RecordKeyFile: c.path}, state, RecordKey(bytes.Repeat([]byte{2}, 32)))
			if err == nil {
				t.Fatalf("key file %s taken", c.path)
			}
			for _, w := range []string{"backend.recordKeyFile", c.path, c.want} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	if os.Geteuid() == 0 {
		p := write("other.key", good, 0o600)
		if err := os.Chown(p, 4242, 4242); err != nil {
			t.Fatal(err)
		}
		_, err := New(catalog.BackendSpec{Type: "slurm", RecordKeyFile: p}, state)
		if err == nil || !strings.Contains(err.Error(), "belongs to user 4242") {
			t.Errorf("a key file of another user: %v; want it refused", err)
		}
	}
}
