package run

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// ledgerReads is a store that counts the reads of the whole transfer
// ledger (stagedCopies).
type ledgerReads struct {
	store.Store
	n atomic.Int64
}

func (s *ledgerReads) AuditSelect(ctx context.Context, q store.AuditQuery) ([]audit.Entry, error) {
	if q.AllTenants && slices.Contains(q.Kinds, transfer.KindIntent) {
		s.n.Add(1)
	}
	return s.Store.AuditSelect(ctx, q)
}

// TestResumedCheckpointCopyNotPolledEveryFewSeconds: a checkpoint copy
// the law no longer allows, but that its run still resumes from, is not
// tried again every 5 s for as long as the run keeps it (a held run, for
// days): each try reads the whole transfer ledger of every tenant. Over
// an hour the tries are a handful; once the run ends, the copy is
// withdrawn at the next try, not at the end of its wait.
func TestResumedCheckpointCopyNotPolledEveryFewSeconds(t *testing.T) {
	var lr *ledgerReads
	f, rs := newLawCkMoveFixture(t, peopleJob(t, "SG", nil), func(c *Config) {
		lr = &ledgerReads{Store: c.Store}
		c.Store = lr
	})
	ctx := context.Background()
	r := f.step(t)
	if r.State != Staging || r.Checkpoint == nil || r.Checkpoint.Site != "bravo" {
		t.Fatalf("after the move: %s, checkpoint %+v (%s)", r.State, r.Checkpoint, r.Reason)
	}
	if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{transferPack("test-no-my", "No data to MY", "transfer.to == 'MY'", "")}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	f.c.lawClock = func() time.Time { return now }
	if removed, _, err := f.c.recheckCopies(ctx, f.c.lawNow()); err != nil || len(removed) != 0 {
		t.Fatalf("the checkpoint the run resumes from: removed %v, %v; want it kept", removed, err)
	}
	manifest := CheckpointPrefix("t1") + dataset.ManifestKey(f.ck.Name)
	atBravo := func() bool {
		f.s3.mu.Lock()
		defer f.s3.mu.Unlock()
		_, ok := f.s3.objs[manifest]
		return ok
	}
	// An hour of the loop's ticks, one a second, while the run still
	// resumes from the copy.
	before := lr.n.Load()
	for i := 0; i < 3600; i++ {
		now = now.Add(time.Second)
		f.c.retryWithdrawals(ctx, f.c.lawNow())
	}
	if !atBravo() {
		t.Fatal("the checkpoint the run resumes from was withdrawn")
	}
	n := lr.n.Load() - before
	t.Logf("whole-ledger reads in an hour: %d", n)
	if n > 12 {
		t.Errorf("the whole ledger was read %d times in an hour for a copy its run resumes from; want a handful", n)
	}
	// The run ends: the copy goes at the next try.
	if _, err := f.c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		return transition(ch, r, Cancelled, "test: cancelled")
	}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(withdrawRetry)
	f.c.retryWithdrawals(ctx, f.c.lawNow())
	if atBravo() {
		t.Error("the checkpoint's copy is still at bravo a try after its run ended")
	}
}
