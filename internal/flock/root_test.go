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

// TestLockInRefusesALinkInside: os.Root follows a link in the lock
// file's own place that stays inside the root (O_NOFOLLOW is not heeded
// there), while the check after the lock looks at the link itself: the
// two never named the same file, and LockIn opened, locked and let go
// without end, a core busy until its caller gave up. A link there is
// refused now, as Lock refuses one, and nothing is created where a
// dangling one points.
func TestLockInRefusesALinkInside(t *testing.T) {
	state := t.TempDir()
	if err := os.WriteFile(filepath.Join(state, "record"), []byte("kept\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("record", filepath.Join(state, "lock")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("made", filepath.Join(state, "dangling")); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(state)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	defer func() { testHookOpened = nil }()
	for _, name := range []string{"lock", "dangling"} {
		ctx, cancel := context.WithCancel(context.Background())
		opens := 0
		testHookOpened = func() {
			// The third open of one lock is the loop: give up there.
			if opens++; opens > 2 {
				cancel()
			}
		}
		unlock, err := LockIn(ctx, root, name)
		cancel()
		if err == nil {
			unlock()
		}
		if err == nil || !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("LockIn %s, a link inside the root: %v after %d opens; want it refused as a link", name, err, opens)
		}
	}
	if _, err := os.Lstat(filepath.Join(state, "made")); err == nil {
		t.Error("LockIn created the file a dangling link in the lock's place names")
	}
}
