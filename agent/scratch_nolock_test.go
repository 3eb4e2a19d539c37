package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestUnlockedScratchWithEntriesIsRefused: where no lock can be taken
// beside the scratch (its parent is not writable), nothing keeps a second
// agent out of it, and the agent empties the scratch it starts in: a
// second agent given the same scratch emptied the first one's running
// workload's. A scratch that already holds anything is now refused when
// no lock was taken; an empty one is still taken.
func TestUnlockedScratchWithEntriesIsRefused(t *testing.T) {
	old := openScratchLock
	t.Cleanup(func() { openScratchLock = old })
	openScratchLock = func(int, string, int, uint32) (int, error) { return -1, unix.EROFS }
	wd := filepath.Join(t.TempDir(), "scratch")
	release, err := lockScratch(wd)
	if err != nil {
		t.Fatalf("an empty scratch with no lock: %v", err)
	}
	release(false)
	if err := os.WriteFile(filepath.Join(wd, "running"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := lockScratch(wd); err == nil || !strings.Contains(err.Error(), "no lock") || !strings.Contains(err.Error(), "running") {
		t.Errorf("a scratch with no lock that holds a file: %v; want it refused, naming the file", err)
	}
	if _, err := os.Stat(filepath.Join(wd, "running")); err != nil {
		t.Errorf("what the scratch held: %v", err)
	}
}
