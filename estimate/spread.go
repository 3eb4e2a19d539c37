package estimate

import "math"

// Spread is how real runs scatter around the estimate: ln(reported ÷
// estimated accelerator-hours) as a two-piece normal with median 0, σ Low
// below the median and High above it. The fitted spreads are symmetric (Low
// = High): one σ from the fitting half of the calibration runs, each run
// predicted by a fit that had not seen its family, widened for the few
// families (fit.go, fitted.go). The central 80 % interval is
// exp(−1.2816·Low) to exp(1.2816·High) times the estimate; a one-sided
// quantile (spec.confidence) follows from the upper half.
type Spread struct {
	Low, High float64 // σ of each half, in ln units
}

// Factor returns the multiple of the central estimate at quantile q (0 < q <
// 1): 1 at the median, exp(High·z_q) above it and exp(Low·z_q) below.
func (s Spread) Factor(q float64) float64 { return s.FactorZ(NormalQuantile(q)) }

// FactorZ is Factor at the standard normal quantile z (NormalQuantile(q)),
// for callers that ask for one quantile many times.
func (s Spread) FactorZ(z float64) float64 {
	if z >= 0 {
		return math.Exp(s.High * z)
	}
	return math.Exp(s.Low * z)
}

// interval returns the factors of the central 80 % interval, exp(−z₉₀·Low)
// and exp(z₉₀·High), from a table for the fitted spreads.
func (s Spread) interval() (lo, hi float64) {
	for _, f := range fittedIntervals {
		if f.s == s {
			return f.lo, f.hi
		}
	}
	return math.Exp(-s.Low * z90), math.Exp(s.High * z90)
}

// spreadInterval is a spread with its interval factors worked out.
type spreadInterval struct {
	s      Spread
	lo, hi float64
}

var fittedIntervals = []spreadInterval{
	newSpreadInterval(Spread{fittedSpreadLowShape, fittedSpreadHighShape}),
	newSpreadInterval(Spread{fittedSpreadLowSize, fittedSpreadHighSize}),
}

func newSpreadInterval(s Spread) spreadInterval {
	return spreadInterval{s, math.Exp(-s.Low * z90), math.Exp(s.High * z90)}
}

// spreadFor is the spread of a job's estimate: from the calibration runs
// estimated as given (the job states its shape) or from size alone (it does
// not); spreadSigma sets both halves.
func spreadFor(shapeGiven bool, p *params) Spread {
	if p.set("spreadSigma") {
		return Spread{Low: p.spreadSigma, High: p.spreadSigma}
	}
	if shapeGiven {
		return Spread{Low: fittedSpreadLowShape, High: fittedSpreadHighShape}
	}
	return Spread{Low: fittedSpreadLowSize, High: fittedSpreadHighSize}
}

// z90 is the standard normal's 90th percentile.
var z90 = NormalQuantile(0.9)

// NormalQuantile is the inverse of the standard normal distribution
// function, by Acklam's rational approximation (relative error below
// 1.2e-9), refined by one Halley step.
func NormalQuantile(p float64) float64 {
	switch {
	case !(p > 0):
		return math.Inf(-1)
	case !(p < 1):
		return math.Inf(1)
	}
	const pLow = 0.02425
	a := [...]float64{-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00}
	b := [...]float64{-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01}
	c := [...]float64{-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00}
	d := [...]float64{7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00}
	var x float64
	switch {
	case p < pLow:
		q := math.Sqrt(-2 * math.Log(p))
		x = (((((c[0]*q+c[1])*q+c[2])*q+c[3])*q+c[4])*q + c[5]) / ((((d[0]*q+d[1])*q+d[2])*q+d[3])*q + 1)
	case p <= 1-pLow:
		q := p - 0.5
		r := q * q
		x = (((((a[0]*r+a[1])*r+a[2])*r+a[3])*r+a[4])*r + a[5]) * q / (((((b[0]*r+b[1])*r+b[2])*r+b[3])*r+b[4])*r + 1)
	default:
		q := math.Sqrt(-2 * math.Log(1-p))
		x = -(((((c[0]*q+c[1])*q+c[2])*q+c[3])*q+c[4])*q + c[5]) / ((((d[0]*q+d[1])*q+d[2])*q+d[3])*q + 1)
	}
	// One Halley step on Φ(x) − p.
	e := 0.5*math.Erfc(-x/math.Sqrt2) - p
	u := e * math.Sqrt(2*math.Pi) * math.Exp(x*x/2)
	return x - u/(1+x*u/2)
}
