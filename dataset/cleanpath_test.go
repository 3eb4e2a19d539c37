package dataset

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/internal/atomicfile"
)

// TestFileStoreErrorsNameCleanPaths: a file store's operations go through
// an os.Root opened as "DIR/.", and their errors named the store's
// directory as that ("open DIR/.: not a directory") and its files as
// "DIR/./NAME". They name clean paths now.
func TestFileStoreErrorsNameCleanPaths(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	mkdir(t, dir)
	st := openFileStore(t, dir)
	// The store's directory replaced by a file after it was opened.
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, listErr := listAll(st, ChunkPrefix("d"))
	_, readErr := ReadObject(context.Background(), st, ManifestKey("d"), 10)
	for what, err := range map[string]error{
		"Put":        Put(context.Background(), st, ManifestKey("d"), []byte("x")),
		"Delete":     st.Delete(context.Background(), ManifestKey("d")),
		"List":       listErr,
		"ReadObject": readErr,
	} {
		if err == nil || !strings.Contains(err.Error(), "open "+dir+": not a directory") || strings.Contains(err.Error(), dir+"/.") {
			t.Errorf("%s: %v; want an error naming %s, clean", what, err, dir)
		}
	}
}

// TestKeyringAndUnsealErrorsNameCleanPaths: a keyring's directory or an
// unseal's --to given as an unclean path ("D/./keyring/") was named so in
// their errors, and reading the keyring's directory named it
// "D/./keyring/" too. They name the clean path now.
func TestKeyringAndUnsealErrorsNameCleanPaths(t *testing.T) {
	base := t.TempDir()
	// A file where the keyring's directory should be.
	if err := os.WriteFile(filepath.Join(base, "keyring"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Keyring{Dir: base + "/./keyring/"}.Names()
	if err == nil || !strings.Contains(err.Error(), filepath.Join(base, "keyring")+": not a directory") || strings.Contains(err.Error(), "/./") {
		t.Errorf("Names of a keyring whose directory is a file: %v; want an error naming %s, clean", err, filepath.Join(base, "keyring"))
	}

	store, _ := newStore(t)
	s := newSealer(t, "d")
	src := t.TempDir()
	genTree(t, src, 2, 100, 3)
	if _, err := Add(context.Background(), AddOptions{Name: "d", Root: src, Store: store, Sealer: s}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(base, "out")
	mkdir(t, out)
	if err := os.WriteFile(filepath.Join(out, "stray"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = UnsealDir(context.Background(), store, s, "d", base+"/./out/")
	if err == nil || !strings.Contains(err.Error(), "--to "+out+": directory is not empty") {
		t.Errorf("unseal into a directory not empty, named unclean: %v; want an error naming --to %s", err, out)
	}
}

// TestUnsealIntoAnUncleanPathSyncsOnlyItsOwn: an unseal's --to given with
// a trailing slash was compared, unclean, with the clean directories its
// files went into: none was ever it, so every directory above --to, up to
// "/", was synced as one the unseal had filled.
func TestUnsealIntoAnUncleanPathSyncsOnlyItsOwn(t *testing.T) {
	store, _ := newStore(t)
	s := newSealer(t, "d")
	src := t.TempDir()
	genTree(t, src, 3, 100, 3)
	if _, err := Add(context.Background(), AddOptions{Name: "d", Root: src, Store: store, Sealer: s}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	var synced []string
	atomicfile.SyncHook = func(dir string) { synced = append(synced, filepath.Clean(dir)) }
	t.Cleanup(func() { atomicfile.SyncHook = nil })
	if _, err := UnsealDir(context.Background(), store, s, "d", out+"/"); err != nil {
		t.Fatal(err)
	}
	for _, d := range synced {
		if d != out && d != filepath.Dir(out) && !strings.HasPrefix(d, out+"/") {
			t.Errorf("the unseal into %s/ synced %s", out, d)
		}
	}
}
