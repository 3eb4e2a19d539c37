package transfer

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
)

// BenchmarkIndexNothingNew: what a tenant's staging summary (Summarize
// through an Index over the audit log, as the server's ledger and
// verify routes read it) costs when nothing was written since the last,
// once the log holds entries ledger entries: the first half tenant
// acme's, the second half tenant late's (one-chunk copies, an intent and
// a confirmation each). late's records end the log; acme's are followed
// by late's, which acme's read does not return but may count.
func BenchmarkIndexNothingNew(b *testing.B) {
	ctx := context.Background()
	for _, entries := range []int{10_000, 100_000} {
		_, st := sqliteLedger(b)
		appendCopies(b, st, "acme", 0, entries/4, smallCopy)
		appendCopies(b, st, "late", entries/4, entries/4, smallCopy)
		for _, tenant := range []string{"late", "acme"} {
			x := NewIndex(AuditLedger{Store: st})
			b.Run(fmt.Sprintf("entries=%d/tenant=%s", entries, tenant), func(b *testing.B) {
				// The first read folds the history, once after a start.
				if _, err := Summarize(ctx, x, tenant); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					sums, err := Summarize(ctx, x, tenant)
					if err != nil || len(sums) != 10 {
						b.Fatal(sums, err)
					}
				}
			})
		}
	}
}

// smallCopy is copy i of a one-chunk dataset: its intent and
// confirmation.
func smallCopy(i int) (Intent, Entry) {
	e := Entry{Kind: KindDataset, Dataset: fmt.Sprintf("d%d", i%10), Site: "s1", Chunks: 1, Bytes: 1 << 20}
	var id seal.ID
	binary.BigEndian.PutUint64(id[:], uint64(i))
	in := Intent{ID: fmt.Sprintf("intent-%d", i), Entry: e, Objects: []Object{{Key: dataset.ChunkKey(e.Dataset, id), Bytes: 1 << 20, Chunk: &dataset.ChunkRef{ID: id, Size: 1 << 20}}}}
	conf := e
	conf.Intent, conf.ChunksSent, conf.BytesSent = in.ID, 1, 1<<20
	return in, conf
}
