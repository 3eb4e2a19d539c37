package run

import (
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/store"
)

// flakyLogs is offsetLogs whose next fail openings of a job's output
// fail.
type flakyLogs struct {
	offsetLogs
	fail *atomic.Int64
}

func (f flakyLogs) LogsAt(ctx context.Context, handle string, off int64) (io.ReadCloser, backend.LogInfo, error) {
	if f.fail.Add(-1) >= 0 {
		return nil, backend.LogInfo{}, errors.New("the scheduler did not answer")
	}
	return f.offsetLogs.LogsAt(ctx, handle, off)
}

// TestOpenLogsMarksOutputMovedByANote: a run of two attempts whose first
// attempt's output at the site could not be read at one opening has a
// note of another length in its place, and the second's output moved. The
// marks of that opening, compared with the last's, say the output is not
// what it was from the first attempt's output on; before, they said
// nothing (the unread attempt had no mark, and the second's only its own
// identity), and a follower read on at its offset into bytes that had
// moved. Read again, the output is where it was.
func TestOpenLogsMarksOutputMovedByANote(t *testing.T) {
	var served, fail atomic.Int64
	const size = 1000
	e := newEnv(t, func(c *Config) {
		made := c.Backends
		c.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
			b, err := made(site, root)
			return flakyLogs{offsetLogs{Backend: b, size: size, served: &served}, &fail}, err
		}
	})
	r, header := endedRun(t, e)
	ctx := context.Background()
	if _, err := e.c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		second := r.Attempts[0]
		second.N = 2
		r.Attempts = append(r.Attempts, second)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	open := func() (LogMarks, int64) {
		t.Helper()
		rc, n, err := e.c.OpenLogs(ctx, "t1", r.ID, 0, math.MaxInt64)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		return rc.(interface{ Marks() LogMarks }).Marks(), n
	}
	first, whole := open()
	if want := int64(2*len(header) + 2*size); whole != want {
		t.Fatalf("the run's output is %d bytes, want %d", whole, want)
	}
	fail.Store(1) // the first attempt's, at the next opening
	later, n := open()
	at, replaced, _ := later.Replaced(first)
	if n == whole || !replaced || at != int64(len(header)) {
		t.Errorf("the first attempt's output unread (the run's output %d bytes, was %d): replaced %v at %d; want from %d, where it starts", n, whole, replaced, at, len(header))
	}
	again, n := open()
	if at, replaced, _ := again.Replaced(first); replaced || n != whole {
		t.Errorf("read again: replaced %v at %d (%d bytes, was %d); want the output where it was", replaced, at, n, whole)
	}
}

// TestOpenLogsMarksAgentOutputInPlaceOfSite: an attempt's output is read
// from the site's copy (the scheduler's log: the agent's own lines and
// the workload's) until its agent sends some, then from what it sent. A
// follower that had read part of the site's copy read on in the agent's
// output at the same offset, skipping its start. The marks now say the
// output changed from where the attempt's starts.
func TestOpenLogsMarksAgentOutputInPlaceOfSite(t *testing.T) {
	e := newEnv(t, nil)
	r, header := endedRun(t, e)
	ctx := context.Background()
	open := func() LogMarks {
		t.Helper()
		rc, _, err := e.c.OpenLogs(ctx, "t1", r.ID, 0, math.MaxInt64)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		return rc.(interface{ Marks() LogMarks }).Marks()
	}
	site := open()
	path := e.c.logPath(r.ID, 1)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("the workload's output, as the agent sent it\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	at, replaced, _ := open().Replaced(site)
	if !replaced || at != int64(len(header)) {
		t.Errorf("the agent's output in place of the site's copy: replaced %v at %d, want at %d", replaced, at, len(header))
	}
}
