package run

import (
	"bytes"
	"os"
	"slices"
	"testing"
)

// TestAgentLogsFailedSyncKeepsAcknowledgedAfterRestart: a post below what
// was acknowledged (a late copy held open by a proxy, a second copy of the
// attempt posting from 0, a hostile agent), whose sync fails while its
// request is live, leaves the acknowledged bytes in the file on a server
// that knows nothing of the file from its own syncs: one restarted, and
// one beside the server that acknowledged them, sharing the state
// directory. What a sync covered was this server's memory only: the file
// was cut back to the post's offset, bytes answered 200 were lost, and
// the real agent's next post was refused (409).
func TestAgentLogsFailedSyncKeepsAcknowledgedAfterRestart(t *testing.T) {
	a := bytes.Repeat([]byte("step 1 loss 0.9\n"), 64)
	b := bytes.Repeat([]byte("step 2 loss 0.5\n"), 64)
	for _, c := range []struct {
		name string
		// ack posts a and b, acknowledged, and leaves f.c the server
		// that knows nothing of b's sync.
		ack func(f *outputFleet, r *Run)
	}{
		{"restarted", func(f *outputFleet, r *Run) {
			for _, d := range [][]byte{a, b} {
				if code, _ := f.post(r, d); code != 200 {
					t.Fatalf("post: %d", code)
				}
			}
			f.restart()
		}},
		{"another server", func(f *outputFleet, r *Run) {
			if code, _ := f.post(r, a); code != 200 {
				t.Fatalf("post: %d", code)
			}
			here := f.c
			f.c = New(f.cfg)
			if code, _ := f.post(r, b); code != 200 {
				t.Fatalf("post to the other server: %d", code)
			}
			f.c = here
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newOutputFleet(t, 1<<20)
			r := f.run("t1", "r1", Running)
			failNext := failSyncOnce(t)
			c.ack(f, r)
			failNext()
			if code := postOffset(f, r, 0, a); code != 500 {
				t.Fatalf("a post at offset 0 whose sync failed: %d, want 500", code)
			}
			want := append(slices.Clone(a), b...)
			if got, err := os.ReadFile(f.c.logPath(r.ID, 1)); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("after a post at offset 0 whose sync failed the file holds %d bytes (%v), want the %d acknowledged", len(got), err, len(want))
			}
			if code := postOffset(f, r, int64(len(want)), a); code != 200 {
				t.Errorf("the agent's next post, at offset %d: %d, want 200", len(want), code)
			}
		})
	}
}

// TestAgentLogsCutOffPostCutToRecordAfterRestart: a post that finds bytes
// past what was acknowledged (a post cut off between its write and its
// sync: here the server was killed, and restarted), and whose sync of them
// fails, cuts the file back to what the record beside it says was synced:
// not below it, for a post at a lower offset, and not above it, whatever
// the post's offset. After a restart the post's offset was taken on trust:
// a late copy at 0 cut bytes acknowledged.
func TestAgentLogsCutOffPostCutToRecordAfterRestart(t *testing.T) {
	first := bytes.Repeat([]byte("step 1 loss 0.9\n"), 64)
	line := bytes.Repeat([]byte("step 2 loss 0.5\n"), 64)
	for _, off := range []int64{0, int64(len(first)) / 2, int64(len(first))} {
		f := newOutputFleet(t, 1<<20)
		r := f.run("t1", "r1", Running)
		failNext := failSyncOnce(t)
		if code, _ := f.post(r, first); code != 200 {
			t.Fatalf("first post: %d", code)
		}
		appendUnsynced(t, f.c.logPath(r.ID, 1), line)
		f.restart()
		failNext()
		if code := postOffset(f, r, off, append(slices.Clone(first[off:]), line...)); code != 500 {
			t.Fatalf("a post at offset %d whose sync of the found bytes failed: %d, want 500", off, code)
		}
		if got, err := os.ReadFile(f.c.logPath(r.ID, 1)); err != nil || !bytes.Equal(got, first) {
			t.Errorf("after a post at offset %d whose sync failed the file holds %d bytes (%v), want the %d acknowledged", off, len(got), err, len(first))
		}
		// The agent posts the cut-off bytes again.
		if code := postOffset(f, r, int64(len(first)), line); code != 200 {
			t.Fatalf("the agent's repeat: %d, want 200", code)
		}
		want := append(slices.Clone(first), line...)
		if got, err := os.ReadFile(f.c.logPath(r.ID, 1)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("after the repeat the file holds %d bytes, %d of them zero (%v); want the %d posted",
				len(got), bytes.Count(got, []byte{0}), err, len(want))
		}
	}
}

// TestAgentLogsRecordLostFoundBytesSynced: where the record of what was
// synced is gone (a power loss took it, as it is written unsynced), a post
// that finds bytes syncs them before it adds to any, and its own failure
// after keeps them all. A power loss leaves no unsynced bytes behind, so
// that sync succeeds, and the found bytes are the floor.
func TestAgentLogsRecordLostFoundBytesSynced(t *testing.T) {
	f := newOutputFleet(t, 1<<20)
	r := f.run("t1", "r1", Running)
	failNext := failSyncOnce(t)
	a := bytes.Repeat([]byte("step 1 loss 0.9\n"), 64)
	b := bytes.Repeat([]byte("step 2 loss 0.5\n"), 64)
	for _, d := range [][]byte{a, b} {
		if code, _ := f.post(r, d); code != 200 {
			t.Fatalf("post: %d", code)
		}
	}
	path := f.c.logPath(r.ID, 1)
	if err := os.Remove(floorPath(path)); err != nil {
		t.Fatal(err)
	}
	f.restart()
	// A sync of the found bytes succeeds, the post's sync of its own fails.
	want := append(slices.Clone(a), b...)
	inner := syncLog
	syncLog = func(g *os.File) error {
		if fi, err := g.Stat(); err == nil && fi.Size() > int64(len(want)) {
			failNext()
		}
		return inner(g)
	}
	if code := postOffset(f, r, 0, append(slices.Clone(want), a...)); code != 500 {
		t.Fatalf("a post at offset 0 whose own sync failed: %d, want 500", code)
	}
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want) {
		t.Errorf("after a post at offset 0 whose sync failed the file holds %d bytes (%v), want the %d acknowledged", len(got), err, len(want))
	}
	// The record says so again: the next server knows it without a sync.
	g, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if floor, ok, err := readFloor(g, path, mustStat(t, path)); err != nil || !ok || floor != int64(len(want)) {
		t.Errorf("the record says %d (%v, %v), want %d", floor, ok, err, len(want))
	}
}

// mustStat is os.Stat of path, failing t where it fails.
func mustStat(t *testing.T, path string) os.FileInfo {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}
