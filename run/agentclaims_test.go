package run

import (
	"context"
	"encoding/json"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/store"
)

// TestCheckpointMoveAuditsTheBytesItMoved: the size of a checkpoint is
// what its agent claims when it reports it, and the agent is the
// workload's to take over. A move's audit record and the run's copy at
// its new site said that claim (one byte, for a checkpoint of 76,000),
// though the copy had read the checkpoint's authenticated manifest; they
// now say what the manifest holds.
func TestCheckpointMoveAuditsTheBytesItMoved(t *testing.T) {
	f := newCkMoveFixture(t)
	real := f.ck.Bytes
	if real <= 1 {
		t.Fatalf("fixture checkpoint of %d bytes; the test wants more than one", real)
	}
	ctx := context.Background()
	// The agent's report claimed one byte.
	if _, err := f.c.update(ctx, f.r.ID, func(r *Run, ch *store.Change) error {
		r.Checkpoint.Bytes = 1
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r := f.step(t)
	if r.State != Staging || r.Checkpoint == nil || r.Checkpoint.Site != "bravo" {
		t.Fatalf("after the move: %s, checkpoint %+v (%s); want staging, resuming at bravo", r.State, r.Checkpoint, r.Reason)
	}
	if r.Checkpoint.Bytes != real {
		t.Errorf("the moved checkpoint records %d bytes; its manifest holds %d", r.Checkpoint.Bytes, real)
	}
	es, err := f.st.AuditEntries(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	moves := 0
	for _, a := range es {
		if a.Kind != audit.KindCheckpoint {
			continue
		}
		moves++
		var p struct {
			Bytes int64 `json:"bytes"`
		}
		if err := json.Unmarshal(a.Payload, &p); err != nil {
			t.Fatal(err)
		}
		if p.Bytes != real {
			t.Errorf("the move's audit record says %d bytes; the checkpoint moved holds %d", p.Bytes, real)
		}
	}
	if moves != 1 {
		t.Fatalf("%d checkpoint-move audit records, want 1", moves)
	}
}
