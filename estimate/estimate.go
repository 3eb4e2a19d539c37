package estimate

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"meridian.dev/meridian/catalog"
)

// Input is one question to the estimator: this job on Count of this accelerator.
type Input struct {
	Job         *catalog.TrainingJobSpec
	Accelerator *catalog.Accelerator
	Count       int
	// PricePerHour is USD per accelerator-hour; 0 leaves cost at 0. The job's
	// spec.assumptions.pricePerHour, when set, wins.
	PricePerHour float64
	// SkipAssumptions leaves Result.Assumptions nil, for callers (the planner)
	// that estimate thousands of placements and print few.
	SkipAssumptions bool
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
	// PeakTFLOPS is the dense peak per accelerator that MFU is measured
	// against, and MFUBasis its precision (bf16, fp16 or fp8): MFU conventions
	// differ between sources (compute facts §6.7), so the basis travels with it.
	PeakTFLOPS float64 `json:"peakTFLOPS"`
	MFUBasis   string  `json:"mfuBasis"`
	// UsableMemoryGB is accelerator memory less the headroom; Fits compares
	// MemoryPerAcceleratorGB with it (0 when the accelerator's memory is unknown).
	UsableMemoryGB float64  `json:"usableMemoryGB"`
	Assumptions    []string `json:"assumptions"`
}

// ErrNotImplemented is kept for callers written against the first contract;
// Estimate no longer returns it.
var ErrNotImplemented = errors.New("estimate: not implemented yet")

// flopsBreakdown is TrainingFLOPs with its parts.
type flopsBreakdown struct {
	perToken   float64 // model FLOPs per training token
	linear     float64 // 6N (training) or 4N (adapters), per token
	attention  float64 // 12·L·h·T per token, 0 when the shape is unknown
	adapter    float64 // 6·trainable adapter params per token
	trainable  float64 // trainable adapter parameters (lora/qlora)
	total      float64
	shapeKnown bool
}

func isAdapter(method string) bool {
	return method == catalog.MethodLoRA || method == catalog.MethodQLoRA
}

// trainableAdapterParams is the adapter parameter count of a lora/qlora job:
// spec.lora.trainableFraction × parameters when given; else 18·h·r per layer
// × layers when the shape is known (adapters on q, k, v, o and the two MLP
// matrices); else loraTrainableFraction × parameters.
func trainableAdapterParams(job *catalog.TrainingJobSpec, p *params) float64 {
	m := job.Model
	if job.LoRA != nil && job.LoRA.TrainableFraction > 0 {
		return job.LoRA.TrainableFraction * m.Parameters
	}
	if m.Layers > 0 && m.HiddenSize > 0 && !p.set("loraTrainableFraction") {
		r := defaultLoRARank
		if job.LoRA != nil && job.LoRA.Rank > 0 {
			r = job.LoRA.Rank
		}
		return math.Min(loraParamsPerLayerPerRankPerHidden*float64(m.HiddenSize)*float64(r)*float64(m.Layers), m.Parameters)
	}
	return p.loraFraction * m.Parameters
}

func breakdown(job *catalog.TrainingJobSpec, p *params) flopsBreakdown {
	var b flopsBreakdown
	m := job.Model
	n := m.Active()
	if m.Layers > 0 && m.HiddenSize > 0 && m.SequenceLength > 0 {
		b.shapeKnown = true
		b.attention = 12 * float64(m.Layers) * float64(m.HiddenSize) * float64(m.SequenceLength)
	}
	if isAdapter(job.Method) {
		b.trainable = trainableAdapterParams(job, p)
		b.linear = 4 * n
		// Adapters see a share of tokens' active parameters as the base does.
		b.adapter = 6 * b.trainable * (n / m.Parameters)
	} else {
		b.linear = 6 * n
	}
	b.perToken = b.linear + b.attention + b.adapter
	b.total = b.perToken * job.Tokens
	return b
}

// TrainingFLOPs is the model FLOPs of the whole job, independent of hardware:
//
//   - pretrain and full-finetune: (6·N + 12·L·h·T) · D, with N the active
//     parameters, D the job's tokens, and the PaLM attention term 12·L·h·T
//     (layers, hidden size, sequence length) when all three are given
//     (Kaplan et al. 2020; PaLM Appendix B). A full fine-tune is accounted as
//     pretraining over the fine-tune tokens.
//   - lora and qlora: (2·N forward + 2·N backward activation gradients, no
//     weight gradients for frozen weights, + 12·L·h·T + 6·A) · D, with A the
//     trainable adapter parameters.
//
// It returns 0 for a nil job.
func TrainingFLOPs(job *catalog.TrainingJobSpec) float64 {
	if job == nil {
		return 0
	}
	p := defaultParams()
	_ = p.applyOverrides(job.Assumptions)
	if job.Model.Parameters <= 0 || job.Tokens <= 0 {
		return 0
	}
	return breakdown(job, &p).total
}

// memory holds the per-accelerator memory picture and the layout of one count.
type memory struct {
	staticPerChip      float64 // bytes of weights, gradients and optimizer state
	activationsPerChip float64 // bytes
	tensorParallel     float64 // t
	pipeline           float64 // pp = modelParallel / t
	modelParallel      float64 // t·pp, the group one replica is split over
	checkpointed       float64 // layers checkpointed in full (0 = selective recompute only)
	layers             float64
	total              float64 // bytes
}

// staticBytes is an unsharded replica's weights, gradients and optimizer state:
// 16 B/param for pretrain and full-finetune; 2 B/param frozen + 16 B per
// adapter parameter for lora; 0.5 B/param frozen + 16 B per adapter parameter
// for qlora.
func staticBytes(job *catalog.TrainingJobSpec, trainable float64, p *params) float64 {
	n := job.Model.Parameters
	if isAdapter(job.Method) {
		return frozenBytes(job.Method, p)*n + p.bytesPerParam*trainable
	}
	return p.bytesPerParam * n
}

// frozenBytes is bytes per frozen base parameter: 2 for lora, 0.5 for qlora,
// unless frozenBytesPerParam is set.
func frozenBytes(method string, p *params) float64 {
	switch {
	case p.frozenBytes > 0:
		return p.frozenBytes
	case method == catalog.MethodQLoRA:
		return bytesPerParamFrozen4
	default:
		return bytesPerParamFrozen16
	}
}

// modelParallelDegree is the tensor×pipeline group size of the layout for
// the time model: the smallest power of two, from t up to count (and, for a
// dense model, at most t·layers: one layer per pipeline stage), at which a replica's unsharded
// state fills at most modelParallelMemoryShare of one chip. Data parallelism
// runs across groups, so larger groups move less data-parallel traffic per chip.
func modelParallelDegree(static, memBytes, t float64, layers int, count int, p *params) float64 {
	m := t
	if memBytes <= 0 {
		return m
	}
	limit := float64(count)
	if layers > 0 {
		limit = math.Min(limit, t*float64(layers))
	}
	for static/m > p.mpShare*memBytes && m*2 <= limit {
		m *= 2
	}
	return m
}

// memoryFor is the memory per accelerator on count chips and the layout
// behind it:
//
//   - weights, gradients and optimizer state: static/count, as ZeRO-3/FSDP
//     shards them over the data-parallel ranks of a model already split over
//     t·pp tensor and pipeline ranks;
//   - activations (Korthikanti et al. 2022, compute facts §5.5), with tensor
//     and sequence parallelism over t ranks: a layer kept with selective
//     recompute holds activationBytes·s·b·h/t bytes (34), a layer checkpointed
//     in full holds checkpointBytes·s·b·h/t (2, its input). Pipeline
//     parallelism gives each stage L/pp layers, but under 1F1B the first stage
//     holds pp micro-batches in flight, so a chip holds L layers' worth of one
//     micro-batch whatever pp is. When k layers are checkpointed in full, one
//     layer's full activations are rebuilt during its backward pass: + 34·s·b·h/t.
//
// The layout is a practitioner's: the smallest power-of-two t up to the
// scale-up domain (and count) at which every layer fits with selective
// recompute; failing that, the largest t with the fewest layers checkpointed
// in full that fit (each costs one more forward pass, see recomputeFactor);
// failing even all L, all L are checkpointed and the job does not fit.
// usable is the memory the job may fill (bytes; ≤ 0 when unknown).
func memoryFor(job *catalog.TrainingJobSpec, static, memBytes, usable float64, count int, p *params) memory {
	var mm memory
	m := job.Model
	mm.staticPerChip = static / float64(count)
	tMax := 1.0
	for tMax*2 <= math.Min(p.scaleUpDomain, float64(count)) {
		tMax *= 2
	}
	mm.tensorParallel = 1 // no activations to split, or no memory to fit them in
	if m.Layers > 0 && m.HiddenSize > 0 && m.SequenceLength > 0 {
		tokensHidden := float64(m.SequenceLength) * p.microBatch * float64(m.HiddenSize)
		sel := p.activationBytes * tokensHidden // per layer, before dividing by t
		full := p.checkpointBytes * tokensHidden
		L := float64(m.Layers)
		mm.layers = L
		avail := usable - mm.staticPerChip
		chosen := false
		if usable > 0 {
			for t := 1.0; t <= tMax; t *= 2 {
				if L*sel/t <= avail {
					mm.tensorParallel, chosen = t, true
					break
				}
			}
		} else {
			chosen = true // memory unknown: nothing to fit against
		}
		if !chosen {
			mm.tensorParallel = tMax
			if full < sel {
				// Fewest k with ((L−k)·sel + k·full + sel)/t ≤ avail.
				k := math.Ceil((L*sel + sel - avail*tMax) / (sel - full))
				mm.checkpointed = math.Min(math.Max(k, 1), L)
			}
		}
		acts := (L - mm.checkpointed) * sel
		if mm.checkpointed > 0 {
			acts += mm.checkpointed*full + sel
		}
		mm.activationsPerChip = acts / mm.tensorParallel
	}
	layers := m.Layers
	if m.ActiveParameters > 0 && m.ActiveParameters < m.Parameters {
		layers = 0 // MoE: expert parallelism, not only pipeline stages, splits the replica
	}
	mm.modelParallel = modelParallelDegree(static, memBytes, mm.tensorParallel, layers, count, p)
	mm.pipeline = mm.modelParallel / mm.tensorParallel
	mm.total = mm.staticPerChip + mm.activationsPerChip
	return mm
}

// recomputeFactor is executed FLOPs ÷ model FLOPs: selective recompute costs
// 1 + T/(6h) (Korthikanti et al. 2022; HW/model FLOPs), capped at full
// recompute's 4/3 (one more forward pass: 8ND executed for 6ND; compute facts
// §5.2); layers checkpointed in full cost 4/3 each.
func recomputeFactor(seq, hidden int, mm *memory) float64 {
	sel := math.Min(1+float64(seq)/(6*float64(hidden)), fullRecomputeFactor)
	if mm.layers <= 0 || mm.checkpointed <= 0 {
		return sel
	}
	f := mm.checkpointed / mm.layers
	return (1-f)*sel + f*fullRecomputeFactor
}

// peak returns the dense peak TFLOPS at the job's precision and the precision
// it really is: FP8 falls back to the 16-bit peak when unknown; an unknown
// 16-bit peak is an error naming the accelerator.
func peak(acc *catalog.Accelerator, precision string) (float64, string, error) {
	if !acc.BF16TFLOPS.Known() || acc.BF16TFLOPS.V() <= 0 {
		return 0, "", fmt.Errorf("accelerator %s: dense BF16/FP16 peak (bf16TFLOPS) is unknown; the estimate needs it", acc.ID)
	}
	if precision == "fp8" {
		if acc.FP8TFLOPS.Known() && acc.FP8TFLOPS.V() > 0 {
			return acc.FP8TFLOPS.V(), "fp8", nil
		}
		return acc.BF16TFLOPS.V(), "bf16", nil
	}
	return acc.BF16TFLOPS.V(), precision, nil
}

// work carries the intermediate values of one estimate, for the assumptions.
type work struct {
	p            params
	fl           flopsBreakdown
	mem          memory
	peakTF       float64
	basis        string
	balance      float64
	balanceKnown bool
	scaleUpGBs   float64
	scaleUpKnown bool
	linkGBs      float64
	linkName     string
	eta          float64
	recompute    float64
	batch        float64
	dp           float64
	tCompute     float64
	tDP, tMoE    float64
	mfuModel     float64
	goodput      float64
	price        float64
}

// Estimate answers in. It returns an error when the input is incomplete, one
// of its spec.assumptions keys is out of range, or the accelerator lacks
// its 16-bit peak. The method (see the package documentation):
//
//	hours   = FLOPs ÷ (count × peak × MFU × goodput) ÷ 3600
//	MFU     = E/(1+κ·peak/bandwidth) ÷ recompute × compute ÷ max(compute, communication)
//	goodput = 1 ÷ (1 + count × lostHoursPerInterruption ÷ mtbfChipHours)
//
// recompute is 1 + T/(6h) for selective recomputation, 4/3 for the layers the
// memory layout must checkpoint in full. Keys of spec.assumptions that the
// estimator does not read are ignored (catalog.World.Validate rejects keys
// that no package registered).
func Estimate(in Input) (Result, error) {
	var r Result
	job, acc := in.Job, in.Accelerator
	if job == nil {
		return r, errors.New("estimate: no job given")
	}
	if acc == nil {
		return r, errors.New("estimate: no accelerator given")
	}
	if in.Count < 1 || in.Count > maxCountSearch {
		return r, fmt.Errorf("count %d: want 1 to %d accelerators", in.Count, maxCountSearch)
	}
	m := job.Model
	if !(m.Parameters >= 1) || m.Parameters > 1e15 {
		return r, fmt.Errorf("spec.model.parameters %v: want 1 to 1e15", m.Parameters)
	}
	if m.ActiveParameters < 0 || m.ActiveParameters > m.Parameters || m.ActiveParameters != m.ActiveParameters {
		return r, fmt.Errorf("spec.model.activeParameters %v: want 0 (unset) to parameters (%g)", m.ActiveParameters, m.Parameters)
	}
	if !(job.Tokens >= 1) || job.Tokens > 1e16 {
		return r, fmt.Errorf("spec.tokens %v: want 1 to 1e16", job.Tokens)
	}
	if m.Layers < 0 || m.HiddenSize < 0 || m.SequenceLength < 0 {
		return r, errors.New("spec.model: layers, hiddenSize and sequenceLength must not be negative")
	}
	if l := job.LoRA; l != nil {
		if !(l.TrainableFraction >= 0 && l.TrainableFraction <= 1) {
			return r, fmt.Errorf("spec.lora.trainableFraction %v: want 0 (unset) to 1", l.TrainableFraction)
		}
		if l.Rank < 0 {
			return r, fmt.Errorf("spec.lora.rank %d: must not be negative", l.Rank)
		}
	}
	switch job.Method {
	case catalog.MethodPretrain, catalog.MethodFullFinetune, catalog.MethodLoRA, catalog.MethodQLoRA:
	case "":
		return r, errors.New("spec.method: required; accepted: pretrain, full-finetune, lora, qlora")
	default:
		return r, fmt.Errorf("spec.method %q: accepted: pretrain, full-finetune, lora, qlora", job.Method)
	}
	prec := job.PrecisionOrDefault()
	switch prec {
	case "bf16", "fp16", "fp8":
	default:
		return r, fmt.Errorf("spec.precision %q: accepted: bf16, fp8, fp16", prec)
	}
	if in.PricePerHour < 0 || in.PricePerHour != in.PricePerHour {
		return r, fmt.Errorf("price %v: want a non-negative USD per accelerator-hour", in.PricePerHour)
	}

	w := work{p: defaultParams()}
	p := &w.p
	if err := p.applyOverrides(job.Assumptions); err != nil {
		return r, err
	}
	var err error
	w.peakTF, w.basis, err = peak(acc, prec)
	if err != nil {
		return r, err
	}
	count := float64(in.Count)

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
	w.mem = memoryFor(job, staticBytes(job, w.fl.trainable, p), memBytes, usable, in.Count, p)
	r.MemoryPerAcceleratorGB = w.mem.total / 1e9
	if usable > 0 {
		r.Fits = r.MemoryPerAcceleratorGB <= r.UsableMemoryGB
	}

	// Chip efficiency (roofline).
	if bw := acc.MemoryBandwidthTBs.V(); acc.MemoryBandwidthTBs.Known() && bw > 0 {
		w.balance, w.balanceKnown = w.peakTF/bw, true
	} else {
		w.balance = fallbackBalance * w.peakTF / acc.BF16TFLOPS.V()
	}
	w.eta = p.maxEff / (1 + p.bytesPerFLOP*w.balance)

	// Layout and communication.
	w.scaleUpGBs, w.scaleUpKnown = acc.ScaleUpGBs.V(), acc.ScaleUpGBs.Known() && acc.ScaleUpGBs.V() > 0
	if !w.scaleUpKnown {
		w.scaleUpGBs = pcieScaleUpGBs
	}
	if p.scaleUpGBs > 0 {
		w.scaleUpGBs, w.scaleUpKnown = p.scaleUpGBs, true
	}
	if count <= p.scaleUpDomain {
		w.linkGBs, w.linkName = w.scaleUpGBs/2, "scale-up"
	} else {
		w.linkGBs, w.linkName = math.Min(p.scaleOutGBs, w.scaleUpGBs/2), "scale-out"
	}
	mp := w.mem.modelParallel
	w.dp = math.Max(1, math.Floor(count/mp))
	w.batch = p.globalBatchTokens
	if m.SequenceLength > 0 {
		w.batch = math.Max(w.batch, w.dp*float64(m.SequenceLength))
	}
	flopsPerChipStep := w.fl.perToken * w.batch / count
	w.recompute = 1
	if w.fl.shapeKnown {
		w.recompute = recomputeFactor(m.SequenceLength, m.HiddenSize, &w.mem)
	}
	if p.set("recomputeOverhead") {
		w.recompute = 1 + p.recomputeOverhead
	}
	w.tCompute = flopsPerChipStep * w.recompute / (w.peakTF * 1e12 * w.eta)
	if job.Method == catalog.MethodQLoRA {
		w.tCompute *= 1 + p.qloraOverhead
	}
	if w.dp > 1 {
		w.tDP = dpBytesPerStep(job, w.fl.trainable, p) / mp / (w.linkGBs * 1e9)
	}
	if m.ActiveParameters > 0 && m.ActiveParameters < m.Parameters && m.Layers > 0 && m.HiddenSize > 0 && count > 1 {
		// Expert all-to-all: dispatch and combine, forward and backward.
		perToken := 2 * 2 * p.moeTopK * float64(m.HiddenSize) * float64(m.Layers) * moeBytesPerElement
		w.tMoE = perToken * w.batch / count / (w.linkGBs * 1e9)
	}
	step := math.Max(w.tCompute, w.tDP+w.tMoE)
	w.mfuModel = flopsPerChipStep / (w.peakTF * 1e12 * step)
	r.MFU = w.mfuModel
	if p.mfu > 0 {
		r.MFU = p.mfu
	}

	// Goodput.
	w.goodput = 1 / (1 + count*p.lostHours/p.mtbf)
	r.Goodput = w.goodput
	if p.goodput > 0 {
		r.Goodput = p.goodput
	}

	r.PeakTFLOPS, r.MFUBasis = w.peakTF, w.basis
	r.Hours = r.FLOPs / (count * w.peakTF * 1e12 * r.MFU * r.Goodput) / 3600
	r.AcceleratorHours = r.Hours * count
	w.price = in.PricePerHour
	if p.set("pricePerHour") {
		w.price = p.pricePerHour
	}
	r.CostUSD = r.AcceleratorHours * w.price
	for _, x := range [...]float64{r.FLOPs, r.Hours, r.MFU, r.MemoryPerAcceleratorGB, r.CostUSD} {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return Result{}, errors.New("estimate: the numbers overflow; check the model size, tokens and spec.assumptions")
		}
	}
	if !in.SkipAssumptions {
		r.Assumptions = assumptions(&in, &w, &r)
	}
	return r, nil
}

// dpBytesPerStep is data-parallel traffic per chip per step for a whole
// replica (before dividing by the model-parallel degree): dpBytesPerParam
// (6 B, ZeRO-3) per parameter for pretrain and full-finetune; for adapters the
// frozen weights are all-gathered twice (2 × their bytes) and adapter
// gradients reduce-scattered in bf16.
func dpBytesPerStep(job *catalog.TrainingJobSpec, trainable float64, p *params) float64 {
	n := job.Model.Parameters
	if isAdapter(job.Method) {
		return 2*frozenBytes(job.Method, p)*n + 2*trainable
	}
	return p.dpBytesPerParam * n
}

// MinCount is the smallest number of accelerators whose memory holds the job
// (0 when even maxCountSearch do not, the accelerator's memory is unknown, or
// the input is invalid). Memory per chip never grows with count, so the
// search is binary; it evaluates only the memory model, the same one
// Estimate uses for Fits.
func MinCount(job *catalog.TrainingJobSpec, acc *catalog.Accelerator) int {
	if job == nil || acc == nil || !acc.MemoryGB.Known() || acc.MemoryGB.V() <= 0 {
		return 0
	}
	if _, err := Estimate(Input{Job: job, Accelerator: acc, Count: 1, SkipAssumptions: true}); err != nil {
		return 0
	}
	p := defaultParams()
	_ = p.applyOverrides(job.Assumptions) // checked by Estimate above
	memGB := acc.MemoryGB.V()
	usable := memGB * (1 - p.headroom)
	static := staticBytes(job, breakdown(job, &p).trainable, &p)
	fits := func(n int) bool { return memoryFor(job, static, memGB*1e9, usable*1e9, n, &p).total/1e9 <= usable }
	if !fits(maxCountSearch) {
		return 0
	}
	lo, hi := 0, maxCountSearch // fits(hi) holds; fits(lo) does not (lo 0 is "none").
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if fits(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

func g(x float64) string { return strconv.FormatFloat(x, 'g', 4, 64) }
