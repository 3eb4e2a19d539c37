package estimate

// Every constant the estimator uses is named here with its source. Those a
// job may override through spec.assumptions carry the key in their comment;
// keys.go lists them all with their ranges. Constants fitted to the fitting
// half of the calibration runs live in fitted.go, which a test regenerates.

// Memory constants.
const (
	// bytesPerParamAdamW is mixed-precision AdamW full training: 2 B bf16
	// weights + 2 B bf16 gradients + 12 B optimizer state (fp32 master copy,
	// momentum, variance). Transformer Math 101 (EleutherAI); compute facts
	// §5.4 (18–20 with fp32 gradient accumulation; about 10 with an 8-bit
	// optimizer). Key: bytesPerParam (also the bytes per adapter parameter).
	bytesPerParamAdamW = 16.0
	// bytesPerParamFrozen16 is a frozen 16-bit weight (LoRA base model).
	// Key: frozenBytesPerParam.
	bytesPerParamFrozen16 = 2.0
	// bytesPerParamFrozen4 is a frozen NF4 weight (QLoRA base model): 4 bits.
	// Dettmers et al. 2023 (a 65B model fits one 48 GB GPU); compute facts §5.6.
	// Key: frozenBytesPerParam.
	bytesPerParamFrozen4 = 0.5
	// activationBytesPerTokenPerHidden is Korthikanti et al. 2022's selective
	// recomputation figure with tensor and sequence parallelism: 34·s·b·h/t
	// bytes per layer (compute facts §5.5). Key: activationBytes.
	activationBytesPerTokenPerHidden = 34.0
	// checkpointBytesPerTokenPerHidden is what a layer checkpointed in full
	// keeps: its 16-bit input, 2·s·b·h bytes (Korthikanti et al. 2022; compute
	// facts §5.5), split over the t tensor-parallel ranks because sequence
	// parallelism shards the layer input along the sequence. Key: checkpointBytes.
	checkpointBytesPerTokenPerHidden = 2.0
	// defaultHeadroom is the share of accelerator memory kept free for the
	// framework's workspace, communication buffers and fragmentation.
	// Assumed (no measured figure in the facts). Key: memoryHeadroom.
	defaultHeadroom = 0.10
	// defaultMicroBatch is sequences per micro-batch for activation memory.
	// Assumed (the Korthikanti runs and Llama 3 use 1). Key: microBatch.
	defaultMicroBatch = 1.0
	// maxCountSearch caps MinCount's search and the count an estimate accepts.
	maxCountSearch = 1 << 20
)

// Shape. Users may leave out layers, hidden size and sequence length; the
// time model then derives them, and says so.
const (
	// defaultAspectRatio is hidden size ÷ layers of a standard decoder: 128
	// for GPT-3 175B (12,288 ÷ 96) and 6.7B (4,096 ÷ 32) (Brown et al. 2020
	// Table 2.1) and Llama 2 7B (4,096 ÷ 32). With N ≈ 12·L·h² it gives
	// h = (aspect·N/12)^(1/3). Key: modelAspectRatio.
	defaultAspectRatio = 128.0
	// The sequence length that stands in when spec.model.sequenceLength is
	// not given depends on the chip's generation: chips launched before
	// sequenceGenerationYear (V100, A100, TPU v4, MI250X) ran the 2,048-token
	// contexts of GPT-3, PaLM, LLaMA and Pythia; runs on later chips, with
	// FlashAttention (Dao et al. 2022) making attention's memory linear in
	// the sequence, train 4,096 to 8,192 (DeepSeek, Phi, Llama 3 and 4).
	// Each generation's value is the median of the fitting half's runs on
	// such chips (fitted.go: fittedSequenceOlder, fittedSequenceNewer);
	// sequenceFallback serves an accelerator whose year is unknown (Llama 2's
	// 4,096; Touvron et al. 2023). The job's spec.model.sequenceLength
	// replaces them.
	sequenceGenerationYear = 2022
	sequenceFallback       = 4096
	// paramsPerLayerPerHidden2 is the 12·h² parameters of a standard block
	// (4h² attention, 8h² MLP; Kaplan et al. 2020).
	paramsPerLayerPerHidden2 = 12.0
)

// Chip efficiency: a roofline with one memory-traffic term. Step time per
// executed FLOP is 1/(E·peak) + κ·(h₀/h)^γ/BW: the non-matmul memory traffic
// of a layer (norms, activations, residuals, softmax) moves bytes in
// proportion to s·h while its matmuls do FLOPs in proportion to s·h², so its
// share grows as the hidden size h shrinks, with the exponent γ fitted (see
// fitted.go). Hardware efficiency is E/(1 + κ·(peak/BW)·(h₀/h)^γ). Executed
// FLOPs are model FLOPs × (1 + T/(6·h)), the selective-recomputation
// overhead (Korthikanti et al. 2022; compute facts §5.2). E and κ are solved
// from two published step MFUs of large dense runs at scale, each raised by
// its own recomputation factor:
const (
	// anchorA100MFU: Megatron 1T-parameter benchmark on 3,072 A100 80GB,
	// 163 TF/GPU = 52 % of peak (Narayanan et al. 2021; compute facts §3 row 43);
	// sequence 2,048, hidden size 25,600 (Narayanan et al. 2021 Table 1).
	anchorA100MFU    = 0.52 * (1 + 2048.0/(6*25600))
	anchorA100Hidden = 25600.0
	// anchorA100Balance is A100 80GB peak ÷ memory bandwidth: 312 TFLOPS ÷ 2.039 TB/s.
	anchorA100Balance = 312.0 / 2.039
	// anchorH100MFU: Llama 3.1 405B on 8,192 H100, 430 TF/GPU = 43 % BF16 MFU
	// (Llama 3 paper Table 4; compute facts §3 row 20).
	// Sequence 8,192, hidden size 16,384 (Llama 3 paper Table 3).
	anchorH100MFU    = 0.43 * (1 + 8192.0/(6*16384))
	anchorH100Hidden = 16384.0
	// anchorH100Balance is H100 SXM peak ÷ memory bandwidth: 989.4 TFLOPS ÷ 3.35 TB/s.
	anchorH100Balance = 989.4 / 3.35
	// fallbackBalance (FLOP per byte) stands in when an accelerator's memory
	// bandwidth is unknown: the H100 SXM's balance.
	fallbackBalance = anchorH100Balance
	// referenceHidden is h₀, the hidden size at which κ is quoted.
	referenceHidden = 8192.0
)

// fullRecomputeFactor caps the recomputation overhead: full activation
// recomputation adds one forward pass, 8ND executed for 6ND of model FLOPs
// (compute facts §5.2), and a run whose selective overhead would exceed that
// (very long sequences) would recompute fully instead.
const fullRecomputeFactor = 8.0 / 6.0

// Communication and layout constants.
const (
	// defaultScaleOutGBs is per-accelerator scale-out bandwidth, one direction:
	// 400 Gb/s per GPU (Llama 3 paper §3.3.1); DeepSeek measured 50 GB/s of
	// InfiniBand per H800 (DeepSeek-V3 §3.2.2). Key: scaleOutGBs.
	defaultScaleOutGBs = 50.0
	// defaultScaleUpDomain is accelerators per scale-up domain (an 8-GPU
	// HGX/DGX node). Assumed for every chip. Key: scaleUpDomain.
	defaultScaleUpDomain = 8.0
	// pcieScaleUpGBs is the bidirectional PCIe Gen4 x16 figure used when a
	// chip's scale-up bandwidth is unknown (64 GB/s; compute facts §1, L40S row).
	pcieScaleUpGBs = 64.0
	// Critical batch size: the global batch a run can use without wasting
	// tokens grows with its compute budget C (FLOPs). DeepSeek LLM fitted
	// B_opt = 0.292·C^0.3271 tokens (DeepSeek-AI 2024, arXiv 2401.02954,
	// §3.1), the batch at which loss is best for a budget. Whole published
	// runs used smaller batches: Llama 2 70B 4M tokens (compute facts §3 row
	// 15) where the formula gives 19M, Llama 3 405B 16M (Llama 3 paper §3.4)
	// where it gives 68M. The exponent stays DeepSeek's; the scale a is
	// fitted to the fitting half of the calibration runs (fitted.go:
	// fittedCriticalBatchScale). Data parallelism beyond batch ÷ sequence
	// replicas is impossible, so a larger pool must split each replica
	// further (tensor and pipeline parallelism) and pays for it. Keys:
	// criticalBatchScale, criticalBatchExponent; globalBatchTokens replaces
	// the formula.
	defaultCriticalBatchExponent = 0.3271
	// dpBytesPerParamFull is data-parallel traffic per parameter per step under
	// ZeRO-3/FSDP in bf16: all-gather forward, all-gather backward,
	// reduce-scatter gradients, 2 B each (Rajbhandari et al. 2020, ZeRO §7).
	// Key: dpBytesPerParam.
	dpBytesPerParamFull = 6.0
	// tensorParallelBytesPerTokenPerHidden: Megatron tensor parallelism does
	// two all-reduces (or all-gather + reduce-scatter with sequence
	// parallelism) of the 2-byte layer activations in the forward pass and two
	// in the backward (Shoeybi et al. 2019 §3), each moving 2(t−1)/t of the
	// message per rank in a ring: 4 × 2 × 2 = 16·(t−1)/t bytes per token per
	// hidden unit per layer.
	tensorParallelBytesPerTokenPerHidden = 16.0
	// defaultTensorParallelOverlap is the share of tensor-parallel traffic
	// hidden behind the GEMMs that produce and consume it: Megatron-Core and
	// Transformer Engine split those GEMMs and overlap their collectives
	// ("tp_comm_overlap"), older stacks hide none. None is assumed: with half
	// hidden, the fit to the calibration runs (fitted.go) gets worse and
	// makes up for it with stragglers, so whole runs at scale did not hide
	// it. Key: tensorParallelOverlap.
	defaultTensorParallelOverlap = 0.0
	// defaultPipelineInterleave is v, the virtual stages per pipeline rank of
	// Megatron's interleaved 1F1B schedule, which divides the bubble
	// (p−1)/m by v (Narayanan et al. 2021 §2.2). Llama 3 used an interleaved
	// schedule (Llama 3 paper §3.3.2); v = 2 assumed. Key: pipelineInterleave.
	defaultPipelineInterleave = 2.0
	// defaultMoETopK is routed experts per token for MoE all-to-all traffic
	// when spec.model.expertsPerToken is not given: DeepSeek-V3 routes 8
	// (DeepSeek-V3 report §2.1). Key: moeTopK.
	defaultMoETopK = 8.0
	// moeBytesPerElement: dispatch and combine activations in bf16 (2 B).
	moeBytesPerElement = 2.0
	// defaultMoEImbalance is the extra expert compute of uneven routing:
	// experts are sized for a capacity factor of 1.25 (Fedus et al. 2021,
	// Switch Transformer §2.2; GShard uses the same), so the busiest expert
	// does up to 25 % more than the mean, on the expert (MLP) share of the
	// linear FLOPs. Key: moeImbalance.
	defaultMoEImbalance = 0.25
	// defaultCausalAttentionShare is the share of the attention term's 12·L·h·T
	// FLOPs per token a causal model really executes: FlashAttention skips the
	// blocks above the diagonal, about half (Dao 2023, FlashAttention-2 §3.1).
	// The time model counts this share; reported FLOPs and MFU keep the PaLM
	// convention. Key: causalAttentionShare.
	defaultCausalAttentionShare = 0.5
	// mlpShareOfBlock is the MLP's share of a standard block's parameters and
	// linear FLOPs: 8h² of 12h² (Kaplan et al. 2020).
	mlpShareOfBlock = 8.0 / 12.0
)

// Goodput: interruptions at scale (Llama 3 paper §3.3.4): 419 unexpected
// interruptions in 54 days on 16,384 H100 (about one every 3 hours), with more
// than 90 % effective training time.
const (
	// defaultMTBFChipHours is chip-hours per interruption: 16,384 × 54 × 24 ÷ 419.
	// Key: mtbfChipHours.
	defaultMTBFChipHours = 16384.0 * 54 * 24 / 419
	anchorGoodputChips   = 16384.0
	anchorGoodput        = 0.90
)

// defaultLostHoursPerInterruption is the wall time one interruption costs
// (restart plus work since the last checkpoint), solved so that goodput at
// 16,384 chips is 0.90: τ = (1/0.9 − 1) · MTBF / 16,384 ≈ 0.34 h.
// Key: lostHoursPerInterruption.
var defaultLostHoursPerInterruption = (1/anchorGoodput - 1) * defaultMTBFChipHours / anchorGoodputChips

// Whole-run terms beyond the step.
const (
	// Stragglers: a synchronous step waits for the slowest of n nodes. With
	// per-node step-time jitter σ (a share of the step), the expected maximum
	// of n normal delays is about σ·√(2·ln n) (the Gaussian extreme-value
	// bound; Llama 3 §3.3.4 and MegaScale, Jiang et al. 2024 §4, describe
	// stragglers slowing whole jobs). σ is fitted (fitted.go).
	// Key: stragglerJitter.
	//
	// Older stacks: chips from before bfloat16 tensor cores (NVIDIA's A100,
	// 2020) run software that newer kernels no longer serve (FlashAttention-2
	// supports Ampere and later only; fp16 needs loss scaling), so each year
	// a chip predates 2020 slows the step by a fitted share (fitted.go).
	// Key: olderStackPenalty.
	olderStackYear = 2020
	//
	// Checkpoints: each stalls the run while a chip writes its share of the
	// weights and optimizer state. Llama 3's storage sustained 2 TB/s for
	// 16,384 GPUs (Llama 3 paper §3.3.1; compute facts §4): 0.122 GB/s per
	// accelerator. Key: checkpointWriteGBs.
	defaultCheckpointWriteGBs = 2000.0 / 16384
	// defaultCheckpointEvery is the checkpoint interval when the job sets no
	// spec.checkpointEvery: one hour. Assumed.
	defaultCheckpointEveryHours = 1.0
	// defaultWarmupHours is the wall time a fresh allocation spends before its
	// first useful step: scheduling the nodes, loading the container, the
	// model and the data, compiling, and the first collective tests. Half an
	// hour is assumed (no measured figure in the facts); it matters only for
	// short runs. Key: warmupHours.
	defaultWarmupHours = 0.5
)

// Fine-tuning constants.
const (
	// defaultLoRARank is the adapter rank when spec.lora.rank is not given. Assumed.
	defaultLoRARank = 16
	// loraParamsPerLayerPerRankPerHidden: adapters on every linear layer of a
	// standard block (q, k, v, o: 4 × 2h; MLP up and down with 4h: 2 × 5h)
	// hold 18·h·r parameters per layer.
	loraParamsPerLayerPerRankPerHidden = 18.0
	// defaultLoRAFraction is the trainable share when neither the fraction nor
	// the shape is given: 0.5 %, about rank-16 adapters on all linear layers of
	// a 7B model. Assumed. Key: loraTrainableFraction.
	defaultLoRAFraction = 0.005
	// defaultQLoRADequantOverhead is extra compute time for de-quantising NF4
	// weights before each matmul, as a share of compute time. Assumed (no
	// measured figure in the facts). Key: qloraDequantOverhead.
	defaultQLoRADequantOverhead = 0.25
)

// Run terms tried as candidates for the fit and not adopted (fit.go's
// runTerms; TestCandidates compares them by cross-validation on the fitting
// half). Estimate applies none of them; only the fitter's trials do.
const (
	// Tokens per parameter: running time × (D ÷ (N·20))^β, with D the tokens,
	// N the active parameters and 20 the compute-optimal ratio of Hoffmann
	// et al. 2022 (Chinchilla). A run far past it is long and on a settled
	// stack (evaluation, restarts and tuning amortised over more steps); one
	// short of it pays them over fewer.
	tokensPerParamReference = 20.0
	// Job size: running time × (C ÷ 10²³ FLOPs)^β: a larger run realises
	// less of its tuned step rate (more evaluation, data and failure
	// handling at scale; Llama 3 §3.3.4, MegaScale, Jiang et al. 2024 §4).
	// 10²³ FLOPs is about Llama 2 7B's pretraining.
	jobFLOPsReference = 1e23
	// Chip generation: running time ÷ ρ on chips launched before
	// sequenceGenerationYear (V100, A100, TPU v4), a run efficiency of their
	// own relative to newer chips', whose stacks brought FlashAttention-2 and
	// FP8 training.
)
