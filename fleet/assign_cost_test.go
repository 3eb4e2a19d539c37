package fleet

import (
	"math"
	"testing"
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
