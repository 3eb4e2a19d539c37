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
	"meridian.dev/meridian/catalog"
)

// failedOnCue shows every job it runs as failed with agent.ExitLost once
// cued, as a site shows the job of an agent that could not end every
// process its workload started.
type failedOnCue struct {
	backend.Backend
	cue *atomic.Bool
}

func (f *failedOnCue) Status(ctx context.Context, h string) (backend.Status, error) {
	st, err := f.Backend.Status(ctx, h)
	if err != nil || !f.cue.Load() {
		return st, err
	}
	st.State, st.ExitCode, st.Reason = backend.Failed, agent.ExitLost, fmt.Sprintf("exit code %d", agent.ExitLost)
	return st, nil
}

// TestLostReportReplacesAnEarlierPlainExit: an agent's report that it
// could not end every process its workload started replaces a plain exit
// with the same code posted before it, and the run moves on as from a
// lost site. The first exit report was kept: the holder of the attempt's
// credential posting {"code":123} first had the scheduler's Failed/123
// read as the workload's own end, and the run failed, its pool freed,
// while the processes still held it.
func TestLostReportReplacesAnEarlierPlainExit(t *testing.T) {
	var cue atomic.Bool
	e := newEnv(t, func(cfg *Config) {
		inner := cfg.Backends
		cfg.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
			b, err := inner(site, root)
			if err == nil && site.Metadata.Name == "alpha" {
				return &failedOnCue{Backend: b, cue: &cue}, nil
			}
			return b, err
		}
	})
	r, a := runningAttempt(t, e, jobDoc(100000, 1000), "the attempt to run at alpha", func(r *Run) bool { return r.State == Running && r.Site == "alpha" })
	for _, body := range []string{
		fmt.Sprintf(`{"code":%d}`, agent.ExitLost),
		fmt.Sprintf(`{"lost":true,"code":%d}`, agent.ExitLost),
	} {
		if code, msg, _ := agentPost(t, e, r, a, agent.RouteExit, []byte(body)); code != 200 {
			t.Fatalf("exit %s: %d %s", body, code, msg)
		}
	}
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
