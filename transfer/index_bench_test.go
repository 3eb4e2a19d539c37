package transfer

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/seal"
	"meridian.dev/meridian/store"
)

// BenchmarkLedgerTotals: what a tenant's ledger totals cost once its
// history holds copies copies of 64 chunks each (an intent listing them
// and its confirmation), read after one more copy is recorded: folded from
// every record (a plain ledger, as before the Index) and through an Index.
func BenchmarkLedgerTotals(b *testing.B) {
	for _, copies := range []int{100, 2000} {
		ctx := context.Background()
		led, _ := benchHistory(b, copies)
		for _, side := range []string{"fold", "index"} {
			var l Ledger = led
			if side == "index" {
				l = NewIndex(led)
			}
			n := copies
			b.Run(fmt.Sprintf("%s/copies=%d", side, copies), func(b *testing.B) {
				// The index's first read folds the history, once after
				// a start; the loop times the reads after it.
				if _, err := Summarize(ctx, l, "acme"); err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					recordCopy(b, led, n)
					n++
					sums, err := Summarize(ctx, l, "acme")
					if err != nil || len(sums) == 0 {
						b.Fatal(sums, err)
					}
				}
			})
		}
	}
}

// BenchmarkLedgerExports: what one volume question (an organisation's
// exports from a country in a year, asked by each plan or law check that
// meets a volume rule) costs once the ledger holds copies copies, asked
// after one more copy is recorded: from every record (LedgerExports over
// ExportEntries, as before the index) and through an ExportIndex.
func BenchmarkLedgerExports(b *testing.B) {
	for _, copies := range []int{100, 2000} {
		ctx := context.Background()
		led, st := benchHistory(b, copies)
		full := everyRecordExports(led)
		n := copies
		for _, side := range []string{"full", "index"} {
			var x policy.Exports = full
			if side == "index" {
				x = AuditExports(st)
			}
			b.Run(fmt.Sprintf("%s/copies=%d", side, copies), func(b *testing.B) {
				year := [2]catalog.Date{catalog.MustDate("2026-01-01"), catalog.MustDate("2026-12-31")}
				if _, err := x.Exported(ctx, "acme", []string{"lab"}, "CN", year[0], year[1]); err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					recordCopy(b, led, n)
					n++
					xs, err := x.Exported(ctx, "acme", []string{"lab"}, "CN", year[0], year[1])
					if err != nil || len(xs) != 10 {
						b.Fatal(xs, err)
					}
				}
			})
		}
	}
}

// recordCopy appends copy i's intent and confirmation, as a staging does.
func recordCopy(b testing.TB, led AuditLedger, i int) {
	ctx := context.Background()
	in, conf := benchCopy(i)
	if err := led.Append(ctx, "acme", KindIntent, "", in); err != nil {
		b.Fatal(err)
	}
	if err := led.Append(ctx, "acme", KindTransfer, "", conf); err != nil {
		b.Fatal(err)
	}
}

// benchHistory is a ledger of tenant acme holding copies copies.
func benchHistory(b *testing.B, copies int) (AuditLedger, *store.SQLite) {
	led, st := sqliteLedger(b)
	appendCopies(b, st, "acme", 0, copies, benchCopy)
	return led, st
}

// appendCopies appends tenant's copies copyOf(i), for i from first on,
// copies of them: an intent and a confirmation each, some hundreds of
// entries to a write.
func appendCopies(b testing.TB, st *store.SQLite, tenant string, first, copies int, copyOf func(int) (Intent, Entry)) {
	ctx := context.Background()
	var recs []audit.Record
	flush := func() {
		if err := st.AppendAudit(ctx, recs...); err != nil {
			b.Fatal(err)
		}
		recs = recs[:0]
	}
	for i := first; i < first+copies; i++ {
		in, conf := copyOf(i)
		for _, r := range []struct {
			kind string
			v    any
		}{{KindIntent, in}, {KindTransfer, conf}} {
			rec, err := audit.NewRecord(r.kind, "", r.v)
			if err != nil {
				b.Fatal(err)
			}
			rec.Tenant = tenant
			recs = append(recs, rec)
		}
		if len(recs) >= 500 {
			flush()
		}
	}
	flush()
}

// benchCopy is copy i of a 64-chunk dataset: its intent and confirmation.
func benchCopy(i int) (Intent, Entry) {
	e := Entry{Kind: KindDataset, Dataset: fmt.Sprintf("d%d", i%10), Site: "s1", Chunks: 64, Bytes: 64 << 20,
		Organization: "lab", Origin: "CN", To: "SG", AsOf: fmt.Sprintf("2026-%02d-01", 1+i%12), Classification: "personal", Subjects: int64(1000 + i)}
	in := Intent{ID: fmt.Sprintf("intent-%d", i), Entry: e}
	for k := range 64 {
		var id seal.ID
		binary.BigEndian.PutUint64(id[:], uint64(i*64+k))
		in.Objects = append(in.Objects, Object{Key: dataset.ChunkKey(e.Dataset, id), Bytes: 1 << 20, Chunk: &dataset.ChunkRef{ID: id, Size: 1 << 20}})
	}
	conf := e
	conf.Intent, conf.ChunksSent, conf.BytesSent = in.ID, 64, 64<<20
	return in, conf
}
