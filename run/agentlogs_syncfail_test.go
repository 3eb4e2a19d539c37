package run

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"meridian.dev/meridian/agent"
	"meridian.dev/meridian/internal/atomicfile"
)

// failSyncOnce makes syncLog fail the next sync of an output file once
// failNext is called, as an NFS state directory's fsync fails with EIO.
// Linux then marks the pages clean: a later sync succeeds without writing
// them, and once evicted from the page cache (or at a power loss) they
// are gone. The stand-in shows that at once: the bytes past what the
// last sync that succeeded found are zeroed in the file, as what reached
// the disk there; a post that writes them again makes them whole.
func failSyncOnce(t *testing.T) (failNext func()) {
	var mu sync.Mutex
	fail := false
	durable := map[string]int64{}
	syncLog = func(f *os.File) error {
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if !fail {
			durable[f.Name()] = fi.Size()
			return f.Sync()
		}
		fail = false
		if lost := fi.Size() - durable[f.Name()]; lost > 0 {
			g, err := os.OpenFile(f.Name(), os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer g.Close()
			if _, err := g.WriteAt(make([]byte, lost), durable[f.Name()]); err != nil {
				return err
			}
		}
		return errors.New("input/output error")
	}
	t.Cleanup(func() { syncLog = (*os.File).Sync })
	return func() { mu.Lock(); fail = true; mu.Unlock() }
}

// syncedDirs records the directories atomicfile syncs from now on.
func syncedDirs(t *testing.T) func() []string {
	var mu sync.Mutex
	var dirs []string
	atomicfile.SyncHook = func(dir string) { mu.Lock(); dirs = append(dirs, dir); mu.Unlock() }
	t.Cleanup(func() { atomicfile.SyncHook = nil })
	return func() []string { mu.Lock(); defer mu.Unlock(); d := dirs; dirs = nil; return d }
}

// TestAgentLogsSyncFailureTakenBack: a post whose bytes could not be
// synced is answered 500 with its bytes cut back out of the file, so the
// agent's repeat of it writes them again and syncs what it wrote. They
// were left there: the repeat found them in the file, wrote nothing, and
// its sync (Linux reports a writeback error once, the pages marked
// clean) succeeded: 200 for bytes that a power loss, or their eviction
// from the page cache, took back, and every post after was refused
// (409). The tenant's count of output kept stays the file's size.
func TestAgentLogsSyncFailureTakenBack(t *testing.T) {
	f := newOutputFleet(t, 1<<20)
	r := f.run("t1", "r1", Running)
	failNext := failSyncOnce(t)
	first := bytes.Repeat([]byte("step 1 loss 0.9\n"), 64)
	line := bytes.Repeat([]byte("step 2 loss 0.5\n"), 64)
	if code, grew := f.post(r, first); code != 200 || grew != int64(len(first)) {
		t.Fatalf("first post: %d, grew %d bytes", code, grew)
	}
	failNext()
	if code, grew := f.post(r, line); code != 500 {
		t.Fatalf("a post whose sync failed: %d, want 500", code)
	} else if grew != 0 {
		t.Errorf("a post whose sync failed: the file grew %d bytes, want its bytes taken back", grew)
	}
	// The agent posts the same bytes at the same offset.
	if code := postOffset(f, r, int64(len(first)), line); code != 200 {
		t.Fatalf("its repeat: %d, want 200", code)
	}
	want := append(slices.Clone(first), line...)
	if got, err := os.ReadFile(f.c.logPath(r.ID, 1)); err != nil || !bytes.Equal(got, want) {
		t.Errorf("after the repeat the file holds %d bytes, %d of them zero (%v); want the %d posted: the repeat wrote them again",
			len(got), bytes.Count(got, []byte{0}), err, len(want))
	}
	if used := f.c.outputs["t1"].used.Load(); used != int64(len(want)) {
		t.Errorf("the tenant's count is %d bytes, the file %d", used, len(want))
	}
}

// TestAgentLogsCutOffPostEntrySynced: a post that finds the attempt's
// output file made and holding bytes, by a post cut off before it synced
// the file's directory (killed, or answered 500), syncs the directory
// before it acknowledges them. Only a post that found the file empty did:
// every repeat was answered 200, and a power loss took the whole file.
// The steady state costs no sync of the directory: posts adding to a
// file this process made durable sync none.
func TestAgentLogsCutOffPostEntrySynced(t *testing.T) {
	f := newOutputFleet(t, 0)
	line := bytes.Repeat([]byte("step 1 loss 0.5\n"), 64)
	for _, c := range []struct {
		name, id string
		cut      func(f *outputFleet, r *Run)
	}{
		{"killed after its write", "r-killed", func(f *outputFleet, r *Run) {
			path := f.c.logPath(r.ID, 1)
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, line, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"its sync failed", "r-failed", func(f *outputFleet, r *Run) {
			failNext := failSyncOnce(t)
			failNext()
			if code, _ := f.post(r, line); code != 500 {
				t.Fatalf("a post whose sync failed: %d, want 500", code)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := f.run("t1", c.id, Running)
			c.cut(f, r)
			dirs := syncedDirs(t)
			// The agent posts the same bytes again, at offset 0.
			path := f.c.logPath(r.ID, 1)
			if code := postOffset(f, r, 0, line); code != 200 {
				t.Fatalf("the repeat: %d, want 200", code)
			}
			if d := dirs(); !slices.Contains(d, filepath.Dir(path)) {
				t.Errorf("the repeat synced %q, want the file's directory %s", d, filepath.Dir(path))
			}
			// The post after a file found empty may sync its directory
			// once more (the per-process memo, atomicfile.SyncEntry, knows
			// the files it synced itself); none after it does.
			for i := range 4 {
				if code, _ := f.post(r, line); code != 200 {
					t.Fatalf("post %d after: %d", i, code)
				}
				if d := dirs(); i > 0 && len(d) != 0 {
					t.Errorf("post %d after synced %q, want no directory (this process made the file durable)", i, d)
				}
			}
		})
	}
}

// postOffset posts data as run r's output at offset off and answers the
// status.
func postOffset(f *outputFleet, r *Run, off int64, data []byte) int {
	f.t.Helper()
	a := r.Attempts[0]
	req := httptest.NewRequest("POST", agentURL("", r, a, agent.RouteLogs)+fmt.Sprintf("?offset=%d", off), bytes.NewReader(data))
	req.Header.Set("Content-Type", logType)
	req.Header.Set("Authorization", "Bearer "+f.c.credential(r.ID, a))
	w := httptest.NewRecorder()
	f.c.AgentHandler().ServeHTTP(w, req)
	return w.Code
}

// TestAgentLogsFoundBytesCutOnSyncFailure: a post that finds its bytes in
// the file already (appended by a post cut off between its write and its
// sync), writes nothing, and whose sync fails, cuts the file back to its
// offset: no sync covered those bytes, and the failed one may have lost
// them. They were left there: the agent's next repeat wrote nothing
// either, its sync succeeded (Linux reports a writeback error once), and
// it acknowledged bytes a power loss or their eviction took back. A post
// whose agent has gone cuts nothing it did not write: it may be a late
// copy of a post answered already, and the bytes after its offset ones
// acknowledged since.
func TestAgentLogsFoundBytesCutOnSyncFailure(t *testing.T) {
	first := bytes.Repeat([]byte("step 1 loss 0.9\n"), 64)
	line := bytes.Repeat([]byte("step 2 loss 0.5\n"), 64)
	t.Run("agent waiting", func(t *testing.T) {
		f := newOutputFleet(t, 1<<20)
		r := f.run("t1", "r-waiting", Running)
		failNext := failSyncOnce(t)
		if code, _ := f.post(r, first); code != 200 {
			t.Fatalf("first post: %d", code)
		}
		// A post cut off between its write and its sync.
		appendUnsynced(t, f.c.logPath(r.ID, 1), line)
		failNext()
		if code := postOffset(f, r, int64(len(first)), line); code != 500 {
			t.Fatalf("a repeat whose sync failed: %d, want 500", code)
		}
		if fi, err := os.Stat(f.c.logPath(r.ID, 1)); err != nil || fi.Size() != int64(len(first)) {
			t.Errorf("after a repeat whose sync failed the file holds %v bytes (%v), want the %d before its offset", sizeOf(fi), err, len(first))
		}
		if code := postOffset(f, r, int64(len(first)), line); code != 200 {
			t.Fatalf("the next repeat: %d, want 200", code)
		}
		want := append(slices.Clone(first), line...)
		if got, err := os.ReadFile(f.c.logPath(r.ID, 1)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("after the next repeat the file holds %d bytes, %d of them zero (%v); want the %d posted",
				len(got), bytes.Count(got, []byte{0}), err, len(want))
		}
	})
	t.Run("agent gone", func(t *testing.T) {
		f := newOutputFleet(t, 0)
		r := f.run("t1", "r-gone", Running)
		failNext := failSyncOnce(t)
		for _, b := range [][]byte{first, line} {
			if code, _ := f.post(r, b); code != 200 {
				t.Fatalf("post: %d", code)
			}
		}
		// A late copy of the first post, whose agent gives up on it while
		// it is being synced.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		inner, syncs := syncLog, 0
		syncLog = func(f *os.File) error { syncs++; cancel(); return inner(f) }
		failNext()
		if code := postOffsetCtx(ctx, f, r, 0, first); code != 500 || syncs != 1 {
			t.Fatalf("a late copy whose sync failed: %d after %d syncs, want 500 after its sync", code, syncs)
		}
		want := append(slices.Clone(first), line...)
		if got, err := os.ReadFile(f.c.logPath(r.ID, 1)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("after a late copy whose sync failed the file holds %d bytes (%v), want the %d acknowledged", len(got), err, len(want))
		}
	})
}

// appendUnsynced appends data to the file at path, as a post cut off
// before its sync left it.
func appendUnsynced(t *testing.T, path string, data []byte) {
	t.Helper()
	g, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if _, err := g.Write(data); err != nil {
		t.Fatal(err)
	}
}

// sizeOf is fi's size, or nil where there is no fi.
func sizeOf(fi os.FileInfo) any {
	if fi == nil {
		return nil
	}
	return fi.Size()
}

// postOffsetCtx is postOffset with the request's context ctx.
func postOffsetCtx(ctx context.Context, f *outputFleet, r *Run, off int64, data []byte) int {
	f.t.Helper()
	a := r.Attempts[0]
	req := httptest.NewRequestWithContext(ctx, "POST", agentURL("", r, a, agent.RouteLogs)+fmt.Sprintf("?offset=%d", off), bytes.NewReader(data))
	req.Header.Set("Content-Type", logType)
	req.Header.Set("Authorization", "Bearer "+f.c.credential(r.ID, a))
	w := httptest.NewRecorder()
	f.c.AgentHandler().ServeHTTP(w, req)
	return w.Code
}
