package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestSweepRemovesOnlyDeadAgentsScratch(t *testing.T) {
	root := t.TempDir()
	live := filepath.Join(root, "run-live-1")
	release, err := lockScratch(live)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(live, "plain"), []byte("secret"), 0o600)
	// A second agent for the same scratch is refused while the first runs.
	if _, err := lockScratch(live); !errors.Is(err, errScratchBusy) {
		t.Errorf("second lock: %v, want busy", err)
	}
	// A dead agent's scratch: the lock file and the directory, unheld.
	dead := filepath.Join(root, "run-dead-1")
	os.MkdirAll(filepath.Join(dead, "data"), 0o700)
	os.WriteFile(filepath.Join(dead, "data", "plain"), []byte("secret"), 0o600)
	os.WriteFile(dead+LockSuffix, nil, 0o600)
	// Scratch with no lock, and a link whose target is elsewhere.
	other := filepath.Join(root, "not-ours")
	os.MkdirAll(other, 0o700)
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "keep"), []byte("x"), 0o600)
	os.Symlink(outside, filepath.Join(root, "linked"))
	os.WriteFile(filepath.Join(root, "linked")+LockSuffix, nil, 0o600)

	// A file beside a lock is never a scratch: left alone.
	os.WriteFile(filepath.Join(root, "notes.txt"), []byte("keep"), 0o600)
	os.WriteFile(filepath.Join(root, "notes.txt")+LockSuffix, nil, 0o600)

	n, err := Sweep(root)
	if err != nil || n != 2 {
		t.Fatalf("Sweep: %d %v, want 2 (the dead scratch and the link)", n, err)
	}
	for _, gone := range []string{dead, dead + LockSuffix, filepath.Join(root, "linked")} {
		if _, err := os.Lstat(gone); !os.IsNotExist(err) {
			t.Errorf("%s left: %v", gone, err)
		}
	}
	for _, kept := range []string{filepath.Join(live, "plain"), live + LockSuffix, other, filepath.Join(outside, "keep"), filepath.Join(root, "notes.txt")} {
		if _, err := os.Lstat(kept); err != nil {
			t.Errorf("%s removed: %v", kept, err)
		}
	}
	os.Remove(filepath.Join(live, "plain")) // the agent's wipe
	release(false)
	if ents, _ := os.ReadDir(root); len(ents) != 3 || ents[0].Name() != "not-ours" {
		t.Errorf("after release: %v, want not-ours and notes.txt with its lock", ents)
	}
	// A new agent may take a scratch whose lock a dead agent left.
	os.WriteFile(live+LockSuffix, nil, 0o600)
	release, err = lockScratch(live)
	if err != nil {
		t.Fatalf("lock after a dead agent: %v", err)
	}
	release(false)
}

// TestSweepWaitOutlivesTheAgent: a lost attempt's scratch is removed once
// its agent is gone, not while it runs; an agent that wiped leaves nothing
// to wait for.
func TestSweepWaitOutlivesTheAgent(t *testing.T) {
	root := t.TempDir()
	wd := filepath.Join(root, "run-lost-1")
	os.MkdirAll(filepath.Join(wd, "data"), 0o700)
	os.WriteFile(filepath.Join(wd, "data", "plain"), []byte("secret"), 0o600)
	// The agent: holds the lock on an open file, as a process does.
	f, err := os.OpenFile(wd+LockSuffix, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if removed, err := SweepWait(wd, 600*time.Millisecond); removed || err == nil {
		t.Fatalf("while the agent runs: removed %v, err %v; want nothing removed and an error", removed, err)
	}
	if _, err := os.Stat(filepath.Join(wd, "data", "plain")); err != nil {
		t.Fatalf("a live agent's scratch was touched: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		removed, err := SweepWait(wd, 10*time.Second)
		if err == nil && !removed {
			err = errors.New("nothing removed")
		}
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	f.Close() // the agent dies: its kernel drops the lock
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{wd, wd + LockSuffix} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s left: %v", p, err)
		}
	}
	if removed, err := SweepWait(filepath.Join(root, "run-wiped-1"), time.Second); removed || err != nil {
		t.Errorf("nothing to wait for: %v %v", removed, err)
	}
}

// TestSweepWaitGivesUpOnALockReplacedAgainAndAgain: a lock found replaced
// between its open and its lock was looked at again at once, without the
// timeout's check and without a pause: a lock that kept being replaced (a
// new agent starting in the same scratch again and again) held the sweep
// spinning on a core for ever. It is looked at again within the timeout,
// after the pause, and then given up.
func TestSweepWaitGivesUpOnALockReplacedAgainAndAgain(t *testing.T) {
	wd := filepath.Join(t.TempDir(), "run-1-1")
	os.MkdirAll(filepath.Join(wd, "data"), 0o700)
	os.WriteFile(filepath.Join(wd, "data", "plain"), []byte("secret"), 0o600)
	os.WriteFile(wd+LockSuffix, nil, 0o600)
	was := lockStillAt
	lockStillAt = func(*os.File, string) bool { return false } // replaced every time it is looked at
	defer func() { lockStillAt = was }()
	done := make(chan error, 1)
	go func() {
		removed, err := SweepWait(wd, 0)
		if removed {
			err = errors.New("removed the scratch of a lock it never held")
		} else if err == nil {
			err = errors.New("no error")
		} else {
			err = nil
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("SweepWait with a timeout of 0 has not returned in 20 s")
	}
	if _, err := os.Stat(filepath.Join(wd, "data", "plain")); err != nil {
		t.Fatalf("the scratch was touched: %v", err)
	}
}

// TestAttackSweepThroughASwappedDirectory: the sweep removed a lost
// attempt's scratch by its path. A scratch the agent refused (a directory
// above it that another user may write) is left there for the sweep;
// that user could swap the directory above it for a link, before the
// sweep or between its taking the lock and its removal, and the sweep
// (root, for the uid sandbox) removed what lay where the link led: a
// directory of the scratch's name in /tmp, beside a lock that user put
// there. The scratch is now removed through its directory opened from /
// without following a link, and only where that directory holds the lock
// taken: the link's target is left as it is, and the sweep says why.
func TestAttackSweepThroughASwappedDirectory(t *testing.T) {
	for _, when := range []string{"before the sweep", "after the lock is taken"} {
		base := t.TempDir()
		shared := filepath.Join(base, "shared")
		wd := filepath.Join(shared, "run-1-1")
		victim := filepath.Join(base, "victim")
		for _, d := range []string{filepath.Join(wd, "data"), filepath.Join(victim, "run-1-1")} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				t.Fatal(err)
			}
		}
		kept := filepath.Join(victim, "run-1-1", "kept")
		for _, f := range []string{wd + LockSuffix, kept, filepath.Join(victim, "run-1-1") + LockSuffix} {
			if err := os.WriteFile(f, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		swap := func() {
			if err := os.Rename(shared, shared+".moved"); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(victim, shared); err != nil {
				t.Fatal(err)
			}
		}
		was := lockStillAt
		if when == "before the sweep" {
			swap()
		} else {
			lockStillAt = func(f *os.File, path string) bool {
				ok := was(f, path)
				swap()
				return ok
			}
		}
		removed, err := SweepWait(wd, 0)
		lockStillAt = was
		if removed || err == nil || !strings.Contains(err.Error(), "left as it is") {
			t.Errorf("%s: SweepWait through a swapped directory: removed %v, %v; want nothing removed and an error saying why", when, removed, err)
		}
		if _, err := os.Lstat(kept); err != nil {
			t.Errorf("%s: what the link led to: %v; want it left as it was", when, err)
		}
		if err := os.WriteFile(kept, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if n, err := Sweep(shared); n != 0 || err == nil {
			t.Errorf("%s: Sweep of a directory swapped for a link: %d removed, %v; want none and an error", when, n, err)
		}
		if _, err := os.Lstat(kept); err != nil {
			t.Errorf("%s: what the link led to, after Sweep: %v; want it left as it was", when, err)
		}
	}
}
