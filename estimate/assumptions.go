package estimate

import (
	"strconv"

	"meridian.dev/meridian/catalog"
)

// assumptions states, in order, every formula, constant and fallback behind r.
// Keys a job may override are named as spec.assumptions.<key>.
func assumptions(in *Input, w *work, r *Result) []string {
	job, acc, p := in.Job, in.Accelerator, &w.p
	// All lines are written into one buffer and cut from one string at the
	// end: two allocations instead of one per line, and numbers are appended
	// in place.
	b := make([]byte, 0, 4096)
	ends := make([]int, 0, 24)
	add := func(parts ...any) {
		for _, x := range parts {
			switch v := x.(type) {
			case string:
				b = append(b, v...)
			case float64:
				b = strconv.AppendFloat(b, v, 'g', 4, 64)
			case int:
				b = strconv.AppendInt(b, int64(v), 10)
			}
		}
		ends = append(ends, len(b))
	}

	// FLOPs.
	n := job.Model.Active()
	nNote := ""
	if job.Model.ActiveParameters > 0 && job.Model.ActiveParameters < job.Model.Parameters {
		nNote = " (MoE: active parameters per token)"
	}
	switch job.Method {
	case catalog.MethodLoRA, catalog.MethodQLoRA:
		add("FLOPs: ", job.Method, " per token = 2·N forward + 2·N backward activation gradients (no weight gradients for frozen weights) + 6·A adapter; N = ",
			num(n), nNote, ", A = ", num(w.fl.trainable), " trainable adapter parameters; × D = ", num(job.Tokens), " tokens")
		switch {
		case job.LoRA != nil && job.LoRA.TrainableFraction > 0:
			add("adapters: spec.lora.trainableFraction = ", num(job.LoRA.TrainableFraction), " of parameters")
		case job.Model.Layers > 0 && job.Model.HiddenSize > 0 && !p.set("loraTrainableFraction"):
			rank := defaultLoRARank
			src := " (assumed default)"
			if job.LoRA != nil && job.LoRA.Rank > 0 {
				rank, src = job.LoRA.Rank, " (spec.lora.rank)"
			}
			add("adapters: rank ", num(float64(rank)), src, " on q, k, v, o and both MLP matrices: 18·h·r·L parameters")
		default:
			add("adapters: ", num(p.loraFraction), " of parameters are trainable (spec.assumptions.loraTrainableFraction; default 0.005 assumed)")
		}
	case catalog.MethodFullFinetune:
		add("FLOPs: full-finetune accounted as pretraining over the fine-tune tokens: 6·N·D (forward 2ND, backward 4ND; Kaplan et al. 2020), N = ",
			num(n), nNote, ", D = ", num(job.Tokens))
	default:
		add("FLOPs: 6·N·D (forward 2ND, backward 4ND; Kaplan et al. 2020), N = ", num(n), nNote, ", D = ", num(job.Tokens))
	}
	if w.fl.shapeKnown {
		add("attention: + 12·L·h·T = ", num(w.fl.attention), " FLOPs per token (PaLM Appendix B; L layers, h hidden size, T sequence length)")
	} else {
		add("attention term omitted: layers, hiddenSize and sequenceLength are not all given")
	}

	// Memory.
	switch job.Method {
	case catalog.MethodLoRA:
		add("memory: frozen 16-bit weights ", num(frozenBytes(job.Method, p)), " B/param (spec.assumptions.frozenBytesPerParam) + adapters ", num(p.bytesPerParam),
			" B/param (mixed-precision AdamW; spec.assumptions.bytesPerParam), sharded over ", num(float64(in.Count)), " accelerator(s) as ZeRO-3/FSDP")
	case catalog.MethodQLoRA:
		add("memory: frozen NF4 weights ", num(frozenBytes(job.Method, p)), " B/param (Dettmers et al. 2023; spec.assumptions.frozenBytesPerParam) + adapters ", num(p.bytesPerParam),
			" B/param (spec.assumptions.bytesPerParam), sharded over ", num(float64(in.Count)), " accelerator(s) as ZeRO-3/FSDP")
	default:
		add("memory: ", num(p.bytesPerParam), " B/param (mixed-precision AdamW: 2 weights + 2 gradients + 12 optimizer state; Transformer Math 101; spec.assumptions.bytesPerParam), sharded over ",
			num(float64(in.Count)), " accelerator(s) as ZeRO-3/FSDP")
	}
	if w.fl.shapeKnown {
		if w.mem.checkpointed > 0 {
			add("activations: ", num(w.mem.checkpointed), " of ", num(w.mem.layers), " layers checkpointed in full at ", num(p.checkpointBytes),
				"·T·b·h/t (their input; spec.assumptions.checkpointBytes), the rest at ", num(p.activationBytes),
				"·T·b·h/t (selective recompute; spec.assumptions.activationBytes), + one layer rebuilt in backward = ", num(w.mem.activationsPerChip/1e9),
				" GB (Korthikanti et al. 2022, tensor + sequence parallelism; selective recompute alone would not fit even at t = ", num(w.mem.tensorParallel), ")")
		} else {
			add("activations: ", num(p.activationBytes), "·T·b·h·L/t = ", num(w.mem.activationsPerChip/1e9),
				" GB (Korthikanti et al. 2022, selective recompute with tensor + sequence parallelism; spec.assumptions.activationBytes)")
		}
		add("activation layout: micro-batch b = ", num(p.microBatch), " (spec.assumptions.microBatch), tensor-parallel t = ", num(w.mem.tensorParallel),
			" (smallest power of two up to the scale-up domain that fits); 1F1B pipelining holds pp micro-batches of L/pp layers on the first stage, so a chip holds L layers' worth whatever pp is")
	} else {
		add("activations not counted: the model shape (layers, hiddenSize, sequenceLength) is not given")
	}
	if r.UsableMemoryGB > 0 {
		cmpSign := " ≤ "
		if !r.Fits {
			cmpSign = " > "
		}
		add("fits: ", num(r.MemoryPerAcceleratorGB), " GB needed", cmpSign, num(r.UsableMemoryGB), " GB usable = ", num(acc.MemoryGB.V()), " GB less ",
			num(p.headroom*100), " % headroom (spec.assumptions.memoryHeadroom; assumed)")
	} else {
		add("fits: false because the memory of ", acc.ID, " is unknown")
	}

	// Peak and efficiency.
	prec := job.PrecisionOrDefault()
	if prec == "fp8" && w.basis != "fp8" {
		add("peak: FP8 peak of ", acc.ID, " is unknown; using its 16-bit peak ", num(w.peakTF), " TFLOPS")
	} else {
		add("peak: dense ", w.basis, " ", num(w.peakTF), " TFLOPS per accelerator; MFU is against this peak")
	}
	if p.mfu > 0 {
		add("MFU: ", num(p.mfu), " from spec.assumptions.mfu (the model would give ", num(w.mfuModel), ")")
	} else {
		add("chip efficiency: E/(1+κ·peak/bandwidth) = ", num(w.eta), " with E = ", num(p.maxEff), " (spec.assumptions.maxEfficiency), κ = ",
			num(p.bytesPerFLOP), " B/FLOP (spec.assumptions.bytesPerFLOP), solved from A100 52 % (Megatron 1T) and H100 43 % (Llama 3 405B) step MFU")
		if w.mem.checkpointed > 0 && !p.set("recomputeOverhead") {
			add("recomputation: executed FLOPs = ", num(w.recompute), " × model FLOPs: selective recompute 1 + T/(6h) on the kept layers, 4/3 (one more forward pass, about 33 % more FLOPs) on the ",
				num(w.mem.checkpointed), " checkpointed in full (Korthikanti et al. 2022; spec.assumptions.recomputeOverhead)")
		} else {
			add("recomputation: executed FLOPs = ", num(w.recompute), " × model FLOPs (selective recompute 1 + T/(6h), Korthikanti et al. 2022, at most 4/3 for full recompute; spec.assumptions.recomputeOverhead)")
		}
		if !w.balanceKnown {
			add("memory bandwidth of ", acc.ID, " is unknown: using the H100 SXM's balance of ", num(fallbackBalance), " FLOP/byte at 16-bit")
		}
		pipe := " × pipeline "
		if job.Model.ActiveParameters > 0 && job.Model.ActiveParameters < job.Model.Parameters {
			pipe = " × pipeline·expert "
		}
		add("layout: tensor-parallel ", num(w.mem.tensorParallel), pipe, num(w.mem.pipeline), " = groups of ", num(w.mem.modelParallel),
			" (smallest power of two at which a replica's unsharded state fills at most ", num(p.mpShare*100),
			" % of memory, spec.assumptions.modelParallelMemoryShare), data-parallel ", num(w.dp), ", ", num(w.batch),
			" tokens per step (spec.assumptions.globalBatchTokens); pipeline bubbles are not modelled")
		if !w.scaleUpKnown {
			add("scale-up bandwidth of ", acc.ID, " is unknown: assuming PCIe-class ", num(pcieScaleUpGBs), " GB/s bidirectional")
		}
		add("communication: ", w.linkName, " ", num(w.linkGBs), " GB/s per accelerator one way (scale-out ", num(p.scaleOutGBs),
			" GB/s: 400 Gb/s per GPU, Llama 3 §3.3.1; scale-up domain ", num(p.scaleUpDomain), "), overlapped with compute: step = max(compute ",
			num(w.tCompute), " s, data-parallel ", num(w.tDP), " s + MoE all-to-all ", num(w.tMoE), " s); data-parallel traffic ",
			num(p.dpBytesPerParam), " B/param per step for full training (ZeRO-3 in bf16, Rajbhandari et al. 2020; spec.assumptions.dpBytesPerParam), twice the frozen bytes for adapters")
		if w.tMoE > 0 {
			add("MoE all-to-all: 2 (dispatch, combine) × 2 (forward, backward) × ", num(p.moeTopK), " experts (spec.assumptions.moeTopK) × h × L × 2 B per token")
		}
		if job.Method == catalog.MethodQLoRA {
			add("QLoRA de-quantisation adds ", num(p.qloraOverhead*100), " % to compute time (spec.assumptions.qloraDequantOverhead; assumed)")
		}
		add("MFU: ", num(r.MFU), " of the ", w.basis, " peak")
	}
	if p.goodput > 0 {
		add("goodput: ", num(p.goodput), " from spec.assumptions.goodput (the model would give ", num(w.goodput), ")")
	} else {
		add("goodput: 1/(1 + count·τ/MTBF) = ", num(r.Goodput), " with MTBF ", num(p.mtbf), " accelerator-hours (spec.assumptions.mtbfChipHours) and τ = ",
			num(p.lostHours), " h lost per interruption (spec.assumptions.lostHoursPerInterruption); Llama 3 §3.3.4: 419 interruptions in 54 days on 16,384 GPUs, >90 % effective time")
	}
	add("time: hours = FLOPs ÷ (count × peak × MFU × goodput) = ", num(r.Hours), " h on ", num(float64(in.Count)), " × ", acc.ID)
	if w.price > 0 {
		add("cost: ", num(r.AcceleratorHours), " accelerator-hours × $", num(w.price), "/h")
	} else {
		add("cost: no price given")
	}
	all := string(b)
	out := make([]string, len(ends))
	start := 0
	for i, e := range ends {
		out[i] = all[start:e]
		start = e
	}
	return out
}

// num passes a number to add, which formats it with four significant digits.
func num(x float64) float64 { return x }
