package dataset

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"meridian.dev/meridian/internal/fifotest"
)

// fifoRaceRounds is how many calls a racing test makes while a directory
// or a file of the store is exchanged with a FIFO.
const fifoRaceRounds = 5000

// freeFIFO frees a call blocked opening the FIFO at one of paths to read:
// it opens it to write, which lets the reader's open go on.
func freeFIFO(paths ...string) func() {
	return func() { fifotest.Free(paths...) }
}

// listAll lists prefix of st whole, returning the keys and the error that
// ended the listing.
func listAll(st *Store, prefix string) ([]string, error) {
	var keys []string
	for o, err := range st.List(context.Background(), prefix) {
		if err != nil {
			return keys, err
		}
		keys = append(keys, o.Key)
	}
	return keys, nil
}

// storeWithChunkDir makes a file store holding the file
// meridian/d/chunks/ab/abcd, and returns the store, its directory and the
// chunk directory's path.
func storeWithChunkDir(t *testing.T) (*Store, string, string) {
	t.Helper()
	dir := t.TempDir()
	chunkDir := filepath.Join(dir, "meridian", "d", "chunks", "ab")
	mkdir(t, chunkDir)
	if err := os.WriteFile(filepath.Join(chunkDir, "abcd"), []byte("sealed"), 0o644); err != nil {
		t.Fatal(err)
	}
	return openFileStore(t, dir), dir, chunkDir
}

// TestFileStoreListDirectoryRacedWithAFIFO: the listing's walk opened
// each directory it had listed with os.Root.Open, which opens the last
// name without O_DIRECTORY: a FIFO exchanged for a chunk directory
// between the reading of its parent and its open hung the listing. Each
// listing now either lists the directory's file or fails, naming it.
func TestFileStoreListDirectoryRacedWithAFIFO(t *testing.T) {
	st, dir, chunkDir := storeWithChunkDir(t)
	// The FIFO waits outside the tree listed, so that it is never listed
	// under its own name.
	stop := fifotest.Exchange(t, chunkDir, filepath.Join(dir, "spare"))
	rel := "meridian/d/chunks/ab"
	listed, refused := 0, 0
	fifotest.EachReturns(t, stop, fifoRaceRounds, func(int) bool {
		keys, err := listAll(st, "meridian/d/chunks/")
		switch {
		case err != nil && strings.Contains(err.Error(), rel):
			refused++
		case err != nil:
			t.Errorf("listing with a FIFO exchanged for %s: %v; want an error naming it", rel, err)
			return false
		case len(keys) == 1 && keys[0] == rel+"/abcd" || len(keys) == 1 && keys[0] == rel:
			// The directory's file, or (listed while exchanged) the
			// FIFO under the directory's name, a non-directory yielded
			// as a key as any other, which reading refuses.
			listed++
		default:
			t.Errorf("listing with a FIFO exchanged for %s = %q", rel, keys)
			return false
		}
		return true
	})
	t.Logf("%d listed, %d refused", listed, refused)
}

// TestFileStoreListFIFOInPlaceOfTheListedDirectory: a FIFO where the
// directory of the prefix listed is (a dataset's chunks) hung the listing;
// it now holds no keys, as a file there does.
func TestFileStoreListFIFOInPlaceOfTheListedDirectory(t *testing.T) {
	st, _, chunkDir := storeWithChunkDir(t)
	if err := os.RemoveAll(chunkDir); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(chunkDir, 0o600); err != nil {
		t.Fatal(err)
	}
	fifotest.EachReturns(t, freeFIFO(chunkDir), 1, func(int) bool {
		if keys, err := listAll(st, "meridian/d/chunks/ab/"); err != nil || len(keys) != 0 {
			t.Errorf("listing a FIFO's prefix = %q, %v; want no keys", keys, err)
		}
		return true
	})
}

// TestFileStoreFIFOInPlaceOfItsDirectory: every operation opened the
// store's own directory with os.OpenRoot, and Flush with os.Open, both
// without O_DIRECTORY: a FIFO put in its place after the store was
// opened (by whoever may write the directory above it) hung them. Each
// now fails, naming the directory.
func TestFileStoreFIFOInPlaceOfItsDirectory(t *testing.T) {
	st, dir, _ := storeWithChunkDir(t)
	if err := os.Rename(dir, dir+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(dir, 0o600); err != nil {
		t.Fatal(err)
	}
	ops := []struct {
		name string
		call func() error
	}{
		{"list", func() error { _, err := listAll(st, "meridian/d/chunks/"); return err }},
		{"read", func() error {
			_, err := ReadObject(context.Background(), st, "meridian/d/chunks/ab/abcd", 100)
			return err
		}},
		{"write", func() error { return Put(context.Background(), st, "meridian/d/chunks/ab/abce", []byte("x")) }},
		{"remove", func() error { return st.Delete(context.Background(), "meridian/d/chunks/ab/abcd") }},
		{"flush", st.Flush},
	}
	fifotest.EachReturns(t, freeFIFO(dir), len(ops), func(i int) bool {
		err := ops[i].call()
		if err == nil || !errors.Is(err, syscall.ENOTDIR) || !strings.Contains(err.Error(), dir) {
			t.Errorf("%s with a FIFO in place of the store's directory: %v; want an error naming it, not a directory", ops[i].name, err)
		}
		return true
	})
}

// TestFileStoreReadRacedWithAFIFO: a read looks at the object's file,
// then opens it; a FIFO exchanged for the file in between must not be
// waited on (the open is non-blocking, and what it opened is checked to
// be what was looked at). Each read now gives the file's contents or
// refuses it as not a regular file.
func TestFileStoreReadRacedWithAFIFO(t *testing.T) {
	st, _, chunkDir := storeWithChunkDir(t)
	file := filepath.Join(chunkDir, "abcd")
	stop := fifotest.Exchange(t, file, filepath.Join(chunkDir, "spare"))
	read, refused := 0, 0
	fifotest.EachReturns(t, stop, fifoRaceRounds, func(int) bool {
		data, err := ReadObject(context.Background(), st, "meridian/d/chunks/ab/abcd", 100)
		switch {
		case errors.Is(err, ErrNotRegular) && strings.Contains(err.Error(), "meridian/d/chunks/ab/abcd"):
			refused++
		case err == nil && string(data) == "sealed":
			read++
		default:
			t.Errorf("read with a FIFO exchanged for the file: %q, %v; want its contents or ErrNotRegular naming it", data, err)
			return false
		}
		return true
	})
	t.Logf("%d read, %d refused", read, refused)
}
