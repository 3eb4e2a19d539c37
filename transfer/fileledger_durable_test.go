package transfer

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"meridian.dev/meridian/internal/atomicfile"
)

// TestFileLedgerNameSyncedWhenItsCreatorDidNot: the ledger synced its
// directory only when it made the file itself, so a file another process
// made and was killed before syncing (a bare create, as a crash leaves it)
// took every record appended to it after as acknowledged while its name
// could still vanish at a power loss. The first append of a process to a
// file now syncs its directory whoever made it; later appends do not.
func TestFileLedgerNameSyncedWhenItsCreatorDidNot(t *testing.T) {
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
	dir := t.TempDir()
	path := filepath.Join(dir, "ledger.jsonl")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	took()
	l := &FileLedger{Path: path}
	ctx := context.Background()
	if err := l.Append(ctx, "t", "transfer", "r1", map[string]int{"bytes": 1}); err != nil {
		t.Fatal(err)
	}
	if got := took(); !slices.Contains(got, dir) {
		t.Errorf("first append to a file another made: %s not synced (synced %q)", dir, got)
	}
	if err := l.Append(ctx, "t", "transfer", "r2", map[string]int{"bytes": 2}); err != nil {
		t.Fatal(err)
	}
	if got := took(); slices.Contains(got, dir) {
		t.Errorf("second append synced %s again (synced %q)", dir, got)
	}
}
