package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/seal"
)

// TestKeyFileOwnedByAnotherUserRefused: --key-file judged the file's mode
// alone, so a 0600 key that another local user put where the key is
// delivered (a directory they may write, or own) was read as the dataset's:
// its owner chose it, and may know it (age-wrapped or not: age says
// nothing of who wrapped a key). A key file, or its directory, owned by a
// user other than this one and root is now refused, naming which and its
// owner, and left in place.
func TestKeyFileOwnedByAnotherUserRefused(t *testing.T) {
	key, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	wrapped := "-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n"
	write := func(t *testing.T, dir, text string) string {
		t.Helper()
		p := filepath.Join(dir, "key")
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	get := func(p string) error {
		_, err := (&keyFlags{keyFile: p}).get(nil, state{}, "d")
		return err
	}
	const other = 4242
	// another makes p another user's: chown where this test may, else
	// stand in another user for this one (p's directory is then
	// another's too; the file is judged first).
	another := func(t *testing.T, p string) int {
		t.Helper()
		if os.Geteuid() == 0 {
			if err := os.Chown(p, other, other); err != nil {
				t.Fatal(err)
			}
			return other
		}
		old := geteuid
		t.Cleanup(func() { geteuid = old })
		me := os.Geteuid()
		geteuid = func() int { return me + 1 }
		return me
	}
	refused := func(t *testing.T, p, what string, uid int) {
		t.Helper()
		err := get(p)
		if err == nil || !isCode(err, exitBadInput) || !strings.Contains(err.Error(), "--key-file "+p+": "+what+" is owned by uid "+strconv.Itoa(uid)) {
			t.Errorf("key file %s with %s owned by uid %d: %v, want it refused (exit %d), naming it and its owner", p, what, uid, err, exitBadInput)
		}
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("refused key file %s: %v, want it left in place", p, err)
		}
	}

	t.Run("own", func(t *testing.T) {
		p := write(t, t.TempDir(), key.String()+"\n")
		if err := get(p); err != nil {
			t.Fatalf("a key file this user owns: %v", err)
		}
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("key file read: %v, want it removed", err)
		}
	})
	t.Run("file owned by another user", func(t *testing.T) {
		p := write(t, t.TempDir(), key.String()+"\n")
		refused(t, p, "the file", another(t, p))
	})
	t.Run("age-wrapped file owned by another user", func(t *testing.T) {
		p := write(t, t.TempDir(), wrapped)
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
		refused(t, p, "the file", another(t, p))
	})
	t.Run("directory owned by another user", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to give the directory alone to another user; TestKeyFileOwnerProblem covers the decision")
		}
		dir := filepath.Join(t.TempDir(), "drop")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		p := write(t, dir, key.String()+"\n")
		another(t, dir)
		refused(t, p, "its directory "+dir, other)
	})
}

// TestKeyFileOwnerProblem: the decision --key-file makes of its file and
// directory's owners, for any user.
func TestKeyFileOwnerProblem(t *testing.T) {
	const me, other = 1000, 4242
	for _, c := range []struct {
		file, dir uint32
		want      string
	}{
		{me, me, ""},
		{0, 0, ""},
		{me, 0, ""},
		{0, me, ""},
		{other, me, "the file is owned by uid 4242, not by this user (uid 1000) or root"},
		{other, other, "the file is owned by uid 4242"},
		{me, other, "its directory /drop is owned by uid 4242, not by this user (uid 1000) or root"},
		{0, other, "its directory /drop is owned by uid 4242"},
	} {
		got := keyFileOwnerProblem("/drop/key", ownedBy(c.file), ownedBy(c.dir), me)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("file uid %d, directory uid %d: %q, want %q", c.file, c.dir, got, c.want)
		}
	}
}

// ownedBy is a FileInfo of a file uid owns.
type ownedBy uint32

func (o ownedBy) Name() string       { return "f" }
func (o ownedBy) Size() int64        { return 0 }
func (o ownedBy) Mode() fs.FileMode  { return 0o600 }
func (o ownedBy) ModTime() time.Time { return time.Time{} }
func (o ownedBy) IsDir() bool        { return false }
func (o ownedBy) Sys() any           { return &syscall.Stat_t{Uid: uint32(o)} }
