package run

import (
	"context"
	"fmt"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/store"
)

// newPreemptEnv: tenant t0's run holds site cb, and tenant t1's run v
// (priority 0, checkpointed) runs at ca.
func newPreemptEnv(t *testing.T) (*batchEnv, *Run) {
	t.Helper()
	e := newBatchEnv(t)
	e.submit("t0", batchJob("hold-cb", 1e9, "cb"), 0, Planned)
	v := e.submit("t1", batchJob("victim", 1e9, "ca"), 0, Planned)
	if _, err := e.c.update(context.Background(), v.ID, func(r *Run, ch *store.Change) error {
		r.State = Running
		r.Checkpoint = &Checkpoint{Step: 10, Name: "ck-10", Site: "ca"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return e, v
}

// TestAdmissionPreemptsOnce: tenant t1's run v (priority 0, checkpointed)
// holds site ca, t0's run cb; two runs of t1 of priority 5 lawful only at
// ca wait. The pass's first waiting run preempted v; the second then took
// v for a victim again from the runs the pass read before (still running,
// there), planned itself and v again, found v already moving, and was
// still told it was preempting it: its timeline said so, and the pass
// counted two preemptions for one. A run preempted in a pass is no
// victim for the rest of it.
func TestAdmissionPreemptsOnce(t *testing.T) {
	e, v := newPreemptEnv(t)
	ctx := context.Background()
	w1 := e.submit("t1", batchJob("high-1", 1e9, "ca"), 5, Held)
	w2 := e.submit("t1", batchJob("high-2", 1e9, "ca"), 5, Held)
	// Both are due to be tried again.
	at := time.Now().Add(time.Hour)
	e.c.cfg.Now = func() time.Time { return at }
	plans := 0
	plan := e.c.cfg.Plan
	e.c.cfg.Plan = func(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
		plans++
		return plan(ctx, w, job, asOf, exclude)
	}
	st := e.admit()
	if st.Tried != 2 || st.Preempted != 1 {
		t.Errorf("admission pass: %+v; want 2 tried, 1 preempted", st)
	}
	if r := e.get(v.ID); r.State != Migrating || r.Migration == nil || r.Migration.PreemptedBy != w1.ID {
		t.Fatalf("victim: %s, %+v", r.State, r.Migration)
	}
	evs, err := e.c.Events(ctx, "t1", w2.ID)
	if err != nil {
		t.Fatal(err)
	}
	if contains(kinds(evs), "preempting") {
		t.Errorf("%s's timeline says it is preempting a run: %v", w2.Job, kinds(evs))
	}
	// Each waiting run planned once to be tried, and the first twice more
	// (itself in v's place, and v's own places).
	if plans != 4 {
		t.Errorf("the pass planned %d times; want 4", plans)
	}
}

// TestAdmissionPreemptionPlansBounded: the plans an admission pass made
// to weigh preemptions were not counted. Each run left waiting that had a
// victim to weigh planned twice more (itself in the victim's place, then
// the victim's places), so a queue of runs that never fit in the victim's
// place cost a pass about twice its bound on plans again. A pass now makes
// at most maxPreemptPlans of them, and the next goes on past the runs it
// weighed: a run behind them that does fit in the victim's place
// preempts it within the passes it takes to weigh every run once.
func TestAdmissionPreemptionPlansBounded(t *testing.T) {
	const n = 2*maxPreemptPlans + 8
	e, v := newPreemptEnv(t)
	// Runs lawful only at cb, which another tenant holds: v's place is
	// no use to them.
	for i := range n {
		e.submit("t1", batchJob(fmt.Sprintf("only-cb-%d", i), 1e9, "cb"), 5, Held)
	}
	good := e.submit("t1", batchJob("fits-at-ca", 1e9, "ca"), 5, Held)
	plans := 0
	plan := e.c.cfg.Plan
	e.c.cfg.Plan = func(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
		plans++
		return plan(ctx, w, job, asOf, exclude)
	}
	at := time.Now()
	passes := 0
	for ; passes < n; passes++ {
		// Every waiting run is due again at each pass.
		at = at.Add(24 * time.Hour)
		e.c.cfg.Now = func() time.Time { return at }
		plans = 0
		st := e.admit()
		if weigh := plans - st.Tried; weigh > maxPreemptPlans {
			t.Errorf("pass %d: %d plans beyond its %d tries, to weigh preemptions; want at most %d", passes, weigh, st.Tried, maxPreemptPlans)
		}
		if st.Preempted > 0 {
			break
		}
	}
	r := e.get(v.ID)
	if r.State != Migrating || r.Migration == nil || r.Migration.PreemptedBy != good.ID {
		t.Fatalf("after %d passes the victim is %s (%+v); want it preempted by %s", passes+1, r.State, r.Migration, good.ID)
	}
	if want := (n+1)/(maxPreemptPlans/2) + 1; passes+1 > want {
		t.Errorf("preempted at pass %d; want within %d", passes+1, want)
	}
}
