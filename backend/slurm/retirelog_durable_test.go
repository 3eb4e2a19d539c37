package slurm

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"meridian.dev/meridian/internal/atomicfile"
)

// TestRetireLogNameSyncedOnItsFirstAdd: the retire log was created by
// O_CREATE on its first append, each line fsynced but its directory never:
// a power loss could take the log's name, and every retire acknowledged in
// it, so that a record retired came back after the restart. The first add
// now syncs the directory, as does the first add of a process to a log
// another left (its creator killed before its sync); later adds do not.
func TestRetireLogNameSyncedOnItsFirstAdd(t *testing.T) {
	var mu sync.Mutex
	var synced []string
	atomicfile.SyncHook = func(dir string) { mu.Lock(); synced = append(synced, dir); mu.Unlock() }
	t.Cleanup(func() { atomicfile.SyncHook = nil })
	took := func() []string {
		mu.Lock()
		defer mu.Unlock()
		s := synced
		synced = nil
		return s
	}
	root := t.TempDir()
	dir := filepath.Join(root, "slurm-retired")
	key := []byte("0123456789abcdef0123456789abcdef")
	open := func(site string) *retireLog {
		l, err := openRetireLog(dir, filepath.Join(root, site), key, newSeenSet(), slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l := open("site")
	took()
	if err := l.add("1000", "r1-1"); err != nil {
		t.Fatal(err)
	}
	if got := took(); !slices.Contains(got, dir) {
		t.Errorf("first add: %s not synced (synced %q)", dir, got)
	}
	if err := l.add("1001", "r2-1"); err != nil {
		t.Fatal(err)
	}
	if got := took(); slices.Contains(got, dir) {
		t.Errorf("second add synced %s again (synced %q)", dir, got)
	}

	// A log a killed creator left: made, never synced into its directory.
	l = open("site2")
	if err := os.WriteFile(l.path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	took()
	if err := l.add("1002", "r3-1"); err != nil {
		t.Fatal(err)
	}
	if got := took(); !slices.Contains(got, dir) {
		t.Errorf("first add to a log left unsynced: %s not synced (synced %q)", dir, got)
	}
}
