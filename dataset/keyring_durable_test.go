package dataset

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"meridian.dev/meridian/internal/atomicfile"
	"meridian.dev/meridian/seal"
)

// TestKeyringDirectoriesAreSyncedIntoTheirParents: a tenant's keyring
// directory (tenants/NAME/keyring) was made with os.MkdirAll on its first
// key, and only the key's own entry was synced: a power loss could take
// the new directories, and the key with them, after data sealed with it
// had left for a store. Each directory made is now synced into its parent.
func TestKeyringDirectoriesAreSyncedIntoTheirParents(t *testing.T) {
	var synced []string
	atomicfile.SyncHook = func(dir string) { synced = append(synced, dir) }
	t.Cleanup(func() { atomicfile.SyncHook = nil })
	want := func(what string, dirs ...string) {
		t.Helper()
		for _, d := range dirs {
			if !slices.Contains(synced, d) {
				t.Errorf("%s: %s not synced (synced: %q)", what, d, synced)
			}
		}
		synced = nil
	}
	root := t.TempDir()
	rings := TenantKeyrings{Root: root}

	k, err := rings.For("acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.GetOrCreate("corpus"); err != nil {
		t.Fatal(err)
	}
	want("GetOrCreate", root, filepath.Join(root, "tenants"), filepath.Join(root, "tenants", "acme"), k.Dir)

	k, err = rings.For("globex")
	if err != nil {
		t.Fatal(err)
	}
	key, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Put("corpus", key); err != nil {
		t.Fatal(err)
	}
	want("Put", filepath.Join(root, "tenants"), filepath.Join(root, "tenants", "globex"), k.Dir)
	if got, err := k.Get("corpus"); err != nil || got.String() != key.String() {
		t.Errorf("Get after Put: %v", err)
	}
}

// TestKeyringRemoveIsDurable: Remove (the undo of a key change the audit
// log could not record) unlinked the key file without syncing its
// directory: a power loss could bring the key back, standing unrecorded.
func TestKeyringRemoveIsDurable(t *testing.T) {
	k := Keyring{Dir: filepath.Join(t.TempDir(), "keyring")}
	if _, err := k.GetOrCreate("corpus"); err != nil {
		t.Fatal(err)
	}
	var synced []string
	atomicfile.SyncHook = func(dir string) { synced = append(synced, dir) }
	t.Cleanup(func() { atomicfile.SyncHook = nil })
	if err := k.Remove("corpus"); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(synced, k.Dir) {
		t.Errorf("Remove: %s not synced (synced %q)", k.Dir, synced)
	}
	if _, err := k.Get("corpus"); !errors.Is(err, ErrNoKey) {
		t.Errorf("Get after Remove: %v, want ErrNoKey", err)
	}
	synced = nil
	if err := k.Remove("corpus"); err != nil || len(synced) != 0 {
		t.Errorf("Remove of no key: %v, synced %q; want nothing to do", err, synced)
	}
}

// TestKeyLeftUnsyncedIsSyncedBeforeUse: GetOrCreate returned a key file
// already there as it was. One a creator left, killed between its link
// and its sync of the directory (a `dataset add`, a server making a run's
// key), was used to seal data that left for a store while its entry was
// in memory only: a power loss took the key, and the data with it. The
// keyring's directory is now synced before the key is returned, once per
// process; a keyring directory left so has its parent synced.
func TestKeyLeftUnsyncedIsSyncedBeforeUse(t *testing.T) {
	var synced []string
	atomicfile.SyncHook = func(dir string) { synced = append(synced, dir) }
	t.Cleanup(func() { atomicfile.SyncHook = nil })
	root := t.TempDir()

	k := Keyring{Dir: filepath.Join(root, "runkeys")}
	if err := os.Mkdir(k.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	key, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	p := k.path("r1")
	if err := os.WriteFile(p+".killed", []byte(key.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(p+".killed", p); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(p + ".killed"); err != nil {
		t.Fatal(err)
	}
	synced = nil
	got, err := k.GetOrCreate("r1")
	if err != nil || got.String() != key.String() {
		t.Fatalf("GetOrCreate: %v (the key left there: %v)", err, got.String() == key.String())
	}
	if !slices.Contains(synced, k.Dir) {
		t.Errorf("GetOrCreate: %s, holding a key left unsynced, not synced (synced %q)", k.Dir, synced)
	}
	synced = nil
	if _, err := k.GetOrCreate("r1"); err != nil || len(synced) != 0 {
		t.Errorf("GetOrCreate again: %v; synced %q, want nothing synced again", err, synced)
	}

	// A keyring directory its maker left unsynced, no key made in it yet.
	k = Keyring{Dir: filepath.Join(root, "keyring")}
	if err := os.Mkdir(k.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	synced = nil
	if _, err := k.GetOrCreate("corpus"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{root, k.Dir} {
		if !slices.Contains(synced, want) {
			t.Errorf("GetOrCreate in a directory left unsynced: %s not synced (synced %q)", want, synced)
		}
	}
}
