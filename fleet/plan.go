package fleet

import (
	"fmt"
	"math"
	"sort"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
)

// Result is `meridian plan --fleet`'s answer (SCHEMA.md): which job goes
// where, which wait and why, the total cost, and how far from optimal the
// assignment may be.
type Result struct {
	Assignments  []Assignment `json:"assignments"`
	Waiting      []Waiting    `json:"waiting"`
	TotalCostUSD float64      `json:"totalCostUSD"`
	// OptimalityGap bounds (objective − lower bound) / lower bound, where
	// a waiting job counts a penalty above any placement's cost: 0 when
	// the assignment is proven optimal.
	OptimalityGap float64 `json:"optimalityGap"`
	// SolveSeconds is the assignment's time, planning excluded.
	SolveSeconds float64 `json:"solveSeconds"`
}

// Assignment is one job's place.
type Assignment struct {
	Job         string  `json:"job"`
	Site        string  `json:"site"`
	Accelerator string  `json:"accelerator"`
	Count       int     `json:"count"`
	CostUSD     float64 `json:"costUSD"`
	Pool        int     `json:"pool"`
}

// Waiting is a job left without a place, with why.
type Waiting struct {
	Job    string `json:"job"`
	Reason string `json:"reason"`
}

// PlanFleet assigns the planned jobs (plans[i] is the plan of the i-th
// job, every placement in it: lawful, within deadline and budget) to the
// pools of w, no pool given more than its available count.
func PlanFleet(w *catalog.World, plans []*planner.Plan) (*Result, error) {
	type pk struct {
		site string
		pool int
	}
	res := map[pk]int{}
	p := &Problem{}
	var refs []planner.Placement
	for _, plan := range plans {
		job := Job{Name: plan.Job}
		for _, pl := range plan.Placements {
			k := pk{pl.Site, pl.Pool}
			r, ok := res[k]
			if !ok {
				s := w.Site(pl.Site)
				if s == nil || pl.Pool < 0 || pl.Pool >= len(s.Spec.Pools) {
					return nil, fmt.Errorf("job %s: placement at %s pool %d is not in the catalog", plan.Job, pl.Site, pl.Pool)
				}
				r = len(p.Capacity)
				res[k] = r
				p.Capacity = append(p.Capacity, s.Spec.Pools[pl.Pool].Available)
			}
			if pl.Count > p.Capacity[r] {
				continue
			}
			job.Options = append(job.Options, Option{Uses: []int{r}, Count: pl.Count, Cost: pl.CostUSD, Ref: len(refs)})
			refs = append(refs, pl)
		}
		p.Jobs = append(p.Jobs, job)
	}
	sol, err := Assign(p)
	if err != nil {
		return nil, err
	}
	out := &Result{Assignments: []Assignment{}, Waiting: []Waiting{}, OptimalityGap: sol.Gap, SolveSeconds: sol.Elapsed.Seconds()}
	if math.IsInf(out.OptimalityGap, 0) {
		out.OptimalityGap = -1
	}
	for j, k := range sol.Choice {
		plan := plans[j]
		if k < 0 {
			out.Waiting = append(out.Waiting, Waiting{Job: plan.Job, Reason: waitReason(plan, len(p.Jobs[j].Options))})
			continue
		}
		pl := refs[p.Jobs[j].Options[k].Ref]
		out.Assignments = append(out.Assignments, Assignment{Job: plan.Job, Site: pl.Site, Accelerator: pl.Accelerator, Count: pl.Count, CostUSD: pl.CostUSD, Pool: pl.Pool})
		out.TotalCostUSD += pl.CostUSD
	}
	sort.SliceStable(out.Assignments, func(a, b int) bool { return out.Assignments[a].Job < out.Assignments[b].Job })
	return out, nil
}

func waitReason(plan *planner.Plan, options int) string {
	if len(plan.Placements) == 0 {
		kinds := make([]string, 0, len(plan.Summary.RejectedByKind))
		for k := range plan.Summary.RejectedByKind {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		why := ""
		for _, k := range kinds {
			if n := plan.Summary.RejectedByKind[k]; n > 0 {
				why += fmt.Sprintf(" %s %d", k, n)
			}
		}
		return fmt.Sprintf("no lawful, feasible placement as of %s (rejected by kind:%s)", plan.AsOf, why)
	}
	if options == 0 {
		return fmt.Sprintf("its %d placements need more than their pools have available", len(plan.Placements))
	}
	return fmt.Sprintf("its %d lawful pools are given to other jobs: placing it would leave another waiting or cost more in total", options)
}
