package run

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/agent"
	"meridian.dev/meridian/store"
)

// racedKey marks the context of a request whose write of its run is to
// meet a change made after its credential was checked (changeBeforeWrite).
type racedKey struct{}

// changeBeforeWrite is a store whose next write of a run, for a request
// marked racedKey, is preceded by change: as if another step of the
// server changed the run between the request's check and its write.
type changeBeforeWrite struct {
	store.Store
	change atomic.Pointer[func()]
}

func (s *changeBeforeWrite) UpdateRun(ctx context.Context, id string, fn func(*store.Run) (store.Change, error)) (*store.Run, error) {
	if ctx.Value(racedKey{}) != nil {
		if f := s.change.Swap(nil); f != nil {
			(*f)()
		}
	}
	return s.Store.UpdateRun(ctx, id, fn)
}

// racedAgentEnv is an env whose attempt's agent runs behind a gate that is
// shut once it runs, with a handler for the test's own agent requests
// whose write of the run meets the change set in its store.
func racedAgentEnv(t *testing.T) (*env, *changeBeforeWrite, *Run, Attempt, string) {
	t.Helper()
	var cs *changeBeforeWrite
	e, r, a := gatedAgentEnv(t, func(c *Config) {
		cs = &changeBeforeWrite{Store: c.Store}
		c.Store = cs
	})
	h := e.c.AgentHandler()
	own := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		h.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), racedKey{}, true)))
	}))
	t.Cleanup(own.Close)
	return e, cs, r, a, own.URL
}

// gatedAgentEnv is an env (with more, if not nil, to its config) whose
// attempt is running and whose agent talks to the server through a gate,
// shut once the attempt runs until t ends: its own requests are not
// counted with the test's.
func gatedAgentEnv(t *testing.T, more func(c *Config)) (*env, *Run, Attempt) {
	t.Helper()
	gate := &agentGate{}
	e := newEnv(t, func(c *Config) {
		if more != nil {
			more(c)
		}
		srv := httptest.NewServer(gate)
		t.Cleanup(srv.Close)
		c.ServerURL = srv.URL
	})
	gate.c.Store(e.c)
	r, a := runningAttempt(t, e, jobDoc(100000, 1000), "the attempt to run", func(r *Run) bool { return r.State == Running })
	gate.shut()
	t.Cleanup(gate.open)
	return e, r, a
}

// agentURL is route of r's attempt a at the server at base.
func agentURL(base string, r *Run, a Attempt, route string) string {
	return base + strings.NewReplacer("{run}", r.ID, "{attempt}", fmt.Sprint(a.N)).Replace(route)
}

// raceChange sets the change the next marked write meets: fn applied to
// the run, through the controller.
func raceChange(t *testing.T, e *env, cs *changeBeforeWrite, id string, fn func(r *Run)) {
	f := func() {
		if _, err := e.c.update(context.Background(), id, func(r *Run, ch *store.Change) error { fn(r); return nil }); err != nil {
			t.Error(err)
		}
	}
	cs.change.Store(&f)
}

func postAs(t *testing.T, e *env, base string, r *Run, a Attempt, route string, v any) (int, string) {
	t.Helper()
	body, _ := json.Marshal(v)
	code, msg, _ := agentCallAt(t, e, base, r, a, "POST", route, body)
	return code, fmt.Sprintf("%d %s %s", code, http.StatusText(code), msg)
}

// TestCheckpointOfAttemptHeldMeanwhileNotRecorded: a checkpoint report
// whose run was held after its credential was checked, and before its
// write, records nothing in the run: the run is checked again as it is
// written, as the credential was, and the agent is answered that its
// attempt has ended.
func TestCheckpointOfAttemptHeldMeanwhileNotRecorded(t *testing.T) {
	e, cs, r, a, base := racedAgentEnv(t)
	raceChange(t, e, cs, r.ID, func(r *Run) { r.State = Held })
	const step = 1 << 40
	code, msg := postAs(t, e, base, r, a, agent.RouteCheckpoint, agent.CheckpointRef{Step: step, Name: fmt.Sprintf(checkpointName(r.ID, a.N), step),
		Path: "step-1", Bytes: 1234, SHA256: strings.Repeat("0123456789abcdef", 4)})
	if cs.change.Load() != nil {
		t.Fatal("the report wrote nothing: the change it was to meet was not made")
	}
	got, err := e.c.Get(context.Background(), "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ck := got.Checkpoint; ck != nil && ck.Step == step {
		t.Errorf("a held run recorded the checkpoint its ended attempt reported: %+v", ck)
	}
	if code != http.StatusGone {
		t.Errorf("the report: %s, want 410", msg)
	}
}

// TestExitOfAttemptPassedMeanwhileNotRecorded: an exit report whose run
// moved on to another attempt after its credential was checked, and
// before its write, records nothing in the run.
func TestExitOfAttemptPassedMeanwhileNotRecorded(t *testing.T) {
	e, cs, r, a, base := racedAgentEnv(t)
	raceChange(t, e, cs, r.ID, func(r *Run) { r.Attempt, r.State = a.N+1, Held })
	code, msg := postAs(t, e, base, r, a, agent.RouteExit, agent.Exit{Code: 3})
	if cs.change.Load() != nil {
		t.Fatal("the report wrote nothing: the change it was to meet was not made")
	}
	got, err := e.c.Get(context.Background(), "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range got.Attempts {
		if x.N == a.N && x.Exit != nil {
			t.Errorf("attempt %d, passed, recorded exit code %d", a.N, *x.Exit)
		}
	}
	evs, err := e.c.Events(context.Background(), "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Kind == "agent-exit" {
			t.Errorf("event for an attempt passed: %s", ev.Reason)
		}
	}
	if code != http.StatusGone {
		t.Errorf("the report: %s, want 410", msg)
	}
}

// TestProgressOfAttemptHeldMeanwhileNotRecorded: a heartbeat's progress
// whose run was held after its credential was checked, and before its
// write, is not recorded in the run.
func TestProgressOfAttemptHeldMeanwhileNotRecorded(t *testing.T) {
	e, cs, r, a, base := racedAgentEnv(t)
	raceChange(t, e, cs, r.ID, func(r *Run) { r.State = Held })
	const step = 1 << 40
	code, msg := postAs(t, e, base, r, a, agent.RouteHeartbeat, agent.Heartbeat{Phase: "finishing", Progress: &agent.Progress{Step: step, Steps: step}})
	if cs.change.Load() != nil {
		t.Fatalf("the heartbeat wrote nothing (%s): the change it was to meet was not made", msg)
	}
	if code != http.StatusOK {
		t.Errorf("the heartbeat: %s", msg)
	}
	got, err := e.c.Get(context.Background(), "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if p := got.Progress; p != nil && p.Step == step {
		t.Errorf("a held run recorded the progress its ended attempt reported: %+v", p)
	}
}
