package run

import (
	"context"
	"fmt"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/transfer"
)

// BenchmarkLawPassCopyRead: what one pass of the law check reads to know
// the staged copies (stagedCopies, as recheckCopies and copyFactDay read
// them) over a ledger of 10,000 and 100,000 entries, one new confirmation
// appended before each pass (outside the timing). entries/op is the
// ledger entries the pass read.
func BenchmarkLawPassCopyRead(b *testing.B) {
	for _, rows := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			st, dir := testStore(b)
			otherTenantsLedger(b, st, rows)
			ca := &countingAudit{Store: st}
			c := New(Config{Store: ca, StateDir: dir, CatalogDir: "testdata/sites"})
			ctx := context.Background()
			// The server's first pass, before the timing.
			if _, err := c.stagedCopies(ctx); err != nil {
				b.Fatal(err)
			}
			today := catalog.MustDate("2026-06-01")
			b.ReportAllocs()
			read := ca.entries.Load()
			i := 0
			for b.Loop() {
				b.StopTimer()
				i++
				e := transfer.Entry{Dataset: fmt.Sprintf("new%d", i), Site: "alpha", From: "SG", To: "SG", AsOf: "2026-01-01", Organization: "lab", Origin: "SG", BytesSent: 10, Complete: true}
				if err := st.AppendAudit(ctx, ledgerRec(b, "t1", transfer.KindTransfer, "", e)); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				cs, err := c.stagedCopies(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if len(cs) < rows/2 {
					b.Fatalf("%d copies", len(cs))
				}
				if _, err := c.copyFactDay(ctx, today, today); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(ca.entries.Load()-read)/float64(b.N), "entries/op")
		})
	}
}
