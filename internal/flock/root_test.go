package flock

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLockInStaysInsideItsRoot: a lock file below a directory others may
// write was created wherever a link put in place of a directory on its
// way pointed. LockIn fails instead, naming the lock file, and creates
// nothing outside; a link in the lock file's own place is refused too.
func TestLockInStaysInsideItsRoot(t *testing.T) {
	dir := t.TempDir()
	state, outside := filepath.Join(dir, "state"), filepath.Join(dir, "outside")
	for _, d := range []string{state, outside} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(state, "job")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "target"), filepath.Join(state, "lock")); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(state)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for _, name := range []string{filepath.Join("job", "lock"), "lock"} {
		unlock, err := LockIn(context.Background(), root, name)
		if err == nil {
			unlock()
			t.Errorf("LockIn %s through a link out: no error", name)
		} else if !strings.Contains(err.Error(), filepath.Join(state, name)) {
			t.Errorf("LockIn %s: error %q does not name the lock file", name, err)
		}
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("LockIn created %s outside its root", ents[0].Name())
	}
	if err := os.Mkdir(filepath.Join(state, "own"), 0o700); err != nil {
		t.Fatal(err)
	}
	unlock, err := LockIn(context.Background(), root, filepath.Join("own", "lock"))
	if err != nil {
		t.Fatal(err)
	}
	unlock()
}
