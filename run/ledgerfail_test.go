package run

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/transfer"
)

// downLedger is the controller's ledger while the server's audit store
// refuses writes of one kind ("" for all).
type downLedger struct {
	transfer.Ledger
	kind string
	down atomic.Bool
}

var errAuditStoreDown = errors.New("audit store: the database is not answering")

func (l *downLedger) Append(ctx context.Context, tenant, kind, runID string, payload any) error {
	if l.down.Load() && (l.kind == "" || kind == l.kind) {
		return errAuditStoreDown
	}
	return l.Ledger.Append(ctx, tenant, kind, runID, payload)
}

// TestCheckpointKeptWhileTheLedgerFails: the server's own audit store
// failing while a checkpoint is copied does not cost the run its
// checkpoint: the copy stops before any byte moves (its intent could not
// be recorded), the run stays moving with its checkpoint and tries again,
// and once the ledger works the checkpoint moves and the run resumes from
// it. The ledger's error was sorted as a refusal: the checkpoint was given
// up and the run started over, for a fault of the server's own records.
func TestCheckpointKeptWhileTheLedgerFails(t *testing.T) {
	var led *downLedger
	f := newCkMoveFixtureWith(t, func(c *Config) {
		led = &downLedger{Ledger: c.Stager.Ledger, kind: transfer.KindIntent}
		c.Stager.Ledger = led
	}, jobDoc(100, 10))
	led.down.Store(true)
	r := f.step(t)
	if r.State != Migrating || r.Checkpoint == nil || *r.Checkpoint != *f.ck {
		t.Fatalf("after the ledger failed: %s, checkpoint %+v (%s); want still moving with the checkpoint %+v", r.State, r.Checkpoint, r.Reason, f.ck)
	}
	if r.Migration == nil || r.Migration.MoveTries != 1 {
		t.Fatalf("migration %+v: want one failed try", r.Migration)
	}
	if got := eventsOf(t, f.c, r.ID, "checkpoint-move-failed"); len(got) != 1 || !strings.Contains(got[0], "ledger") {
		t.Errorf("timeline's checkpoint-move-failed: %q; want one naming the ledger's failure", got)
	}
	f.s3.mu.Lock()
	n := len(f.s3.objs)
	f.s3.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d objects copied to bravo with no intent on the ledger", n)
	}
	led.down.Store(false)
	f.clk.set(r.Migration.MoveNext.Add(time.Second))
	r = f.step(t)
	if r.State != Staging || r.Checkpoint == nil || r.Checkpoint.Site != "bravo" || r.Checkpoint.SHA256 != f.ck.SHA256 {
		t.Fatalf("once the ledger works: %s, checkpoint %+v (%s); want staging, resuming from the checkpoint at bravo", r.State, r.Checkpoint, r.Reason)
	}
	if _, ok := f.s3.objs[CheckpointPrefix("t1")+dataset.ManifestKey(f.ck.Name)]; !ok {
		t.Error("the checkpoint's manifest is not in bravo's store")
	}
}
