package dataset

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/seal"
)

// cutUnseal adds a dataset of six files, and unseals it into a fresh
// directory with the last file's first chunk missing from the store, as an
// unseal cut short would leave it. It returns what the caller needs to go
// on, with the chunk's file put back by restore.
func cutUnseal(t *testing.T) (store *Store, s *seal.Sealer, src, out string, m *Manifest, restore func()) {
	t.Helper()
	ctx := context.Background()
	src = t.TempDir()
	genTree(t, src, 6, 3000, 9)
	store, storeDir := newStore(t)
	s = newSealer(t, "d")
	if _, err := Add(ctx, AddOptions{Name: "d", Root: src, Store: store, Sealer: s}); err != nil {
		t.Fatal(err)
	}
	m, err := ReadManifest(ctx, store, s, "d")
	if err != nil {
		t.Fatal(err)
	}
	last := m.Files[len(m.Files)-1]
	chunk := filepath.Join(storeDir, filepath.FromSlash(ChunkKey("d", last.Chunks[0].ID)))
	if err := os.Rename(chunk, chunk+".aside"); err != nil {
		t.Fatal(err)
	}
	out = filepath.Join(t.TempDir(), "out")
	if _, err := UnsealDir(ctx, store, s, "d", out); err == nil {
		t.Fatal("an unseal with a chunk missing succeeded")
	}
	return store, s, src, out, m, func() {
		if err := os.Rename(chunk+".aside", chunk); err != nil {
			t.Fatal(err)
		}
	}
}

// TestUnsealResumesAfterCut: an unseal cut short (here by a chunk the
// store did not have; a crash leaves the same, and a temporary file)
// used to leave a directory no later unseal would write into ("not
// empty"): the copy could not be finished without removing it by hand. A
// second unseal of the same version now finishes it: files left whole are
// kept, a damaged one and the missing ones are written, the temporary
// files and the marker are gone.
func TestUnsealResumesAfterCut(t *testing.T) {
	ctx := context.Background()
	store, s, src, out, m, restore := cutUnseal(t)
	last := filepath.Join(out, filepath.FromSlash(m.Files[len(m.Files)-1].Path))
	if _, err := os.Stat(last); err == nil {
		t.Fatal("the file whose chunk was missing is in place")
	}
	if err := os.MkdirAll(filepath.Dir(last), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(last), "."+filepath.Base(last)+".12345.tmp"), []byte("part"), 0o600); err != nil {
		t.Fatal(err)
	}
	first := filepath.Join(out, filepath.FromSlash(m.Files[0].Path))
	b, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	b[10] ^= 1
	if err := os.WriteFile(first, b, 0o600); err != nil {
		t.Fatal(err)
	}
	restore()
	if _, err := UnsealDir(ctx, store, s, "d", out); err != nil {
		t.Fatalf("unseal after a cut: %v", err)
	}
	sameTree(t, src, out)
	if n := countFiles(t, out); n != len(m.Files) {
		t.Fatalf("%d files in the directory after the unseal, want the dataset's %d (a marker or temporary file left)", n, len(m.Files))
	}
}

// TestUnsealCutRefusesOthers: a directory an unseal cut short left is
// taken up again only by an unseal of the same version, and only while it
// holds nothing else.
func TestUnsealCutRefusesOthers(t *testing.T) {
	ctx := context.Background()
	store, s, _, out, _, restore := cutUnseal(t)
	restore()
	stray := filepath.Join(out, "notes.txt")
	if err := os.WriteFile(stray, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := UnsealDir(ctx, store, s, "d", out); err == nil {
		t.Fatal("an unseal went on in a directory holding a file the dataset does not")
	}
	if b, err := os.ReadFile(stray); err != nil || string(b) != "mine" {
		t.Fatalf("the stray file was touched: %q %v", b, err)
	}
	if err := os.Remove(stray); err != nil {
		t.Fatal(err)
	}
	// Another dataset into the same directory.
	other := t.TempDir()
	genTree(t, other, 2, 100, 3)
	s2 := newSealer(t, "e")
	if _, err := Add(ctx, AddOptions{Name: "e", Root: other, Store: store, Sealer: s2}); err != nil {
		t.Fatal(err)
	}
	if _, err := UnsealDir(ctx, store, s2, "e", out); err == nil {
		t.Fatal("an unseal of another dataset went on in a directory an unseal of d left")
	}
}
