package run

import (
	"context"
	"encoding/json"
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

// downCancel is a site's backend whose Cancel fails at once while down
// is set, as a site that does not answer does: the stop is not confirmed.
type downCancel struct {
	backend.Backend
	down  *atomic.Bool
	calls *atomic.Int64
}

func (b downCancel) Cancel(ctx context.Context, h string) error {
	b.calls.Add(1)
	if b.down.Load() {
		return errors.New("test: the site does not answer")
	}
	return b.Backend.Cancel(ctx, h)
}

// leftStopRig is x's run leaving alpha, whose Cancels fail while down is
// set, under a controller with the site timeout given, a clock of its
// retries the test moves (now), and a context of the loop's steps.
type leftStopRig struct {
	x     *changedRunFixture
	c     *Controller
	ctx   context.Context
	steps *loopSteps
	down  atomic.Bool
	calls atomic.Int64
	mu    sync.Mutex
	now   time.Time
}

func newLeftStopRig(t *testing.T, siteTimeout time.Duration) *leftStopRig {
	x := newChangedRunFixture(t)
	g := &leftStopRig{x: x, now: time.Now()}
	g.down.Store(true)
	g.c = x.drainControllerOf(func(be backend.Backend) backend.Backend {
		return downCancel{Backend: be, down: &g.down, calls: &g.calls}
	}, siteTimeout)
	g.wire(t)
	return g
}

// wire gives the rig's controller (g.c) the rig's clock for its retries
// of stops, and a loop's context whose steps the test waits for.
func (g *leftStopRig) wire(t *testing.T) {
	g.c.cancelRetries.now = func() time.Time {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.now
	}
	g.steps = &loopSteps{ctx: g.x.ctx}
	g.ctx = context.WithValue(g.x.ctx, longStepsKey{}, g.steps)
	t.Cleanup(g.steps.wg.Wait)
}

func (g *leftStopRig) advance(d time.Duration) {
	g.mu.Lock()
	g.now = g.now.Add(d)
	g.mu.Unlock()
}

// leftStops is the run's left-stop events and the payloads of its
// left-stop audit records, in order.
func (g *leftStopRig) leftStops() ([]string, []map[string]any) {
	x := g.x
	x.t.Helper()
	evs, err := x.live.Events(x.ctx, "t1", x.r.ID)
	if err != nil {
		x.t.Fatal(err)
	}
	var said []string
	for _, e := range evs {
		if e.Kind == KindLeftStop {
			said = append(said, e.Reason)
		}
	}
	rows, err := x.f.st.DB().QueryContext(x.ctx, `SELECT payload FROM audit WHERE run_id = ? AND kind = ? ORDER BY seq`, x.r.ID, KindLeftStop)
	if err != nil {
		x.t.Fatal(err)
	}
	defer rows.Close()
	var recs []map[string]any
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			x.t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			x.t.Fatal(err)
		}
		recs = append(recs, m)
	}
	if err := rows.Err(); err != nil {
		x.t.Fatal(err)
	}
	return said, recs
}

// replanned re-plans the run leaving alpha under the loop's context and
// waits for the stop it sends beside it; the run's target is chosen.
func (g *leftStopRig) replanned() *Run {
	x := g.x
	x.t.Helper()
	r := x.leaving()
	if _, err := g.c.migrate(g.ctx, r); err != nil {
		x.t.Fatalf("re-plan: %v", err)
	}
	g.steps.wg.Wait()
	got := x.get(x.r.ID)
	if got.State != Migrating || got.Migration == nil || got.Migration.Target == nil {
		x.t.Fatalf("the run after its re-plan: %s (%s), migration %+v; the test wants it moving, its target chosen", got.State, got.Reason, got.Migration)
	}
	return r
}

// TestReplanStopResultKeptAndRetriedAfterTheMove: the stop a re-plan sent
// the site a run leaves was only logged, and one the site did not
// confirm was asked again only where the re-plan itself was tried again:
// once the re-plan chose a target, nothing asked the site again, and
// neither the run's timeline nor the audit log said the workload there
// might run on. The result is now kept on the run, and the stop is asked
// again, after the run has moved on, until the site confirms it.
func TestReplanStopResultKeptAndRetriedAfterTheMove(t *testing.T) {
	g := newLeftStopRig(t, time.Hour)
	r := g.replanned()
	if n := g.calls.Load(); n != 1 {
		t.Fatalf("%d cancels reached alpha for the re-plan; want 1", n)
	}
	said, recs := g.leftStops()
	if len(said) != 1 || !strings.Contains(said[0], "was told to stop, but") || !strings.Contains(said[0], "asked again") {
		t.Fatalf("the run's left-stop events after a stop alpha did not confirm: %q; want one saying it was not confirmed and is asked again", said)
	}
	if len(recs) != 1 || recs[0]["outcome"] != leftStopUnconfirmed || recs[0]["site"] != "alpha" {
		t.Fatalf("the run's left-stop audit records: %v; want one, alpha's, %q", recs, leftStopUnconfirmed)
	}
	// The move goes on without waiting for the stop asked again: the run
	// starts its next attempt.
	n := r.Attempt
	for range 5 {
		if got := g.x.get(g.x.r.ID); got.Attempt != n || got.State != Migrating {
			break
		}
		if _, err := g.c.migrate(g.ctx, g.x.get(g.x.r.ID)); err != nil {
			t.Fatalf("move step: %v", err)
		}
		g.steps.wg.Wait()
	}
	if got := g.x.get(g.x.r.ID); got.Attempt != n+1 {
		t.Fatalf("the run after its move steps: %s at attempt %d at %s (%s); the test wants it moved on to attempt %d", got.State, got.Attempt, got.Site, got.Reason, n+1)
	}
	// The site answers again; the retry is due once its wait is past.
	g.down.Store(false)
	g.c.retryLeftStops(g.ctx)
	g.steps.wg.Wait()
	if n := g.calls.Load(); n != 1 {
		t.Errorf("%d cancels reached alpha before the retry's wait was past; want 1", n)
	}
	g.advance(cancelRetryFirst + time.Second)
	g.c.retryLeftStops(g.ctx)
	g.steps.wg.Wait()
	if n := g.calls.Load(); n != 2 {
		t.Fatalf("%d cancels reached alpha after the retry's wait; want 2", n)
	}
	be, err := g.c.backendFor(r, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := be.Status(g.x.ctx, r.Handle); err != nil || !st.State.Final() {
		t.Errorf("the attempt's job at alpha after the retry: %s (%v); want it stopped", st.State, err)
	}
	said, recs = g.leftStops()
	if len(said) != 2 || !strings.Contains(said[1], "stopped: its site confirmed the stop at its try 2") {
		t.Errorf("the run's left-stop events after the retry: %q; want a second saying the stop was confirmed at try 2", said)
	}
	if len(recs) != 2 || recs[1]["outcome"] != leftStopped {
		t.Errorf("the run's left-stop audit records after the retry: %v; want a second, %q", recs, leftStopped)
	}
	// Confirmed, it is not sent again.
	g.advance(time.Hour)
	g.c.retryLeftStops(g.ctx)
	g.steps.wg.Wait()
	if n := g.calls.Load(); n != 2 {
		t.Errorf("%d cancels reached alpha after the stop was confirmed; want 2", n)
	}
}

// TestReplanStopAskedAgainUntilTheAgentsLeaseEnds: a stop the site did
// not confirm was asked again only for the site timeout (30 s by
// default) from its first try's end: a site that does not answer got
// about one retry, and nearly every move off a lost site ended "given
// up", while the old workload runs on until its agent's lease ends. The
// stop is now asked again for as long as that lease, and given up after
// it, the run's timeline and audit log saying so.
func TestReplanStopAskedAgainUntilTheAgentsLeaseEnds(t *testing.T) {
	g := newLeftStopRig(t, time.Minute)
	lease := g.c.exitLag()
	if lease < 5*time.Minute {
		t.Fatalf("the agents' lease is %s; the test wants it well past the site timeout (1m)", lease)
	}
	g.replanned()
	said, _ := g.leftStops()
	if len(said) != 1 || !strings.Contains(said[0], "for up to "+lease.String()) {
		t.Errorf("the run's left-stop events after the first try: %q; want one saying the stop is asked again for up to %s", said, lease)
	}
	// Past three site timeouts, the stop is still asked again.
	for elapsed := time.Duration(0); elapsed < 3*time.Minute; elapsed += 10 * time.Second {
		g.advance(10 * time.Second)
		g.c.retryLeftStops(g.ctx)
		g.steps.wg.Wait()
	}
	if n := g.calls.Load(); n < 4 {
		t.Errorf("%d cancels reached alpha in 3 min; want the stop asked again past the site timeout", n)
	}
	if said, _ := g.leftStops(); len(said) != 1 {
		t.Fatalf("the run's left-stop events 3 min after the first try: %q; want the stop still asked again, not given up", said)
	}
	for i := 0; i < 200 && g.calls.Load() < 100; i++ {
		g.advance(10 * time.Second)
		g.c.retryLeftStops(g.ctx)
		g.steps.wg.Wait()
	}
	n := g.calls.Load()
	said, recs := g.leftStops()
	if len(said) != 2 || !strings.Contains(said[1], "never confirmed it") {
		t.Fatalf("the run's left-stop events: %q; want the stop not confirmed, then given up", said)
	}
	if len(recs) != 2 || recs[1]["outcome"] != leftStopGivenUp || recs[1]["tries"] != float64(n) {
		t.Errorf("the run's left-stop audit records: %v; want the second %q after %d tries", recs, leftStopGivenUp, n)
	}
	if s, _ := recs[1]["seconds"].(float64); time.Duration(s)*time.Second < lease {
		t.Errorf("the stop was given up %v s after its first try; want not before the agents' lease, %s", recs[1]["seconds"], lease)
	}
	g.advance(time.Hour)
	g.c.retryLeftStops(g.ctx)
	g.steps.wg.Wait()
	if m := g.calls.Load(); m != n {
		t.Errorf("%d cancels reached alpha after the stop was given up; want %d", m, n)
	}
}

// TestTickNotHeldByAMovingRunsCancel: the user's cancel of a run moving
// off a site stopped the attempt it leaves inside a Tick worker, for up
// to 30 s: a site that did not answer held that worker, and the pass,
// for every other run. The stop now runs beside the loop: the pass goes
// on, and the cancelled run ends once the stop is in.
func TestTickNotHeldByAMovingRunsCancel(t *testing.T) {
	x := newChangedRunFixture(t)
	var calls atomic.Int64
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	c := x.f.controller(func(cfg *Config) {
		cfg.Store, cfg.AuditChain = x.f.st, audit.NewChain(testAuditKey)
		cfg.SiteTimeout = time.Hour
		cfg.Workers = 1
		cfg.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
			be, err := backend.For(site.Spec.Backend, root)
			if err != nil {
				return nil, err
			}
			return heldCancel{Backend: be, calls: &calls, release: release}, nil
		}
		agentConfig(x.t, cfg, func() *Controller { return x.live })
	})
	steps := &loopSteps{ctx: x.ctx}
	ctx := context.WithValue(x.ctx, longStepsKey{}, steps)
	t.Cleanup(func() { free(); steps.wg.Wait() })
	// The run moving off alpha, cancelled: its stop hangs at alpha.
	x.leaving()
	if _, err := x.live.Cancel(x.ctx, "t1", x.r.ID); err != nil {
		t.Fatal(err)
	}
	// Another run, held and cancelled: its step ends it, asking no site.
	other, _, err := x.live.Submit(x.ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(100000, 100)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.live.update(x.ctx, other.ID, func(r *Run, ch *store.Change) error {
		r.Hold = &Hold{Reason: "test: held", Since: time.Now(), NextTry: time.Now().Add(time.Hour), Tries: 1}
		return transition(ch, r, Held, "test: held")
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := x.live.Cancel(x.ctx, "t1", other.ID); err != nil {
		t.Fatal(err)
	}
	ticked := make(chan struct{})
	go func() {
		defer close(ticked)
		c.Tick(ctx)
	}()
	select {
	case <-ticked:
	case <-time.After(20 * time.Second):
		t.Fatalf("the tick still waits after 20 s, the cancelled moving run's stop held at alpha (%d cancels there): it holds the pass", calls.Load())
	}
	if got := x.get(other.ID); got.State != Cancelled {
		t.Errorf("the other run after the tick: %s (%s); want it cancelled", got.State, got.Reason)
	}
	if got := x.get(x.r.ID); got.State != Migrating {
		t.Errorf("the run whose stop is out after the tick: %s (%s); want it still moving, waiting for the stop", got.State, got.Reason)
	}
	for deadline := time.Now().Add(60 * time.Second); calls.Load() < 1; {
		if time.Now().After(deadline) {
			t.Fatal("the cancelled run's stop did not reach alpha's Cancel in 60 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	free()
	steps.wg.Wait()
	c.Tick(ctx)
	steps.wg.Wait()
	got := x.get(x.r.ID)
	if got.State != Cancelled || strings.Contains(got.Reason, "not carried") {
		t.Errorf("the run after its stop was confirmed: %s (%s); want it cancelled, the stop confirmed", got.State, got.Reason)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d cancels reached alpha; want 1", n)
	}
}

// untilStop waits (at most 30 s) for calls to reach n: a stop sent
// beside the loop has reached its site's Cancel.
func untilStop(t *testing.T, calls *atomic.Int64, n int64, what string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); calls.Load() < n; {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d cancels reached alpha in 30 s; want %d", what, calls.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// endingTerm is a context of the loop's steps for a term of leadership
// that the returned func ends, waiting for the stops sent beside it.
func endingTerm(t *testing.T, parent context.Context) (context.Context, *loopSteps, func()) {
	tctx, cancel := context.WithCancel(parent)
	steps := &loopSteps{ctx: tctx}
	end := func() { cancel(); steps.wg.Wait() }
	t.Cleanup(end)
	return context.WithValue(tctx, longStepsKey{}, steps), steps, end
}

// TestLeftStopSentAgainByANewLeader: a re-plan's stop of the attempt a
// run leaves is kept in memory only, and a run whose target was on
// record reached neither the re-plan nor its stop again: after a restart,
// or under a new leader, the run moved on with no stop sent, though the
// last one may never have reached the site. The new leader now sends it,
// and the move waits for that first try.
func TestLeftStopSentAgainByANewLeader(t *testing.T) {
	x := newChangedRunFixture(t)
	var calls1, calls2 atomic.Int64
	c1, _, _, _ := x.heldStops(&calls1)
	ctx1, _, end := endingTerm(t, x.ctx)
	r := x.leaving()
	n := r.Attempt
	if _, err := c1.migrate(ctx1, r); err != nil {
		t.Fatalf("re-plan: %v", err)
	}
	if got := x.get(x.r.ID); got.Migration == nil || got.Migration.Target == nil {
		t.Fatalf("the run after its re-plan: %s (%s), migration %+v; the test wants its target chosen", got.State, got.Reason, got.Migration)
	}
	untilStop(t, &calls1, 1, "the first leader's stop")
	// The first leader stops (its term ends) while its stop is out.
	end()
	// A new controller over the same store: a restart, or a new leader.
	c2, ctx2, steps2, free2 := x.heldStops(&calls2)
	for i := 1; i <= 2; i++ {
		if _, err := c2.migrate(ctx2, x.get(x.r.ID)); err != nil {
			t.Fatalf("the new leader's move step %d: %v", i, err)
		}
		if got := x.get(x.r.ID); got.Attempt != n || got.State != Migrating {
			t.Fatalf("the new leader's move step %d: the run is %s at attempt %d (%s); want it waiting for the stop of attempt %d", i, got.State, got.Attempt, got.Reason, n)
		}
	}
	untilStop(t, &calls2, 1, "the new leader's stop")
	free2()
	steps2.wg.Wait()
	for range 5 {
		if got := x.get(x.r.ID); got.Attempt != n || got.State != Migrating {
			break
		}
		if _, err := c2.migrate(ctx2, x.get(x.r.ID)); err != nil {
			t.Fatalf("move step after the stop: %v", err)
		}
		steps2.wg.Wait()
	}
	if got := x.get(x.r.ID); got.Attempt != n+1 {
		t.Errorf("the run after the new leader's stop: %s at attempt %d (%s); want it moved on to attempt %d", got.State, got.Attempt, got.Reason, n+1)
	}
	if m := calls2.Load(); m != 1 {
		t.Errorf("%d cancels the new leader sent alpha; want 1", m)
	}
	if st := x.jobAt("alpha", r.Handle); !st.State.Final() {
		t.Errorf("the attempt's job at alpha: %s; want it stopped", st.State)
	}
}

// TestLeftStopCutShortByTheTermIsSentAgain: a try cut short by the end
// of the term of leadership counted as a try the site did not confirm,
// and was kept: a cancelled moving run, the same server leading again,
// ended "cancel not carried" for a cancel the server itself cut short. It
// now counts as no try, a term begins with no stop on record, and the
// cancel's stop is sent again.
func TestLeftStopCutShortByTheTermIsSentAgain(t *testing.T) {
	x := newChangedRunFixture(t)
	var calls atomic.Int64
	c, _, _, free := x.heldStops(&calls)
	ctx1, _, end := endingTerm(t, x.ctx)
	r := x.movingCancelled()
	if changed, err := c.cancelMoving(ctx1, r); err != nil || changed {
		t.Fatalf("the cancel's step: changed %v, %v; want it waiting for its stop", changed, err)
	}
	untilStop(t, &calls, 1, "the cancel's stop")
	end()
	c.mu.Lock()
	if ls := c.leftStops[attemptKey(r.ID, r.Attempt)]; ls == nil {
		t.Error("the stop cut short by the term's end is not on record")
	} else if ls.tries != 0 || ls.cancelDone || ls.inFlight {
		t.Errorf("the stop cut short by the term's end: %d tries, the cancel's done %v, in flight %v; want it counted as no try", ls.tries, ls.cancelDone, ls.inFlight)
	}
	c.mu.Unlock()
	// The same server leads again; alpha answers now.
	c.newTerm()
	steps := &loopSteps{ctx: x.ctx}
	ctx2 := context.WithValue(x.ctx, longStepsKey{}, steps)
	t.Cleanup(steps.wg.Wait)
	free()
	for range 5 {
		if _, err := c.cancelMoving(ctx2, x.get(x.r.ID)); err != nil {
			t.Fatalf("the cancel's step in the next term: %v", err)
		}
		steps.wg.Wait()
		if x.get(x.r.ID).State.Final() {
			break
		}
	}
	got := x.get(x.r.ID)
	if got.State != Cancelled || strings.Contains(got.Reason, "not carried") {
		t.Errorf("the run: %s (%s); want it cancelled, its stop sent again and confirmed", got.State, got.Reason)
	}
	if m := calls.Load(); m != 2 {
		t.Errorf("%d cancels reached alpha; want 2 (the one cut short, and the next term's)", m)
	}
	if st := x.jobAt("alpha", r.Handle); !st.State.Final() {
		t.Errorf("the attempt's job at alpha: %s; want it stopped", st.State)
	}
}

// foundGone is a site's backend that finds the job of any attempt asked
// as handle, a job no sealed submission names, whose Cancels fail while
// down is set, and which, once the site answers, is gone: its Cancel and
// Status say not found.
type foundGone struct {
	backend.Backend
	handle string
	down   *atomic.Bool
	calls  *atomic.Int64
}

func (f foundGone) Find(context.Context, string, int) (string, bool, error) {
	return f.handle, true, nil
}

func (f foundGone) Cancel(ctx context.Context, h string) error {
	f.calls.Add(1)
	if f.down.Load() {
		return errors.New("test: the site does not answer")
	}
	if h == f.handle {
		return fmt.Errorf("handle %q: %w", h, backend.ErrNotFound)
	}
	return f.Backend.Cancel(ctx, h)
}

func (f foundGone) Status(ctx context.Context, h string) (backend.Status, error) {
	if h == f.handle {
		return backend.Status{}, fmt.Errorf("handle %q: %w", h, backend.ErrNotFound)
	}
	return f.Backend.Status(ctx, h)
}

// TestLeftStopOfAFoundJobConfirmedGone: a try that found the job of the
// attempt a run leaves (the run held no handle of it) left that handle
// as the run's own for the next tries, whose "not found" then had to be
// backed by a sealed submission naming it, which a found job never has:
// a found job gone was never confirmed, and the stop ended "given up".
// The next tries now stop it as found, its "not found" taken as any
// found job's is.
func TestLeftStopOfAFoundJobConfirmedGone(t *testing.T) {
	x := newChangedRunFixture(t)
	const found = "found-job-1"
	if _, err := x.live.update(x.ctx, x.r.ID, func(r *Run, ch *store.Change) error {
		r.Handle = ""
		for i := range r.Attempts {
			r.Attempts[i].Handle = ""
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	g := &leftStopRig{x: x, now: time.Now()}
	g.down.Store(true)
	g.c = x.drainControllerOf(func(be backend.Backend) backend.Backend {
		return foundGone{Backend: be, handle: found, down: &g.down, calls: &g.calls}
	}, time.Hour)
	g.wire(t)
	g.replanned()
	if n := g.calls.Load(); n != 1 {
		t.Fatalf("%d cancels reached alpha for the re-plan; want 1", n)
	}
	// The site answers: the job it found is gone.
	g.down.Store(false)
	g.advance(cancelRetryFirst + time.Second)
	g.c.retryLeftStops(g.ctx)
	g.steps.wg.Wait()
	if n := g.calls.Load(); n != 2 {
		t.Fatalf("%d cancels reached alpha after the retry's wait; want 2", n)
	}
	said, recs := g.leftStops()
	if len(said) != 2 || !strings.Contains(said[1], "stopped: its site confirmed the stop at its try 2") {
		t.Errorf("the run's left-stop events: %q; want a second saying the stop of the job found was confirmed at try 2", said)
	}
	if len(recs) != 2 || recs[1]["outcome"] != leftStopped || recs[1]["handle"] != found {
		t.Errorf("the run's left-stop audit records: %v; want a second, %q, of %q", recs, leftStopped, found)
	}
}

// TestLeftStopSentForTheCancelOfAHeldRun: a run its re-plan held
// keeps its attempt and site, and a stop of that attempt its site did
// not confirm; the user's cancel ended the run stopping nothing, and the
// stop's retries, the run no longer active, were dropped silently. The
// cancel now stops that attempt, as a moving run's does.
func TestLeftStopSentForTheCancelOfAHeldRun(t *testing.T) {
	g := newLeftStopRig(t, time.Hour)
	x := g.x
	r := x.leaving()
	if !g.c.stopLeft(g.ctx, r) {
		t.Fatal("the re-plan's stop was held back; want it sent")
	}
	g.steps.wg.Wait()
	if n := g.calls.Load(); n != 1 {
		t.Fatalf("%d cancels reached alpha for the re-plan; want 1", n)
	}
	// The re-plan found no place: the run is held, as hold leaves it.
	if _, err := x.live.update(x.ctx, x.r.ID, func(r *Run, ch *store.Change) error {
		r.Hold = &Hold{Reason: "test: no place", Since: time.Now(), NextTry: time.Now().Add(time.Hour), Tries: 1}
		r.Migration = nil
		return transition(ch, r, Held, "test: left alpha; no place")
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := x.live.Cancel(x.ctx, "t1", x.r.ID); err != nil {
		t.Fatal(err)
	}
	g.down.Store(false)
	for range 5 {
		if _, err := g.c.cancelMoving(g.ctx, x.get(x.r.ID)); err != nil {
			t.Fatalf("the cancel's step: %v", err)
		}
		g.steps.wg.Wait()
		if x.get(x.r.ID).State.Final() {
			break
		}
	}
	got := x.get(x.r.ID)
	if got.State != Cancelled || strings.Contains(got.Reason, "not carried") {
		t.Errorf("the held run after its cancel: %s (%s); want it cancelled, its stop confirmed", got.State, got.Reason)
	}
	if n := g.calls.Load(); n != 2 {
		t.Errorf("%d cancels reached alpha; want 2 (the re-plan's, and the cancel's)", n)
	}
	if st := x.jobAt("alpha", r.Handle); !st.State.Final() {
		t.Errorf("the attempt's job at alpha after the cancel: %s; want it stopped", st.State)
	}
}
