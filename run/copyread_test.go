package run

import (
	"context"
	"fmt"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// ledgerRec is a ledger record of tenant for run, as the stager writes it.
func ledgerRec(t testing.TB, tenant, kind, run string, payload any) audit.Record {
	t.Helper()
	rec, err := audit.NewRecord(kind, run, payload)
	if err != nil {
		t.Fatal(err)
	}
	rec.Tenant = tenant
	return rec
}

type intentRec struct {
	ID string `json:"id"`
	transfer.Entry
}

// otherTenantsLedger appends n ledger records of tenants other than the
// tests' (an intent and its confirmation for each copy), in one write.
func otherTenantsLedger(t testing.TB, st store.Store, n int) {
	t.Helper()
	recs := make([]audit.Record, 0, n)
	for i := 0; len(recs) < n; i++ {
		tenant, id := fmt.Sprintf("other%d", i%50), fmt.Sprintf("intent-%d", i)
		e := transfer.Entry{Dataset: fmt.Sprintf("d%d", i), Site: "alpha", From: "SG", To: "SG", AsOf: "2026-01-01", Organization: "lab", Origin: "SG"}
		recs = append(recs, ledgerRec(t, tenant, transfer.KindIntent, "", intentRec{id, e}))
		e.Intent, e.BytesSent, e.Complete = id, 100, true
		recs = append(recs, ledgerRec(t, tenant, transfer.KindTransfer, "", e))
	}
	if err := st.AppendAudit(context.Background(), recs...); err != nil {
		t.Fatal(err)
	}
}

// countingAudit is a store that counts the audit entries its selections
// return, and the selections of every tenant.
type countingAudit struct {
	store.Store
	entries, all atomic.Int64
}

func (s *countingAudit) AuditSelect(ctx context.Context, q store.AuditQuery) ([]audit.Entry, error) {
	es, err := s.Store.AuditSelect(ctx, q)
	s.entries.Add(int64(len(es)))
	if q.AllTenants && q.RunID == "" {
		s.all.Add(1)
	}
	return es, err
}

// TestDeferredWithdrawalReadsItsOwnLedger: the retry of a deferred
// withdrawal reads the ledger of the copy's tenant, not every tenant's
// (10,000 entries of others here), and withdraws the copy as before.
func TestDeferredWithdrawalReadsItsOwnLedger(t *testing.T) {
	st, _, first, withdrawn, unlock := deferredCopy(t)
	unlock()
	otherTenantsLedger(t, st, 10000)
	ca := &countingAudit{Store: st}
	first.cfg.Store = ca
	first.mu.Lock()
	first.deferredTry = time.Time{} // the retry is due
	first.mu.Unlock()
	first.retryWithdrawals(context.Background(), first.lawNow())
	if !withdrawn() {
		t.Fatal("the deferred copy was not withdrawn")
	}
	if n, all := ca.entries.Load(), ca.all.Load(); all > 0 || n > 1000 {
		t.Errorf("the retry read %d audit entries in %d reads of every tenant's ledger; want only the copy's tenant's", n, all)
	}
}

// TestCopiesOfMatchesWholeLedger: the copies copiesOf finds in their
// tenants' (and runs') entries are those stagedCopies finds in the whole
// ledger: dataset and checkpoint copies, open intents, abandoned ones,
// withdrawals, and entries of the default tenant written without one.
func TestCopiesOfMatchesWholeLedger(t *testing.T) {
	st, dir := testStore(t)
	c := New(Config{Store: st, StateDir: dir, CatalogDir: "testdata/sites"})
	ent := func(kind, ds, site, run string) transfer.Entry {
		return transfer.Entry{Kind: kind, Dataset: ds, Site: site, RunID: run, From: "SG", To: "MY", AsOf: "2026-01-01", Organization: "lab", Origin: "SG"}
	}
	confirm := func(e transfer.Entry, intent string) transfer.Entry {
		e.Intent, e.BytesSent, e.Complete = intent, 10, true
		return e
	}
	ck := transfer.KindCheckpoint
	recs := []audit.Record{
		// The default tenant's, written before entries named a tenant.
		ledgerRec(t, "", transfer.KindIntent, "", intentRec{"i1", ent("", "d1", "alpha", "")}),
		ledgerRec(t, "", transfer.KindTransfer, "", confirm(ent("", "d1", "alpha", ""), "i1")),
		// t1: an open intent; a copy withdrawn; a checkpoint's copy; a
		// checkpoint's intent abandoned.
		ledgerRec(t, "t1", transfer.KindIntent, "", intentRec{"i2", ent("", "d1", "alpha", "")}),
		ledgerRec(t, "t1", transfer.KindTransfer, "", confirm(ent("", "d2", "beta", ""), "")),
		ledgerRec(t, "t1", transfer.KindWithdrawn, "", transfer.Withdrawn{Dataset: "d2", Site: "beta"}),
		ledgerRec(t, "t1", transfer.KindIntent, "r1", intentRec{"i3", ent(ck, "ck1", "alpha", "r1")}),
		ledgerRec(t, "t1", transfer.KindTransfer, "r1", confirm(ent(ck, "ck1", "alpha", "r1"), "i3")),
		ledgerRec(t, "t1", transfer.KindIntent, "r1", intentRec{"i4", ent(ck, "ck1", "beta", "r1")}),
		ledgerRec(t, "t1", transfer.KindAbandoned, "r1", transfer.Abandoned{Intent: "i4", Dataset: "ck1", Site: "beta"}),
		// t2: the same names, another tenant's copies.
		ledgerRec(t, "t2", transfer.KindTransfer, "r2", confirm(ent(ck, "ck1", "alpha", "r2"), "")),
		ledgerRec(t, "t2", transfer.KindTransfer, "", confirm(ent("", "d1", "alpha", ""), "")),
	}
	ctx := context.Background()
	if err := st.AppendAudit(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	otherTenantsLedger(t, st, 200)
	whole, err := c.stagedCopies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := func(todo map[stagedCopy]bool) []stagedCopy {
		var out []stagedCopy
		for _, cp := range whole {
			k := cp
			k.org = ""
			if todo[k] {
				out = append(out, cp)
			}
		}
		return out
	}
	var keys []stagedCopy
	for _, cp := range whole {
		if cp.tenant == "other0" || len(cp.tenant) > 5 && cp.tenant[:5] == "other" {
			continue
		}
		cp.org = ""
		keys = append(keys, cp)
	}
	if len(keys) != 5 {
		t.Fatalf("the whole ledger lists %d of the test's copies, want 5: %+v", len(keys), keys)
	}
	gone := []stagedCopy{copyKey("t1", "", "d2", "beta", ""), copyKey("t1", ck, "ck1", "beta", "r1")}
	todos := []map[stagedCopy]bool{{}}
	all := map[stagedCopy]bool{}
	for _, k := range append(keys, gone...) {
		todos = append(todos, map[stagedCopy]bool{k: true})
		all[k] = true
	}
	todos = append(todos, all)
	for _, todo := range todos {
		got, err := c.copiesOf(ctx, todo)
		if err != nil {
			t.Fatal(err)
		}
		if w := want(todo); !reflect.DeepEqual(got, w) {
			t.Errorf("copies of %v:\n got %+v\nwant %+v", todo, got, w)
		}
	}
}

// BenchmarkDeferredCopyRead: what a retry of one deferred withdrawal reads
// of a ledger of 10,000 entries of other tenants: the whole ledger
// (stagedCopies, as it did) or the copy's tenant's (copiesOf).
func BenchmarkDeferredCopyRead(b *testing.B) {
	st, dir := testStore(b)
	c := New(Config{Store: st, StateDir: dir, CatalogDir: "testdata/sites"})
	ctx := context.Background()
	e := transfer.Entry{Dataset: "corpus", Site: "alpha", From: "SG", To: "MY", AsOf: "2026-01-01", Organization: "lab", Origin: "SG", BytesSent: 10, Complete: true}
	if err := st.AppendAudit(ctx, ledgerRec(b, "t1", transfer.KindTransfer, "", e)); err != nil {
		b.Fatal(err)
	}
	otherTenantsLedger(b, st, 10000)
	todo := map[stagedCopy]bool{copyKey("t1", "", "corpus", "alpha", ""): true}
	for _, bc := range []struct {
		name string
		read func() ([]stagedCopy, error)
	}{
		{"whole", func() ([]stagedCopy, error) { return c.stagedCopies(ctx) }},
		{"own", func() ([]stagedCopy, error) { return c.copiesOf(ctx, todo) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.read(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
