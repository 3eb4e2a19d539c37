package run

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/store"
)

// TestLogsFrom reads a run's output from every offset: each answer is the
// whole output's tail from there, with the size of the whole. A read past
// a long first attempt reads nothing of it.
func TestLogsFrom(t *testing.T) {
	st, dir := testStore(t)
	c := New(Config{Store: st, StateDir: dir})
	ctx := context.Background()
	r := &Run{ID: "run-logs", Tenant: "acme", Job: "j", State: Running}
	r.Attempts = []Attempt{{N: 1, Site: "alpha"}, {N: 2, Site: "beta"}, {N: 3, Site: "gamma"}}
	row, err := toRow(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.CreateRun(ctx, row, "", store.Change{}); err != nil {
		t.Fatal(err)
	}
	write := func(n int, s string) {
		p := c.logPath(r.ID, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(1, "one\ntwo\n")
	write(3, "three\n") // attempt 2 kept no output and has no job to ask
	whole := "=== attempt 1 at alpha ===\none\ntwo\n=== attempt 2 at beta ===\n=== attempt 3 at gamma ===\nthree\n"
	n := int64(len(whole))
	for off := range n + 3 {
		// Every page size, and none (the whole tail).
		for _, limit := range append([]int64{math.MaxInt64}, pageSizes(n+1)...) {
			got, size, err := c.LogsFrom(ctx, "acme", r.ID, off, limit)
			if err != nil {
				t.Fatal(err)
			}
			want := whole[min(off, n):min(off+min(limit, n), n)]
			if string(got) != want || size != n {
				t.Fatalf("from %d, at most %d: %q (size %d), want %q (size %d)", off, limit, got, size, want, n)
			}
		}
	}
	if _, _, err := c.LogsFrom(ctx, "acme", r.ID, -1, 10); err == nil {
		t.Error("a negative offset: no error")
	}
	if _, _, err := c.LogsFrom(ctx, "acme", r.ID, 0, 0); err == nil {
		t.Error("a limit of 0: no error")
	}
	if _, _, err := c.LogsFrom(ctx, "other", r.ID, 0, 10); err == nil {
		t.Error("another tenant read the output")
	}

	// A first attempt of 256 MiB (sparse): reading past it allocates a
	// small part of that.
	big := int64(256 << 20)
	if err := os.Truncate(c.logPath(r.ID, 1), big); err != nil {
		t.Fatal(err)
	}
	head := int64(len("=== attempt 1 at alpha ===\n"))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got, size, err := c.LogsFrom(ctx, "acme", r.ID, head+big, math.MaxInt64)
	runtime.ReadMemStats(&after)
	if err != nil || string(got) != "=== attempt 2 at beta ===\n=== attempt 3 at gamma ===\nthree\n" || size != head+big+int64(len(got)) {
		t.Fatalf("past the long attempt: %q (size %d) %v", got, size, err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 8<<20 {
		t.Errorf("reading past a 256 MiB attempt allocated %d MiB", n>>20)
	}
	// A page from the middle of it reads that page.
	runtime.ReadMemStats(&before)
	got, size, err = c.LogsFrom(ctx, "acme", r.ID, head+big/2, 100)
	runtime.ReadMemStats(&after)
	if err != nil || len(got) != 100 || size != head+big+int64(len("=== attempt 2 at beta ===\n=== attempt 3 at gamma ===\nthree\n")) {
		t.Fatalf("a page inside the long attempt: %d bytes (size %d) %v", len(got), size, err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 8<<20 {
		t.Errorf("a page of 100 bytes of a 256 MiB attempt allocated %d MiB", n>>20)
	}
}

// pageSizes is 1 to n.
func pageSizes(n int64) []int64 {
	var out []int64
	for i := int64(1); i <= n; i++ {
		out = append(out, i)
	}
	return out
}

// BenchmarkFollowPoll is one poll of a followed log whose attempt has
// kept 16 MiB (the default LogLimit) and grows by a line: read whole and
// cut (as every poll did before LogsFrom), against read from the offset.
func BenchmarkFollowPoll(b *testing.B) {
	st, dir := testStore(b)
	c := New(Config{Store: st, StateDir: dir})
	ctx := context.Background()
	r := &Run{ID: "run-follow", Tenant: "acme", Job: "j", State: Running, Data: Data{Attempts: []Attempt{{N: 1, Site: "alpha"}}}}
	row, err := toRow(r)
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := st.CreateRun(ctx, row, "", store.Change{}); err != nil {
		b.Fatal(err)
	}
	p := c.logPath(r.ID, 1)
	os.MkdirAll(filepath.Dir(p), 0o700)
	if err := os.WriteFile(p, bytes.Repeat([]byte("step 1234 loss 2.345\n"), 16<<20/21), 0o600); err != nil {
		b.Fatal(err)
	}
	_, size, err := c.LogsFrom(ctx, "acme", r.ID, 0, math.MaxInt64)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("whole", func(b *testing.B) {
		for b.Loop() {
			if got, err := c.Logs(ctx, "acme", r.ID); err != nil || int64(len(got)) != size {
				b.Fatal(len(got), err)
			}
		}
	})
	b.Run("from-offset", func(b *testing.B) {
		for b.Loop() {
			if got, _, err := c.LogsFrom(ctx, "acme", r.ID, size-21, math.MaxInt64); err != nil || len(got) != 21 {
				b.Fatal(len(got), err)
			}
		}
	})
}

// BenchmarkListLive is what the runs stream reads on each poll, for a
// tenant with 10 live runs among 3,000 that ended: the whole list (as each
// poll did before, and as its check for missed changes did) against the
// runs that have not ended, and the runs' versions (that check now).
func BenchmarkListLive(b *testing.B) {
	st, dir := testStore(b)
	c := New(Config{Store: st, StateDir: dir})
	ctx := context.Background()
	doc := Document{Name: "job.yaml", Content: strings.Repeat("# a job's documents\n", 100)}
	for i := range 3010 {
		r := &Run{ID: fmt.Sprintf("run-%012d", i), Tenant: "acme", Job: "j", State: Succeeded,
			Data: Data{Documents: []Document{doc}, Attempts: []Attempt{{N: 1, Site: "alpha"}}}}
		if i >= 3000 {
			r.State = Running
		}
		row, err := toRow(r)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := st.CreateRun(ctx, row, "", store.Change{}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("whole", func(b *testing.B) {
		for b.Loop() {
			if rs, err := c.List(ctx, "acme"); err != nil || len(rs) != 3010 {
				b.Fatal(len(rs), err)
			}
		}
	})
	b.Run("live", func(b *testing.B) {
		for b.Loop() {
			if rs, err := c.ListLive(ctx, "acme"); err != nil || len(rs) != 10 {
				b.Fatal(len(rs), err)
			}
		}
	})
	// The stream's check for changes it missed (every minute): each run's
	// version, of which only the changed ones are read.
	b.Run("versions", func(b *testing.B) {
		for b.Loop() {
			if vs, err := c.ListVersions(ctx, "acme", "", 5000); err != nil || len(vs) != 3010 {
				b.Fatal(len(vs), err)
			}
		}
	})
}

// BenchmarkTimelineRead is what an event stream reads from the store at
// each wake for a run with 10,000 events (a month of checkpoints listed
// once a minute is 43,200): the whole timeline, as it did, against the
// events after the last it sent (none new here).
func BenchmarkTimelineRead(b *testing.B) {
	st, _ := testStore(b)
	ctx := context.Background()
	r := &store.Run{ID: "run-timeline", Tenant: "acme", Job: "j", State: string(Running), Data: []byte(`{}`)}
	if _, _, err := st.CreateRun(ctx, r, "", store.Change{}); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 10000; i += 500 {
		if _, err := st.UpdateRun(ctx, r.ID, func(*store.Run) (store.Change, error) {
			var ch store.Change
			for j := range 500 {
				ch.Events = append(ch.Events, store.Event{Kind: "checkpoint", Reason: fmt.Sprintf("checkpoint at step %d sealed into alpha's store", (i+j)*100)})
			}
			return ch, nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	all, err := st.Events(ctx, r.ID)
	if err != nil || len(all) != 10000 {
		b.Fatal(len(all), err)
	}
	last := all[len(all)-1].Seq
	b.Run("whole", func(b *testing.B) {
		for b.Loop() {
			if evs, err := st.Events(ctx, r.ID); err != nil || len(evs) != 10000 {
				b.Fatal(len(evs), err)
			}
		}
	})
	b.Run("after-last", func(b *testing.B) {
		for b.Loop() {
			if evs, err := st.EventsAfter(ctx, r.ID, last, 1000); err != nil || len(evs) != 0 {
				b.Fatal(len(evs), err)
			}
		}
	})
}

// schedulerLogs is a backend whose scheduler keeps size bytes of output
// for every job (byte p is byte(p%251)), and counts its reads of it.
type schedulerLogs struct {
	backend.Backend
	size  int64
	reads *atomic.Int64
}

func (s schedulerLogs) Logs(ctx context.Context, handle string) (io.ReadCloser, error) {
	s.reads.Add(1)
	return io.NopCloser(io.LimitReader(&madeUpOutput{}, s.size)), nil
}

type madeUpOutput struct{ at int64 }

func (m *madeUpOutput) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte((m.at + int64(i)) % 251)
	}
	m.at += int64(len(b))
	return len(b), nil
}

// TestOpenLogsOfScheduler: the output the site's scheduler keeps of an
// attempt whose agent sent none is read once to open a page of it, and
// held while the part of it the page wants fits in logHold; a page of
// more than that reads it once more, as the page is read, holding none
// of it. Each page is the output from its offset, byte for byte.
func TestOpenLogsOfScheduler(t *testing.T) {
	var reads atomic.Int64
	size := int64(logHold + 8<<20)
	e := newEnv(t, func(c *Config) {
		c.LogLimit = size
		made := c.Backends
		c.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
			b, err := made(site, root)
			return schedulerLogs{Backend: b, size: size, reads: &reads}, err
		}
	})
	ctx := context.Background()
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(5, 5)}})
	if err != nil {
		t.Fatal(err)
	}
	r = e.waitFor("the end", 60*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	// What the agent sent is gone: the scheduler's output is all there is.
	if err := os.RemoveAll(filepath.Dir(e.c.logPath(r.ID, 1))); err != nil {
		t.Fatal(err)
	}
	var whole bytes.Buffer
	for _, a := range r.Attempts {
		fmt.Fprintf(&whole, "=== attempt %d at %s ===\n", a.N, a.Site)
		if a.Handle != "" {
			io.Copy(&whole, io.LimitReader(&madeUpOutput{}, size))
		}
	}
	if whole.Len() < int(size) {
		t.Fatalf("the run's attempts %+v had no job at a site", r.Attempts)
	}
	for _, tc := range []struct {
		off, limit int64
		reads      int64
	}{
		{0, 1000, 1},
		{size / 2, logHold, 1},
		{3, math.MaxInt64, 2},
		{size - 10, math.MaxInt64, 1},
		{int64(whole.Len()) + 5, 10, 1},
	} {
		reads.Store(0)
		rc, got, err := e.c.OpenLogs(ctx, "t1", r.ID, tc.off, tc.limit)
		if err != nil || got != int64(whole.Len()) {
			t.Fatalf("open from %d: size %d of %d, %v", tc.off, got, whole.Len(), err)
		}
		var page bytes.Buffer
		_, err = io.CopyBuffer(&page, rc, make([]byte, 1<<20))
		rc.Close()
		from := min(tc.off, int64(whole.Len()))
		want := whole.Bytes()[from:min(from+min(tc.limit, int64(whole.Len())), int64(whole.Len()))]
		if err != nil || !bytes.Equal(page.Bytes(), want) {
			t.Errorf("from %d, at most %d: %d bytes, want %d (%v)", tc.off, tc.limit, page.Len(), len(want), err)
		}
		if n := reads.Load(); n != tc.reads {
			t.Errorf("from %d, at most %d: the scheduler's output read %d times, want %d", tc.off, tc.limit, n, tc.reads)
		}
	}
	if _, _, err := e.c.OpenLogs(ctx, "t2", r.ID, 0, 10); err != ErrNotFound {
		t.Errorf("another tenant opened the output: %v, want ErrNotFound", err)
	}
}
