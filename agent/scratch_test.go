package agent

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
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

	n, err := Sweep(root)
	if err != nil || n != 2 {
		t.Fatalf("Sweep: %d %v, want 2 (the dead scratch and the link)", n, err)
	}
	for _, gone := range []string{dead, dead + LockSuffix, filepath.Join(root, "linked")} {
		if _, err := os.Lstat(gone); !os.IsNotExist(err) {
			t.Errorf("%s left: %v", gone, err)
		}
	}
	for _, kept := range []string{filepath.Join(live, "plain"), live + LockSuffix, other, filepath.Join(outside, "keep")} {
		if _, err := os.Lstat(kept); err != nil {
			t.Errorf("%s removed: %v", kept, err)
		}
	}
	os.Remove(filepath.Join(live, "plain")) // the agent's wipe
	release()
	if ents, _ := os.ReadDir(root); len(ents) != 1 || ents[0].Name() != "not-ours" {
		t.Errorf("after release: %v, want only not-ours", ents)
	}
	// A new agent may take a scratch whose lock a dead agent left.
	os.WriteFile(live+LockSuffix, nil, 0o600)
	release, err = lockScratch(live)
	if err != nil {
		t.Fatalf("lock after a dead agent: %v", err)
	}
	release()
}
