package slurm

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"meridian.dev/meridian/internal/atomicfile"
)

// TestMoveAsideIsSynced: moveAside renamed a workload's directory out of
// a record's place into refused/ and synced neither directory it
// changed: a crash could bring the directory back into the record's
// place, and lose where it went. The record's directory and the one it
// went to are now synced after the rename, and refused/ and the state
// directory too when an entry was made in them for the move; a second
// move of the same record's place syncs the two it changed.
func TestMoveAsideIsSynced(t *testing.T) {
	var mu sync.Mutex
	var synced []string
	atomicfile.SyncHook = func(dir string) { mu.Lock(); synced = append(synced, dir); mu.Unlock() }
	t.Cleanup(func() { atomicfile.SyncHook = nil })
	state := filepath.Join(t.TempDir(), "state")
	rec, err := newRecords(state)
	if err != nil {
		t.Fatal(err)
	}
	if rec.seal, err = newSealer(options{}, state); err != nil {
		t.Fatal(err)
	}
	rel := filepath.Join("handles", "777")
	slot := filepath.Join(state, refusedDir, refusedName(rel))
	for i, want := range [][]string{
		{filepath.Join(state, "handles"), slot, filepath.Join(state, refusedDir), state},
		{filepath.Join(state, "handles"), slot},
	} {
		if err := os.MkdirAll(filepath.Join(state, rel, "sub"), 0o700); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		synced = nil
		mu.Unlock()
		if !rec.moveAside(rel) {
			t.Fatalf("move %d: %s not moved aside", i+1, rel)
		}
		mu.Lock()
		for _, d := range want {
			if !slices.Contains(synced, d) {
				t.Errorf("move %d: %s not synced after the move aside (synced %q)", i+1, d, synced)
			}
		}
		mu.Unlock()
	}
	if ents, err := os.ReadDir(slot); err != nil || len(ents) != 2 {
		t.Errorf("%s: %d entries, %v; want the two directories moved", slot, len(ents), err)
	}
}
