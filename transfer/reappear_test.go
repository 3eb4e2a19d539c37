package transfer

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/dataset"
)

// showOnAbandon is a ledger that, once an abandonment is recorded, puts
// back the objects a site hid: a site's store that answered "not there"
// to the reconciliation and lists the objects, intact, a moment later.
type showOnAbandon struct {
	*FileLedger
	hidden map[string]string // where each hidden object is kept → its path in the site's store
}

func (l *showOnAbandon) Append(ctx context.Context, tenant, kind, runID string, payload any) error {
	err := l.FileLedger.Append(ctx, tenant, kind, runID, payload)
	if err == nil && kind == KindAbandoned {
		for aside, p := range l.hidden {
			// A listing since may have removed the emptied directory.
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := os.Rename(aside, p); err != nil {
				return err
			}
		}
		l.hidden = nil
	}
	return err
}

// TestAttackSiteHidesChunksFromReconcile: a staging killed after its first
// chunk reached the site leaves that chunk's intent open. A site that
// answers "not there" while the next staging reconciles it, and shows it
// intact when the staging then looks for what it lacks, had the chunk
// recorded as abandoned and then skipped as already there: bytes at the
// site that no confirmation counted. The staging that found it now
// confirms it, and the ledger counts every chunk at the site.
func TestAttackSiteHidesChunksFromReconcile(t *testing.T) {
	f := newFixture(t, 4, 200<<10, "")
	total := len(f.manifest.UniqueChunks())
	ctx, cancel := context.WithCancel(context.Background())
	s := f.stager()
	s.Workers = 1
	killAfter(s, 1, cancel)
	if _, err := s.Stage(ctx, f.request()); err == nil {
		t.Fatal("interrupted Stage returned no error")
	}
	if n := chunksAtSite(t, f); n != 1 {
		t.Fatalf("%d chunks at the site after the cut; want 1", n)
	}
	// The site hides the chunk that arrived.
	st, err := dataset.OpenStore(context.Background(), f.site.Spec.Store)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := dataset.ListChunks(context.Background(), st, "chat-logs")
	st.Close()
	if err != nil || len(ids) != 1 {
		t.Fatalf("chunks at the site: %v, %v", ids, err)
	}
	var p string
	for id := range ids {
		p = filepath.Join(f.siteDir, filepath.FromSlash(dataset.ChunkKey("chat-logs", id)))
	}
	aside := filepath.Join(t.TempDir(), "hidden")
	if err := os.Rename(p, aside); err != nil {
		t.Fatal(err)
	}
	s = f.stager()
	s.Ledger = &showOnAbandon{FileLedger: f.ledger, hidden: map[string]string{aside: p}}
	res, err := s.Stage(context.Background(), f.request())
	if err != nil {
		t.Fatal(err)
	}
	if res.ChunksSent+res.Skipped != total {
		t.Fatalf("sent %d, skipped %d of %d", res.ChunksSent, res.Skipped, total)
	}
	sums, err := Summarize(context.Background(), f.ledger, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 1 || sums[0].ChunksSent != total || sums[0].OpenIntents != 0 {
		t.Fatalf("ledger summary %+v; want all %d chunks at the site confirmed", sums, total)
	}
}
