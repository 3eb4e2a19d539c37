package transfer

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
)

// BenchmarkLedgerTotals: what a tenant's ledger totals cost once its
// history holds copies copies of 64 chunks each (an intent listing them
// and its confirmation), read after one more copy is recorded: folded from
// every record (a plain ledger, as before the Index) and through an Index.
func BenchmarkLedgerTotals(b *testing.B) {
	for _, copies := range []int{100, 2000} {
		ctx := context.Background()
		led, st := sqliteLedger(b)
		var recs []audit.Record
		flush := func() {
			if err := st.AppendAudit(ctx, recs...); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
		for i := range copies {
			in, conf := benchCopy(i)
			for _, r := range []struct {
				kind string
				v    any
			}{{KindIntent, in}, {KindTransfer, conf}} {
				rec, err := audit.NewRecord(r.kind, "", r.v)
				if err != nil {
					b.Fatal(err)
				}
				rec.Tenant = "acme"
				recs = append(recs, rec)
			}
			if len(recs) >= 500 {
				flush()
			}
		}
		flush()
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
					in, conf := benchCopy(n)
					n++
					if err := led.Append(ctx, "acme", KindIntent, "", in); err != nil {
						b.Fatal(err)
					}
					if err := led.Append(ctx, "acme", KindTransfer, "", conf); err != nil {
						b.Fatal(err)
					}
					sums, err := Summarize(ctx, l, "acme")
					if err != nil || len(sums) == 0 {
						b.Fatal(sums, err)
					}
				}
			})
		}
	}
}

// benchCopy is copy i of a 64-chunk dataset: its intent and confirmation.
func benchCopy(i int) (Intent, Entry) {
	e := Entry{Kind: KindDataset, Dataset: fmt.Sprintf("d%d", i%10), Site: "s1", Chunks: 64, Bytes: 64 << 20}
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
