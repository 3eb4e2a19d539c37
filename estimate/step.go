package estimate

import (
	"fmt"
	"math"

	"meridian.dev/meridian/catalog"
)

// shape is the model shape the time model works with: the job's, or derived
// from its size where it gives none.
type shape struct {
	layers, hidden, seq float64
	// given is true when the job gives layers, hidden size and sequence
	// length; derived names what was derived, for the assumptions.
	given   bool
	derived string
}

// modelShape returns the job's shape, deriving what it leaves out: the
// sequence length defaults to its chip generation's (defaultSequence); with
// layers known h = √(N/(12·L)); with
// the hidden size known L = N/(12·h²); with neither, the standard aspect
// ratio h = aspect·L gives h = (aspect·N/12)^(1/3). N is the active
// parameters, which set the work per token of an MoE model as of a dense one.
func modelShape(m *catalog.Model, p *params, acc *catalog.Accelerator) shape {
	var s shape
	na := m.Active()
	s.seq = float64(m.SequenceLength)
	if m.SequenceLength <= 0 {
		s.seq = defaultSequence(acc, p)
	}
	L, h := float64(m.Layers), float64(m.HiddenSize)
	switch {
	case m.Layers > 0 && m.HiddenSize > 0:
	case m.HiddenSize > 0:
		L = math.Max(1, na/(paramsPerLayerPerHidden2*h*h))
		s.derived = "layers"
	case m.Layers > 0:
		h = math.Max(1, math.Sqrt(na/(paramsPerLayerPerHidden2*L)))
		s.derived = "hidden size"
	default:
		h = math.Max(1, math.Cbrt(p.aspect*na/paramsPerLayerPerHidden2))
		L = math.Max(1, h/p.aspect)
		s.derived = "layers and hidden size"
	}
	if m.SequenceLength <= 0 {
		if s.derived != "" {
			s.derived += " and sequence length"
		} else {
			s.derived = "sequence length"
		}
	}
	s.layers, s.hidden = L, h
	s.given = s.derived == ""
	return s
}

// defaultSequence is the sequence length of a job that gives none on acc:
// its generation's (fitted.go; keys sequenceOlderChips and
// sequenceNewerChips), or sequenceFallback when its year is unknown.
func defaultSequence(acc *catalog.Accelerator, p *params) float64 {
	switch {
	case acc == nil || acc.Year <= 0:
		return sequenceFallback
	case acc.Year < sequenceGenerationYear:
		return p.seqOlder
	default:
		return p.seqNewer
	}
}

// isMoE reports whether a model routes tokens to experts: fewer active than
// total parameters, or experts given.
func isMoE(m *catalog.Model) bool {
	return (m.ActiveParameters > 0 && m.ActiveParameters < m.Parameters) || m.Experts > 1
}

// solveAnchors returns E and κ for a hidden-size exponent γ: the two anchors
// a_i = E/(1+κ·r_i·(h₀/h_i)^γ) give κ = (a1−a2)/(a2·r2' − a1·r1') and
// E = a1·(1+κ·r1').
func solveAnchors(gamma float64) (maxEff, bytesPerFLOP float64) {
	r1 := anchorA100Balance * math.Pow(referenceHidden/anchorA100Hidden, gamma)
	r2 := anchorH100Balance * math.Pow(referenceHidden/anchorH100Hidden, gamma)
	k := (anchorA100MFU - anchorH100MFU) / (anchorH100MFU*r2 - anchorA100MFU*r1)
	return anchorA100MFU * (1 + k*r1), k
}

// Solved from the anchors with the fitted exponent (κ ≈ 0.001 byte of
// non-matmul memory traffic per executed FLOP at h₀; E ≈ 0.6).
var defaultMaxEfficiency, defaultBytesPerFLOP = solveAnchors(fittedKernelHiddenExponent)

// step is the layout and time of one optimizer step on count chips.
type step struct {
	batch      float64 // tokens per step
	replicas   float64 // the most data-parallel replicas the batch allows
	mp         float64 // model-parallel group (tensor × pipeline × expert)
	tp, pp, ep float64
	dp         float64
	micro      float64 // micro-batches per pipeline per step
	bubble     float64 // share of compute time added by the pipeline bubble
	eta        float64 // chip efficiency
	recompute  float64
	moeExtra   float64 // extra work of uneven expert load, share of the step's work
	olderStack float64 // share of compute time added for an older chip's stack
	actTP      float64 // the least tensor parallelism activations need
	topK       float64
	linkGBs    float64 // data-parallel and all-to-all link, one way
	linkName   string
	scaleUpGBs float64 // one way
	tCompute   float64 // s, with the bubble
	tTP        float64 // s, exposed
	tDP, tMoE  float64 // s, overlapped with compute
	seconds    float64 // the step
	workPerTok float64 // executed model FLOPs per token the time model counts (with a derived attention term)
}

// stepModel lays the job out on count chips and times one step:
//
//  1. Batch: the critical batch B = a·C^b tokens (C the job's FLOPs), at
//     least one micro-batch; data parallelism can use at most
//     B ÷ (sequence × micro-batch) replicas.
//  2. Layout: the fastest of the layouts that fit and that the batch
//     allows, as a practitioner would pick: tensor parallelism t (at least
//     what activations need, at most the scale-up domain) × pipeline stages
//     p (at most one layer each) × expert parallelism (MoE: as many of the
//     experts as the chips allow) per replica, data parallelism across
//     replicas. ZeRO-3 shards weights, gradients and optimizer state over
//     every chip, so memory does not force a larger group; traffic does.
//  3. Compute: work ÷ (peak × chip efficiency) × recomputation, plus the
//     pipeline bubble (p−1)/(v·m) and, for MoE, the busiest expert's extra load.
//  4. Communication: tensor-parallel collectives partly hidden behind their
//     GEMMs, the rest on the critical path;
//     data-parallel (ZeRO-3) and MoE all-to-all traffic overlapped with
//     compute: step = max(compute, dp + all-to-all) + tensor-parallel.
func stepModel(w *work, job *catalog.TrainingJobSpec, acc *catalog.Accelerator, count float64) {
	p, m, st, sh := &w.p, &job.Model, &w.st, &w.shape
	// Work per token for time: the reported FLOPs per token with the causal
	// share of the attention term, from a derived shape when the job gives none.
	st.workPerTok = w.fl.perToken - (1-p.causalShare)*w.fl.attention
	if !w.fl.shapeKnown {
		st.workPerTok += p.causalShare * 12 * sh.layers * sh.hidden * sh.seq
	}
	moe := isMoE(m)
	experts := math.Inf(1)
	if moe {
		st.topK = float64(m.ExpertsPerToken)
		if p.moeTopK > 0 {
			st.topK = p.moeTopK
		} else if st.topK == 0 {
			st.topK = defaultMoETopK
		}
		st.moeExtra = p.moeImbalance * mlpShareOfBlock * w.fl.linear / st.workPerTok
		if m.Experts > 1 {
			experts = float64(m.Experts)
		}
	}

	// 1. Batch.
	seqTokens := sh.seq * p.microBatch
	st.batch = p.globalBatchTokens
	if st.batch <= 0 {
		st.batch = p.critScale * math.Pow(math.Max(w.fl.total, 1), p.critExp)
	}
	st.batch = math.Max(st.batch, seqTokens)
	st.replicas = math.Max(1, math.Floor(st.batch/seqTokens))

	// Per-token and per-step constants of every layout.
	st.eta = p.maxEff / (1 + p.bytesPerFLOP*w.balance*math.Pow(referenceHidden/sh.hidden, p.hiddenExp))
	st.recompute = math.Min(1+sh.seq/(6*sh.hidden), fullRecomputeFactor)
	// Activations set the least tensor parallelism and how much is
	// recomputed in full: from the job's shape (w.mem), or, when it gives
	// none, from the derived one, for the time model only (the reported
	// memory does not count activations it cannot know).
	mem := &w.mem
	var derivedMem memory
	if !w.fl.shapeKnown && w.usable > 0 {
		dj := *job
		dj.Model.Layers, dj.Model.HiddenSize, dj.Model.SequenceLength = int(math.Round(sh.layers)), int(math.Round(sh.hidden)), int(sh.seq)
		derivedMem = memoryFor(&dj, w.mem.staticPerChip*count, 0, w.usable, int(count), p)
		mem = &derivedMem
	}
	if mem.checkpointed > 0 {
		st.recompute = recomputeFactor(int(sh.seq), int(math.Round(sh.hidden)), mem)
	}
	st.actTP = mem.tensorParallel
	if p.set("recomputeOverhead") {
		st.recompute = 1 + p.recomputeOverhead
	}
	tokensPerChip := st.batch / count
	compute := st.workPerTok * (1 + st.moeExtra) * tokensPerChip * st.recompute / (w.peakTF * 1e12 * st.eta)
	if y := acc.Year; y > 0 && y < olderStackYear {
		st.olderStack = p.olderStack * float64(olderStackYear-y)
		compute *= 1 + st.olderStack
	}
	if job.Method == catalog.MethodQLoRA {
		compute *= 1 + p.qloraOverhead
	}
	st.scaleUpGBs = w.scaleUpGBs / 2
	if count <= p.scaleUpDomain {
		st.linkGBs, st.linkName = st.scaleUpGBs, "scale-up"
	} else {
		st.linkGBs, st.linkName = math.Min(p.scaleOutGBs, st.scaleUpGBs), "scale-out"
	}
	outLink := math.Min(p.scaleOutGBs, st.scaleUpGBs)
	tpBytesPerRank := tensorParallelBytesPerTokenPerHidden * sh.hidden * sh.layers * tokensPerChip // × (t−1)
	dpBytes := dpBytesPerStep(job, w.fl.trainable, p)
	var moeSeconds float64
	if moe && count > 1 {
		// Dispatch and combine, forward and backward, of each token's top-k copies.
		moeSeconds = 2 * 2 * st.topK * sh.hidden * sh.layers * moeBytesPerElement * tokensPerChip / (st.linkGBs * 1e9)
	}

	// 2. Layout: the fastest allowed.
	tMax := 1.0
	for tMax*2 <= min(p.scaleUpDomain, count) {
		tMax *= 2
	}
	maxStages := math.Inf(1)
	if !moe {
		maxStages = max(1, math.Floor(sh.layers))
	}
	best := math.Inf(1)
	for pass := 0; pass < 2 && math.IsInf(best, 1); pass++ {
		// Pass 0 honours the batch; pass 1 (only when no layout does) takes the
		// largest groups the chips allow.
		for t := min(st.actTP, tMax); t <= tMax; t *= 2 {
			// No layout beats compute plus its tensor-parallel traffic, which
			// grows with t: once the best so far is that fast, stop.
			var ttp float64
			if t > 1 {
				link := st.scaleUpGBs
				if t > p.scaleUpDomain {
					link = outLink
				}
				ttp = tpBytesPerRank * (t - 1) / (link * 1e9) * (1 - p.tpOverlap)
			}
			if compute+ttp >= best {
				break
			}
			for pp := 1.0; t*pp <= count && pp <= maxStages; pp *= 2 {
				ep := 1.0
				for moe && ep*2 <= experts && t*pp*ep*2 <= count {
					ep *= 2
				}
				mp := t * pp * ep
				dp := math.Floor(count / mp)
				if pass == 0 && dp > st.replicas {
					continue
				}
				if pass == 1 && t*pp*2 <= count && pp*2 <= maxStages {
					continue // not yet the largest group
				}
				micro := st.batch / dp / seqTokens
				bubble := 0.0
				if pp > 1 {
					bubble = (pp - 1) / (p.interleave * max(micro, 1))
				}
				tc := compute * (1 + bubble)
				var tdp float64
				if dp > 1 {
					tdp = dpBytes / mp / (st.linkGBs * 1e9)
				}
				sec := max(tc, tdp+moeSeconds) + ttp
				if sec < best {
					best = sec
					st.tp, st.pp, st.ep, st.mp, st.dp, st.micro, st.bubble = t, pp, ep, mp, dp, micro, bubble
					st.tCompute, st.tTP, st.tDP, st.tMoE, st.seconds = tc, ttp, tdp, moeSeconds, sec
				}
				if sec <= compute+ttp {
					break // the least this t can take; more stages only tie or add a bubble
				}
			}
		}
	}
	if math.IsInf(best, 1) {
		// No layout's step is a number (a maxEfficiency or a link a hair
		// above 0 takes it past the largest float): the step is endless,
		// which the estimate refuses. Left at 0 s, the largest job was
		// estimated at its warm-up alone.
		st.seconds = math.Inf(1)
	}
}

// describeLayout is the layout line of the assumptions.
func (st *step) describeLayout() string {
	return fmt.Sprintf("tensor %s × pipeline %s × expert %s = groups of %s, data-parallel %s", g(st.tp), g(st.pp), g(st.ep), g(st.mp), g(st.dp))
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
