package run

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// refusingCancel is a site's backend whose Cancel answers with an error
// other than not found, as a scheduler does for a job it no longer knows
// under its own words, counting its calls.
type refusingCancel struct {
	backend.Backend
	calls *atomic.Int64
}

func (b refusingCancel) Cancel(context.Context, string) error {
	b.calls.Add(1)
	return errors.New("scancel: error: Kill job error on job id 4242: Invalid job id specified")
}

// refusingController is a witnessed controller on x's database whose
// backend of alpha refuses every cancel (counted in calls), its retries
// told the time by *now.
func (x *changedRunFixture) refusingController(calls *atomic.Int64, now *time.Time) *Controller {
	c := x.f.controller(func(cfg *Config) {
		cfg.Store, cfg.AuditChain = x.f.st, audit.NewChain(testAuditKey)
		cfg.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
			be, err := backend.For(site.Spec.Backend, root)
			if err != nil || site.Metadata.Name != "alpha" {
				return be, err
			}
			return refusingCancel{Backend: be, calls: calls}, nil
		}
		agentConfig(x.t, cfg, func() *Controller { return x.live })
	})
	c.cancelRetries.now = func() time.Time { return *now }
	return c
}

// cancelRefusedRecords counts the run's audit records of a cancel not
// carried, and its timeline's events of it.
func (x *changedRunFixture) cancelRefusedRecords() (records, events int) {
	x.t.Helper()
	if err := x.f.st.DB().QueryRowContext(x.ctx, `SELECT count(*) FROM audit WHERE run_id = ? AND kind = ?`, x.r.ID, KindCancelNotCarried).Scan(&records); err != nil {
		x.t.Fatal(err)
	}
	evs, err := x.live.Events(x.ctx, "t1", x.r.ID)
	if err != nil {
		x.t.Fatal(err)
	}
	for _, e := range evs {
		if e.Kind == "cancel-not-carried" {
			events++
		}
	}
	return records, events
}

// checkRefusedCancel steps the cancelled run with c, whose site refuses
// its cancel, and checks that the cancel is tried again after a wait
// (not at every step), said once to be not carried past the bounds, and
// still tried at the capped interval after.
func (x *changedRunFixture) checkRefusedCancel(c *Controller, calls *atomic.Int64, now *time.Time) {
	t := x.t
	step := func() {
		if _, err := c.Step(x.ctx, x.r.ID); err == nil {
			t.Errorf("a step of the run whose cancel its site refuses went through")
		}
	}
	// Many steps in a moment (the loop steps a run every tick, and up to
	// 8 times a tick): one cancel reaches the site.
	for range 40 {
		step()
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("40 steps in a moment sent %d cancels to the site that refuses them; want 1", n)
	}
	if recs, evs := x.cancelRefusedRecords(); recs != 0 || evs != 0 {
		t.Errorf("after one refusal: %d records, %d events of a cancel not carried; want none yet", recs, evs)
	}
	// An hour of steps, one every 2 seconds: tried again, each wait
	// longer, up to cancelRetryMax.
	start := calls.Load()
	for range 1800 {
		*now = now.Add(2 * time.Second)
		step()
	}
	tried := calls.Load() - start
	if tried < 10 || tried > 20 {
		t.Errorf("an hour of steps sent %d cancels; want about one each %s once backed off (10 to 20)", tried, cancelRetryMax)
	}
	recs, evs := x.cancelRefusedRecords()
	if recs != 1 || evs != 1 {
		t.Errorf("%d audit records and %d events of the cancel not carried; want 1 of each", recs, evs)
	}
	got := x.get(x.r.ID)
	if got.State.Final() || !strings.Contains(got.Reason, "not carried to site alpha") || strings.Contains(got.Reason, "Invalid job id") || !strings.Contains(got.Reason, "server's log") {
		t.Errorf("the run: %s (%s); want it live, its reason saying its cancel was not carried to alpha, and that the site's words are in the server's log, not in it", got.State, got.Reason)
	}
	// Never given up: still tried at the capped interval.
	start = calls.Load()
	*now = now.Add(cancelRetryMax + time.Second)
	step()
	if calls.Load() != start+1 {
		t.Errorf("a step %s on sent %d cancels; want 1", cancelRetryMax, calls.Load()-start)
	}
}

// TestRefusedCancelOfChangedRunBacksOff: the cancel of a run whose row
// was changed outside Meridian, carried to its sealed site, was sent again
// at every step when the site answered with an error other than not found
// (a scheduler's own words for a job it no longer knows): for ever, at
// every tick, and nobody told. It is now tried again after a wait that
// doubles up to a cap, and past a bound the run's reason, its timeline
// and an audit record say that the cancel could not be carried; it is
// still tried, at the capped interval.
func TestRefusedCancelOfChangedRunBacksOff(t *testing.T) {
	x := newChangedRunFixture(t)
	x.moveRow("bravo", "MY", "forged-handle")
	if _, err := x.live.Cancel(x.ctx, "t1", x.r.ID); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	var calls atomic.Int64
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	c := x.refusingController(&calls, &now)
	x.checkRefusedCancel(c, &calls, &now)
}

// TestRefusedCancelOfChangedMovingRunBacksOff: as
// TestRefusedCancelOfChangedRunBacksOff, for a moving run whose row was
// changed outside Meridian: the attempt it leaves at alpha, whose site
// refuses its cancel, is asked again after a wait, not at every step.
func TestRefusedCancelOfChangedMovingRunBacksOff(t *testing.T) {
	x := newChangedRunFixture(t)
	target, _ := json.Marshal(x.r.Placement)
	var pl map[string]any
	json.Unmarshal(target, &pl)
	pl["site"], pl["country"] = "bravo", "MY"
	x.toState(Migrating, "", "", func(d map[string]json.RawMessage) {
		d["migration"], _ = json.Marshal(map[string]any{"from": "bravo", "reason": "site lost", "lostAt": "2026-01-01T00:00:00Z",
			"target": pl, "drain": true, "drainBy": "2099-01-01T00:00:00Z"})
	})
	if _, err := x.live.Cancel(x.ctx, "t1", x.r.ID); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	var calls atomic.Int64
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	c := x.refusingController(&calls, &now)
	x.checkRefusedCancel(c, &calls, &now)
}
