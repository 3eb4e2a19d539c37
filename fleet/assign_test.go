package fleet

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// randomProblem is jobs × sites with one pool each: every job is lawful at
// a fraction of the sites, needs a count that depends on the pool's
// accelerator, and costs its accelerator-hours at the pool's price.
func randomProblem(rng *rand.Rand, jobs, sites int, lawful float64, tight float64) *Problem {
	p := &Problem{Capacity: make([]int, sites)}
	speed := make([]float64, sites)
	price := make([]float64, sites)
	for s := range sites {
		p.Capacity[s] = 8 * (1 + rng.IntN(int(32*tight)+1))
		speed[s] = []float64{1, 2, 3}[rng.IntN(3)]
		price[s] = 1 + rng.Float64()*4
	}
	for j := range jobs {
		job := Job{Name: fmt.Sprintf("job-%d", j)}
		base := 8 * (1 + rng.IntN(8))
		hours := 100 + rng.Float64()*1000
		for s := range sites {
			if rng.Float64() >= lawful {
				continue
			}
			count := int(math.Ceil(float64(base)/speed[s]/8)) * 8
			job.Options = append(job.Options, Option{Uses: []int{s}, Count: count, Cost: price[s] * hours * float64(base) / speed[s], Ref: s})
		}
		p.Jobs = append(p.Jobs, job)
	}
	return p
}

// check verifies that sol is an assignment of p that no resource is
// over-given, and that its totals add up.
func check(t *testing.T, p *Problem, sol *Solution) {
	t.Helper()
	used := make([]int, len(p.Capacity))
	cost, waiting := 0.0, 0
	for j, k := range sol.Choice {
		if k < 0 {
			waiting++
			continue
		}
		o := p.Jobs[j].Options[k]
		cost += o.Cost
		for _, r := range o.Uses {
			used[r] += o.Count
		}
	}
	for r, u := range used {
		if u > p.Capacity[r] {
			t.Fatalf("resource %d given %d of %d", r, u, p.Capacity[r])
		}
	}
	if math.Abs(cost-sol.Cost) > 1e-6*math.Max(1, cost) || waiting != sol.Waiting {
		t.Fatalf("totals: cost %v waiting %d, solution says %v %d", cost, waiting, sol.Cost, sol.Waiting)
	}
}

// TestAssignAgainstExact measures the heuristic alone, and Assign (the
// heuristic then a bounded branch and bound), against the exact optimum on
// many small instances, tight and loose: neither over-gives a pool, the
// lower bound never exceeds the optimum, the heuristic's mean gap stays
// small, and Assign, whose search finishes on instances this small, is
// optimal on every one.
func TestAssignAgainstExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var sumGap, worst float64
	n, optimal := 0, 0
	for i := range 300 {
		tight := []float64{0.1, 0.3, 1}[i%3]
		p := randomProblem(rng, 4+rng.IntN(6), 2+rng.IntN(4), 0.7, tight)
		h, err := Heuristic(p)
		if err != nil {
			t.Fatal(err)
		}
		a, err := Assign(p)
		if err != nil {
			t.Fatal(err)
		}
		e, err := Exact(p)
		if err != nil {
			t.Fatal(err)
		}
		check(t, p, h)
		check(t, p, a)
		check(t, p, e)
		if h.Objective < e.Objective-1e-6 {
			t.Fatalf("instance %d: heuristic %v beats the exact optimum %v", i, h.Objective, e.Objective)
		}
		if h.LowerBound > e.Objective*(1+1e-9)+1e-6 {
			t.Fatalf("instance %d: lower bound %v above the optimum %v", i, h.LowerBound, e.Objective)
		}
		if math.Abs(a.Objective-e.Objective) > 1e-6*e.Objective || a.Gap != 0 {
			t.Errorf("instance %d: Assign %v (gap %v), optimum %v", i, a.Objective, a.Gap, e.Objective)
		}
		g := (h.Objective - e.Objective) / e.Objective
		sumGap += g
		worst = math.Max(worst, g)
		if g < 1e-9 {
			optimal++
		}
		n++
	}
	mean := sumGap / float64(n)
	t.Logf("heuristic alone, %d instances: optimal in %d, mean gap %.3f%%, worst %.2f%% (a job left waiting that the optimum places)", n, optimal, 100*mean, 100*worst)
	if mean > 0.03 || optimal < n*3/4 {
		t.Errorf("heuristic: mean gap %.2f%%, optimal in %d of %d", 100*mean, optimal, n)
	}
}

func TestAssignValidates(t *testing.T) {
	for _, p := range []*Problem{
		{Capacity: []int{-1}},
		{Capacity: []int{8}, Jobs: []Job{{Name: "a", Options: []Option{{Uses: []int{1}, Count: 8}}}}},
		{Capacity: []int{8}, Jobs: []Job{{Name: "a", Options: []Option{{Uses: []int{0}, Count: 0}}}}},
		{Capacity: []int{8}, Jobs: []Job{{Name: "a", Options: []Option{{Uses: []int{0}, Count: 8, Cost: math.NaN()}}}}},
		// A resource used twice was checked for 8 once, then charged 16
		// of its 8: the job was placed, the resource over-given.
		{Capacity: []int{8}, Jobs: []Job{{Name: "a", Options: []Option{{Uses: []int{0, 0}, Count: 8}}}}},
	} {
		if _, err := Assign(p); err == nil {
			t.Errorf("%+v accepted", p)
		}
	}
}

// BenchmarkAssign is the fleet assignment at 100 and 1,000 jobs against
// 2,000 sites, a tenth of them lawful for each job; it reports the gap to
// the Lagrangian lower bound (an upper bound on the true gap).
func BenchmarkAssign(b *testing.B) {
	for _, jobs := range []int{100, 1000} {
		for _, tight := range []float64{0.25, 1} {
			b.Run(fmt.Sprintf("jobs=%d/sites=2000/tight=%g", jobs, tight), func(b *testing.B) {
				p := randomProblem(rand.New(rand.NewPCG(3, 4)), jobs, 2000, 0.1, tight)
				var sol *Solution
				for b.Loop() {
					var err error
					if sol, err = Assign(p); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(100*sol.Gap, "gap%")
				b.ReportMetric(float64(sol.Waiting), "waiting")
			})
		}
	}
}

// TestAssignSearchBounded: a batch one run over its tenant's quota, each
// run lawful at 2,000 pools, cannot be proven to place every run, so the
// branch and bound runs to its limit. Each node looks at every option of
// its job, so that a node limit alone let it look at 400 million options
// (seconds a call, and the admission loop calls it for every waiting run
// that does not fit at once); the options it looks at in all are bounded,
// whatever the number of pools.
func TestAssignSearchBounded(t *testing.T) {
	for _, pools := range []int{10, 2000} {
		p := quotaBoundProblem(ExactJobs, pools)
		sol, err := Assign(p)
		if err != nil {
			t.Fatal(err)
		}
		check(t, p, sol)
		if sol.Waiting != 1 {
			t.Errorf("%d pools: %d runs wait, want the 1 the quota has no room for", pools, sol.Waiting)
		}
		if sol.examined == 0 || sol.examined > ExactWork {
			t.Errorf("%d pools: the search looked at %d options, want 1 to %d", pools, sol.examined, ExactWork)
		}
	}
}
