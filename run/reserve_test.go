package run

import (
	"context"
	"testing"
	"time"

	"meridian.dev/meridian/store"
)

// TestStagingRetryGivesItsPoolUpForALongWait: a run whose staging waits
// minutes for its store's next try does not keep its pool idle for the
// wait: other runs can use it. When the try comes it takes the pool
// again; and when the pool is gone meanwhile it waits held for room, its
// checkpoint kept. The pool was held, idle, through every wait (half an
// hour for ten tries).
func TestStagingRetryGivesItsPoolUpForALongWait(t *testing.T) {
	f, r := newStageFailFixture(t, func(c *Config) { c.HoldRetry = 3 * time.Minute })
	ctx := context.Background()
	held := func() store.Hold {
		t.Helper()
		row, err := f.st.GetRun(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		return row.Hold
	}
	if h := held(); h.Count == 0 || h.Site != "bravo" {
		t.Fatalf("staging at bravo holds %+v; want bravo's pool", h)
	}
	f.s3.fail.Store(true)
	r = f.step(t)
	if r.State != Staging || r.StageTries != 1 || r.StageNext.Sub(f.clk.Now()) <= reserveWait {
		t.Fatalf("after a 500 from bravo's store: %s (%s), tries %d, next in %s; want staging, a try more than %s away", r.State, r.Reason, r.StageTries, r.StageNext.Sub(f.clk.Now()), reserveWait)
	}
	if h := held(); h.Count != 0 {
		t.Fatalf("waiting %s to try the staging again, the run holds %+v; want the pool given up", r.StageNext.Sub(f.clk.Now()), h)
	}
	// The store answers, the time comes: the pool is taken again, and the
	// staging goes on.
	f.s3.fail.Store(false)
	f.clk.set(r.StageNext.Add(time.Second))
	r = f.step(t)
	if h := held(); h.Count == 0 || h.Site != "bravo" || r.StageUnreserved {
		t.Fatalf("at the try's time the run holds %+v (unreserved %v); want bravo's pool again", h, r.StageUnreserved)
	}
	if r.State != Staging || r.Staged != r.Attempt {
		t.Fatalf("after the retry: %s (%s), staged %d of %d; want staged", r.State, r.Reason, r.Staged, r.Attempt)
	}
}

// TestStagingRetryWaitsForRoomWhenItsPoolWentMeanwhile: another run took
// the pool the staging run gave up while it waited: at its try the run
// waits held for room, with its checkpoint, rather than hold more than the
// pool has.
func TestStagingRetryWaitsForRoomWhenItsPoolWentMeanwhile(t *testing.T) {
	f, r := newStageFailFixture(t, func(c *Config) { c.HoldRetry = 3 * time.Minute })
	ctx := context.Background()
	f.s3.fail.Store(true)
	if r = f.step(t); !r.StageUnreserved {
		t.Fatalf("after a 500 with a long wait: %+v; want the pool given up", r)
	}
	// Another run takes all of bravo's pool.
	other, _, err := f.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(100, 10)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.update(ctx, other.ID, func(o *Run, ch *store.Change) error {
		pl := r.Placement
		pl.Count = 8
		o.Site, o.Placement = "bravo", pl
		return nil
	}); err != nil {
		t.Fatalf("another run taking the pool given up: %v", err)
	}
	f.s3.fail.Store(false)
	f.clk.set(r.StageNext.Add(time.Second))
	r = f.step(t)
	if r.State != Held || r.Hold == nil || r.Hold.Wait == "" || r.Checkpoint == nil {
		t.Fatalf("the pool gone at the try: %s (%s), hold %+v, checkpoint %+v; want held waiting for room, the checkpoint kept", r.State, r.Reason, r.Hold, r.Checkpoint)
	}
	row, err := f.st.GetRun(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if row.Hold.Count != 0 {
		t.Errorf("held for room, the run holds %+v", row.Hold)
	}
}

// TestMoveRetryGivesItsTargetPoolUpForALongWait: the same for a
// checkpoint's copy that waits minutes for its next try: the target's
// pool is given up for the wait and taken again at the try.
func TestMoveRetryGivesItsTargetPoolUpForALongWait(t *testing.T) {
	f := newCkMoveFixtureWith(t, func(c *Config) { c.HoldRetry = 3 * time.Minute }, jobDoc(100, 10))
	ctx := context.Background()
	held := func() store.Hold {
		t.Helper()
		row, err := f.st.GetRun(ctx, f.r.ID)
		if err != nil {
			t.Fatal(err)
		}
		return row.Hold
	}
	f.s3.fail.Store(true)
	r := f.step(t)
	if r.State != Migrating || r.Migration == nil || r.Migration.MoveTries != 1 || !r.Migration.Unreserved {
		t.Fatalf("after a 500 from bravo's store: %s (%s), migration %+v; want moving, the target's pool given up", r.State, r.Reason, r.Migration)
	}
	if h := held(); h.Count != 0 {
		t.Fatalf("waiting to copy the checkpoint again, the run holds %+v; want nothing", h)
	}
	f.s3.fail.Store(false)
	f.clk.set(r.Migration.MoveNext.Add(time.Second))
	r = f.step(t)
	if h := held(); h.Count == 0 || h.Site != "bravo" {
		t.Fatalf("at the try's time the run holds %+v; want bravo's pool again", h)
	}
	if r.State != Staging || r.Checkpoint == nil || r.Checkpoint.Site != "bravo" {
		t.Fatalf("after the retry: %s (%s), checkpoint %+v; want staging from the moved checkpoint", r.State, r.Reason, r.Checkpoint)
	}
}
