package run

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"meridian.dev/meridian/store"
)

// ended makes tenant's run id, ended (Cancelled), with n bytes of output
// kept for its first attempt.
func (f *outputFleet) ended(tenant, id string, n int) *Run {
	f.t.Helper()
	r := f.run(tenant, id, Cancelled)
	f.write(r, n)
	return r
}

// write puts n bytes of output in run r's first attempt's file, as a
// server before this one kept them.
func (f *outputFleet) write(r *Run, n int) {
	f.t.Helper()
	path := f.c.logPath(r.ID, 1)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(path, bytes.Repeat([]byte("o"), n), 0o600); err != nil {
		f.t.Fatal(err)
	}
}

// end ends run r (Cancelled) through the controller, as its end is
// recorded.
func (f *outputFleet) end(r *Run) {
	f.t.Helper()
	if _, err := f.c.update(context.Background(), r.ID, func(r *Run, ch *store.Change) error {
		r.State = Cancelled
		return nil
	}); err != nil {
		f.t.Fatal(err)
	}
}

// kept is the bytes of run r's output files.
func (f *outputFleet) kept(r *Run) int64 {
	f.t.Helper()
	n, err := f.c.runOutput(r.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

// removals counts run r's events saying its output was removed, and
// fails unless each names the bound.
func (f *outputFleet) removals(r *Run) int {
	f.t.Helper()
	evs, err := f.st.Events(context.Background(), r.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Kind == "output-removed" {
			n++
			if want := fmt.Sprintf("bounded at %d bytes", f.cfg.TenantLogLimit); !strings.Contains(ev.Reason, want) {
				f.t.Errorf("run %s's event %q does not say %q", r.ID, ev.Reason, want)
			}
		}
	}
	return n
}

// counted is the tenant's count of output kept on f's server.
func (f *outputFleet) counted(tenant string) int64 {
	f.t.Helper()
	t, err := f.c.tenantOutputs(context.Background(), tenant)
	if err != nil {
		f.t.Fatal(err)
	}
	return t.used.Load()
}

// TestTenantOutputBusyTenantKeepsNewOutput: a tenant whose old ended runs
// have filled its bound keeps its new run's output: the output of its
// oldest ended runs is removed to make room, oldest end first, no more
// than the append needs, each told once on its own timeline. Nothing
// removed old output, so with the bound set a busy tenant's new runs kept
// none once its old runs reached it.
func TestTenantOutputBusyTenantKeepsNewOutput(t *testing.T) {
	f := newOutputFleet(t, 1000)
	var old []*Run
	for i := range 5 {
		old = append(old, f.ended("t1", fmt.Sprintf("run-old-%d", i), 200))
	}
	r := f.run("t1", "run-new", Running)
	if code, kept := f.post(r, bytes.Repeat([]byte("n"), 600)); code != http.StatusOK || kept != 600 {
		t.Fatalf("a new run's 600 bytes, old ended runs holding the bound of 1000: %d, %d kept; want 200, 600", code, kept)
	}
	for i, o := range old {
		removed := i < 3
		if got := f.kept(o); (got == 0) != removed {
			t.Errorf("old run %d (ended %s): %d bytes kept; want removed: %v", i, ordinal(i), got, removed)
		}
		if n, want := f.removals(o), map[bool]int{true: 1, false: 0}[removed]; n != want {
			t.Errorf("old run %d: %d events say its output was removed, want %d", i, n, want)
		}
	}
	if n := f.cuts(r); n != 0 {
		t.Errorf("the new run's timeline says %d times its output is no longer kept; want none", n)
	}
	if got := f.counted("t1"); got != 1000 {
		t.Errorf("the tenant's count after the removals: %d, want the 1000 bytes on disk", got)
	}
}

func ordinal(i int) string { return []string{"first", "second", "third", "fourth", "fifth"}[i] }

// TestTenantOutputRemovesOnlyEndedOfTenant: making room removes only the
// tenant's own ended runs' output, the run that ended first first
// (whatever order they were created in), never a live run's, nor another
// tenant's, nor a run the store says is live whatever this server held of
// it; past the ended runs' output the append is cut as before. A restart
// counts what is left from the files.
func TestTenantOutputRemovesOnlyEndedOfTenant(t *testing.T) {
	f := newOutputFleet(t, 1000)
	first, second := f.run("t1", "run-a", Running), f.run("t1", "run-b", Running)
	live := f.run("t1", "run-live", Running)
	other := f.ended("t2", "run-other", 500)
	line := func(n int) []byte { return bytes.Repeat([]byte("y"), n) }
	for _, p := range []struct {
		r *Run
		n int
	}{{first, 400}, {second, 300}, {live, 100}} {
		if code, kept := f.post(p.r, line(p.n)); code != http.StatusOK || kept != int64(p.n) {
			t.Fatalf("%s's %d bytes: %d, %d kept", p.r.ID, p.n, code, kept)
		}
	}
	// The second ends first: it is the oldest ended.
	f.end(second)
	f.end(first)
	// A run the store says is live, held as ended (a stale hint), is
	// never removed.
	tc, err := f.c.tenantOutputs(context.Background(), "t1")
	if err != nil {
		t.Fatal(err)
	}
	tc.ended.add(live.ID, live.Data.Submitted.Add(-1e9))
	r := f.run("t1", "run-new", Running)
	if code, kept := f.post(r, line(400)); code != http.StatusOK || kept != 400 {
		t.Errorf("a new run's 400 bytes, 800 kept: %d, %d kept; want 200, 400", code, kept)
	}
	if f.kept(second) != 0 || f.kept(first) != 400 || f.removals(second) != 1 || f.removals(first) != 0 {
		t.Errorf("after one removal: the run that ended first keeps %d (%d events), the other %d (%d events); want 0 (1), 400 (0)",
			f.kept(second), f.removals(second), f.kept(first), f.removals(first))
	}
	f.restart()
	if code, kept := f.post(r, line(600)); code != http.StatusOK || kept != 500 {
		t.Errorf("after a restart, 600 more bytes, 900 kept, one ended run of 400 left: %d, %d kept; want 200, 500 (cut at the bound)", code, kept)
	}
	if f.kept(first) != 0 || f.removals(first) != 1 || f.cuts(r) != 1 {
		t.Errorf("the last ended run keeps %d (%d events); the new run's cut told %d times; want 0 (1), 1", f.kept(first), f.removals(first), f.cuts(r))
	}
	if f.kept(live) != 100 || f.kept(other) != 500 || f.removals(live) != 0 || f.removals(other) != 0 {
		t.Errorf("a live run keeps %d, another tenant's ended run %d; want 100, 500 untouched", f.kept(live), f.kept(other))
	}
	if got := f.counted("t1"); got != 1000 {
		t.Errorf("the tenant's count: %d, want 1000", got)
	}
}

// TestTenantOutputRemovalsAtOnce: posts of a tenant's runs at once that
// each need room remove each ended run once, and the count stays what
// the files hold. Run with -race.
func TestTenantOutputRemovalsAtOnce(t *testing.T) {
	f := newOutputFleet(t, 1000)
	var old []*Run
	for i := range 10 {
		old = append(old, f.ended("t1", fmt.Sprintf("run-old-%d", i), 100))
	}
	var runs []*Run
	for i := range 12 {
		runs = append(runs, f.run("t1", fmt.Sprintf("run-new-%d", i), Running))
	}
	kept := make(chan int64, len(runs))
	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, n := f.post(r, bytes.Repeat([]byte("y"), 100))
			kept <- n
		}()
	}
	wg.Wait()
	close(kept)
	var sum int64
	for n := range kept {
		sum += n
	}
	if sum != 1000 {
		t.Errorf("12 posts of 100 bytes at once, 10 ended runs of 100 to remove: %d bytes kept, want 1000", sum)
	}
	for _, o := range old {
		if n := f.removals(o); n != 1 || f.kept(o) != 0 {
			t.Errorf("%s: %d events say its output was removed, %d bytes left; want 1, 0", o.ID, n, f.kept(o))
		}
	}
	var files int64
	for _, r := range runs {
		files += f.kept(r)
	}
	if got := f.counted("t1"); got != files || files != 1000 {
		t.Errorf("the tenant's count %d, its files hold %d; want both 1000", got, files)
	}
}

// TestTenantOutputRemovalCrashSafe: what a crash leaves of a removal is
// counted right at the next start. Output renamed out of its place and
// not yet removed is not counted and is emptied; output whose removal's
// event was written but which was not renamed is counted, and removed
// when room is next needed.
func TestTenantOutputRemovalCrashSafe(t *testing.T) {
	f := newOutputFleet(t, 1000)
	// The crash after the rename.
	trash := filepath.Join(f.cfg.StateDir, "logs", removedDir, "run-gone.0123456789ab")
	if err := os.MkdirAll(trash, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(trash, "attempt-1.log"), bytes.Repeat([]byte("g"), 900), 0o600); err != nil {
		t.Fatal(err)
	}
	// The crash after the event: the output is where it was.
	old := f.ended("t1", "run-old", 600)
	r := f.run("t1", "run-new", Running)
	if code, kept := f.post(r, bytes.Repeat([]byte("n"), 300)); code != http.StatusOK || kept != 300 {
		t.Errorf("300 bytes, 600 kept and 900 renamed out: %d, %d kept; want 200, 300 (what was renamed out is not counted)", code, kept)
	}
	if f.kept(old) != 600 {
		t.Errorf("an ended run's output was removed with room left: %d bytes left", f.kept(old))
	}
	if _, err := os.Stat(trash); !os.IsNotExist(err) {
		t.Errorf("the output renamed out before the crash is still there: %v", err)
	}
	if code, kept := f.post(r, bytes.Repeat([]byte("n"), 300)); code != http.StatusOK || kept != 300 || f.kept(old) != 0 {
		t.Errorf("300 bytes more, past the bound: %d, %d kept, %d left of the ended run; want 200, 300, 0", code, kept, f.kept(old))
	}
	if got := f.counted("t1"); got != 600 {
		t.Errorf("the tenant's count: %d, want 600", got)
	}
}

// TestLogsOfRemovedOutput: a run whose output was removed to make room
// reads as an attempt with no output kept (its header, then nothing), not
// a failure, and a reader opened before the removal reads to where the
// output ends. Its timeline says why.
func TestLogsOfRemovedOutput(t *testing.T) {
	f := newOutputFleet(t, 1000)
	old := f.ended("t1", "run-old", 1000)
	ctx := context.Background()
	before, _, err := f.c.OpenLogs(ctx, "t1", old.ID, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	r := f.run("t1", "run-new", Running)
	if code, kept := f.post(r, bytes.Repeat([]byte("n"), 10)); code != http.StatusOK || kept != 10 {
		t.Fatalf("10 bytes, an ended run holding the bound: %d, %d kept; want 200, 10", code, kept)
	}
	got, _, err := f.c.LogsFrom(ctx, "t1", old.ID, 0, 1<<20)
	if want := "=== attempt 1 at alpha ===\n"; err != nil || string(got) != want {
		t.Errorf("the removed run's output: %q, %v; want %q", got, err, want)
	}
	if _, err := io.ReadAll(before); err != nil {
		t.Errorf("a read opened before the removal: %v, want the output to end", err)
	}
	if n := f.removals(old); n != 1 {
		t.Errorf("%d events say the run's output was removed, want 1", n)
	}
}

// BenchmarkTenantOutputPostRemovesOne: a post of 4 KiB of a tenant's
// output that removes one ended run's output (4 KiB) to make room: its
// store write, rename, syncs and unlink.
func BenchmarkTenantOutputPostRemovesOne(b *testing.B) {
	benchTenantOutputPost(b, true)
}

// BenchmarkTenantOutputPostFits: the same post with room under the bound,
// removing nothing, for comparison.
func BenchmarkTenantOutputPostFits(b *testing.B) {
	benchTenantOutputPost(b, false)
}

func benchTenantOutputPost(b *testing.B, remove bool) {
	const size = 4 << 10
	limit := int64(size)
	if !remove {
		limit = 1 << 40
	}
	f := newOutputFleet(b, limit)
	f.ended("t1", "run-first", size)
	data := bytes.Repeat([]byte("y"), size)
	b.SetBytes(size)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		r := f.run("t1", fmt.Sprintf("run-%012x", i), Running)
		b.StartTimer()
		if code, kept := f.post(r, data); code != http.StatusOK || kept != size {
			b.Fatalf("post %d: %d, %d kept", i, code, kept)
		}
		b.StopTimer()
		f.end(r)
		b.StartTimer()
	}
}

// TestTenantOutputLastPostOfEndedRunRemovable: output first kept for a
// run after it ended (its agent's last post, within logGrace) is among
// what is removed to make room, with no restart: the run had no output
// when it ended, so its end alone did not hold it.
func TestTenantOutputLastPostOfEndedRunRemovable(t *testing.T) {
	f := newOutputFleet(t, 1000)
	late := f.run("t1", "run-late", Running)
	f.counted("t1")
	f.end(late)
	if code, kept := f.post(late, bytes.Repeat([]byte("l"), 800)); code != http.StatusOK || kept != 800 {
		t.Fatalf("an ended run's last 800 bytes: %d, %d kept; want 200, 800", code, kept)
	}
	r := f.run("t1", "run-new", Running)
	if code, kept := f.post(r, bytes.Repeat([]byte("n"), 500)); code != http.StatusOK || kept != 500 {
		t.Errorf("a new run's 500 bytes, 800 kept by an ended run: %d, %d kept; want 200, 500", code, kept)
	}
	if f.kept(late) != 0 || f.removals(late) != 1 {
		t.Errorf("the ended run keeps %d bytes (%d events say removed); want 0 (1)", f.kept(late), f.removals(late))
	}
}

// TestTenantOutputRemovalNotBelowZero: removing output that another
// server sharing the state directory appended, which this server never
// counted, lowers its count to no less than 0. It went below, and a
// count below 0 let the tenant keep that much more past the bound.
func TestTenantOutputRemovalNotBelowZero(t *testing.T) {
	f := newOutputFleet(t, 1000)
	r := f.run("t1", "run-new", Running)
	if code, kept := f.post(r, bytes.Repeat([]byte("n"), 100)); code != http.StatusOK || kept != 100 {
		t.Fatalf("100 bytes: %d, %d kept", code, kept)
	}
	// Another server keeps 5000 bytes of a run that then ends.
	other := f.run("t1", "run-other", Running)
	f.write(other, 5000)
	f.end(other)
	if code, kept := f.post(r, bytes.Repeat([]byte("n"), 950)); code != http.StatusOK || kept != 950 {
		t.Fatalf("950 bytes, 100 counted: %d, %d kept; want 200, 950", code, kept)
	}
	if f.kept(other) != 0 {
		t.Fatalf("the ended run's output was not removed: %d bytes left", f.kept(other))
	}
	if got := f.counted("t1"); got < 0 {
		t.Errorf("the tenant's count after removing 5000 bytes it never counted: %d, want no less than 0", got)
	}
}
