package transfer

import (
	"context"
	"os"
	"slices"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/seal"
)

// TestAttackSiteHidesWhatItReceivedAfterAKill: a staging killed after a
// chunk of a 1,000-person dataset reached the site leaves its intent
// open. A site colluding with the tenant hides everything it received,
// and the reconcile records the intent as abandoned: the volume
// thresholds then read no export at all, though the chunk crossed. An
// abandonment no longer lowers the totals: the dataset still counts, in
// LedgerExports over the file and over the ledger, and in an ExportIndex.
func TestAttackSiteHidesWhatItReceivedAfterAKill(t *testing.T) {
	f := newFixture(t, 4, 200<<10, "")
	req := f.request()
	req.Query.Org = &catalog.Organization{Metadata: catalog.Metadata{Name: "lab"}, Spec: catalog.OrganizationSpec{Headquarters: "CN"}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := f.stager()
	s.Workers = 1
	killAfter(s, 1, cancel)
	if _, err := s.Stage(ctx, req); err == nil {
		t.Fatal("the killed staging returned no error")
	}
	if n := chunksAtSite(t, f); n == 0 {
		t.Fatal("no chunk reached the site before the kill")
	}
	// The site hides everything it received: its folder moved away.
	if err := os.Rename(f.siteDir, t.TempDir()+"/hidden"); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(f.siteDir, 0o755); err != nil {
		t.Fatal(err)
	}
	bg := context.Background()
	site, err := dataset.OpenStore(bg, f.site.Spec.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer site.Close()
	key, _ := f.keys.Get("chat-logs")
	sealer, _ := seal.New(key, "chat-logs")
	if n, err := f.stager().Reconcile(bg, CopyRequest{Name: "chat-logs", Sealer: sealer, Dst: site, Entry: Entry{Kind: KindDataset, Site: f.site.Metadata.Name}}); err != nil || n != 0 {
		t.Fatalf("reconcile found %d objects, %v; want none", n, err)
	}
	if open, err := OpenIntents(bg, f.ledger, "", KindDataset, "chat-logs", f.site.Metadata.Name); err != nil || len(open) != 0 {
		t.Fatalf("%d intents open, %v; want every one abandoned", len(open), err)
	}
	if _, ents, err := ReadFileLedger(f.ledger.Path, "chat-logs"); err != nil || len(ents) != 0 {
		t.Fatalf("confirmations %+v, %v; want none (the site showed nothing)", ents, err)
	}
	abandoned, err := f.ledger.Records(bg, "", KindAbandoned)
	if err != nil || len(abandoned) == 0 {
		t.Fatalf("abandonments %d, %v; want the reconcile's", len(abandoned), err)
	}

	want := []policy.Export{{Org: "lab", Dataset: "chat-logs", Class: "personal", Subjects: 1000, Registration: f.staged()}}
	year := [2]catalog.Date{catalog.MustDate("2026-01-01"), catalog.MustDate("2026-12-31")}
	index := NewExportIndex(func(ctx context.Context, after int64) ([]Record, error) {
		all, err := readFileLedger(f.ledger.Path)
		var out []Record
		for _, r := range all {
			if r.Seq > after {
				out = append(out, r)
			}
		}
		return out, err
	})
	for name, ex := range map[string]policy.Exports{"file": FileLedgerExports(f.ledger.Path), "ledger": ExportsOf(f.ledger), "index": index} {
		got, err := ex.Exported(bg, "", []string{"lab"}, "CN", year[0], year[1])
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: exports after the site hid what it received %+v; want %+v", name, got, want)
		}
	}
}
