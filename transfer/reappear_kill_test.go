package transfer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
)

// killOnAbandon is showOnAbandon whose process is killed right after the
// abandonment is recorded (and the site shows the hidden chunk again):
// nothing more reaches the ledger, and the copy's context is cancelled.
type killOnAbandon struct {
	showOnAbandon
	cancel context.CancelFunc
	dead   atomic.Bool
}

func (l *killOnAbandon) Append(ctx context.Context, tenant, kind, runID string, payload any) error {
	if l.dead.Load() {
		return errors.New("the process was killed")
	}
	err := l.showOnAbandon.Append(ctx, tenant, kind, runID, payload)
	if err == nil && kind == KindAbandoned {
		l.dead.Store(true)
		l.cancel()
	}
	return err
}

// TestAttackSiteHidesChunkThenCopyKilled: a site hides a chunk that crossed
// from the reconcile, which records it abandoned, and shows it again; the
// copy is killed before it looks for what the site lacks. The abandonment
// was remembered only in the killed copy's memory: the next copy (or
// reconcile) found the chunk there and skipped it, bytes at the site that
// no confirmation counts. The ledger remembers it, and the next look that
// finds it there, intact, confirms it, once.
func TestAttackSiteHidesChunkThenCopyKilled(t *testing.T) {
	for _, next := range []string{"stage", "reconcile"} {
		t.Run(next, func(t *testing.T) {
			f := newFixture(t, 4, 200<<10, "")
			total := len(f.manifest.UniqueChunks())
			ctx, cancel := context.WithCancel(context.Background())
			s := f.stager()
			s.Workers = 1
			killAfter(s, 1, cancel)
			if _, err := s.Stage(ctx, f.request()); err == nil {
				t.Fatal("interrupted Stage returned no error")
			}
			site, err := dataset.OpenStore(context.Background(), f.site.Spec.Store)
			if err != nil {
				t.Fatal(err)
			}
			defer site.Close()
			ids, err := dataset.ListChunks(context.Background(), site, "chat-logs")
			if err != nil || len(ids) != 1 {
				t.Fatalf("chunks at the site after the cut: %v, %v; want 1", ids, err)
			}
			var p string
			for id := range ids {
				p = filepath.Join(f.siteDir, filepath.FromSlash(dataset.ChunkKey("chat-logs", id)))
			}
			aside := filepath.Join(t.TempDir(), "hidden")
			if err := os.Rename(p, aside); err != nil {
				t.Fatal(err)
			}
			ctx, cancel = context.WithCancel(context.Background())
			defer cancel()
			s = f.stager()
			s.Ledger = &killOnAbandon{showOnAbandon: showOnAbandon{FileLedger: f.ledger, hidden: map[string]string{aside: p}}, cancel: cancel}
			if _, err := s.Stage(ctx, f.request()); err == nil {
				t.Fatal("the copy killed after its abandonment returned no error")
			}
			if _, err := os.Stat(p); err != nil {
				t.Fatalf("the site does not show the chunk again: %v", err)
			}
			// A restarted server: a new ledger over the same records.
			led := &FileLedger{Path: f.ledger.Path}
			s = f.stager()
			s.Ledger = led
			if next == "reconcile" {
				key, _ := f.keys.Get("chat-logs")
				sealer, _ := seal.New(key, "chat-logs")
				n, err := s.Reconcile(context.Background(), CopyRequest{Name: "chat-logs", Sealer: sealer, Dst: site, Entry: Entry{Kind: KindDataset, Site: f.site.Metadata.Name}})
				if err != nil || n != 1 {
					t.Fatalf("reconcile found %d intact (%v); want the chunk shown again", n, err)
				}
				sums, err := Summarize(context.Background(), led, "")
				if err != nil || len(sums) != 1 || sums[0].ChunksSent != 1 {
					t.Fatalf("after the reconcile the ledger says %+v (%v); want the one chunk at the site confirmed", sums, err)
				}
			}
			res, err := s.Stage(context.Background(), f.request())
			if err != nil {
				t.Fatal(err)
			}
			if res.ChunksSent+res.Skipped != total {
				t.Fatalf("sent %d, skipped %d of %d", res.ChunksSent, res.Skipped, total)
			}
			sums, err := Summarize(context.Background(), led, "")
			if err != nil {
				t.Fatal(err)
			}
			// Exactly the chunks at the site: the one that reappeared is
			// confirmed once, not again by a later look.
			if len(sums) != 1 || sums[0].ChunksSent != total || sums[0].OpenIntents != 0 {
				t.Fatalf("ledger summary %+v; want all %d chunks at the site confirmed once", sums, total)
			}
			if _, err := s.Reconcile(context.Background(), CopyRequest{Name: "chat-logs", Dst: site, Entry: Entry{Kind: KindDataset, Site: f.site.Metadata.Name}}); err != nil {
				t.Fatal(err)
			}
			again, err := Summarize(context.Background(), led, "")
			if err != nil || again[0].ChunksSent != total {
				t.Fatalf("a reconcile after confirmed the chunk again: %+v (%v)", again, err)
			}
		})
	}
}
