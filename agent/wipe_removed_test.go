package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestWipeOfAScratchRemovedOrMovedAway: a workload that removed its own
// scratch (rm -rf), or moved it away, had the wipe log that the scratch
// was "renamed or replaced" and leave its lock for a sweep that found
// nothing at the path to remove. The log now says what happened, and the
// lock goes with the attempt; a scratch moved away is still emptied
// through the descriptor it was checked by. One removed and made again,
// with something in it, still keeps its lock: the sweep removes that.
func TestWipeOfAScratchRemovedOrMovedAway(t *testing.T) {
	for _, how := range []string{"was removed", "moved away", "replaced"} {
		dir := t.TempDir()
		wd, moved := filepath.Join(dir, "run-1"), filepath.Join(dir, "moved")
		release, err := lockScratch(wd)
		if err != nil {
			t.Fatal(err)
		}
		fd, err := unix.Open(wd, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		scratch := os.NewFile(uintptr(fd), wd)
		if err := os.MkdirAll(filepath.Join(wd, "data"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(wd, "data", "plain"), []byte("secret"), 0o600); err != nil {
			t.Fatal(err)
		}
		// The workload's doing, during the attempt.
		if how == "moved away" {
			err = os.Rename(wd, moved)
		} else {
			err = os.RemoveAll(wd)
		}
		if err != nil {
			t.Fatal(err)
		}
		if how == "replaced" {
			if err := os.MkdirAll(filepath.Join(wd, "data"), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		var logged strings.Builder
		leave := wipeScratch(scratch, wd, func(format string, args ...any) { fmt.Fprintf(&logged, format+"\n", args...) })
		scratch.Close()
		release(leave)
		if !strings.Contains(logged.String(), how) || how != "replaced" && strings.Contains(logged.String(), "replaced") {
			t.Errorf("scratch %s: logged %q; want it said so, and only so", how, logged.String())
		}
		_, err = os.Lstat(wd + LockSuffix)
		if how == "replaced" && err != nil {
			t.Errorf("scratch replaced: its lock: %v; want it kept for the sweep", err)
		}
		if how != "replaced" && !os.IsNotExist(err) {
			t.Errorf("scratch %s: its lock: %v; want it removed, nothing being left for a sweep", how, err)
		}
		if how == "moved away" {
			if _, err := os.Lstat(filepath.Join(moved, "data")); !os.IsNotExist(err) {
				t.Errorf("scratch moved away: its data: %v; want it emptied through its descriptor", err)
			}
		}
	}
}
