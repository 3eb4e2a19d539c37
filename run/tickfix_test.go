package run

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/store"
)

// hangingReads is a store whose GetRun of one run hangs, whatever its
// context says, until freed (a sweep held at a site that stopped
// answering), counting the reads of that run out at once, and the most
// there ever were.
type hangingReads struct {
	store.Store
	mu      sync.Mutex
	id      string
	out     int
	most    int
	entered chan struct{}
	release chan struct{}
}

func (h *hangingReads) GetRun(ctx context.Context, id string) (*store.Run, error) {
	h.mu.Lock()
	hang := id == h.id
	if hang {
		h.out++
		h.most = max(h.most, h.out)
	}
	h.mu.Unlock()
	if hang {
		select {
		case h.entered <- struct{}{}:
		default:
		}
		<-h.release
		h.mu.Lock()
		h.out--
		h.mu.Unlock()
	}
	return h.Store.GetRun(ctx, id)
}

// TestSweepEndedSkipsRunWithStepOut: a run whose step is out past its
// bound, held in its own sweep at a hung site, was swept again by the
// loop's sweep of ended runs: that sweep held the tick, as the step did,
// and two sweeps of the run were out at once. The loop's sweep now leaves
// the run to its step: it returns, and one sweep of the run is out.
func TestSweepEndedSkipsRunWithStepOut(t *testing.T) {
	h := &hangingReads{entered: make(chan struct{}, 8), release: make(chan struct{})}
	f := newCkMoveFixtureWith(t, func(cfg *Config) { h.Store = cfg.Store; cfg.Store = h }, jobDoc(100, 10))
	var freeOnce sync.Once
	free := func() { freeOnce.Do(func() { close(h.release) }) }
	t.Cleanup(free)
	ctx := context.Background()
	id := f.r.ID
	h.mu.Lock()
	h.id = id
	h.mu.Unlock()
	// The run's step, in its sweep, hangs; Tick stops waiting for it.
	stepDone := make(chan struct{})
	go func() { defer close(stepDone); f.c.sweepCheckpoints(ctx, id) }()
	select {
	case <-h.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the step's sweep never read the run")
	}
	f.c.mu.Lock()
	f.c.stepsOut.runs = map[string]string{id: "alpha"}
	f.c.stepsOut.sites = map[string]int{"alpha": 1}
	if f.c.sweepWait == nil {
		f.c.sweepWait = map[string]copyBackoff{}
	}
	f.c.sweepWait[id] = copyBackoff{} // due
	f.c.mu.Unlock()
	ended := make(chan struct{})
	go func() { defer close(ended); f.c.sweepEnded(ctx) }()
	select {
	case <-ended:
	case <-time.After(20 * time.Second):
		free()
		<-ended
		t.Fatal("the loop's sweep of ended runs waited on the sweep of a run whose step is out")
	}
	h.mu.Lock()
	most := h.most
	h.mu.Unlock()
	if most != 1 {
		t.Errorf("%d sweeps of the run were out at once, want 1", most)
	}
	free()
	<-stepDone
}

// TestStepGuardKeepsVersionOnNoChange: a step's write that changed nothing
// moved its guard onto the row the store read again after it, a row with
// a write the step never read (a cancel committed meanwhile). Once late,
// the step's next write then went through onto that write, and undid it.
// The guard now keeps the version the step read, and the write is
// refused.
func TestStepGuardKeepsVersionOnNoChange(t *testing.T) {
	f := newCkMoveFixture(t)
	ctx := context.Background()
	id := f.r.ID
	row, err := f.c.cfg.Store.GetRun(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	g := &stepGuard{run: id}
	g.wrote(row.Version) // as Step does when it reads the run
	gctx := context.WithValue(ctx, stepGuardKey{}, g)
	// Another writer changes the run after the step read it.
	if _, err := f.c.update(ctx, id, func(r *Run, ch *store.Change) error {
		r.Reason = "changed meanwhile"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The step's write that finds nothing to change.
	if _, err := f.c.update(gctx, id, func(r *Run, ch *store.Change) error { return store.ErrNoChange }); err != nil {
		t.Fatal(err)
	}
	// Late now: what it writes next must not go onto the newer row.
	g.late.Store(true)
	_, err = f.c.update(gctx, id, func(r *Run, ch *store.Change) error {
		r.Reason = "the late step's stale write"
		return nil
	})
	if !errors.Is(err, errStepLate) {
		t.Fatalf("the late step's write onto a row it never read: err %v, want errStepLate", err)
	}
	got, err := f.c.cfg.Store.GetRun(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	r, err := fromRow(got)
	if err != nil {
		t.Fatal(err)
	}
	if r.Reason != "changed meanwhile" {
		t.Errorf("the run's reason is %q, want the other writer's", r.Reason)
	}
}

// TestLongStepNotStartedByLateStep: a step that ran past its bound before
// it reached a staging or a migration started it beside the loop, from
// the row it read before, and what that wrote was held to no guard. A
// late step starts none now: the run's next step does, from its row then.
func TestLongStepNotStartedByLateStep(t *testing.T) {
	f := newCkMoveFixture(t)
	ctx := context.Background()
	long := &loopSteps{ctx: ctx}
	g := &stepGuard{run: f.r.ID}
	g.late.Store(true)
	sctx := context.WithValue(context.WithValue(ctx, longStepsKey{}, long), stepGuardKey{}, g)
	ran := false
	var mu sync.Mutex
	changed, err := f.c.longStep(sctx, f.r, func(context.Context, *Run) (bool, error) {
		mu.Lock()
		ran = true
		mu.Unlock()
		return true, nil
	})
	long.wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if changed || err != nil || ran {
		t.Errorf("a late step's long step: changed %v, err %v, started %v; want none started", changed, err, ran)
	}
}

// hangingClean is a site whose Clean hangs, whatever its context says,
// until freed.
type hangingClean struct {
	backend.Backend
	entered chan struct{}
	release chan struct{}
}

func (h *hangingClean) Clean(ctx context.Context, handle string) error {
	select {
	case h.entered <- struct{}{}:
	default:
	}
	<-h.release
	return nil
}

// TestEndAttemptHungEarlierSiteBounded: endAttempt waited for the earlier
// attempts' cleans at their own sites, whatever their contexts said, so a
// site hung past every context held the step of a run now at a healthy
// site. It waits for them at most their wait now, and returns.
func TestEndAttemptHungEarlierSiteBounded(t *testing.T) {
	hc := &hangingClean{entered: make(chan struct{}, 4), release: make(chan struct{})}
	var freeOnce sync.Once
	free := func() { freeOnce.Do(func() { close(hc.release) }) }
	t.Cleanup(free)
	f := newCkMoveFixtureWith(t, func(cfg *Config) {
		inner := cfg.Backends
		cfg.Backends = func(s *catalog.Site, root string) (backend.Backend, error) {
			b, err := inner(s, root)
			if err != nil || s.Metadata.Name != "bravo" {
				return b, err
			}
			hc.Backend = b
			return hc, nil
		}
	}, jobDoc(100, 10))
	f.c.cleanWait = 200 * time.Millisecond
	r := *f.r
	r.Attempt = 2
	r.Attempts = []Attempt{{N: 1, Site: "bravo", Handle: "job-at-bravo"}}
	ended := make(chan struct{})
	go func() { defer close(ended); f.c.endAttempt(context.Background(), &r) }()
	select {
	case <-hc.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("bravo was never asked to clean the earlier attempt")
	}
	select {
	case <-ended:
	case <-time.After(20 * time.Second):
		free()
		<-ended
		t.Fatal("endAttempt waited on a clean at a hung site past its wait")
	}
	free()
}
