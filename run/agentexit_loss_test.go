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

// endedOnCue shows every job it runs as ended as end says (its state,
// exit code and reason) once cued.
type endedOnCue struct {
	backend.Backend
	cue *atomic.Bool
	end backend.Status
}

func (s *endedOnCue) Status(ctx context.Context, h string) (backend.Status, error) {
	st, err := s.Backend.Status(ctx, h)
	if err != nil || !s.cue.Load() {
		return st, err
	}
	st.State, st.ExitCode, st.Reason = s.end.State, s.end.ExitCode, s.end.Reason
	return st, nil
}

// cuedAttempt runs a job at alpha, whose site says it ended as end once
// cue is set.
func cuedAttempt(t *testing.T, cue *atomic.Bool, end backend.Status) (*env, *Run, Attempt) {
	e := newEnv(t, func(cfg *Config) {
		inner := cfg.Backends
		cfg.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
			b, err := inner(site, root)
			if err == nil && site.Metadata.Name == "alpha" {
				return &endedOnCue{Backend: b, cue: cue, end: end}, nil
			}
			return b, err
		}
	})
	r, a := runningAttempt(t, e, jobDoc(100000, 1000), "the attempt to run at alpha", func(r *Run) bool { return r.State == Running && r.Site == "alpha" })
	return e, r, a
}

// succeeded is how a site shows a job that succeeded.
var succeeded = backend.Status{State: backend.Succeeded}

// postExits posts each exit report of bodies, each to be answered 200.
func postExits(t *testing.T, e *env, r *Run, a Attempt, bodies ...string) {
	t.Helper()
	for _, body := range bodies {
		if code, msg, _ := agentPost(t, e, r, a, agent.RouteExit, []byte(body)); code != 200 {
			t.Fatalf("exit %s: %d %s", body, code, msg)
		}
	}
}

// exitEvents counts run id's events recording an exit report, and those
// saying one replaced a plain exit.
func exitEvents(t *testing.T, e *env, id string) (all, replacing int) {
	t.Helper()
	evs, err := e.c.Events(context.Background(), "t1", id)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Kind == "agent-exit" {
			all++
			if strings.Contains(ev.Reason, "replaces the exit code") {
				replacing++
			}
		}
	}
	return all, replacing
}

// TestLostReportTwiceThenSiteSucceeded: a plain exit 0, then a report
// that the agent could not end every process, posted twice, records the
// plain exit and one replacement, no more; and the site's word that the
// job succeeded then ends the run Succeeded (no exit is taken as the
// workload's end against it).
func TestLostReportTwiceThenSiteSucceeded(t *testing.T) {
	var cue atomic.Bool
	e, r, a := cuedAttempt(t, &cue, succeeded)
	lost := fmt.Sprintf(`{"lost":true,"code":%d}`, agent.ExitLost)
	postExits(t, e, r, a, `{"code":0}`, lost, lost)
	if all, replacing := exitEvents(t, e, r.ID); all != 2 || replacing != 1 {
		t.Errorf("%d exit events, %d replacing; want 2, 1 (a second lost report records nothing)", all, replacing)
	}
	cue.Store(true)
	r = e.waitFor("the run to end", 30*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	if r.State != Succeeded {
		t.Errorf("the site said the job succeeded after a plain 0 and a lost report: %s (%s), want Succeeded", r.State, r.Reason)
	}
}

// TestLostReportAfterAttemptEndedReplacesNothing: a lost report that
// comes when the attempt is no longer live (its last words, after the
// run ended) does not replace the plain exit recorded: the run's end
// stands, and no event says it was replaced.
func TestLostReportAfterAttemptEndedReplacesNothing(t *testing.T) {
	var cue atomic.Bool
	e, r, a := cuedAttempt(t, &cue, succeeded)
	postExits(t, e, r, a, `{"code":0}`)
	cue.Store(true)
	r = e.waitFor("the run to end", 30*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	code, msg, _ := agentPost(t, e, r, a, agent.RouteExit, []byte(fmt.Sprintf(`{"lost":true,"code":%d}`, agent.ExitLost)))
	if code != 200 && code != 410 {
		t.Errorf("a lost report after the run ended: %d %s, want 200 or 410", code, msg)
	}
	if all, replacing := exitEvents(t, e, r.ID); all != 1 || replacing != 0 {
		t.Errorf("%d exit events, %d replacing; want 1, 0", all, replacing)
	}
	got, err := e.c.Get(context.Background(), "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	at := got.Attempts[len(got.Attempts)-1]
	if got.State != Succeeded || at.Fenced || at.Exit == nil || *at.Exit != 0 {
		t.Errorf("after a late lost report: %s, fenced %v, exit %v; want Succeeded, the exit 0 kept", got.State, at.Fenced, at.Exit)
	}
}
