package planner

import (
	"fmt"
	"strings"
	"testing"
	"time"

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

// The placements of one site whose law names the same transfers share one
// list of data moves: each placement copied every move, so a job of 256
// datasets held 256 moves per pool placed (0.4 GB for 8,000 pools), not
// per site.
func TestPlacementsOfASiteShareTheirDataMoves(t *testing.T) {
	law := &tableLaw{bases: map[string]string{}}
	docs := []string{testOrg, site("a", "MY", 100, 0.05,
		pool("test-fast", 64, 64, 2), pool("test-fast", 64, 64, 3), pool("test-slow", 64, 64, 1), pool("test-slow", 64, 64, 1.5))}
	var names []string
	for _, n := range []string{"d1", "d2", "d3"} {
		docs = append(docs, dataset(n, "", 1e12))
		names = append(names, n)
		law.bases[n] = "basis-of-" + n
	}
	docs = append(docs, job("  datasets: ["+strings.Join(names, ", ")+"]"))
	w := testWorld(t, docs...)
	p := mustMake(t, w, law, &sixND{mfu: 0.5}, Options{})
	if len(p.Placements) != 4 {
		t.Fatalf("%d placements, want one per pool: %+v", len(p.Placements), p.Placements)
	}
	first := p.Placements[0].DataMoves
	for _, pl := range p.Placements {
		if len(pl.DataMoves) != 3 {
			t.Fatalf("pool %d: %d moves, want 3", pl.Pool, len(pl.DataMoves))
		}
		for _, m := range pl.DataMoves {
			if m.Basis != "basis-of-"+m.Dataset {
				t.Errorf("pool %d: move of %s under basis %q", pl.Pool, m.Dataset, m.Basis)
			}
		}
		if &pl.DataMoves[0] != &first[0] {
			t.Errorf("pool %d holds its own copy of the site's moves", pl.Pool)
		}
	}
}

// A rejection cites the line of the pool's field in the site's file, and
// that line was found by parsing the site's document again for each pool:
// a site of 8,000 pools, all full (or all over a job's budget), took
// 2 minutes to plan, 1,000 pools 2 s. A site's pools' lines are now found
// in one parse.
func TestSiteOfManyPoolsCitedInOneParse(t *testing.T) {
	const n = 4000
	pools := make([]string, n)
	for i := range pools {
		pools[i] = pool("test-fast", 64, 0, 2)
	}
	w := testWorld(t, testOrg, site("a", "MY", 100, 0.05, pools...), job())
	start := time.Now()
	p := mustMake(t, w, &tableLaw{}, &sixND{mfu: 0.5}, Options{})
	took := time.Since(start)
	if len(p.Rejected) != 1 || len(p.Rejected[0].Reasons) != n {
		t.Fatalf("rejected %d groups, want one of %d reasons", len(p.Rejected), n)
	}
	last := p.Rejected[0].Reasons[n-1].Source
	field := fmt.Sprintf("spec.pools[%d].available", n-1)
	if want := w.Site("a").Pos.At(field) + " Site/a " + field; last != want {
		t.Errorf("last reason cites %q, want %q", last, want)
	}
	if took > 5*time.Second {
		t.Errorf("a site of %d full pools took %v to plan", n, took)
	}
}
