package planner

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
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

// Each count of each pool over a job's budget is a reason of its own, and
// a group (site × accelerator × kind) was scanned whole for each reason it
// took: a site of 2,000 pools over a budget of $1 (40,000 reasons) took
// 20 s to plan. A large group's reasons are now found in a set.
func TestManyReasonsOfAGroupFoundWithoutAScan(t *testing.T) {
	const n = 2000
	pools := make([]string, n)
	for i := range pools {
		pools[i] = pool("test-fast", 1<<20, 1<<20, 2+float64(i)/1000)
	}
	w := testWorld(t, testOrg, site("a", "MY", 100, 0.05, pools...), job("  budgetUSD: 1"))
	start := time.Now()
	p := mustMake(t, w, &tableLaw{}, &sixND{mfu: 0.5}, Options{})
	took := time.Since(start)
	if len(p.Rejected) != 1 || p.Rejected[0].Kind != KindBudget {
		t.Fatalf("rejected %+v, want one budget group", p.Rejected)
	}
	g := p.Rejected[0]
	seen := map[findingKey]bool{}
	for _, f := range g.Reasons {
		if seen[keyOf(f)] {
			t.Fatalf("reason given twice: %+v", f)
		}
		seen[keyOf(f)] = true
	}
	if len(g.Reasons) != g.Candidates || g.Candidates < 10*n {
		t.Errorf("%d reasons of %d candidates, want one each, at least %d", len(g.Reasons), g.Candidates, 10*n)
	}
	if took > 5*time.Second {
		t.Errorf("a site of %d pools over the budget took %v to plan", n, took)
	}
}

// A group's set finds the repeats its scan found: a reason given again,
// past smallGroup, is kept once.
func TestGroupSetKeepsReasonsOnce(t *testing.T) {
	w := testWorld(t, testOrg, site("a", "MY", 100, 0.05, pool("test-fast", 64, 64, 2)), job())
	c := &candidate{site: w.Site("a"), pool: &w.Site("a").Spec.Pools[0]}
	r := newRejections()
	var all []policy.Finding
	for i := range 3 * smallGroup {
		all = append(all, policy.Finding{Rule: "r", Message: fmt.Sprint("m", i), Source: "s"})
	}
	for i := range all {
		r.add(c, KindBudget, 1, all[i:i+1])
		r.add(c, KindBudget, 1, all[:i+1]) // every earlier one again
	}
	g := r.groups[groupKey{"a", "test-fast", KindBudget}]
	if len(g.Reasons) != len(all) {
		t.Fatalf("%d reasons, want %d", len(g.Reasons), len(all))
	}
	for i, f := range g.Reasons {
		if f != all[i] {
			t.Fatalf("reason %d is %+v, want %+v", i, f, all[i])
		}
	}
}
