package dataset

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestFileStoreLinkedDirectory: whoever may write a file store's directory
// (a site's store on a shared mount) may put a link where a directory of
// keys belongs. Writes, reads, deletes and listings through it stay in the
// store: a staging wrote its chunks, and a withdrawal deleted files, where
// the link pointed.
func TestFileStoreLinkedDirectory(t *testing.T) {
	ctx := context.Background()
	dir, outside := t.TempDir(), t.TempDir()
	victim := filepath.Join(outside, "victim")
	if err := os.WriteFile(victim, []byte("not the store's"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "t", "acme"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "t", "acme", "data")); err != nil {
		t.Fatal(err)
	}
	s, err := OpenStore(ctx, "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := Put(ctx, s, "t/acme/data/chunk", []byte("sealed")); err == nil {
		t.Error("a write through a link out of the store succeeded")
	}
	if _, err := os.Stat(filepath.Join(outside, "chunk")); err == nil {
		t.Error("a chunk was written outside the store")
	}
	if r, _, err := s.open(ctx, "t/acme/data/victim"); err == nil {
		r.Close()
		t.Error("a file outside the store was read through a link")
	}
	s.Delete(ctx, "t/acme/data/victim")
	if _, err := os.Stat(victim); err != nil {
		t.Errorf("a delete through a link removed a file outside the store: %v", err)
	}
	for o, err := range s.List(ctx, "t/acme/data/") {
		if err == nil {
			t.Errorf("listed %s through a link out of the store", o.Key)
		}
	}
	// The store itself still works.
	if err := Put(ctx, s, "t/acme/other/chunk", []byte("sealed")); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, err := range s.List(ctx, "t/acme/") {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 2 { // the link, listed as what it is, and the chunk
		t.Errorf("%d objects under t/acme/, want the link and the chunk", n)
	}
}
