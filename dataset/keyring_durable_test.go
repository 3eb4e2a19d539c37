package dataset

import (
	"errors"
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
