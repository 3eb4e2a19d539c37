package backendtest

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/backend"
)

// LogsReplaced checks that b, which keeps the output of an ended job
// (handle) in the file path, tells output grown from output replaced:
// output appended to is the same output; a file put in its place, or the
// file truncated and written anew, is another (backend.LogInfo.Replaced),
// and what LogsAt reads of it is the new file's; a link put in its place is
// not followed.
func LogsReplaced(t *testing.T, b backend.OffsetLogger, handle, path string) {
	t.Helper()
	open := func(what string, off int64) (backend.LogInfo, string) {
		t.Helper()
		rc, info, err := b.LogsAt(ctx(t), handle, off)
		if err != nil {
			t.Fatalf("%s: LogsAt(%d): %v", what, off, err)
		}
		defer rc.Close()
		got, err := io.ReadAll(rc)
		if err != nil {
			t.Fatalf("%s: read: %v", what, err)
		}
		return info, string(got)
	}
	replace := func(content string) {
		t.Helper()
		tmp := filepath.Join(filepath.Dir(path), "output.log.new")
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	replace("first output\n")
	was, _ := open("first", 0)

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("more of it\n")
	f.Close()
	grown, got := open("appended to", int64(len("first output\n")))
	if was.Replaced(grown) || got != "more of it\n" {
		t.Errorf("output appended to: replaced %v, read %q from where it was; want the same output, and what was appended", was.Replaced(grown), got)
	}

	// Another file, that starts as the old one did: only its identity
	// tells it from the old one grown.
	const another = "first output\nmore of it\nbut from another file\n"
	replace(another)
	now, got := open("a file put in its place", 0)
	if !grown.Replaced(now) || got != another {
		t.Errorf("a file put in the output's place: replaced %v (%q, was %q), read %q; want another output, read whole", grown.Replaced(now), now.ID, grown.ID, got)
	}

	if err := os.WriteFile(path, []byte("third: written anew\n"), 0o600); err != nil { // truncates, same file
		t.Fatal(err)
	}
	again, _ := open("truncated and written anew", 0)
	if !now.Replaced(again) {
		t.Errorf("the output's file truncated and written anew (%q, was %q): not replaced", again.Head, now.Head)
	}

	elsewhere := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.WriteFile(elsewhere, []byte("not the job's\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, path); err != nil {
		t.Fatal(err)
	}
	if rc, _, err := b.LogsAt(ctx(t), handle, 0); err == nil {
		got, _ := io.ReadAll(rc)
		rc.Close()
		if string(got) == "not the job's\n" {
			t.Errorf("a link in the output's place was followed: read %q", got)
		}
	}
}
