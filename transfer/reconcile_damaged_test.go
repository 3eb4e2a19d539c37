package transfer

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
)

// TestReconcileDamagedObjectCrossed: a staging killed after two chunks reached
// the site leaves its intent open; the host then flips a byte of one of
// them. Reconciling must not record that chunk as one that never reached
// the destination: its ciphertext crossed. It is confirmed, counted as
// damaged, and the next staging deletes it and sends it again.
func TestReconcileDamagedObjectCrossed(t *testing.T) {
	f := newFixture(t, 6, 100<<10, "")
	ctx := context.Background()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st := f.stager()
	st.Workers = 1
	killAfter(st, 2, cancel)
	if _, err := st.Stage(cctx, f.request()); err == nil {
		t.Fatal("the cut staging succeeded")
	}
	site, err := dataset.OpenStore(ctx, f.site.Spec.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer site.Close()
	have, err := dataset.ListChunks(ctx, site, "chat-logs")
	if err != nil || len(have) < 2 {
		t.Fatalf("after the cut: %d chunks at the site (%v), want 2 or more", len(have), err)
	}
	var bad string
	var there []string
	for id := range have {
		there = append(there, dataset.ChunkKey("chat-logs", id))
	}
	slices.Sort(there)
	bad = there[0]
	p := filepath.Join(f.siteDir, filepath.FromSlash(bad))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	key, _ := f.keys.Get("chat-logs")
	sealer, _ := seal.New(key, "chat-logs")
	n, err := f.stager().Reconcile(ctx, CopyRequest{Name: "chat-logs", Sealer: sealer, Dst: site, Entry: Entry{Kind: KindDataset, Site: f.site.Metadata.Name}})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(there)-1 {
		t.Errorf("reconcile found %d objects intact, want %d", n, len(there)-1)
	}
	recs, err := f.ledger.Records(ctx, "", KindTransfer, KindAbandoned)
	if err != nil {
		t.Fatal(err)
	}
	var confirmed, damaged int
	for _, r := range recs {
		switch r.Kind {
		case KindTransfer:
			var e Entry
			json.Unmarshal(r.Payload, &e)
			confirmed += e.ChunksSent
			damaged += e.Damaged
		case KindAbandoned:
			var a Abandoned
			json.Unmarshal(r.Payload, &a)
			if slices.Contains(a.Missing, bad) {
				t.Errorf("the damaged chunk at the site is recorded as never having reached it: %q", a.Reason)
			}
		}
	}
	if confirmed != len(there) || damaged != 1 {
		t.Errorf("the ledger confirms %d chunks, %d of them damaged; want %d, 1 damaged", confirmed, damaged, len(there))
	}
	r, err := f.stager().Stage(ctx, f.request())
	if err != nil {
		t.Fatal(err)
	}
	if r.Damaged != 1 {
		t.Errorf("restaging replaced %d damaged chunks, want 1", r.Damaged)
	}
	if rep := f.verifyAtSite(t); !rep.Good() {
		t.Errorf("verify at site after restaging: %+v", rep)
	}
}
