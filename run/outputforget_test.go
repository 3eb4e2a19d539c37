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

// TestAgentLogsFailedSyncAfterRemovalCutsToOffset: a post of an output
// file made again where the run's output was removed, with the removed
// file's inode number (linked back here; file systems reuse a freed one at
// once), whose sync fails while its request is live, cuts the file back
// to its offset. This server's record of what it synced of the removed
// file matched the new one by device and inode, and its length kept bytes
// past the offset that no sync of the new file covered.
func TestAgentLogsFailedSyncAfterRemovalCutsToOffset(t *testing.T) {
	f := newOutputFleet(t, 0)
	r := f.run("t1", "r1", Running)
	failNext := failSyncOnce(t)
	line := bytes.Repeat([]byte("step 1 loss 0.5\n"), 64)
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
	// The file made again holds two lines, none of them synced by this
	// server since it was made.
	if err := os.Truncate(path, int64(2*len(line))); err != nil {
		t.Fatal(err)
	}
	failNext()
	if code := postOffset(f, r, int64(len(line)), line); code != 500 {
		t.Fatalf("a post at offset %d whose sync failed: %d, want 500", len(line), code)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != int64(len(line)) {
		t.Errorf("after a post at offset %d whose sync failed the file made again holds %d bytes, want it cut to the offset", len(line), fi.Size())
	}
}
