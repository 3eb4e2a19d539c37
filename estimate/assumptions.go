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

	// Shape.
	sh := &w.shape
	if !sh.given {
		add("shape for the time model: ", sh.derived, " not given, derived: ", num(sh.layers), " layers, hidden size ", num(sh.hidden), ", sequence ", num(sh.seq),
			" (hidden ÷ layers = ", num(p.aspect), ", spec.assumptions.modelAspectRatio, as GPT-3 and Llama 2; N ≈ 12·L·h²; without spec.model.sequenceLength, the median of the calibration runs on chips launched before or since 2022); the interval is the wider one of runs estimated from size alone")
		if !w.fl.shapeKnown {
			add("attention work for the time model: 12·L·h·T = ", num(12*sh.layers*sh.hidden*sh.seq), " FLOPs per token from the derived shape (not counted in FLOPs)")
		}
	}

	// Peak and efficiency.
	prec := job.PrecisionOrDefault()
	if prec == "fp8" && w.basis != "fp8" {
		add("peak: FP8 peak of ", acc.ID, " is unknown; using its 16-bit peak ", num(w.peakTF), " TFLOPS")
	} else {
		add("peak: dense ", w.basis, " ", num(w.peakTF), " TFLOPS per accelerator; MFU is against this peak")
	}
	st := &w.st
	if p.mfu > 0 {
		add("MFU: ", num(p.mfu), " from spec.assumptions.mfu replaces the step and whole-run model (which would give ", num(w.runMFU), " before warm-up)")
	} else {
		add("chip efficiency: E/(1+κ·(peak/bandwidth)·(8192/h)^γ) = ", num(st.eta), " with E = ", num(p.maxEff), " (spec.assumptions.maxEfficiency), κ = ",
			num(p.bytesPerFLOP), " B/FLOP (spec.assumptions.bytesPerFLOP), both solved from A100 52 % (Megatron 1T) and H100 43 % (Llama 3 405B) step MFU, and γ = ",
			num(p.hiddenExp), " (spec.assumptions.kernelHiddenExponent; fitted to the calibration runs): non-matmul traffic grows as the hidden size shrinks")
		add("attention: the time model counts ", num(p.causalShare), " of the 12·L·h·T attention FLOPs, the causal half FlashAttention computes (Dao 2023; spec.assumptions.causalAttentionShare); FLOPs and MFU keep the PaLM convention")
		if st.olderStack > 0 {
			add("older stack: +", num(st.olderStack*100), " % compute time for ", acc.ID, " (", num(float64(acc.Year)), "): ", num(p.olderStack*100),
				" % per year before 2020, when bfloat16 tensor cores and FlashAttention-2's oldest supported GPUs arrived (spec.assumptions.olderStackPenalty; fitted)")
		}
		if w.mem.checkpointed > 0 && !p.set("recomputeOverhead") {
			add("recomputation: executed FLOPs = ", num(st.recompute), " × model FLOPs: selective recompute 1 + T/(6h) on the kept layers, 4/3 (one more forward pass, about 33 % more FLOPs) on the ",
				num(w.mem.checkpointed), " checkpointed in full (Korthikanti et al. 2022; spec.assumptions.recomputeOverhead)")
		} else {
			add("recomputation: executed FLOPs = ", num(st.recompute), " × model FLOPs (selective recompute 1 + T/(6h), Korthikanti et al. 2022, at most 4/3 for full recompute; spec.assumptions.recomputeOverhead)")
		}
		if !w.balanceKnown {
			add("memory bandwidth of ", acc.ID, " is unknown: using the H100 SXM's balance of ", num(fallbackBalance), " FLOP/byte at 16-bit")
		}
		batchSrc := "critical batch a·C^b tokens for C FLOPs with a = " + g(p.critScale) +
			" (fitted to the calibration runs; DeepSeek LLM §3.1 has 0.292 for the loss-optimal batch, larger than whole runs used) and b = " + g(p.critExp) +
			" (DeepSeek LLM §3.1); spec.assumptions.criticalBatchScale, criticalBatchExponent"
		if p.globalBatchTokens > 0 {
			batchSrc = "spec.assumptions.globalBatchTokens"
		}
		add("batch: ", num(st.batch), " tokens per step (", batchSrc, "), so at most ", num(st.replicas),
			" data-parallel replicas of one ", num(p.microBatch), "-sequence micro-batch (spec.assumptions.microBatch): a larger pool splits each replica further")
		add("layout: ", st.describeLayout(), ", the fastest layout with tensor parallelism at least what activations need (t = ",
			num(st.actTP), ") and at most the scale-up domain of ", num(p.scaleUpDomain), " (spec.assumptions.scaleUpDomain), at most one layer per pipeline stage and at most ",
			num(st.replicas), " replicas; ZeRO-3 shards weights, gradients and optimizer state over all chips")
		if st.pp > 1 {
			add("pipeline bubble: (p−1)/(v·m) = ", num(st.bubble), " of compute with p = ", num(st.pp), " stages, m = ", num(st.micro),
				" micro-batches per step and v = ", num(p.interleave), " (interleaved 1F1B, Narayanan et al. 2021; spec.assumptions.pipelineInterleave)")
		}
		if !w.scaleUpKnown {
			add("scale-up bandwidth of ", acc.ID, " is unknown: assuming PCIe-class ", num(pcieScaleUpGBs), " GB/s bidirectional")
		}
		add("communication: tensor-parallel collectives 16·(t−1)·h·L bytes per token, ", num(p.tpOverlap*100), " % hidden behind compute (spec.assumptions.tensorParallelOverlap; assumed), the rest on the critical path = ",
			num(st.tTP), " s per step (Shoeybi et al. 2019); data-parallel ",
			num(p.dpBytesPerParam), " B/param per step (ZeRO-3 in bf16, Rajbhandari et al. 2020; spec.assumptions.dpBytesPerParam; twice the frozen bytes for adapters) over ",
			st.linkName, " ", num(st.linkGBs), " GB/s per accelerator one way (scale-out ", num(p.scaleOutGBs), " GB/s: 400 Gb/s per GPU, Llama 3 §3.3.1; spec.assumptions.scaleOutGBs), overlapped with compute: step = max(compute ",
			num(st.tCompute), " s, data-parallel ", num(st.tDP), " s + MoE all-to-all ", num(st.tMoE), " s) + tensor-parallel = ", num(st.seconds), " s")
		if st.tMoE > 0 || st.moeExtra > 0 {
			src := "spec.model.expertsPerToken"
			if p.moeTopK > 0 {
				src = "spec.assumptions.moeTopK"
			} else if job.Model.ExpertsPerToken == 0 {
				src = "DeepSeek-V3's 8, assumed; spec.assumptions.moeTopK"
			}
			add("MoE: all-to-all 2 (dispatch, combine) × 2 (forward, backward) × ", num(st.topK), " experts per token (", src, ") × h × L × 2 B; uneven routing adds ",
				num(p.moeImbalance*100), " % to the expert (MLP, 2/3 of linear) work (capacity factor 1.25, Fedus et al. 2021; spec.assumptions.moeImbalance)")
		}
		if job.Method == catalog.MethodQLoRA {
			add("QLoRA de-quantisation adds ", num(p.qloraOverhead*100), " % to compute time (spec.assumptions.qloraDequantOverhead; assumed)")
		}
		add("whole run: stragglers 1 + σ·√(2·ln nodes) = ", num(w.straggle), " on ", num(w.nodes), " nodes (σ = ", num(p.straggler),
			", spec.assumptions.stragglerJitter; fitted); run efficiency ", num(p.runEff), " of the tuned step rate (evaluation, data stalls, repeated steps; spec.assumptions.runEfficiency; fitted to the calibration runs; PaLM realised 0.66 of its step MFU, Llama 3 about 0.85)")
		add("checkpoints: ", num(w.ckptStall), " s to write each chip's ", num(w.mem.staticPerChip/1e9), " GB at ", num(p.ckptGBs), " GB/s (Llama 3's 2 TB/s over 16,384 GPUs; spec.assumptions.checkpointWriteGBs) every ",
			num(w.ckptEvery), " h (spec.checkpointEvery; 1 h assumed when unset)")
		add("warm-up: ", num(p.warmup), " h of wall time before the first step (scheduling, loading, compiling; spec.assumptions.warmupHours; assumed)")
		add("MFU: ", num(r.MFU), " of the ", w.basis, " peak over the whole run (", num(w.runMFU), " while training)")
	}
	if p.goodput > 0 {
		add("goodput: ", num(p.goodput), " from spec.assumptions.goodput (the model would give ", num(w.goodput), ")")
	} else {
		add("goodput: 1/(1 + count·τ/MTBF) = ", num(r.Goodput), " with MTBF ", num(p.mtbf), " accelerator-hours (spec.assumptions.mtbfChipHours) and τ = ",
			num(p.lostHours), " h lost per interruption (spec.assumptions.lostHoursPerInterruption); Llama 3 §3.3.4: 419 interruptions in 54 days on 16,384 GPUs, >90 % effective time")
	}
	add("time: ", num(r.Hours), " h on ", num(float64(in.Count)), " × ", acc.ID, ", 80 % interval ", num(r.HoursLow), "–", num(r.HoursHigh),
		" h: ln(real ÷ estimated hours) from −", num(r.Spread.Low*z90), " to +", num(r.Spread.High*z90), spreadSource(p))
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

func spreadSource(p *params) string {
	if p.set("spreadSigma") {
		return " (spec.assumptions.spreadSigma sets σ)"
	}
	return ", a normal in ln(real ÷ estimated) fitted to how the calibration runs' fitting half was predicted by fits that had not seen each run's family (meridian estimate --calibration)"
}
