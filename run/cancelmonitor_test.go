package run

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// notFoundCancel is a site's backend that answers every cancel with not
// found: a site that forgot the job.
type notFoundCancel struct {
	backend.Backend
	calls *atomic.Int64
}

func (b notFoundCancel) Cancel(_ context.Context, h string) error {
	b.calls.Add(1)
	return fmt.Errorf("handle %q: %w", h, backend.ErrNotFound)
}

// cancelController is a witnessed controller on x's database whose
// backend of alpha is wrap's, and whose site timeout passes at once.
func (x *changedRunFixture) cancelController(wrap func(backend.Backend) backend.Backend) *Controller {
	return x.f.controller(func(cfg *Config) {
		cfg.Store, cfg.AuditChain = x.f.st, audit.NewChain(testAuditKey)
		cfg.SiteTimeout = time.Millisecond
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

// stepToEnd steps the run with c until it ends (at most n steps).
func (x *changedRunFixture) stepToEnd(c *Controller, n int) *Run {
	x.t.Helper()
	for range n {
		if _, err := c.Step(x.ctx, x.r.ID); err != nil {
			x.t.Logf("step: %v", err)
		}
		if r := x.get(x.r.ID); r.State.Final() {
			return r
		}
		time.Sleep(5 * time.Millisecond)
	}
	r := x.get(x.r.ID)
	x.t.Fatalf("after %d steps the run is %s (%s); want it ended", n, r.State, r.Reason)
	return r
}

// TestRefusedCancelIsSaidNotCarried: a running run's cancel that its
// site refused ended, past the site timeout, with the site lost and the
// run "cancelled by the user while moving", after a last try that the
// site refused too: nothing said the cancel may never have reached the
// workload. The run's reason, its timeline and a cancel-not-carried audit
// record now say so.
func TestRefusedCancelIsSaidNotCarried(t *testing.T) {
	x := newChangedRunFixture(t)
	if _, err := x.live.Cancel(x.ctx, "t1", x.r.ID); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	var calls atomic.Int64
	c := x.cancelController(func(be backend.Backend) backend.Backend { return refusingCancel{Backend: be, calls: &calls} })
	got := x.stepToEnd(c, 20)
	if got.State != Cancelled || !strings.Contains(got.Reason, "not carried to site alpha") || strings.Contains(got.Reason, "Invalid job id") || !strings.Contains(got.Reason, "server's log") {
		t.Errorf("the run: %s (%s); want it cancelled, its reason saying its cancel was not carried to alpha, and that the site's words are in the server's log, not in it", got.State, got.Reason)
	}
	if recs, evs := x.cancelRefusedRecords(); recs != 1 || evs != 1 {
		t.Errorf("%d audit records and %d events of the cancel not carried; want 1 of each", recs, evs)
	}
	if calls.Load() < 2 {
		t.Errorf("%d cancels reached the site; want it asked, and asked again as the run left it", calls.Load())
	}
}

// TestNotFoundCancelIsNoSiteLoss: a site that answered a running run's
// cancel with not found (it no longer knows the job, its Status neither,
// so nothing of it runs there) was asked again until the site timeout
// counted it lost: the run was excluded from the site as though it had
// failed it. The job is now taken as gone: the run ends cancelled at
// once, the site not lost.
func TestNotFoundCancelIsNoSiteLoss(t *testing.T) {
	x := newChangedRunFixture(t)
	if _, err := x.live.Cancel(x.ctx, "t1", x.r.ID); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	var calls atomic.Int64
	c := x.cancelController(func(be backend.Backend) backend.Backend {
		return notFoundCancel{Backend: forgottenJob{be}, calls: &calls}
	})
	got := x.stepToEnd(c, 20)
	if got.State != Cancelled || !strings.Contains(got.Reason, "no longer knows") {
		t.Errorf("the run: %s (%s); want it cancelled, its job gone from alpha", got.State, got.Reason)
	}
	if slices.Contains(got.Excluded, "alpha") {
		t.Errorf("the run excludes alpha %v; want the site not lost for a job it no longer knows", got.Excluded)
	}
	evs, err := x.live.Events(x.ctx, "t1", x.r.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Kind == "site-lost" || e.Kind == KindCancelNotCarried {
			t.Errorf("event %s (%s); want none: the site said the job is gone", e.Kind, e.Reason)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d cancels sent; want 1", n)
	}
}

// TestNotFoundCancelOfForgedHandle: "not found" ends a cancel only for
// the job the run's sealed submission names: a handle written on the row
// outside Meridian is not found while the job runs on. Its cancel is
// asked until the site timeout and then said not carried.
func TestNotFoundCancelOfForgedHandle(t *testing.T) {
	x := newChangedRunFixture(t)
	if _, err := x.f.st.DB().ExecContext(x.ctx, `UPDATE runs SET handle = ? WHERE id = ?`, "forged-handle", x.r.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := x.live.Cancel(x.ctx, "t1", x.r.ID); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	var calls atomic.Int64
	c := x.cancelController(func(be backend.Backend) backend.Backend { return notFoundCancel{Backend: be, calls: &calls} })
	got := x.stepToEnd(c, 20)
	if strings.Contains(got.Reason, "no longer knows") || !strings.Contains(got.Reason, "not carried to site alpha") {
		t.Errorf("the run: %s (%s); want its cancel said not carried to alpha", got.State, got.Reason)
	}
	if recs, evs := x.cancelRefusedRecords(); recs != 1 || evs != 1 {
		t.Errorf("%d audit records and %d events of the cancel not carried; want 1 of each", recs, evs)
	}
}
