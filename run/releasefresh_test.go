package run

import (
	"context"
	"testing"
	"time"

	"meridian.dev/meridian/store"
)

// TestReleasedMoveCountsItsTriesAfresh: a run held because its
// checkpoint's copy kept failing is released; the copy failing once more
// is tried again, not held again at once (the hold carried its count of
// failed copies into the release, so that each release tried once, an
// hour apart).
func TestReleasedMoveCountsItsTriesAfresh(t *testing.T) {
	f := newCkMoveFixture(t)
	f.s3.fail.Store(true)
	var r *Run
	for i := 0; i < maxMoveTries; i++ {
		if r = f.step(t); r.State != Migrating {
			break
		}
		f.clk.set(r.Migration.MoveNext.Add(time.Second))
	}
	if r.State != Held || r.Hold == nil || r.Hold.MoveTries != maxMoveTries {
		t.Fatalf("after %d failed copies: %s (%s), hold %+v; want held", maxMoveTries, r.State, r.Reason, r.Hold)
	}
	// alpha stays out of the run's plans, as a lost site does: the
	// release goes to bravo again, whose store still fails.
	if _, err := f.c.update(context.Background(), r.ID, func(r *Run, ch *store.Change) error {
		r.Excluded = []string{"alpha"}
		r.Losses = map[string]SiteLoss{"alpha": {Count: 1, Until: f.clk.Now().Add(24 * time.Hour)}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	f.clk.set(r.Hold.NextTry.Add(time.Second))
	if r = f.step(t); r.State != Migrating || r.Migration == nil || r.Migration.Target == nil || r.Migration.MoveTries != 0 {
		t.Fatalf("after the release: %s (%s), migration %+v; want moving with no failed copies counted", r.State, r.Reason, r.Migration)
	}
	if r = f.step(t); r.State != Migrating || r.Migration == nil || r.Migration.MoveTries != 1 || r.Checkpoint == nil {
		t.Fatalf("the released run's copy failing again: %s (%s), migration %+v; want still moving, one failed copy counted", r.State, r.Reason, r.Migration)
	}
}
