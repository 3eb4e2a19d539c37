package run

import (
	"context"
	"testing"

	"meridian.dev/meridian/store"
)

// endHolderAt ends one of the holders placed at site, freeing its room,
// and returns the holders left.
func endHolderAt(t *testing.T, c *Controller, holders []string, site string) []string {
	t.Helper()
	ctx := context.Background()
	for i, id := range holders {
		row, err := c.cfg.Store.GetRun(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if row.Site != site {
			continue
		}
		if _, err := c.update(ctx, id, func(r *Run, ch *store.Change) error {
			r.Migration, r.Hold = nil, nil
			return transition(ch, r, Succeeded, "test: done")
		}); err != nil {
			t.Fatal(err)
		}
		return append(holders[:i:i], holders[i+1:]...)
	}
	t.Fatalf("no holder at %s", site)
	return nil
}

// admitPass runs one pass of admission over the active runs.
func admitPass(t *testing.T, c *Controller) admitStats {
	t.Helper()
	rows, err := c.cfg.Store.ListRuns(context.Background(), store.ListOptions{Active: true, Final: FinalStates, AllTenants: true})
	if err != nil {
		t.Fatal(err)
	}
	return c.admit(context.Background(), rows)
}

func submitHeldRun(t *testing.T, c *Controller, tenant, name string, priority int) *Run {
	t.Helper()
	r, _, err := c.Submit(context.Background(), tenant, SubmitRequest{Documents: []Document{fleetJob(name)}, Priority: priority})
	if err != nil {
		t.Fatal(err)
	}
	if r.State != Held || len(r.Hold.Wants) != 3 {
		t.Fatalf("%s: %s, wants %+v", name, r.State, r.Hold)
	}
	return r
}

// TestRefusedReleaseWaitsForEveryPool: a run planned into the room one
// pool had, whose hold the store then refuses because another run took
// that room first, goes on waiting for every pool it may use. When
// another of them frees, it is admitted there at the next pass, though
// its own retry is not due for an hour.
func TestRefusedReleaseWaitsForEveryPool(t *testing.T) {
	ctx := context.Background()
	c, holders := idleFleet(t)
	h := submitHeldRun(t, c, "t1", "waiting", 0)
	holders = endHolderAt(t, c, holders, "fa")

	// The run is planned into fa's room...
	w, job, err := c.worldJob(h)
	if err != nil {
		t.Fatal(err)
	}
	plan, u, err := c.planFor(ctx, h.Tenant, w, job, c.today(), nil)
	if err != nil {
		t.Fatal(err)
	}
	pl, rank, skipped, ok := bestRunnable(plan.Placements)
	if !ok || pl.Site != "fa" {
		t.Fatalf("plan: %+v", plan.Placements)
	}
	// ...which another run takes before the release is stored.
	if r, _, err := c.Submit(ctx, "t0", SubmitRequest{Documents: []Document{fleetJob("late")}}); err != nil || r.State != Planned || r.Site != "fa" {
		t.Fatalf("taker: %+v %v", r, err)
	}
	if ok, err := c.release(ctx, h, w, u, plan, pl, rank, skipped, c.today(), c.lawNow().Rev, ""); ok || err != nil {
		t.Fatalf("release: %v %v, want a refusal", ok, err)
	}
	got, err := c.Get(ctx, "t1", h.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != Held || got.Hold == nil {
		t.Fatalf("after the refusal: %s %+v", got.State, got.Hold)
	}
	sites := map[string]bool{}
	for _, wt := range got.Hold.Wants {
		sites[wt.Site] = true
		if wt.Free >= 8 {
			t.Errorf("want %+v records room for the run", wt)
		}
	}
	if len(sites) != 3 {
		t.Errorf("after the refusal the run waits for %+v, want fa, fb and fc", got.Hold.Wants)
	}

	// fb frees: the run is admitted there.
	endHolderAt(t, c, holders, "fb")
	if st := admitPass(t, c); st.Admitted != 1 {
		t.Fatalf("pass after fb freed: %+v", st)
	}
	got, err = c.Get(ctx, "t1", h.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != Migrating || got.Migration == nil || got.Migration.Target == nil || got.Migration.Target.Site != "fb" {
		t.Fatalf("after fb freed: %s %+v", got.State, got.Migration)
	}
}

// TestAdmissionKeepsTenantPriority: a tenant's run of higher priority is
// not passed over for one of lower priority, even when its record of the
// pools it waits for is narrower than what it can use (as an earlier
// version recorded after a refused hold: the refused pool alone).
func TestAdmissionKeepsTenantPriority(t *testing.T) {
	ctx := context.Background()
	c, holders := idleFleet(t)
	high := submitHeldRun(t, c, "t1", "high", 2)
	low := submitHeldRun(t, c, "t1", "low", 1)
	if _, err := c.update(ctx, high.ID, func(r *Run, ch *store.Change) error {
		var narrow []Want
		for _, wt := range r.Hold.Wants {
			if wt.Site == "fa" {
				narrow = append(narrow, wt)
			}
		}
		r.Hold.Wants = narrow
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	endHolderAt(t, c, holders, "fb")
	st := admitPass(t, c)
	if st.Admitted != 1 {
		t.Fatalf("pass after fb freed: %+v", st)
	}
	for id, want := range map[string]State{high.ID: Migrating, low.ID: Held} {
		got, err := c.Get(ctx, "t1", id)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != want {
			t.Errorf("run of priority %d: %s, want %s (%s)", got.Priority, got.State, want, got.Reason)
		}
	}
}

// TestPriorityDoesNotCrossTenants: a run's priority orders its own
// tenant's runs only. Two tenants holding as little (the same share) are
// admitted first come, first served, whatever priority the later one
// gives its run; among one tenant's runs the higher priority still goes
// first.
func TestPriorityDoesNotCrossTenants(t *testing.T) {
	ctx := context.Background()
	c, holders := idleFleet(t)
	first := submitHeldRun(t, c, "t1", "first", 0)
	pushy := submitHeldRun(t, c, "t2", "pushy", 1000)
	mine := submitHeldRun(t, c, "t2", "mine", 0)
	holders = endHolderAt(t, c, holders, "fb")
	if st := admitPass(t, c); st.Admitted != 1 {
		t.Fatalf("pass after one run ended: %+v", st)
	}
	for tenant, want := range map[string]map[string]State{"t1": {first.ID: Migrating}, "t2": {pushy.ID: Held, mine.ID: Held}} {
		for id, st := range want {
			got, err := c.Get(ctx, tenant, id)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != st {
				t.Errorf("%s's %s (priority %d): %s, want %s (%s)", tenant, got.Job, got.Priority, got.State, st, got.Reason)
			}
		}
	}
	// Next, t2's runs in the order of their priorities.
	endHolderAt(t, c, holders, "fc")
	if st := admitPass(t, c); st.Admitted != 1 {
		t.Fatalf("second pass: %+v", st)
	}
	if got, err := c.Get(ctx, "t2", pushy.ID); err != nil || got.State != Migrating {
		t.Fatalf("t2's priority 1000 run after the second pass: %+v %v", got, err)
	}
}
