package run

import (
	"context"
	"encoding/json"
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
	g.c.cancelRetries.now = func() time.Time {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.now
	}
	g.steps = &loopSteps{ctx: x.ctx}
	g.ctx = context.WithValue(x.ctx, longStepsKey{}, g.steps)
	t.Cleanup(g.steps.wg.Wait)
	return g
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

// TestReplanStopGivenUpAtTheSiteTimeout: a stop the site never confirms
// is asked again until the site timeout is past, then given up, and the
// run's timeline and audit log say so.
func TestReplanStopGivenUpAtTheSiteTimeout(t *testing.T) {
	g := newLeftStopRig(t, time.Minute)
	g.replanned()
	for i := 0; i < 40 && g.calls.Load() < 100; i++ {
		g.advance(10 * time.Second)
		g.c.retryLeftStops(g.ctx)
		g.steps.wg.Wait()
	}
	n := g.calls.Load()
	if n < 3 {
		t.Errorf("%d cancels reached alpha within the site timeout; want the stop asked again", n)
	}
	said, recs := g.leftStops()
	if len(said) != 2 || !strings.Contains(said[1], "never confirmed it") {
		t.Fatalf("the run's left-stop events: %q; want the stop not confirmed, then given up", said)
	}
	if len(recs) != 2 || recs[1]["outcome"] != leftStopGivenUp || recs[1]["tries"] != float64(n) {
		t.Errorf("the run's left-stop audit records: %v; want the second %q after %d tries", recs, leftStopGivenUp, n)
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
