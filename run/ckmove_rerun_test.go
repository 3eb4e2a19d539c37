package run

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/store"
)

// lostMoveStore is a store that fails, once armed, the first write that
// would leave a run staging, writing nothing: the server dying after a
// checkpoint's copy arrived and before the move was written.
type lostMoveStore struct {
	store.Store
	armed atomic.Bool
}

func (s *lostMoveStore) UpdateRun(ctx context.Context, id string, fn func(r *store.Run) (store.Change, error)) (*store.Run, error) {
	return s.Store.UpdateRun(ctx, id, func(r *store.Run) (store.Change, error) {
		ch, err := fn(r)
		if err == nil && r.State == string(Staging) && s.armed.CompareAndSwap(true, false) {
			return ch, errors.New("test: the server died before the move was written")
		}
		return ch, err
	})
}

// TestFallbackCopyReusedAfterALostWrite: the run's latest checkpoint is
// gone, so the older one (step 40) is copied to bravo; the server dies
// before the move is written. The next step goes on with the copy that
// arrived: nothing of it is read back from bravo or recorded on the
// ledger again, and the one audit record of the move names the day it
// crossed on, not the next, on which the move was written. The step
// copied it again: every chunk read back from bravo to be checked, and a
// second confirmation of the copy on the ledger.
func TestFallbackCopyReusedAfterALostWrite(t *testing.T) {
	ls := &lostMoveStore{}
	f := newCkMoveFixtureWith(t, func(cfg *Config) {
		ls.Store = cfg.Store
		cfg.Store = ls
	}, jobDoc(100, 10))
	ctx := context.Background()
	if _, err := f.c.update(ctx, f.r.ID, func(r *Run, ch *store.Change) error {
		gone := *f.ck
		gone.Step, gone.Name = 60, "ckpt-"+r.ID+"-a1-60"
		r.setCheckpoint(&gone)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ls.armed.Store(true)
	r := f.step(t)
	if r.State != Migrating || ls.armed.Load() {
		t.Fatalf("after the lost write: %s (armed %v); want still migrating", r.State, ls.armed.Load())
	}
	before := len(ckLedger(t, f, r.ID))
	if before == 0 {
		t.Fatal("the first step recorded no copy")
	}
	var chunkReads atomic.Int64
	hook := func(req *http.Request) {
		if req.Method == http.MethodGet && strings.Contains(req.URL.Path, f.ck.Name) && !strings.HasSuffix(req.URL.Path, dataset.ManifestKey(f.ck.Name)) {
			chunkReads.Add(1)
		}
	}
	f.s3.onReq.Store(&hook)
	// The server is back the next day.
	f.clk.set(time.Date(2026, 6, 2, 9, 0, 0, 0, time.UTC))
	r = f.step(t)
	if r.State != Staging || r.Checkpoint == nil || r.Checkpoint.Step != 40 || r.Checkpoint.Site != "bravo" || r.Checkpoint.SHA256 != f.ck.SHA256 || r.Checkpoint.Bytes != f.ck.Bytes {
		t.Fatalf("after the restart: %s, checkpoint %+v (%s); want staging from step 40 at bravo", r.State, r.Checkpoint, r.Reason)
	}
	if n := chunkReads.Load(); n != 0 {
		t.Errorf("the copy that arrived was read back again: %d chunk reads at bravo", n)
	}
	if after := ckLedger(t, f, r.ID); len(after) != before {
		t.Errorf("the ledger holds %d checkpoint entries after the restart, %d before: %+v", len(after), before, after[before:])
	}
	es, err := f.st.AuditEntries(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	moves := 0
	for _, a := range es {
		if a.Kind == audit.KindCheckpoint {
			moves++
			if !strings.Contains(string(a.Payload), `"days":["2026-06-01"]`) {
				t.Errorf("checkpoint move's audit record: %s; want the day it crossed on", a.Payload)
			}
		}
	}
	if moves != 1 {
		t.Errorf("%d checkpoint-move audit records, want 1", moves)
	}
}
