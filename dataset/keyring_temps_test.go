package dataset

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"meridian.dev/meridian/internal/atomicfile"
	"meridian.dev/meridian/seal"
)

// TestKeyringStaleTempsRemovedAtOpen: a key writer (dataset add, a
// server's first key of a dataset, dataset key --record) killed between
// writing NAME.key or NAME.key.age to its temporary file and renaming it
// left the file, a key in it, in the keyring for good. A keyring's first
// use in a process now removes those an hour old; a fresh one, which a
// concurrent writer may be filling, files of other names, and a link (and
// what it points to) stay.
func TestKeyringStaleTempsRemovedAtOpen(t *testing.T) {
	key, _ := seal.NewKey()
	for _, call := range []struct {
		name string
		do   func(Keyring) error
	}{
		{"Get", func(k Keyring) error {
			if _, err := k.Get("d"); !errors.Is(err, ErrNoKey) {
				return err
			}
			return nil
		}},
		{"GetOrCreate", func(k Keyring) error { _, err := k.GetOrCreate("d"); return err }},
		{"Put", func(k Keyring) error { return k.Put("d", key) }},
		{"Remove", func(k Keyring) error { return k.Remove("d") }},
	} {
		t.Run(call.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "keyring")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			old := time.Now().Add(-2 * atomicfile.StaleTempAge)
			write := func(dir, name string, mtime time.Time) string {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, []byte("torn"), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(p, mtime, mtime); err != nil {
					t.Fatal(err)
				}
				return p
			}
			stale := []string{
				write(dir, ".d.key.tmp-1", old),
				write(dir, ".d.key.age.tmp-22", old),
				write(dir, ".other-set.key.tmp-4294967295", old),
			}
			kept := []string{
				write(dir, ".d.key.tmp-5", time.Now()),
				write(dir, ".d.key.age.tmp-6", time.Now()),
				write(dir, ".d.yaml.tmp-7", old),
				write(dir, ".Bad_Name.key.tmp-8", old),
				write(dir, ".d.key.tmp-x9", old),
				write(dir, "d.key.tmp-10", old),
			}
			outside := write(t.TempDir(), ".d.key.tmp-11", old)
			link := filepath.Join(dir, ".d.key.tmp-12")
			if err := os.Symlink(outside, link); err != nil {
				t.Fatal(err)
			}
			kept = append(kept, outside, link)
			if err := call.do(Keyring{Dir: dir}); err != nil {
				t.Fatal(err)
			}
			for _, p := range stale {
				if _, err := os.Lstat(p); !os.IsNotExist(err) {
					t.Errorf("%s: %v, want it removed", filepath.Base(p), err)
				}
			}
			for _, p := range kept {
				if _, err := os.Lstat(p); err != nil {
					t.Errorf("%s: %v, want it kept", p, err)
				}
			}
		})
	}
}

// TestKeyringOpenReadsItsDirectoryOnce: a server reads a key for every
// staging; the keyring's directory is read for temporary files at its
// first use, not again within StaleTempAge.
func TestKeyringOpenReadsItsDirectoryOnce(t *testing.T) {
	dir := t.TempDir()
	k := Keyring{Dir: dir}
	if err := k.Put("d", mustKey(t)); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, ".e.key.tmp-1")
	old := time.Now().Add(-2 * atomicfile.StaleTempAge)
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Get("d"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(p); err != nil {
		t.Fatalf("a second use within the hour read the directory again: %v", err)
	}
}

func mustKey(t *testing.T) seal.Key {
	t.Helper()
	k, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}
