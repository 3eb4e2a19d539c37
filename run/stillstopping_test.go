package run

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
)

// stoppingDrain is x's controller whose site alpha answers its first left
// Cancels that the job is still ending (stoppingCancel), with the site
// timeout given.
func (x *changedRunFixture) stoppingDrain(left *atomic.Int64, siteTimeout time.Duration) *Controller {
	return x.drainControllerOf(func(be backend.Backend) backend.Backend { return stoppingCancel{Backend: be, left: left} }, siteTimeout)
}

// TestDrainOfAJobStillEndingGoesOnUntilItEnds: a drain whose Cancel its
// site took, the job still ending (it traps SIGTERM and pushes its last
// checkpoint), counted that answer as a failed Cancel: past the site
// timeout the drain was over "not confirmed", and the move went ahead
// while the old attempt still wrote its checkpoint. The site answered: the
// drain now goes on, no error and no failure counted, until the site says
// the job ended, and is then over, confirmed.
func TestDrainOfAJobStillEndingGoesOnUntilItEnds(t *testing.T) {
	x := newChangedRunFixture(t)
	var left atomic.Int64
	left.Store(3)
	c := x.stoppingDrain(&left, time.Nanosecond)
	r := x.drainingRun()
	for i := range 3 {
		done, unconfirmed, err := c.draining(x.ctx, r)
		if done || err != nil {
			t.Fatalf("drain step %d, its job still ending: over %v (%q), error %v; want not over, no error", i+1, done, unconfirmed, err)
		}
	}
	done, unconfirmed, err := c.draining(x.ctx, r)
	if !done || unconfirmed != "" || err != nil {
		t.Fatalf("drain step 4, its site saying the job ended: over %v (%q), error %v; want over, confirmed", done, unconfirmed, err)
	}
	if n := left.Load(); n >= 0 {
		t.Errorf("the drain was over before its site said the job ended (%d answers of still ending left)", n+1)
	}
}

// TestDrainOfAJobStillEndingPastItsBoundSaysSo: a drain whose job is
// still ending past the drain's own bound (drainStoppingBound) is over,
// saying the job was still ending: not that its site did not confirm the
// stop.
func TestDrainOfAJobStillEndingPastItsBoundSaysSo(t *testing.T) {
	x := newChangedRunFixture(t)
	var left atomic.Int64
	left.Store(1 << 30)
	c := x.stoppingDrain(&left, time.Hour)
	r := x.drainingRun()
	r.Migration.DrainBy = time.Now().Add(-c.drainStoppingBound() - time.Minute)
	done, unconfirmed, err := c.draining(x.ctx, r)
	if !done || err != nil || !strings.Contains(unconfirmed, "still stopping") || !strings.Contains(unconfirmed, "still ending") || strings.Contains(unconfirmed, "did not confirm") {
		t.Fatalf("a drain past its bound, its job still ending: over %v (%q), error %v; want over, saying the job was still ending (still stopping)", done, unconfirmed, err)
	}
}

// stoppingLeftRig is a leftStopRig whose site alpha answers its first
// left Cancels that the job is still ending.
func newStoppingLeftRig(t *testing.T, left int64) (*leftStopRig, *atomic.Int64) {
	x := newChangedRunFixture(t)
	var n atomic.Int64
	n.Store(left)
	g := &leftStopRig{x: x, now: time.Now()}
	g.c = x.stoppingDrain(&n, time.Minute)
	g.c.cancelRetries.now = func() time.Time {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.now
	}
	g.steps = &loopSteps{ctx: x.ctx}
	g.ctx = context.WithValue(x.ctx, longStepsKey{}, g.steps)
	t.Cleanup(g.steps.wg.Wait)
	return g, &n
}

// TestLeftStopOfAJobStillEndingIsNoFailure: the stop of the attempt a
// run leaves, its site taking it and saying the job is still ending, was
// recorded "not confirmed" (and, at the end of its window, "given up"),
// as if the site had failed. It is now recorded as still stopping, asked
// again, and confirmed once the site says the job ended.
func TestLeftStopOfAJobStillEndingIsNoFailure(t *testing.T) {
	g, left := newStoppingLeftRig(t, 3)
	g.replanned()
	for i := 0; i < 50 && left.Load() >= 0; i++ {
		g.advance(time.Minute)
		g.c.retryLeftStops(g.ctx)
		g.steps.wg.Wait()
	}
	said, recs := g.leftStops()
	if len(recs) != 2 || recs[0]["outcome"] != leftStopStopping || recs[1]["outcome"] != leftStopped || recs[1]["tries"] != float64(4) {
		t.Fatalf("the run's left-stop audit records: %v; want %q, then %q at try 4", recs, leftStopStopping, leftStopped)
	}
	if len(said) != 2 || !strings.Contains(said[0], "still stopping") || strings.Contains(said[0], "not confirm") || !strings.Contains(said[1], "confirmed the stop at its try 4") {
		t.Errorf("the run's left-stop events: %q; want the job said still stopping, then stopped at try 4", said)
	}
}

// TestLeftStopOfAJobStillEndingPastItsWindowSaysSo: a stop whose job is
// still ending when its window ends is over, recorded as still stopping,
// not given up.
func TestLeftStopOfAJobStillEndingPastItsWindowSaysSo(t *testing.T) {
	g, _ := newStoppingLeftRig(t, 1<<30)
	g.replanned()
	for i := 0; i < 100; i++ {
		g.advance(time.Minute)
		g.c.retryLeftStops(g.ctx)
		g.steps.wg.Wait()
	}
	said, recs := g.leftStops()
	if len(recs) != 2 || recs[1]["outcome"] != leftStopStillStopping || recs[1]["error"] != "still stopping" {
		t.Fatalf("the run's left-stop audit records: %v; want the second %q, its error \"still stopping\"", recs, leftStopStillStopping)
	}
	if len(said) != 2 || !strings.Contains(said[1], "still ending when last asked") || strings.Contains(said[1], "never confirmed") {
		t.Errorf("the run's left-stop events: %q; want the second saying the job was still ending when last asked", said)
	}
}

// cancelMovingStopping cancels x's run while it moves off alpha, whose
// site answers its first left Cancels that the job is still ending, and
// calls cancelMoving, the clock of its retries moved a minute between
// calls, until the run ends (at most n calls): under the loop (its stops
// sent beside it, each waited for before the next call) where beside is
// set, else in the call.
func (x *changedRunFixture) cancelMovingStopping(left *atomic.Int64, n int, beside bool) *Run {
	x.t.Helper()
	c := x.stoppingDrain(left, time.Minute)
	var mu sync.Mutex
	now := time.Now()
	c.cancelRetries.now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	ctx := x.ctx
	steps := &loopSteps{ctx: x.ctx}
	x.t.Cleanup(steps.wg.Wait)
	if beside {
		ctx = context.WithValue(x.ctx, longStepsKey{}, steps)
	}
	r := x.movingCancelled()
	for range n {
		done, err := c.cancelMoving(ctx, r)
		if err != nil {
			x.t.Fatalf("cancel while moving: %v", err)
		}
		if done {
			break
		}
		steps.wg.Wait()
		mu.Lock()
		now = now.Add(time.Minute)
		mu.Unlock()
	}
	got := x.get(x.r.ID)
	if got.State != Cancelled {
		x.t.Fatalf("the run after %d steps of its cancel: %s (%s); want it cancelled", n, got.State, got.Reason)
	}
	return got
}

// TestCancelWhileMovingOfAJobStillEndingIsCarried: the last stop of a
// cancelled moving run's attempt, its site taking it and saying the job
// is still ending, was said "not carried" at once, with a cancel-not-
// carried audit record, as if the site had refused it. The site is now
// asked again until it says the job ended, and the cancel ends confirmed.
func TestCancelWhileMovingOfAJobStillEndingIsCarried(t *testing.T) {
	for _, beside := range []bool{false, true} {
		x := newChangedRunFixture(t)
		var left atomic.Int64
		left.Store(3)
		got := x.cancelMovingStopping(&left, 20, beside)
		if strings.Contains(got.Reason, "not carried") || strings.Contains(got.Reason, "still ending") {
			t.Errorf("beside the loop %v: the run: %s (%s); want it cancelled, its stop confirmed", beside, got.State, got.Reason)
		}
		if n := left.Load(); n >= 0 {
			t.Errorf("beside the loop %v: the cancel ended before its site said the job ended (%d answers of still ending left)", beside, n+1)
		}
		if recs, evs := x.cancelRefusedRecords(); recs != 0 || evs != 0 {
			t.Errorf("beside the loop %v: %d audit records and %d events of the cancel not carried; want none", beside, recs, evs)
		}
	}
}

// TestCancelWhileMovingOfAJobStillEndingPastItsWindowSaysSo: a job still
// ending when the stop's window ends leaves the run cancelled, saying the
// job was still ending (still stopping), not that the cancel was not
// carried.
func TestCancelWhileMovingOfAJobStillEndingPastItsWindowSaysSo(t *testing.T) {
	x := newChangedRunFixture(t)
	var left atomic.Int64
	left.Store(1 << 30)
	got := x.cancelMovingStopping(&left, 30, true)
	if strings.Contains(got.Reason, "not carried") || !strings.Contains(got.Reason, "still ending when last asked") || !strings.Contains(got.Reason, "still stopping") {
		t.Errorf("the run: %s (%s); want it cancelled, saying its job was still ending (still stopping)", got.State, got.Reason)
	}
	if recs, evs := x.cancelRefusedRecords(); recs != 0 || evs != 0 {
		t.Errorf("%d audit records and %d events of the cancel not carried; want none", recs, evs)
	}
}
