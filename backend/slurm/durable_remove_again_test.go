package slurm

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"meridian.dev/meridian/internal/atomicfile"
)

// TestRemovalRetriedAfterAFailedSyncIsSynced: removeFile synced the
// record's directory only when it removed the entry itself; one already
// gone it took as removed by another, which syncs it. But a removal whose
// sync failed, retried, found the entry gone and returned nil without
// syncing, and a crash then could bring the record back (an intent, a
// retired job's live record). The directory is now synced whether or not
// the entry was still there; one whose directory is gone too is no error.
func TestRemovalRetriedAfterAFailedSyncIsSynced(t *testing.T) {
	var synced []string
	atomicfile.SyncHook = func(dir string) { synced = append(synced, dir) }
	t.Cleanup(func() { atomicfile.SyncHook = nil })
	state := filepath.Join(t.TempDir(), "state")
	r, err := newRecords(state)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(state, "jobs", "r1-1")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// Removed, its sync failed (a crash, an I/O error), retried: gone.
	synced = nil
	if err := r.removeFile(filepath.Join("jobs", "r1-1", "submitting")); err != nil {
		t.Fatalf("removeFile of an entry already gone: %v", err)
	}
	if !slices.Contains(synced, dir) {
		t.Errorf("removeFile of an entry already gone: %s not synced (synced %q)", dir, synced)
	}
	if err := r.removeFile(filepath.Join("jobs", "r9-9", "submitting")); err != nil {
		t.Errorf("removeFile in a directory that is gone: %v; want no error", err)
	}
}
