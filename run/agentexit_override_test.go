package run

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/agent"
	"meridian.dev/meridian/backend"
)

// TestLostReportReplacesAnEarlierPlainExit: an agent's report that it
// could not end every process its workload started replaces a plain exit
// with the same code posted before it, and the run moves on as from a
// lost site. The first exit report was kept: the holder of the attempt's
// credential posting {"code":123} first had the scheduler's Failed/123
// read as the workload's own end, and the run failed, its pool freed,
// while the processes still held it.
func TestLostReportReplacesAnEarlierPlainExit(t *testing.T) {
	var cue atomic.Bool
	e, r, a := cuedAttempt(t, &cue, backend.Status{State: backend.Failed, ExitCode: agent.ExitLost, Reason: fmt.Sprintf("exit code %d", agent.ExitLost)})
	postExits(t, e, r, a, fmt.Sprintf(`{"code":%d}`, agent.ExitLost), fmt.Sprintf(`{"lost":true,"code":%d}`, agent.ExitLost))
	cue.Store(true)
	r = e.waitFor("the attempt's end to be judged", 30*time.Second, func(r *Run) bool { return r.State.Final() || r.Attempt > 1 || r.State == Migrating }, r.ID)
	evs, _ := e.c.Events(context.Background(), "t1", r.ID)
	if r.State == Failed || r.Attempt == 1 && r.State != Migrating {
		t.Fatalf("%s after %d attempts (%s), want it moved off alpha: %v", r.State, r.Attempt, r.Reason, kinds(evs))
	}
	replaced := false
	for _, ev := range evs {
		replaced = replaced || ev.Kind == "agent-exit" && strings.Contains(ev.Reason, "replaces the exit code 123")
	}
	if !replaced {
		t.Errorf("no event says the lost report replaced the plain exit: %v", kinds(evs))
	}
}
