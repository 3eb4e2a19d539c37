package planner

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// A link efficiency a hair above 0 (the loader accepts any value in (0, 1])
// makes moving a dataset take +Inf hours. The plan must refuse those
// candidates, naming the job's assumptions, and still be written as JSON.
func TestEndlessDataMoveRejected(t *testing.T) {
	for _, a := range []string{"{linkEfficiency: 5e-324}", "{crossBorderGbps: 5e-324}"} {
		t.Run(a, func(t *testing.T) {
			w := testWorld(t, testOrg,
				site("a", "MY", 100, 0.05, pool("test-fast", 64, 64, 2)),
				site("b", "CN", 100, 0.05, pool("test-slow", 64, 64, 1)),
				dataset("d", "b", 1e12), job("  datasets: [d]", "  assumptions: "+a))
			p := mustMake(t, w, &tableLaw{}, &sixND{mfu: 0.5}, Options{})
			for _, pl := range p.Placements {
				if pl.Site == "a" {
					t.Errorf("placed at a, where the data never arrives: %g h", pl.Hours)
				}
				for _, x := range []float64{pl.Hours, pl.HoursLow, pl.HoursHigh, pl.CostUSD, pl.CostLowUSD, pl.CostHighUSD} {
					if math.IsInf(x, 0) || math.IsNaN(x) {
						t.Errorf("placement at %s has %g", pl.Site, x)
					}
				}
			}
			found := false
			for _, r := range p.Rejected {
				if r.Site == "a" && r.Kind == KindCapacity && strings.Contains(r.Reasons[0].Source, "spec.assumptions") &&
					strings.Contains(r.Reasons[0].Message, "spec.assumptions.linkEfficiency") {
					found = true
				}
			}
			if !found {
				t.Errorf("site a not rejected naming spec.assumptions: %+v", p.Rejected)
			}
			if err := json.NewEncoder(&bytes.Buffer{}).Encode(p); err != nil {
				t.Errorf("plan cannot be written as JSON: %v", err)
			}
		})
	}
}

// A pool with more free accelerators than the estimator accepts (a catalog
// may list up to ten million) is placed at the counts it can estimate, not
// also rejected because the largest counts of its ladder cannot be.
func TestPoolLargerThanEstimatorLimit(t *testing.T) {
	w := testWorld(t, testOrg, site("a", "MY", 100, 0.05, pool("test-fast", 4_000_000, 3_000_000, 2)), job())
	p := mustMake(t, w, &tableLaw{}, nil, Options{})
	if len(p.Placements) != 1 {
		t.Fatalf("placements %+v", p.Placements)
	}
	if len(p.Rejected) != 0 {
		t.Errorf("pool both placed and rejected: %+v", p.Rejected)
	}
	if p.Placements[0].Count > 1<<20 {
		t.Errorf("count %d beyond what the estimator covers", p.Placements[0].Count)
	}
}

// Costs beyond what an int holds (a job may set mfu to 1e-20, and a plan
// without a budget shows what that costs) print as numbers, not as the
// wrapped-around -9,223,372,036,854,775,808.
func TestDollarsBeyondInt(t *testing.T) {
	for _, x := range []float64{5e22, 9.3e18, math.MaxFloat64} {
		for _, s := range []string{dollars(x), dollarsRange(x, x/2, x*2)} {
			if strings.Contains(s, "-") && !strings.Contains(s, "–") || strings.Contains(s, "-9,223") {
				t.Errorf("%g printed as %q", x, s)
			}
		}
	}
	if got := dollars(5e22); got != "$5e+22" {
		t.Errorf("dollars(5e22) = %q", got)
	}
	if got := dollarsRange(1879, 1506, 2654); got != "$1,879 (1,506–2,654)" {
		t.Errorf("dollarsRange = %q", got)
	}
}

// A cost or time near the largest float (a job may set mfu as small as it
// likes) is a finite number the checks let through; rounding it to cents
// multiplied it by 100 first, made it +Inf, and the plan could not be
// written as JSON.
func TestRoundingHugeNumbersStaysFinite(t *testing.T) {
	w := testWorld(t, testOrg, site("a", "MY", 100, 0.05, pool("test-fast", 64, 64, 1000)), job())
	p := mustMake(t, w, &tableLaw{}, &sixND{mfu: 1e-301}, Options{})
	if len(p.Placements) == 0 {
		t.Fatalf("no placement: %+v", p.Rejected)
	}
	for _, pl := range p.Placements {
		for _, x := range []float64{pl.Hours, pl.AcceleratorHours, pl.CostUSD, pl.ComputeCostUSD, pl.CostHighUSD} {
			if math.IsInf(x, 0) || math.IsNaN(x) {
				t.Errorf("placement has %g", x)
			}
		}
	}
	if err := json.NewEncoder(&bytes.Buffer{}).Encode(p); err != nil {
		t.Errorf("plan cannot be written as JSON: %v", err)
	}
	for _, x := range []float64{1e307, math.MaxFloat64, -1e307} {
		if c, h := cents(x), hundredths(x); c != x || h != x {
			t.Errorf("cents(%g) = %g, hundredths = %g", x, c, h)
		}
	}
	if cents(1234.5678) != 1234.57 || hundredths(0.125) != 0.13 {
		t.Errorf("rounding changed: %g %g", cents(1234.5678), hundredths(0.125))
	}
}
