package backendtest

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// WriteTemp writes a torn temporary file at path (its directories made),
// last modified at mtime, as a writer killed between its write and its
// rename leaves one, and returns path: what a backend's removal of stale
// temporary files at start is tested on.
func WriteTemp(t testing.TB, path string, mtime time.Time) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	return path
}
