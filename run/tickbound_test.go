package run

import (
	"context"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// hangingSite is a site whose Status hangs, whatever its context says, as
// a Slurm backend's does on a state directory whose file server stopped
// answering: the next call for a handle armed, or every call once hangAll
// is set, blocks until free. It counts the calls (Status and Cancel) out
// on each handle at once, and the most there ever were.
type hangingSite struct {
	backend.Backend
	mu       sync.Mutex
	armed    map[string]bool
	all      bool
	late     *backend.Status
	entered  chan string
	release  chan struct{}
	freeOnce sync.Once
	out      map[string]int
	blocked  int
	most     int
}

func newHangingSite() *hangingSite {
	return &hangingSite{armed: map[string]bool{}, entered: make(chan string, 64), release: make(chan struct{}), out: map[string]int{}}
}

// at wraps site's backend in h.
func (h *hangingSite) at(site string) func(*Config) {
	return func(cfg *Config) {
		inner := cfg.Backends
		cfg.Backends = func(s *catalog.Site, root string) (backend.Backend, error) {
			b, err := inner(s, root)
			if err != nil || s.Metadata.Name != site {
				return b, err
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			h.Backend = b
			return h, nil
		}
	}
}

// arm makes the next Status of handle hang, and answer late (nil: the
// site's own answer) once freed.
func (h *hangingSite) arm(handle string, late *backend.Status) {
	h.mu.Lock()
	h.armed[handle], h.late = true, late
	h.mu.Unlock()
}

func (h *hangingSite) hangAll() {
	h.mu.Lock()
	h.all = true
	h.mu.Unlock()
}

func (h *hangingSite) free() { h.freeOnce.Do(func() { close(h.release) }) }

func (h *hangingSite) enter(handle string, status bool) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.out[handle]++
	h.most = max(h.most, h.out[handle])
	select {
	case <-h.release:
		return false
	default:
	}
	block := status && (h.all || h.armed[handle])
	delete(h.armed, handle)
	if block {
		h.blocked++
	}
	return block
}

func (h *hangingSite) leave(handle string, blocked bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.out[handle]--
	if blocked {
		h.blocked--
	}
}

func (h *hangingSite) Status(ctx context.Context, handle string) (backend.Status, error) {
	block := h.enter(handle, true)
	defer h.leave(handle, block)
	if block {
		select {
		case h.entered <- handle:
		default:
		}
		<-h.release
		h.mu.Lock()
		late := h.late
		h.mu.Unlock()
		if late != nil {
			return *late, nil
		}
	}
	return h.Backend.Status(ctx, handle)
}

func (h *hangingSite) Cancel(ctx context.Context, handle string) error {
	h.enter(handle, false)
	defer h.leave(handle, false)
	return h.Backend.Cancel(ctx, handle)
}

// counts is the calls blocked now, and the most ever out on one handle.
func (h *hangingSite) counts() (blocked, most int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.blocked, h.most
}

// boundSteps sets stepWait and stuckPerSite for a test (before its
// controller starts; put back after it stopped).
func boundSteps(t *testing.T, wait time.Duration, perSite int) {
	oldWait, oldPer := stepWait, stuckPerSite
	stepWait, stuckPerSite = wait, perSite
	t.Cleanup(func() { stepWait, stuckPerSite = oldWait, oldPer })
}

// outSteps is the controller's count of steps out past their bound.
func outSteps(c *Controller) (runs map[string]string, total, ended, held int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	runs = map[string]string{}
	for id, s := range c.stepsOut.runs {
		runs[id] = s
	}
	return runs, c.stepsOut.total, c.stepsOut.ended, c.stepsOut.held
}

// waitTrue polls cond until it holds, or fails the test after timeout.
func waitTrue(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestTickHungStepHoldsNoOtherSite: a step held in its site's Status
// past every context (a state directory on a file server that stopped
// answering) held the tick's page, and so every run of every site. Tick
// waits for it only its bound now: a run at another site goes on and
// ends. The hung run is not stepped again while its step is out (no
// second call reaches its job), though it is cancelled meanwhile; when
// its Status answers at last, what it says is dropped, the run having
// changed since the step read it, and the run ends as its cancel says.
func TestTickHungStepHoldsNoOtherSite(t *testing.T) {
	boundSteps(t, 2*time.Second, 4)
	hs := newHangingSite()
	e := newEnv(t, hs.at("alpha"))
	ctx := context.Background()
	a, att := runningAttempt(t, e, jobDoc(100000, 1000), "an attempt running at alpha", func(r *Run) bool { return r.State == Running && r.Site == "alpha" })
	// Before the attempt's own cleanup, which waits for the run to end.
	t.Cleanup(hs.free)
	hs.arm(att.Handle, &backend.Status{State: backend.Failed, ExitCode: 3, Reason: "the late answer of a hung status"})
	select {
	case <-hs.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("no step asked alpha for the attempt's status")
	}
	// The run changes while its step is out.
	if _, err := e.c.Cancel(ctx, "t1", a.ID); err != nil {
		t.Fatal(err)
	}
	// Alpha has no room left: planned at bravo.
	b, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(10, 5)}})
	if err != nil {
		t.Fatal(err)
	}
	if b.Site != "bravo" {
		t.Fatalf("the second run is planned at %s, want bravo", b.Site)
	}
	if b = e.waitFor("the run at bravo to end while alpha hangs", 60*time.Second, func(r *Run) bool { return r.State.Final() }, b.ID); b.State != Succeeded {
		t.Fatalf("the run at bravo ended %s: %s", b.State, b.Reason)
	}
	if runs, _, _, _ := outSteps(e.c); runs[a.ID] != "alpha" {
		t.Fatalf("the hung step is not counted out past its bound: %v", runs)
	}
	got, err := e.c.Get(ctx, "t1", a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State.Final() || !got.CancelRequested {
		t.Fatalf("the hung run is %s (cancel requested %v) while its step is out: it was stepped again", got.State, got.CancelRequested)
	}
	if blocked, most := hs.counts(); blocked != 1 || most != 1 {
		t.Fatalf("%d calls blocked at alpha, at most %d on the attempt's job at once; want 1 and 1", blocked, most)
	}
	hs.free()
	if got = e.waitFor("the hung run to end", 60*time.Second, func(r *Run) bool { return r.State.Final() }, a.ID); got.State != Cancelled {
		t.Fatalf("the hung run ended %s (%s); want cancelled: its late step wrote over the cancel that came meanwhile", got.State, got.Reason)
	}
	if _, most := hs.counts(); most != 1 {
		t.Errorf("at most %d calls on the attempt's job at once; want 1: the run was stepped twice at once", most)
	}
	waitTrue(t, "the late step to be counted ended", 30*time.Second, func() bool {
		runs, total, ended, _ := outSteps(e.c)
		return len(runs) == 0 && total >= 1 && ended == total
	})
}

// TestTickBoundsStuckStepsPerSite: a hung site holds at most stuckPerSite
// steps out (with one worker): its other runs' steps wait, counted, and
// go on once it answers.
func TestTickBoundsStuckStepsPerSite(t *testing.T) {
	boundSteps(t, time.Second, 1)
	hs := newHangingSite()
	// Site fa has room for two such runs.
	e := newEnv(t, func(c *Config) { c.Workers = 1; c.CatalogDir = "testdata/fleet-sites"; hs.at("fa")(c) })
	var ids []string
	for range 2 {
		r, _ := runningAttempt(t, e, jobDoc(100000, 1000), "an attempt running at fa", func(r *Run) bool { return r.State == Running && r.Site == "fa" })
		ids = append(ids, r.ID)
	}
	t.Cleanup(hs.free)
	hs.hangAll()
	_, _, _, held0 := outSteps(e.c)
	waitTrue(t, "three steps left for fa's step out", 60*time.Second, func() bool {
		_, _, _, held := outSteps(e.c)
		return held >= held0+3
	})
	runs, _, _, _ := outSteps(e.c)
	if blocked, _ := hs.counts(); blocked != 1 || len(runs) != 1 {
		t.Fatalf("%d steps blocked at fa, %d counted out (%v); want 1 and 1", blocked, len(runs), runs)
	}
	// What /metrics exports of it.
	if out, late, held := e.c.StepCounts(); out != 1 || late < 1 || held < held0+3 {
		t.Fatalf("StepCounts says %d out, %d late, %d held; want 1, at least 1, at least %d", out, late, held, held0+3)
	}
	hs.free()
	for _, id := range ids {
		if _, err := e.c.Cancel(context.Background(), "t1", id); err != nil {
			t.Fatal(err)
		}
		if r := e.waitFor("the run to end once fa answers", 60*time.Second, func(r *Run) bool { return r.State.Final() }, id); r.State != Cancelled {
			t.Errorf("run ended %s (%s), want cancelled", r.State, r.Reason)
		}
	}
	if _, most := hs.counts(); most != 1 {
		t.Errorf("at most %d calls on one job at once; want 1", most)
	}
	waitTrue(t, "no step counted out once fa answers", 30*time.Second, func() bool {
		out, late, _ := e.c.StepCounts()
		return out == 0 && late >= 1
	})
}
