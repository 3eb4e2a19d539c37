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
	b := newLocalGrace(t, 3*time.Second, time.Second)
	h, _, esc := endedWithDeafHolder(t, b, "ended-deaf-kill")
	err := retryUntilNil(15*time.Second, func() error { return b.Cancel(context.Background(), h) })
	if err != nil {
		t.Fatalf("Cancel of the ended job retried well past the grace: %v; want the holder killed", err)
	}
	wantHolderKilled(t, esc)
	if st := statusOf(t, b, h); st.State != backend.Succeeded {
		t.Fatalf("status %s (%s); want succeeded, the exit code the job's wrapper left", st.State, st.Reason)
	}
}
