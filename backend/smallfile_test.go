package backend_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
)

// TestReadSmallFile: a job directory's file is read when it is a plain file
// within its bound; a named pipe (which would hang a plain read), a link
// (to a device, or to a file the job should not show) and a file past the
// bound are refused at once, each with an error that says why.
func TestReadSmallFile(t *testing.T) {
	dir := t.TempDir()
	at := func(name string) string { return filepath.Join(dir, name) }
	if err := os.WriteFile(at("exitcode"), []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := backend.ReadSmallFile(at("exitcode"), 64); err != nil || string(got) != "0\n" {
		t.Errorf("plain file: %q, %v", got, err)
	}
	if err := os.WriteFile(at("big"), []byte(strings.Repeat("9", 65)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := backend.ReadSmallFile(at("big"), 64); err == nil || !strings.Contains(err.Error(), "64 bytes") {
		t.Errorf("65-byte file read with a 64-byte bound: %v, want an error naming the bound", err)
	}
	if _, err := backend.ReadSmallFile(at("missing"), 64); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want os.ErrNotExist", err)
	}
	if err := syscall.Mkfifo(at("pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", at("zero")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(at("exitcode"), at("link")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"pipe", "zero", "link"} {
		done := make(chan error, 1)
		go func() { _, err := backend.ReadSmallFile(at(name), 64); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, backend.ErrNotPlainFile) {
				t.Errorf("%s: %v, want ErrNotPlainFile", name, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: still reading after 5 s", name)
		}
	}
	if !backend.FileTime(at("link")).IsZero() {
		t.Error("FileTime follows a link; want zero")
	}
	if backend.FileTime(at("exitcode")).IsZero() {
		t.Error("FileTime of a plain file is zero")
	}
}
