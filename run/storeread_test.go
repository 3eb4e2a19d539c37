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
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
	"meridian.dev/meridian/store"
)

// TestStoreReadErrorKeepsRuns: a run's world is read from the tenant's
// registered resources when a controller first meets the run (after a
// restart, say). A store that cannot be read then says nothing about the
// run: the step that needed the world is tried again, and the run is not
// failed, whether it was about to start, held or moving. Once the store
// reads again the same steps go on.
func TestStoreReadErrorKeepsRuns(t *testing.T) {
	ctx := context.Background()
	var fs *flakyResources
	f := newLawCheckFixture(t, func(st store.Store) store.Store { fs = &flakyResources{Store: st}; return fs })
	r, _, err := f.stagingController(nil).Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(10, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	if r.State != Planned {
		t.Fatalf("submitted: %s (%s)", r.State, r.Reason)
	}
	// step runs one step of r in a controller that has not yet read its
	// world, with the store failing, and checks that the step reports a
	// store read error and leaves the run in state want.
	step := func(want State) {
		t.Helper()
		fs.fail.Store(true)
		before := fs.reads.Load()
		_, err := f.stagingController(nil).Step(ctx, r.ID)
		fs.fail.Store(false)
		if fs.reads.Load() == before {
			t.Fatalf("%s: the step did not read the registered resources: the test tries nothing", want)
		}
		if !notJudged(err) {
			t.Errorf("%s: step while the store fails: %v, want a store read error", want, err)
		}
		got, err := f.stagingController(nil).Get(ctx, "t1", r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != want {
			t.Fatalf("after a step while the store failed: %s (%s), want %s", got.State, got.Reason, want)
		}
	}
	step(Planned)
	// Held, due for a try.
	c := f.stagingController(nil)
	if _, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		r.Hold = &Hold{Reason: "test", Code: "not-now", Since: time.Now(), NextTry: time.Now().Add(-time.Minute)}
		return transition(ch, r, Held, "test: held")
	}); err != nil {
		t.Fatal(err)
	}
	step(Held)
	// Moving after a lost site.
	if _, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		r.Hold = nil
		r.Migration = &Migration{From: "alpha", Reason: "test: site lost"}
		return transition(ch, r, Migrating, "test: moving")
	}); err != nil {
		t.Fatal(err)
	}
	step(Migrating)
	// The store reads again: the re-plan places the run.
	if _, err := f.stagingController(nil).Step(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State.Final() || got.Migration == nil || got.Migration.Target == nil {
		t.Fatalf("re-plan once the store reads: %s (%s), migration %+v", got.State, got.Reason, got.Migration)
	}
}

// TestStoreReadErrorKeepsLiveAttempts: the same for a run about to submit
// its attempt and a running one: the backend is found through the run's
// world, and a store that cannot be read then must not end the attempt
// for good (its checkpoint given up, its job left at the site). Nor does a
// re-plan that cannot read what the runs hold fail the moving run.
func TestStoreReadErrorKeepsLiveAttempts(t *testing.T) {
	ctx := context.Background()
	var fs *flakyResources
	f := newLawCheckFixture(t, func(st store.Store) store.Store { fs = &flakyResources{Store: st}; return fs })
	r, _, err := f.stagingController(nil).Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(10, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	c := f.stagingController(nil)
	set := func(state State, mod func(*Run)) {
		t.Helper()
		if _, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
			mod(r)
			return transition(ch, r, state, "test: "+string(state))
		}); err != nil {
			t.Fatal(err)
		}
	}
	// step runs one step in a controller that has not read the run's
	// world yet, while fail says what of the store fails.
	step := func(want State, fail *atomic.Bool) {
		t.Helper()
		fail.Store(true)
		_, err := f.stagingController(nil).Step(ctx, r.ID)
		fail.Store(false)
		if !notJudged(err) {
			t.Errorf("%s: step while the store fails: %v, want a store read error", want, err)
		}
		got, err := c.Get(ctx, "t1", r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != want {
			t.Fatalf("after a step while the store failed: %s (%s), want %s", got.State, got.Reason, want)
		}
	}
	set(Staging, func(r *Run) {
		r.Attempt, r.Staged = 1, 1
		r.Attempts = []Attempt{{N: 1, Site: r.Site, Nonce: newNonce(), Count: r.Placement.Count}}
	})
	step(Staging, &fs.fail)
	set(Running, func(r *Run) { r.Handle = "12345" })
	step(Running, &fs.fail)
	// Draining for a rule: the attempt keeps its grace to checkpoint.
	set(Migrating, func(r *Run) {
		r.Migration = &Migration{From: r.Site, Reason: "test: rule", Drain: true, DrainBy: time.Now().Add(time.Hour)}
	})
	step(Migrating, &fs.fail)
	if got, err := c.Get(ctx, "t1", r.ID); err != nil || got.Migration == nil || !got.Migration.Drain {
		t.Fatalf("a drain whose backend could not be found for a store read error was taken as over: %+v (%v)", got.Migration, err)
	}
	set(Migrating, func(r *Run) { r.Migration = &Migration{From: r.Site, Reason: "test: site lost"} })
	step(Migrating, &fs.failHolds)
}

// hangingCleaner is a site whose cleanup of an ended attempt never
// answers (a scheduler that hangs while the site is down).
// Handles that start with "ok-" are cleaned at once, and listed in ok.
type hangingCleaner struct {
	backend.Backend
	calls atomic.Int64
	mu    sync.Mutex
	ok    []string
}

func (h *hangingCleaner) Clean(ctx context.Context, handle string) error {
	h.calls.Add(1)
	if strings.HasPrefix(handle, "ok-") {
		h.mu.Lock()
		h.ok = append(h.ok, handle)
		h.mu.Unlock()
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

// TestManyAttemptsAtAHangingSiteStillMove: a run that has left a flaky
// site many times asks the site to clean each earlier attempt again when
// an attempt ends. With the site hanging, those waits must not use up the
// step: the run moving off it is planned again.
func TestManyAttemptsAtAHangingSiteStillMove(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	hang := &hangingCleaner{}
	c := f.stagingController(func(cfg *Config) {
		cfg.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
			b, err := backend.For(site.Spec.Backend, root)
			hang.Backend = b
			return hang, err
		}
	})
	c.cleanWait = 200 * time.Millisecond
	r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(10, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		for n := 1; n <= 7; n++ {
			r.Attempts = append(r.Attempts, Attempt{N: n, Site: "alpha", Nonce: newNonce(), Handle: fmt.Sprintf("h%d", n), Count: r.Placement.Count})
		}
		// An earlier attempt at a site that answers, after those at the
		// hanging one.
		r.Attempts = append(r.Attempts, Attempt{N: 8, Site: "bravo", Nonce: newNonce(), Handle: "ok-8", Count: r.Placement.Count})
		r.Attempts = append(r.Attempts, Attempt{N: 9, Site: "alpha", Nonce: newNonce(), Handle: "h9", Count: r.Placement.Count})
		r.Attempt, r.Handle = 9, "h9"
		r.Migration = &Migration{From: "alpha", Reason: "test: site lost", LostAt: time.Now()}
		return transition(ch, r, Migrating, "test: site lost")
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Step(ctx, r.ID); err != nil {
		t.Fatalf("step of a run moving off a hanging site: %v", err)
	}
	got, err := c.Get(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Migration == nil || got.Migration.Target == nil {
		t.Fatalf("after the step: %s (%s), migration %+v; want a target", got.State, got.Reason, got.Migration)
	}
	if hang.calls.Load() == 0 {
		t.Error("no attempt was cleaned: the test tries nothing")
	}
	hang.mu.Lock()
	defer hang.mu.Unlock()
	if len(hang.ok) != 1 {
		t.Errorf("the earlier attempt at the site that answers was asked %d times, want once: the hanging site kept it from being asked", len(hang.ok))
	}
}

// failingAudit is a store whose audit log refuses appends while fail is
// set.
type failingAudit struct {
	store.Store
	fail atomic.Bool
}

func (s *failingAudit) AppendAudit(ctx context.Context, recs ...audit.Record) error {
	if s.fail.Load() {
		return errors.New("connection reset by peer")
	}
	return s.Store.AppendAudit(ctx, recs...)
}

// TestPutKeyNotRecordedNotKept: a dataset key whose change the audit log
// could not record is not kept: the key it replaced is back, or there is
// none. It used to stay, used for stagings the log never said it had.
func TestPutKeyNotRecordedNotKept(t *testing.T) {
	ctx := context.Background()
	var fa *failingAudit
	f := newLawCheckFixture(t, func(st store.Store) store.Store { fa = &failingAudit{Store: st}; return fa })
	c := f.stagingController(nil)
	ds := "apiVersion: meridian.dev/v1alpha1\nkind: Dataset\nmetadata: {name: corpus}\nspec: {origin: SG, classification: public, sizeBytes: 1.0e5}\n"
	if _, err := c.Apply(ctx, "t1", []Document{{Name: "ds.yaml", Content: ds}}, false); err != nil {
		t.Fatal(err)
	}
	kr, err := c.keyrings().For("t1")
	if err != nil {
		t.Fatal(err)
	}
	k1, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	k2, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	fa.fail.Store(true)
	if err := c.PutKey(ctx, "t1", "corpus", k1.String()); err == nil {
		t.Fatal("a key whose change was not recorded: no error")
	}
	if _, err := kr.Get("corpus"); !errors.Is(err, dataset.ErrNoKey) {
		t.Fatalf("after a first key not recorded: %v, want no key", err)
	}
	fa.fail.Store(false)
	if err := c.PutKey(ctx, "t1", "corpus", k1.String()); err != nil {
		t.Fatal(err)
	}
	fa.fail.Store(true)
	if err := c.PutKey(ctx, "t1", "corpus", k2.String()); err == nil {
		t.Fatal("a replacing key whose change was not recorded: no error")
	}
	fa.fail.Store(false)
	got, err := kr.Get("corpus")
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != k1.String() {
		t.Error("after a replacing key not recorded: the keyring holds it, want the key it replaced")
	}
}

// TestFoundAttemptRecordedWhenLeaving: a server that handed an attempt to
// its site and stopped before recording the submission leaves a job the
// run does not know of. When the run leaves the site before a restart's
// submit step finds it (a rule made the site unlawful meanwhile), the job
// is found and stopped, and now recorded: the timeline says the attempt
// ran there, and its handle lets its scratch be cleaned. It used to be
// stopped with no trace, its scratch never cleaned.
func TestFoundAttemptRecordedWhenLeaving(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	c := f.stagingController(nil)
	r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(10, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		got, err := c.Get(ctx, "t1", r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State == Staging && got.Staged == got.Attempt {
			r = got
			break
		}
		if _, err := c.Step(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
	}
	if r.State != Staging || r.Staged != r.Attempt {
		t.Fatalf("run %s (%d staged of attempt %d), want staged and about to submit", r.State, r.Staged, r.Attempt)
	}
	be, err := c.backendFor(r, r.Site)
	if err != nil {
		t.Fatal(err)
	}
	// The submission the server made and did not record.
	h, err := be.Submit(ctx, backend.Spec{RunID: r.ID, Attempt: r.Attempt, Command: []string{"sleep", "60"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Cancel(context.Background(), h) })
	if _, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		r.Migration = &Migration{From: r.Site, Reason: "test: the site is not lawful now", LostAt: time.Now()}
		return transition(ch, r, Migrating, "test: leaving for the law")
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Step(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a := got.Attempts[0]; a.Handle != h {
		t.Errorf("attempt 1's handle is %q, want the job found, %q", a.Handle, h)
	}
	evs, err := c.Events(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range evs {
		found = found || e.Kind == "attempt-found" && strings.Contains(e.Reason, "attempt 1 submitted to alpha as "+h)
	}
	if !found {
		t.Errorf("no event records the attempt found at alpha: %+v", evs)
	}
	if st, err := be.Status(ctx, h); err != nil || !st.State.Final() {
		t.Errorf("the found job: %+v (%v), want it stopped", st, err)
	}
}
