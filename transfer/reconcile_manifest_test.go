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

// cutAtManifest is a ledger that cancels the copy once the intent that
// names the manifest is recorded: a server killed after the intent and
// before the manifest's bytes leave.
type cutAtManifest struct {
	*FileLedger
	cancel context.CancelFunc
}

func (l *cutAtManifest) Append(ctx context.Context, tenant, kind, runID string, payload any) error {
	err := l.FileLedger.Append(ctx, tenant, kind, runID, payload)
	if in, ok := payload.(Intent); ok && kind == KindIntent {
		for _, o := range in.Objects {
			if o.Chunk == nil {
				l.cancel()
			}
		}
	}
	return err
}

// TestReconcileOlderManifestNotConfirmed: version 1 of a dataset is staged;
// version 2 (one file changed in place, so its manifest has the same
// length) is staged, and the copy is cut after the manifest's intent and
// before the manifest is sent. The site still holds version 1's manifest,
// whose bytes the ledger already confirmed. Reconciling must not confirm
// them again as the bytes of version 2's intent: the manifest bytes that
// crossed are version 1's once and version 2's once.
// stageCutAtManifest stages version 1 of a dataset, then version 2 (one
// file changed in place, so its manifest has the same length), cut after
// the manifest's intent and before the manifest is sent. It returns the
// fixture, version 1's result, version 2's manifest and the site's store,
// which still holds version 1's manifest.
func stageCutAtManifest(t *testing.T) (*fixture, *Result, []byte, *dataset.Store) {
	t.Helper()
	ctx := context.Background()
	f := newFixture(t, 3, 100<<10, "")
	v1 := homeManifest(t, f)
	r1, err := f.stager().Stage(ctx, f.request())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(f.src, "shard-001")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	f.add(t)
	v2 := homeManifest(t, f)
	if len(v1) != len(v2) || string(v1) == string(v2) {
		t.Fatalf("the two versions' manifests: %d and %d bytes, equal %v; want the same length, different bytes", len(v1), len(v2), string(v1) == string(v2))
	}

	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := f.stager()
	s.Ledger = &cutAtManifest{FileLedger: f.ledger, cancel: cancel}
	if _, err := s.Stage(cctx, f.request()); err == nil {
		t.Fatal("the cut staging succeeded")
	}
	site, err := dataset.OpenStore(ctx, f.site.Spec.Store)
	if err != nil {
		t.Fatal(err)
	}
	if same, err := dataset.SameObject(ctx, site, dataset.ManifestKey("chat-logs"), v1); err != nil || !same {
		t.Fatalf("after the cut the site does not hold version 1's manifest (%v)", err)
	}

	return f, r1, v2, site
}

func TestReconcileOlderManifestNotConfirmed(t *testing.T) {
	ctx := context.Background()
	f, r1, v2, site := stageCutAtManifest(t)
	defer site.Close()
	if _, err := f.stager().Stage(ctx, f.request()); err != nil {
		t.Fatal(err)
	}
	if rep := f.verifyAtSite(t); !rep.Good() {
		t.Fatalf("verify at site: %+v", rep)
	}
	recs, err := f.ledger.Records(ctx, "", KindTransfer)
	if err != nil {
		t.Fatal(err)
	}
	var confirmed int64
	var reconciledManifest int64
	for _, r := range recs {
		var e Entry
		if err := json.Unmarshal(r.Payload, &e); err != nil {
			t.Fatal(err)
		}
		confirmed += e.BytesSent
		if e.Reconciled && e.ChunksSent == 0 {
			reconciledManifest += e.BytesSent
		}
	}
	if reconciledManifest != 0 {
		t.Errorf("reconciling confirmed %d bytes of a manifest that never left: version 1's, already confirmed", reconciledManifest)
	}
	// What crossed: version 1 whole, then version 2's one changed chunk
	// and its manifest.
	if want := r1.BytesSent + int64(seal.SealedSize(100<<10)) + int64(len(v2)); confirmed != want {
		t.Errorf("the ledger confirms %d bytes, want %d", confirmed, want)
	}
	sums, err := Summarize(ctx, f.ledger, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 1 || sums[0].OpenIntents != 0 || sums[0].BytesConfirmed != confirmed {
		t.Fatalf("summary: %+v", sums)
	}
}

// TestReconcileWithoutKeyOlderManifestNotConfirmed: as above, but the open
// intent is closed without the dataset's key, as a withdrawal of the copy
// does. The manifest there has the length the intent recorded but not its
// digest: it is version 1's, already confirmed, and must not be confirmed
// again as version 2's.
func TestReconcileWithoutKeyOlderManifestNotConfirmed(t *testing.T) {
	ctx := context.Background()
	f, _, _, site := stageCutAtManifest(t)
	defer site.Close()
	open, err := OpenIntents(ctx, f.ledger, "", KindDataset, "chat-logs", f.site.Metadata.Name)
	if err != nil || len(open) != 1 {
		t.Fatalf("open intents after the cut: %d (%v), want 1", len(open), err)
	}
	if _, err := f.stager().Reconcile(ctx, CopyRequest{Name: "chat-logs", Dst: site,
		Entry: Entry{Kind: KindDataset, Dataset: "chat-logs", Site: f.site.Metadata.Name}}); err != nil {
		t.Fatal(err)
	}
	recs, err := f.ledger.Records(ctx, "", KindTransfer, KindAbandoned)
	if err != nil {
		t.Fatal(err)
	}
	abandoned := false
	for _, r := range recs {
		if r.Kind == KindAbandoned {
			var ab Abandoned
			if err := json.Unmarshal(r.Payload, &ab); err != nil {
				t.Fatal(err)
			}
			abandoned = ab.Intent == open[0].ID && slices.Contains(ab.Missing, dataset.ManifestKey("chat-logs"))
			continue
		}
		var e Entry
		if err := json.Unmarshal(r.Payload, &e); err != nil {
			t.Fatal(err)
		}
		if e.Intent == open[0].ID {
			t.Errorf("reconciling without the key confirmed %d bytes of an intent whose manifest never left (the site holds version 1's)", e.BytesSent)
		}
	}
	if !abandoned {
		t.Error("the intent's manifest is not recorded as abandoned")
	}
}
