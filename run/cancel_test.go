package run

import (
	"context"
	"testing"
	"time"

	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
)

// TestCancelWaitingRun: a run waiting for room that is cancelled ends
// cancelled at once, without ever being admitted: it takes no room from
// the runs behind it, preempts nothing, and does not wait forever for room
// that never comes.
func TestCancelWaitingRun(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.CatalogDir = "testdata/fleet-sites"
		c.HoldRetry = 50 * time.Millisecond
	})
	ctx := context.Background()
	var long []*Run
	for _, name := range []string{"long-a", "long-b"} {
		r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{pinnedJob(name, 100000, 10)}})
		if err != nil || r.State != Planned {
			t.Fatalf("%s: %+v %v", name, r, err)
		}
		long = append(long, r)
	}
	// Both started before the check below reads them: on a loaded machine
	// the second was still planned, its attempt not yet made.
	for _, r := range long {
		e.waitFor("the long run's first attempt", 60*time.Second, func(r *Run) bool { return r.Attempt >= 1 }, r.ID)
	}
	// A higher priority: were it admitted or allowed to preempt, it would
	// take a long run's place at its checkpoint.
	w, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{pinnedJob("waiting", 20, 10)}, Priority: 5})
	if err != nil || w.State != Held || w.Hold.Wait == "" {
		t.Fatalf("waiting: %+v %v", w, err)
	}
	if _, err := e.c.Cancel(ctx, "t1", w.ID); err != nil {
		t.Fatal(err)
	}
	w = e.waitFor("the waiting run's cancellation", 10*time.Second, func(r *Run) bool { return r.State.Final() }, w.ID)
	if evs, _ := e.c.Events(ctx, "t1", w.ID); w.State != Cancelled || len(w.Attempts) != 0 {
		t.Logf("%v", evs)
		t.Fatalf("waiting run ended %s after %d attempts: %s", w.State, len(w.Attempts), w.Reason)
	}
	if q, err := e.c.Queue(ctx, "t1"); err != nil || len(q) != 0 {
		t.Fatalf("queue after the cancel: %+v %v", q, err)
	}
	for _, r := range long {
		got, err := e.c.Get(ctx, "t1", r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State.Final() || got.State == Migrating || got.Attempt != 1 {
			t.Errorf("%s was disturbed by a cancelled run: %s attempt %d: %s", got.Job, got.State, got.Attempt, got.Reason)
		}
		e.c.Cancel(ctx, "t1", r.ID)
	}
	for _, r := range long {
		e.waitFor("the end", 30*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	}
}

// TestCancelRunHeldByLaw: a run the law holds (no lawful place anywhere)
// that is cancelled ends cancelled, rather than staying held until the law
// changes.
func TestCancelRunHeldByLaw(t *testing.T) {
	e, rs := lawEnv(t, func(c *Config) { c.HoldRetry = 50 * time.Millisecond })
	ctx := context.Background()
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(100000, 10)}})
	if err != nil {
		t.Fatal(err)
	}
	e.waitFor("running", 30*time.Second, func(r *Run) bool { return r.State == Running || r.State == Checkpointed }, r.ID)
	both := []policy.File{denyPack("test-no-sg", "SG", "2020-01-01"), denyPack("test-no-my", "MY", "2020-01-01")}
	if _, _, err := rs.Apply(ctx, rules.Change{Files: both}, "admin", "test: close both", time.Now()); err != nil {
		t.Fatal(err)
	}
	e.c.Nudge()
	e.waitFor("held", 30*time.Second, func(r *Run) bool { return r.State == Held }, r.ID)
	if _, err := e.c.Cancel(ctx, "t1", r.ID); err != nil {
		t.Fatal(err)
	}
	r = e.waitFor("the cancellation", 10*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	if r.State != Cancelled {
		t.Fatalf("held run ended %s: %s", r.State, r.Reason)
	}
}
