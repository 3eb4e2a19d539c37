package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/internal/captest"
)

// forgetLockDevs empties lockDevs, now and at the test's end.
func forgetLockDevs(t *testing.T) {
	forget := func() {
		lockDevs.Range(func(k, _ any) bool { lockDevs.Delete(k); return true })
	}
	forget()
	t.Cleanup(forget)
}

// heldCommandLock submits a job whose command runs on in a process of
// its own deaf to SIGTERM, holding the command lock, once the job's
// wrapper has ended; it returns the job's handle and directory and that
// process's pid.
func heldCommandLock(t *testing.T, b *Local, run string) (string, string, int) {
	t.Helper()
	h, err := b.Submit(context.Background(), backend.Spec{RunID: run, Attempt: 1,
		Command: []string{"/bin/sh", "-c", `setsid sh -c 'trap "" TERM; echo $$ >"$1.tmp" && mv "$1.tmp" "$1" && exec sleep 60' sh "$0" &`, filepath.Join(t.TempDir(), "escaped")}})
	if err != nil {
		t.Fatal(err)
	}
	dir := b.jobDir(h)
	var pid int
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st, err := b.Status(context.Background(), h)
		if err != nil {
			t.Fatal(err)
		}
		if held := CmdLockHolders(dir); st.State == backend.Running && len(held) == 1 {
			if ended, err := jobEnded(dir); err == nil && ended {
				for p := range held {
					pid = p
				}
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job's wrapper never ended with its command holding the lock: %+v", st)
		}
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	return h, dir, pid
}

// TestCancelSaysWhyTheLocksHoldersCannotBeTold: where the kernel's name of
// the command lock's filesystem could not be learnt, Cancel failed saying
// only that a process still held the lock, why no holder could be told
// dropped. It says why now.
func TestCancelSaysWhyTheLocksHoldersCannotBeTold(t *testing.T) {
	b, err := New(catalog.BackendSpec{}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b.CancelGrace = time.Minute
	b.TreeWait = 300 * time.Millisecond
	h, _, pid := heldCommandLock(t, b, "why")
	forgetLockDevs(t)
	old := lockProbe
	t.Cleanup(func() { lockProbe = old })
	lockProbe = func(string) (*os.File, error) { return nil, errors.New("the probe cannot be made") }
	err = b.Cancel(context.Background(), h)
	if err == nil || !strings.Contains(err.Error(), "the probe cannot be made") {
		t.Fatalf("Cancel where the lock's holders cannot be told: %v; want an error saying why", err)
	}
	if st, ok := readStat(pid); !ok || st.zombie {
		t.Fatal("the holder ended: the test stands for nothing")
	}
}

// TestLockDevLearntAgainOnAMiss: the kernel's name of the command lock's
// filesystem was kept by stat's device number for good; an anonymous
// device number (btrfs, overlayfs) is given to another filesystem once
// its own is unmounted, and the name kept for it, the old filesystem's,
// then matched no holder until a restart. Each scan learns it now.
func TestLockDevLearntAgainOnAMiss(t *testing.T) {
	b, err := New(catalog.BackendSpec{}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, dir, pid := heldCommandLock(t, b, "stale-dev")
	fi, err := os.Lstat(filepath.Join(dir, cmdLockName))
	if err != nil {
		t.Fatal(err)
	}
	forgetLockDevs(t)
	// The name an unmounted filesystem had under this device number.
	lockDevs.Store(uint64(fi.Sys().(*syscall.Stat_t).Dev), "0:999999")
	if held := CmdLockHolders(dir); len(held) != 1 || held[pid] == 0 {
		t.Fatalf("holders %v with a stale name kept for the device; want %d alone", held, pid)
	}
}

// TestLockDevKeptWhereItCannotBeLearnt: a scan that cannot learn the
// kernel's name of the lock's filesystem (a full disk) uses the one last
// learnt for its device, and finds the holder by it.
func TestLockDevKeptWhereItCannotBeLearnt(t *testing.T) {
	b, err := New(catalog.BackendSpec{}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, dir, pid := heldCommandLock(t, b, "kept-dev")
	old := lockProbe
	t.Cleanup(func() { lockProbe = old })
	lockProbe = func(string) (*os.File, error) { return nil, errors.New("no space left on device") }
	if held := CmdLockHolders(dir); len(held) != 1 || held[pid] == 0 {
		t.Fatalf("holders %v with the name not learnt again; want %d alone, by the name kept", held, pid)
	}
}

// TestALockProbeIsRemovedUnderMode0: the probe a scan learns the kernel's
// name of the lock's filesystem by was removed once: where the job's
// directory was made mode 0 meanwhile (a workload looping chmod 0), it
// was left there, one more at each scan of a Cancel.
func TestALockProbeIsRemovedUnderMode0(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "jobs", "probe-1")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	old := lockProbe
	t.Cleanup(func() { lockProbe = old })
	lockProbe = func(dir string) (*os.File, error) {
		f, err := old(dir)
		if err == nil {
			err = os.Chmod(dir, 0)
		}
		return f, err
	}
	err = captest.AsTheServersUser(t, func() error {
		_, err := learnLockDev(dir, uint64(fi.Sys().(*syscall.Stat_t).Dev))
		return err
	})
	if err != nil {
		t.Fatalf("learning the lock's filesystem with its directory made mode 0: %v", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("a lock probe is left: %s", e.Name())
	}
}
