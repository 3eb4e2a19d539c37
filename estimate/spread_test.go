package estimate

import (
	"math"
	"testing"
)

// TestNormalQuantile checks the inverse normal against tabulated values.
func TestNormalQuantile(t *testing.T) {
	for _, c := range []struct{ p, z float64 }{
		{0.5, 0}, {0.8, 0.8416212336}, {0.9, 1.2815515655}, {0.975, 1.9599639845},
		{0.999, 3.0902323062}, {0.01, -2.3263478740}, {0.1, -1.2815515655},
	} {
		if got := NormalQuantile(c.p); math.Abs(got-c.z) > 1e-8 {
			t.Errorf("NormalQuantile(%g) = %.10f, want %.10f", c.p, got, c.z)
		}
	}
	if !math.IsInf(NormalQuantile(0), -1) || !math.IsInf(NormalQuantile(1), 1) {
		t.Error("NormalQuantile(0) and (1) should be -Inf and +Inf")
	}
}

// TestSpreadFactor: the median is the estimate, each side uses its own σ,
// and the Result's interval is the spread's 10th and 90th percentiles.
func TestSpreadFactor(t *testing.T) {
	s := Spread{Low: 0.2, High: 0.4}
	if f := s.Factor(0.5); f != 1 {
		t.Errorf("median factor %g, want 1", f)
	}
	if got, want := s.Factor(0.9), math.Exp(0.4*1.2815515655); math.Abs(got-want) > 1e-9 {
		t.Errorf("Factor(0.9) = %g, want %g", got, want)
	}
	if got, want := s.Factor(0.1), math.Exp(-0.2*1.2815515655); math.Abs(got-want) > 1e-9 {
		t.Errorf("Factor(0.1) = %g, want %g", got, want)
	}
	r, err := Estimate(Input{Job: benchJob(), Accelerator: builtinAccelerator(t, "nvidia-h100-sxm"), Count: 64, SkipAssumptions: true})
	if err != nil {
		t.Fatal(err)
	}
	if relErr(r.HoursLow, r.Hours*r.Spread.Factor(0.1)) > 1e-12 || relErr(r.HoursHigh, r.Hours*r.Spread.Factor(0.9)) > 1e-12 {
		t.Errorf("interval %g–%g is not the spread's 10th–90th percentile around %g", r.HoursLow, r.HoursHigh, r.Hours)
	}
	if r.Spread != (Spread{fittedSpreadLowShape, fittedSpreadHighShape}) {
		t.Errorf("a job with its shape got spread %+v", r.Spread)
	}
}
