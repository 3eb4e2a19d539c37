package run

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// checkpointAtBravo reports whether any object of tenant t1's
// checkpoints is in bravo's store.
func (f *ckMoveFixture) checkpointAtBravo() bool {
	f.s3.mu.Lock()
	defer f.s3.mu.Unlock()
	for k := range f.s3.objs {
		if strings.HasPrefix(k, CheckpointPrefix("t1")) {
			return true
		}
	}
	return false
}

// withdrawals are the transfer-withdrawn entries of every tenant.
func withdrawals(t *testing.T, st store.Store) []transfer.Withdrawn {
	t.Helper()
	es, err := st.AuditSelect(context.Background(), store.AuditQuery{Kinds: []string{transfer.KindWithdrawn}, AllTenants: true})
	if err != nil {
		t.Fatal(err)
	}
	var out []transfer.Withdrawn
	for _, e := range es {
		var w transfer.Withdrawn
		if err := json.Unmarshal(e.Payload, &w); err != nil {
			t.Fatal(err)
		}
		out = append(out, w)
	}
	return out
}

// TestOrphanCheckpointCopyWithdrawn: a checkpoint copy whose run is no
// longer on record is withdrawn, failing closed, and the audit log says
// why; it was named undetermined by every law check and left at its
// site for ever, as nothing but its run's job could judge it.
func TestOrphanCheckpointCopyWithdrawn(t *testing.T) {
	f, _ := newCkLawFixture(t)
	ctx := context.Background()
	r := f.step(t)
	if r.State != Staging || r.Checkpoint == nil || r.Checkpoint.Site != "bravo" || !f.checkpointAtBravo() {
		t.Fatalf("after the move: %s, checkpoint %+v (%s)", r.State, r.Checkpoint, r.Reason)
	}
	// The run goes from the store (restored from a backup taken before
	// it, say); its ledger entries stay.
	for _, q := range []string{`DELETE FROM events WHERE run_id = ?`, `DELETE FROM runs WHERE id = ?`} {
		if _, err := f.st.DB().ExecContext(ctx, q, r.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.st.GetRun(ctx, r.ID); err == nil {
		t.Fatal("the run is still on record")
	}
	removed, unjudged, err := f.c.recheckCopies(ctx, f.c.lawNow())
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || !strings.Contains(removed[0], f.ck.Name+"@bravo") || len(unjudged) != 0 {
		t.Fatalf("the check: removed %v, undetermined %v; want the orphan checkpoint at bravo removed", removed, unjudged)
	}
	if f.checkpointAtBravo() {
		t.Error("objects of the orphan checkpoint left at bravo")
	}
	ws := withdrawals(t, f.st)
	if len(ws) != 1 || ws[0].Kind != transfer.KindCheckpoint || ws[0].Run != r.ID || ws[0].Site != "bravo" || ws[0].Objects == 0 ||
		!strings.Contains(ws[0].Reason, "no longer on record") || len(ws[0].Rules) != 0 {
		t.Errorf("withdrawal records: %+v; want one of the checkpoint at bravo saying its run is no longer on record, naming no rule", ws)
	}
	// Withdrawn, it is off the ledger: the next check names nothing.
	if removed, unjudged, err := f.c.recheckCopies(ctx, f.c.lawNow()); err != nil || len(removed) != 0 || len(unjudged) != 0 {
		t.Errorf("a second check: removed %v, undetermined %v, %v; want nothing", removed, unjudged, err)
	}
}

// TestCheckpointWithdrawnOnceWhenSweepAndLawCheckMeet: the law check and
// the sweep of a site its run left can both come to the same checkpoint;
// the one that comes second finds nothing there and records nothing. It
// recorded a second withdrawal of 0 objects.
func TestCheckpointWithdrawnOnceWhenSweepAndLawCheckMeet(t *testing.T) {
	f, rs := newCkLawFixture(t)
	ctx := context.Background()
	r := f.step(t)
	if r.State != Staging || r.Checkpoint == nil || r.Checkpoint.Site != "bravo" || !f.checkpointAtBravo() {
		t.Fatalf("after the move: %s, checkpoint %+v (%s)", r.State, r.Checkpoint, r.Reason)
	}
	if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{transferPack("test-no-my", "No data to MY", "transfer.to == 'MY'", "")}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	// The run has left bravo (back at alpha, its checkpoint copied there)
	// and ended.
	if _, err := f.c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		ck := *r.Checkpoint
		ck.Site = "alpha"
		r.Site, r.Checkpoint = "alpha", &ck
		return transition(ch, r, Cancelled, "test: cancelled")
	}); err != nil {
		t.Fatal(err)
	}
	// The law check's list of copies is read before the sweep runs; the
	// sweep of bravo, which the run left, removes the checkpoint there
	// first.
	copies, err := f.c.stagedCopies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	row, err := f.st.GetRun(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	run, err := fromRow(row)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.c.sweepSite(ctx, run, Sweep{Site: "bravo"}, f.c.lawNow()); err != nil {
		t.Fatalf("sweep of bravo: %v", err)
	}
	if f.checkpointAtBravo() {
		t.Fatal("the sweep left the checkpoint at bravo")
	}
	for _, cp := range copies {
		if _, _, err := f.c.withdrawIfDenied(ctx, cp, f.c.lawNow()); err != nil {
			t.Fatal(err)
		}
	}
	ws := withdrawals(t, f.st)
	if len(ws) != 1 || ws[0].Objects == 0 {
		t.Errorf("withdrawal records: %+v; want the sweep's one alone", ws)
	}
}
