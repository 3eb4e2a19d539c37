package screen

import (
	"errors"
	"io/fs"
	"os"
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

// TestKilledImportsTempFilesRemoved: an import killed between writing its
// temporary file and renaming it left the file (up to MaxFileBytes) in
// the screening directory for good, one more per killed import. The next
// write, holding the lock every writer holds, removes them.
func TestKilledImportsTempFilesRemoved(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	if _, err := s.Import("consolidated.csv", read(t, "csl-sample-id.csv")); err != nil {
		t.Fatal(err)
	}
	left := []string{
		filepath.Join(s.Dir, ".list.json.tmp-1234567"),
		filepath.Join(s.Dir, ".decisions.json.tmp-7654321"),
	}
	for _, p := range left {
		if err := os.WriteFile(p, []byte(`{"entries": [{"id": "tor`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.List(); err != nil {
		t.Fatalf("list beside a killed import's file: %v", err)
	}
	if _, err := s.Import("consolidated.csv", read(t, "csl-sample-id.csv")); err != nil {
		t.Fatal(err)
	}
	for _, p := range left {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still there after the next import (%v)", filepath.Base(p), err)
		}
	}
	if _, err := s.List(); err != nil {
		t.Errorf("list after the import: %v", err)
	}
}
