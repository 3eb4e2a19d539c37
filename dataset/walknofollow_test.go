package dataset

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"meridian.dev/meridian/internal/fifotest"
)

// walkNoFollow is walkAt of the directory dir, opened as openDirNoFollow
// opens it, with each entry's path (dir joined with its own).
func walkNoFollow(dir string, fn func(p string, d fs.DirEntry) error) error {
	d, err := openDirNoFollow(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return walkAt(d, ".", func(rel string, _ *os.File, e fs.DirEntry) error {
		return fn(filepath.Join(dir, filepath.FromSlash(rel)), e)
	})
}

// walkTree makes dir/sub/a and dir/b, and other/secret beside dir; it
// returns dir and other.
func walkTree(t *testing.T) (dir, other string) {
	t.Helper()
	base := t.TempDir()
	dir, other = filepath.Join(base, "dir"), filepath.Join(base, "other")
	for _, d := range []string{filepath.Join(dir, "sub"), other} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{filepath.Join(dir, "sub", "a"), filepath.Join(dir, "b"), filepath.Join(other, "secret")} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir, other
}

// replaceSub is a walk's fn that, once the walk has listed dir/sub as a
// directory, puts what put makes in its place, and records every path it
// is called with.
func replaceSub(t *testing.T, dir string, put func(p string) error, seen *[]string) func(string, fs.DirEntry) error {
	return func(p string, d fs.DirEntry) error {
		*seen = append(*seen, p)
		if p != filepath.Join(dir, "sub") || !d.IsDir() {
			return nil
		}
		if err := os.RemoveAll(p); err != nil {
			t.Fatal(err)
		}
		return put(p)
	}
}

// TestWalkNoFollowFailsAtOnceOnAFIFOForASubdirectory: a resumed unseal
// walked its directory with filepath.WalkDir, which opened a FIFO put in
// place of a subdirectory it had just listed to read, and waited for a
// writer for good. The walk fails at once now, naming the path.
func TestWalkNoFollowFailsAtOnceOnAFIFOForASubdirectory(t *testing.T) {
	dir, _ := walkTree(t)
	sub := filepath.Join(dir, "sub")
	var seen []string
	fn := replaceSub(t, dir, func(p string) error { return syscall.Mkfifo(p, 0o600) }, &seen)
	err := fifotest.Returns(t, freeFIFO(sub), func() error { return walkNoFollow(dir, fn) })
	if err == nil || !strings.Contains(err.Error(), sub+": not a directory") {
		t.Errorf("walk with a FIFO put in place of %s: %v; want a refusal naming it", sub, err)
	}
}

// TestWalkNoFollowNeverFollowsALink: a link put in place of a
// subdirectory the walk listed is refused, naming it, and a link there
// from the start is an entry of its own: the walk never reads the
// directory either leads to.
func TestWalkNoFollowNeverFollowsALink(t *testing.T) {
	dir, other := walkTree(t)
	sub := filepath.Join(dir, "sub")
	var seen []string
	fn := replaceSub(t, dir, func(p string) error { return os.Symlink(other, p) }, &seen)
	err := walkNoFollow(dir, fn)
	if err == nil || !strings.Contains(err.Error(), sub+" is a symbolic link") {
		t.Errorf("walk with a link put in place of %s: %v; want a refusal naming it", sub, err)
	}
	for _, p := range seen {
		if filepath.Base(p) == "secret" {
			t.Errorf("the walk read %s, through the link", p)
		}
	}

	// The link is there from the start now: an entry, not a directory.
	seen = nil
	err = walkNoFollow(dir, func(p string, d fs.DirEntry) error {
		seen = append(seen, p)
		return nil
	})
	want := []string{filepath.Join(dir, "b"), sub}
	if err != nil || strings.Join(seen, " ") != strings.Join(want, " ") {
		t.Errorf("walk of a directory holding a link: %q, %v; want %q", seen, err, want)
	}
}
