package api

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// BenchmarkLedgerNothingNew: the server's answer to a tenant's read of
// its ledger (run.Controller.DatasetLedger: a page of its records and
// its staging summary, through the server's Index) when nothing was
// written since the last, once the log holds entries ledger entries, the
// first half tenant acme's and the second half tenant late's (one-chunk
// copies, an intent and a confirmation each). The page asked is the one
// after the tenant's last record, as a client that follows its ledger
// asks: it holds nothing.
func BenchmarkLedgerNothingNew(b *testing.B) {
	ctx := context.Background()
	for _, entries := range []int{10_000, 100_000} {
		dir := b.TempDir()
		st, err := store.OpenSQLite(ctx, filepath.Join(dir, "m.db"), store.Options{AuditKey: []byte("0123456789abcdef")})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		last := map[string]int64{}
		for i, tenant := range []string{"acme", "late"} {
			last[tenant] = smallCopies(b, st, tenant, i*entries/4, entries/4)
		}
		c := run.New(run.Config{Store: st, StateDir: dir, Stager: &transfer.Stager{Ledger: transfer.NewIndex(transfer.AuditLedger{Store: st})}})
		for _, tenant := range []string{"late", "acme"} {
			b.Run(fmt.Sprintf("entries=%d/tenant=%s", entries, tenant), func(b *testing.B) {
				page := run.LedgerPage{After: last[tenant], Limit: AuditPage}
				if _, err := c.DatasetLedger(ctx, tenant, "", page); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					l, err := c.DatasetLedger(ctx, tenant, "", page)
					if err != nil || len(l.Entries) != 0 || len(l.Totals) != 10 {
						b.Fatal(l, err)
					}
				}
			})
		}
	}
}

// smallCopies appends copies copies of one object each for tenant, from
// copy first on (an intent and a confirmation each), in one write, and
// returns the seq of the last.
func smallCopies(b *testing.B, st *store.SQLite, tenant string, first, copies int) int64 {
	ctx := context.Background()
	var recs []audit.Record
	for i := first; i < first+copies; i++ {
		e := transfer.Entry{Kind: transfer.KindDataset, Dataset: fmt.Sprintf("d%d", i%10), Site: "s1", Chunks: 1, Bytes: 1 << 20}
		in := transfer.Intent{ID: fmt.Sprintf("intent-%d", i), Entry: e, Objects: []transfer.Object{{Key: fmt.Sprintf("k%d", i), Bytes: 1 << 20}}}
		conf := e
		conf.Intent, conf.ChunksSent, conf.BytesSent = in.ID, 1, 1<<20
		recs = append(recs, copyRecords(b, tenant, in, conf)...)
	}
	if err := st.AppendAudit(ctx, recs...); err != nil {
		b.Fatal(err)
	}
	seq, _, err := st.AuditHead(ctx)
	if err != nil {
		b.Fatal(err)
	}
	return seq
}
