package screen

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestStoreLockRefusesLink: a link planted at the store's lock file made
// an import (or a decision) create the file it named, wherever the server
// may write; now the lock is refused and nothing is created or imported.
func TestStoreLockRefusesLink(t *testing.T) {
	dir := t.TempDir()
	s := &Store{Dir: filepath.Join(dir, "screen")}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "elsewhere")
	if err := os.Symlink(target, filepath.Join(s.Dir, ".lock")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import("consolidated.csv", read(t, "csl-sample-id.csv")); err == nil {
		t.Error("an import took a lock through a link")
	}
	if _, err := os.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the link's target: %v, want it not created", err)
	}
	if _, err := s.List(); !errors.Is(err, ErrNoList) {
		t.Errorf("List after the refused import: %v, want no list", err)
	}
}
