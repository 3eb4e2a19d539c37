package local_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/backend/backendtest"
	"meridian.dev/meridian/backend/local"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/internal/atomicfile"
)

// TestStaleLockProbesRemovedAtStart: the probe a Cancel makes beside a
// job's command lock to learn the kernel's name of its filesystem, left
// by a server killed while it looked, stayed for good: named as
// atomicfile's temporary files, it was said to be swept with them, and
// never was. A start now removes those an hour old that no one holds
// locked; a fresh one, one still locked (a server learning by it now),
// one of another name and a link stay.
func TestStaleLockProbesRemovedAtStart(t *testing.T) {
	state := t.TempDir()
	old := time.Now().Add(-2 * atomicfile.StaleTempAge)
	job := filepath.Join(state, "jobs", "r-1")
	gone := []string{backendtest.WriteTemp(t, filepath.Join(job, ".cmd.lock.tmp-1"), old)}
	locked := backendtest.WriteTemp(t, filepath.Join(job, ".cmd.lock.tmp-2"), old)
	f, err := os.Open(locked)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	kept := []string{
		locked,
		backendtest.WriteTemp(t, filepath.Join(job, ".cmd.lock.tmp-3"), time.Now()),
		backendtest.WriteTemp(t, filepath.Join(job, ".cmd.lock.tmp-x4"), old),
		backendtest.WriteTemp(t, filepath.Join(job, ".run.lock.tmp-5"), old),
	}
	target := backendtest.WriteTemp(t, filepath.Join(t.TempDir(), "target"), old)
	link := filepath.Join(job, ".cmd.lock.tmp-6")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	kept = append(kept, link, target)
	if _, err := local.New(catalog.BackendSpec{Type: "local"}, state); err != nil {
		t.Fatal(err)
	}
	checkGone(t, gone, kept)
}
