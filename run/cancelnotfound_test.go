package run

import (
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/store"
)

// TestNotFoundCancelOfAJobItsSiteSaysRuns: the user's cancel of a
// running run took its site's not found as the job gone for the sealed
// handle, though the site's Status said the job ran: a flaky or lying
// site ended the cancel confirmed, the run cancelled and its accelerators
// counted free, while the workload ran on. Not found is now taken only
// where the site's Status does not know the job either, as a drain's is:
// here the cancel is asked until the site timeout and said not carried.
func TestNotFoundCancelOfAJobItsSiteSaysRuns(t *testing.T) {
	x := newChangedRunFixture(t)
	if _, err := x.live.Cancel(x.ctx, "t1", x.r.ID); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	var calls atomic.Int64
	c := x.cancelController(func(be backend.Backend) backend.Backend { return notFoundCancel{Backend: be, calls: &calls} })
	// The site's Status says the job is live (the attempt's real job at
	// alpha): only its Cancel says not found.
	be, err := c.backendFor(x.r, x.r.Site)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := be.Status(x.ctx, x.r.Handle); err != nil || st.State.Final() {
		t.Fatalf("the attempt's job at alpha: %v (%v); want it live", st.State, err)
	}
	got := x.stepToEnd(c, 20)
	if got.State != Cancelled || strings.Contains(got.Reason, "no longer knows") || !strings.Contains(got.Reason, "not carried to site alpha") {
		t.Errorf("the run: %s (%s); want it cancelled, its cancel said not carried to alpha", got.State, got.Reason)
	}
	if !strings.Contains(got.Reason, "status said the job was live") {
		t.Errorf("the run's reason %q; want it to say the site's status said the job was live", got.Reason)
	}
	if recs, evs := x.cancelRefusedRecords(); recs != 1 || evs != 1 {
		t.Errorf("%d audit records and %d events of the cancel not carried; want 1 of each", recs, evs)
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
// It is now said not carried, naming why.
func TestCancelWhileMovingNotConfirmedByNotFoundOfALiveJob(t *testing.T) {
	x := newChangedRunFixture(t)
	var calls atomic.Int64
	c := x.drainControllerOf(func(be backend.Backend) backend.Backend { return notFoundCancel{Backend: be, calls: &calls} }, time.Hour)
	if _, err := c.cancelMoving(x.ctx, x.movingCancelled()); err != nil {
		t.Fatalf("cancel while moving: %v", err)
	}
	got := x.get(x.r.ID)
	if got.State != Cancelled || !strings.Contains(got.Reason, "not carried to site alpha") || !strings.Contains(got.Reason, "status said the job was live") {
		t.Errorf("the run: %s (%s); want it cancelled, its cancel said not carried to alpha, the site's status saying the job was live", got.State, got.Reason)
	}
	if calls.Load() != 1 {
		t.Errorf("%d cancels reached the site; want 1", calls.Load())
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
// site's Status says the job is live.
func TestCancelOfChangedMovingRunNotEndedByNotFoundOfALiveJob(t *testing.T) {
	x := newChangedRunFixture(t)
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
