package statedir

import (
	"path/filepath"
	"slices"
	"testing"

	"meridian.dev/meridian/internal/atomicfile"
)

// TestCreatedStateDirectoryIsSyncedIntoItsParent: Secret and WriteClient
// made a missing state directory with os.MkdirAll and synced only the
// file's entry in it: a power loss could take the new directory, with the
// secret or client.json, after it had been used. The directory made is now
// synced into its parent.
func TestCreatedStateDirectoryIsSyncedIntoItsParent(t *testing.T) {
	var synced []string
	atomicfile.SyncHook = func(dir string) { synced = append(synced, dir) }
	t.Cleanup(func() { atomicfile.SyncHook = nil })
	root := t.TempDir()

	d := Dir{Path: filepath.Join(root, "a", "state")}
	if _, err := d.Secret(AgentKey); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{root, filepath.Join(root, "a"), d.Path} {
		if !slices.Contains(synced, want) {
			t.Errorf("Secret: %s not synced (synced %q)", want, synced)
		}
	}

	synced = nil
	d = Dir{Path: filepath.Join(root, "b")}
	if err := d.WriteClient(Client{Server: "https://meridian.example:8443", Token: "t"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{root, d.Path} {
		if !slices.Contains(synced, want) {
			t.Errorf("WriteClient: %s not synced (synced %q)", want, synced)
		}
	}
}
