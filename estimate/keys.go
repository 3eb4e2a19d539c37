package estimate

import (
	"sort"

	"meridian.dev/meridian/catalog"
)

// keys are the spec.assumptions keys the estimator reads, with what each
// means and the values it accepts. The loader checks a job's keys against
// them (AssumptionKeys), so Estimate trusts the values it is given.
var keys = catalog.AssumptionKeys{
	{Name: "mfu", Doc: "model FLOPs utilisation while running, 0–1 (replaces the step and whole-run model; goodput still applies)", Min: 0, Max: 1, MinOpen: true},
	{Name: "goodput", Doc: "effective share of wall time, 0–1 (replaces the interruption model)", Min: 0, Max: 1, MinOpen: true},
	{Name: "maxEfficiency", Doc: "E in chip efficiency E/(1+κ·(peak/bandwidth)·(h₀/h)^γ), 0–1", Min: 0, Max: 1, MinOpen: true},
	{Name: "bytesPerFLOP", Doc: "κ: non-matmul memory traffic per executed FLOP at hidden size 8,192, bytes", Min: 0, Max: 1000},
	{Name: "kernelHiddenExponent", Doc: "γ: how non-matmul traffic per FLOP grows as the hidden size shrinks, (h₀/h)^γ", Min: 0, Max: 3},
	{Name: "runEfficiency", Doc: "share of the tuned step rate a whole run realises (evaluation, data stalls, repeated steps), 0–1", Min: 0, Max: 1, MinOpen: true},
	{Name: "olderStackPenalty", Doc: "step-time share added per year an accelerator predates 2020 (older software stacks)", Min: 0, Max: 10},
	{Name: "causalAttentionShare", Doc: "share of the 12·L·h·T attention FLOPs a causal model executes (FlashAttention skips about half)", Min: 0, Max: 1},
	{Name: "stragglerJitter", Doc: "per-node step-time jitter σ, share of the step; a step waits σ·√(2·ln nodes) longer", Min: 0, Max: 1},
	{Name: "scaleOutGBs", Doc: "scale-out bandwidth per accelerator, GB/s one direction", Min: 0, Max: 1e6, MinOpen: true},
	{Name: "scaleUpGBs", Doc: "scale-up bandwidth per accelerator, GB/s bidirectional (replaces the catalog's)", Min: 0, Max: 1e6, MinOpen: true},
	{Name: "scaleUpDomain", Doc: "accelerators per scale-up domain", Min: 1, Max: 1e6},
	{Name: "globalBatchTokens", Doc: "tokens per optimizer step (replaces the critical-batch formula)", Min: 1, Max: 1e12},
	{Name: "criticalBatchScale", Doc: "a in the critical batch a·C^b tokens (C = training FLOPs)", Min: 0, Max: 1e9, MinOpen: true},
	{Name: "criticalBatchExponent", Doc: "b in the critical batch a·C^b tokens", Min: 0, Max: 1},
	{Name: "tensorParallelOverlap", Doc: "share of tensor-parallel traffic hidden behind compute, 0–1", Min: 0, Max: 1},
	{Name: "pipelineInterleave", Doc: "virtual pipeline stages per rank; the bubble (p−1)/m is divided by it", Min: 1, Max: 1000},
	{Name: "microBatch", Doc: "sequences per micro-batch", Min: 0, Max: 1e6, MinOpen: true},
	{Name: "memoryHeadroom", Doc: "share of accelerator memory kept free, 0–1", Min: 0, Max: 1, MaxOpen: true},
	{Name: "mtbfChipHours", Doc: "accelerator-hours between interruptions", Min: 0, Max: 1e12, MinOpen: true},
	{Name: "lostHoursPerInterruption", Doc: "wall hours lost per interruption", Min: 0, Max: 1e6},
	{Name: "checkpointWriteGBs", Doc: "checkpoint write bandwidth per accelerator, GB/s", Min: 0, Max: 1e6, MinOpen: true},
	{Name: "warmupHours", Doc: "wall hours a fresh allocation spends before its first useful step", Min: 0, Max: 1e4},
	{Name: "moeTopK", Doc: "routed experts per token (MoE); set, it wins over spec.model.expertsPerToken, which is used when it is not (8 when neither is)", Min: 1, Max: 1e6},
	{Name: "moeImbalance", Doc: "extra expert compute from uneven routing, share of the expert compute", Min: 0, Max: 10},
	{Name: "modelAspectRatio", Doc: "hidden size ÷ layers used to derive a shape the job does not give", Min: 1, Max: 1e5},
	{Name: "loraTrainableFraction", Doc: "trainable share of parameters for lora/qlora when spec.lora does not say, 0–1", Min: 0, Max: 1, MinOpen: true},
	{Name: "qloraDequantOverhead", Doc: "extra compute time for NF4 de-quantisation, share of compute", Min: 0, Max: 100},
	{Name: "pricePerHour", Doc: "USD per accelerator-hour (replaces the site's or --price)", Min: 0, Max: 1000},
	{Name: "bytesPerParam", Doc: "bytes per trained parameter for weights, gradients and optimizer state (16 for mixed-precision AdamW)", Min: 0, Max: 1000, MinOpen: true},
	{Name: "frozenBytesPerParam", Doc: "bytes per frozen base parameter for lora (2) and qlora (0.5)", Min: 0, Max: 100, MinOpen: true},
	{Name: "activationBytes", Doc: "activation bytes per token per hidden unit per layer with selective recompute (34)", Min: 0, Max: 1e4},
	{Name: "checkpointBytes", Doc: "bytes per token per hidden unit kept for a layer checkpointed in full (2: its input only)", Min: 0, Max: 1e4},
	{Name: "dpBytesPerParam", Doc: "data-parallel traffic per parameter per step, bytes (6 for ZeRO-3 in bf16)", Min: 0, Max: 1e4},
	{Name: "recomputeOverhead", Doc: "extra executed FLOPs for recomputation, share of model FLOPs (default T/(6h))", Min: 0, Max: 10},
	{Name: "sequenceOlderChips", Doc: "sequence length assumed when spec.model.sequenceLength is not given, on chips launched before 2022", Min: 1, Max: 1e7},
	{Name: "sequenceNewerChips", Doc: "sequence length assumed when spec.model.sequenceLength is not given, on chips launched in 2022 or later", Min: 1, Max: 1e7},
	{Name: "spreadSigma", Doc: "σ of ln(real ÷ estimated hours), the width of the interval (default from the calibration runs)", Min: 0, Max: 5},
}

func init() { sort.Slice(keys, func(i, j int) bool { return keys[i].Name < keys[j].Name }) }

// AssumptionKeys returns the spec.assumptions keys the estimator reads, with
// their meanings and accepted ranges, sorted by name. Pass them (merged with
// other readers' keys) to catalog.Load.
func AssumptionKeys() catalog.AssumptionKeys {
	return append(catalog.AssumptionKeys(nil), keys...)
}

// KeyNames returns the spec.assumptions keys the estimator reads, sorted.
func KeyNames() []string { return keys.Names() }

// params are the constants in force for one estimate.
type params struct {
	mfu, goodput            float64 // 0 = use the model
	maxEff, bytesPerFLOP    float64
	hiddenExp               float64
	runEff                  float64
	straggler               float64
	olderStack              float64
	causalShare             float64
	scaleOutGBs, scaleUpGBs float64 // scaleUpGBs 0 = catalog
	scaleUpDomain           float64
	globalBatchTokens       float64 // 0 = critical batch formula
	critScale, critExp      float64
	interleave              float64
	tpOverlap               float64
	microBatch              float64
	headroom                float64
	mtbf, lostHours         float64
	ckptGBs                 float64
	warmup                  float64
	moeTopK                 float64 // 0 = spec or default
	moeImbalance            float64
	aspect                  float64
	loraFraction            float64
	qloraOverhead           float64
	bytesPerParam           float64
	frozenBytes             float64 // 0 = method default
	activationBytes         float64
	checkpointBytes         float64
	dpBytesPerParam         float64
	seqOlder, seqNewer      float64
	recomputeOverhead       float64 // used when set
	pricePerHour            float64 // used when set
	spreadSigma             float64 // used when set
	assumptionsMap          map[string]float64
}

// baseParams are the defaults, built once; defaultParams copies them.
var baseParams = newDefaultParams()

func defaultParams() params { return baseParams }

func newDefaultParams() params {
	return params{
		maxEff: defaultMaxEfficiency, bytesPerFLOP: defaultBytesPerFLOP,
		hiddenExp: fittedKernelHiddenExponent, runEff: fittedRunEfficiency, straggler: fittedStragglerJitter,
		olderStack: fittedOlderStackPenalty, causalShare: defaultCausalAttentionShare,
		scaleOutGBs: defaultScaleOutGBs, scaleUpDomain: defaultScaleUpDomain,
		critScale: fittedCriticalBatchScale, critExp: defaultCriticalBatchExponent,
		interleave: defaultPipelineInterleave, tpOverlap: defaultTensorParallelOverlap, microBatch: defaultMicroBatch,
		headroom: defaultHeadroom,
		mtbf:     defaultMTBFChipHours, lostHours: defaultLostHoursPerInterruption,
		ckptGBs: defaultCheckpointWriteGBs, warmup: defaultWarmupHours,
		moeImbalance: defaultMoEImbalance, aspect: defaultAspectRatio,
		loraFraction: defaultLoRAFraction, qloraOverhead: defaultQLoRADequantOverhead,
		bytesPerParam: bytesPerParamAdamW, activationBytes: activationBytesPerTokenPerHidden,
		checkpointBytes: checkpointBytesPerTokenPerHidden,
		dpBytesPerParam: dpBytesPerParamFull,
		seqOlder:        fittedSequenceOlder, seqNewer: fittedSequenceNewer,
	}
}

// applyOverrides sets params from a job's spec.assumptions. The loader has
// checked every key and range (AssumptionKeys), so values are trusted here;
// keys the estimator does not read (the planner's) are skipped. When the
// anchors' constants change (E, κ, γ), E and κ are solved again unless the
// job sets them itself.
func (p *params) applyOverrides(m map[string]float64) {
	if len(m) == 0 {
		return
	}
	p.assumptionsMap = m
	for k, v := range m {
		switch k {
		case "mfu":
			p.mfu = v
		case "goodput":
			p.goodput = v
		case "maxEfficiency":
			p.maxEff = v
		case "bytesPerFLOP":
			p.bytesPerFLOP = v
		case "kernelHiddenExponent":
			p.hiddenExp = v
		case "runEfficiency":
			p.runEff = v
		case "stragglerJitter":
			p.straggler = v
		case "olderStackPenalty":
			p.olderStack = v
		case "causalAttentionShare":
			p.causalShare = v
		case "scaleOutGBs":
			p.scaleOutGBs = v
		case "scaleUpGBs":
			p.scaleUpGBs = v
		case "scaleUpDomain":
			p.scaleUpDomain = v
		case "globalBatchTokens":
			p.globalBatchTokens = v
		case "criticalBatchScale":
			p.critScale = v
		case "criticalBatchExponent":
			p.critExp = v
		case "pipelineInterleave":
			p.interleave = v
		case "tensorParallelOverlap":
			p.tpOverlap = v
		case "microBatch":
			p.microBatch = v
		case "memoryHeadroom":
			p.headroom = v
		case "mtbfChipHours":
			p.mtbf = v
		case "lostHoursPerInterruption":
			p.lostHours = v
		case "checkpointWriteGBs":
			p.ckptGBs = v
		case "warmupHours":
			p.warmup = v
		case "moeTopK":
			p.moeTopK = v
		case "moeImbalance":
			p.moeImbalance = v
		case "modelAspectRatio":
			p.aspect = v
		case "loraTrainableFraction":
			p.loraFraction = v
		case "qloraDequantOverhead":
			p.qloraOverhead = v
		case "pricePerHour":
			p.pricePerHour = v
		case "bytesPerParam":
			p.bytesPerParam = v
		case "frozenBytesPerParam":
			p.frozenBytes = v
		case "activationBytes":
			p.activationBytes = v
		case "dpBytesPerParam":
			p.dpBytesPerParam = v
		case "recomputeOverhead":
			p.recomputeOverhead = v
		case "checkpointBytes":
			p.checkpointBytes = v
		case "sequenceOlderChips":
			p.seqOlder = v
		case "sequenceNewerChips":
			p.seqNewer = v
		case "spreadSigma":
			p.spreadSigma = v
		}
	}
	_, setE := m["maxEfficiency"]
	_, setK := m["bytesPerFLOP"]
	if _, setG := m["kernelHiddenExponent"]; setG && !setE && !setK {
		p.maxEff, p.bytesPerFLOP = solveAnchors(p.hiddenExp)
	}
}

func (p *params) set(k string) bool {
	_, ok := p.assumptionsMap[k]
	return ok
}
