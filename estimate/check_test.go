package estimate

import (
	"math"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
)

// TestEstimateNamesBadInput hands Estimate what a caller that skipped the
// loader might: each NaN, infinity, zero or negative figure must be an
// error naming its field, never a result, a panic, or an error blaming
// another field.
func TestEstimateNamesBadInput(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	type in = struct {
		j *catalog.TrainingJobSpec
		a *catalog.Accelerator
		x *Input
	}
	tests := []struct {
		field string
		set   func(in)
	}{
		{"spec.model.parameters", func(c in) { c.j.Model.Parameters = nan }},
		{"spec.model.parameters", func(c in) { c.j.Model.Parameters = inf }},
		{"spec.model.parameters", func(c in) { c.j.Model.Parameters = 0 }},
		{"spec.model.parameters", func(c in) { c.j.Model.Parameters = -7e9 }},
		{"spec.model.activeParameters", func(c in) { c.j.Model.ActiveParameters = nan }},
		{"spec.model.activeParameters", func(c in) { c.j.Model.ActiveParameters = -1 }},
		{"spec.model.activeParameters", func(c in) { c.j.Model.ActiveParameters = 8e9 }},
		{"spec.tokens", func(c in) { c.j.Tokens = nan }},
		{"spec.tokens", func(c in) { c.j.Tokens = inf }},
		{"spec.tokens", func(c in) { c.j.Tokens = 0 }},
		{"spec.tokens", func(c in) { c.j.Tokens = -5 }},
		{"spec.model.layers", func(c in) { c.j.Model.Layers = -1 }},
		{"spec.model.hiddenSize", func(c in) { c.j.Model.HiddenSize = -4096 }},
		{"spec.model.sequenceLength", func(c in) { c.j.Model.SequenceLength = -1 }},
		{"spec.model.experts", func(c in) { c.j.Model.Experts = -3 }},
		{"spec.lora.trainableFraction", func(c in) { c.j.Method = "lora"; c.j.LoRA = &catalog.LoRA{TrainableFraction: nan} }},
		{"spec.lora.trainableFraction", func(c in) { c.j.Method = "lora"; c.j.LoRA = &catalog.LoRA{TrainableFraction: 5} }},
		{"spec.lora.rank", func(c in) { c.j.Method = "lora"; c.j.LoRA = &catalog.LoRA{Rank: -8} }},
		{"spec.assumptions.mfu", func(c in) { c.j.Assumptions = map[string]float64{"mfu": nan} }},
		{"spec.assumptions.goodput", func(c in) { c.j.Assumptions = map[string]float64{"goodput": 5} }},
		{"spec.assumptions.spreadSigma", func(c in) { c.j.Assumptions = map[string]float64{"spreadSigma": -1} }},
		{"spec.assumptions.scaleUpDomain", func(c in) { c.j.Assumptions = map[string]float64{"scaleUpDomain": 0} }},
		{"spec.assumptions.microBatch", func(c in) { c.j.Assumptions = map[string]float64{"microBatch": inf} }},
		{"price", func(c in) { c.x.PricePerHour = nan }},
		{"price", func(c in) { c.x.PricePerHour = inf }},
		{"price", func(c in) { c.x.PricePerHour = -1 }},
		{"bf16TFLOPS", func(c in) { c.a.BF16TFLOPS = fact(inf) }},
		{"bf16TFLOPS", func(c in) { c.a.BF16TFLOPS = fact(nan) }},
		{"fp8TFLOPS", func(c in) { c.j.Precision = "fp8"; c.a.FP8TFLOPS = fact(inf) }},
		{"memoryGB", func(c in) { c.a.MemoryGB = fact(inf) }},
		{"memoryBandwidthTBs", func(c in) { c.a.MemoryBandwidthTBs = fact(nan) }},
		{"scaleUpGBs", func(c in) { c.a.ScaleUpGBs = fact(-800) }},
	}
	for _, tt := range tests {
		c := in{j: &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 7e9}, Method: "pretrain", Tokens: 1e12}, a: testChip()}
		c.x = &Input{Job: c.j, Accelerator: c.a, Count: 8, PricePerHour: 2}
		tt.set(c)
		r, err := Estimate(*c.x)
		if err == nil {
			t.Errorf("%s: no error, result hours %v cost %v peak %v usable %v", tt.field, r.Hours, r.CostUSD, r.PeakTFLOPS, r.UsableMemoryGB)
			continue
		}
		if !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%s: error %q does not name the field", tt.field, err)
		}
	}
}
