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
	"meridian.dev/meridian/seal"
)

// TestKeyringRefusesAFIFOAtItsDirectory: Names opened the keyring's
// directory with os.Open, and a FIFO put in its place held the listing
// for good (the open waits for a writer). Names and GetOrCreate each fail
// at once now, naming the path.
func TestKeyringRefusesAFIFOAtItsDirectory(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
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
	err = fifotest.Returns(t, freeFIFO(fifo), func() error {
		_, err := Keyring{Dir: fifo}.GetOrCreate("d")
		return err
	})
	if err == nil || !strings.Contains(err.Error(), fifo) || !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("GetOrCreate of a keyring whose directory is a FIFO: %v; want a refusal naming it", err)
	}
}

// TestKeyringFollowsALinkAtItsDirectoryAlike: Names refused a keyring
// whose directory is a link while GetOrCreate, Lock and the key files
// went through it, so `dataset list` failed on a keyring that sealing
// used. Every operation follows it now: the key GetOrCreate made through
// the link is in the real directory, and Names lists it.
func TestKeyringFollowsALinkAtItsDirectoryAlike(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "real")
	link := filepath.Join(base, "keyring")
	mkdir(t, real)
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	key, err := Keyring{Dir: link}.GetOrCreate("d")
	if err != nil {
		t.Fatalf("GetOrCreate through a link: %v", err)
	}
	if got, err := (Keyring{Dir: real}).Get("d"); err != nil || got != key {
		t.Errorf("the real directory's key: %v; want the key GetOrCreate made through the link", err)
	}
	names, err := Keyring{Dir: link}.Names()
	if err != nil || len(names) != 1 || names[0] != "d" {
		t.Errorf("Names through a link: %q, %v; want [d]", names, err)
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
