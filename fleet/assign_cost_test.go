package fleet

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
)

// Two options costing near the largest float (a job without a budget, at
// a utilisation a hair above 0) made a waiting job's penalty +Inf: the
// search then weighed every assignment that left one job waiting as it
// weighed leaving all waiting, returned that, and a gap of NaN. Options
// above MaxCost are now weighed at MaxCost, and every job that fits is
// placed.
func TestAbsurdCostsLeaveNoFittingJobWaiting(t *testing.T) {
	opt := func(c float64) []Option { return []Option{{Uses: []int{0}, Count: 1, Cost: c}} }
	p := &Problem{Capacity: []int{3}, Jobs: []Job{
		{Name: "a", Options: opt(1e308)}, {Name: "b", Options: opt(1)}, {Name: "c", Options: opt(1)}, {Name: "d", Options: opt(math.MaxFloat64)}}}
	for _, solve := range []struct {
		name string
		f    func(*Problem) (*Solution, error)
	}{{"Assign", Assign}, {"Heuristic", Heuristic}, {"Exact", Exact}} {
		sol, err := solve.f(p)
		if err != nil {
			t.Fatalf("%s: %v", solve.name, err)
		}
		if sol.Waiting != 1 || sol.Choice[1] != 0 || sol.Choice[2] != 0 {
			t.Errorf("%s: choices %v, %d waiting; want b and c placed, one of a and d", solve.name, sol.Choice, sol.Waiting)
		}
		for _, x := range []float64{sol.Objective, sol.LowerBound, sol.Gap} {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				t.Errorf("%s: objective %g, lower bound %g, gap %g", solve.name, sol.Objective, sol.LowerBound, sol.Gap)
				break
			}
		}
		want := 0.0
		for j, k := range sol.Choice {
			if k >= 0 {
				want += p.Jobs[j].Options[k].Cost
			}
		}
		if sol.Cost != want || want < 1e308 {
			t.Errorf("%s: cost %g, want what the options placed cost, %g", solve.name, sol.Cost, want)
		}
	}
}

// A fleet of jobs whose placements cost near the largest float had a total
// cost of +Inf, and its answer could not be written as JSON: placements
// past MaxCost are left out, their job waiting with a reason that says so.
func TestPlanFleetLeavesOutAbsurdCosts(t *testing.T) {
	w, err := catalog.Assemble(planner.AssumptionKeys(), nil)
	if err != nil {
		t.Fatal(err)
	}
	site := w.Sites[0]
	at := func(job string, cost float64) *planner.Plan {
		return &planner.Plan{Job: job, Placements: []planner.Placement{{Site: site.Metadata.Name, Pool: 0, Accelerator: site.Spec.Pools[0].Accelerator, Count: 1, CostUSD: cost}}}
	}
	res, err := PlanFleet(w, []*planner.Plan{at("dear-1", 1e308), at("dear-2", math.MaxFloat64), at("cheap", 100)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := json.Marshal(res); err != nil {
		t.Fatalf("answer cannot be written: %v", err)
	}
	if len(res.Assignments) != 1 || res.Assignments[0].Job != "cheap" || res.TotalCostUSD != 100 {
		t.Errorf("assignments %+v, total %g; want cheap alone, 100", res.Assignments, res.TotalCostUSD)
	}
	if len(res.Waiting) != 2 {
		t.Fatalf("waiting %+v, want the two dear jobs", res.Waiting)
	}
	for _, wt := range res.Waiting {
		if !strings.Contains(wt.Reason, "fleet.MaxCost") {
			t.Errorf("%s waits for %q, want the reason to name fleet.MaxCost", wt.Job, wt.Reason)
		}
	}
}
