// Package estimate says how long and how much a training job takes on a pool
// of accelerators: FLOPs, memory per accelerator and whether it fits, MFU,
// goodput, time, accelerator-hours and cost, with every assumption stated in
// Result.Assumptions. The planner calls Estimate for every candidate pool; the
// CLI's `meridian estimate` prints one.
//
// # FLOPs
//
// Model FLOPs per token are 6·N (forward 2N, backward 4N; Kaplan et al. 2020)
// with N the active parameters, plus PaLM's attention term 12·L·h·T (layers,
// hidden size, sequence length) when all three are given. A full fine-tune is
// accounted as pretraining over its tokens. LoRA and QLoRA do the 2·N forward
// and the 2·N backward pass for activation gradients but no weight gradients
// for the frozen base, plus 6 FLOPs per adapter parameter; QLoRA's NF4
// de-quantisation is charged as extra time, not model FLOPs.
//
// # Memory
//
// Weights, gradients and optimizer state (16 B/param for mixed-precision
// AdamW; LoRA 2 B/param frozen + 16 B per adapter parameter; QLoRA 0.5 B/param
// frozen + 16 B per adapter parameter) are split over the t·pp tensor and
// pipeline ranks of a replica and sharded over the data-parallel ranks as
// ZeRO-3/FSDP would: static ÷ count per chip.
//
// Activations, when the shape is known, follow Korthikanti et al. 2022 with
// tensor and sequence parallelism over t ranks: a layer kept with selective
// recomputation holds 34·T·b·h/t bytes, a layer checkpointed in full holds
// only its input, 2·T·b·h/t. Pipeline parallelism gives each stage L/pp
// layers, but under 1F1B the first stage holds pp micro-batches in flight, so
// a chip holds L layers' worth of one micro-batch (b = 1) whatever pp is.
// The layout is chosen as a practitioner would: the smallest power-of-two t up
// to the scale-up domain at which every layer fits with selective recompute;
// failing that, t at the scale-up domain with the fewest layers checkpointed
// in full (plus one layer rebuilt during its backward pass). Each
// checkpointed layer is recomputed in full, one more forward pass, so its
// executed FLOPs are 4/3 of its model FLOPs instead of 1 + T/(6h), and MFU
// falls accordingly; the assumptions say how many layers and what it costs.
// The job fits when the total is at most the accelerator's memory less a
// headroom. MinCount searches for the smallest count that fits; memory per
// chip never grows with count, so the search is binary.
//
// Llama 3.1 405B (126 layers, hidden 16,384, sequence 8,192) on 16,384 H100
// 80GB thus fits at t = 8 with two layers checkpointed in full (71.8 of 72 GB
// usable), as Meta trained it (TP 8, PP 16, Llama 3 paper Table 4).
//
// # Time
//
//	hours = FLOPs ÷ (count × peak × MFU × goodput) ÷ 3600
//
// MFU comes from a small physical model with no per-model cases:
//
//  1. Chip efficiency is a roofline with one memory-traffic term: time per
//     executed FLOP is 1/(E·peak) + κ/bandwidth, so efficiency is
//     E/(1+κ·peak/bandwidth). Executed FLOPs include selective recomputation,
//     1 + T/(6h) times the model FLOPs. FP8 doubles the peak but not the
//     memory bandwidth, so it gains about 1.6× rather than 2× on H100.
//  2. The job is laid out as tensor×pipeline groups (t from the memory
//     layout above, pp as needed) just large enough that a replica's
//     unsharded state fills half a chip, and data parallelism across groups.
//     Per step each chip computes its share of the global batch and moves
//     ZeRO-3 traffic (6 B per parameter of its group's shard) plus, for MoE
//     models, expert all-to-all traffic, over scale-up bandwidth within one
//     scale-up domain and scale-out bandwidth beyond it. Communication
//     overlaps compute: step = max(compute, communication). Small models on
//     many chips therefore become communication-bound.
//  3. Goodput is 1/(1 + count·τ/MTBF): interruptions arrive once per MTBF
//     accelerator-hours and each costs the whole job τ hours.
//
// # How the constants were set
//
// No constant was fitted to the calibration runs' hours. E and κ are solved
// from two published step MFUs at scale, each corrected for its own
// recomputation overhead: the Megatron 1T benchmark on 3,072 A100 (52 %) and
// Llama 3.1 405B on 8,192 H100 (43 %). MTBF and τ come from Llama 3's
// interruption log (419 unexpected interruptions in 54 days on 16,384 GPUs,
// more than 90 % effective time). Bandwidths and batch come from the Llama 3
// and Llama 2 papers and DeepSeek-V3's measurements. TestCalibrationMdAPE then
// predicts the published runs of the compute facts (GPT-3, BLOOM, PaLM,
// LLaMA-1 7B and 65B, Llama 2 7B and 70B, Llama 3 8B, Llama 3.1 8B and 405B,
// DeepSeek-V3) and requires a median absolute percentage error of
// accelerator-hours at most 15 %. The Llama 3.1 405B row shares its paper
// with two anchors (its step MFU and its >90 % effective time), so its small
// error is not an independent check; the others are. The model under-predicts
// runs whose hours include far more than the step time of a tuned stack
// (GPT-3 on V100, BLOOM, PaLM with goodput 0.66, and the Llama 3 8B model
// cards, whose GPU counts are not published and are assumed).
//
// # Overrides
//
// A job's spec.assumptions map replaces constants by name; Keys lists them
// with their meaning: mfu, goodput, maxEfficiency, bytesPerFLOP,
// recomputeOverhead, scaleOutGBs, scaleUpGBs, scaleUpDomain,
// globalBatchTokens, dpBytesPerParam, moeTopK, microBatch, activationBytes,
// bytesPerParam, frozenBytesPerParam, memoryHeadroom,
// modelParallelMemoryShare, mtbfChipHours, lostHoursPerInterruption,
// loraTrainableFraction, qloraDequantOverhead, pricePerHour, checkpointBytes.
// The keys are registered with catalog.RegisterAssumption, so that loading a
// job rejects a key no package reads (naming spec.assumptions.<key> and the
// accepted keys); Estimate itself ignores keys that are not its own (the
// planner's, say). For example
//
//	spec:
//	  assumptions: {mfu: 0.35, goodput: 0.9, scaleOutGBs: 25}
//
// # Missing accelerator facts
//
// Unknown FP8 peak: the 16-bit peak is used. Unknown 16-bit peak: an error
// naming the accelerator and the fact. Unknown scale-up bandwidth: PCIe-class
// 64 GB/s. Unknown memory bandwidth: the H100 SXM's FLOP-per-byte balance.
// Unknown memory: fits is false and MinCount is 0. Each fallback is listed in
// the assumptions.
package estimate
