// Package catalogtest helps the tests of the bound on a plan record: it
// writes a catalog of many one-pool sites, each of which a tiny job may
// use, and gives the real planner and backends a run controller's
// config takes, so that the run, API and CLI tests build the same one.
package catalogtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
)

// HugePlanSites is how many one-pool sites make a plan whose placements
// alone (about 1 kB each) are over what an audit entry may hold
// (store.MaxAuditPayloadBytes), its rejections left out or not.
const HugePlanSites = 17500

// WriteSites writes a catalog of n runnable one-pool sites, s00000 on,
// to dir/sites/sites.yaml and returns the catalog's directory, dir/sites.
func WriteSites(t testing.TB, dir string, n int) string {
	t.Helper()
	cat := filepath.Join(dir, "sites")
	if err := os.MkdirAll(cat, 0o755); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := range n {
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
	return cat
}

// Plan is the real planner, as a run controller's config takes it.
func Plan(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
	return planner.Make(w, job, planner.Options{AsOf: asOf, ExcludeSites: exclude})
}

// Backends gives each site the backend its spec names, as a run
// controller's config takes it.
func Backends(site *catalog.Site, root string) (backend.Backend, error) {
	return backend.For(site.Spec.Backend, root)
}
