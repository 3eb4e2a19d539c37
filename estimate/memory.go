package estimate

import (
	"math"

	"meridian.dev/meridian/catalog"
)

// memory holds the per-accelerator memory picture and the layout of one count.
type memory struct {
	staticPerChip      float64 // bytes of weights, gradients and optimizer state
	activationsPerChip float64 // bytes
	tensorParallel     float64 // t
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

// MinCount is the smallest number of accelerators whose memory holds the job
// (0 when even maxCountSearch do not, or the accelerator's memory is
// unknown). Memory per chip never grows with count, so the search is
// binary; it evaluates only the memory model, the same one Estimate uses for
// Fits. Like Estimate, it trusts a job the loader has validated.
func MinCount(job *catalog.TrainingJobSpec, acc *catalog.Accelerator) int {
	if job == nil || acc == nil || !acc.MemoryGB.Known() || acc.MemoryGB.V() <= 0 || !(job.Model.Parameters > 0) {
		return 0
	}
	p := defaultParams()
	p.applyOverrides(job.Assumptions)
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
