package kubernetes

import (
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestSiteNamesReadNoRecordOutsideItsDirectory: a deleted Job's or
// Secret's name, as the API server says it, picks the record read. A
// hostile server's "../x" read x.json beside the records' directory (here
// a well-formed record of another backend's namespace, there taken as the
// attempt's), and a FIFO in a record's place stopped the reading
// goroutine for good. A name that is not a Kubernetes object name now
// names no record, and a record file is read only as a regular file.
func TestSiteNamesReadNoRecordOutsideItsDirectory(t *testing.T) {
	f := newFakeAPI(t)
	b := f.start(t)
	rec, err := json.Marshal(record{RunID: "r1", Attempt: 1, Namespace: b.ns, Submitted: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.stateDir, "planted.json"), rec, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"../planted", "a/../../planted", "..", "x\x00y"} {
		if _, ok := b.record(name); ok {
			t.Errorf("record(%q) read a record; want none for a name that is no object's", name)
		}
	}
	if err := os.MkdirAll(filepath.Join(b.stateDir, "jobs"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(b.stateDir, "jobs", "meridian-fifo.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan bool)
	go func() { _, ok := b.record("meridian-fifo"); done <- ok }()
	select {
	case ok := <-done:
		if ok {
			t.Error("a FIFO in a record's place read as a record")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reading a FIFO in a record's place did not return within 5 s")
	}
}
