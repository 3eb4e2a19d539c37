package run

import (
	"context"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/store"
)

// TestAdmissionPreemptsOnce: tenant t1's run v (priority 0, checkpointed)
// holds site ca, t0's run cb; two runs of t1 of priority 5 lawful only at
// ca wait. The pass's first waiting run preempted v; the second then took
// v for a victim again from the runs the pass read before (still running,
// there), planned itself and v again, found v already moving, and was
// still told it was preempting it: its timeline said so, and the pass
// counted two preemptions for one. A run preempted in a pass is no
// victim for the rest of it.
func TestAdmissionPreemptsOnce(t *testing.T) {
	e := newBatchEnv(t)
	ctx := context.Background()
	e.submit("t0", batchJob("hold-cb", 1e9, "cb"), 0, Planned)
	v := e.submit("t1", batchJob("victim", 1e9, "ca"), 0, Planned)
	if _, err := e.c.update(ctx, v.ID, func(r *Run, ch *store.Change) error {
		r.State = Running
		r.Checkpoint = &Checkpoint{Step: 10, Name: "ck-10", Site: "ca"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
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
