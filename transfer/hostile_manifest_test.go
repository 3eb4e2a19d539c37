package transfer

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"meridian.dev/meridian/dataset"
)

// A site's host swaps the staged manifest for a 1 GiB file (sparse: it
// costs the host nothing) and leaves an intent naming the manifest open.
// Restaging compares the site's manifest with the genuine one, and
// reconciling checks that intent's manifest: neither may cost the stager
// memory in proportion to what the host claims, since the genuine size is
// known.
func TestRestageHostileSiteManifestBounded(t *testing.T) {
	f := newFixture(t, 2, 200<<10, "")
	ctx := context.Background()
	if _, err := f.stager().Stage(ctx, f.request()); err != nil {
		t.Fatal(err)
	}
	genuine := manifestBytes(t, f)
	in := Intent{ID: "open-intent", Entry: Entry{Kind: KindDataset, Dataset: "chat-logs", Site: "my-johor-1"},
		Objects: []Object{{Key: dataset.ManifestKey("chat-logs"), Bytes: genuine}}}
	if err := f.ledger.Append(ctx, "", KindIntent, "run-1", in); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(f.siteDir, filepath.FromSlash(dataset.ManifestKey("chat-logs")))
	if err := os.Truncate(p, 1<<30); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r, err := f.stager().Stage(ctx, f.request())
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 64<<20 {
		t.Errorf("restaging allocated %d MiB because the site's manifest claims 1 GiB", got>>20)
	}
	if r.Reconciled != 0 || r.BytesSent != genuine {
		t.Errorf("reconciled %d objects and sent %d bytes; want the forged manifest not found intact and the genuine one (%d bytes) sent again", r.Reconciled, r.BytesSent, genuine)
	}
	if rep := f.verifyAtSite(t); !rep.Good() {
		t.Errorf("verify at site after restaging: %+v", rep)
	}
}
