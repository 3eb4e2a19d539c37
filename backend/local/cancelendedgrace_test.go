package local_test

import (
	"context"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
)

// TestRetriedCancelOfAnEndedJobKillsOnceTheGraceIsOver: a job that ended
// without a Cancel, a process of its command holding the command lock,
// had no cancelled mark, so each Cancel counted the grace from its own
// start: where TreeWait is shorter than the grace, no retry ever sent
// SIGKILL to a holder deaf to SIGTERM. The first Cancel now keeps its
// time, and a retry past the grace kills the holder; the job's exit code
// stands.
func TestRetriedCancelOfAnEndedJobKillsOnceTheGraceIsOver(t *testing.T) {
	b := newLocal(t, t.TempDir())
	b.CancelGrace = time.Second
	b.TreeWait = 300 * time.Millisecond
	h, _, _, esc := escapingJobWith(t, b, "ended-deaf-kill", `trap "" TERM; exec sleep 60`, "exit 0")
	waitEnded(t, b, h)
	var err error
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if err = b.Cancel(context.Background(), h); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("Cancel of the ended job retried well past the grace: %v; want the holder killed", err)
	}
	if running(esc) {
		t.Fatal("Cancel returned nil with the holder of the command lock running")
	}
	if st := statusOf(t, b, h); st.State != backend.Succeeded {
		t.Fatalf("status %s (%s); want succeeded, the exit code the job's wrapper left", st.State, st.Reason)
	}
}
