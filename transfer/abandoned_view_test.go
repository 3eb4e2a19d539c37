package transfer

import (
	"encoding/json"
	"testing"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
)

// TestViewRemembersAbandonedChunks: the view of a ledger's records keeps
// the chunks an abandonment names, with the entry to confirm them under,
// from the record itself or (a record written before it kept them) from
// its intent, until a confirmation names them (Reappeared) or a new
// intent sends them again.
func TestViewRemembersAbandonedChunks(t *testing.T) {
	ch := dataset.ChunkRef{ID: seal.ID{1}, Size: 10}
	ch2 := dataset.ChunkRef{ID: seal.ID{2}, Size: 20}
	k1, k2 := dataset.ChunkKey("d", ch.ID), dataset.ChunkKey("d", ch2.ID)
	e := Entry{Kind: KindDataset, Dataset: "d", Site: "s", RunID: "r"}
	in := Intent{ID: "i1", Entry: e, Objects: []Object{{Key: k1, Bytes: 50, Chunk: &ch}, {Key: k2, Bytes: 60, Chunk: &ch2}, {Key: dataset.ManifestKey("d"), Bytes: 9}}}
	seq := int64(0)
	rec := func(kind string, p any) Record {
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		seq++
		return Record{Seq: seq, Kind: kind, Payload: b}
	}
	v := newView()
	for _, r := range []Record{
		rec(KindIntent, in),
		// As written before abandonments kept their chunks.
		rec(KindAbandoned, Abandoned{Intent: "i1", Dataset: "d", Site: "s", Missing: []string{k1, k2, dataset.ManifestKey("d")}}),
	} {
		if err := v.apply(r); err != nil {
			t.Fatal(err)
		}
	}
	got := v.abandonedChunks(KindDataset, "d", "s")
	if len(got) != 2 || got[k1].obj.Bytes != 50 || got[k2].in.ID != "i1" || got[k2].in.RunID != "r" {
		t.Fatalf("abandoned chunks %+v; want both chunks of i1, not the manifest", got)
	}
	for _, r := range []Record{
		rec(KindTransfer, Entry{Kind: KindDataset, Dataset: "d", Site: "s", Intent: "i1", Reconciled: true, ChunksSent: 1, BytesSent: 50, Reappeared: []string{k1}}),
		rec(KindIntent, Intent{ID: "i2", Entry: e, Objects: []Object{{Key: k2, Bytes: 60, Chunk: &ch2}}}),
	} {
		if err := v.apply(r); err != nil {
			t.Fatal(err)
		}
	}
	if got := v.abandonedChunks(KindDataset, "d", "s"); len(got) != 0 {
		t.Fatalf("abandoned chunks %+v after one was confirmed and the other sent again; want none", got)
	}
	// Abandoned again, by a record that keeps its chunks (its intent
	// already closed by a confirmation of the rest).
	e2 := e
	for _, r := range []Record{
		rec(KindTransfer, Entry{Kind: KindDataset, Dataset: "d", Site: "s", Intent: "i2", Reconciled: true}),
		rec(KindAbandoned, Abandoned{Intent: "i2", Dataset: "d", Site: "s", Missing: []string{k2}, Chunks: []Object{{Key: k2, Bytes: 60, Chunk: &ch2}}, Entry: &e2}),
	} {
		if err := v.apply(r); err != nil {
			t.Fatal(err)
		}
	}
	if got := v.abandonedChunks(KindDataset, "d", "s"); len(got) != 1 || got[k2].in.ID != "i2" || got[k2].obj.Chunk == nil {
		t.Fatalf("abandoned chunks %+v; want k2 under i2", got)
	}
	if got := v.abandonedChunks(KindCheckpoint, "d", "s"); len(got) != 0 {
		t.Fatalf("a checkpoint of the same name sees %+v", got)
	}
}
