package run

import (
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// TestOpenLogsFileTruncatedBeforeRead: a local site's output file of an
// attempt truncated in place and written anew between the opening of the
// run's output and its read (the same file, so the same identity) was
// read at the old file's offsets: a follower sent the new file's bytes as
// what followed the old one's. The read now finds another output than the
// opening did and says so (backend.ErrLogReplaced), giving none of it;
// the next opening's marks tell the follower where to read it again from.
func TestOpenLogsFileTruncatedBeforeRead(t *testing.T) {
	e := newEnv(t, nil)
	r, header := endedRun(t, e)
	paths, _ := filepath.Glob(filepath.Join(e.dir, "sites", "*", "jobs", "*", "output.log"))
	if len(paths) != 1 {
		t.Fatalf("the local site's output files: %v, want one", paths)
	}
	const old = "the old output, line 1\nthe old output, line 2\n"
	for _, tc := range []struct{ name, now string }{
		{"written anew", "NEW OUTPUT\n" + strings.Repeat("another line\n", 10)},
		{"written anew as it started, shorter", "the old output, line 1\nthe new"},
	} {
		if err := os.WriteFile(paths[0], []byte(old), 0o600); err != nil {
			t.Fatal(err)
		}
		rc, _, err := e.c.OpenLogs(context.Background(), "t1", r.ID, int64(len(header))+5, math.MaxInt64)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(paths[0], []byte(tc.now), 0o600); err != nil { // truncates in place
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if !errors.Is(err, backend.ErrLogReplaced) || len(got) != 0 {
			t.Errorf("%s: read %q (%v), want nothing and ErrLogReplaced", tc.name, got, err)
		}
	}
}

// rewrittenSchedulerLogs is a backend whose scheduler keeps size bytes of
// output for every job and tells neither its size nor its identity: the
// output of generation gen, byte p of it byte((p+gen)%251).
type rewrittenSchedulerLogs struct {
	backend.Backend
	size int64
	gen  *atomic.Int64
}

func (s rewrittenSchedulerLogs) Logs(ctx context.Context, handle string) (io.ReadCloser, error) {
	return io.NopCloser(io.LimitReader(&madeUpOutput{at: s.gen.Load()}, s.size)), nil
}

// TestOpenLogsSchedulerOutputReplacedBeforeRead: a site's output of an
// attempt, longer than a reader holds from its opening, is read again
// when the read reaches it; written anew in between (a pod's container
// started again), the new output's bytes were read at the old one's
// offsets. The read now finds the output starts otherwise than the
// opening found it and reads none of it (backend.ErrLogReplaced).
func TestOpenLogsSchedulerOutputReplacedBeforeRead(t *testing.T) {
	var gen atomic.Int64
	size := int64(logHold + 1<<20)
	e := newEnv(t, func(c *Config) {
		c.LogLimit = size
		made := c.Backends
		c.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
			b, err := made(site, root)
			return rewrittenSchedulerLogs{Backend: b, size: size, gen: &gen}, err
		}
	})
	r, header := endedRun(t, e)
	rc, _, err := e.c.OpenLogs(context.Background(), "t1", r.ID, int64(len(header))+1000, math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	gen.Store(7)
	got, err := io.ReadAll(rc)
	if !errors.Is(err, backend.ErrLogReplaced) || len(got) != 0 {
		t.Errorf("read %d bytes (%v), want none and ErrLogReplaced", len(got), err)
	}
}
