package planner

import (
	"sort"
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
	sort.Slice(opts, func(i, j int) bool { return better(&opts[i], &opts[j], objective) })
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
	idx := make([]int, len(opts))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool {
		a, b := &opts[idx[i]], &opts[idx[j]]
		if a.cost != b.cost {
			return a.cost < b.cost
		}
		return a.hours < b.hours
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

// choose keeps, from the ranked options, the best count of each pool and
// every option on the Pareto front, as placements ranked from 1.
func choose(ranked []option) []Placement {
	seen := map[*candidate]bool{}
	out := []Placement{}
	for i := range ranked {
		o := &ranked[i]
		if seen[o.c] && !o.pareto {
			continue
		}
		seen[o.c] = true
		out = append(out, o.placement(len(out)+1))
	}
	return out
}

// points is every ranked option for plots.
func points(ranked []option) []Point {
	out := make([]Point, len(ranked))
	for i := range ranked {
		o := &ranked[i]
		out[i] = Point{Site: o.c.site.Metadata.Name, Accelerator: o.c.pool.Accelerator, Count: o.count, CostUSD: o.cost, Hours: o.hours, Pareto: o.pareto}
	}
	return out
}
