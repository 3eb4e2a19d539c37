package dataset

import (
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
