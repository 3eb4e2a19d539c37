package estimate

import (
	"math"
	"runtime"
	"sync"

	"meridian.dev/meridian/catalog"
)

// fit is what TestFit finds: the constants of fitted.go.
type fit struct {
	hiddenExp, straggler, olderStack, runEff float64
	critScale                                float64 // a in the critical batch a·C^b
	// Candidate run terms (runTerms); fitted only when their grids
	// (fitTokensPerParam, fitJobFLOPs, fitOlderChipEff) have more than one
	// point, which only TestCandidates opens.
	runTerms
	// Sequence lengths of runs on chips launched before and since
	// sequenceGenerationYear: the medians of the fitting half's.
	seqOlder, seqNewer float64
	// Spreads by Inputs: σ below and above the median.
	low, high [2]float64
	loss      float64
}

// Grids the fitter searches. runEfficiency is solved for each point.
var (
	fitHiddenExp  = grid(0, 1.5, 0.1)
	fitStraggler  = grid(0, 0.05, 0.005)
	fitOlderStack = grid(0, 0.3, 0.025)
	fitCritScale  = grid(0.025, 0.3, 0.025)
	// The candidate run terms are held at no effect: TestCandidates opens
	// one grid at a time to compare them by cross-validation.
	fitTokensPerParam = []float64{noRunTerms.tppExp}
	fitJobFLOPs       = []float64{noRunTerms.flopsExp}
	fitOlderChipEff   = []float64{noRunTerms.olderChipEff}
)

func grid(lo, hi, step float64) []float64 {
	var out []float64
	for i := 0; ; i++ {
		x := lo + float64(i)*step
		if x > hi+step/2 {
			return out
		}
		out = append(out, math.Round(x*1e6)/1e6)
	}
}

// fitConstants fits fitted.go's constants to the fitting half only.
//
// The step and run constants minimise the mean |ln(reported ÷ estimated)|
// over the fitting runs, estimated both as published and from size alone:
// coordinate descent over the grids, from the grids' first points, one
// constant at a time (ties keep the current value) until a whole round
// changes nothing; at each point runEfficiency is the value that makes the
// median residual zero.
//
// The spreads are prediction errors, not in-sample residuals: each family
// of the fitting half is estimated by a fit to the other families, and those
// residuals give a normal in ln(reported ÷ estimated) for each way of
// estimating (predictionSpread).
func fitConstants(runs []CalibrationRun, halves []Half, accs map[string]*catalog.Accelerator) (fit, error) {
	var fitting []CalibrationRun
	for i, h := range halves {
		if h == Fitting {
			fitting = append(fitting, runs[i])
		}
	}
	best, err := fitRuns(accs, fitting)
	if err != nil {
		return fit{}, err
	}
	cv, err := crossValidate(accs, fitting)
	if err != nil {
		return fit{}, err
	}
	families := map[string]bool{}
	for _, c := range fitting {
		families[c.Family] = true
	}
	for in := range cv {
		var r []float64
		for _, row := range cv[in] {
			r = append(r, math.Log(row.Run.AcceleratorHours/row.Predicted))
		}
		sigma := predictionSpread(r, len(families))
		best.low[in], best.high[in] = sigma, sigma
	}
	return best, nil
}

// generationSequences returns the median sequence length of runs on chips
// launched before sequenceGenerationYear and of those launched since.
func generationSequences(accs map[string]*catalog.Accelerator, runs []CalibrationRun) (older, newer float64) {
	var o, n []float64
	for _, c := range runs {
		if acc := accs[c.Accelerator]; acc != nil && acc.Year > 0 {
			if acc.Year < sequenceGenerationYear {
				o = append(o, float64(c.SequenceLength))
			} else {
				n = append(n, float64(c.SequenceLength))
			}
		}
	}
	older, newer = median(o), median(n)
	if math.IsNaN(older) {
		older = sequenceFallback
	}
	if math.IsNaN(newer) {
		newer = sequenceFallback
	}
	return older, newer
}

// crossValidate predicts each family of runs with a fit to the other
// families, both ways of estimating. The families' fits are independent,
// so they run side by side on the machine's processors; the rows come out
// in the families' order whatever the order the fits end in.
func crossValidate(accs map[string]*catalog.Accelerator, runs []CalibrationRun) ([2][]CalibrationRow, error) {
	var families []string
	seen := map[string]bool{}
	for _, c := range runs {
		if !seen[c.Family] {
			seen[c.Family] = true
			families = append(families, c.Family)
		}
	}
	rows := make([][2][]CalibrationRow, len(families))
	errs := make([]error, len(families))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(families)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				rows[i], errs[i] = predictFamily(accs, runs, families[i])
			}
		}()
	}
	for i := range families {
		next <- i
	}
	close(next)
	wg.Wait()
	var cv [2][]CalibrationRow
	for i := range families {
		if errs[i] != nil {
			return cv, errs[i]
		}
		for in := range cv {
			cv[in] = append(cv[in], rows[i][in]...)
		}
	}
	return cv, nil
}

// predictFamily estimates family fam's runs both ways with constants fitted
// to the other runs.
func predictFamily(accs map[string]*catalog.Accelerator, runs []CalibrationRun, fam string) ([2][]CalibrationRow, error) {
	var out [2][]CalibrationRow
	var rest, held []CalibrationRun
	for _, c := range runs {
		if c.Family == fam {
			held = append(held, c)
		} else {
			rest = append(rest, c)
		}
	}
	f, err := fitRuns(accs, rest)
	if err != nil {
		return out, err
	}
	for _, in := range []Inputs{AsPublished, SizeOnly} {
		rep, err := calibrate(held, make([]Half, len(held)), accs, in, f.assumptions(), f.trialTerms())
		if err != nil {
			return out, err
		}
		out[in] = rep.Rows
	}
	return out, nil
}

// predictionSpread is σ of a normal with median 0 for the prediction
// residuals r of a new run: the root mean square of r about 0 (the median
// the fit sets), widened for a prediction from few independent residuals by
// t(k−1, 0.9)·√(1+1/k) ÷ z(0.9), the normal prediction interval's
// small-sample factor, with k the families the residuals come from: runs of
// one family share a team, a cluster and a software stack, so their errors
// move together and a family, not a run, is one independent draw. One σ
// serves both sides: a side's own σ would rest on half as many residuals.
func predictionSpread(r []float64, families int) float64 {
	if len(r) == 0 || families < 2 {
		return 0
	}
	var ss float64
	for _, x := range r {
		ss += x * x
	}
	k := float64(families)
	return math.Sqrt(ss/float64(len(r))) * studentT90(families-1) * math.Sqrt(1+1/k) / z90
}

// studentT90 is the 90th percentile of Student's t with df degrees of
// freedom, by Hill's (1970) expansion around the normal quantile (error
// under 1e-4 for df ≥ 5).
func studentT90(df int) float64 {
	z := z90
	v := float64(df)
	g1 := (z*z*z + z) / 4
	g2 := (5*math.Pow(z, 5) + 16*z*z*z + 3*z) / 96
	g3 := (3*math.Pow(z, 7) + 19*math.Pow(z, 5) + 17*z*z*z - 15*z) / 384
	return z + g1/v + g2/(v*v) + g3/(v*v*v)
}

func (f fit) assumptions() map[string]float64 {
	return map[string]float64{"kernelHiddenExponent": f.hiddenExp, "stragglerJitter": f.straggler,
		"olderStackPenalty": f.olderStack, "runEfficiency": f.runEff, "criticalBatchScale": f.critScale,
		"sequenceOlderChips": f.seqOlder, "sequenceNewerChips": f.seqNewer}
}

// fitRuns fits the step and run constants to runs (see fitConstants); the
// sequence lengths of each chip generation are the runs' medians.
func fitRuns(accs map[string]*catalog.Accelerator, runs []CalibrationRun) (fit, error) {
	halves := make([]Half, len(runs))
	var failed error
	residuals := func(f fit) []float64 {
		var all []float64
		for _, in := range []Inputs{AsPublished, SizeOnly} {
			rep, err := calibrate(runs, halves, accs, in, f.assumptions(), f.trialTerms())
			if err != nil {
				failed = err
				return []float64{0}
			}
			for _, row := range rep.Rows {
				all = append(all, math.Log(row.Run.AcceleratorHours/row.Predicted))
			}
		}
		return all
	}
	eval := func(f fit) fit {
		f.runEff = 1
		// Hours scale as 1/runEfficiency but for the warm-up: solve, then measure.
		f.runEff = math.Round(math.Min(1, math.Exp(-median(residuals(f))))*1e4) / 1e4
		f.loss = 0
		all := residuals(f)
		for _, r := range all {
			f.loss += math.Abs(r)
		}
		f.loss /= float64(len(all))
		return f
	}
	older, newer := generationSequences(accs, runs)
	cur := eval(fit{hiddenExp: fitHiddenExp[0], straggler: fitStraggler[0], olderStack: fitOlderStack[0], critScale: fitCritScale[0],
		seqOlder: older, seqNewer: newer, runTerms: noRunTerms})
	for round := 0; round < 20; round++ {
		changed := false
		for _, dim := range []struct {
			grid []float64
			set  func(*fit, float64)
		}{
			{fitHiddenExp, func(f *fit, x float64) { f.hiddenExp = x }},
			{fitStraggler, func(f *fit, x float64) { f.straggler = x }},
			{fitOlderStack, func(f *fit, x float64) { f.olderStack = x }},
			{fitCritScale, func(f *fit, x float64) { f.critScale = x }},
			{fitTokensPerParam, func(f *fit, x float64) { f.tppExp = x }},
			{fitJobFLOPs, func(f *fit, x float64) { f.flopsExp = x }},
			{fitOlderChipEff, func(f *fit, x float64) { f.olderChipEff = x }},
		} {
			if len(dim.grid) < 2 {
				continue
			}
			for _, x := range dim.grid {
				try := cur
				dim.set(&try, x)
				if try = eval(try); try.loss < cur.loss-1e-12 {
					cur, changed = try, true
				}
			}
		}
		if !changed {
			break
		}
	}
	return cur, failed
}

// runTerms are whole-run terms tried as candidates for the fit and not
// adopted (constants.go says what each stands for): running time ×
// (tokens ÷ (20·active parameters))^tppExp × (FLOPs ÷ 10²³)^flopsExp, ÷
// olderChipEff on chips launched before sequenceGenerationYear. Only the
// fitter sets them (Input.terms); no job can.
type runTerms struct {
	tppExp, flopsExp, olderChipEff float64
}

// noRunTerms is every candidate term at no effect.
var noRunTerms = runTerms{olderChipEff: 1}

// trialTerms are f's run terms for Input.terms: nil when they have no
// effect, so that the fit estimates as Estimate does.
func (f fit) trialTerms() *runTerms {
	if f.runTerms == noRunTerms {
		return nil
	}
	t := f.runTerms
	return &t
}

// factor is the running-time factor of the terms for a job of flops FLOPs on acc.
func (t *runTerms) factor(job *catalog.TrainingJobSpec, acc *catalog.Accelerator, flops float64) float64 {
	f := 1.0
	if t.tppExp != 0 {
		f *= math.Pow(job.Tokens/(job.Model.Active()*tokensPerParamReference), t.tppExp)
	}
	if t.flopsExp != 0 {
		f *= math.Pow(flops/jobFLOPsReference, t.flopsExp)
	}
	if y := acc.Year; y > 0 && y < sequenceGenerationYear {
		f /= t.olderChipEff
	}
	return f
}
