package run

import (
	"context"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/local"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/internal/testplan"
	"meridian.dev/meridian/transfer"
)

// TestStoredJobNamingADatasetTwice: a run accepted before the catalog
// refused a job that names a dataset twice is still read, with the dataset
// named once; the refusal had failed such runs at their next step after an
// upgrade, for a job they were let in with.
func TestStoredJobNamingADatasetTwice(t *testing.T) {
	st, dir := testStore(t)
	tk := dataset.TenantKeyrings{Root: dir}
	keys, _ := tk.For("t1")
	cfg := Config{Store: st, StateDir: dir, CatalogDir: "testdata/sites", Plan: testplan.Cheapest,
		Backends: func(site *catalog.Site, root string) (backend.Backend, error) {
			return backend.For(site.Spec.Backend, root)
		},
		Stager: &transfer.Stager{Law: transfer.BasisLaw{}, Keys: tk, Ledger: transfer.AuditLedger{Store: st}}}
	c := New(cfg)
	res := addDataset(t, dir, keys, testData{name: "corpus-c", origin: "SG", class: catalog.ClassPublic, stored: true})
	r, _, err := c.Submit(context.Background(), "t1", SubmitRequest{Documents: []Document{dataJobDoc(10, 5, []string{"corpus-c"}, false, res)}})
	if err != nil {
		t.Fatal(err)
	}
	old := *r
	old.ID = "run-from-before"
	old.Documents = append([]Document(nil), r.Documents...)
	for i, d := range old.Documents {
		if strings.Contains(d.Content, "datasets: [corpus-c]") {
			old.Documents[i].Content = strings.Replace(d.Content, "datasets: [corpus-c]", "datasets: [corpus-c, corpus-c]", 1)
		}
	}
	w, err := c.world(&old)
	if err != nil {
		t.Fatalf("the stored run's world: %v", err)
	}
	if got := w.Job(old.Job).Spec.Datasets; len(got) != 1 || got[0] != "corpus-c" {
		t.Errorf("the stored job's datasets read as %v, want [corpus-c]", got)
	}
}

// TestLocalTreeWaitWithinCleanTimeout: the local backend's wait for what a
// job left (TreeWait) ends within the time the controller gives Clean and
// Cancel; waiting 15 s under a 10 s bound, a Clean that found processes
// still running ran out of its caller's time instead of saying so.
func TestLocalTreeWaitWithinCleanTimeout(t *testing.T) {
	l, err := local.New(catalog.BackendSpec{Type: catalog.BackendLocal}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if l.TreeWait >= cleanTimeout {
		t.Errorf("local TreeWait %s, not within the controller's %s for Clean and Cancel", l.TreeWait, cleanTimeout)
	}
}
