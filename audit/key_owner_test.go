package audit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// asAnotherUsersFile makes the file at path one that another user owns,
// as this process sees it: chowned to nobody when the test runs as root
// (whom the file's mode does not stop from reading it), or, for another
// user, the process standing in a different uid.
func asAnotherUsersFile(t *testing.T, path string) {
	t.Helper()
	if os.Geteuid() == 0 {
		if err := os.Chown(path, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		return
	}
	real := os.Geteuid()
	geteuid = func() int { return real + 1 }
	t.Cleanup(func() { geteuid = os.Geteuid })
}

// TestKeyOwnedByAnotherUserRefused: a local user who can write the state
// directory (one they made before the server did, a group-writable one)
// put a 0600 audit.key of their own there, with a key they knew; its mode
// was all ReadKey checked, and the server sealed its log with a key that
// user could forge entries with. A key file another user owns is refused,
// by LoadKey and ReadKey, naming the file and its owner.
func TestKeyOwnedByAnotherUserRefused(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadKey(dir); err != nil {
		t.Fatalf("own key: %v", err)
	}
	path := filepath.Join(dir, KeyFile)
	asAnotherUsersFile(t, path)
	for name, read := range map[string]func(string) ([]byte, error){"LoadKey": LoadKey, "ReadKey": ReadKey} {
		key, err := read(dir)
		if err == nil {
			t.Errorf("%s: a key file owned by another user: accepted (%x)", name, key)
			continue
		}
		if !strings.Contains(err.Error(), path+": owned by uid ") {
			t.Errorf("%s: error %q does not name the file and its owner", name, err)
		}
	}
}

// TestAnchorKeyOwnedByAnotherUserRefused: the same for anchor.key, which
// signs the anchors that say how far the log reached: one another user
// owns is refused by OpenAnchors and ReadAnchors, naming the file.
func TestAnchorKeyOwnedByAnotherUserRefused(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenAnchors(dir); err != nil {
		t.Fatalf("own key: %v", err)
	}
	path := filepath.Join(dir, AnchorKeyFile)
	asAnotherUsersFile(t, path)
	for name, open := range map[string]func(string) (*Anchors, error){"OpenAnchors": OpenAnchors, "ReadAnchors": ReadAnchors} {
		_, err := open(dir)
		if err == nil {
			t.Errorf("%s: an anchor key owned by another user: accepted", name)
			continue
		}
		if !strings.Contains(err.Error(), path+": owned by uid ") {
			t.Errorf("%s: error %q does not name the file and its owner", name, err)
		}
	}
}

// TestKeyModeIsTheFileRead: ReadKey and the anchor key's reader read the
// key, then checked the mode of whatever the name held by then. A key
// others could read (and so knew), with a 0600 file renamed over it
// between the read and the check, was taken. The mode checked is now the
// file read's.
func TestKeyModeIsTheFileRead(t *testing.T) {
	const known = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
	const private = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\n"
	swapAfterRead := func(t *testing.T, path string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(known), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		other := filepath.Join(filepath.Dir(path), "private")
		if err := os.WriteFile(other, []byte(private), 0o600); err != nil {
			t.Fatal(err)
		}
		swapped := false
		testHookKeyRead = func(p string) {
			if p != path || swapped {
				return
			}
			swapped = true
			if err := os.Rename(other, path); err != nil {
				t.Error(err)
			}
		}
		t.Cleanup(func() { testHookKeyRead = nil })
	}
	t.Run("audit key", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, KeyFile)
		swapAfterRead(t, path)
		if key, err := ReadKey(dir); err == nil {
			t.Errorf("a key of mode 0644, swapped for a 0600 file after it was read: accepted (%x)", key)
		}
		if _, err := os.Stat(filepath.Join(dir, "private")); err == nil {
			t.Error("the key was not swapped after its read: the test proves nothing")
		}
	})
	t.Run("anchor key", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, AnchorKeyFile)
		swapAfterRead(t, path)
		if _, err := ReadAnchors(dir); err == nil {
			t.Error("an anchor key of mode 0644, swapped for a 0600 file after it was read: accepted")
		}
		if _, err := os.Stat(filepath.Join(dir, "private")); err == nil {
			t.Error("the key was not swapped after its read: the test proves nothing")
		}
	})
}
