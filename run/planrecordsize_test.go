package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/store"
)

// hugePlanSites is how many one-pool sites make a plan whose placements
// alone (about 1 kB each) are over what an audit entry may hold
// (store.MaxAuditPayloadBytes), its rejections left out or not.
const hugePlanSites = 17500

// hugePlanController is a controller over a catalog of hugePlanSites
// runnable sites, each of which a tiny job may use.
func hugePlanController(t *testing.T) (*Controller, store.Store) {
	t.Helper()
	st, dir := testStore(t)
	cat := filepath.Join(dir, "sites")
	if err := os.MkdirAll(cat, 0o755); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := range hugePlanSites {
		fmt.Fprintf(&b, `---
apiVersion: meridian.dev/v1alpha1
kind: Site
metadata: {name: s%05d}
spec:
  country: SG
  location: {lat: 1.35, lon: 103.82}
  operator: {name: test-dc, headquarters: SG}
  pools:
    - {accelerator: nvidia-h100-sxm, count: 16, available: 8, pricePerHour: 1.0, priceSource: "test value"}
  network: {egressPerGB: 0.05, gbps: 10}
  backend: {type: local}
`, i)
	}
	if err := os.WriteFile(filepath.Join(cat, "sites.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	c := New(Config{Store: st, StateDir: dir, CatalogDir: cat,
		Plan: func(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
			return planner.Make(w, job, planner.Options{AsOf: asOf, ExcludeSites: exclude})
		},
		Backends: func(site *catalog.Site, root string) (backend.Backend, error) {
			return backend.For(site.Spec.Backend, root)
		}})
	return c, st
}

// TestSubmitPlanTooLargeForRecord: a job whose plan is over what a plan
// record may hold even without its rejections (thousands of lawful
// placements) is refused as the request's to mend, naming the job's
// constraints, the placements and the size against the bound, before
// anything is written: no run, no audit entry. The plan was recorded
// without its rejections and the store then refused the audit append, an
// internal error that named no field.
func TestSubmitPlanTooLargeForRecord(t *testing.T) {
	c, st := hugePlanController(t)
	ctx := context.Background()
	seq, _, err := st.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(10, 5)}})
	var ie *InputError
	if !errors.As(err, &ie) {
		t.Fatalf("submit of a job with %d lawful placements: run %v, error %v; want an InputError", hugePlanSites, r, err)
	}
	msg := err.Error()
	t.Logf("refused: %s", msg)
	for _, want := range []string{"spec.constraints", fmt.Sprint(hugePlanSites, " placements"), fmt.Sprint(maxPlanRecordBytes)} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	runs, err := st.ListRuns(ctx, store.ListOptions{AllTenants: true})
	if err != nil {
		t.Fatal(err)
	}
	after, _, err := st.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 0 || after != seq {
		t.Errorf("after the refusal: %d runs, audit head %d (was %d); want nothing written", len(runs), after, seq)
	}
}
