package run

import (
	"bytes"
	"context"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// endedRun runs a short job to its end in e and removes the output its
// agent sent, so that the output the site's scheduler keeps is all there
// is of it; it returns the run and the first line of its output, the
// attempt's header.
func endedRun(t testing.TB, e *env) (*Run, string) {
	t.Helper()
	r, _, err := e.c.Submit(context.Background(), "t1", SubmitRequest{Documents: []Document{jobDoc(2, 2)}})
	if err != nil {
		t.Fatal(err)
	}
	r = e.waitFor("the end", 60*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	if len(r.Attempts) != 1 || r.Attempts[0].Handle == "" {
		t.Fatalf("attempts %+v: want one, with a job at its site", r.Attempts)
	}
	if err := os.RemoveAll(filepath.Dir(e.c.logPath(r.ID, 1))); err != nil {
		t.Fatal(err)
	}
	return r, "=== attempt 1 at " + r.Attempts[0].Site + " ===\n"
}

// offsetLogs is a backend whose scheduler keeps size bytes of output for
// every job (byte p is byte(p%251)), opens it at an offset, and counts the
// bytes it serves.
type offsetLogs struct {
	backend.Backend
	size   int64
	served *atomic.Int64
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

func (o offsetLogs) Logs(ctx context.Context, handle string) (io.ReadCloser, error) {
	return io.NopCloser(countingReader{io.LimitReader(&madeUpOutput{}, o.size), o.served}), nil
}

func (o offsetLogs) LogsAt(ctx context.Context, handle string, off int64) (io.ReadCloser, backend.LogInfo, error) {
	off = min(off, o.size)
	return io.NopCloser(countingReader{io.LimitReader(&madeUpOutput{at: off}, o.size-off), o.served}),
		backend.LogInfo{Size: o.size, ID: "the output"}, nil
}

// TestOpenLogsAtOffsetReadsOnlyWhatIsAsked: the output a site's scheduler
// keeps, of a backend that opens it at an offset, is read from the offset
// asked for, not from its start: a followed log's poll, which asks for
// what arrived since the last, reads that, not the whole output again.
func TestOpenLogsAtOffsetReadsOnlyWhatIsAsked(t *testing.T) {
	var served atomic.Int64
	size := int64(8 << 20)
	e := newEnv(t, func(c *Config) {
		c.LogLimit = size
		made := c.Backends
		c.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
			b, err := made(site, root)
			return offsetLogs{Backend: b, size: size, served: &served}, err
		}
	})
	r, header := endedRun(t, e)
	whole := append([]byte(header), make([]byte, size)...)
	io.ReadFull(&madeUpOutput{}, whole[len(header):])
	for _, off := range []int64{0, int64(len(header)) + size - 100, int64(len(whole)), int64(len(whole)) + 7} {
		served.Store(0)
		rc, got, err := e.c.OpenLogs(context.Background(), "t1", r.ID, off, math.MaxInt64)
		if err != nil || got != int64(len(whole)) {
			t.Fatalf("open from %d: size %d of %d, %v", off, got, len(whole), err)
		}
		var page bytes.Buffer
		_, err = io.Copy(&page, rc)
		rc.Close()
		want := whole[min(off, int64(len(whole))):]
		if err != nil || !bytes.Equal(page.Bytes(), want) {
			t.Errorf("from %d: %d bytes (%v), want the %d of the output from there", off, page.Len(), err, len(want))
		}
		if n, most := served.Load(), int64(len(want)); n > most {
			t.Errorf("from %d: the scheduler served %d bytes of its output for the %d read", off, n, most)
		}
	}
}

// TestOpenLogsMarksReplacedOutput: a local site's output file of an
// attempt put in its place by another (not the old one grown) shows in
// the marks of the run's output opened after it, at where the attempt's
// output starts; output appended to does not, and the new file is read
// whole from there.
func TestOpenLogsMarksReplacedOutput(t *testing.T) {
	e := newEnv(t, nil)
	r, header := endedRun(t, e)
	paths, _ := filepath.Glob(filepath.Join(e.dir, "sites", "*", "jobs", "*", "output.log"))
	if len(paths) != 1 {
		t.Fatalf("the local site's output files: %v, want one", paths)
	}
	path := paths[0]
	replace := func(s string) {
		tmp := path + ".new"
		if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	open := func(off int64) (LogMarks, string, int64) {
		t.Helper()
		rc, size, err := e.c.OpenLogs(context.Background(), "t1", r.ID, off, math.MaxInt64)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		got, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		m, ok := rc.(interface{ Marks() LogMarks })
		if !ok {
			t.Fatalf("the reader %T has no Marks", rc)
		}
		return m.Marks(), string(got), size
	}
	replace("old output\n")
	marks, got, size := open(0)
	if got != header+"old output\n" {
		t.Fatalf("read %q", got)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("grown\n")
	f.Close()
	later, got, size := open(size)
	at, replaced, marks := later.Replaced(marks)
	if replaced || got != "grown\n" {
		t.Errorf("output appended to: replaced %v (at %d), read %q; want not replaced, what was appended", replaced, at, got)
	}
	// Another file, that starts as the old one did: its identity tells
	// it from the old one grown.
	replace("old output\ngrown\nand another file\n")
	later, got, _ = open(size)
	at, replaced, _ = later.Replaced(marks)
	if !replaced || at != int64(len(header)) {
		t.Fatalf("output replaced: replaced %v at %d, want at %d, where the attempt's output starts (read %q)", replaced, at, len(header), got)
	}
	if _, got, _ = open(at); got != "old output\ngrown\nand another file\n" {
		t.Errorf("the replaced output from its start: %q, want the new file whole", got)
	}
}
