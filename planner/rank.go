package planner

import (
	"sort"
)

// rank is the fourth stage: it orders feasible placements by the job's
// objective ("cost" or "time"), the other measure breaking ties, then
// site, accelerator and count for determinism, and marks the Pareto front
// of cost against time. It returns a new slice with ranks from 1.
func rank(feasible []Placement, objective string) []Placement {
	all := append([]Placement(nil), feasible...)
	sort.Slice(all, func(i, j int) bool { return better(&all[i], &all[j], objective) })
	markPareto(all)
	for i := range all {
		all[i].Rank = i + 1
	}
	return all
}

func better(a, b *Placement, objective string) bool {
	first, second := a.CostUSD-b.CostUSD, a.Hours-b.Hours
	if objective == "time" {
		first, second = second, first
	}
	switch {
	case first != 0:
		return first < 0
	case second != 0:
		return second < 0
	case a.Site != b.Site:
		return a.Site < b.Site
	case a.Accelerator != b.Accelerator:
		return a.Accelerator < b.Accelerator
	case a.Pool != b.Pool:
		return a.Pool < b.Pool
	}
	return a.Count < b.Count
}

// markPareto sets Pareto on every placement that no other beats on both
// cost and time (equal on both counts as not beaten).
func markPareto(all []Placement) {
	idx := make([]int, len(all))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool {
		a, b := &all[idx[i]], &all[idx[j]]
		if a.CostUSD != b.CostUSD {
			return a.CostUSD < b.CostUSD
		}
		return a.Hours < b.Hours
	})
	bestHours, bestCost, any := 0.0, 0.0, false
	for _, i := range idx {
		p := &all[i]
		switch {
		case !any || p.Hours < bestHours:
			p.Pareto = true
			bestHours, bestCost, any = p.Hours, p.CostUSD, true
		case p.Hours == bestHours && p.CostUSD == bestCost:
			p.Pareto = true
		}
	}
}

// choose keeps, from the ranked feasible placements, the best count of
// each pool and every placement on the Pareto front, renumbering ranks.
func choose(all []Placement) []Placement {
	type poolKey struct {
		site string
		pool int
	}
	seen := map[poolKey]bool{}
	out := []Placement{}
	for _, p := range all {
		k := poolKey{p.Site, p.Pool}
		if seen[k] && !p.Pareto {
			continue
		}
		seen[k] = true
		p.Rank = len(out) + 1
		out = append(out, p)
	}
	return out
}
