package run

import (
	"context"
	"errors"
	"fmt"
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
	// Its answers come within the site timeout: the clock of the
	// cancel's wait stands still.
	at := time.Now()
	c.cancelRetries.now = func() time.Time { return at }
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

// lostSubmitCancel is a site's backend that takes every Submit and loses
// its answer (the run stays staging, its job started), and whose Cancel
// fails, while refuse is set, as a site that does not answer.
type lostSubmitCancel struct {
	backend.Backend
	refuse *atomic.Bool
	// findFails, where set and true, fails Find as a site that does not
	// answer; stopping, where set and above 0, answers that many
	// Cancels that the job is still ending.
	findFails *atomic.Bool
	stopping  *atomic.Int64
	// findHangs, where set and true, makes Find wait until its context
	// ends, as a site that does not answer; cancelLies, where set and
	// true, answers Cancel not found, stopping nothing.
	findHangs, cancelLies *atomic.Bool
}

func (b lostSubmitCancel) Submit(ctx context.Context, spec backend.Spec) (string, error) {
	if _, err := b.Backend.Submit(ctx, spec); err != nil {
		return "", err
	}
	return "", errors.New("read: i/o timeout")
}

func (b lostSubmitCancel) Find(ctx context.Context, runID string, attempt int) (string, bool, error) {
	if b.findHangs != nil && b.findHangs.Load() {
		<-ctx.Done()
		return "", false, ctx.Err()
	}
	if b.findFails != nil && b.findFails.Load() {
		return "", false, errors.New("test: squeue: connection timed out")
	}
	return b.Backend.(backend.Finder).Find(ctx, runID, attempt)
}

func (b lostSubmitCancel) Cancel(ctx context.Context, h string) error {
	if b.cancelLies != nil && b.cancelLies.Load() {
		return fmt.Errorf("test: job %s: %w", h, backend.ErrNotFound)
	}
	if b.stopping != nil && b.stopping.Add(-1) >= 0 {
		return fmt.Errorf("slurm cancel %s: the job was asked to end (state COMPLETING when last seen): %w: %w", h, backend.ErrStopping, context.DeadlineExceeded)
	}
	if b.refuse.Load() {
		return errors.New("test: connection refused")
	}
	return b.Backend.Cancel(ctx, h)
}

// TestCancelBeforeStartNotCarriedKeepsTheRun: a run cancelled while
// staging, whose site had taken its job though its Submit's answer was
// lost, was recorded "cancelled before the attempt started" whatever the
// site answered the job's Cancel, though the job ran on. Only a stop, or
// a site that does not know the job, cancels the run now; any other
// answer leaves it staging and counts the site unreachable, and the
// cancel is asked again.
func TestCancelBeforeStartNotCarriedKeepsTheRun(t *testing.T) {
	ctx := context.Background()
	var refuse atomic.Bool
	c, r, inner, h := cancelBeforeStartRig(t, &lostSubmitCancel{refuse: &refuse})
	get := func() *Run {
		t.Helper()
		got, err := c.Get(ctx, "t1", r.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	refuse.Store(true)
	if _, err := c.Step(ctx, r.ID); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("the step whose cancel the site refused: %v; want its error", err)
	}
	if got := get(); got.State != Staging {
		t.Fatalf("the run, its job's cancel refused: %s (%s); want it staging, the job not stopped", got.State, got.Reason)
	}
	if st, err := inner.Status(ctx, h); err != nil || st.State.Final() {
		t.Fatalf("the job at alpha: %s (%v); want it still on, its cancel refused", st.State, err)
	}
	refuse.Store(false)
	var got *Run
	for range 6 {
		if _, err := c.Step(ctx, r.ID); err != nil {
			t.Logf("step: %v", err)
		}
		if got = get(); got.State.Final() {
			break
		}
	}
	if got.State != Cancelled || got.Reason != "cancelled before the attempt started" {
		t.Errorf("the run, its job's cancel taken: %s (%s); want it cancelled before the attempt started", got.State, got.Reason)
	}
	if st, err := inner.Status(ctx, h); err != nil || st.State != backend.Cancelled {
		t.Errorf("the job at alpha: %s (%v); want it cancelled", st.State, err)
	}
}

// TestCancelOfAJobNeverEndingIsSaidThenLosesTheSite: a site that took a
// run's cancel and answered, at every step, that the job was still
// ending kept the run cancelling for ever, with nothing said of it. Past
// the site timeout its timeline now says so (once); past four site
// timeouts the site is counted unreachable, and is lost.
func TestCancelOfAJobNeverEndingIsSaidThenLosesTheSite(t *testing.T) {
	x := newChangedRunFixture(t)
	if _, err := x.live.Cancel(x.ctx, "t1", x.r.ID); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	var left atomic.Int64
	left.Store(1 << 40)
	c := x.cancelController(func(be backend.Backend) backend.Backend { return stoppingCancel{Backend: be, left: &left} })
	advance := cancelTestClock(c)
	timeout := c.cfg.SiteTimeout
	said := func() int { t.Helper(); return stillEndingSaid(t, x.live, x.r.ID) }
	step := func(what string) *Run {
		t.Helper()
		if _, err := c.Step(x.ctx, x.r.ID); err != nil {
			t.Logf("%s: %v", what, err)
		}
		return x.get(x.r.ID)
	}
	if got := step("first answer"); got.State.Final() || said() != 0 {
		t.Fatalf("the run at its site's first answer of still ending: %s (%s), %d events; want it cancelling, nothing said", got.State, got.Reason, said())
	}
	advance(timeout)
	for i := range 2 {
		if got := step("past the site timeout"); got.State.Final() || len(got.Losses) != 0 {
			t.Fatalf("the run past the site timeout (step %d): %s (%s), losses %v; want it cancelling, its site not lost", i, got.State, got.Reason, got.Losses)
		}
	}
	if n := said(); n != 1 {
		t.Errorf("%d cancel-still-ending events past the site timeout; want 1", n)
	}
	advance(stillEndingLimit * timeout)
	// The site lost, the run moves, and its cancel's last stop is asked
	// again over the stop's window (leftStopWindow) before the run ends
	// saying the job was still ending: the clock is moved past the window
	// between steps.
	var got *Run
	for i := range 20 {
		if got = step(fmt.Sprintf("past %d site timeouts (step %d)", stillEndingLimit, i)); got.State.Final() {
			break
		}
		advance(c.leftStopWindow())
	}
	if _, lost := got.Losses["alpha"]; !lost || got.State != Cancelled {
		t.Errorf("the run past %d site timeouts of its job ending: %s (%s), losses %v; want it cancelled, alpha lost", stillEndingLimit, got.State, got.Reason, got.Losses)
	}
	if n := said(); n != 1 {
		t.Errorf("%d cancel-still-ending events in all; want 1", n)
	}
}

// cancelBeforeStartRig is a run placed at alpha, staging, whose job alpha
// took though its Submit's answer was lost, and cancelled: site is its
// backend (lostSubmitCancel), h its job there.
func cancelBeforeStartRig(t *testing.T, site *lostSubmitCancel) (c *Controller, r *Run, inner backend.Backend, h string) {
	t.Helper()
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	c = f.controller(func(cfg *Config) {
		cfg.Store, cfg.AuditChain = f.st, audit.NewChain(testAuditKey)
		cfg.SiteTimeout = time.Hour
		cfg.Backends = func(s *catalog.Site, root string) (backend.Backend, error) {
			be, err := backend.For(s.Spec.Backend, root)
			if err != nil || s.Metadata.Name != "alpha" {
				return be, err
			}
			inner = be
			site.Backend = be
			return *site, nil
		}
		agentConfig(t, cfg, func() *Controller { return c })
	})
	r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(100000, 100)}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Site != "alpha" {
		t.Fatalf("the run is placed at %s; the test wants alpha", r.Site)
	}
	for i := range 6 {
		if _, err := c.Step(ctx, r.ID); err != nil {
			t.Logf("step %d: %v", i, err)
		}
		if inner != nil {
			if found, ok, err := inner.(backend.Finder).Find(ctx, r.ID, 1); err == nil && ok {
				h = found
				break
			}
		}
	}
	if got, err := c.Get(ctx, "t1", r.ID); err != nil || h == "" || got.State != Staging || got.Handle != "" {
		t.Fatalf("the run: %v %+v, its job at alpha %q; want it staging, its job started at alpha, its Submit's answer lost", err, got, h)
	}
	if _, err := c.Cancel(ctx, "t1", r.ID); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	return c, r, inner, h
}

// TestCancelBeforeStartLookupFailedKeepsTheRun: a run cancelled while
// staging, whose site did not answer the lookup of its job (a Submit
// whose answer was lost may have started it), was recorded "cancelled
// before the attempt started" and its job left running. A failed lookup
// now counts the site unreachable and leaves the run staging, and the
// cancel is carried once the site answers.
func TestCancelBeforeStartLookupFailedKeepsTheRun(t *testing.T) {
	ctx := context.Background()
	var refuse, findFails atomic.Bool
	c, r, inner, h := cancelBeforeStartRig(t, &lostSubmitCancel{refuse: &refuse, findFails: &findFails})
	keptThenCarried(t, c, r, inner, h, "lookup failed", "looking for attempt 1's job", &findFails)
	// Ended: cancelled, or failed where its agent found the run cancelled
	// first and stopped before its workload.
	if st, err := inner.Status(ctx, h); err != nil || !st.State.Final() {
		t.Errorf("the job at alpha: %s (%v); want it ended", st.State, err)
	}
}

// keptThenCarried steps r, its site's fault on (what it is), and wants the
// step's error to say want, the run staging and its job at alpha live;
// then, the fault off, steps it until it ends, and wants it cancelled.
func keptThenCarried(t *testing.T, c *Controller, r *Run, inner backend.Backend, h, what, want string, fault *atomic.Bool) {
	t.Helper()
	ctx := context.Background()
	fault.Store(true)
	if _, err := c.Step(ctx, r.ID); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("the step whose %s: %v; want its error, saying %q", what, err, want)
	}
	if got, _ := c.Get(ctx, "t1", r.ID); got.State != Staging {
		t.Fatalf("the run, its %s: %s (%s); want it staging", what, got.State, got.Reason)
	}
	if st, err := inner.Status(ctx, h); err != nil || st.State.Final() {
		t.Fatalf("the job at alpha, its %s: %s (%v); want it still on", what, st.State, err)
	}
	fault.Store(false)
	var got *Run
	for range 6 {
		if _, err := c.Step(ctx, r.ID); err != nil {
			t.Logf("step: %v", err)
		}
		if got, _ = c.Get(ctx, "t1", r.ID); got.State.Final() {
			break
		}
	}
	if got.State != Cancelled {
		t.Errorf("the run once its site answers: %s (%s); want cancelled", got.State, got.Reason)
	}
}

// TestCancelBeforeStartStillEndingIsSaid: the cancel of a run not yet
// started whose job was still ending was asked again at every step with
// nothing said and no bound, where the monitor's says so past the site
// timeout and counts the site unreachable past four. It is now bounded
// the same way (stillStopping): the run stays staging while its job
// ends, its timeline says so once past the site timeout, and it ends
// cancelled once the job has.
func TestCancelBeforeStartStillEndingIsSaid(t *testing.T) {
	ctx := context.Background()
	var refuse atomic.Bool
	var stopping atomic.Int64
	c, r, inner, h := cancelBeforeStartRig(t, &lostSubmitCancel{refuse: &refuse, stopping: &stopping})
	advance := cancelTestClock(c)
	said := func() int { t.Helper(); return stillEndingSaid(t, c, r.ID) }
	stopping.Store(1 << 40)
	for i := range 2 {
		if _, err := c.Step(ctx, r.ID); err != nil {
			t.Logf("step %d: %v", i, err)
		}
		if got, _ := c.Get(ctx, "t1", r.ID); got.State != Staging || said() != 0 {
			t.Fatalf("the run, its job still ending (step %d): %s (%s), %d events; want it staging, nothing said yet", i, got.State, got.Reason, said())
		}
		advance(c.cfg.SiteTimeout / 2)
	}
	if _, err := c.Step(ctx, r.ID); err != nil {
		t.Logf("step past the site timeout: %v", err)
	}
	if got, _ := c.Get(ctx, "t1", r.ID); got.State != Staging || said() != 1 || len(got.Losses) != 0 {
		t.Fatalf("the run past the site timeout, its job still ending: %s (%s), %d events, losses %v; want it staging, said once, its site not lost", got.State, got.Reason, said(), got.Losses)
	}
	stopping.Store(0)
	var got *Run
	for range 6 {
		if _, err := c.Step(ctx, r.ID); err != nil {
			t.Logf("step: %v", err)
		}
		if got, _ = c.Get(ctx, "t1", r.ID); got.State.Final() {
			break
		}
	}
	if got.State != Cancelled || said() != 1 {
		t.Errorf("the run once its job ended: %s (%s), %d events; want cancelled, said once", got.State, got.Reason, said())
	}
	// Ended: cancelled, or failed where its agent found the run cancelled
	// first and stopped before its workload.
	if st, err := inner.Status(ctx, h); err != nil || !st.State.Final() {
		t.Errorf("the job at alpha: %s (%v); want it ended", st.State, err)
	}
	c.mu.Lock()
	n := len(c.stillEnding)
	c.mu.Unlock()
	if n != 0 {
		t.Errorf("%d still-ending marks kept after the run ended; want none", n)
	}
}

// TestStillEndingBoundStartsAtANewTerm: the times since which a
// cancelled run's job was said to be still ending outlived the server's
// term of leadership: a server that led, lost the lease and led again
// later took its first answer of the new term as ending since the old
// one, and counted the site unreachable at once. A new term forgets
// them: its own first answer starts the bound.
func TestStillEndingBoundStartsAtANewTerm(t *testing.T) {
	x := newChangedRunFixture(t)
	if _, err := x.live.Cancel(x.ctx, "t1", x.r.ID); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	var left atomic.Int64
	left.Store(1 << 40)
	c := x.cancelController(func(be backend.Backend) backend.Backend { return stoppingCancel{Backend: be, left: &left} })
	advance := cancelTestClock(c)
	if _, err := c.Step(x.ctx, x.r.ID); err != nil {
		t.Logf("first answer: %v", err)
	}
	// Another server leads meanwhile, for longer than the bound.
	advance((stillEndingLimit + 1) * c.cfg.SiteTimeout)
	c.newTerm()
	if _, err := c.Step(x.ctx, x.r.ID); err != nil {
		t.Logf("first answer of the new term: %v", err)
	}
	if got := x.get(x.r.ID); got.State.Final() || len(got.Losses) != 0 {
		t.Fatalf("the run at the new term's first answer of still ending: %s (%s), losses %v; want it cancelling, its site not lost", got.State, got.Reason, got.Losses)
	}
	c.mu.Lock()
	_, unreachable := c.unreachable[x.r.ID]
	c.mu.Unlock()
	if unreachable {
		t.Errorf("the site is counted unreachable at the new term's first answer; want the bound to start there")
	}
}

// cancelTestClock sets c's cancel clock to a test's, from now, and
// returns what moves it on.
func cancelTestClock(c *Controller) (advance func(time.Duration)) {
	var mu sync.Mutex
	at := time.Now()
	c.cancelRetries.now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return at
	}
	return func(d time.Duration) {
		mu.Lock()
		at = at.Add(d)
		mu.Unlock()
	}
}

// stillEndingSaid counts the cancel-still-ending events on run id's
// timeline.
func stillEndingSaid(t *testing.T, c *Controller, id string) int {
	t.Helper()
	evs, err := c.Events(context.Background(), "t1", id)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Kind == "cancel-still-ending" {
			n++
		}
	}
	return n
}

// TestCancelBeforeStartLookupHangingLosesTheSite: the lookup of a job a
// cancel before the start makes ran on the step's whole minute: a site
// that hung spent it, the step ended before the site was counted
// unreachable, every time, and the run stayed staging for ever. The
// lookup has its own bound: the site is counted unreachable at once, and
// past its timeout it is lost and the run leaves it.
func TestCancelBeforeStartLookupHangingLosesTheSite(t *testing.T) {
	old := cancelFindWait
	cancelFindWait = 50 * time.Millisecond
	t.Cleanup(func() { cancelFindWait = old })
	ctx := context.Background()
	var refuse, hangs atomic.Bool
	c, r, _, _ := cancelBeforeStartRig(t, &lostSubmitCancel{refuse: &refuse, findHangs: &hangs})
	hangs.Store(true)
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := c.Step(sctx, r.ID); err == nil || sctx.Err() != nil {
		t.Fatalf("the step whose lookup hung: %v (the step's own context: %v); want the lookup's bound, not the step's, to end it", err, sctx.Err())
	}
	c.mu.Lock()
	_, counted := c.unreachable[r.ID]
	c.mu.Unlock()
	if !counted {
		t.Errorf("a site whose lookup hung is not counted unreachable; it never would be lost")
	}
}

// TestCancelBeforeStartNotFoundOfALiveJobKeepsTheRun: a cancel before the
// start that the site answered not found, for the job its lookup had just
// found, recorded the run cancelled at once, where the monitor's cancel
// asks the job's Status first: a site that said not found while the job
// ran on ended the run with the job running. Its Status is asked now, and
// a live job keeps the run staging, the site counted unreachable.
func TestCancelBeforeStartNotFoundOfALiveJobKeepsTheRun(t *testing.T) {
	var refuse, lies atomic.Bool
	c, r, inner, h := cancelBeforeStartRig(t, &lostSubmitCancel{refuse: &refuse, cancelLies: &lies})
	keptThenCarried(t, c, r, inner, h, "cancel said not found of a live job", "live", &lies)
}
