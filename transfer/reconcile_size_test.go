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

// cutAtIntent is a ledger that cancels the copy as soon as its first
// intent is recorded: a server killed before any of the intent's bytes
// leave.
type cutAtIntent struct {
	*FileLedger
	cancel context.CancelFunc
}

func (l *cutAtIntent) Append(ctx context.Context, tenant, kind, runID string, payload any) error {
	err := l.FileLedger.Append(ctx, tenant, kind, runID, payload)
	if kind == KindIntent {
		l.cancel()
	}
	return err
}

// TestReconcileStaleWrongSizeChunkNotConfirmed: the site holds, under one
// chunk's name, an object of the wrong length (a chunk an earlier copy
// sent, cut short there by the host). A staging records its intent and is
// killed before sending anything. Reconciling must record that chunk as
// never having arrived: the object there is not what the intent sent, and
// its bytes were counted when they first crossed. It was confirmed as a
// damaged arrival, bytes that never left counted as crossed; a chunk of
// the right length that failed authentication was deleted before the
// intent, and one of the wrong length was not.
func TestReconcileStaleWrongSizeChunkNotConfirmed(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 3, 100<<10, "")
	chunks := f.manifest.UniqueChunks()
	stale := dataset.ChunkKey("chat-logs", chunks[0].ID)
	p := filepath.Join(f.siteDir, filepath.FromSlash(stale))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, make([]byte, 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := f.stager()
	s.Ledger = &cutAtIntent{FileLedger: f.ledger, cancel: cancel}
	if _, err := s.Stage(cctx, f.request()); err == nil {
		t.Fatal("the cut staging succeeded")
	}
	site, err := dataset.OpenStore(ctx, f.site.Spec.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer site.Close()
	key, _ := f.keys.Get("chat-logs")
	sealer, _ := seal.New(key, "chat-logs")
	if _, err := f.stager().Reconcile(ctx, CopyRequest{Name: "chat-logs", Sealer: sealer, Dst: site, Entry: Entry{Kind: KindDataset, Site: f.site.Metadata.Name}}); err != nil {
		t.Fatal(err)
	}
	recs, err := f.ledger.Records(ctx, "", KindTransfer, KindAbandoned)
	if err != nil {
		t.Fatal(err)
	}
	var confirmed int64
	var abandoned []string
	for _, r := range recs {
		switch r.Kind {
		case KindTransfer:
			var e Entry
			json.Unmarshal(r.Payload, &e)
			confirmed += e.BytesSent
		case KindAbandoned:
			var a Abandoned
			json.Unmarshal(r.Payload, &a)
			abandoned = append(abandoned, a.Missing...)
		}
	}
	if confirmed != 0 || !slices.Contains(abandoned, stale) {
		t.Errorf("a copy killed before it sent anything: the ledger confirms %d bytes, abandons %q; want none confirmed and %s abandoned", confirmed, abandoned, stale)
	}
	if _, err := f.stager().Stage(ctx, f.request()); err != nil {
		t.Fatal(err)
	}
	if rep := f.verifyAtSite(t); !rep.Good() {
		t.Errorf("verify at site after restaging: %+v", rep)
	}
}
