package estimate

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"meridian.dev/meridian/catalog"
)

// Input is one question to the estimator: this job on Count of this accelerator.
type Input struct {
	// Job is a job the loader has validated (catalog.Load): Estimate checks
	// again only that its numbers are finite and in range (checkInput).
	Job         *catalog.TrainingJobSpec
	Accelerator *catalog.Accelerator
	Count       int
	// PricePerHour is USD per accelerator-hour; 0 leaves cost at 0. The job's
	// spec.assumptions.pricePerHour, when set, wins.
	PricePerHour float64
	// SkipAssumptions leaves Result.Assumptions nil, for callers (the planner)
	// that estimate thousands of placements and print few.
	SkipAssumptions bool
	// assumptionsChecked says the caller (the calibration's fitter, which
	// sets the same trial constants on every run it estimates) checked
	// Job.Assumptions already (checkAssumptions).
	assumptionsChecked bool
	// terms are the fitter's trial run terms (fit.go); nil applies none.
	terms *runTerms
}

// Result is the estimator's answer; JSON field names are part of the public
// contract (SCHEMA.md, estimate -o json).
type Result struct {
	FLOPs                  float64 `json:"flops"`
	AcceleratorHours       float64 `json:"acceleratorHours"`
	Hours                  float64 `json:"hours"`
	MFU                    float64 `json:"mfu"`
	Goodput                float64 `json:"goodput"`
	MemoryPerAcceleratorGB float64 `json:"memoryPerAcceleratorGB"`
	Fits                   bool    `json:"fits"`
	CostUSD                float64 `json:"costUSD"`
	// HoursLow and HoursHigh bound the central 80 % interval of Hours (its
	// 10th and 90th percentiles), from how the calibration runs scattered
	// around their estimates; CostLowUSD and CostHighUSD bound CostUSD alike.
	HoursLow    float64 `json:"hoursLow"`
	HoursHigh   float64 `json:"hoursHigh"`
	CostLowUSD  float64 `json:"costLowUSD"`
	CostHighUSD float64 `json:"costHighUSD"`
	// PeakTFLOPS is the dense peak per accelerator that MFU is measured
	// against, and MFUBasis its precision (bf16, fp16 or fp8): MFU conventions
	// differ between sources (compute facts §6.7), so the basis travels with it.
	PeakTFLOPS float64 `json:"peakTFLOPS"`
	MFUBasis   string  `json:"mfuBasis"`
	// UsableMemoryGB is accelerator memory less the headroom; Fits compares
	// MemoryPerAcceleratorGB with it (0 when the accelerator's memory is unknown).
	UsableMemoryGB float64  `json:"usableMemoryGB"`
	Assumptions    []string `json:"assumptions"`
	// Spread gives any quantile of Hours, AcceleratorHours and CostUSD:
	// Hours × Spread.Factor(q).
	Spread Spread `json:"-"`
}

// MaxCount is the most accelerators one estimate accepts (Input.Count).
const MaxCount = maxCountSearch

// ErrJobNumbers is what every error caused by the job's own numbers
// is (errors.Is): an estimate that overflows, a spec.assumptions value
// at odds with the job. A caller citing where to look (the planner) cites
// the job, not the accelerator.
var ErrJobNumbers = errors.New("estimate: the job's numbers")

// jobError is an error of the job's numbers, its message its own.
type jobError struct{ msg string }

func (e *jobError) Error() string        { return e.msg }
func (e *jobError) Is(target error) bool { return target == ErrJobNumbers }

// ErrNotImplemented is kept for callers written against the first contract;
// Estimate no longer returns it.
var ErrNotImplemented = errors.New("estimate: not implemented yet")

// work carries the intermediate values of one estimate, for the assumptions.
type work struct {
	p            params
	fl           flopsBreakdown
	mem          memory
	shape        shape
	st           step
	peakTF       float64
	basis        string
	balance      float64
	balanceKnown bool
	scaleUpGBs   float64
	scaleUpKnown bool
	usable       float64 // bytes a chip may fill; 0 when its memory is unknown
	straggle     float64 // step-time factor of stragglers
	nodes        float64
	ckptFactor   float64 // wall-time factor of checkpoint stalls
	ckptStall    float64 // s per checkpoint
	ckptEvery    float64 // h
	runMFU       float64 // model FLOPs utilisation while running, before warm-up
	goodput      float64
	price        float64
}

// Estimate answers in for a job the loader has validated. It fails only when
// the job or accelerator is missing, the count is out of range, or the
// accelerator lacks its 16-bit peak. The method (see the package
// documentation):
//
//	hours     = steps × step × stragglers ÷ runEfficiency × checkpoints ÷ goodput + warm-up
//	step      = max(compute, data-parallel + all-to-all) + tensor-parallel
//	compute   = work ÷ (peak × E/(1+κ·(peak/BW)·(h₀/h)^γ)) × recompute × (1 + bubble)
//	interval  = hours × Spread.Factor(0.1 … 0.9)
//
// Keys of spec.assumptions that the estimator does not read are ignored.
func Estimate(in Input) (Result, error) {
	var (
		r Result
		w work
	)
	if err := run(&in, &w, &r); err != nil {
		return Result{}, err
	}
	if !in.SkipAssumptions {
		r.Assumptions = assumptions(&in, &w, &r)
	}
	return r, nil
}

// run is Estimate with its working values left in w, for the assumptions
// and for tests.
func run(in *Input, w *work, r *Result) error {
	job, acc := in.Job, in.Accelerator
	if job == nil {
		return errors.New("estimate: no job given")
	}
	if acc == nil {
		return errors.New("estimate: no accelerator given")
	}
	if in.Count < 1 || in.Count > maxCountSearch {
		return fmt.Errorf("count %d: want 1 to %d accelerators", in.Count, maxCountSearch)
	}
	if err := checkInput(in); err != nil {
		return err
	}
	w.p = defaultParams()
	p := &w.p
	p.applyOverrides(job.Assumptions)
	if e := job.Model.Experts; e > 0 && p.moeTopK > float64(e) {
		// The loader checks expertsPerToken against experts, but not this
		// key, which the time model reads in its place.
		return &jobError{fmt.Sprintf("spec.assumptions.moeTopK %s is more than spec.model.experts (%d): a token is routed to at most every expert", g(p.moeTopK), e)}
	}
	var err error
	w.peakTF, w.basis, err = peak(acc, job.PrecisionOrDefault())
	if err != nil {
		return err
	}
	count := float64(in.Count)
	m := &job.Model

	// FLOPs.
	w.fl = breakdown(job, p)
	r.FLOPs = w.fl.total

	// Memory.
	memGB := acc.MemoryGB.V()
	memBytes := memGB * 1e9
	var usable float64
	if acc.MemoryGB.Known() && memGB > 0 {
		r.UsableMemoryGB = memGB * (1 - p.headroom)
		usable = r.UsableMemoryGB * 1e9
	} else {
		memBytes = 0
	}
	w.usable = usable
	w.mem = memoryFor(job, staticBytes(job, w.fl.trainable, p), memBytes, usable, in.Count, p)
	r.MemoryPerAcceleratorGB = w.mem.total / 1e9
	if usable > 0 {
		r.Fits = r.MemoryPerAcceleratorGB <= r.UsableMemoryGB
	}

	// Chip balance and links.
	if bw := acc.MemoryBandwidthTBs.V(); acc.MemoryBandwidthTBs.Known() && bw > 0 {
		w.balance, w.balanceKnown = w.peakTF/bw, true
	} else {
		w.balance = fallbackBalance * w.peakTF / acc.BF16TFLOPS.V()
	}
	w.scaleUpGBs, w.scaleUpKnown = acc.ScaleUpGBs.V(), acc.ScaleUpGBs.Known() && acc.ScaleUpGBs.V() > 0
	if !w.scaleUpKnown {
		w.scaleUpGBs = pcieScaleUpGBs
	}
	if p.scaleUpGBs > 0 {
		w.scaleUpGBs, w.scaleUpKnown = p.scaleUpGBs, true
	}

	// The step.
	w.shape = modelShape(m, p, acc)
	stepModel(w, job, acc, count)

	// The whole run.
	w.goodput = 1 / (1 + count*p.lostHours/p.mtbf)
	r.Goodput = w.goodput
	if p.goodput > 0 {
		r.Goodput = p.goodput
	}
	w.nodes = math.Max(1, math.Ceil(count/p.scaleUpDomain))
	w.straggle = 1
	if w.nodes > 1 && p.straggler > 0 {
		w.straggle += p.straggler * math.Sqrt(2*math.Log(w.nodes))
	}
	w.ckptEvery = job.CheckpointEvery.Hours()
	if !(w.ckptEvery > 0) {
		w.ckptEvery = defaultCheckpointEveryHours
	}
	w.ckptStall = w.mem.staticPerChip / (p.ckptGBs * 1e9)
	w.ckptFactor = 1 + w.ckptStall/(w.ckptEvery*3600)
	steps := r.FLOPs / (w.fl.perToken * w.st.batch)
	running := steps * w.st.seconds * w.straggle / p.runEff * w.ckptFactor // s, without interruptions
	if in.terms != nil {
		running *= in.terms.factor(job, acc, r.FLOPs)
	}
	w.runMFU = r.FLOPs / (count * w.peakTF * 1e12 * running)
	r.PeakTFLOPS, r.MFUBasis = w.peakTF, w.basis
	if p.mfu > 0 {
		r.MFU = p.mfu
		r.Hours = r.FLOPs / (count * w.peakTF * 1e12 * r.MFU * r.Goodput) / 3600
	} else {
		r.Hours = running/r.Goodput/3600 + p.warmup
		r.MFU = r.FLOPs / (count * w.peakTF * 1e12 * r.Hours * 3600 * r.Goodput)
	}
	r.AcceleratorHours = r.Hours * count
	w.price = in.PricePerHour
	if p.set("pricePerHour") {
		w.price = p.pricePerHour
	}
	r.CostUSD = r.AcceleratorHours * w.price
	r.Spread = spreadFor(w.shape.given, p)
	lo, hi := r.Spread.interval()
	r.HoursLow, r.HoursHigh = r.Hours*lo, r.Hours*hi
	r.CostLowUSD, r.CostHighUSD = r.CostUSD*lo, r.CostUSD*hi
	for _, x := range [...]float64{r.FLOPs, r.Hours, r.MFU, r.MemoryPerAcceleratorGB, r.CostUSD, r.HoursHigh, r.CostHighUSD} {
		if math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
			return overflow(job, r.FLOPs)
		}
	}
	return nil
}

// overflow is the error of an estimate whose numbers are not finite,
// naming what the job set that can make them so: the model's size and
// tokens when its FLOPs overflow, else the spec.assumptions it sets (any
// of them a hair above 0 can, mfu = 1e-300 say), else again the size.
func overflow(job *catalog.TrainingJobSpec, flops float64) error {
	const msg = "estimate: the numbers overflow"
	var set []string
	if !math.IsInf(flops, 0) && !math.IsNaN(flops) {
		for k, v := range job.Assumptions {
			if _, ok := keys.Lookup(k); ok {
				set = append(set, "spec.assumptions."+k+" = "+g(v))
			}
		}
	}
	if len(set) == 0 {
		return &jobError{fmt.Sprintf("%s: check spec.model.parameters and spec.tokens (%g × %g)", msg, job.Model.Parameters, job.Tokens)}
	}
	sort.Strings(set)
	return &jobError{fmt.Sprintf("%s: check %s, and spec.model.parameters and spec.tokens", msg, strings.Join(set, ", "))}
}

func g(x float64) string { return strconv.FormatFloat(x, 'g', 4, 64) }
