package dataset

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestUnsealSubdirSwappedForALink: an unseal made each file's directory
// and then wrote the file by its path, so a directory below --to swapped
// for a link between the two (by whoever may write the directory above
// it) led that file's plaintext to wherever the link led. Each directory
// is now opened from the one above without following a link and held
// while its files are written: the file goes into the directory opened,
// under --to, and nothing lands where the link leads.
func TestUnsealSubdirSwappedForALink(t *testing.T) {
	store, _ := newStore(t)
	s := newSealer(t, "d")
	src := t.TempDir()
	genTree(t, src, 3, 100, 9) // part-a/f0.bin, part-b/f1.bin, part-c/f2.bin
	if _, err := Add(context.Background(), AddOptions{Name: "d", Root: src, Store: store, Sealer: s}); err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	out, elsewhere := filepath.Join(base, "out"), filepath.Join(base, "elsewhere")
	if err := os.Mkdir(elsewhere, 0o700); err != nil {
		t.Fatal(err)
	}
	unsealFileHook = func(rel string) {
		if rel != "part-b/f1.bin" {
			return
		}
		sub := filepath.Join(out, "part-b")
		if err := os.Rename(sub, sub+".moved"); err != nil {
			t.Error(err)
		}
		if err := os.Symlink(elsewhere, sub); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() { unsealFileHook = nil })
	_, err := UnsealDir(context.Background(), store, s, "d", out)
	if ents, rerr := os.ReadDir(elsewhere); rerr != nil || len(ents) != 0 {
		t.Fatalf("unseal with part-b swapped for a link (%v): the link's target holds %d entries (%v); want none", err, len(ents), rerr)
	}
	if got, rerr := os.ReadFile(filepath.Join(out, "part-b.moved", "f1.bin")); rerr != nil || len(got) != 100 {
		t.Errorf("f1.bin in the directory the unseal opened: %d bytes, %v (unseal: %v); want it there", len(got), rerr, err)
	}
}
