package statedir

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
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

// TestSecretLeftUnsyncedIsSynced: Secret read a secret already there and
// used it as it was. One its creator left, killed between its link and
// its sync of the directory, was used while its entry was in memory
// only, and a power loss took it: the next start made another. Secret
// now syncs its directory (and MkdirAll a directory left so its parent),
// once per process.
func TestSecretLeftUnsyncedIsSynced(t *testing.T) {
	var synced []string
	atomicfile.SyncHook = func(dir string) { synced = append(synced, dir) }
	t.Cleanup(func() { atomicfile.SyncHook = nil })
	root := t.TempDir()

	d := Dir{Path: filepath.Join(root, "state")}
	if err := os.Mkdir(d.Path, 0o700); err != nil {
		t.Fatal(err)
	}
	path := d.Join(AgentKey)
	if err := os.WriteFile(path+".killed", []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(path+".killed", path); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path + ".killed"); err != nil {
		t.Fatal(err)
	}
	synced = nil
	if _, err := d.Secret(AgentKey); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(synced, d.Path) {
		t.Errorf("Secret: %s, holding a secret left unsynced, not synced (synced %q)", d.Path, synced)
	}
	synced = nil
	if _, err := d.Secret(AgentKey); err != nil || len(synced) != 0 {
		t.Errorf("Secret again: %v; synced %q, want nothing synced again", err, synced)
	}

	// A state directory its maker left unsynced, the secret not yet made.
	d = Dir{Path: filepath.Join(root, "state2")}
	if err := os.Mkdir(d.Path, 0o700); err != nil {
		t.Fatal(err)
	}
	synced = nil
	if _, err := d.Secret(AgentKey); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{root, d.Path} {
		if !slices.Contains(synced, want) {
			t.Errorf("Secret in a directory left unsynced: %s not synced (synced %q)", want, synced)
		}
	}
}
