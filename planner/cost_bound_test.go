package planner

import (
	"testing"

	"meridian.dev/meridian/catalog"
)

// Pricing a dataset's move looks its countries' link up once per plan: it
// formatted the link's assumption again for every (site, dataset), 512,000
// times (0.25 GB) for a job of 256 datasets against 2,000 sites.
func TestDataMoveAcrossABorderAllocatesNothingOnceKnown(t *testing.T) {
	w := testWorld(t, testOrg, site("a", "MY", 100, 0.05, pool("test-fast", 64, 64, 2)),
		dataset("d", "", 1e12), job("  datasets: [d]"))
	p, err := newPlanner(w, w.Jobs[0], Options{AsOf: catalog.MustDate("2026-01-01"), Rules: &tableLaw{}, Estimator: &sixND{mfu: 0.5}})
	if err != nil {
		t.Fatal(err)
	}
	d, dst := w.Datasets["d"], w.Site("a")
	first, ok := p.moveOne(d, dst)
	if !ok || first.Gbps <= 0 || first.Gbps >= 100 {
		t.Fatalf("move CN → MY at %g Gbit/s (ok %v), want the cross-border link's, under the site's 100", first.Gbps, ok)
	}
	if allocs := testing.AllocsPerRun(100, func() {
		if m, _ := p.moveOne(d, dst); m != first {
			t.Fatalf("move %+v, then %+v", first, m)
		}
	}); allocs != 0 {
		t.Errorf("%g allocations per move once the link is known, want 0", allocs)
	}
}
