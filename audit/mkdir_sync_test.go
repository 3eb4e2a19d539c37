package audit

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestCreatedDirectoriesAreSyncedIntoTheirParents: the anchor directory
// and the state directory were made with os.MkdirAll, whose new entries
// stay in memory until their parent is synced: a power loss after a first
// start could take anchor/ (key and anchor) while the log's entry naming
// its key survived. Each directory made is now synced into its parent.
func TestCreatedDirectoriesAreSyncedIntoTheirParents(t *testing.T) {
	var synced []string
	defer func(f func(string) error) { syncDir = f }(syncDir)
	syncDir = func(dir string) error {
		synced = append(synced, dir)
		return nil
	}
	root := t.TempDir()
	want := func(what string, dirs ...string) {
		t.Helper()
		for _, d := range dirs {
			if !slices.Contains(synced, d) {
				t.Errorf("%s: %s not synced (synced: %q)", what, d, synced)
			}
		}
		synced = nil
	}

	state := filepath.Join(root, "state")
	if _, err := OpenAnchors(filepath.Join(state, "anchor")); err != nil {
		t.Fatal(err)
	}
	want("OpenAnchors", root, state)

	if _, err := LoadKey(filepath.Join(root, "state2")); err != nil {
		t.Fatal(err)
	}
	want("LoadKey", root)

	dir := filepath.Join(root, "state3")
	if err := WriteFileAtomic(dir, filepath.Join(dir, "f"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	want("WriteFileAtomic", root)

	// A directory already there is not synced again, and a file where a
	// directory should be is an error.
	if _, err := OpenAnchors(filepath.Join(state, "anchor")); err != nil || len(synced) != 0 {
		t.Errorf("OpenAnchors on an existing directory: %v, synced %q", err, synced)
	}
	if err := os.WriteFile(filepath.Join(root, "file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenAnchors(filepath.Join(root, "file", "anchor")); err == nil {
		t.Error("OpenAnchors under a file succeeded")
	}
}
