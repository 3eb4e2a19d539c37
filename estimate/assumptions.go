package estimate

import (
	"strings"

	"meridian.dev/meridian/catalog"
)

// assumptions states, in order, every formula, constant and fallback behind r.
// Keys a job may override are named as spec.assumptions.<key>.
func assumptions(in *Input, w *work, r *Result) []string {
	job, acc, p := in.Job, in.Accelerator, &w.p
	out := make([]string, 0, 16)
	add := func(parts ...string) { out = append(out, strings.Join(parts, "")) }

	// FLOPs.
	n := job.Model.Active()
	nNote := ""
	if job.Model.ActiveParameters > 0 && job.Model.ActiveParameters < job.Model.Parameters {
		nNote = " (MoE: active parameters per token)"
	}
	switch job.Method {
	case catalog.MethodLoRA, catalog.MethodQLoRA:
		add("FLOPs: ", job.Method, " per token = 2·N forward + 2·N backward activation gradients (no weight gradients for frozen weights) + 6·A adapter; N = ",
			g(n), nNote, ", A = ", g(w.fl.trainable), " trainable adapter parameters; × D = ", g(job.Tokens), " tokens")
		switch {
		case job.LoRA != nil && job.LoRA.TrainableFraction > 0:
			add("adapters: spec.lora.trainableFraction = ", g(job.LoRA.TrainableFraction), " of parameters")
		case job.Model.Layers > 0 && job.Model.HiddenSize > 0 && !p.set("loraTrainableFraction"):
			rank := defaultLoRARank
			src := " (assumed default)"
			if job.LoRA != nil && job.LoRA.Rank > 0 {
				rank, src = job.LoRA.Rank, " (spec.lora.rank)"
			}
			add("adapters: rank ", g(float64(rank)), src, " on q, k, v, o and both MLP matrices: 18·h·r·L parameters")
		default:
			add("adapters: ", g(p.loraFraction), " of parameters are trainable (spec.assumptions.loraTrainableFraction; default 0.005 assumed)")
		}
	case catalog.MethodFullFinetune:
		add("FLOPs: full-finetune accounted as pretraining over the fine-tune tokens: 6·N·D (forward 2ND, backward 4ND; Kaplan et al. 2020), N = ",
			g(n), nNote, ", D = ", g(job.Tokens))
	default:
		add("FLOPs: 6·N·D (forward 2ND, backward 4ND; Kaplan et al. 2020), N = ", g(n), nNote, ", D = ", g(job.Tokens))
	}
	if w.fl.shapeKnown {
		add("attention: + 12·L·h·T = ", g(w.fl.attention), " FLOPs per token (PaLM Appendix B; L layers, h hidden size, T sequence length)")
	} else {
		add("attention term omitted: layers, hiddenSize and sequenceLength are not all given")
	}

	// Memory.
	switch job.Method {
	case catalog.MethodLoRA:
		add("memory: frozen 16-bit weights 2 B/param + adapters 16 B/param (mixed-precision AdamW), sharded over ", g(float64(in.Count)), " accelerator(s) as ZeRO-3/FSDP")
	case catalog.MethodQLoRA:
		add("memory: frozen NF4 weights 0.5 B/param (Dettmers et al. 2023) + adapters 16 B/param, sharded over ", g(float64(in.Count)), " accelerator(s) as ZeRO-3/FSDP")
	default:
		add("memory: 16 B/param mixed-precision AdamW (2 weights + 2 gradients + 12 optimizer state; Transformer Math 101), sharded over ", g(float64(in.Count)), " accelerator(s) as ZeRO-3/FSDP")
	}
	if w.fl.shapeKnown {
		add("activations: 34·T·b·h·L/t = ", g(w.mem.activationsPerChip/1e9), " GB (Korthikanti et al. 2022, selective recompute with sequence parallelism), micro-batch b = ",
			g(p.microBatch), " (spec.assumptions.microBatch), tensor-parallel t = ", g(w.mem.tensorParallel))
	} else {
		add("activations not counted: the model shape (layers, hiddenSize, sequenceLength) is not given")
	}
	if r.UsableMemoryGB > 0 {
		cmpSign := " ≤ "
		if !r.Fits {
			cmpSign = " > "
		}
		add("fits: ", g(r.MemoryPerAcceleratorGB), " GB needed", cmpSign, g(r.UsableMemoryGB), " GB usable = ", g(acc.MemoryGB.V()), " GB less ",
			g(p.headroom*100), " % headroom (spec.assumptions.memoryHeadroom; assumed)")
	} else {
		add("fits: false because the memory of ", acc.ID, " is unknown")
	}

	// Peak and efficiency.
	prec := job.PrecisionOrDefault()
	if prec == "fp8" && w.basis != "fp8" {
		add("peak: FP8 peak of ", acc.ID, " is unknown; using its 16-bit peak ", g(w.peakTF), " TFLOPS")
	} else {
		add("peak: dense ", w.basis, " ", g(w.peakTF), " TFLOPS per accelerator; MFU is against this peak")
	}
	if p.mfu > 0 {
		add("MFU: ", g(p.mfu), " from spec.assumptions.mfu (the model would give ", g(w.mfuModel), ")")
	} else {
		add("chip efficiency: E/(1+κ·peak/bandwidth) = ", g(w.eta), " with E = ", g(p.maxEff), " (spec.assumptions.maxEfficiency), κ = ",
			g(p.bytesPerFLOP), " B/FLOP (spec.assumptions.bytesPerFLOP), solved from A100 52 % (Megatron 1T) and H100 43 % (Llama 3 405B) step MFU")
		if !w.balanceKnown {
			add("memory bandwidth of ", acc.ID, " is unknown: using the H100 SXM's balance of ", g(fallbackBalance), " FLOP/byte at 16-bit")
		}
		add("layout: tensor×pipeline groups of ", g(w.mem.modelParallel), " (smallest power of two at which a replica's state fits ",
			g(p.mpShare*100), " % of memory, spec.assumptions.modelParallelMemoryShare, and its activations the rest), data-parallel ",
			g(w.dp), ", ", g(w.batch), " tokens per step (spec.assumptions.globalBatchTokens)")
		if !w.scaleUpKnown {
			add("scale-up bandwidth of ", acc.ID, " is unknown: assuming PCIe-class ", g(pcieScaleUpGBs), " GB/s bidirectional")
		}
		add("communication: ", w.linkName, " ", g(w.linkGBs), " GB/s per accelerator one way (scale-out ", g(p.scaleOutGBs),
			" GB/s: 400 Gb/s per GPU, Llama 3 §3.3.1; scale-up domain ", g(p.scaleUpDomain), "), overlapped with compute: step = max(compute ",
			g(w.tCompute), " s, data-parallel ", g(w.tDP), " s + MoE all-to-all ", g(w.tMoE), " s)")
		if w.tMoE > 0 {
			add("MoE all-to-all: 2 (dispatch, combine) × 2 (forward, backward) × ", g(p.moeTopK), " experts (spec.assumptions.moeTopK) × h × L × 2 B per token")
		}
		if job.Method == catalog.MethodQLoRA {
			add("QLoRA de-quantisation adds ", g(p.qloraOverhead*100), " % to compute time (spec.assumptions.qloraDequantOverhead; assumed)")
		}
		add("MFU: ", g(r.MFU), " of the ", w.basis, " peak")
	}
	if p.goodput > 0 {
		add("goodput: ", g(p.goodput), " from spec.assumptions.goodput (the model would give ", g(w.goodput), ")")
	} else {
		add("goodput: 1/(1 + count·τ/MTBF) = ", g(r.Goodput), " with MTBF ", g(p.mtbf), " accelerator-hours (spec.assumptions.mtbfChipHours) and τ = ",
			g(p.lostHours), " h lost per interruption (spec.assumptions.lostHoursPerInterruption); Llama 3 §3.3.4: 419 interruptions in 54 days on 16,384 GPUs, >90 % effective time")
	}
	add("time: hours = FLOPs ÷ (count × peak × MFU × goodput) = ", g(r.Hours), " h on ", g(float64(in.Count)), " × ", acc.ID)
	if w.price > 0 {
		add("cost: ", g(r.AcceleratorHours), " accelerator-hours × $", g(w.price), "/h")
	} else {
		add("cost: no price given")
	}
	return out
}
