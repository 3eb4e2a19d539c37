package transfer

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
)

// BenchmarkStagingReconcile: what a staging pays before it sends anything
// to a site whose store holds a dataset of 100,000 chunks: its reconcile
// (the ledger's view of the dataset at the site, the open intents' objects
// read there) and its one listing of the dataset's folder there (scan),
// through an Index over a database ledger, as a server does. clean: no
// intent open, nothing remembered. dropped: 65,536 chunks forgotten
// (maxDropped), which the listing looks for too. open: one intent of a
// batch of 64 chunks open, not at the site (a staging killed before it
// sent them), read there and abandoned, and the listing asked for their
// unfinished writes.
func BenchmarkStagingReconcile(b *testing.B) {
	const chunks = 100_000
	ctx := context.Background()
	dir := b.TempDir()
	manifest := make([]dataset.ChunkRef, chunks)
	for i := range manifest {
		manifest[i] = benchChunk(0, i)
		p := filepath.Join(dir, filepath.FromSlash(dataset.ChunkKey("d", manifest[i].ID)))
		if i%256 == 0 || i < 256 {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.WriteFile(p, []byte{1}, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	dst, err := dataset.OpenStore(ctx, "file://"+dir)
	if err != nil {
		b.Fatal(err)
	}
	defer dst.Close()
	e := Entry{Kind: KindDataset, Dataset: "d", Site: "s1", Chunks: chunks, Organization: "lab", Origin: "CN", To: "SG", AsOf: "2026-01-01"}
	for _, side := range []string{"clean", "dropped", "open"} {
		b.Run(fmt.Sprintf("%s/chunks=%d", side, chunks), func(b *testing.B) {
			led, _ := sqliteLedger(b)
			s := &Stager{Ledger: NewIndex(led)}
			if side == "dropped" {
				forgetMany(b, led, e, maxDropped)
			}
			n := 0
			for b.Loop() {
				if side == "open" {
					b.StopTimer()
					in := Intent{ID: fmt.Sprintf("i%d", n), Entry: e}
					for k := range 64 {
						ch := benchChunk(2+n, k)
						in.Objects = append(in.Objects, Object{Key: dataset.ChunkKey("d", ch.ID), Bytes: int64(seal.SealedSize(int(ch.Size))), Chunk: &ch})
					}
					if err := led.Append(ctx, "acme", KindIntent, "", in); err != nil {
						b.Fatal(err)
					}
					n++
					b.StartTimer()
				}
				c := &copier{s: s, cr: CopyRequest{Name: "d", Dst: dst, Tenant: "acme", Entry: e}, e: e, chunks: manifest, staleAge: time.Hour}
				if _, err := c.reconcile(ctx); err != nil {
					b.Fatal(err)
				}
				f, err := c.scan(ctx, nil)
				if err != nil || len(f.Chunks) != chunks {
					b.Fatal(len(f.Chunks), err)
				}
			}
		})
	}
}

// benchChunk is chunk i of set: a distinct id.
func benchChunk(set, i int) dataset.ChunkRef {
	var id seal.ID
	binary.BigEndian.PutUint64(id[:], uint64(set))
	binary.BigEndian.PutUint64(id[8:], uint64(i))
	return dataset.ChunkRef{ID: id, Size: 1 << 20}
}

// forgetMany records n chunks of dataset e at its site, none of them at
// the site, as abandoned and then forgotten, in records of forgetBatch.
func forgetMany(b *testing.B, l Ledger, e Entry, n int) {
	ctx := context.Background()
	for start := 0; start < n; start += forgetBatch {
		var objs []Object
		var keys []string
		for i := start; i < min(n, start+forgetBatch); i++ {
			ch := benchChunk(1, i)
			objs = append(objs, Object{Key: dataset.ChunkKey(e.Dataset, ch.ID), Bytes: int64(seal.SealedSize(int(ch.Size))), Chunk: &ch})
			keys = append(keys, objs[len(objs)-1].Key)
		}
		if err := l.Append(ctx, "acme", KindAbandoned, "", Abandoned{Intent: fmt.Sprintf("old%d", start), Dataset: e.Dataset, Site: e.Site,
			Missing: keys, Reason: "interrupted", Chunks: objs, Entry: &e}); err != nil {
			b.Fatal(err)
		}
		if err := l.Append(ctx, "acme", KindForgotten, "", Forgotten{Kind: KindDataset, Dataset: e.Dataset, Site: e.Site, Chunks: keys, Reason: "gone"}); err != nil {
			b.Fatal(err)
		}
	}
}
