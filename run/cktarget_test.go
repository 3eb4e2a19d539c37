package run

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/store"
)

// TestMoveTriesStartAfreshAtANewTarget: the counts of failed tries of a
// move (the checkpoint's copy, the stagings a hold carried) are of its
// target: a law check that gives the target up, and the re-plan that
// picks the next, start them afresh. They were kept, so that a run whose
// copy to one site had failed nine times went held after one failure at
// the next, and waited for a retry time set for the old one.
func TestMoveTriesStartAfreshAtANewTarget(t *testing.T) {
	f, rs := newCkLawFixture(t)
	ctx := context.Background()
	failed := func() {
		t.Helper()
		if _, err := f.c.update(ctx, f.r.ID, func(r *Run, ch *store.Change) error {
			r.Migration.MoveTries, r.Migration.MoveNext = maxMoveTries-1, f.clk.Now().Add(time.Hour)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	failed()
	// No data to MY from now on: the law check gives bravo up.
	if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{transferPack("test-no-my", "No data to MY", "transfer.to == 'MY'", "")}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.recheckAll(ctx, f.c.lawNow()); err != nil {
		t.Fatalf("law check: %v", err)
	}
	r, err := f.c.Get(ctx, "t1", f.r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != Migrating || r.Migration == nil || r.Migration.Target != nil {
		t.Fatalf("after the law check: %s, migration %+v; want moving without a target", r.State, r.Migration)
	}
	if m := r.Migration; m.MoveTries != 0 || !m.MoveNext.IsZero() {
		t.Errorf("the target given up, the move still counts %d failed copies (next %s)", m.MoveTries, m.MoveNext)
	}
	// Counts left on a move without a target (written before this
	// change, say) do not pass to the target the re-plan picks.
	failed()
	r = f.step(t)
	if r.State != Migrating || r.Migration == nil || r.Migration.Target == nil || r.Migration.Target.Site != "alpha" {
		t.Fatalf("after the re-plan: %s, migration %+v (%s); want moving to alpha", r.State, r.Migration, r.Reason)
	}
	if m := r.Migration; m.MoveTries != 0 || !m.MoveNext.IsZero() {
		t.Errorf("the new target alpha starts with %d failed copies (next %s)", m.MoveTries, m.MoveNext)
	}
}

// TestMoveFailureNotChargedToANewTarget: a copy to bravo that fails while
// a re-plan beside it gives the move another target is not counted
// against that target: its tries and its time for the next stay as the
// re-plan wrote them, and the timeline does not say the new target's
// copy failed.
func TestMoveFailureNotChargedToANewTarget(t *testing.T) {
	f := newCkMoveFixture(t)
	ctx := context.Background()
	f.s3.fail.Store(true)
	var once sync.Once
	hook := func(req *http.Request) {
		if req.Method != http.MethodGet || strings.Trim(strings.TrimPrefix(req.URL.Path, "/bkt"), "/") != "" {
			return
		}
		// The copy lists bravo's store: meanwhile, the run's move is
		// given another target.
		once.Do(func() {
			if _, err := f.c.update(ctx, f.r.ID, func(r *Run, ch *store.Change) error {
				pl := *r.Migration.Target
				pl.Site, pl.Country = "alpha", "SG"
				r.Migration.setTarget(&pl)
				return nil
			}); err != nil {
				t.Error(err)
			}
		})
	}
	f.s3.onReq.Store(&hook)
	r := f.step(t)
	if r.State != Migrating || r.Migration == nil || r.Migration.Target == nil || r.Migration.Target.Site != "alpha" {
		t.Fatalf("after the step: %s, migration %+v (%s); want moving to alpha, as the re-plan wrote", r.State, r.Migration, r.Reason)
	}
	if m := r.Migration; m.MoveTries != 0 || !m.MoveNext.IsZero() {
		t.Errorf("the copy to bravo that failed is counted against alpha: %d tries, next %s", m.MoveTries, m.MoveNext)
	}
	if got := eventsOf(t, f.c, r.ID, "checkpoint-move-failed"); len(got) != 0 {
		t.Errorf("timeline: %q; want no failed copy charged to the new target", got)
	}
}
