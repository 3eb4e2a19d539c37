package run

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
)

// stoppingCancel is a site's backend whose Cancel answers, as a Slurm
// site's does for a job that traps SIGTERM to write its last checkpoint,
// that the job is still ending (backend.ErrStopping, its wait's deadline
// passed) for its first left calls, and then that it ended.
type stoppingCancel struct {
	backend.Backend
	left *atomic.Int64
}

func (b stoppingCancel) Cancel(ctx context.Context, h string) error {
	if b.left.Add(-1) >= 0 {
		return fmt.Errorf("slurm cancel %s: the job was asked to end (state COMPLETING when last seen): %w: %w", h, backend.ErrStopping, context.DeadlineExceeded)
	}
	return b.Backend.Cancel(ctx, h)
}

// blockingCancel is a site's backend whose Cancel answers nothing until
// its context ends, as a site that does not answer; it records the
// longest bound its first two calls (the monitor's, before the site is
// lost) were given.
type blockingCancel struct {
	backend.Backend
	calls, bound *atomic.Int64
}

func (b blockingCancel) Cancel(ctx context.Context, _ string) error {
	if d, ok := ctx.Deadline(); ok && b.calls.Add(1) <= 2 {
		if n := int64(time.Until(d)); n > b.bound.Load() {
			b.bound.Store(n)
		}
	}
	<-ctx.Done()
	return ctx.Err()
}

// TestCancelOfAJobStillEndingKeepsTheSite: a site whose Cancel waits for
// the job to end answers, for a job that traps SIGTERM to seal and push
// its last checkpoint, that the job is still ending: a normal, slow
// cancel. It was counted as the site unreachable, and past the site
// timeout the site was lost. The run now stays cancelling, is asked again
// at later steps, and ends cancelled with its site not lost.
func TestCancelOfAJobStillEndingKeepsTheSite(t *testing.T) {
	x := newChangedRunFixture(t)
	if _, err := x.live.Cancel(x.ctx, "t1", x.r.ID); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	var left atomic.Int64
	left.Store(3)
	c := x.cancelController(func(be backend.Backend) backend.Backend { return stoppingCancel{Backend: be, left: &left} })
	got := x.stepToEnd(c, 20)
	if got.State != Cancelled || !strings.HasPrefix(got.Reason, "cancelled by the user") || strings.Contains(got.Reason, "moving") {
		t.Errorf("the run: %s (%s); want it cancelled by the user, not while moving", got.State, got.Reason)
	}
	if _, lost := got.Losses["alpha"]; lost || len(got.Excluded) != 0 {
		t.Errorf("the run's losses %v, excluded %v; want alpha not lost for a job still ending", got.Losses, got.Excluded)
	}
	if n := left.Load(); n >= 0 {
		t.Errorf("the run ended before its site said the job ended (%d answers of still ending left)", n+1)
	}
	if faultClass(fmt.Errorf("cancel: %w", stillEnding)) != "still stopping" {
		t.Errorf("a cancel still ending is classed %q; want \"still stopping\"", faultClass(stillEnding))
	}
}

var stillEnding = fmt.Errorf("%w: %w", backend.ErrStopping, context.DeadlineExceeded)

// TestCancelOfASiteNotAnsweringLosesIt: a site's Cancel that answers
// nothing was given the step's whole minute, which held a worker that
// long at each step; the site timeout then lost the site on the ended
// context, the update failed, the count of its silence started over, and
// the run was never lost nor cancelled. The Cancel now has its own short
// bound, and the site is lost (and the run cancelled). The steps run as
// the loop runs them: the stop of the lost site's job, which has its own
// bound (drainCancelWait) above a step's here, is sent beside the steps,
// and the step after its end takes its result.
func TestCancelOfASiteNotAnsweringLosesIt(t *testing.T) {
	x := newChangedRunFixture(t)
	if _, err := x.live.Cancel(x.ctx, "t1", x.r.ID); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	var calls, bound atomic.Int64
	c := x.cancelController(func(be backend.Backend) backend.Backend {
		return blockingCancel{Backend: be, calls: &calls, bound: &bound}
	})
	c.cancelWait = 100 * time.Millisecond
	term, steps, endTerm := endingTerm(t, x.ctx)
	defer endTerm()
	var got *Run
	for i := range 20 {
		// A step's own bound, shorter than the test's, stands for the
		// step's minute.
		ctx, cancel := context.WithTimeout(term, 2*time.Second)
		if _, err := c.Step(ctx, x.r.ID); err != nil {
			t.Logf("step %d: %v", i, err)
		}
		cancel()
		if got = x.get(x.r.ID); got.State.Final() {
			break
		}
		// What the step sent beside it (the stop) has ended: the next
		// step takes its result.
		steps.wg.Wait()
	}
	if !got.State.Final() {
		t.Fatalf("after 20 steps the run is %s (%s); want it ended, its site lost", got.State, got.Reason)
	}
	if got.State != Cancelled {
		t.Errorf("the run: %s (%s); want it cancelled", got.State, got.Reason)
	}
	if _, lost := got.Losses["alpha"]; !lost {
		t.Errorf("the run's losses %v; want alpha lost", got.Losses)
	}
	if b := time.Duration(bound.Load()); b > time.Second {
		t.Errorf("the monitor's Cancel was given %s; want at most its own bound, not the step's", b)
	}
}
