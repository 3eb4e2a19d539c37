// Package testplan is a small, real planner for the run controller's and
// the API's tests: it offers every site's first pool that is not excluded
// and permitted by the job's site and country constraints, cheapest first,
// so that those tests do not depend on the planner's ranking; a pool with
// fewer available than the job's minAccelerators (at least 1) is rejected
// as full (not now). It knows no law; `meridian serve` always uses the planner package.
package testplan

import (
	"context"
	"fmt"
	"sort"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
)

// Cheapest plans job over w's sites as described in the package comment.
func Cheapest(_ context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
	plan := &planner.Plan{Job: job.Metadata.Name, AsOf: asOf.String(), Summary: planner.Summary{RejectedByKind: map[string]int{}}}
	skip := map[string]bool{}
	for _, s := range exclude {
		skip[s] = true
	}
	c := job.Spec.Constraints
	for _, s := range w.Sites {
		plan.Summary.Candidates++
		if skip[s.Metadata.Name] || len(s.Spec.Pools) == 0 || !c.Sites.Permits(s.Metadata.Name) || !c.Countries.Permits(s.Spec.Country) {
			plan.Rejected = append(plan.Rejected, planner.Rejection{Site: s.Metadata.Name, Country: s.Spec.Country, Kind: "constraint"})
			plan.Summary.RejectedByKind["constraint"]++
			continue
		}
		p := s.Spec.Pools[0]
		n := 8
		if p.Available < n {
			n = p.Available
		}
		if n < 1 || n < c.MinAccelerators {
			// Full, as the planner says it: lawful, but not now.
			plan.Rejected = append(plan.Rejected, planner.Rejection{Site: s.Metadata.Name, Country: s.Spec.Country, Accelerator: p.Accelerator,
				Kind: planner.KindCapacity, Resolution: planner.NotNow, Candidates: 1,
				Reasons: []policy.Finding{{Rule: planner.CodeFree, Kind: string(planner.KindCapacity), Code: policy.CodeNotNow,
					Message: fmt.Sprintf("needs %d %s, %d free of %d installed", max(1, c.MinAccelerators), p.Accelerator, p.Available, p.Count)}}})
			plan.Summary.RejectedByKind[string(planner.KindCapacity)]++
			continue
		}
		plan.Placements = append(plan.Placements, planner.Placement{Site: s.Metadata.Name, Country: s.Spec.Country,
			Accelerator: p.Accelerator, Count: n, PricePerHour: p.PricePerHour, CostUSD: p.PricePerHour * float64(n), ComputeCostUSD: p.PricePerHour * float64(n),
			Runnable: s.Runnable()})
	}
	sort.SliceStable(plan.Placements, func(i, j int) bool { return plan.Placements[i].CostUSD < plan.Placements[j].CostUSD })
	for i := range plan.Placements {
		plan.Placements[i].Rank = i + 1
	}
	plan.Summary.Placements = len(plan.Placements)
	return plan, nil
}
