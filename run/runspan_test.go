package run

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/internal/testplan"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// aftersStore records the After of each read of one run's records whole
// (AuditSelect with RunID and AllTenants).
type aftersStore struct {
	store.Store
	mu     sync.Mutex
	afters []int64
}

func (s *aftersStore) AuditSelect(ctx context.Context, q store.AuditQuery) ([]audit.Entry, error) {
	if q.RunID != "" && q.AllTenants {
		s.mu.Lock()
		s.afters = append(s.afters, q.After)
		s.mu.Unlock()
	}
	return s.Store.AuditSelect(ctx, q)
}

func (s *aftersStore) took() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.afters
	s.afters = nil
	return out
}

// runSpanFixture is a log of filler entries, then a run submitted, then
// ledger records of its checkpoint's copy to alpha (a move's), read by a
// controller that holds the audit key.
type runSpanFixture struct {
	st     *store.SQLite
	rec    *aftersStore
	c      *Controller
	r      *Run
	submit int64 // the seq of the run's submission's plan record
	ledger []int64
}

const runSpanCheckpoint = "ckpt-x-a1-40"

func newRunSpanFixture(tb testing.TB, filler int) *runSpanFixture {
	tb.Helper()
	ctx := context.Background()
	st, dir := testStore(tb)
	f := &runSpanFixture{st: st, rec: &aftersStore{Store: st}}
	for i := 0; i < filler; i += 1000 {
		var recs []audit.Record
		for j := i; j < min(i+1000, filler); j++ {
			r, err := audit.NewRecord(audit.KindState, fmt.Sprintf("other-%d", j%7), map[string]int{"n": j})
			if err != nil {
				tb.Fatal(err)
			}
			recs = append(recs, r)
		}
		if err := st.AppendAudit(ctx, recs...); err != nil {
			tb.Fatal(err)
		}
	}
	f.c = New(Config{Store: f.rec, StateDir: dir, CatalogDir: "testdata/sites", Plan: testplan.Cheapest, AuditChain: audit.NewChain(testAuditKey)})
	r, _, err := f.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(100, 10)}})
	if err != nil {
		tb.Fatal(err)
	}
	f.r = r
	es, err := st.AuditEntries(ctx, r.ID)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range es {
		if e.Kind == audit.KindPlan {
			f.submit = e.Seq
			break
		}
	}
	if f.submit <= int64(filler) {
		tb.Fatalf("the run's submission at seq %d; want one after the %d filler entries", f.submit, filler)
	}
	for _, complete := range []bool{false, true} {
		rec, err := audit.NewRecord(transfer.KindTransfer, r.ID, transfer.Entry{Kind: transfer.KindCheckpoint, Dataset: runSpanCheckpoint, Site: "alpha",
			From: "MY", To: "SG", AsOf: "2026-01-01", RunID: r.ID, Chunks: 2, ChunksSent: 1, Bytes: 10, BytesSent: 5, Complete: complete})
		if err != nil {
			tb.Fatal(err)
		}
		rec.Tenant = "t1"
		if err := st.AppendAudit(ctx, rec); err != nil {
			tb.Fatal(err)
		}
		last, err := st.AuditEntries(ctx, r.ID)
		if err != nil {
			tb.Fatal(err)
		}
		f.ledger = append(f.ledger, last[len(last)-1].Seq)
	}
	// Entries of other runs after the run's.
	more, err := audit.NewRecord(audit.KindState, "other", map[string]int{"n": -1})
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.AppendAudit(ctx, more); err != nil {
		tb.Fatal(err)
	}
	return f
}

// read reads the run's records whole as the sweep, a withdrawal and a
// move do: its copies on the ledger, and its checkpoint's ledger at alpha.
func (f *runSpanFixture) read(ctx context.Context) ([]stagedCopy, ckCopyLedger, error) {
	listed, err := f.c.ledgerCopies(ctx, store.AuditQuery{RunID: f.r.ID, AllTenants: true})
	if err != nil {
		return nil, ckCopyLedger{}, err
	}
	led, err := f.c.checkpointLedger(ctx, f.r, runSpanCheckpoint, "alpha", true)
	return listed, led, err
}

func (f *runSpanFixture) deleteSeq(t *testing.T, seq int64) {
	t.Helper()
	if _, err := f.st.DB().ExecContext(context.Background(), `DELETE FROM audit WHERE seq = ?`, seq); err != nil {
		t.Fatal(err)
	}
}

// TestRunRecordsReadFromTheRunsSubmission: the server's reads of one run's
// records whole (its checkpoint copies on the ledger, as the sweep of the
// sites it left and a withdrawal read them; its checkpoint's ledger, as a
// move reads it) start at the run's submission, not at the log's start:
// the store's gap check counts the run's span, not the whole log, at each.
// A ledger record of the run deleted inside that span is still refused,
// by both readers, after the start was read and kept.
func TestRunRecordsReadFromTheRunsSubmission(t *testing.T) {
	ctx := context.Background()
	f := newRunSpanFixture(t, 50)
	listed, led, err := f.read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0].dataset != runSpanCheckpoint || led.complete == nil {
		t.Fatalf("the run's copies %+v, its checkpoint's completion %+v; want the checkpoint at alpha, complete", listed, led.complete)
	}
	afters := f.rec.took()
	if len(afters) != 2 {
		t.Fatalf("%d reads of the run's records whole; want 2", len(afters))
	}
	for _, a := range afters {
		if a != f.submit-1 {
			t.Errorf("a read of the run's records whole from after seq %d; want from its submission (after %d), not the log's start", a, f.submit-1)
		}
	}

	f.deleteSeq(t, f.ledger[0])
	if _, err := f.c.ledgerCopies(ctx, store.AuditQuery{RunID: f.r.ID, AllTenants: true}); !errors.Is(err, store.ErrAuditGap) {
		t.Errorf("the run's copies read with its ledger record %d deleted: %v; want %v", f.ledger[0], err, store.ErrAuditGap)
	}
	if _, err := f.c.checkpointLedger(ctx, f.r, runSpanCheckpoint, "alpha", true); !errors.Is(err, store.ErrAuditGap) {
		t.Errorf("the checkpoint's ledger read with the run's ledger record %d deleted: %v; want %v", f.ledger[0], err, store.ErrAuditGap)
	}
}

// TestRunRecordsSubmissionDeleted: with the run's submission record
// deleted before its records were first read (so its span's start cannot
// be taken from it), each read of them counted the log from its start, its
// cost the log's length at each of the run's sweeps, withdrawals and moves.
// Each read is now refused, by name, and none reads the log from its start.
func TestRunRecordsSubmissionDeleted(t *testing.T) {
	ctx := context.Background()
	f := newRunSpanFixture(t, 50)
	f.deleteSeq(t, f.submit)
	if _, err := f.c.ledgerCopies(ctx, store.AuditQuery{RunID: f.r.ID, AllTenants: true}); !errors.Is(err, errNoSealedSubmission) {
		t.Errorf("the run's copies read with its submission record deleted: %v; want %v", err, errNoSealedSubmission)
	}
	if _, err := f.c.checkpointLedger(ctx, f.r, runSpanCheckpoint, "alpha", true); !errors.Is(err, errNoSealedSubmission) {
		t.Errorf("the checkpoint's ledger read with the run's submission record deleted: %v; want %v", err, errNoSealedSubmission)
	}
	for _, a := range f.rec.took() {
		if a == 0 {
			t.Error("a read of the run's records whole from the log's start, with its submission record deleted")
		}
	}
}

// BenchmarkRunLedgerRead is one read of a run's checkpoint copies on the
// ledger (as each step of the sweep of the sites it left reads them), the
// run submitted after 100,000 entries of the log.
func BenchmarkRunLedgerRead(b *testing.B) {
	f := newRunSpanFixture(b, 100000)
	ctx := context.Background()
	q := store.AuditQuery{RunID: f.r.ID, AllTenants: true}
	if listed, err := f.c.ledgerCopies(ctx, q); err != nil || len(listed) != 1 {
		b.Fatalf("the run's copies %v: %v", listed, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := f.c.ledgerCopies(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
}
