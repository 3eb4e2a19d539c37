package run

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
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

// siteSays are the Status answers under a Cancel's not found that show
// no job gone: the site says the job is live, says it lost track of the
// job, or its Status fails. Each wraps alpha's backend, and is named by
// the words the run's reason gives for it.
var siteSays = []struct {
	what, note string
	wrap       func(backend.Backend) backend.Backend
}{
	{"live", "status said the job was live", func(be backend.Backend) backend.Backend { return be }},
	{"lost", "status said it lost track of the job", func(be backend.Backend) backend.Backend {
		return lostJob{Backend: be, cancels: new(atomic.Int64)}
	}},
	{"status failing", "status did not say the job is gone", func(be backend.Backend) backend.Backend { return failingStatus{be} }},
}

// failingStatus is a site's backend whose Status fails: it says nothing
// of the job.
type failingStatus struct{ backend.Backend }

func (failingStatus) Status(context.Context, string) (backend.Status, error) {
	return backend.Status{}, errors.New("test: connection reset by peer")
}

// endedJob is a site's backend whose Status says the job succeeded.
type endedJob struct{ backend.Backend }

func (endedJob) Status(context.Context, string) (backend.Status, error) {
	return backend.Status{State: backend.Succeeded}, nil
}

// TestNotFoundCancelOfAJobItsSiteSaysRuns: the user's cancel of a
// running run took its site's not found as the job gone for the sealed
// handle, though the site's Status said the job ran: a flaky or lying
// site ended the cancel confirmed, the run cancelled and its accelerators
// counted free, while the workload ran on. Not found is now taken only
// where the site's Status does not know the job either, as a drain's is:
// here the cancel is asked until the site timeout and said not carried.
// So too where the Status says the site lost track of the job, or fails.
//
// The attempt's agent is held from before the cancel to the end of the
// test (heldAgentFixture): told of the cancel by its next report, it
// stopped its workload, and a job that ended before the monitor asked its
// Status was rightly taken as gone, the cancel confirmed.
func TestNotFoundCancelOfAJobItsSiteSaysRuns(t *testing.T) {
	for _, says := range siteSays {
		t.Run(says.what, func(t *testing.T) {
			x, agent := newHeldAgentFixture(t)
			agent.hold()
			if _, err := x.live.Cancel(x.ctx, "t1", x.r.ID); err != nil {
				t.Fatalf("cancel: %v", err)
			}
			var calls atomic.Int64
			c := x.cancelController(func(be backend.Backend) backend.Backend {
				return notFoundCancel{Backend: says.wrap(be), calls: &calls}
			})
			if says.what == "live" {
				// The site's Status says the job is live (the attempt's
				// real job at alpha): only its Cancel says not found.
				be, err := c.backendFor(x.r, x.r.Site)
				if err != nil {
					t.Fatal(err)
				}
				if st, err := be.Status(x.ctx, x.r.Handle); err != nil || st.State.Final() {
					t.Fatalf("the attempt's job at alpha: %v (%v); want it live", st.State, err)
				}
			}
			got := x.stepToEnd(c, 20)
			if got.State != Cancelled || strings.Contains(got.Reason, "no longer knows") || !strings.Contains(got.Reason, "not carried to site alpha") {
				t.Errorf("the run: %s (%s); want it cancelled, its cancel said not carried to alpha", got.State, got.Reason)
			}
			if !strings.Contains(got.Reason, says.note) {
				t.Errorf("the run's reason %q; want it to say the site's %s", got.Reason, says.note)
			}
			if recs, evs := x.cancelRefusedRecords(); recs != 1 || evs != 1 {
				t.Errorf("%d audit records and %d events of the cancel not carried; want 1 of each", recs, evs)
			}
		})
	}
}

// TestNotFoundCancelOfAJobItsSiteSaysEndedSaysSo: a user's cancel taken
// for the job gone where the site's Status said the job had ended was
// worded as for a job the site no longer knows; it now says what the
// site said.
func TestNotFoundCancelOfAJobItsSiteSaysEndedSaysSo(t *testing.T) {
	x := newChangedRunFixture(t)
	if _, err := x.live.Cancel(x.ctx, "t1", x.r.ID); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	var calls atomic.Int64
	c := x.cancelController(func(be backend.Backend) backend.Backend { return notFoundCancel{Backend: endedJob{be}, calls: &calls} })
	got := x.stepToEnd(c, 20)
	if got.State != Cancelled || strings.Contains(got.Reason, "not carried") || strings.Contains(got.Reason, "no longer knows") || !strings.Contains(got.Reason, "had ended") {
		t.Errorf("the run: %s (%s); want it cancelled, confirmed, saying the site said its job had ended", got.State, got.Reason)
	}
}

// movingCancelled puts x's run moving off alpha, without a drain, and
// cancels it: cancelMoving's stopAttempt is the last word to its site.
func (x *changedRunFixture) movingCancelled() *Run {
	x.t.Helper()
	if _, err := x.live.update(x.ctx, x.r.ID, func(r *Run, ch *store.Change) error {
		r.Migration = &Migration{From: r.Site, Reason: "test: site lost", LostAt: time.Now()}
		return transition(ch, r, Migrating, "test: leaving alpha")
	}); err != nil {
		x.t.Fatal(err)
	}
	if _, err := x.live.Cancel(x.ctx, "t1", x.r.ID); err != nil {
		x.t.Fatalf("cancel: %v", err)
	}
	r := x.get(x.r.ID)
	if r.State != Migrating || !r.CancelRequested {
		x.t.Fatalf("the run: %s, cancel requested %v; want it moving, cancelled", r.State, r.CancelRequested)
	}
	return r
}

// TestCancelWhileMovingNotConfirmedByNotFoundOfALiveJob: the last try
// to stop a cancelled moving run's attempt (stopAttempt) took its site's
// not found as the job gone for the sealed handle without asking its
// Status: a site whose Status said the job ran had the cancel confirmed.
// It is now said not carried, naming why; so too where the Status says
// the site lost track of the job, or fails.
//
// The attempt's agent is held from before the cancel to the end of the
// test (heldAgentFixture): told of the cancel by its next report, it
// stopped its workload, and a job that ended before stopAttempt asked
// its Status was rightly taken as gone, the cancel confirmed.
func TestCancelWhileMovingNotConfirmedByNotFoundOfALiveJob(t *testing.T) {
	for _, says := range siteSays {
		t.Run(says.what, func(t *testing.T) {
			x, agent := newHeldAgentFixture(t)
			var calls atomic.Int64
			c := x.drainControllerOf(func(be backend.Backend) backend.Backend {
				return notFoundCancel{Backend: says.wrap(be), calls: &calls}
			}, time.Hour)
			agent.hold()
			r := x.movingCancelled()
			if st := x.jobAt("alpha", r.Handle); st.State.Final() {
				t.Fatalf("the attempt's job at alpha, its agent held: %v; want it live", st.State)
			}
			if _, err := c.cancelMoving(x.ctx, r); err != nil {
				t.Fatalf("cancel while moving: %v", err)
			}
			got := x.get(x.r.ID)
			if got.State != Cancelled || !strings.Contains(got.Reason, "not carried to site alpha") || !strings.Contains(got.Reason, says.note) {
				t.Errorf("the run: %s (%s); want it cancelled, its cancel said not carried to alpha, the site's %s", got.State, got.Reason, says.note)
			}
			if calls.Load() != 1 {
				t.Errorf("%d cancels reached the site; want 1", calls.Load())
			}
		})
	}
}

// heldAgent stands between a run's agents and the server's agent API:
// once held, what an agent sends waits, unanswered, until the test ends.
// An agent told of its run's cancel stops its workload; held, it is told
// nothing, and the job at the site runs on.
type heldAgent struct {
	mu       sync.Mutex
	held     bool
	released chan struct{}
	answered sync.WaitGroup // requests let through, not yet answered
}

// hold holds every request sent from now on, and returns once those
// already let through are answered: none is answered from a run read
// after hold returns.
func (g *heldAgent) hold() {
	g.mu.Lock()
	g.held = true
	g.mu.Unlock()
	g.answered.Wait()
}

func (g *heldAgent) handler(serve func() *Controller) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		g.mu.Lock()
		if g.held {
			g.mu.Unlock()
			select {
			case <-g.released:
			case <-req.Context().Done():
				return
			}
		} else {
			g.answered.Add(1)
			g.mu.Unlock()
			defer g.answered.Done()
		}
		serve().AgentHandler().ServeHTTP(w, req)
	})
}

// newHeldAgentFixture is newChangedRunFixture with its run's agent
// reaching the server through a heldAgent, let go when the test ends
// (before its jobs are ended).
func newHeldAgentFixture(t *testing.T) (*changedRunFixture, *heldAgent) {
	t.Helper()
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	t.Cleanup(func() { endLocalJobs(t, f.dir) })
	g := &heldAgent{released: make(chan struct{})}
	x := &changedRunFixture{t: t, ctx: ctx, f: f}
	x.live = f.controller(func(cfg *Config) {
		cfg.Store, cfg.AuditChain = f.st, audit.NewChain(testAuditKey)
		cfg.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
			return backend.For(site.Spec.Backend, root)
		}
		agentConfig(t, cfg, func() *Controller { return x.live })
		ts := httptest.NewServer(g.handler(func() *Controller { return x.live }))
		t.Cleanup(ts.Close)
		cfg.ServerURL = ts.URL
	})
	t.Cleanup(func() { close(g.released) })
	r, _, err := x.live.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(100000, 100)}})
	if err != nil {
		t.Fatal(err)
	}
	for range 6 {
		if _, err := x.live.Step(ctx, r.ID); err != nil {
			t.Logf("step: %v", err)
		}
		if r = x.get(r.ID); r.Handle != "" || r.State.Final() {
			break
		}
	}
	if r.Handle == "" || (r.State != Queued && r.State != Running) || r.Site != "alpha" {
		t.Fatalf("the run as placed: %s at %s (%s), handle %q; want its attempt started at alpha", r.State, r.Site, r.Reason, r.Handle)
	}
	x.r = r
	return x, g
}

// finding is a site's backend that finds the job of any attempt asked
// (backend.Finder) as handle.
type finding struct {
	backend.Backend
	handle string
}

func (f finding) Find(context.Context, string, int) (string, bool, error) { return f.handle, true, nil }

// TestStopAttemptOfAFoundJob: a run that holds no handle of its attempt
// (its submission's answer lost) has its job found at its site
// (backend.Finder) and stopped by the handle found. A not found of that
// job is taken as the job gone only where the site's Status agrees: where
// it says the job is live the stop is not confirmed, naming why; where it
// knows no job either, it is.
func TestStopAttemptOfAFoundJob(t *testing.T) {
	for _, live := range []bool{true, false} {
		x := newChangedRunFixture(t)
		var calls atomic.Int64
		c := x.drainControllerOf(func(be backend.Backend) backend.Backend {
			if !live {
				be = forgottenJob{be}
			}
			return finding{Backend: notFoundCancel{Backend: be, calls: &calls}, handle: x.r.Handle}
		}, time.Hour)
		r := x.get(x.r.ID)
		want := r.Handle
		r.Handle = ""
		for i := range r.Attempts {
			r.Attempts[i].Handle = ""
		}
		h, err := c.stopAttempt(x.ctx, r, time.Minute)
		if h != want {
			t.Errorf("live %v: the stop used handle %q; want the one found, %q", live, h, want)
		}
		if got := r.Attempts[len(r.Attempts)-1].Handle; got != want {
			t.Errorf("live %v: the attempt's handle after the stop is %q; want the one found recorded, %q", live, got, want)
		}
		switch {
		case live && (err == nil || !strings.Contains(err.Error(), "status said the job was live")):
			t.Errorf("a found job its site says is live, its cancel not found: %v; want the stop not confirmed, saying the status said it was live", err)
		case !live && err != nil:
			t.Errorf("a found job its site no longer knows: %v; want the stop confirmed", err)
		}
		if calls.Load() != 1 {
			t.Errorf("live %v: %d cancels reached the site; want 1", live, calls.Load())
		}
	}
}

// TestCancelWhileMovingConfirmedWhereItsSiteNoLongerKnowsTheJob: where
// the site knows nothing of the job its sealed submission names (its
// Status and its Cancel both answer not found), the stop is confirmed.
func TestCancelWhileMovingConfirmedWhereItsSiteNoLongerKnowsTheJob(t *testing.T) {
	x := newChangedRunFixture(t)
	c := x.drainControllerOf(func(be backend.Backend) backend.Backend { return forgottenJob{be} }, time.Hour)
	if _, err := c.cancelMoving(x.ctx, x.movingCancelled()); err != nil {
		t.Fatalf("cancel while moving: %v", err)
	}
	if got := x.get(x.r.ID); got.State != Cancelled || strings.Contains(got.Reason, "not carried") {
		t.Errorf("the run: %s (%s); want it cancelled, the stop confirmed", got.State, got.Reason)
	}
	if recs, evs := x.cancelRefusedRecords(); recs != 0 || evs != 0 {
		t.Errorf("%d audit records and %d events of the cancel not carried; want none", recs, evs)
	}
}

// TestCancelOfChangedMovingRunNotEndedByNotFoundOfALiveJob: the cancel
// of a moving run whose row was changed outside Meridian stops the
// attempt its sealed records name, and took the site's not found as the
// job gone without asking its Status: a site that said the job ran
// ended the cancel. It is now refused (tried again later) where the
// site's Status says the job is live. The attempt's agent is held from
// before the move and the cancel (heldAgentFixture), so that its job
// stays live.
func TestCancelOfChangedMovingRunNotEndedByNotFoundOfALiveJob(t *testing.T) {
	x, agent := newHeldAgentFixture(t)
	agent.hold()
	ctx, r := x.ctx, x.r
	if st := x.jobAt("alpha", r.Handle); st.State.Final() {
		t.Fatalf("the workload at alpha already ended: %+v", st)
	}
	target, _ := json.Marshal(r.Placement)
	var pl map[string]any
	json.Unmarshal(target, &pl)
	pl["site"], pl["country"] = "bravo", "MY"
	x.toState(Migrating, "", "", func(d map[string]json.RawMessage) {
		d["migration"], _ = json.Marshal(map[string]any{"from": "bravo", "reason": "site lost", "lostAt": "2026-01-01T00:00:00Z",
			"target": pl, "drain": true, "drainBy": "2099-01-01T00:00:00Z"})
	})
	if _, err := x.live.Cancel(ctx, "t1", r.ID); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	var calls atomic.Int64
	c := x.cancelController(func(be backend.Backend) backend.Backend { return notFoundCancel{Backend: be, calls: &calls} })
	_, err := c.Step(ctx, r.ID)
	if got := x.get(r.ID); got.State.Final() || err == nil || !strings.Contains(err.Error(), "status said the job was live") {
		t.Errorf("the run after a step: %s (%s), step error %v; want it not ended, its cancel refused, the site's status saying the job was live", got.State, got.Reason, err)
	}
	if calls.Load() != 1 {
		t.Errorf("%d cancels reached alpha; want 1", calls.Load())
	}
}

// TestCancelOfChangedRunAtALostSiteSaysItsSiteAnswered: the cancel of
// a moving run whose row was changed outside Meridian, moving off a site
// it lost, said the site "did not answer" where the site had answered not
// found and its Status said the job was live: it now says the site did
// not confirm the stop, and why. The attempt's agent is held from before
// the loss and the cancel (heldAgentFixture): under -race it failed 9 of
// 10 runs, the agent, told of the cancel, ending its workload before the
// code asked its Status, which then rightly found no live job.
func TestCancelOfChangedRunAtALostSiteSaysItsSiteAnswered(t *testing.T) {
	x, agent := newHeldAgentFixture(t)
	agent.hold()
	ctx, r := x.ctx, x.r
	if _, err := x.live.lose(ctx, r, "test: alpha lost"); err != nil {
		t.Fatal(err)
	}
	target, _ := json.Marshal(r.Placement)
	var pl map[string]any
	json.Unmarshal(target, &pl)
	pl["site"], pl["country"] = "bravo", "MY"
	x.toState(Migrating, "", "", func(d map[string]json.RawMessage) {
		d["migration"], _ = json.Marshal(map[string]any{"from": "alpha", "reason": "site lost", "lostAt": "2026-01-01T00:00:00Z", "target": pl})
	})
	if _, err := x.live.Cancel(ctx, "t1", r.ID); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	var calls atomic.Int64
	c := x.cancelController(func(be backend.Backend) backend.Backend { return notFoundCancel{Backend: be, calls: &calls} })
	if _, err := c.Step(ctx, r.ID); err != nil {
		t.Logf("step: %v", err)
	}
	got := x.get(r.ID)
	if got.State != Cancelled || strings.Contains(got.Reason, "did not answer") || !strings.Contains(got.Reason, "did not confirm the stop") || !strings.Contains(got.Reason, "status said the job was live") {
		t.Errorf("the run: %s (%s); want it cancelled, saying its lost site did not confirm the stop, its status saying the job was live", got.State, got.Reason)
	}
	if calls.Load() != 1 {
		t.Errorf("%d cancels reached alpha; want 1", calls.Load())
	}
}
