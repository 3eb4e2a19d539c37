package estimate

import (
	"fmt"
	"sort"

	"meridian.dev/meridian/catalog"
)

// Every constant the estimator uses is named here with its source. The ones a
// job may override through spec.assumptions carry the key in their comment;
// Keys lists them all.

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
	// defaultModelParallelShare: the time model lays a job out as tensor/pipeline
	// groups just large enough that an unsharded replica's weights, gradients
	// and optimizer state fill this share of a chip's memory (the rest is for
	// activations). Assumed. Key: modelParallelMemoryShare.
	defaultModelParallelShare = 0.5
	// maxCountSearch caps MinCount's search.
	maxCountSearch = 1 << 20
)

// Chip efficiency: a roofline with one memory-traffic term. Step time per
// executed FLOP is 1/(E·peak) + κ/BW, so hardware efficiency is
// E / (1 + κ·peak/BW). Executed FLOPs are model FLOPs × (1 + T/(6·h)), the
// selective-recomputation overhead (Korthikanti et al. 2022; compute facts
// §5.2), since the memory model assumes selective recomputation. E and κ are
// solved from two published step MFUs of large dense runs at scale, each
// raised by its own recomputation factor:
const (
	// anchorA100MFU: Megatron 1T-parameter benchmark on 3,072 A100 80GB,
	// 163 TF/GPU = 52 % of peak (Narayanan et al. 2021; compute facts §3 row 43);
	// sequence 2,048, hidden size 25,600 (Narayanan et al. 2021 Table 1).
	anchorA100MFU = 0.52 * (1 + 2048.0/(6*25600))
	// anchorA100Balance is A100 80GB peak ÷ memory bandwidth: 312 TFLOPS ÷ 2.039 TB/s.
	anchorA100Balance = 312.0 / 2.039
	// anchorH100MFU: Llama 3.1 405B on 8,192 H100, 430 TF/GPU = 43 % BF16 MFU
	// (Llama 3 paper Table 4; compute facts §3 row 20).
	// Sequence 8,192, hidden size 16,384 (Llama 3 paper Table 3).
	anchorH100MFU = 0.43 * (1 + 8192.0/(6*16384))
	// anchorH100Balance is H100 SXM peak ÷ memory bandwidth: 989.4 TFLOPS ÷ 3.35 TB/s.
	anchorH100Balance = 989.4 / 3.35
	// fallbackBalance (FLOP per byte) stands in when an accelerator's memory
	// bandwidth is unknown: the H100 SXM's balance.
	fallbackBalance = anchorH100Balance
)

// fullRecomputeFactor caps the recomputation overhead: full activation
// recomputation adds one forward pass, 8ND executed for 6ND of model FLOPs
// (compute facts §5.2), and a run whose selective overhead would exceed that
// (very long sequences) would recompute fully instead.
const fullRecomputeFactor = 8.0 / 6.0

// Derived from the anchors: κ = (a1−a2)/(a2·r2 − a1·r1), E = a1·(1+κ·r1).
// κ ≈ 0.0014 byte of non-matmul memory traffic per executed FLOP; E ≈ 0.64.
var (
	defaultBytesPerFLOP  = (anchorA100MFU - anchorH100MFU) / (anchorH100MFU*anchorH100Balance - anchorA100MFU*anchorA100Balance)
	defaultMaxEfficiency = anchorA100MFU * (1 + defaultBytesPerFLOP*anchorA100Balance)
)

// Communication constants.
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
	// defaultGlobalBatchTokens is tokens per optimizer step: Llama 2's 4M
	// (compute facts §3 row 15); raised when the data-parallel groups need more
	// to hold one sequence each. Key: globalBatchTokens.
	defaultGlobalBatchTokens = 4 << 20
	// dpBytesPerParamFull is data-parallel traffic per parameter per step under
	// ZeRO-3/FSDP in bf16: all-gather forward, all-gather backward,
	// reduce-scatter gradients, 2 B each (Rajbhandari et al. 2020, ZeRO §7).
	// Key: dpBytesPerParam.
	dpBytesPerParamFull = 6.0
	// defaultMoETopK is routed experts per token for MoE all-to-all traffic:
	// DeepSeek-V3 routes 8 (DeepSeek-V3 report §2.1). Key: moeTopK.
	defaultMoETopK = 8.0
	// moeBytesPerElement: dispatch and combine activations in bf16 (2 B).
	moeBytesPerElement = 2.0
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

// Keys lists the names a job may set under spec.assumptions, with what each means.
var Keys = map[string]string{
	"mfu":                      "model FLOPs utilisation, 0–1 (replaces the chip/communication model)",
	"bytesPerParam":            "bytes per trained parameter for weights, gradients and optimizer state (16 for mixed-precision AdamW)",
	"frozenBytesPerParam":      "bytes per frozen base parameter for lora (2) and qlora (0.5)",
	"activationBytes":          "activation bytes per token per hidden unit per layer with selective recompute (34)",
	"checkpointBytes":          "bytes per token per hidden unit kept for a layer checkpointed in full (2: its input only)",
	"dpBytesPerParam":          "data-parallel traffic per parameter per step, bytes (6 for ZeRO-3 in bf16)",
	"recomputeOverhead":        "extra executed FLOPs for recomputation, share of model FLOPs (default T/(6h))",
	"goodput":                  "effective share of wall time, 0–1 (replaces the interruption model)",
	"maxEfficiency":            "E in MFU = E/(1+κ·peak/bandwidth), 0–1",
	"bytesPerFLOP":             "κ: non-matmul memory traffic per model FLOP, bytes",
	"scaleOutGBs":              "scale-out bandwidth per accelerator, GB/s one direction",
	"scaleUpGBs":               "scale-up bandwidth per accelerator, GB/s bidirectional (replaces the catalog's)",
	"scaleUpDomain":            "accelerators per scale-up domain",
	"globalBatchTokens":        "tokens per optimizer step",
	"microBatch":               "sequences per micro-batch",
	"memoryHeadroom":           "share of accelerator memory kept free, 0–1",
	"modelParallelMemoryShare": "share of memory an unsharded replica's state may fill when sizing tensor×pipeline groups, 0–1",
	"mtbfChipHours":            "accelerator-hours between interruptions",
	"lostHoursPerInterruption": "wall hours lost per interruption",
	"moeTopK":                  "routed experts per token (MoE)",
	"loraTrainableFraction":    "trainable share of parameters for lora/qlora when spec.lora does not say, 0–1",
	"qloraDequantOverhead":     "extra compute time for NF4 de-quantisation, share of compute",
	"pricePerHour":             "USD per accelerator-hour (replaces the site's or --price)",
}

// fractionKeys must lie in (0, 1].
var fractionKeys = map[string]bool{"mfu": true, "goodput": true, "maxEfficiency": true,
	"memoryHeadroom": false, "modelParallelMemoryShare": true, "loraTrainableFraction": true}

func init() {
	for k, doc := range Keys {
		catalog.RegisterAssumption(k, "estimator: "+doc)
	}
}

// KeyNames returns the spec.assumptions keys the estimator reads, sorted.
func KeyNames() []string {
	out := make([]string, 0, len(Keys))
	for k := range Keys {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// params are the constants in force for one estimate.
type params struct {
	mfu, goodput            float64 // 0 = use the model
	maxEff, bytesPerFLOP    float64
	scaleOutGBs, scaleUpGBs float64 // scaleUpGBs 0 = catalog
	scaleUpDomain           float64
	globalBatchTokens       float64
	microBatch              float64
	headroom                float64
	mpShare                 float64
	mtbf, lostHours         float64
	moeTopK                 float64
	loraFraction            float64
	qloraOverhead           float64
	bytesPerParam           float64
	frozenBytes             float64 // 0 = method default
	activationBytes         float64
	checkpointBytes         float64
	dpBytesPerParam         float64
	recomputeOverhead       float64 // used when set
	pricePerHour            float64 // 0 = from Input
	assumptionsMap          map[string]float64
}

func defaultParams() params {
	return params{
		maxEff: defaultMaxEfficiency, bytesPerFLOP: defaultBytesPerFLOP,
		scaleOutGBs: defaultScaleOutGBs, scaleUpDomain: defaultScaleUpDomain,
		globalBatchTokens: defaultGlobalBatchTokens, microBatch: defaultMicroBatch,
		headroom: defaultHeadroom, mpShare: defaultModelParallelShare,
		mtbf: defaultMTBFChipHours, lostHours: defaultLostHoursPerInterruption,
		moeTopK: defaultMoETopK, loraFraction: defaultLoRAFraction,
		qloraOverhead: defaultQLoRADequantOverhead,
		bytesPerParam: bytesPerParamAdamW, activationBytes: activationBytesPerTokenPerHidden,
		checkpointBytes: checkpointBytesPerTokenPerHidden,
		dpBytesPerParam: dpBytesPerParamFull,
	}
}

// applyOverrides sets params from a job's spec.assumptions; an out-of-range
// value of one of the estimator's keys is an error naming the key. Keys the
// estimator does not read are skipped: the catalog's loader has checked that
// some package registered them.
func (p *params) applyOverrides(m map[string]float64) error {
	if len(m) == 0 {
		return nil
	}
	p.assumptionsMap = m
	for k, v := range m {
		var dst *float64
		switch k {
		case "mfu":
			dst = &p.mfu
		case "goodput":
			dst = &p.goodput
		case "maxEfficiency":
			dst = &p.maxEff
		case "bytesPerFLOP":
			dst = &p.bytesPerFLOP
		case "scaleOutGBs":
			dst = &p.scaleOutGBs
		case "scaleUpGBs":
			dst = &p.scaleUpGBs
		case "scaleUpDomain":
			dst = &p.scaleUpDomain
		case "globalBatchTokens":
			dst = &p.globalBatchTokens
		case "microBatch":
			dst = &p.microBatch
		case "memoryHeadroom":
			dst = &p.headroom
		case "modelParallelMemoryShare":
			dst = &p.mpShare
		case "mtbfChipHours":
			dst = &p.mtbf
		case "lostHoursPerInterruption":
			dst = &p.lostHours
		case "moeTopK":
			dst = &p.moeTopK
		case "loraTrainableFraction":
			dst = &p.loraFraction
		case "qloraDequantOverhead":
			dst = &p.qloraOverhead
		case "pricePerHour":
			dst = &p.pricePerHour
		case "bytesPerParam":
			dst = &p.bytesPerParam
		case "frozenBytesPerParam":
			dst = &p.frozenBytes
		case "activationBytes":
			dst = &p.activationBytes
		case "dpBytesPerParam":
			dst = &p.dpBytesPerParam
		case "recomputeOverhead":
			dst = &p.recomputeOverhead
		case "checkpointBytes":
			dst = &p.checkpointBytes
		default:
			// Another package's key (the planner's, say): catalog.Validate
			// checks that every key is registered by some reader.
			continue
		}
		if v != v || v < 0 || v > 1e18 {
			return fmt.Errorf("spec.assumptions.%s: %v is not a non-negative number", k, v)
		}
		if strict, isFrac := fractionKeys[k]; isFrac {
			if v > 1 || (strict && v == 0) {
				return fmt.Errorf("spec.assumptions.%s: %v is outside (0, 1]", k, v)
			}
			if !strict && v >= 1 {
				return fmt.Errorf("spec.assumptions.%s: %v is outside [0, 1)", k, v)
			}
		}
		switch k {
		case "bytesPerFLOP", "lostHoursPerInterruption", "qloraDequantOverhead", "pricePerHour", "memoryHeadroom",
			"activationBytes", "checkpointBytes", "dpBytesPerParam", "recomputeOverhead":
		default:
			if v == 0 {
				return fmt.Errorf("spec.assumptions.%s: must be more than 0", k)
			}
		}
		*dst = v
	}
	return nil
}

func (p *params) set(k string) bool {
	_, ok := p.assumptionsMap[k]
	return ok
}
