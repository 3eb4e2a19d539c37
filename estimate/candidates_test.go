package estimate

import (
	"flag"
	"math"
	"testing"

	"meridian.dev/meridian/catalog"
)

var candidates = flag.Bool("candidates", false, "compare the candidate run terms by cross-validation on the fitting half")

// TestCandidates compares the candidate run terms of constants.go (and no
// change) on the fitting half only: for each, the constants are refitted
// with that term's grid opened, and every fitting run is predicted by a fit
// that has not seen it, with each run left out alone (leave one out) and
// with its whole family left out (a family shares a team, a cluster and a
// stack). It prints the median absolute error of those predictions, both
// ways of estimating, and the in-sample error; the held-out half is not
// estimated. Slow (a fit per run and per family per candidate), so it runs
// only with -candidates:
//
//	go test ./estimate -run TestCandidates -candidates -v
func TestCandidates(t *testing.T) {
	if !*candidates {
		t.Skip("run with -candidates")
	}
	runs, _, err := CalibrationRuns()
	if err != nil {
		t.Fatal(err)
	}
	accs, err := catalog.BuiltinAccelerators()
	if err != nil {
		t.Fatal(err)
	}
	var fitting []CalibrationRun
	for i, h := range Split(runs) {
		if h == Fitting {
			fitting = append(fitting, runs[i])
		}
	}
	// Each run its own family: leave one run out.
	alone := append([]CalibrationRun(nil), fitting...)
	for i := range alone {
		alone[i].Family = alone[i].Name
	}
	saved := [3][]float64{fitTokensPerParam, fitJobFLOPs, fitOlderChipEff}
	defer func() { fitTokensPerParam, fitJobFLOPs, fitOlderChipEff = saved[0], saved[1], saved[2] }()
	for _, c := range []struct {
		name string
		open func()
	}{
		{"no change", func() {}},
		{"tokens per parameter", func() { fitTokensPerParam = grid(-0.3, 0.3, 0.025) }},
		{"job FLOPs", func() { fitJobFLOPs = grid(-0.15, 0.15, 0.0125) }},
		{"older-chip run efficiency", func() { fitOlderChipEff = grid(0.7, 1.3, 0.025) }},
	} {
		// Each candidate alone: the others held at no effect.
		fitTokensPerParam = []float64{noRunTerms.tppExp}
		fitJobFLOPs = []float64{noRunTerms.flopsExp}
		fitOlderChipEff = []float64{noRunTerms.olderChipEff}
		c.open()
		f, err := fitRuns(accs, fitting)
		if err != nil {
			t.Fatal(err)
		}
		if c.name == "no change" && (f.hiddenExp != fittedKernelHiddenExponent || f.runEff != fittedRunEfficiency || f.critScale != fittedCriticalBatchScale ||
			f.olderStack != fittedOlderStackPenalty || f.straggler != fittedStragglerJitter) {
			t.Errorf("no change fits %+v, not fitted.go's constants", f)
		}
		var in [2]float64
		for _, way := range []Inputs{AsPublished, SizeOnly} {
			rep, err := calibrate(fitting, make([]Half, len(fitting)), accs, way, f.assumptions(), f.trialTerms())
			if err != nil {
				t.Fatal(err)
			}
			in[way] = summarise(rep.Rows).MdAPE
		}
		loo, err := crossValidate(accs, alone)
		if err != nil {
			t.Fatal(err)
		}
		lofo, err := crossValidate(accs, fitting)
		if err != nil {
			t.Fatal(err)
		}
		pct := func(x float64) float64 { return math.Round(1000*x) / 10 }
		t.Logf("%-26s β/ρ: tpp %g, flops %g, older %g; runEff %g | in-sample %5.1f %% / %5.1f %% | leave-one-out %5.1f %% / %5.1f %% | leave-family-out %5.1f %% / %5.1f %% (as published / size only)",
			c.name, f.tppExp, f.flopsExp, f.olderChipEff, f.runEff,
			pct(in[AsPublished]), pct(in[SizeOnly]),
			pct(summarise(loo[AsPublished]).MdAPE), pct(summarise(loo[SizeOnly]).MdAPE),
			pct(summarise(lofo[AsPublished]).MdAPE), pct(summarise(lofo[SizeOnly]).MdAPE))
	}
}
