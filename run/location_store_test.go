package run

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// TestDatasetLocationFromSiteStore: the state directory's home store is the
// store of a catalog site in Singapore (home-sg). A tenant registered a
// dataset there with location bravo (Malaysia) and staged it to bravo: the
// law saw no move out of Singapore, and the data left anyway. Registering
// such a dataset is refused naming spec.location and spec.store; one
// registered before is never staged, and nothing reaches bravo. The same
// dataset with location home-sg, or none, registers and stages.
func TestDatasetLocationFromSiteStore(t *testing.T) {
	var kr dataset.Keyring
	e := newEnv(t, func(c *Config) {
		tk := dataset.TenantKeyrings{Root: c.StateDir}
		kr, _ = tk.For("t1")
		c.Stager = &transfer.Stager{Law: transfer.BasisLaw{}, Keys: tk, Ledger: transfer.AuditLedger{Store: c.Store.(*store.SQLite)}}
		home := "file://" + filepath.Join(c.StateDir, "store") + "/"
		set, err := catalog.Decode("home.yaml", []byte(`apiVersion: meridian.dev/v1alpha1
kind: Site
metadata: {name: home-sg}
spec:
  country: SG
  location: {lat: 1.35, lon: 103.82}
  operator: {name: test-dc, headquarters: SG}
  pools:
    - {accelerator: nvidia-h100-sxm, count: 16, available: 8, pricePerHour: 1.0, priceSource: "test value"}
  network: {egressPerGB: 0.05, gbps: 10}
  store: "`+home+`"
`))
		if err != nil {
			t.Fatal(err)
		}
		c.ExtraSites = set.Sites
	})
	ctx := context.Background()
	doc := strings.TrimPrefix(addDataset(t, e.dir, kr, testData{name: "corpus", origin: "SG", class: catalog.ClassPublic, stored: true}), "---\n")
	withLocation := func(loc string) string {
		return strings.Replace(doc, "  origin: SG\n", "  origin: SG\n  location: "+loc+"\n", 1)
	}
	named := func(err error) bool {
		return err != nil && strings.Contains(err.Error(), "spec.location") && strings.Contains(err.Error(), "spec.store")
	}
	if _, err := e.c.Apply(ctx, "t1", []Document{{Name: "ds.yaml", Content: withLocation("bravo")}}, false); !named(err) {
		t.Fatalf("apply with location bravo: %v, want a refusal naming spec.location and spec.store", err)
	}
	if rs, err := e.c.Resources(ctx, "t1"); err != nil || len(rs) != 0 {
		t.Fatalf("registered after the refusal: %v %v", rs, err)
	}

	// Registered before the check (written past Apply).
	d, err := catalog.Decode("ds.yaml", []byte(withLocation("bravo")))
	if err != nil {
		t.Fatal(err)
	}
	registerPastApply(t, e, d.Datasets[0])
	if _, err := e.c.StageDataset(ctx, "t1", "corpus", StageRequest{Site: "bravo"}); !named(err) {
		t.Errorf("staging the registered dataset: %v, want a refusal naming spec.location and spec.store", err)
	}
	bravo := filepath.Join(e.c.SiteRoot(&catalog.Site{Metadata: catalog.Metadata{Name: "bravo"}}), "store")
	if err := filepath.WalkDir(bravo, func(p string, de fs.DirEntry, err error) error {
		if err == nil && !de.IsDir() {
			t.Errorf("%s reached bravo", p)
		}
		return nil
	}); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}

	for _, loc := range []string{"home-sg", ""} {
		body := doc
		if loc != "" {
			body = withLocation(loc)
		}
		if _, err := e.c.Apply(ctx, "t1", []Document{{Name: "ds.yaml", Content: body}}, true); err != nil {
			t.Fatalf("apply with location %q: %v", loc, err)
		}
		got, err := e.c.StageDataset(ctx, "t1", "corpus", StageRequest{Site: "bravo"})
		if err != nil {
			t.Fatalf("staging with location %q: %v", loc, err)
		}
		if got.Entry == nil || got.Entry.From != "SG" || got.Entry.To != "MY" {
			t.Fatalf("staging with location %q: %+v", loc, got)
		}
	}
	if _, err := os.Stat(bravo); err != nil {
		t.Fatalf("nothing reached bravo: %v", err)
	}
}
