package planner

import (
	"math"
	"slices"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
)

// halfCent is how far past a deadline or budget met a placement may read,
// shown to the nearest hundredth: half a hundredth, and one ulp more.
const halfCent = 0.005 + 1e-9

// TestHalfCentCoversRounding: a value met exactly at a half-hundredth
// (0.045 h, $1.055) shows as up to halfCent past it, for each of the
// first 20,000 of them. The fuzz tests allowed 0.005, which 0.045 shown
// as 0.05 passes by one ulp.
func TestHalfCentCoversRounding(t *testing.T) {
	for i := range 20000 {
		x := float64(i)*0.01 + 0.005
		if got := hundredths(x); got > x+halfCent {
			t.Fatalf("%g shown as %g, past it by more than halfCent", x, got)
		}
	}
}

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
			// Hours and cost are shown to the nearest hundredth: a placement
			// that meets its deadline or budget may read up to half a
			// hundredth past it (0.5694 h shown 0.57), never more. Half a
			// hundredth added in floating point can fall one ulp short
			// of the rounding (a deadline of 0.045 h met exactly shows
			// 0.05 h, and 0.045+0.005 is 0.049999999999999996): halfCent
			// allows it.
			if j.Spec.Deadline > 0 && pl.Hours > j.Spec.Deadline.Hours()+halfCent {
				t.Errorf("%g h past the deadline", pl.Hours)
			}
			if budget > 0 && pl.CostUSD > budget+halfCent {
				t.Errorf("$%g over budget", pl.CostUSD)
			}
			if pl.HoursLow > pl.Hours || pl.Hours > pl.HoursHigh || pl.ComputeHours > pl.Hours {
				t.Errorf("hours %g outside its interval [%g, %g] or under its compute %g", pl.Hours, pl.HoursLow, pl.HoursHigh, pl.ComputeHours)
			}
			if pl.Site == "b" {
				t.Errorf("placed at the unlawful site")
			}
		}
	})
}

// FuzzMakeAnyAssumptions plans jobs the loader accepts, with up to three
// spec.assumptions keys (the planner's and the estimator's) set to any
// value, with the real estimator: no placement may take less than its
// linear work at the chips' full peak, nor be past the deadline or over
// the budget, and every number must be finite. A step no layout could time
// was taken as 0 s, and the largest job placed at half an hour.
func FuzzMakeAnyAssumptions(f *testing.F) {
	keys := AssumptionKeys()
	names := keys.Names()
	key := func(name string) uint8 { return uint8(slices.Index(names, name)) }
	f.Add(1e15, 1e16, 0.0, 0.0, 0.0, key("maxEfficiency"), 1e-300, key("bytesPerParam"), 1e-300, uint8(255), 0.0)
	f.Add(1e15, 1e16, 1e4, 1e12, 0.8, key("scaleUpGBs"), 1e-300, key("pricePerHour"), 0.0, uint8(255), 0.0)
	f.Add(7.6e9, 2e10, 336.0, 250000.0, 0.9, key("linkEfficiency"), 0.5, key("spreadSigma"), 5.0, key("scaleUpDomain"), 1e6)
	f.Add(1e10, 1e11, 1.0, 1.0, 0.999, key("crossBorderGbps"), 1e-300, key("mtbfChipHours"), 1e-300, key("goodput"), 1e-300)
	w := testWorld(f, testOrg,
		site("a", "MY", 100, 0.05, pool("test-fast", 1<<20, 1<<20, 2), pool("test-slow", 64, 64, 1)),
		site("b", "SG", 10, 0.1, pool("test-fast", 64, 64, 2)),
		dataset("d", "", 1e12), job("  datasets: [d]"))
	peak := map[string]float64{"test-fast": 1000, "test-slow": 250}
	f.Fuzz(func(t *testing.T, params, tokens, deadlineH, budget, conf float64, k1 uint8, v1 float64, k2 uint8, v2 float64, k3 uint8, v3 float64) {
		saved := w.Jobs[0]
		defer func() { w.Jobs[0] = saved }()
		j := *saved
		j.Spec.Model.Parameters = params
		j.Spec.Tokens = tokens
		if deadlineH > 0 && deadlineH < 1e5 {
			j.Spec.Deadline = catalog.Duration(deadlineH * 3600e9)
		}
		j.Spec.BudgetUSD = budget
		j.Spec.Confidence = conf
		j.Spec.Assumptions = map[string]float64{}
		for _, kv := range [...]struct {
			k uint8
			v float64
		}{{k1, v1}, {k2, v2}, {k3, v3}} {
			if kv.k != 255 {
				j.Spec.Assumptions[names[int(kv.k)%len(names)]] = kv.v
			}
		}
		w.Jobs[0] = &j
		if w.Validate(keys) != nil {
			return
		}
		p, err := Make(w, &j, Options{AsOf: catalog.MustDate("2026-01-01"), Rules: &tableLaw{}})
		if err != nil {
			t.Fatal(err)
		}
		for _, pl := range p.Placements {
			for name, x := range map[string]float64{"hours": pl.Hours, "computeHours": pl.ComputeHours, "cost": pl.CostUSD,
				"hoursLow": pl.HoursLow, "hoursHigh": pl.HoursHigh, "costLow": pl.CostLowUSD, "costHigh": pl.CostHighUSD, "acceleratorHours": pl.AcceleratorHours} {
				if math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
					t.Fatalf("%s = %v at %s %d × %s", name, x, pl.Site, pl.Count, pl.Accelerator)
				}
			}
			floor := 6 * params * tokens / (float64(pl.Count) * peak[pl.Accelerator] * 1e12) / 3600
			if pl.ComputeHours < floor*(1-1e-6)-0.01 {
				t.Fatalf("%d × %s: %g h of compute, under the %g h of its linear work at full peak (%v)", pl.Count, pl.Accelerator, pl.ComputeHours, floor, j.Spec.Assumptions)
			}
			if j.Spec.Deadline > 0 && pl.Hours > j.Spec.Deadline.Hours()+0.01 {
				t.Fatalf("%g h past the deadline of %g h", pl.Hours, j.Spec.Deadline.Hours())
			}
			if budget > 0 && pl.CostUSD > budget+0.01 {
				t.Fatalf("$%g over the budget of $%g", pl.CostUSD, budget)
			}
		}
	})
}
