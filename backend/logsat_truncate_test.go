package backend

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFileLogsAtTruncatedWhileOpen: a job's output file truncated in
// place and written anew between its opening and its read (the same
// file: its identity is the opening's) gave the read the new file's bytes
// at the old one's offsets, and a follower sent them as what followed the
// old output. The read now finds the file no longer what it opened and
// says so (ErrLogReplaced), giving none of them. A file appended to, or
// emptied, meanwhile reads as before: what was there when opened, or
// nothing.
func TestFileLogsAtTruncatedWhileOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "output.log")
	const old = "the old output, line 1\nthe old output, line 2\n"
	open := func(off int64) io.ReadCloser {
		t.Helper()
		if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		rc, _, err := FileLogsAt(f, off)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rc.Close() })
		return rc
	}
	for _, tc := range []struct {
		name, now string
	}{
		{"written anew, longer", "NEW " + strings.Repeat("another output\n", 8)},
		{"written anew, as it started", "the old output, line 1\nbut not the old file\n" + strings.Repeat("x", 100)},
		{"written anew, shorter", "the old output, line 1\nthe"},
	} {
		rc := open(5)
		if err := os.WriteFile(path, []byte(tc.now), 0o600); err != nil { // truncates in place
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		if !errors.Is(err, ErrLogReplaced) || len(got) != 0 {
			t.Errorf("%s: read %q (%v), want nothing and ErrLogReplaced", tc.name, got, err)
		}
	}

	rc := open(5)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("appended\n")
	f.Close()
	if got, err := io.ReadAll(rc); err != nil || string(got) != old[5:] {
		t.Errorf("appended to: read %q (%v), want %q", got, err, old[5:])
	}

	rc = open(5)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(rc); err != nil || len(got) != 0 {
		t.Errorf("emptied: read %q (%v), want nothing", got, err)
	}
}
