package run

import (
	"bytes"
	"context"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkFollowLargeSchedulerLog follows a run whose output is a local
// site's 64 MiB output file (its agent's kept output removed): one
// iteration is 20 polls of a follower that has caught up, each after 1 KiB
// more arrived, as a followed log's route opens and reads it.
func BenchmarkFollowLargeSchedulerLog(b *testing.B) {
	const size, polls, grow = 64 << 20, 20, 1 << 10
	e := newEnv(b, func(c *Config) { c.LogLimit = 1 << 30 })
	ctx := context.Background()
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(2, 2)}})
	if err != nil {
		b.Fatal(err)
	}
	r = e.waitFor("the end", 60*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	if err := os.RemoveAll(filepath.Dir(e.c.logPath(r.ID, 1))); err != nil {
		b.Fatal(err)
	}
	paths, _ := filepath.Glob(filepath.Join(e.dir, "sites", "*", "jobs", "*", "output.log"))
	if len(paths) != 1 {
		b.Fatalf("the local site's output files: %v, want one", paths)
	}
	if err := os.WriteFile(paths[0], bytes.Repeat([]byte("a line of the job's output\n"), size/27), 0o600); err != nil {
		b.Fatal(err)
	}
	f, err := os.OpenFile(paths[0], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	more := bytes.Repeat([]byte("x"), grow)
	_, off, err := e.c.LogsFrom(ctx, "t1", r.ID, math.MaxInt64-1, 1)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		for range polls {
			f.Write(more)
			rc, size, err := e.c.OpenLogs(ctx, "t1", r.ID, off, math.MaxInt64)
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.Copy(io.Discard, rc)
			rc.Close()
			if err != nil || off+n != size || n != grow {
				b.Fatalf("poll read %d bytes to %d of %d (%v), want %d", n, off+n, size, err, grow)
			}
			off = size
		}
	}
}
