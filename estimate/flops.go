package estimate

import (
	"math"

	"meridian.dev/meridian/catalog"
)

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
// It returns 0 (unknown) for a nil job, and for one whose compute cannot
// be computed: parameters or tokens not above zero or not a number, or a
// total that is not a finite number. A NaN went on to the law as the
// job's compute, and no compute threshold is above or below NaN.
func TrainingFLOPs(job *catalog.TrainingJobSpec) float64 {
	if job == nil {
		return 0
	}
	p := defaultParams()
	p.applyOverrides(job.Assumptions)
	if !(job.Model.Parameters > 0) || !(job.Tokens > 0) {
		return 0
	}
	t := breakdown(job, &p).total
	if math.IsNaN(t) || math.IsInf(t, 0) {
		return 0
	}
	return t
}
