package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestAttackSweepStoppedAtABusyScratch: the sweep returned at the first
// scratch it could not remove. Such a scratch keeps its lock, so every
// later sweep stopped at it too, and no dead scratch after it in name
// order (other tenants' unsealed data) was ever removed: a tenant could
// have that with a mount in its own scratch (FUSE), which holds it busy.
// The sweep now goes on past it, and its error names the scratch left.
func TestAttackSweepStoppedAtABusyScratch(t *testing.T) {
	root := t.TempDir()
	busy, dead := filepath.Join(root, "run-a-1"), filepath.Join(root, "run-b-1")
	for _, d := range []string{filepath.Join(busy, "data", "mnt"), filepath.Join(dead, "data")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{busy + LockSuffix, dead + LockSuffix, filepath.Join(dead, "data", "plain")} {
		if err := os.WriteFile(f, []byte("secret"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	n, err := sweepPastBusy(t, root, busy)
	if n != 1 || err == nil || !strings.Contains(err.Error(), busy) {
		t.Errorf("Sweep = %d, %v; want the dead scratch removed and an error naming %s", n, err, busy)
	}
	for _, p := range []string{dead, dead + LockSuffix} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("the dead scratch after the busy one: %s: %v; want it removed", p, err)
		}
	}
	if _, err := os.Lstat(busy + LockSuffix); err != nil {
		t.Errorf("the busy scratch's lock: %v; want it kept for the next sweep", err)
	}
}

// sweepPastBusy sweeps root with the scratch busy held by a mount in it,
// as a tenant's FUSE mount would: a tmpfs, mounted in a mount namespace
// of the sweep's own thread where the test may mount (the sweep's
// removal then fails as it would on a node, EBUSY); elsewhere that
// removal is made to fail so (sweepRemove).
func sweepPastBusy(t *testing.T, root, busy string) (int, error) {
	type result struct {
		n            int
		err, mounted error
	}
	done := make(chan result, 1)
	go func() {
		// Never unlocked: the thread, in a mount namespace of its own,
		// ends with this goroutine and runs nothing else.
		runtime.LockOSThread()
		err := unix.Unshare(unix.CLONE_NEWNS)
		if err == nil {
			err = unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "")
		}
		if err == nil {
			err = unix.Mount("tmpfs", filepath.Join(busy, "data", "mnt"), "tmpfs", 0, "size=64k")
		}
		if err != nil {
			done <- result{mounted: err}
			return
		}
		n, err := Sweep(root)
		done <- result{n: n, err: err}
	}()
	r := <-done
	if r.mounted == nil {
		return r.n, r.err
	}
	t.Logf("nothing can be mounted here (%v): the busy scratch's removal fails as a mount in it has it fail", r.mounted)
	was := sweepRemove
	sweepRemove = func(wd string, lock *os.File) error {
		if wd == busy {
			return fmt.Errorf("%s: data/mnt: %w", wd, unix.EBUSY)
		}
		return was(wd, lock)
	}
	defer func() { sweepRemove = was }()
	return Sweep(root)
}
