package run

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
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
		case <-time.After(10 * time.Second):
			t.Fatalf("re-plan %d still waits for the site's Cancel after 10 s: the stop holds the loop's step", i)
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
