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
	// Tenant is the job's tenant, when quotas apply.
	Tenant string `json:"tenant,omitempty"`
}

// Waiting is a job left without a place, with why.
type Waiting struct {
	Job    string `json:"job"`
	Reason string `json:"reason"`
	Tenant string `json:"tenant,omitempty"`
}

// TenantLabel is the TrainingJob label naming the tenant whose quota a
// job of `plan --fleet --quotas` counts against.
const TenantLabel = "meridian.dev/tenant"

// ValidTenant reports whether name is a well-formed tenant name (as a
// Quota's metadata.name).
func ValidTenant(name string) bool { return namePattern.MatchString(name) }

// Options are PlanFleet's limits beyond the pools'.
type Options struct {
	// Quotas, when set, bound what each tenant's jobs take together, as
	// `serve --quotas` bounds what its runs hold at once (nothing held
	// yet); Tenants[i] is the tenant of plans[i].
	Quotas  *Quotas
	Tenants []string
}

// PlanFleet assigns the planned jobs (plans[i] is the plan of the i-th
// job, every placement in it: lawful, within deadline and budget) to the
// pools of w, no pool given more than its available count and, with
// quotas, no tenant or cohort more than its quota.
func PlanFleet(w *catalog.World, plans []*planner.Plan, opts ...Options) (*Result, error) {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Quotas != nil && len(o.Tenants) != len(plans) {
		return nil, fmt.Errorf("fleet: %d tenants for %d jobs", len(o.Tenants), len(plans))
	}
	// The problem's bounds, checked before it is built: each placement
	// becomes an option.
	if len(plans) > MaxJobs {
		return nil, fmt.Errorf("fleet: %d jobs: at most %d are planned together; plan them in parts", len(plans), MaxJobs)
	}
	placements := 0
	for _, plan := range plans {
		placements += len(plan.Placements)
	}
	if placements > MaxOptions {
		return nil, fmt.Errorf("fleet: %d lawful placements of %d jobs: at most %d are assigned together; plan the jobs in parts, or with fewer sites", placements, len(plans), MaxOptions)
	}
	type pk struct {
		site string
		pool int
	}
	res := map[pk]int{}
	quotaRes := map[string]int{}  // limit name → resource
	quotaName := map[int]string{} // resource → limit name
	p := &Problem{}
	var refs []planner.Placement
	overQuota := make([]string, len(plans)) // a quota some placement of the job needs more of than it allows
	dear := make([]int, len(plans))         // placements of the job costing more than MaxCost
	for i, plan := range plans {
		job := Job{Name: plan.Job}
	placements:
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
			// A placement past MaxCost is not an option: two of them made
			// the total cost +Inf, which no JSON holds.
			if !(pl.CostUSD <= MaxCost) {
				dear[i]++
				continue
			}
			uses := []int{r}
			if o.Quotas != nil {
				for _, l := range o.Quotas.Limits(o.Tenants[i], pl.Accelerator) {
					q, ok := quotaRes[l.Name]
					if !ok {
						q = len(p.Capacity)
						quotaRes[l.Name], quotaName[q] = q, l.Name
						p.Capacity = append(p.Capacity, l.Max)
					}
					if pl.Count > l.Max {
						if overQuota[i] == "" {
							overQuota[i] = fmt.Sprintf("%s: it needs %d %s", l.Name, pl.Count, pl.Accelerator)
						}
						continue placements
					}
					uses = append(uses, q)
				}
			}
			job.Options = append(job.Options, Option{Uses: uses, Count: pl.Count, Cost: pl.CostUSD, Ref: len(refs)})
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
	// What each resource has left once the assignment is made: a waiting
	// job's reason names the quota it would pass.
	left := append([]int(nil), p.Capacity...)
	for j, k := range sol.Choice {
		if k >= 0 {
			for _, r := range p.Jobs[j].Options[k].Uses {
				left[r] -= p.Jobs[j].Options[k].Count
			}
		}
	}
	tenant := func(i int) string {
		if o.Quotas == nil {
			return ""
		}
		return o.Tenants[i]
	}
	for j, k := range sol.Choice {
		plan := plans[j]
		if k < 0 {
			reason := waitReason(plan, len(p.Jobs[j].Options))
			if len(p.Jobs[j].Options) == 0 && dear[j] > 0 {
				reason = fmt.Sprintf("%d of its %d placements cost more than $%g (fleet.MaxCost), the rest more than their pools have available", dear[j], len(plan.Placements), MaxCost)
				if dear[j] == len(plan.Placements) {
					reason = fmt.Sprintf("its %d placements cost more than $%g each (fleet.MaxCost): check its spec.assumptions, model size and tokens", dear[j], MaxCost)
				}
			}
			if o.Quotas != nil {
				if q := quotaShort(p, left, quotaName, j); q != "" {
					reason = fmt.Sprintf("waiting for quota: %s, and the tenant's other jobs take the rest", q)
				} else if len(p.Jobs[j].Options) == 0 && overQuota[j] != "" {
					reason = fmt.Sprintf("waiting for quota: %s, more than the quota allows", overQuota[j])
				}
			}
			out.Waiting = append(out.Waiting, Waiting{Job: plan.Job, Reason: reason, Tenant: tenant(j)})
			continue
		}
		pl := refs[p.Jobs[j].Options[k].Ref]
		out.Assignments = append(out.Assignments, Assignment{Job: plan.Job, Site: pl.Site, Accelerator: pl.Accelerator, Count: pl.Count, CostUSD: pl.CostUSD, Pool: pl.Pool, Tenant: tenant(j)})
		out.TotalCostUSD += pl.CostUSD
	}
	sort.SliceStable(out.Assignments, func(a, b int) bool { return out.Assignments[a].Job < out.Assignments[b].Job })
	return out, nil
}

// quotaShort names the quota that keeps waiting job j from every option
// whose pool has room left ("" when no option is kept out by a quota
// alone): "LIMIT: N of M given to other jobs, it needs K".
func quotaShort(p *Problem, left []int, quotaName map[int]string, j int) string {
	for _, o := range p.Jobs[j].Options {
		if left[o.Uses[0]] < o.Count {
			continue // the pool is full: not the quota's doing
		}
		for _, r := range o.Uses[1:] {
			if left[r] < o.Count {
				return fmt.Sprintf("%s: %d of %d given to other jobs, it needs %d", quotaName[r], p.Capacity[r]-left[r], p.Capacity[r], o.Count)
			}
		}
	}
	return ""
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
