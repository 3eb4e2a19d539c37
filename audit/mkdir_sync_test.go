package audit

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"meridian.dev/meridian/internal/atomicfile"
)

// TestCreatedDirectoriesAreSyncedIntoTheirParents: the anchor directory
// and the state directory were made with os.MkdirAll, whose new entries
// stay in memory until their parent is synced: a power loss after a first
// start could take anchor/ (key and anchor) while the log's entry naming
// its key survived. Each directory made is now synced into its parent.
func TestCreatedDirectoriesAreSyncedIntoTheirParents(t *testing.T) {
	var synced []string
	atomicfile.SyncHook = func(dir string) { synced = append(synced, dir) }
	t.Cleanup(func() { atomicfile.SyncHook = nil })
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

	// A directory (and key) this process made durable is not synced
	// again, and a file where a directory should be is an error.
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

// killedCreate leaves path as a creator killed between its link (or
// mkdir) and its sync of the directory leaves it: in place, its directory
// never synced.
func killedCreate(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".killed", []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(path+".killed", path); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path + ".killed"); err != nil {
		t.Fatal(err)
	}
}

// TestKeysAndDirectoriesLeftUnsyncedAreSynced: LoadKey, OpenAnchors and
// mkdirDurable used a key or directory already there as it was. One a
// creator killed before it synced its directory left was used while its
// entry was in memory only: a power loss then took audit.key (the next
// start made another, and the chain failed its HMAC: the server refused
// to start) or the anchor key. The caller that finds it syncs it now.
func TestKeysAndDirectoriesLeftUnsyncedAreSynced(t *testing.T) {
	var synced []string
	atomicfile.SyncHook = func(dir string) { synced = append(synced, dir) }
	t.Cleanup(func() { atomicfile.SyncHook = nil })
	root := t.TempDir()

	state := filepath.Join(root, "state")
	killedCreate(t, filepath.Join(state, KeyFile), strings.Repeat("ab", 32)+"\n")
	synced = nil
	if _, err := LoadKey(state); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(synced, state) {
		t.Errorf("LoadKey: %s, holding a key left unsynced, not synced (synced %q)", state, synced)
	}

	anchor := filepath.Join(root, "anchor")
	killedCreate(t, filepath.Join(anchor, AnchorKeyFile), strings.Repeat("cd", 32)+"\n")
	synced = nil
	if _, err := OpenAnchors(anchor); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{root, anchor} {
		if !slices.Contains(synced, want) {
			t.Errorf("OpenAnchors: %s not synced (synced %q)", want, synced)
		}
	}

	dir := filepath.Join(root, "made")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	synced = nil
	if err := WriteFileAtomic(dir, filepath.Join(dir, "f"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(synced, root) {
		t.Errorf("WriteFileAtomic: %s, holding a directory left unsynced, not synced (synced %q)", root, synced)
	}
}
