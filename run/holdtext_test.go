package run

import (
	"context"
	"strings"
	"testing"

	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/store"
)

// TestHoldReasonBounded: a hold's reason was kept whole, where a state's
// reason is cut to maxReason: a reason naming every lawful pool, or
// carrying a site's error, grew each held run and each queue page without
// bound. It is kept as the state's reason is, and a retry giving the same
// long reason again records no new event.
func TestHoldReasonBounded(t *testing.T) {
	f, _ := newLawCkMoveFixture(t, jobDoc(100, 10), nil)
	ctx := context.Background()
	r, err := f.c.Get(ctx, "t1", f.r.ID)
	if err != nil {
		t.Fatal(err)
	}
	long := "waiting for room: " + strings.Repeat("pool-at-some-site × 8, ", 20000)
	if _, err := f.c.hold(ctx, r, long, policy.CodeNotNow, "", 0); err != nil {
		t.Fatal(err)
	}
	if r, err = f.c.Get(ctx, "t1", f.r.ID); err != nil || r.Hold == nil {
		t.Fatalf("held: %v, %+v", err, r)
	}
	bound := maxReason + len("…") // as truncate cuts a state's reason
	if n := len(r.Hold.Reason); n > bound {
		t.Errorf("hold reason kept at %d bytes, over the %d a state's reason is cut to", n, maxReason)
	}
	before, err := f.c.Events(ctx, "t1", f.r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.c.stillHeld(ctx, f.r.ID, long, policy.CodeNotNow, "", 0, "", nil); err != nil {
		t.Fatal(err)
	}
	if r, err = f.c.Get(ctx, "t1", f.r.ID); err != nil || len(r.Hold.Reason) > bound || len(r.Reason) > bound {
		t.Fatalf("after a retry: %v, hold reason %d bytes, reason %d bytes", err, len(r.Hold.Reason), len(r.Reason))
	}
	after, err := f.c.Events(ctx, "t1", f.r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("a retry with the same reason recorded %d new events", len(after)-len(before))
	}
}

// TestRewrittenHoldForgetsItsKey: a retry that finds a held run held for
// another reason (the law, room) rewrites its hold in place; the hold kept
// the dataset whose key it had waited for, so that sending that key later
// would bring forward a run no longer waiting for it (heldForKey's try
// count was all that stopped it). The rewritten hold names no dataset; a
// retry with the same reason keeps it.
func TestRewrittenHoldForgetsItsKey(t *testing.T) {
	f, _ := newLawCkMoveFixture(t, jobDoc(100, 10), nil)
	ctx := context.Background()
	r, err := f.c.Get(ctx, "t1", f.r.ID)
	if err != nil {
		t.Fatal(err)
	}
	keyReason := keyHoldPrefix(r.Attempt, r.Site, "corpus-c") + "the server holds no key of dataset corpus-c"
	if _, err := f.c.hold(ctx, r, keyReason, policy.CodeNotNow, "", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.update(ctx, f.r.ID, func(r *Run, ch *store.Change) error {
		r.Hold.KeyDataset = "corpus-c"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := f.c.stillHeld(ctx, f.r.ID, keyReason, policy.CodeNotNow, "", 0, "", nil); err != nil {
		t.Fatal(err)
	}
	if r, err = f.c.Get(ctx, "t1", f.r.ID); err != nil || r.Hold == nil || r.Hold.KeyDataset != "corpus-c" {
		t.Fatalf("a retry with the same reason: %v, hold %+v; want it still waiting for corpus-c's key", err, r.Hold)
	}
	if err := f.c.stillHeld(ctx, f.r.ID, "no lawful placement is free as of 2026-12-06 (waiting for capacity): x", policy.CodeNotNow, "", 0, "", nil); err != nil {
		t.Fatal(err)
	}
	if r, err = f.c.Get(ctx, "t1", f.r.ID); err != nil || r.Hold == nil || r.Hold.KeyDataset != "" {
		t.Fatalf("a hold rewritten for room: %v, hold %+v; want no key dataset", err, r.Hold)
	}
}
