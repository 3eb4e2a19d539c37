package plainfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRead: a regular file, and a link to one, are read; a FIFO that no
// one writes is refused at once rather than waited on, /dev/zero is
// refused rather than read until memory runs out, a directory is refused,
// and a file over the bound is an error; each error names the path.
func TestRead(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(plain, link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{plain, link} {
		if b, err := Read(p, 5); err != nil || string(b) != "hello" {
			t.Errorf("Read(%s): %q, %v", p, b, err)
		}
	}
	if _, err := Read(plain, 4); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), plain) || !strings.Contains(err.Error(), "4-byte limit") {
		t.Errorf("a 5-byte file read with a bound of 4: %v", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, kind string }{{fifo, "a FIFO"}, {"/dev/zero", "a character device"}, {dir, "a directory"}} {
		done := make(chan error, 1)
		go func() { _, err := Read(c.path, 1<<20); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), c.path) || !strings.Contains(err.Error(), c.kind) {
				t.Errorf("Read(%s): %v, want a refusal naming it as %s", c.path, err, c.kind)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Read(%s) still waiting after 10s", c.path)
		}
	}
	if _, err := Read(filepath.Join(dir, "missing"), 10); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v, want os.ErrNotExist", err)
	}
}
