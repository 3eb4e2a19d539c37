package transfer

import (
	"context"
	"testing"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
)

// A batch that fails after the site took some of its objects records the
// rest in a new intent and then confirms the old one; a kill between the
// two leaves both open, the objects not taken named by both. One of them
// that landed all the same (its write failed to answer, not to land) was
// confirmed by each intent on reconciling, its bytes counted twice. Now an
// object is counted once however many open intents name it, and every
// intent is closed.
func TestReconcileCountsAnObjectOfTwoIntentsOnce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 3, 40<<10, "")
	if _, err := f.stager().Stage(ctx, f.request()); err != nil {
		t.Fatal(err)
	}
	sums, err := Summarize(ctx, f.ledger, "")
	if err != nil || len(sums) != 1 {
		t.Fatalf("%+v %v", sums, err)
	}
	before := sums[0].BytesConfirmed
	chunks := f.manifest.UniqueChunks()
	if len(chunks) < 2 {
		t.Fatalf("%d chunks, want 2 or more", len(chunks))
	}
	obj := func(i int) Object {
		c := chunks[i]
		return Object{Key: dataset.ChunkKey("chat-logs", c.ID), Bytes: int64(seal.SealedSize(int(c.Size))), Chunk: &c}
	}
	e := Entry{Kind: KindDataset, Dataset: "chat-logs", Site: f.site.Metadata.Name, AsOf: "2026-01-15"}
	first := Intent{ID: "first", Entry: e, Objects: []Object{obj(0), obj(1)}}
	second := Intent{ID: "second", Entry: e, Objects: []Object{obj(1)}}
	for _, in := range []Intent{first, second} {
		if err := f.ledger.Append(ctx, "", KindIntent, "", in); err != nil {
			t.Fatal(err)
		}
	}
	site, err := dataset.OpenStore(ctx, f.site.Spec.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer site.Close()
	key, _ := f.keys.Get("chat-logs")
	sealer, _ := seal.New(key, "chat-logs")
	n, err := f.stager().Reconcile(ctx, CopyRequest{Name: "chat-logs", Sealer: sealer, Dst: site, Entry: e})
	if err != nil {
		t.Fatal(err)
	}
	sums, err = Summarize(ctx, f.ledger, "")
	if err != nil || len(sums) != 1 {
		t.Fatalf("%+v %v", sums, err)
	}
	want := obj(0).Bytes + obj(1).Bytes
	if got := sums[0].BytesConfirmed - before; got != want || n != 2 {
		t.Fatalf("the reconcile found %d objects and confirmed %d bytes; want 2 and %d", n, got, want)
	}
	if sums[0].OpenIntents != 0 {
		t.Fatalf("%d intents left open", sums[0].OpenIntents)
	}
}
