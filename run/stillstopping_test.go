package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/internal/syncbuf"
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
	// Its grace long past (no server led meanwhile): the bound counts from
	// the first answer that the job is still ending, not from the grace.
	done, unconfirmed, err := c.draining(x.ctx, r)
	if done || err != nil {
		t.Fatalf("a drain asked first past its bound, its job still ending: over %v (%q), error %v; want not over, no error", done, unconfirmed, err)
	}
	k := drainStoppingKey(attemptKey(r.ID, r.Attempt))
	c.mu.Lock()
	c.drainFails[k] = time.Now().Add(-c.drainStoppingBound() - time.Minute)
	c.mu.Unlock()
	done, unconfirmed, err = c.draining(x.ctx, r)
	if !done || err != nil || !strings.Contains(unconfirmed, "still stopping") || !strings.Contains(unconfirmed, "still ending") || strings.Contains(unconfirmed, "did not confirm") {
		t.Fatalf("a drain past its bound, its job still ending: over %v (%q), error %v; want over, saying the job was still ending (still stopping)", done, unconfirmed, err)
	}
	c.mu.Lock()
	_, kept := c.drainFails[k]
	c.mu.Unlock()
	if kept {
		t.Errorf("the drain over, when its job was first still ending is still kept")
	}
	// A drain with no grace on record (DrainBy zero) counts from now.
	r = x.drainingRun()
	r.Migration.DrainBy = time.Time{}
	if done, unconfirmed, err := c.draining(x.ctx, r); done || err != nil {
		t.Fatalf("a drain with no grace, its job still ending: over %v (%q), error %v; want not over, no error", done, unconfirmed, err)
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
	g.wire(t)
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
		if said, recs := (&leftStopRig{x: x}).leftStops(); len(said) != 0 || len(recs) != 0 {
			t.Errorf("beside the loop %v: left-stop events %q, records %v; want none, the stop confirmed", beside, said, recs)
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
	// The stop's end is kept all the same, in the audit log: the job may
	// run on there.
	said, recs := (&leftStopRig{x: x}).leftStops()
	if len(recs) != 1 || recs[0]["outcome"] != leftStopStillStopping || recs[0]["error"] != "still stopping" || recs[0]["tries"].(float64) < 2 {
		t.Errorf("the run's left-stop audit records: %v; want one, %q, its error \"still stopping\", after its tries", recs, leftStopStillStopping)
	}
	if len(said) != 1 || !strings.Contains(said[0], "still ending when last asked") {
		t.Errorf("the run's left-stop events: %q; want one saying the job was still ending when last asked", said)
	}
}

// countingStops is a site's backend whose Cancel answers its first
// stopping calls that the job is still ending (backend.ErrStopping), its
// next failed ones that it failed, then as the site does; calls counts
// every Cancel.
type countingStops struct {
	backend.Backend
	calls             *atomic.Int64
	stopping, failing int64
}

func (b countingStops) Cancel(ctx context.Context, h string) error {
	switch n := b.calls.Add(1); {
	case n <= b.stopping:
		return fmt.Errorf("slurm cancel %s: the job was asked to end: %w", h, backend.ErrStopping)
	case n <= b.stopping+b.failing:
		return errors.New("slurm cancel: the controller did not answer")
	}
	return b.Backend.Cancel(ctx, h)
}

// countingCancelRig is x's controller, whose site alpha answers as
// countingStops does, its retries' clock at *now (under mu).
func (x *changedRunFixture) countingCancelRig(calls *atomic.Int64, stopping, failing int64, mu *sync.Mutex, now *time.Time) *Controller {
	c := x.drainControllerOf(func(be backend.Backend) backend.Backend {
		return countingStops{Backend: be, calls: calls, stopping: stopping, failing: failing}
	}, time.Minute)
	c.cancelRetries.now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return *now
	}
	return c
}

// TestCancelWhileMovingOfAJobStillEndingAsksOnSchedule: the cancel of a
// moving run whose site said its job was still ending took its stop as not
// yet sent at every step, and sent a Cancel about once a tick (some 600 in
// the stop's window), each holding a slot of the site. It is asked again
// only once due, on its retries' schedule.
func TestCancelWhileMovingOfAJobStillEndingAsksOnSchedule(t *testing.T) {
	for _, beside := range []bool{false, true} {
		x := newChangedRunFixture(t)
		var calls atomic.Int64
		var mu sync.Mutex
		now := time.Now()
		c := x.countingCancelRig(&calls, 1<<30, 0, &mu, &now)
		ctx := x.ctx
		steps := &loopSteps{ctx: x.ctx}
		t.Cleanup(steps.wg.Wait)
		if beside {
			ctx = context.WithValue(x.ctx, longStepsKey{}, steps)
		}
		r := x.movingCancelled()
		step := func() {
			t.Helper()
			if done, err := c.cancelMoving(ctx, r); done || err != nil {
				t.Fatalf("beside the loop %v: cancel while moving, its job still ending: over %v, error %v; want it waiting", beside, done, err)
			}
			steps.wg.Wait()
		}
		for range 10 {
			step()
		}
		if n := calls.Load(); n != 1 {
			t.Fatalf("beside the loop %v: %d Cancels over 10 steps, the clock still; want 1", beside, n)
		}
		mu.Lock()
		now = now.Add(cancelRetryWait(1))
		mu.Unlock()
		for range 10 {
			step()
		}
		if n := calls.Load(); n != 2 {
			t.Errorf("beside the loop %v: %d Cancels once the next try was due; want 2", beside, n)
		}
	}
}

// TestLeftStopFailedThenStillEndingIsGivenUp: a stop whose site failed a
// try and then said the job was still ending was recorded still-stopping
// at the end of its window, as if every try had been taken: only the last
// was. It is given up.
func TestLeftStopFailedThenStillEndingIsGivenUp(t *testing.T) {
	x := newChangedRunFixture(t)
	var calls atomic.Int64
	// The first try (the re-plan's) is taken; the second fails; the rest
	// are taken again, the job still ending.
	g := &leftStopRig{x: x, now: time.Now()}
	g.c = x.drainControllerOf(func(be backend.Backend) backend.Backend {
		return failingOnce{Backend: be, calls: &calls, fail: 2}
	}, time.Minute)
	g.wire(t)
	g.replanned()
	for range 100 {
		g.advance(time.Minute)
		g.c.retryLeftStops(g.ctx)
		g.steps.wg.Wait()
	}
	if calls.Load() < 3 {
		t.Fatalf("%d Cancels; want the stop asked again after its failed try", calls.Load())
	}
	_, recs := g.leftStops()
	if len(recs) != 2 || recs[1]["outcome"] != leftStopGivenUp {
		t.Fatalf("the run's left-stop audit records: %v; want the second %q, a try of the window having failed", recs, leftStopGivenUp)
	}
}

// failingOnce is a site's backend whose Cancel fails its fail-th call
// and answers every other that the job is still ending.
type failingOnce struct {
	backend.Backend
	calls *atomic.Int64
	fail  int64
}

func (b failingOnce) Cancel(_ context.Context, h string) error {
	if b.calls.Add(1) == b.fail {
		return errors.New("slurm cancel: the controller did not answer")
	}
	return fmt.Errorf("slurm cancel %s: the job was asked to end: %w", h, backend.ErrStopping)
}

// TestCancelWhileMovingNotCarriedAfterTriesSaysThem: a moving run's cancel
// whose site said the job was still ending, then failed the stop, was said
// not carried after one try, within the try's bound: its tries, and the
// time since the first, are said.
func TestCancelWhileMovingNotCarriedAfterTriesSaysThem(t *testing.T) {
	x := newChangedRunFixture(t)
	var calls atomic.Int64
	var mu sync.Mutex
	now := time.Now()
	c := x.countingCancelRig(&calls, 2, 1<<30, &mu, &now)
	r := x.movingCancelled()
	for i := 0; ; i++ {
		done, err := c.cancelMoving(x.ctx, r)
		if err != nil {
			t.Fatalf("cancel while moving: %v", err)
		}
		if done {
			break
		}
		if i > 50 {
			t.Fatalf("the cancel did not end")
		}
		mu.Lock()
		now = now.Add(time.Minute)
		mu.Unlock()
	}
	rows, err := x.f.st.DB().QueryContext(x.ctx, `SELECT payload FROM audit WHERE run_id = ? AND kind = ?`, x.r.ID, KindCancelNotCarried)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var recs []map[string]any
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0]["tries"] != float64(3) || recs[0]["seconds"].(float64) < 120 {
		t.Errorf("the cancel-not-carried records: %v; want one, of 3 tries over at least 2 minutes", recs)
	}
}

// TestStillEndingIsNotLoggedAsSiteFailure: a site's answer that it took
// a stop, the job still ending, was logged at Warn as a site failure
// (loggedClass) where a drain or a left stop said it to the run. It is no
// failure: logged at Info.
func TestStillEndingIsNotLoggedAsSiteFailure(t *testing.T) {
	var logged syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))

	x := newChangedRunFixture(t)
	var left atomic.Int64
	left.Store(1 << 30)
	c := x.stoppingDrain(&left, time.Hour)
	c.cfg.Logger = log
	r := x.drainingRun()
	r.Migration.DrainBy = time.Now().Add(-c.drainStoppingBound() - time.Minute)
	// Asked again, the first answer of still ending past the bound, until
	// the drain is over saying so.
	for i := 0; ; i++ {
		done, _, err := c.draining(x.ctx, r)
		if err != nil || (!done && i > 0) {
			t.Fatalf("drain step %d: over %v, error %v; want over past its bound", i+1, done, err)
		}
		if done {
			break
		}
		c.mu.Lock()
		c.drainFails[drainStoppingKey(attemptKey(r.ID, r.Attempt))] = time.Now().Add(-c.drainStoppingBound() - time.Minute)
		c.mu.Unlock()
	}

	g, _ := newStoppingLeftRig(t, 1<<30)
	g.c.cfg.Logger = log
	g.replanned()
	for range 100 {
		g.advance(time.Minute)
		g.c.retryLeftStops(g.ctx)
		g.steps.wg.Wait()
	}
	out := logged.String()
	if !strings.Contains(out, "still ending") {
		t.Fatalf("the log: %s; want the job said still ending", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, "site failure") {
			t.Errorf("logged at Warn: %s", line)
		}
	}
}
