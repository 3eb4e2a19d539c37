package run

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestAgentLogsFileMadeAgainAfterRemovalSynced: an output file made again
// where a run's output was removed (renameOutput), with the removed
// file's inode number (file systems reuse a freed one at once; here the
// same file, linked back, as a post killed before its sync of the
// directory left it), has its directory synced before a post of it is
// acknowledged. This process's memo of the entries it made durable took
// it for the removed file: the post was answered 200 and a power loss
// took the file whole.
func TestAgentLogsFileMadeAgainAfterRemovalSynced(t *testing.T) {
	f := newOutputFleet(t, 0)
	r := f.run("t1", "r1", Running)
	line := bytes.Repeat([]byte("step 1 loss 0.5\n"), 64)
	// Posts enough that this process knows the file as synced.
	for range 3 {
		if code, _ := f.post(r, line); code != 200 {
			t.Fatalf("post: %d", code)
		}
	}
	path := f.c.logPath(r.ID, 1)
	keep := filepath.Join(f.cfg.StateDir, "keep")
	if err := os.Link(path, keep); err != nil {
		t.Fatal(err)
	}
	if n, err := f.c.renameOutput(r.ID); err != nil || n == 0 {
		t.Fatalf("removing the run's output: %d bytes, %v", n, err)
	}
	if err := os.Mkdir(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(keep, path); err != nil {
		t.Fatal(err)
	}
	dirs := syncedDirs(t)
	if code := postOffset(f, r, int64(3*len(line)), line); code != 200 {
		t.Fatalf("a post of the file made again: %d, want 200", code)
	}
	if d := dirs(); !slices.Contains(d, filepath.Dir(path)) {
		t.Errorf("a post of the file made again synced %q, want its directory %s", d, filepath.Dir(path))
	}
}
