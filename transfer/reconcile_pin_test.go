package transfer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
)

// failComplete is a ledger that cannot record a copy's completing
// record: a server killed after the manifest arrived and before it wrote
// that the copy was complete.
type failComplete struct{ *FileLedger }

func (l failComplete) Append(ctx context.Context, tenant, kind, runID string, payload any) error {
	if e, ok := payload.(Entry); ok && e.Complete {
		return errAuditDown
	}
	return l.FileLedger.Append(ctx, tenant, kind, runID, payload)
}

// TestReconciledManifestIsTheVersionAtTheSite: version 2 of a dataset
// reaches the site whole, but the copy ends before its completing record.
// Reconciling the open intent (as `dataset ledger` or a withdrawal does,
// without the key, or a copy with it) confirms the manifest that arrived,
// and the ledger now says version 2 is what should be at the site. It
// said version 1, so `dataset verify` took the genuine copy there for a
// manifest put back by the host.
func TestReconciledManifestIsTheVersionAtTheSite(t *testing.T) {
	for _, withKey := range []bool{false, true} {
		name := "without-key"
		if withKey {
			name = "with-key"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, 3, 100<<10, "")
			if _, err := f.stager().Stage(ctx, f.request()); err != nil {
				t.Fatal(err)
			}
			writeRandom(t, filepath.Join(f.src, "shard-001"), 100<<10, 77)
			f.add(t)
			v2 := hexSHA256(homeManifest(t, f))
			s := f.stager()
			s.Ledger = failComplete{f.ledger}
			if _, err := s.Stage(ctx, f.request()); !errors.Is(err, ErrLedger) {
				t.Fatalf("staging version 2 without its completing record: %v", err)
			}
			raw, err := os.ReadFile(filepath.Join(f.siteDir, filepath.FromSlash(dataset.ManifestKey("chat-logs"))))
			if err != nil || hexSHA256(raw) != v2 {
				t.Fatalf("version 2's manifest is not at the site (%v)", err)
			}
			site, err := dataset.OpenStore(ctx, f.site.Spec.Store)
			if err != nil {
				t.Fatal(err)
			}
			defer site.Close()
			cr := CopyRequest{Name: "chat-logs", Dst: site, Entry: Entry{Kind: KindDataset, Dataset: "chat-logs", Site: f.site.Metadata.Name}}
			if withKey {
				key, _ := f.keys.Get("chat-logs")
				cr.Sealer, _ = seal.New(key, "chat-logs")
			}
			if _, err := f.stager().Reconcile(ctx, cr); err != nil {
				t.Fatal(err)
			}
			sums, err := Summarize(ctx, f.ledger, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(sums) != 1 || sums[0].OpenIntents != 0 || sums[0].ManifestSHA256 != v2 {
				t.Fatalf("summary %+v; want version 2's manifest %s and nothing open", sums, v2)
			}
		})
	}
}
