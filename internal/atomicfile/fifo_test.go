package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/internal/fifotest"
)

// openFIFO frees a call blocked opening the FIFO at one of paths to read:
// it opens it to write, which lets the reader's open go on.
func openFIFO(paths ...string) func() {
	return func() { fifotest.Free(paths...) }
}

// raceRounds is how many calls a racing test makes while a directory on
// their way is exchanged with a FIFO.
const raceRounds = 20000

// stateWithFIFO makes a root directory holding a FIFO at rel and opens it.
func stateWithFIFO(t *testing.T, rel string) (*os.Root, string) {
	t.Helper()
	state := t.TempDir()
	fifo := filepath.Join(state, rel)
	if err := os.MkdirAll(filepath.Dir(fifo), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(state)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root, fifo
}

// wantNotDir checks that err is the refusal of the FIFO at rel (named by
// its path below the root) as a directory.
func wantNotDir(t *testing.T, what string, err error, rel string) {
	t.Helper()
	if err == nil || !errors.Is(err, syscall.ENOTDIR) || !strings.Contains(err.Error(), rel) {
		t.Errorf("%s with a FIFO in place of %s: %v; want an error naming it, not a directory", what, rel, err)
	}
}

// TestWriteFileInFIFOInPlaceOfItsDirectory: WriteFileIn opened the
// directory of the record (a job's, jobs/KEY) without O_DIRECTORY, and a
// FIFO there hung the write until a writer came.
func TestWriteFileInFIFOInPlaceOfItsDirectory(t *testing.T) {
	rel := filepath.Join("jobs", "r1-1")
	root, fifo := stateWithFIFO(t, rel)
	err := fifotest.Returns(t, openFIFO(fifo), func() error {
		return WriteFileIn(root, filepath.Join(rel, "jobid"), []byte("42\n"), 0o644)
	})
	wantNotDir(t, "WriteFileIn", err, rel)
}

// TestWriteFileInDirectoryRacedWithAFIFO: os.Root looks at the last
// directory of a path given with a trailing slash (lstat) before it
// opens it, without O_DIRECTORY: a FIFO exchanged for the record's
// directory in between hung WriteFileIn. Each write now either lands in
// the directory or fails, naming it.
func TestWriteFileInDirectoryRacedWithAFIFO(t *testing.T) {
	state := t.TempDir()
	rel := filepath.Join("jobs", "r1-1")
	if err := os.MkdirAll(filepath.Join(state, rel), 0o700); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(state)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	stop := fifotest.Exchange(t, filepath.Join(state, rel), filepath.Join(state, rel)+".fifo")
	made := fifotest.EachReturns(t, stop, raceRounds, func(int) bool {
		err := WriteFileIn(root, filepath.Join(rel, "jobid"), []byte("42\n"), 0o644)
		if err != nil && !strings.Contains(err.Error(), rel) {
			t.Errorf("WriteFileIn with a FIFO exchanged for %s: %v; want an error naming it", rel, err)
			return false
		}
		return true
	})
	t.Logf("%d calls", made)
}

// TestSyncDirInFIFO: SyncDirIn opened the directory to sync to read,
// and a FIFO in its place hung it.
func TestSyncDirInFIFO(t *testing.T) {
	root, fifo := stateWithFIFO(t, "handles")
	err := fifotest.Returns(t, openFIFO(fifo), func() error { return SyncDirIn(root, "handles") })
	wantNotDir(t, "SyncDirIn", err, "handles")
}

// TestMkdirAllInFIFOSwappedForTheParent: MkdirAllIn looks at each
// directory on the way, makes the missing one and syncs its parent; a
// workload that put a FIFO in the parent's place between the look and
// the sync hung the sync.
func TestMkdirAllInFIFOSwappedForTheParent(t *testing.T) {
	state := t.TempDir()
	jobs := filepath.Join(state, "jobs")
	if err := os.Mkdir(jobs, 0o700); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(state)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	SyncHook = func(dir string) {
		if dir != jobs {
			return
		}
		if err := os.Rename(jobs, jobs+".moved"); err != nil {
			t.Error(err)
		}
		if err := syscall.Mkfifo(jobs, 0o600); err != nil {
			t.Error(err)
		}
	}
	defer func() { SyncHook = nil }()
	err = fifotest.Returns(t, openFIFO(jobs), func() error { return MkdirAllIn(root, filepath.Join("jobs", "r1-1"), 0o700) })
	wantNotDir(t, "MkdirAllIn", err, "jobs")
}

// TestOpenRootInFIFO: os.Root.OpenRoot opened the directory to read, and
// a FIFO in its place hung the caller (Clean, opening refused/).
func TestOpenRootInFIFO(t *testing.T) {
	root, fifo := stateWithFIFO(t, "refused")
	err := fifotest.Returns(t, openFIFO(fifo), func() error {
		r, err := OpenRootIn(root, "refused")
		if err == nil {
			r.Close()
		}
		return err
	})
	wantNotDir(t, "OpenRootIn", err, "refused")
	if err := os.Mkdir(filepath.Join(root.Name(), "jobs"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("jobs", filepath.Join(root.Name(), "link")); err != nil {
		t.Fatal(err)
	}
	r, err := OpenRootIn(root, "link")
	if err != nil {
		t.Fatalf("OpenRootIn through a link inside its root: %v", err)
	}
	defer r.Close()
	if err := r.WriteFile("made", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(root.Name(), "jobs", "made")); err != nil {
		t.Errorf("OpenRootIn through a link inside its root opened another directory: %v", err)
	}
}

// TestRemoveStaleTempsInAndSubDirsInFIFO: the removal of stale
// temporary files opened each directory it cleans, and the listing of a
// directory's subdirectories the directory, to read; a FIFO in place of
// either hung the server's start.
func TestRemoveStaleTempsInAndSubDirsInFIFO(t *testing.T) {
	root, fifo := stateWithFIFO(t, "jobs")
	var n int
	fifotest.Returns(t, openFIFO(fifo), func() error {
		n = RemoveStaleTempsIn(root, "jobs", func(string) bool { return true })
		return nil
	})
	if n != 0 {
		t.Errorf("RemoveStaleTempsIn through a FIFO removed %d files", n)
	}
	var dirs []string
	fifotest.Returns(t, openFIFO(fifo), func() error {
		dirs = SubDirsIn(root, "jobs")
		return nil
	})
	if len(dirs) != 0 {
		t.Errorf("SubDirsIn of a FIFO = %q; want none", dirs)
	}
}

// TestSyncDirSubDirsAndRemoveTempsFIFO: SyncDir, SubDirs and the
// removals of temporary files opened their directory by its path to
// read, and a FIFO there (a directory others may write, swapped between a
// write's rename and its sync) hung them.
func TestSyncDirSubDirsAndRemoveTempsFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "jobs")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	free := openFIFO(fifo)
	err := fifotest.Returns(t, free, func() error { return SyncDir(fifo) })
	wantNotDir(t, "SyncDir", err, fifo)
	fifotest.Returns(t, free, func() error {
		if dirs := SubDirs(fifo); len(dirs) != 0 {
			t.Errorf("SubDirs of a FIFO = %q; want none", dirs)
		}
		return nil
	})
	fifotest.Returns(t, free, func() error {
		if n := RemoveStaleTemps(fifo, func(string) bool { return true }, time.Nanosecond); n != 0 {
			t.Errorf("RemoveStaleTemps through a FIFO removed %d files", n)
		}
		return nil
	})
}
