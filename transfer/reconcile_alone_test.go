package transfer

import (
	"context"
	"testing"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
)

// TestReconcileAloneReadsBoundedPerCall: a Reconcile on its own (`dataset
// ledger`, the law check before a withdrawal), with no manifest to tell
// the dataset's chunks from others and no listing, read every chunk the
// ledger remembers as abandoned for the dataset at the site, at every
// call: a site that held them all damaged had each call read them all.
// Now a call reads at most MaxReshownReads of them (MaxReshownBytes),
// and those it leaves stay abandoned for the next.
func TestReconcileAloneReadsBoundedPerCall(t *testing.T) {
	defer func(n int, b int64) { maxReshownReads, maxReshownBytes = n, b }(maxReshownReads, maxReshownBytes)
	const n = 40
	f, m := damagedSite(t)
	keys := plantDamagedForgotten(t, f.ledger, f.site.Metadata.Name, m, n, false)
	ctx := context.Background()
	site, err := dataset.OpenStore(ctx, f.site.Spec.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer site.Close()
	key, _ := f.keys.Get("chat-logs")
	sealer, _ := seal.New(key, "chat-logs")
	for _, bound := range []struct {
		reads int
		bytes int64
		want  int
	}{{8, 1 << 30, 8}, {1 << 20, 3 * int64(seal.SealedSize(1000)), 3}} {
		maxReshownReads, maxReshownBytes = bound.reads, bound.bytes
		for i := range 3 {
			got, err := f.stager().Reconcile(ctx, CopyRequest{Name: "chat-logs", Sealer: sealer, Dst: site, Entry: Entry{Kind: KindDataset, Site: f.site.Metadata.Name}})
			if err != nil {
				t.Fatal(err)
			}
			if got != 0 {
				t.Fatalf("reconcile %d found %d objects intact; want none", i+1, got)
			}
			if reads, _ := readsOf(m, keys); reads != bound.want {
				t.Fatalf("reconcile %d (bound %d chunks, %d bytes) read the abandoned chunks %d times; want %d", i+1, bound.reads, bound.bytes, reads, bound.want)
			}
			if left := rememberedChunks(t, f.ledger); len(left) != n {
				t.Fatalf("after reconcile %d, %d chunks remembered as abandoned; want all %d", i+1, len(left), n)
			}
		}
	}
}
