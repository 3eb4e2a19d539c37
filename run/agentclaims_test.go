package run

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"meridian.dev/meridian/agent"
	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/store"
)

// TestCheckpointMoveAuditsTheBytesItMoved: the size of a checkpoint is
// what its agent claims when it reports it, and the agent is the
// workload's to take over. A move's audit record and the run's copy at
// its new site said that claim (one byte, for a checkpoint of 76,000),
// though the copy had read the checkpoint's authenticated manifest; they
// now say what the manifest holds.
func TestCheckpointMoveAuditsTheBytesItMoved(t *testing.T) {
	f := newCkMoveFixture(t)
	real := f.ck.Bytes
	if real <= 1 {
		t.Fatalf("fixture checkpoint of %d bytes; the test wants more than one", real)
	}
	ctx := context.Background()
	// The agent's report claimed one byte.
	if _, err := f.c.update(ctx, f.r.ID, func(r *Run, ch *store.Change) error {
		r.Checkpoint.Bytes = 1
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r := f.step(t)
	if r.State != Staging || r.Checkpoint == nil || r.Checkpoint.Site != "bravo" {
		t.Fatalf("after the move: %s, checkpoint %+v (%s); want staging, resuming at bravo", r.State, r.Checkpoint, r.Reason)
	}
	if r.Checkpoint.Bytes != real {
		t.Errorf("the moved checkpoint records %d bytes; its manifest holds %d", r.Checkpoint.Bytes, real)
	}
	es, err := f.st.AuditEntries(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	moves := 0
	for _, a := range es {
		if a.Kind != audit.KindCheckpoint {
			continue
		}
		moves++
		var p struct {
			Bytes int64 `json:"bytes"`
		}
		if err := json.Unmarshal(a.Payload, &p); err != nil {
			t.Fatal(err)
		}
		if p.Bytes != real {
			t.Errorf("the move's audit record says %d bytes; the checkpoint moved holds %d", p.Bytes, real)
		}
	}
	if moves != 1 {
		t.Fatalf("%d checkpoint-move audit records, want 1", moves)
	}
}

// agentOnlyController is a controller without its loop, serving the agent
// API, with run t1's attempt 1 running at its site as the loop would leave
// it: nothing takes from its wake channel but the test.
func agentOnlyController(t *testing.T) (*Controller, *Run, Attempt) {
	t.Helper()
	st, dir := testStore(t)
	c := handStepped(t, sitesConfig(st, dir))
	ctx := context.Background()
	r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(100, 10)}})
	if err != nil {
		t.Fatal(err)
	}
	r, err = c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		r.Attempt = 1
		r.Attempts = []Attempt{{N: 1, Site: r.Site, Nonce: newNonce(), OwnCheckpointNames: true}}
		r.State = Running
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, r, r.Attempts[0]
}

// TestRepeatedExitWakesTheLoopOnce: an exit report wakes the controller's
// loop, which then steps every active run (and asks their sites about
// them) at once. Each post of it did, recorded or not: a credential's
// holder that posted its exit over and over, within the agent API's rate,
// kept the loop stepping every run of every tenant back to back. Only the
// report that records the exit wakes it now.
func TestRepeatedExitWakesTheLoopOnce(t *testing.T) {
	c, r, a := agentOnlyController(t)
	e := &env{t: t, c: c}
	body, _ := json.Marshal(agent.Exit{Code: 0})
	drain := func() int {
		n := 0
		for {
			select {
			case <-c.wake:
				n++
			default:
				return n
			}
		}
	}
	drain()
	if code, msg, _ := agentPost(t, e, r, a, agent.RouteExit, body); code != http.StatusOK {
		t.Fatalf("exit report: %d %s", code, msg)
	}
	if n := drain(); n != 1 {
		t.Fatalf("the exit's first report woke the loop %d times, want 1", n)
	}
	for i := 0; i < 5; i++ {
		if code, msg, _ := agentPost(t, e, r, a, agent.RouteExit, body); code != http.StatusOK {
			t.Fatalf("exit report again: %d %s", code, msg)
		}
		if n := drain(); n != 0 {
			t.Fatalf("post %d of an exit already recorded woke the loop", i+2)
		}
	}
}

// TestNegativeProgressNotKept: the agent parses a workload's progress
// line into a step, a length in steps, a loss and a rate, none of them
// negative (backend.ParseProgress). A heartbeat carrying a negative one is
// no agent's parse: the run's record and its listing showed "step -5 of
// -1" as the run's progress. It is not kept; the next sound report is.
func TestNegativeProgressNotKept(t *testing.T) {
	c, r, a := agentOnlyController(t)
	e := &env{t: t, c: c}
	ctx := context.Background()
	for _, p := range []agent.Progress{
		{Step: -5, Steps: 10, Loss: 1},
		{Step: 5, Steps: -1, Loss: 1},
		{Step: 6, Steps: 10, Loss: -1},
		{Step: 7, Steps: 10, Loss: 1, TokensPerS: -100},
	} {
		body, _ := json.Marshal(agent.Heartbeat{Phase: "running", Progress: &p})
		if code, msg, _ := agentPost(t, e, r, a, agent.RouteHeartbeat, body); code != http.StatusOK {
			t.Fatalf("heartbeat: %d %s", code, msg)
		}
		got, err := c.Get(ctx, "t1", r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Progress != nil {
			t.Fatalf("after a heartbeat with progress %+v the run records %+v, want none", p, *got.Progress)
		}
	}
	body, _ := json.Marshal(agent.Heartbeat{Phase: "running", Progress: &agent.Progress{Step: 8, Steps: 10, Loss: 0.5}})
	if code, msg, _ := agentPost(t, e, r, a, agent.RouteHeartbeat, body); code != http.StatusOK {
		t.Fatalf("heartbeat: %d %s", code, msg)
	}
	got, err := c.Get(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Progress == nil || got.Progress.Step != 8 || got.Progress.Steps != 10 {
		t.Fatalf("after a sound heartbeat the run records %+v, want step 8 of 10", got.Progress)
	}
}
