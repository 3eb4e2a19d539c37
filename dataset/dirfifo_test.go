package dataset

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"meridian.dev/meridian/internal/fifotest"
	"meridian.dev/meridian/seal"
)

// TestKeyringNamesRefusesAFIFOOrALinkAtItsDirectory: Names opened the
// keyring's directory with os.Open: a FIFO put in its place held the
// listing for good (the open waits for a writer), and a link put there
// listed the keys of the directory it led to. Each now fails at once,
// naming the path.
func TestKeyringNamesRefusesAFIFOOrALinkAtItsDirectory(t *testing.T) {
	base := t.TempDir()
	fifo := filepath.Join(base, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	err := fifotest.Returns(t, freeFIFO(fifo), func() error {
		_, err := Keyring{Dir: fifo}.Names()
		return err
	})
	if err == nil || !strings.Contains(err.Error(), fifo+": not a directory") {
		t.Errorf("Names of a keyring whose directory is a FIFO: %v; want a refusal naming it", err)
	}

	other := filepath.Join(base, "other")
	if _, err := (Keyring{Dir: other}).GetOrCreate("theirs"); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "keyring")
	if err := os.Symlink(other, link); err != nil {
		t.Fatal(err)
	}
	names, err := Keyring{Dir: link}.Names()
	if err == nil || len(names) != 0 || !strings.Contains(err.Error(), link+" is a symbolic link") {
		t.Errorf("Names of a keyring whose directory is a link: %q, %v; want a refusal naming it", names, err)
	}
}

// sealedDataset adds a small dataset "d" to a fresh file store.
func sealedDataset(t *testing.T) (*Store, *seal.Sealer) {
	t.Helper()
	store, _ := newStore(t)
	s := newSealer(t, "d")
	src := t.TempDir()
	genTree(t, src, 2, 100, 5)
	if _, err := Add(context.Background(), AddOptions{Name: "d", Root: src, Store: store, Sealer: s}); err != nil {
		t.Fatal(err)
	}
	return store, s
}

// TestUnsealRefusesALinkAtTo: an unseal read and wrote its --to through
// a link put there, so the dataset's files went into the directory the
// link's maker chose. It is refused now, naming the path, and nothing is
// written there.
func TestUnsealRefusesALinkAtTo(t *testing.T) {
	store, s := sealedDataset(t)
	base := t.TempDir()
	elsewhere := filepath.Join(base, "elsewhere")
	mkdir(t, elsewhere)
	to := filepath.Join(base, "out")
	if err := os.Symlink(elsewhere, to); err != nil {
		t.Fatal(err)
	}
	_, err := UnsealDir(context.Background(), store, s, "d", to)
	if err == nil || !strings.Contains(err.Error(), "--to "+to+": "+to+" is a symbolic link") {
		t.Errorf("unseal into a link: %v; want a refusal naming it", err)
	}
	if ents, err := os.ReadDir(elsewhere); err != nil || len(ents) != 0 {
		t.Errorf("the link's target holds %d entries (%v); want none", len(ents), err)
	}
}
