package run

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"meridian.dev/meridian/store"
)

// TestMoveFallsBackToAnOlderCheckpoint: the run's latest checkpoint is gone
// from its store, but an older one is there, intact. The move resumes the
// run from the older one, and the timeline says which was passed over and
// why. Only the latest was ever tried, and the run started from the
// beginning, throwing away every step the older checkpoint holds.
func TestMoveFallsBackToAnOlderCheckpoint(t *testing.T) {
	f := newCkMoveFixture(t)
	ctx := context.Background()
	if _, err := f.c.update(ctx, f.r.ID, func(r *Run, ch *store.Change) error {
		gone := *f.ck
		gone.Step, gone.Name = 60, "ckpt-"+r.ID+"-a1-60"
		r.setCheckpoint(&gone)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r := f.step(t)
	if r.State != Staging || r.Checkpoint == nil || r.Checkpoint.Step != 40 || r.Checkpoint.Site != "bravo" || r.Checkpoint.SHA256 != f.ck.SHA256 {
		t.Fatalf("latest checkpoint gone, step 40 intact: %s, checkpoint %+v (%s); want staging from step 40 at bravo", r.State, r.Checkpoint, r.Reason)
	}
	if got := eventsOf(t, f.c, r.ID, "checkpoint-fallback"); len(got) != 1 || !strings.Contains(got[0], "step 60") || !strings.Contains(got[0], "step 40") {
		t.Errorf("timeline's checkpoint-fallback: %q; want one naming step 60 passed over and step 40 resumed from", got)
	}
	if got := eventsOf(t, f.c, r.ID, "checkpoint-moved"); len(got) != 1 || strings.Contains(got[0], "from the beginning") {
		t.Errorf("timeline's checkpoint-moved: %q; want the step 40 checkpoint moved", got)
	}
}

// TestMoveFallsBackPastADigestThatDiffers: the latest checkpoint's digest
// does not match its store's object and the next older one is gone; the
// oldest kept moves.
func TestMoveFallsBackPastADigestThatDiffers(t *testing.T) {
	f := newCkMoveFixture(t)
	ctx := context.Background()
	// Step 70's object is in alpha's store; the run records another digest.
	sealAt(t, f, "alpha", "ckpt-"+f.r.ID+"-a1-70")
	if _, err := f.c.update(ctx, f.r.ID, func(r *Run, ch *store.Change) error {
		gone := *f.ck
		gone.Step, gone.Name = 50, "ckpt-"+r.ID+"-a1-50"
		r.setCheckpoint(&gone)
		bad := *f.ck
		bad.Step, bad.Name, bad.SHA256 = 70, "ckpt-"+r.ID+"-a1-70", strings.Repeat("0", 64)
		r.setCheckpoint(&bad)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r := f.step(t)
	if r.State != Staging || r.Checkpoint == nil || r.Checkpoint.Step != 40 || r.Checkpoint.SHA256 != f.ck.SHA256 {
		t.Fatalf("after a digest that differs and a checkpoint gone: %s, checkpoint %+v (%s); want staging from step 40", r.State, r.Checkpoint, r.Reason)
	}
}

// TestOlderCheckpointsBounded: a workload that checkpoints often keeps at
// most maxOlderAt older checkpoints of one site, and the run keeps its
// checkpoints at the sites it ran at before.
func TestOlderCheckpointsBounded(t *testing.T) {
	r := &Run{}
	r.setCheckpoint(&Checkpoint{Step: 1, Name: "a-1", Site: "alpha"})
	r.setCheckpoint(&Checkpoint{Step: 2, Name: "a-1", Site: "bravo"}) // moved
	for i := 3; i < 100; i++ {
		r.setCheckpoint(&Checkpoint{Step: int64(i), Name: fmt.Sprintf("b-%d", i), Site: "bravo"})
	}
	at := map[string]int{}
	for _, o := range r.Older {
		at[o.Site]++
	}
	if len(r.Older) > maxOlder || at["bravo"] != maxOlderAt || at["alpha"] != 1 || r.Older[0].Step != 98 {
		t.Fatalf("older checkpoints %+v: want the newest %d at bravo first and alpha's kept", r.Older, maxOlderAt)
	}
}
