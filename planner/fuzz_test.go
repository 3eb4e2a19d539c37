package planner

import (
	"math"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
)

// FuzzMake plans jobs with arbitrary numbers (including ones validation
// would refuse) against a small world: Make must never panic, every
// placement must respect the job's counts, deadline and budget, and every
// candidate must be either feasible or rejected.
func FuzzMake(f *testing.F) {
	f.Add(1e10, 1e11, 0, 0, 0.0, 0.0, 64)
	f.Add(7.6e9, 2e10, 8, 1024, 336.0, 250000.0, 1024)
	f.Add(1e15, 1e16, 1, 1, 1.0, 1.0, 0)
	f.Add(-1.0, math.NaN(), -5, -1, -1.0, math.Inf(1), 1<<30)
	w := testWorld(f, testOrg,
		site("a", "MY", 100, 0.05, pool("test-fast", 1<<20, 1<<10, 2), pool("test-slow", 64, 64, 1)),
		site("b", "CN", 10, 0.1, pool("test-fast", 64, 64, 2)),
		dataset("d", "b", 1e12), job("  datasets: [d]"))
	law := &tableLaw{deny: map[string]policy.Finding{"CN/test-fast": usEAR}}
	f.Fuzz(func(t *testing.T, params, tokens float64, minAcc, maxAcc int, deadlineH, budget float64, avail int) {
		j := *w.Jobs[0]
		j.Spec.Model.Parameters = params
		j.Spec.Tokens = tokens
		j.Spec.Constraints.MinAccelerators = minAcc
		j.Spec.Constraints.MaxAccelerators = maxAcc
		if deadlineH > 0 && deadlineH < 1e6 {
			j.Spec.Deadline = catalog.Duration(deadlineH * 3600e9)
		}
		j.Spec.BudgetUSD = budget
		pools := append([]catalog.Pool(nil), w.Sites[0].Spec.Pools...)
		pools[1].Available = avail
		saved := w.Sites[0].Spec.Pools
		w.Sites[0].Spec.Pools = pools
		defer func() { w.Sites[0].Spec.Pools = saved }()

		p, err := Make(w, &j, Options{AsOf: catalog.MustDate("2026-01-01"), Rules: law, Estimator: &sixND{mfu: 0.5}})
		if err != nil {
			t.Fatal(err)
		}
		rejected := 0
		for _, n := range p.Summary.RejectedByKind {
			rejected += n
		}
		if p.Summary.Feasible+rejected != p.Summary.Candidates {
			t.Errorf("feasible %d + rejected %d != candidates %d", p.Summary.Feasible, rejected, p.Summary.Candidates)
		}
		for _, pl := range p.Placements {
			if pl.Count < minAcc || (maxAcc > 0 && pl.Count > maxAcc) || pl.Count < 1 {
				t.Errorf("count %d outside [%d, %d]", pl.Count, minAcc, maxAcc)
			}
			if j.Spec.Deadline > 0 && pl.Hours > j.Spec.Deadline.Hours() {
				t.Errorf("%g h past the deadline", pl.Hours)
			}
			if budget > 0 && pl.CostUSD > budget {
				t.Errorf("$%g over budget", pl.CostUSD)
			}
			if pl.Site == "b" {
				t.Errorf("placed at the unlawful site")
			}
		}
	})
}
