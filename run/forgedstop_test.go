package run

import (
	"encoding/json"
	"testing"
)

// TestAgentNotStoppedByACancelForgedOnAChangedRow: the controller's step
// takes no cancel from a run's row changed outside Meridian unless the
// cancel is sealed, but the agent's reports were answered "stop" by the
// row's flag alone: a database writer could stop any workload, and the
// step's own test saw it once under -race. A cancel only the row says was
// asked, on a row changed outside Meridian, now stops no agent; a sealed
// cancel does, and so does a cancel on a row as Meridian wrote it.
func TestAgentNotStoppedByACancelForgedOnAChangedRow(t *testing.T) {
	x := newChangedRunFixture(t)
	ctx, r := x.ctx, x.r
	// A row as Meridian wrote it: its cancel stops the agent.
	x.rewrite("alpha", func(d map[string]json.RawMessage) { d["cancelRequested"] = json.RawMessage("true") })
	if got := x.get(r.ID); !got.CancelRequested || !x.live.cancelOnRecord(ctx, got) {
		t.Fatalf("a cancel on a row as Meridian wrote it: on record %v; want it taken", x.live.cancelOnRecord(ctx, got))
	}
	x.rewrite("alpha", func(d map[string]json.RawMessage) { delete(d, "cancelRequested") })
	// Moved to bravo outside Meridian, and a cancel forged on the row.
	x.moveRow("bravo", "MY", "forged-handle")
	x.rewrite("bravo", func(d map[string]json.RawMessage) { d["cancelRequested"] = json.RawMessage("true") })
	got := x.get(r.ID)
	if !got.CancelRequested {
		t.Fatal("the forged cancel is not on the row")
	}
	if x.live.cancelOnRecord(ctx, got) {
		t.Errorf("a cancel forged on a changed row is taken as on record: the agent would be told to stop")
	}
	if reply := x.live.stopReplyOnRecord(ctx, got, got.Attempts[len(got.Attempts)-1]); reply.Stop {
		t.Errorf("the agent's report is answered %+v under a forged cancel; want no stop", reply)
	}
	// The user's own cancel is sealed: taken.
	x.rewrite("bravo", func(d map[string]json.RawMessage) { delete(d, "cancelRequested") })
	if _, err := x.live.Cancel(ctx, "t1", r.ID); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	if got := x.get(r.ID); !got.CancelRequested || !x.live.cancelOnRecord(ctx, got) {
		t.Errorf("a sealed cancel on a changed row: not taken; want the agent told to stop")
	}
}
