package planner

import (
	"cmp"
	"runtime"
	"slices"
	"strings"
	"sync"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
)

// Point is one feasible placement reduced to what a plot needs.
type Point struct {
	Site        string
	Accelerator string
	Count       int
	CostUSD     float64
	Hours       float64
	Pareto      bool
}

// rank is the fourth stage: it orders feasible options by the job's
// objective ("cost" or "time"), the other measure breaking ties, then
// site, accelerator, pool and count for determinism, and marks the Pareto
// front of cost against time.
func rank(opts []option, objective string) {
	sortRanked(opts, objective)
	markPareto(opts)
}

// sortRanked orders options by the objective (see rank).
func sortRanked(opts []option, objective string) {
	slices.SortFunc(opts, func(a, b option) int { return compareOptions(&a, &b, objective) })
}

// bestPerPool marks the Pareto front over all options, then returns the
// best option of each pool by the objective, ranked: what choose needs
// when no plot wants every option ranked. Placements and counts are the
// same as from rank then choose. The front is marked on another goroutine
// while the pools' best options are found and sorted (by index, so that
// neither reads what the other writes).
func bestPerPool(opts []option, objective string) []option {
	done := make(chan struct{})
	go func() {
		markPareto(opts)
		close(done)
	}()
	var best []int32
	for i := range opts {
		o := &opts[i]
		if n := len(best); n > 0 && opts[best[n-1]].c == o.c {
			if better(o, &opts[best[n-1]], objective) {
				best[n-1] = int32(i)
			}
			continue
		}
		best = append(best, int32(i))
	}
	slices.SortFunc(best, func(a, b int32) int { return compareOptions(&opts[a], &opts[b], objective) })
	<-done
	out := make([]option, len(best))
	for i, k := range best {
		out[i] = opts[k]
	}
	return out
}

func better(a, b *option, objective string) bool { return compareOptions(a, b, objective) < 0 }

// compareOptions is -1 when a ranks before b, 1 when after and 0 when
// neither does (only when a cost or time is not a number).
func compareOptions(a, b *option, objective string) int {
	first, second := a.cost-b.cost, a.hours-b.hours
	if objective == "time" {
		first, second = second, first
	}
	switch {
	case first != 0:
		return sign(first)
	case second != 0:
		return sign(second)
	case a.c.site.Metadata.Name != b.c.site.Metadata.Name:
		return strings.Compare(a.c.site.Metadata.Name, b.c.site.Metadata.Name)
	case a.c.pool.Accelerator != b.c.pool.Accelerator:
		return strings.Compare(a.c.pool.Accelerator, b.c.pool.Accelerator)
	case a.c.index != b.c.index:
		return cmp.Compare(a.c.index, b.c.index)
	}
	return cmp.Compare(a.count, b.count)
}

// sign is -1 or 1 for a non-zero difference, and 0 for NaN (which is
// neither smaller nor greater).
func sign(d float64) int {
	switch {
	case d < 0:
		return -1
	case d > 0:
		return 1
	}
	return 0
}

// markPareto sets pareto on every option that no other beats on both cost
// and time (equal on both counts as not beaten).
func markPareto(opts []option) {
	// Sort compact (cost, hours, index) records: the index breaks ties as
	// a stable sort would.
	type point struct {
		cost, hours float64
		i           int32
	}
	pts := make([]point, len(opts))
	for i := range opts {
		pts[i] = point{opts[i].cost, opts[i].hours, int32(i)}
	}
	slices.SortFunc(pts, func(a, b point) int {
		if c := cmp.Compare(a.cost, b.cost); c != 0 {
			return c
		}
		if c := cmp.Compare(a.hours, b.hours); c != 0 {
			return c
		}
		return cmp.Compare(a.i, b.i)
	})
	bestHours, bestCost, any := 0.0, 0.0, false
	for _, p := range pts {
		o := &opts[p.i]
		switch {
		case !any || o.hours < bestHours:
			o.pareto = true
			bestHours, bestCost, any = o.hours, o.cost, true
		case o.hours == bestHours && o.cost == bestCost:
			o.pareto = true
		}
	}
}

// choose keeps, from the ranked options, the best count of each pool by
// the objective, as placements ranked from 1; a placement is marked Pareto
// when its option is on the front of all counts. Other counts stay in
// Plan.All for plots.
//
// ends[i] is placement i's hours (data moves included) at the quantile
// whose standard normal quantile is zEnd: when the run would end at the
// job's confidence, for its horizon.
func choose(ranked []option, zEnd float64) (placements []Placement, ends []float64) {
	seen := map[*candidate]bool{}
	keep := make([]int32, 0, 64)
	for i := range ranked {
		o := &ranked[i]
		if seen[o.c] {
			continue
		}
		seen[o.c] = true
		keep = append(keep, int32(i))
	}
	out := make([]Placement, len(keep))
	ends = make([]float64, len(keep))
	moves := make([][]DataMove, len(keep))
	shared := map[*catalog.Site][]sharedMoves{}
	for i, k := range keep {
		moves[i] = movesOnce(shared, ranked[k].c)
	}
	fill := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			o := &ranked[keep[i]]
			out[i] = o.placement(i+1, moves[i])
			ends[i], _ = o.at(zEnd)
		}
	}
	// Thousands of placements are built on every core: each is its own
	// pool's, so the halves share nothing.
	k := max(1, min(runtime.GOMAXPROCS(0), len(keep)/1024))
	var wg sync.WaitGroup
	for j := 1; j < k; j++ {
		wg.Go(func() { fill(j*len(keep)/k, (j+1)*len(keep)/k) })
	}
	fill(0, len(keep)/k)
	wg.Wait()
	return out, ends
}

// sharedMoves is one list of a site's data moves with their legal bases,
// and the law's transfers the bases came from.
type sharedMoves struct {
	transfers []policy.Transfer
	moves     []DataMove
}

// maxSharedMoves bounds the lists of moves kept per site for sharing: a
// site whose pools' transfers differ more ways than this gets a list per
// placement past them, as before.
const maxSharedMoves = 8

// movesOnce is c's data moves with their bases (movesWithBases, rounded),
// shared by the placements of c's site whose law decisions name the same
// transfers: a job of 256 datasets copied all its moves for every
// placement, 0.4 GB for the 8,000 placements of 2,000 sites of 4 pools,
// where the sites' moves took 0.16 GB. Placements only read their moves.
func movesOnce(shared map[*catalog.Site][]sharedMoves, c *candidate) []DataMove {
	kept := shared[c.site]
	for _, s := range kept {
		if slices.Equal(s.transfers, c.decision.Transfers) {
			return s.moves
		}
	}
	m := movesWithBases(c, true)
	if len(kept) < maxSharedMoves {
		shared[c.site] = append(kept, sharedMoves{c.decision.Transfers, m})
	}
	return m
}

// points is every ranked option for plots, when asked for.
func (ps *pass) points() []Point {
	if !ps.wantPoints {
		return nil
	}
	ranked := ps.feasible
	out := make([]Point, len(ranked))
	for i := range ranked {
		o := &ranked[i]
		out[i] = Point{Site: o.c.site.Metadata.Name, Accelerator: o.c.pool.Accelerator, Count: o.count, CostUSD: o.cost, Hours: o.hours, Pareto: o.pareto}
	}
	return out
}

func paretoCount(opts []option) int {
	n := 0
	for i := range opts {
		if opts[i].pareto {
			n++
		}
	}
	return n
}
