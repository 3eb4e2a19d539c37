package catalog

import (
	"fmt"
	"strings"
	"testing"
)

// TestAssembleLocatesEachDatasetOnce: assembling a catalog worked out
// where each dataset is twice, once to validate its spec.location and
// once more to give the world its located copy, each time matching its
// store against every site's. It is worked out once per dataset, and the
// world's copy is where the validation found it.
func TestAssembleLocatesEachDatasetOnce(t *testing.T) {
	const n = 20
	base := mustRead(t)
	doc := strings.Replace(base, "  network: {egressPerGB: 0.1, gbps: 10}\n",
		"  network: {egressPerGB: 0.1, gbps: 10}\n  store: s3://lab-data?prefix=sites/s1/\n", 1)
	if doc == base {
		t.Fatal("valid.yaml changed")
	}
	for i := range n {
		doc += fmt.Sprintf("---\napiVersion: meridian.dev/v1alpha1\nkind: Dataset\nmetadata: {name: d%d}\nspec:\n  origin: CN\n  sizeBytes: 1e9\n  classification: public\n  store: s3://lab-data?prefix=sites/s1/d%d\n", i, i)
	}
	doc += "---\napiVersion: meridian.dev/v1alpha1\nkind: Dataset\nmetadata: {name: elsewhere}\nspec:\n  origin: CN\n  sizeBytes: 1e9\n  classification: public\n  store: s3://other-bucket/x\n  location: s-1\n"
	calls := map[string]int{}
	old := datasetLocation
	datasetLocation = func(d *Dataset, sites []*Site) (string, error) {
		calls[d.Metadata.Name]++
		return old(d, sites)
	}
	t.Cleanup(func() { datasetLocation = old })
	w, err := loadDoc(t, doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != len(w.Datasets) {
		t.Errorf("located %d datasets of %d", len(calls), len(w.Datasets))
	}
	for name, c := range calls {
		if c != 1 {
			t.Errorf("dataset %s located %d times, want once", name, c)
		}
	}
	for i := range n {
		if got := w.Datasets[fmt.Sprint("d", i)].Spec.Location; got != "s-1" {
			t.Errorf("d%d: location %q, want s-1, the site whose store holds it", i, got)
		}
	}
	if got := w.Datasets["elsewhere"].Spec.Location; got != "s-1" {
		t.Errorf("a dataset in no site's store: location %q, want the declared s-1", got)
	}
	if got := w.Datasets["data"].Spec.Location; got != "" {
		t.Errorf("a dataset with no store or location: location %q", got)
	}
}
