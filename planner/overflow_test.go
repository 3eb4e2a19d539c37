package planner

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/estimate"
)

// A link efficiency a hair above 0 (the loader accepts any normal value in
// (0, 1]) makes moving a dataset take +Inf hours. The plan must refuse those
// candidates, naming the job's assumptions, and still be written as JSON.
func TestEndlessDataMoveRejected(t *testing.T) {
	for _, a := range []string{"{linkEfficiency: 2.3e-308}", "{crossBorderGbps: 2.3e-308}"} {
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
	if p.Placements[0].Count > estimate.MaxCount {
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

// FuzzMakeAssumptions plans a job with arbitrary values of the assumptions
// the planner reads and of those that scale time and cost (any the loader
// accepts), with the real estimator: the plan must be written as JSON,
// every placement's numbers must be finite, and the deadline and budget
// must hold.
func FuzzMakeAssumptions(f *testing.F) {
	f.Add(0.8, 5.0, 0.09, 0.0, 0.0, 0.8, 0.0, 0.0)
	f.Add(5e-324, 5e-324, 10.0, 1e-301, 5.0, 0.999, 1.0, 1.0)
	f.Add(1.0, 1e5, 0.0, 1.0, 0.0, 0.5, 1e12, 1e6)
	f.Add(math.NaN(), math.Inf(1), -1.0, math.NaN(), math.Inf(1), math.NaN(), math.NaN(), math.Inf(1))
	law := &tableLaw{}
	f.Fuzz(func(t *testing.T, eff, gbps, egress, mfu, sigma, conf, budget, deadlineH float64) {
		a := map[string]float64{"linkEfficiency": eff, "crossBorderGbps": gbps, "dataEgressPerGB": egress, "mfu": mfu, "spreadSigma": sigma}
		keys := AssumptionKeys()
		for k, v := range a {
			if key, ok := keys.Lookup(k); !ok || !key.Accepts(v) {
				delete(a, k) // the loader would refuse it
			}
		}
		w := testWorld(t, testOrg,
			site("a", "MY", 100, 0.05, pool("test-fast", 64, 64, 2)),
			site("b", "CN", 0.001, 10, pool("test-slow", 64, 64, 1000)),
			dataset("d", "", 1e15), job("  datasets: [d]"))
		j := w.Jobs[0]
		j.Spec.Assumptions = a
		if conf >= 0.5 && conf <= 0.999 {
			j.Spec.Confidence = conf
		}
		if budget > 0 && budget <= 1e12 {
			j.Spec.BudgetUSD = budget
		}
		if deadlineH > 0 && deadlineH < 1e6 {
			j.Spec.Deadline = catalog.Duration(deadlineH * 3600e9)
		}
		p, err := Make(w, j, Options{AsOf: catalog.MustDate("2026-01-01"), Rules: law})
		if err != nil {
			t.Fatal(err)
		}
		if err := json.NewEncoder(&bytes.Buffer{}).Encode(p); err != nil {
			t.Fatalf("plan cannot be written as JSON: %v", err)
		}
		for _, pl := range p.Placements {
			for _, x := range []float64{pl.Hours, pl.HoursLow, pl.HoursHigh, pl.CostUSD, pl.CostLowUSD, pl.CostHighUSD, pl.AcceleratorHours} {
				if !(x >= 0) || math.IsInf(x, 0) {
					t.Fatalf("placement %s × %d has %g", pl.Site, pl.Count, x)
				}
			}
			if j.Spec.Deadline > 0 && pl.Hours > j.Spec.Deadline.Hours() {
				t.Errorf("%g h past the deadline", pl.Hours)
			}
			if j.Spec.BudgetUSD > 0 && pl.CostUSD > j.Spec.BudgetUSD {
				t.Errorf("$%g over budget", pl.CostUSD)
			}
		}
		var out bytes.Buffer
		if err := WriteTable(&out, p, 0); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out.String(), "$-") {
			t.Errorf("negative cost printed:\n%s", out.String())
		}
	})
}

// A finite estimate times a wide spread at a high confidence can pass the
// largest float: the candidate is refused naming spec.confidence, and the
// summary's cheapest-over-budget (which held +Inf) can still be written.
func TestConfidenceQuantileOverflowRejected(t *testing.T) {
	w := testWorld(t, testOrg, site("a", "MY", 100, 0.05, pool("test-fast", 64, 64, 1)),
		job("  confidence: 0.999", "  budgetUSD: 1"))
	p := mustMake(t, w, &tableLaw{}, &sixND{mfu: 1e-300, spread: estimate.Spread{Low: 5, High: 5}}, Options{})
	if err := json.NewEncoder(&bytes.Buffer{}).Encode(p); err != nil {
		t.Fatalf("plan cannot be written as JSON: %v", err)
	}
	if len(p.Rejected) == 0 || !strings.Contains(p.Rejected[0].Reasons[0].Source, "spec.confidence") {
		t.Errorf("not rejected naming spec.confidence: %+v", p.Rejected)
	}
}

// The summary's cheapest over budget and fastest past the deadline do not
// depend on the order workers' findings are merged in (which follows the
// number of CPUs): ties go to the first site, accelerator and count.
func TestSummaryChoiceTiesAreStable(t *testing.T) {
	a := &Choice{Site: "a", Accelerator: "x", Count: 8, Hours: 10, CostUSD: 100}
	b := &Choice{Site: "b", Accelerator: "x", Count: 8, Hours: 10, CostUSD: 100}
	c := &Choice{Site: "a", Accelerator: "x", Count: 4, Hours: 10, CostUSD: 100}
	for _, better := range []func(x, y *Choice) bool{cheaper, faster} {
		for _, order := range [][]*Choice{{a, b, c}, {b, c, a}, {c, a, b}, {b, a, c}} {
			var best *Choice
			for _, ch := range order {
				keep(&best, ch, better)
			}
			if best != c {
				t.Errorf("kept %+v from %v, want %+v", best, order, c)
			}
		}
	}
}

// Times near the largest float print in a few characters, not every digit.
func TestHugeHoursPrintShort(t *testing.T) {
	for _, s := range []string{hours(1e306), hoursRange(1e306, 1e305, 1e307), hoursInterval(1e306, 1e305, 1e307)} {
		if len(s) > 40 {
			t.Errorf("%d characters: %.60s…", len(s), s)
		}
	}
	if got := hoursRange(41.24, 35.01, 52.3); got != "41.2 h (35.0–52.3)" {
		t.Errorf("hoursRange = %q", got)
	}
	if got := hoursRange(65, 50, 96); got != "2.7 d (2.1–4.0)" {
		t.Errorf("hoursRange = %q", got)
	}
	if got := hours(3e13 * 24); got != "3e+13 d" {
		t.Errorf("hours = %q", got)
	}
}

// A minimum beyond what the estimator covers is refused naming the job's
// spec.constraints.minAccelerators, not the site's accelerator.
func TestMinAcceleratorsBeyondEstimatorNamed(t *testing.T) {
	w := testWorld(t, testOrg, site("a", "MY", 100, 0.05, pool("test-fast", 4_000_000, 3_000_000, 2)),
		job("  constraints: {minAccelerators: 2000000}"))
	p := mustMake(t, w, &tableLaw{}, nil, Options{})
	if len(p.Placements) != 0 || len(p.Rejected) != 1 {
		t.Fatalf("placements %+v, rejected %+v", p.Placements, p.Rejected)
	}
	if f := p.Rejected[0].Reasons[0]; !strings.Contains(f.Source, "spec.constraints.minAccelerators") || !strings.Contains(f.Message, "2,000,000") {
		t.Errorf("reason %+v does not name spec.constraints.minAccelerators", f)
	}
}

// A crossBorderGbps the loader refuses (a denormal, +Inf, NaN) that reaches
// the planner anyway is ignored, as every other assumption out of its range
// is: the link table's throughput applies. The planner used any positive
// value, so 5e-324 made the move endless and +Inf made it instant.
func TestCrossBorderOutOfRangeIgnored(t *testing.T) {
	plan := func(a string) *Plan {
		extra := []string{"  datasets: [d]"}
		if a != "" {
			extra = append(extra, "  assumptions: "+a)
		}
		w := testWorld(t, testOrg,
			site("a", "MY", 0, 0.05, pool("test-fast", 64, 64, 2)),
			site("b", "CN", 0, 0.05, pool("test-slow", 64, 64, 1)),
			dataset("d", "b", 1e12), job(extra...))
		return mustMake(t, w, &tableLaw{}, &sixND{mfu: 0.5}, Options{})
	}
	movesTo := func(p *Plan, s string) []DataMove {
		for _, pl := range p.Placements {
			if pl.Site == s {
				return pl.DataMoves
			}
		}
		t.Fatalf("no placement at %s: %+v", s, p.Rejected)
		return nil
	}
	want := movesTo(plan(""), "a")
	if len(want) != 1 || want[0].Gbps <= 0 || math.IsInf(want[0].Hours, 0) {
		t.Fatalf("moves without assumptions %+v", want)
	}
	for _, a := range []string{"{crossBorderGbps: 5e-324}", "{crossBorderGbps: .inf}"} {
		got := movesTo(plan(a), "a")
		if len(got) != 1 || got[0].Gbps != want[0].Gbps || got[0].Hours != want[0].Hours {
			t.Errorf("%s: moves %+v, want those of the link table %+v", a, got, want)
		}
	}
}
