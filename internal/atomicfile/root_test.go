package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestMkdirAllInNamesALinkOut: a link out of the root in place of a
// directory to make failed MkdirAllIn with "file exists" (its mkdir's
// error), which sent an operator looking for a file. The error is now
// the one that found the link leading out, and nothing is made outside.
func TestMkdirAllInNamesALinkOut(t *testing.T) {
	dir := t.TempDir()
	state, outside := filepath.Join(dir, "state"), filepath.Join(dir, "outside")
	for _, d := range []string{state, outside} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(state, "work")); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(state)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for _, name := range []string{"work", filepath.Join("work", "jobs")} {
		err := MkdirAllIn(root, name, 0o700)
		if err == nil || errors.Is(err, fs.ErrExist) {
			t.Errorf("MkdirAllIn %s through a link out = %v; want the link's error, not that a file exists", name, err)
		}
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("MkdirAllIn made %s outside its root", ents[0].Name())
	}
}
