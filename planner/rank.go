package planner

import (
	"cmp"
	"slices"
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
	slices.SortFunc(opts, func(a, b option) int {
		if better(&a, &b, objective) {
			return -1
		}
		if better(&b, &a, objective) {
			return 1
		}
		return 0
	})
	markPareto(opts)
}

func better(a, b *option, objective string) bool {
	first, second := a.cost-b.cost, a.hours-b.hours
	if objective == "time" {
		first, second = second, first
	}
	switch {
	case first != 0:
		return first < 0
	case second != 0:
		return second < 0
	case a.c.site.Metadata.Name != b.c.site.Metadata.Name:
		return a.c.site.Metadata.Name < b.c.site.Metadata.Name
	case a.c.pool.Accelerator != b.c.pool.Accelerator:
		return a.c.pool.Accelerator < b.c.pool.Accelerator
	case a.c.index != b.c.index:
		return a.c.index < b.c.index
	}
	return a.count < b.count
}

// markPareto sets pareto on every option that no other beats on both cost
// and time (equal on both counts as not beaten).
func markPareto(opts []option) {
	idx := make([]int32, len(opts))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortStableFunc(idx, func(i, j int32) int {
		a, b := &opts[i], &opts[j]
		if c := cmp.Compare(a.cost, b.cost); c != 0 {
			return c
		}
		return cmp.Compare(a.hours, b.hours)
	})
	bestHours, bestCost, any := 0.0, 0.0, false
	for _, i := range idx {
		o := &opts[i]
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
func choose(ranked []option) []Placement {
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
	for i, k := range keep {
		out[i] = ranked[k].placement(i + 1)
	}
	return out
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
