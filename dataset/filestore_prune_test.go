package dataset

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"meridian.dev/meridian/seal"
)

// putChunks writes n chunks of dataset name, spread over the 256 chunk
// directories, straight to a file store.
func putChunks(t *testing.T, st *Store, name string, n int) {
	t.Helper()
	for i := range n {
		var id seal.ID
		id[0], id[1] = byte(i), byte(i>>8)
		if err := Put(context.Background(), st, ChunkKey(name, id), []byte("sealed")); err != nil {
			t.Fatal(err)
		}
	}
}

// openFileStore opens the file store in dir, closed when t ends.
func openFileStore(t *testing.T, dir string) *Store {
	t.Helper()
	st, err := OpenStore(context.Background(), "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// dirsUnder counts the directories below dir.
func dirsUnder(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != dir {
			n++
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return n
}

// TestFileStoreRemoveLeavesNoEmptyDirs: removing datasets from a file
// store removes the directories their chunks emptied. They were left, 258
// a dataset, and every listing of the store counted them against its
// budget: a store that had held enough datasets (a run's checkpoints, one
// a run) could no longer be listed (ErrListTooLong), and the sweep of a
// run's checkpoints, which lists them, failed for good. (The budget is
// lowered here so that a few datasets pass it.)
func TestFileStoreRemoveLeavesNoEmptyDirs(t *testing.T) {
	defer func(n int) { listDirBudget = n }(listDirBudget)
	listDirBudget = 300
	ctx := context.Background()
	dir := t.TempDir()
	st := openFileStore(t, dir)
	putChunks(t, st, "keep", 3)
	for i := range 4 {
		name := fmt.Sprintf("ckpt-%d", i)
		putChunks(t, st, name, 300)
		if err := Put(ctx, st, ManifestKey(name), []byte("m")); err != nil {
			t.Fatal(err)
		}
		if _, err := Remove(ctx, st, name, ListBound(0)); err != nil {
			t.Fatal(err)
		}
	}
	// Before any listing: only the kept dataset's directories are left
	// (its own, chunks, and one for each of its 3 chunks).
	if n := dirsUnder(t, filepath.Join(dir, "meridian")); n != 5 {
		t.Fatalf("%d directories left under meridian/ after removing the datasets, want the kept dataset's 5", n)
	}
	names, err := NamesWithPrefix(ctx, st, "", ListBound(0))
	if err != nil || len(names) != 1 || names[0] != "keep" {
		t.Fatalf("names after removing datasets: %q, %v; want [keep]", names, err)
	}
}

// TestFileStoreListRemovesEmptiedDirs: a listing of a file store removes
// the empty directories it walks (those removed datasets left before
// their removal took them, or a writer killed between making a directory
// and writing its file), and does not count them against its budget: a
// store holding more of them than the budget could not be listed, now
// or ever. (The budget is lowered here.)
func TestFileStoreListRemovesEmptiedDirs(t *testing.T) {
	defer func(n int) { listDirBudget = n }(listDirBudget)
	listDirBudget = 300
	ctx := context.Background()
	dir := t.TempDir()
	for i := range 2 * 256 {
		mkdir(t, filepath.Join(dir, "meridian", fmt.Sprintf("old-%d", i/256), "chunks", fmt.Sprintf("%02x", i%256)))
	}
	st := openFileStore(t, dir)
	putChunks(t, st, "live", 2)
	names, err := NamesWithPrefix(ctx, st, "", ListBound(0))
	if err != nil || len(names) != 1 || names[0] != "live" {
		t.Fatalf("names in a store holding %d emptied directories: %q, %v; want [live]", 2*258, names, err)
	}
	if n := dirsUnder(t, filepath.Join(dir, "meridian")); n != 4 {
		t.Fatalf("%d directories left under meridian/ after the listing, want the live dataset's 4", n)
	}
	// The directory listed itself stays, empty or not.
	mkdir(t, filepath.Join(dir, "meridian/empty/chunks"))
	if got, err := ListChunks(ctx, st, "empty"); err != nil || len(got) != 0 {
		t.Fatalf("chunks of an empty dataset: %v, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "meridian/empty/chunks")); err != nil {
		t.Fatalf("the directory listed: %v", err)
	}
}

// TestFileStorePutAfterItsDirRemoved: a write whose directory is removed
// as empty (by a removal of the last object in it, or a listing) between
// making the directory and creating the file there makes it again and
// succeeds, rather than failing the staging with "no such file".
func TestFileStorePutAfterItsDirRemoved(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openFileStore(t, dir)
	var id seal.ID
	id[0] = 0xcd
	key := ChunkKey("d", id)
	parent := filepath.Dir(filepath.Join(dir, filepath.FromSlash(key)))
	removed := 0
	beforeCreate = func() {
		if removed < 3 {
			removed++
			if err := os.Remove(parent); err != nil {
				t.Error(err)
			}
		}
	}
	defer func() { beforeCreate = nil }()
	if err := Put(ctx, st, key, []byte("sealed")); err != nil {
		t.Fatalf("a put whose directory was removed under it: %v", err)
	}
	if removed != 3 {
		t.Fatalf("the directory was removed %d times, want 3", removed)
	}
	if same, err := SameObject(ctx, st, key, []byte("sealed")); err != nil || !same {
		t.Fatalf("the object: same %v, %v", same, err)
	}
}

// TestFileStoreConcurrentPutDeleteList: writers that put and remove
// objects in one directory, each removal taking the directory when it
// empties, and a listing walking it meanwhile, all succeed: a write
// makes again a directory removed under it (also when it went between
// MkdirAll making it and looking at it, which MkdirAll reported as "file
// exists"), and a listing takes a directory removed while it read it for
// an empty one rather than failing.
func TestFileStoreConcurrentPutDeleteList(t *testing.T) {
	ctx := context.Background()
	st := openFileStore(t, t.TempDir())
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			var id seal.ID
			id[0], id[1] = 0xab, byte(g)
			key := ChunkKey("d", id)
			for range 1000 {
				if err := Put(ctx, st, key, []byte("sealed")); err != nil {
					t.Error(err)
					return
				}
				if err := st.Delete(ctx, key); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 100 {
			for _, err := range st.List(ctx, "meridian/") {
				if err != nil {
					t.Error(err)
					return
				}
			}
		}
	})
	wg.Wait()
}

// TestFileStoreRemoveKeepsStoreDirs: a removal takes the emptied
// directories of the store's layout only, never the "meridian" directory
// or those above it (a tenant's prefix, which an operator may have made
// with permissions of their own), nor those of a key outside the layout.
func TestFileStoreRemoveKeepsStoreDirs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	base := openFileStore(t, dir)
	st := base.Sub("t/acme/data/")
	putChunks(t, st, "d", 2)
	if _, err := Remove(ctx, st, "d", ListBound(0)); err != nil {
		t.Fatal(err)
	}
	if err := Put(ctx, base, "other/place/x", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := base.Delete(ctx, "other/place/x"); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"t/acme/data/meridian", "other/place"} {
		if _, err := os.Stat(filepath.Join(dir, d)); err != nil {
			t.Errorf("%s after the removal: %v", d, err)
		}
	}
	if n := dirsUnder(t, filepath.Join(dir, "t/acme/data/meridian")); n != 0 {
		t.Errorf("%d directories left in the layout", n)
	}
}
