package local_test

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestRetriedCancelFailsWhileTheCommandRunsOn: a first Cancel ended the
// job's wrapper and failed, a process that kept the command lock deaf
// to SIGTERM; a retry found the wrapper's exit code and its run lock
// free and returned nil at once, the job cancelled, its accelerators
// free, while the command ran on. The retry now stops the command as
// the first did, and fails while it runs.
func TestRetriedCancelFailsWhileTheCommandRunsOn(t *testing.T) {
	b := newLocal(t, t.TempDir())
	b.CancelGrace = time.Minute
	b.TreeWait = 300 * time.Millisecond
	h, _, _, esc := escapingJobWith(t, b, "deaf-retry", `trap "" TERM; exec sleep 60`, "sleep 60")
	for i := 1; i <= 2; i++ {
		err := b.Cancel(context.Background(), h)
		if !running(esc) {
			t.Fatal("the process deaf to SIGTERM ended: the test stands for nothing")
		}
		if err == nil || !strings.Contains(err.Error(), "still runs") {
			t.Fatalf("Cancel #%d with the job's command running on: %v; want an error saying so", i, err)
		}
	}
}

// TestRetriedCancelKillsOnceTheGraceIsOver: each Cancel counted the
// grace from its own start, so where TreeWait is shorter than the grace
// every retry failed and none ever sent SIGKILL to a holder of the
// command lock deaf to SIGTERM. The grace counts from the first Cancel
// now: a retry past it kills the holder and returns nil.
func TestRetriedCancelKillsOnceTheGraceIsOver(t *testing.T) {
	b := newLocal(t, t.TempDir())
	b.CancelGrace = time.Second
	b.TreeWait = 300 * time.Millisecond
	h, _, esc := orphanedEscapee(t, b, "deaf-kill", `trap "" TERM; exec sleep 60`)
	var err error
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if err = b.Cancel(context.Background(), h); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("Cancel retried well past the grace: %v; want the holder killed", err)
	}
	if running(esc) {
		t.Fatal("Cancel returned nil with the holder of the command lock running")
	}
}
