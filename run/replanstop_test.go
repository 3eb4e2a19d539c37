package run

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/store"
)

// heldCancel is a site's backend whose Cancel waits until released (or
// its caller's deadline): a site that does not answer for a while.
type heldCancel struct {
	backend.Backend
	calls   *atomic.Int64
	release chan struct{}
}

func (b heldCancel) Cancel(ctx context.Context, h string) error {
	b.calls.Add(1)
	select {
	case <-b.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return b.Backend.Cancel(ctx, h)
}

// TestReplanStopsTheAttemptItLeavesOnceBesideTheLoop: a move's re-plan
// sent the site it leaves a Cancel of the attempt, given 30 s, before it
// asked whether the law was loaded: a re-plan that then failed was tried
// again at the next tick and sent the 30 s Cancel again, each time inside
// a Tick worker, whose page of runs waited for it (a lost site's runs all
// re-plan together). The stop is now sent once per attempt, beside the
// loop: the re-plan goes on at once, and tried again sends no Cancel.
func TestReplanStopsTheAttemptItLeavesOnceBesideTheLoop(t *testing.T) {
	x := newChangedRunFixture(t)
	var calls atomic.Int64
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	defer free()
	c := x.drainControllerOf(func(be backend.Backend) backend.Backend {
		return heldCancel{Backend: be, calls: &calls, release: release}
	}, time.Hour)
	behind := errors.New("test: rules revision 9 does not load here")
	c.cfg.LawNow = func() LawNow { return LawNow{Law: c.cfg.Law, Behind: behind} }
	if _, err := x.live.update(x.ctx, x.r.ID, func(r *Run, ch *store.Change) error {
		r.Migration = &Migration{From: r.Site, Reason: "test: site lost", LostAt: time.Now()}
		return transition(ch, r, Migrating, "test: leaving alpha")
	}); err != nil {
		t.Fatal(err)
	}
	// The loop's context, as Tick's steps have it.
	steps := &loopSteps{ctx: x.ctx}
	ctx := context.WithValue(x.ctx, longStepsKey{}, steps)
	// A failure below leaves no stop running after the test.
	defer func() { free(); steps.wg.Wait() }()
	for i := 1; i <= 2; i++ {
		r := x.get(x.r.ID)
		if r.State != Migrating || r.Migration == nil || r.Migration.Target != nil {
			t.Fatalf("the run before re-plan %d: %s, migration %+v; want it moving, no target yet", i, r.State, r.Migration)
		}
		done := make(chan error, 1)
		go func() {
			_, err := c.replan(ctx, r)
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), behind.Error()) {
				t.Fatalf("re-plan %d: %v; want it not judged, the law not loaded", i, err)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("re-plan %d still waits for the site's Cancel after 60 s: the stop holds the loop's step", i)
		}
	}
	free()
	steps.wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Errorf("%d cancels reached the site for two re-plans of one attempt; want 1", n)
	}
	// The one stop was carried: the attempt's job at alpha has ended.
	r := x.get(x.r.ID)
	be, err := c.backendFor(r, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := be.Status(x.ctx, r.Handle); err != nil || !st.State.Final() {
		t.Errorf("the attempt's job at alpha after the re-plans: %s (%v); want it stopped", st.State, err)
	}
}

// movedWhileFinding is a site's backend that finds the job of any attempt
// asked as handle, and, before it answers, lets moved run: the run moves
// on while the find is out (a re-plan's stop beside the loop).
type movedWhileFinding struct {
	backend.Backend
	handle string
	moved  func()
}

func (f movedWhileFinding) Find(context.Context, string, int) (string, bool, error) {
	f.moved()
	return f.handle, true, nil
}

// TestFoundJobRecordedAfterTheRunMovedOn: a re-plan's stop finds the job
// of the attempt the run leaves beside the loop, for up to 30 s, while the
// next tick may move the run to its next attempt. recordFound checked the
// run's current attempt and site, and dropped the handle the site reported
// once the run had moved: the event and the handle the attempt's cleanup
// needs were lost. It now checks the attempt's own entry.
func TestFoundJobRecordedAfterTheRunMovedOn(t *testing.T) {
	x := newChangedRunFixture(t)
	want := x.r.Handle
	if _, err := x.live.update(x.ctx, x.r.ID, func(r *Run, ch *store.Change) error {
		r.Handle = ""
		for i := range r.Attempts {
			r.Attempts[i].Handle = ""
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	left := x.get(x.r.ID)
	n := left.Attempt
	moved := func() {
		if _, err := x.live.update(x.ctx, x.r.ID, func(r *Run, ch *store.Change) error {
			r.Attempt++
			r.Site = "bravo"
			r.Attempts = append(r.Attempts, Attempt{N: r.Attempt, Site: "bravo"})
			return nil
		}); err != nil {
			t.Errorf("move the run on: %v", err)
		}
	}
	c := x.drainControllerOf(func(be backend.Backend) backend.Backend {
		return movedWhileFinding{Backend: be, handle: want, moved: moved}
	}, time.Hour)
	if h, err := c.stopAttempt(x.ctx, left, time.Minute); h != want || err != nil {
		t.Fatalf("the stop: handle %q, %v; want the job found, %q, stopped", h, err, want)
	}
	got := x.get(x.r.ID)
	if got.Attempt != n+1 {
		t.Fatalf("the run is at attempt %d; the test wants it moved on to %d", got.Attempt, n+1)
	}
	for _, a := range got.Attempts {
		if a.N == n && a.Handle != want {
			t.Errorf("attempt %d's handle after the run moved on: %q; want the one found at alpha, %q", n, a.Handle, want)
		}
		if a.N == n+1 && a.Handle != "" {
			t.Errorf("attempt %d (at bravo) was given handle %q; want none", a.N, a.Handle)
		}
	}
	evs, err := x.live.Events(x.ctx, "t1", x.r.ID)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range evs {
		found = found || e.Kind == "attempt-found" && strings.Contains(e.Reason, "as "+want)
	}
	if !found {
		t.Errorf("no attempt-found event names the job found at alpha")
	}
}

// heldStops is a controller whose sites' Cancels (every site's) wait until the returned
// release (or their deadline), and a context of the loop's steps; the
// test ends after every stop sent beside it.
func (x *changedRunFixture) heldStops(calls *atomic.Int64) (*Controller, context.Context, *loopSteps, func()) {
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	c := x.f.controller(func(cfg *Config) {
		cfg.Store, cfg.AuditChain = x.f.st, audit.NewChain(testAuditKey)
		cfg.SiteTimeout = time.Hour
		cfg.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
			be, err := backend.For(site.Spec.Backend, root)
			if err != nil {
				return nil, err
			}
			return heldCancel{Backend: be, calls: calls, release: release}, nil
		}
		agentConfig(x.t, cfg, func() *Controller { return x.live })
	})
	steps := &loopSteps{ctx: x.ctx}
	x.t.Cleanup(func() { free(); steps.wg.Wait() })
	return c, context.WithValue(x.ctx, longStepsKey{}, steps), steps, free
}

// leaving puts x's run moving off alpha, its target not chosen yet.
func (x *changedRunFixture) leaving() *Run {
	x.t.Helper()
	if _, err := x.live.update(x.ctx, x.r.ID, func(r *Run, ch *store.Change) error {
		r.Migration = &Migration{From: r.Site, Reason: "test: site lost", LostAt: time.Now()}
		return transition(ch, r, Migrating, "test: leaving alpha")
	}); err != nil {
		x.t.Fatal(err)
	}
	return x.get(x.r.ID)
}

// TestMoveWaitsForTheStopOfTheAttemptItLeaves: the stop a re-plan sends
// the site a run leaves runs beside the loop, and the next tick's move
// started the run's next attempt while that stop was still out: its job
// could run on beside the next attempt, and a job it found was recorded
// after the run had moved on. The move now waits while the stop is in
// flight (at most its bound), and goes on once it ended.
func TestMoveWaitsForTheStopOfTheAttemptItLeaves(t *testing.T) {
	x := newChangedRunFixture(t)
	var calls atomic.Int64
	c, ctx, steps, free := x.heldStops(&calls)
	r := x.leaving()
	n := r.Attempt
	if _, err := c.migrate(ctx, r); err != nil {
		t.Fatalf("re-plan: %v", err)
	}
	r = x.get(x.r.ID)
	if r.State != Migrating || r.Migration == nil || r.Migration.Target == nil {
		t.Fatalf("the run after its re-plan: %s (%s), migration %+v; the test wants it moving, its target chosen", r.State, r.Reason, r.Migration)
	}
	for i := 1; i <= 2; i++ {
		if _, err := c.migrate(ctx, x.get(x.r.ID)); err != nil {
			t.Fatalf("move step %d: %v", i, err)
		}
		if got := x.get(x.r.ID); got.Attempt != n || got.State != Migrating {
			t.Fatalf("move step %d while the stop of attempt %d is out: the run is %s at attempt %d (%s); want it waiting, still leaving attempt %d", i, n, got.State, got.Attempt, got.Reason, n)
		}
	}
	// The stop is out at alpha, its Cancel held.
	for deadline := time.Now().Add(60 * time.Second); calls.Load() < 1; {
		if time.Now().After(deadline) {
			t.Fatalf("the re-plan's stop did not reach alpha's Cancel in 60 s; want it sent")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := x.get(x.r.ID); got.Attempt != n {
		t.Fatalf("the run moved on to attempt %d while the stop of attempt %d was out at alpha; want it waiting", got.Attempt, n)
	}
	if calls.Load() != 1 {
		t.Errorf("%d cancels reached alpha; want 1", calls.Load())
	}
	free()
	steps.wg.Wait()
	for range 5 {
		if got := x.get(x.r.ID); got.Attempt != n || got.State != Migrating {
			break
		}
		if _, err := c.migrate(ctx, x.get(x.r.ID)); err != nil {
			t.Fatalf("move step after the stop: %v", err)
		}
	}
	if got := x.get(x.r.ID); got.Attempt != n+1 {
		t.Errorf("the run after the stop ended: %s at attempt %d (%s); want it moved on to attempt %d", got.State, got.Attempt, got.Reason, n+1)
	}
}

// TestReplanNotHeldByAnotherSitesStops: the stops re-plans send beside the
// loop were capped for the whole fleet: one site that does not answer
// held every slot, and every other site's re-plan waited, silently. The
// cap is now by site: bravo's held stops fill bravo's slots only, and a
// run leaving alpha re-plans at once.
func TestReplanNotHeldByAnotherSitesStops(t *testing.T) {
	x := newChangedRunFixture(t)
	var calls atomic.Int64
	c, ctx, steps, free := x.heldStops(&calls)
	r := x.leaving()
	// Stops of attempts that ran at bravo, its Cancels held: all its
	// slots taken (stopLeft takes the slot before it returns).
	for i := range maxLeftStops {
		at := *r
		at.Site, at.Attempt = "bravo", 1000+i
		if !c.stopLeft(ctx, &at) {
			t.Fatalf("stop %d of an attempt at bravo was held; want %d let run", i+1, maxLeftStops)
		}
	}
	at := *r
	at.Site, at.Attempt = "bravo", 2000
	if c.stopLeft(ctx, &at) {
		t.Errorf("one more stop of an attempt at bravo was let run with %d in flight there; want it to wait", maxLeftStops)
	}
	if _, err := c.migrate(ctx, r); err != nil {
		t.Fatalf("re-plan: %v", err)
	}
	if got := x.get(x.r.ID); got.Migration == nil || got.Migration.Target == nil {
		t.Errorf("the run leaving alpha after its re-plan: %s (%s), migration %+v; want its target chosen, not held by bravo's stops", got.State, got.Reason, got.Migration)
	}
	// Every stop let run reached its site's Cancel, the one held back
	// none: bravo's maxLeftStops, and the re-plan's own at alpha.
	free()
	steps.wg.Wait()
	if n := calls.Load(); n != maxLeftStops+1 {
		t.Errorf("%d cancels reached the sites; want %d (bravo's %d let run, and alpha's), the stop held back sent none", n, maxLeftStops+1, maxLeftStops)
	}
}
