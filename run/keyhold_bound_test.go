package run

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestKeyHoldEndsAfterItsBound: a run held for a dataset key the tenant
// never sends was tried again at least hourly for as long as it existed
// (its job's deadline counts the time it runs, not the time it waits):
// each try plans it, takes room, reads the key and writes its plan and
// several events, without end, for each of up to the tenant's bound on
// runs. A run that has waited keyHoldMax for the key now fails, naming
// the dataset and the way out; a try before then holds it again.
func TestKeyHoldEndsAfterItsBound(t *testing.T) {
	ctx := context.Background()
	c, clk, file, r := keyHoldFixture(t)
	if err := file.Remove("corpus-c"); err != nil {
		t.Fatal(err)
	}
	r = stepUntil(t, c, r.ID, 6, Planned, Staging)
	if r.State != Held || r.Hold == nil || r.Hold.KeyDataset != "corpus-c" {
		t.Fatalf("run with its dataset key missing: %s (%s); want held for the key of corpus-c", r.State, r.Reason)
	}
	since := r.Hold.Since

	// Tried just before the bound: held again, its wait counted from the
	// first hold.
	clk.set(since.Add(keyHoldMax - time.Minute))
	r = stepUntil(t, c, r.ID, 4, Held)
	r = stepUntil(t, c, r.ID, 8, Migrating, Planned, Staging)
	if r.State != Held || r.Hold == nil || !r.Hold.Since.Equal(since) {
		t.Fatalf("a try %s after the first hold: %s (%s); want held again since %s", keyHoldMax-time.Minute, r.State, r.Reason, since)
	}

	// The next try, past the bound: the run fails, naming the dataset and
	// the way out.
	clk.set(r.Hold.NextTry.Add(time.Second))
	r = stepUntil(t, c, r.ID, 4, Held)
	r = stepUntil(t, c, r.ID, 8, Migrating, Planned, Staging)
	if r.State != Failed {
		t.Fatalf("a try %s after the first hold: %s (%s); want failed", clk.Now().Sub(since), r.State, r.Reason)
	}
	for _, want := range []string{"corpus-c", "meridian dataset send-key corpus-c", "submit the job again"} {
		if !strings.Contains(r.Reason, want) {
			t.Errorf("failed run's reason %q does not say %q", r.Reason, want)
		}
	}
	if got, err := c.Get(ctx, "t1", r.ID); err != nil || got.State != Failed {
		t.Fatalf("stored run: %v %v", got, err)
	}
}
