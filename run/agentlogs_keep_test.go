package run

import (
	"bytes"
	"os"
	"slices"
	"testing"
)

// TestAgentLogsFailedSyncKeepsAcknowledged: a post below what this server
// acknowledged and synced (a late copy held open by a proxy, a second copy
// of the attempt posting from 0, a hostile agent), whose sync fails while
// its request is live, leaves the acknowledged bytes in the file. Its
// offset was taken on trust: the file was cut back to it, bytes answered
// 200 were lost, and the real agent's next post was refused (409).
func TestAgentLogsFailedSyncKeepsAcknowledged(t *testing.T) {
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
	failNext()
	if code := postOffset(f, r, 0, a); code != 500 {
		t.Fatalf("a post at offset 0 whose sync failed: %d, want 500", code)
	}
	want := append(slices.Clone(a), b...)
	if got, err := os.ReadFile(f.c.logPath(r.ID, 1)); err != nil || !bytes.Equal(got, want) {
		t.Errorf("after a post at offset 0 whose sync failed the file holds %d bytes (%v), want the %d acknowledged", len(got), err, len(want))
	}
	// The real agent's next post goes on from what it was told was kept.
	if code := postOffset(f, r, int64(len(want)), a); code != 200 {
		t.Errorf("the agent's next post, at offset %d: %d, want 200", len(want), code)
	}
	want = append(want, a...)
	got, err := os.ReadFile(f.c.logPath(r.ID, 1))
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("after the agent's next post the file holds %d bytes (%v), want the %d posted", len(got), err, len(want))
	}
	if used := f.c.outputs["t1"].used.Load(); used != int64(len(got)) {
		t.Errorf("the tenant's count is %d bytes, the file %d", used, len(got))
	}
}

// TestAgentLogsFoundBytesCutRecounted: bytes a post found in the file and
// cut when its sync of them failed (left by a post cut off between its
// write and its sync, here by a restart that counted them) leave the
// tenant's count. They stayed counted: the repeat that wrote them again
// counted them twice, until a restart, and enough such repeats made the
// tenant full, its later attempts' output cut for good.
func TestAgentLogsFoundBytesCutRecounted(t *testing.T) {
	f := newOutputFleet(t, 1<<20)
	r := f.run("t1", "r1", Running)
	failNext := failSyncOnce(t)
	first := bytes.Repeat([]byte("step 1 loss 0.9\n"), 64)
	line := bytes.Repeat([]byte("step 2 loss 0.5\n"), 64)
	if code, _ := f.post(r, first); code != 200 {
		t.Fatalf("post: %d", code)
	}
	appendUnsynced(t, f.c.logPath(r.ID, 1), line)
	f.restart()
	failNext()
	if code := postOffset(f, r, int64(len(first)), line); code != 500 {
		t.Fatalf("a repeat whose sync failed: %d, want 500", code)
	}
	if code := postOffset(f, r, int64(len(first)), line); code != 200 {
		t.Fatalf("the next repeat: %d, want 200", code)
	}
	want := append(slices.Clone(first), line...)
	got, err := os.ReadFile(f.c.logPath(r.ID, 1))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("after the repeats the file holds %d bytes (%v), want the %d posted", len(got), err, len(want))
	}
	if used := f.c.outputs["t1"].used.Load(); used != int64(len(got)) {
		t.Errorf("the tenant's count is %d bytes, the file %d", used, len(got))
	}
}
