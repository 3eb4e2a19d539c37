package transfer

import (
	"context"
	"errors"
	"testing"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
)

// rememberedChunks is what the ledger's view remembers as abandoned for
// the fixture's dataset at its site.
func rememberedChunks(t *testing.T, l Ledger) map[string]abandonedChunk {
	t.Helper()
	var got map[string]abandonedChunk
	if err := viewOf(context.Background(), l, "", func(v *view) { got = v.abandonedChunks(KindDataset, "chat-logs", "my-johor-1") }); err != nil {
		t.Fatal(err)
	}
	return got
}

// recordsOf counts the fixture ledger's records of kind.
func recordsOf(t *testing.T, l Ledger, kind string) int {
	t.Helper()
	recs, err := l.Records(context.Background(), "", kind)
	if err != nil {
		t.Fatal(err)
	}
	return len(recs)
}

// TestReconcileForgetsAbandonedChunksTheManifestDropped: a chunk an
// interrupted staging of an earlier version of the dataset left
// abandoned, which the dataset's manifest no longer names, was never named
// by an intent again, so the ledger remembered it for ever and every
// reconcile read it at the site once more. Once a reconcile finds it not
// there, one record forgets it: the next staging reads nothing of it. A
// staging killed before that record is written (here, a ledger refusing
// it) leaves it remembered, and the next one forgets it.
func TestReconcileForgetsAbandonedChunksTheManifestDropped(t *testing.T) {
	f := newFixture(t, 3, 100<<10, "")
	ctx := context.Background()
	if _, err := f.stager().Stage(ctx, f.request()); err != nil {
		t.Fatal(err)
	}
	// What a staging of an older version, cut and reconciled, left: a
	// chunk the current manifest does not name, abandoned.
	old := dataset.ChunkRef{ID: seal.ID{0xee, 1}, Size: 1000}
	oldKey := dataset.ChunkKey("chat-logs", old.ID)
	e := Entry{Kind: KindDataset, Dataset: "chat-logs", Site: "my-johor-1", From: "CN", To: "MY", AsOf: "2026-01-14", RunID: "run-0"}
	in := Intent{ID: "old-intent", Entry: e, Objects: []Object{{Key: oldKey, Bytes: int64(seal.SealedSize(1000)), Chunk: &old}}}
	if err := f.ledger.Append(ctx, "", KindIntent, "run-0", in); err != nil {
		t.Fatal(err)
	}
	if err := f.ledger.Append(ctx, "", KindAbandoned, "run-0", Abandoned{Intent: in.ID, Dataset: e.Dataset, Site: e.Site,
		Missing: []string{oldKey}, Reason: "interrupted", Chunks: in.Objects, Entry: &e}); err != nil {
		t.Fatal(err)
	}
	if got := rememberedChunks(t, f.ledger); len(got) != 1 {
		t.Fatalf("remembered %v; want the old chunk", got)
	}

	// A ledger that cannot take the record forgetting it: the staging
	// stops, and the chunk stays remembered.
	broken := &brokenLedger{FileLedger: f.ledger, kind: KindForgotten}
	broken.broken.Store(true)
	s := f.stager()
	s.Ledger = broken
	if _, err := s.Stage(ctx, f.request()); !errors.Is(err, ErrLedger) {
		t.Fatalf("Stage with the ledger refusing the record: %v; want ErrLedger", err)
	}
	if got := rememberedChunks(t, f.ledger); len(got) != 1 {
		t.Fatalf("remembered %v after the record failed; want the old chunk still", got)
	}

	if _, err := f.stager().Stage(ctx, f.request()); err != nil {
		t.Fatal(err)
	}
	if got := rememberedChunks(t, f.ledger); len(got) != 0 {
		t.Fatalf("remembered %v after a reconcile found it gone; want nothing", got)
	}
	if n := recordsOf(t, f.ledger, KindForgotten); n != 1 {
		t.Fatalf("%d records forgetting chunks; want 1", n)
	}
	// The ledger's Index agrees with a fresh fold, and nothing more is
	// forgotten (or read) on the next staging.
	if _, err := f.stager().Stage(ctx, f.request()); err != nil {
		t.Fatal(err)
	}
	if n := recordsOf(t, f.ledger, KindForgotten); n != 1 {
		t.Fatalf("%d records forgetting chunks after another staging; want still 1", n)
	}
}

// TestReconcileWithoutTheManifestForgetsNothing: a Reconcile on its own
// (`dataset ledger`, a withdrawal) has no manifest, and cannot tell a
// chunk the manifest dropped from one it still names, which a hostile
// site may be hiding: it forgets nothing it finds missing.
func TestReconcileWithoutTheManifestForgetsNothing(t *testing.T) {
	f := newFixture(t, 3, 100<<10, "")
	ctx := context.Background()
	if _, err := f.stager().Stage(ctx, f.request()); err != nil {
		t.Fatal(err)
	}
	old := dataset.ChunkRef{ID: seal.ID{0xee, 2}, Size: 1000}
	oldKey := dataset.ChunkKey("chat-logs", old.ID)
	e := Entry{Kind: KindDataset, Dataset: "chat-logs", Site: "my-johor-1", From: "CN", To: "MY", AsOf: "2026-01-14"}
	objs := []Object{{Key: oldKey, Bytes: int64(seal.SealedSize(1000)), Chunk: &old}}
	if err := f.ledger.Append(ctx, "", KindAbandoned, "", Abandoned{Intent: "i0", Dataset: e.Dataset, Site: e.Site,
		Missing: []string{oldKey}, Reason: "interrupted", Chunks: objs, Entry: &e}); err != nil {
		t.Fatal(err)
	}
	st, err := dataset.OpenStore(ctx, f.site.Spec.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := f.stager()
	if _, err := s.Reconcile(ctx, CopyRequest{Name: "chat-logs", Dst: st, Entry: e}); err != nil {
		t.Fatal(err)
	}
	if got := rememberedChunks(t, f.ledger); len(got) != 1 {
		t.Fatalf("remembered %v after a Reconcile without the manifest; want the chunk still", got)
	}
}

// TestForgetManyChunksInBoundedRecords: a dropped version's abandoned
// chunks may be many; the records forgetting them name at most
// forgetBatch each, so that no ledger line grows with the dataset, and
// all of them are forgotten.
func TestForgetManyChunksInBoundedRecords(t *testing.T) {
	f := newFixture(t, 1, 10<<10, "")
	ctx := context.Background()
	if _, err := f.stager().Stage(ctx, f.request()); err != nil {
		t.Fatal(err)
	}
	e := Entry{Kind: KindDataset, Dataset: "chat-logs", Site: "my-johor-1", From: "CN", To: "MY", AsOf: "2026-01-14"}
	const n = 2*forgetBatch + 5
	var objs []Object
	var keys []string
	for i := range n {
		ch := dataset.ChunkRef{ID: seal.ID{0xee, byte(i >> 8), byte(i)}, Size: 1000}
		objs = append(objs, Object{Key: dataset.ChunkKey("chat-logs", ch.ID), Bytes: int64(seal.SealedSize(1000)), Chunk: &ch})
		keys = append(keys, objs[i].Key)
	}
	if err := f.ledger.Append(ctx, "", KindAbandoned, "", Abandoned{Intent: "i0", Dataset: e.Dataset, Site: e.Site,
		Missing: keys, Reason: "interrupted", Chunks: objs, Entry: &e}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.stager().Stage(ctx, f.request()); err != nil {
		t.Fatal(err)
	}
	if got := rememberedChunks(t, f.ledger); len(got) != 0 {
		t.Fatalf("%d chunks still remembered; want none", len(got))
	}
	recs, err := f.ledger.Records(ctx, "", KindForgotten)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, r := range recs {
		var fg Forgotten
		if err := r.decode(&fg); err != nil {
			t.Fatal(err)
		}
		if len(fg.Chunks) > forgetBatch {
			t.Fatalf("a record forgets %d chunks; want at most %d", len(fg.Chunks), forgetBatch)
		}
		total += len(fg.Chunks)
	}
	if total != n || len(recs) != 3 {
		t.Fatalf("%d records forgot %d chunks; want 3 forgetting %d", len(recs), total, n)
	}
}
