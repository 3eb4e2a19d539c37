package screen

import (
	"path/filepath"
	"slices"
	"testing"

	"meridian.dev/meridian/internal/atomicfile"
)

// TestScreeningDirectoryIsSyncedIntoItsParent: the first import made the
// screening directory with os.MkdirAll and synced only list.json's entry
// inside it: a power loss could take the new directory, and the list with
// it, after the import was reported done. The directory made is now synced
// into its parent, and the list's entry into it.
func TestScreeningDirectoryIsSyncedIntoItsParent(t *testing.T) {
	var synced []string
	atomicfile.SyncHook = func(dir string) { synced = append(synced, dir) }
	t.Cleanup(func() { atomicfile.SyncHook = nil })
	root := t.TempDir()
	s := &Store{Dir: filepath.Join(root, "state", "screening")}
	if _, err := s.Import("consolidated.csv", read(t, "csl-sample-id.csv")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{root, filepath.Join(root, "state"), s.Dir} {
		if !slices.Contains(synced, want) {
			t.Errorf("%s not synced (synced %q)", want, synced)
		}
	}
	if _, err := s.List(); err != nil {
		t.Errorf("list after import: %v", err)
	}
}
