package run

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// toState rewrites the run's row as a database writer does: its state,
// and its site, placement and attempts moved to site (when not "").
func (x *changedRunFixture) toState(state State, site, country string, fn func(d map[string]json.RawMessage)) {
	x.t.Helper()
	if site != "" {
		x.moveRow(site, country, "")
	} else {
		site = x.r.Site
	}
	x.rewrite(site, fn)
	if _, err := x.f.st.DB().ExecContext(x.ctx, `UPDATE runs SET state = ? WHERE id = ?`, string(state), x.r.ID); err != nil {
		x.t.Fatal(err)
	}
}

// decisionRecords counts the run's decision records in the audit log.
func (x *changedRunFixture) decisionRecords() int {
	x.t.Helper()
	var n int
	if err := x.f.st.DB().QueryRowContext(x.ctx, `SELECT count(*) FROM audit WHERE run_id = ? AND kind = 'decision'`, x.r.ID).Scan(&n); err != nil {
		x.t.Fatal(err)
	}
	return n
}

// TestMovingRunTargetWrittenOutsideMeridian: a moving run's target was
// taken from its row as written: whoever could write the database made a
// run move to a site no sealed record placed it at (bravo), its
// checkpoint copied there and the move sealed as Meridian's own. A moving
// run's target is now held to its newest sealed placement at each step:
// one that does not match is left as it is, its step refused, marked
// changed outside Meridian.
func TestMovingRunTargetWrittenOutsideMeridian(t *testing.T) {
	x := newChangedRunFixture(t)
	ctx, r := x.ctx, x.r
	killLocalJobs(x.f.dir)
	target, _ := json.Marshal(r.Placement)
	var pl map[string]any
	json.Unmarshal(target, &pl)
	pl["site"], pl["country"] = "bravo", "MY"
	x.toState(Migrating, "", "", func(d map[string]json.RawMessage) {
		d["migration"], _ = json.Marshal(map[string]any{"from": "alpha", "reason": "site lost", "lostAt": "2026-01-01T00:00:00Z", "target": pl})
	})
	records := x.decisionRecords()
	for range 2 {
		if _, err := x.live.Step(ctx, r.ID); !errors.Is(err, ErrRunChanged) || !strings.Contains(err.Error(), "target") {
			t.Errorf("a step of the moving run whose target was rewritten: %v; want it refused as changed", err)
		}
	}
	got := x.get(r.ID)
	if got.State != Migrating || got.Site != "alpha" || got.Attempt != r.Attempt {
		t.Errorf("the run: %s at %s, attempt %d (%s); want it left moving from alpha, attempt %d", got.State, got.Site, got.Attempt, got.Reason, r.Attempt)
	}
	if n := x.decisionRecords(); n != records {
		t.Errorf("%d decision records sealed for the run's move; want none", n-records)
	}
	if why := x.live.ChangedOutsideMeridian(ctx, got, false); !strings.Contains(why, "changed outside Meridian") {
		t.Errorf("listed as changed %q; want it marked", why)
	}
}

// TestHeldRunSiteWrittenOutsideMeridian: a held run's row was taken as
// written: one whose site was rewritten to one it never ran at (bravo)
// was released from there, the site it left its row's (its attempt
// stopped there, its checkpoints swept there once it moved). A held run
// is now held to its sealed placements at each step: its site must be one
// a sealed placement named, else it is left held, its step refused.
func TestHeldRunSiteWrittenOutsideMeridian(t *testing.T) {
	x := newChangedRunFixture(t)
	ctx, r := x.ctx, x.r
	killLocalJobs(x.f.dir)
	x.toState(Held, "bravo", "MY", func(d map[string]json.RawMessage) {
		d["hold"], _ = json.Marshal(map[string]any{"reason": "held", "code": "not-now", "since": "2026-01-01T00:00:00Z", "nextTry": "2026-01-01T00:00:00Z"})
	})
	records := x.decisionRecords()
	for range 2 {
		if _, err := x.live.Step(ctx, r.ID); !errors.Is(err, ErrRunChanged) {
			t.Errorf("a step of the held run whose site was rewritten: %v; want it refused as changed", err)
		}
	}
	got := x.get(r.ID)
	if got.State != Held || got.Migration != nil {
		t.Errorf("the run: %s at %s (%s); want it left held", got.State, got.Site, got.Reason)
	}
	if n := x.decisionRecords(); n != records {
		t.Errorf("%d decision records sealed for the run's release; want none", n-records)
	}
	// A cancel forged on the row ends nothing; the user's ends it, no
	// site told.
	x.rewrite("bravo", func(d map[string]json.RawMessage) { d["cancelRequested"] = json.RawMessage("true") })
	if _, err := x.live.Step(ctx, r.ID); !errors.Is(err, ErrRunChanged) {
		t.Errorf("a step of the held run whose cancel is forged: %v; want it refused as changed", err)
	}
	if got := x.get(r.ID); got.State != Held {
		t.Errorf("a cancel forged on the row: the run is %s; want it left held", got.State)
	}
	x.rewrite("bravo", func(d map[string]json.RawMessage) { delete(d, "cancelRequested") })
	if _, err := x.live.Cancel(ctx, "t1", r.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := x.live.Step(ctx, r.ID); err != nil {
		t.Errorf("a step of the cancelled changed held run: %v", err)
	}
	if got := x.get(r.ID); got.State != Cancelled {
		t.Errorf("the cancelled run: %s (%s); want cancelled", got.State, got.Reason)
	}
}
