package run

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/local"
	"meridian.dev/meridian/store"
)

// slowCancel is a site's backend whose Cancel needs need to confirm the
// stop: given less by its caller's deadline it runs out of it without
// confirming, as a local site's Cancel still waiting for what the job
// started does; given enough, it cancels. given is the time the last
// Cancel's context left it.
type slowCancel struct {
	backend.Backend
	need  time.Duration
	given *atomic.Int64
}

func (b slowCancel) Cancel(ctx context.Context, h string) error {
	d, ok := ctx.Deadline()
	if ok {
		b.given.Store(int64(time.Until(d)))
		if time.Until(d) < b.need {
			return fmt.Errorf("local cancel: processes the job started still run: %w", context.DeadlineExceeded)
		}
	}
	return b.Backend.Cancel(ctx, h)
}

// TestCancelDuringMoveGivesTheSitesCancelItsWorstCase: the user's cancel
// of a run moving off a site gave the site's Cancel of the attempt it
// leaves 10 s, under a local site's worst case (its grace, then its tree
// wait twice: 23 s at its defaults, which a drain's Cancel is given), so
// a stop the site would have confirmed was said not carried. It is now
// given what a drain's is, and the cancel is confirmed.
func TestCancelDuringMoveGivesTheSitesCancelItsWorstCase(t *testing.T) {
	x := newChangedRunFixture(t)
	var given atomic.Int64
	need := time.Duration(-1)
	c := x.drainControllerOf(func(be backend.Backend) backend.Backend {
		if l, ok := be.(*local.Local); ok {
			need = l.CancelGrace + 2*l.TreeWait
		}
		return slowCancel{Backend: be, need: need, given: &given}
	}, time.Hour)
	if _, err := x.live.update(x.ctx, x.r.ID, func(r *Run, ch *store.Change) error {
		r.Migration = &Migration{From: r.Site, Reason: "test: rule", Drain: true, DrainBy: time.Now().Add(time.Hour)}
		return transition(ch, r, Migrating, "test: leaving alpha")
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := x.live.Cancel(x.ctx, "t1", x.r.ID); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	r := x.get(x.r.ID)
	if r.State != Migrating || !r.CancelRequested {
		t.Fatalf("the run: %s, cancel requested %v; want it moving, cancelled", r.State, r.CancelRequested)
	}
	if _, err := c.cancelMoving(x.ctx, r); err != nil {
		t.Fatalf("cancel while moving: %v", err)
	}
	if need < 0 {
		t.Fatal("alpha's backend is not the local one; the test wants its grace and tree wait")
	}
	if d := time.Duration(given.Load()); d < need {
		t.Errorf("the site's Cancel was given %s, under a local site's worst case (%s)", d.Round(time.Second), need)
	}
	got := x.get(x.r.ID)
	if got.State != Cancelled || strings.Contains(got.Reason, "not carried") {
		t.Errorf("the run: %s (%s); want it cancelled, the stop confirmed", got.State, got.Reason)
	}
}

// TestReplanGivesTheSitesCancelItsWorstCase: a move's re-plan stopped
// the attempt the run leaves with a 5 s bound, inside a local site's
// grace before SIGKILL (its worst case is its grace, then its tree wait
// twice: 23 s at its defaults), so a workload deaf to SIGTERM at a site
// lost for its agent's silence ran on beside the run's next attempt. The
// stop is now given what a drain's is.
func TestReplanGivesTheSitesCancelItsWorstCase(t *testing.T) {
	x := newChangedRunFixture(t)
	var given atomic.Int64
	need := time.Duration(-1)
	c := x.drainControllerOf(func(be backend.Backend) backend.Backend {
		if l, ok := be.(*local.Local); ok {
			need = l.CancelGrace + 2*l.TreeWait
		}
		return slowCancel{Backend: be, need: need, given: &given}
	}, time.Hour)
	if _, err := x.live.update(x.ctx, x.r.ID, func(r *Run, ch *store.Change) error {
		r.Migration = &Migration{From: r.Site, Reason: "test: site lost", LostAt: time.Now()}
		return transition(ch, r, Migrating, "test: leaving alpha")
	}); err != nil {
		t.Fatal(err)
	}
	r := x.get(x.r.ID)
	if r.State != Migrating || r.Migration == nil || r.Migration.Target != nil {
		t.Fatalf("the run: %s, migration %+v; want it moving, no target yet", r.State, r.Migration)
	}
	if _, err := c.replan(x.ctx, r); err != nil {
		t.Logf("replan: %v", err) // where it goes next is not this test's
	}
	if need < 0 {
		t.Fatal("alpha's backend is not the local one; the test wants its grace and tree wait")
	}
	if d := time.Duration(given.Load()); d < need {
		t.Errorf("the site's Cancel was given %s, under a local site's worst case (%s)", d.Round(time.Second), need)
	}
	// The stop was carried: the attempt's job at alpha has ended.
	be, err := c.backendFor(r, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := be.Status(x.ctx, r.Handle); err != nil || !st.State.Final() {
		t.Errorf("the attempt's job at alpha after the re-plan: %s (%v); want it stopped", st.State, err)
	}
}
