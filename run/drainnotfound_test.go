package run

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// forgottenJob is a site's backend that knows no job: its Status and
// its Cancel both answer not found, as a site whose job ended and whose
// record of it is gone does.
type forgottenJob struct {
	backend.Backend
}

func (forgottenJob) Status(_ context.Context, h string) (backend.Status, error) {
	return backend.Status{}, fmt.Errorf("handle %q: %w", h, backend.ErrNotFound)
}

func (forgottenJob) Cancel(_ context.Context, h string) error {
	return fmt.Errorf("handle %q: %w", h, backend.ErrNotFound)
}

// drainControllerOf is a witnessed controller on x's database whose
// backend of alpha is wrap's, with the site timeout given.
func (x *changedRunFixture) drainControllerOf(wrap func(backend.Backend) backend.Backend, siteTimeout time.Duration) *Controller {
	return x.f.controller(func(cfg *Config) {
		cfg.Store, cfg.AuditChain = x.f.st, audit.NewChain(testAuditKey)
		cfg.SiteTimeout = siteTimeout
		cfg.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
			be, err := backend.For(site.Spec.Backend, root)
			if err != nil || site.Metadata.Name != "alpha" {
				return be, err
			}
			return wrap(be), nil
		}
		agentConfig(x.t, cfg, func() *Controller { return x.live })
	})
}

// TestDrainNotEndedByNotFoundOfForgedHandle: a drain's Cancel answered
// not found ended the drain at once, the handle never checked against
// the run's sealed submission: a handle written on the row outside
// Meridian is not found while the job it should name runs on, and the
// move went ahead beside it. Not found now counts as any failed Cancel
// does, until the site timeout ends the drain unconfirmed.
func TestDrainNotEndedByNotFoundOfForgedHandle(t *testing.T) {
	x := newChangedRunFixture(t)
	if _, err := x.f.st.DB().ExecContext(x.ctx, `UPDATE runs SET handle = ? WHERE id = ?`, "forged-handle", x.r.ID); err != nil {
		t.Fatal(err)
	}
	// The site knows no job of that handle (its Status and Cancel both
	// say so): only the sealed submission tells it is not the attempt's.
	wrap := func(be backend.Backend) backend.Backend { return forgottenJob{be} }
	c := x.drainControllerOf(wrap, time.Hour)
	r := x.drainingRun()
	if r.Handle != "forged-handle" {
		t.Fatalf("the row's handle %q; want the forged one", r.Handle)
	}
	if done, unconfirmed, err := c.draining(x.ctx, r); done || err == nil || !strings.Contains(err.Error(), "sealed submission") {
		t.Fatalf("a drain whose Cancel of a forged handle was not found: over %v (%q), error %v; want not over, the error naming the sealed submission", done, unconfirmed, err)
	}
	// Counted as a failure: past the site timeout the drain is over,
	// unconfirmed.
	c = x.drainControllerOf(wrap, time.Millisecond)
	if done, _, err := c.draining(x.ctx, r); done || err == nil {
		t.Fatalf("the first not found under a 1 ms site timeout: over %v, error %v; want not over yet", done, err)
	}
	time.Sleep(5 * time.Millisecond)
	done, unconfirmed, err := c.draining(x.ctx, r)
	if !done || err != nil || !strings.Contains(unconfirmed, "did not confirm") {
		t.Fatalf("not found past the site timeout: over %v (%q), error %v; want over, unconfirmed", done, unconfirmed, err)
	}
}

// TestDrainNotEndedByNotFoundOfAJobItsSiteSaysRuns: a site that said
// the attempt's job runs, then answered its Cancel with not found (a
// flaky or lying site), ended the drain while the job ran. Not found
// ends a drain only where the site's Status does not know the job
// either; otherwise it counts as a failed Cancel.
func TestDrainNotEndedByNotFoundOfAJobItsSiteSaysRuns(t *testing.T) {
	x := newChangedRunFixture(t)
	var calls atomic.Int64
	c := x.drainControllerOf(func(be backend.Backend) backend.Backend { return notFoundCancel{Backend: be, calls: &calls} }, time.Hour)
	r := x.drainingRun()
	be, err := c.backendFor(r, r.Site)
	if err != nil {
		t.Fatal(err)
	}
	st, err := be.Status(x.ctx, r.Handle)
	if err != nil || st.State.Final() {
		t.Fatalf("the attempt's job at alpha: %v (%v); want it live", st.State, err)
	}
	if done, unconfirmed, err := c.draining(x.ctx, r); done || err == nil || !strings.Contains(err.Error(), "status said the job was live") {
		t.Fatalf("a drain whose Cancel was not found while its site says the job is %s: over %v (%q), error %v; want not over, the error saying the site's status said the job was live", st.State, done, unconfirmed, err)
	}
}

// lostJob is a site's backend whose Status says it lost track of the
// job (a local job whose wrapper is gone without an exit code, its
// command perhaps running on); cancels counts the Cancels it is asked.
type lostJob struct {
	backend.Backend
	cancels *atomic.Int64
}

func (lostJob) Status(context.Context, string) (backend.Status, error) {
	return backend.Status{State: backend.Lost, Reason: "test: the job's wrapper is gone"}, nil
}

func (b lostJob) Cancel(ctx context.Context, h string) error {
	b.cancels.Add(1)
	return b.Backend.Cancel(ctx, h)
}

// TestDrainOfALostJobCancelsIt: a drain took a Status of Lost as the
// attempt ended, as it does Succeeded or Failed, and was over at once,
// confirmed, with no Cancel: a site that lost track of the job says
// nothing of whether it ended (a local job whose wrapper was killed
// alone runs its command on), and the move went ahead beside it. Lost
// now ends no drain: past its grace the attempt is cancelled, and the
// drain is over once the site confirms it.
func TestDrainOfALostJobCancelsIt(t *testing.T) {
	x := newChangedRunFixture(t)
	var cancels atomic.Int64
	c := x.drainControllerOf(func(be backend.Backend) backend.Backend { return lostJob{Backend: be, cancels: &cancels} }, time.Hour)
	done, unconfirmed, err := c.draining(x.ctx, x.drainingRun())
	if !done || err != nil || unconfirmed != "" {
		t.Fatalf("a drain of a job its site lost track of: over %v (%q), error %v; want over once its Cancel is confirmed", done, unconfirmed, err)
	}
	if n := cancels.Load(); n != 1 {
		t.Errorf("%d cancels reached the site; want 1: a lost job is cancelled before the drain is over", n)
	}
}

// TestDrainOverWhenItsSiteNoLongerKnowsTheJob: where the site knows
// nothing of the job its sealed submission names (its Status and its
// Cancel both answer not found), nothing of it runs there: the drain is
// over at once, as the user's cancel of such a job is.
func TestDrainOverWhenItsSiteNoLongerKnowsTheJob(t *testing.T) {
	x := newChangedRunFixture(t)
	c := x.drainControllerOf(func(be backend.Backend) backend.Backend { return forgottenJob{be} }, time.Hour)
	done, unconfirmed, err := c.draining(x.ctx, x.drainingRun())
	if !done || err != nil || unconfirmed != "" {
		t.Fatalf("a drain of a job its site no longer knows: over %v (%q), error %v; want over, confirmed", done, unconfirmed, err)
	}
}
