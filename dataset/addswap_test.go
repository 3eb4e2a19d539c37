package dataset

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAddRefusesFileSwappedAfterListing: Add judged each file of --from
// as it listed the tree (a regular file, or a link to one inside it) and
// then opened it by its name, following links and waiting on FIFOs.
// Whoever may write in the tree could swap a listed file, between the
// listing and the open, for a link to a file outside it (which was sealed
// into the dataset, staged, and unsealed at the site), a FIFO (Add hung
// for good, whatever its context) or a link to a device (read without
// end). Each is now refused, naming the file; and a file that grows past
// its listed size while it is read is refused rather than read on.
func TestAddRefusesFileSwappedAfterListing(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "secret.key")
	if err := os.WriteFile(outside, []byte("OUTSIDE THE ROOT\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what string
		swap func(t *testing.T, p string)
	}{
		{"a link to a file outside the root", func(t *testing.T, p string) { relink(t, p, outside) }},
		{"a link to a device", func(t *testing.T, p string) { relink(t, p, "/dev/zero") }},
		{"a FIFO", func(t *testing.T, p string) {
			os.Remove(p)
			if err := syscall.Mkfifo(p, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"a file that grows", func(t *testing.T, p string) {
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte(strings.Repeat("more ", 1000)))
			f.Close()
		}},
	} {
		t.Run(c.what, func(t *testing.T) {
			store, _ := newStore(t)
			s := newSealer(t, "d")
			src := t.TempDir()
			victim := filepath.Join(src, "a.txt")
			if err := os.WriteFile(victim, []byte("inside\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := Add(ctx, AddOptions{Name: "d", Root: src, Store: store, Sealer: s, OnStart: func(int64) { c.swap(t, victim) }})
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				// Let a blocked open of the FIFO through.
				if f, ferr := os.OpenFile(victim, os.O_WRONLY|syscall.O_NONBLOCK, 0); ferr == nil {
					f.Close()
				}
				t.Fatalf("Add still running 10 s after %s was put in place of a listed file", c.what)
			}
			if !errors.Is(err, ErrChangedSinceListed) || !strings.Contains(err.Error(), "a.txt") {
				t.Fatalf("Add with %s put in place of a listed file: %v; want it refused as changed since listed, naming a.txt", c.what, err)
			}
		})
	}
}

// relink puts a link to target in place of p.
func relink(t *testing.T, p, target string) {
	t.Helper()
	os.Remove(p)
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

// TestAddRefusesDirectorySwappedDuringTheWalk: the walk read each
// directory by its absolute name, following links: a directory of the tree
// swapped, as the walk went through the ones before it, for a link to a
// directory outside (~/.ssh) was listed, its files judged as they were
// read and sealed. The tree is read through the opened root, which
// follows no link out of it: the walk fails, naming the directory.
func TestAddRefusesDirectorySwappedDuringTheWalk(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "id_ed25519"), []byte("OUTSIDE THE ROOT\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	for _, d := range []string{"a", "z"} {
		if err := os.Mkdir(filepath.Join(src, d), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, d, "f.txt"), []byte("inside\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	walkVisited = func(rel string) {
		if rel == "a/f.txt" {
			os.RemoveAll(filepath.Join(src, "z"))
			os.Symlink(outside, filepath.Join(src, "z"))
		}
	}
	t.Cleanup(func() { walkVisited = nil })
	store, _ := newStore(t)
	_, err := Add(context.Background(), AddOptions{Name: "d", Root: src, Store: store, Sealer: newSealer(t, "d")})
	if err == nil || !strings.Contains(err.Error(), "z") {
		t.Fatalf("Add with a directory swapped for a link out of the tree during the walk: %v; want it refused, naming z", err)
	}
}
