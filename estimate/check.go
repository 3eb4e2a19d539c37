package estimate

import (
	"fmt"
	"math"

	"meridian.dev/meridian/catalog"
)

// finite reports whether x is a number (not NaN, not ±Inf).
func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// checkInput refuses, naming the field, what no loaded job, built-in
// accelerator or checked price holds: a NaN, an infinity, a size of 0 or
// less, a count below 0, a spec.assumptions value outside its range. The
// loader checks all of it and more; this is what lets Estimate promise a
// finite answer or an error that says which number is wrong to a caller
// that built its input by hand. It costs a few comparisons per call.
func checkInput(in *Input) error {
	job, acc := in.Job, in.Accelerator
	m := &job.Model
	if !finite(m.Parameters) || m.Parameters <= 0 {
		return fmt.Errorf("spec.model.parameters %v: want a number of parameters above 0", m.Parameters)
	}
	if !finite(m.ActiveParameters) || m.ActiveParameters < 0 || m.ActiveParameters > m.Parameters {
		return fmt.Errorf("spec.model.activeParameters %v: want 0 (dense) up to spec.model.parameters (%v)", m.ActiveParameters, m.Parameters)
	}
	if !finite(job.Tokens) || job.Tokens <= 0 {
		return fmt.Errorf("spec.tokens %v: want a number of training tokens above 0", job.Tokens)
	}
	for _, f := range [...]struct {
		name string
		v    int
	}{{"layers", m.Layers}, {"hiddenSize", m.HiddenSize}, {"sequenceLength", m.SequenceLength}, {"experts", m.Experts}, {"expertsPerToken", m.ExpertsPerToken}} {
		if f.v < 0 {
			return fmt.Errorf("spec.model.%s %d: want 0 (not given) or more", f.name, f.v)
		}
	}
	if l := job.LoRA; l != nil {
		if l.Rank < 0 {
			return fmt.Errorf("spec.lora.rank %d: want 0 (not given) or more", l.Rank)
		}
		if !finite(l.TrainableFraction) || l.TrainableFraction < 0 || l.TrainableFraction > 1 {
			return fmt.Errorf("spec.lora.trainableFraction %v: want a share of parameters, 0 to 1", l.TrainableFraction)
		}
	}
	if !in.assumptionsChecked {
		if err := checkAssumptions(job.Assumptions); err != nil {
			return err
		}
	}
	if !finite(in.PricePerHour) || in.PricePerHour < 0 {
		return fmt.Errorf("price %v: want USD per accelerator-hour, 0 or more", in.PricePerHour)
	}
	if name := badFact(acc); name != "" {
		return fmt.Errorf("accelerator %s: %s: want a finite figure, 0 or more", acc.ID, name)
	}
	return nil
}

// badFact names the first figure of acc the estimate reads that is given
// but is NaN, infinite or negative ("" when none is).
func badFact(acc *catalog.Accelerator) string {
	bad := func(f *catalog.Fact) bool { return f.Value != nil && (!finite(*f.Value) || *f.Value < 0) }
	switch {
	case bad(&acc.BF16TFLOPS):
		return fmt.Sprintf("bf16TFLOPS %v", *acc.BF16TFLOPS.Value)
	case bad(&acc.FP8TFLOPS):
		return fmt.Sprintf("fp8TFLOPS %v", *acc.FP8TFLOPS.Value)
	case bad(&acc.MemoryGB):
		return fmt.Sprintf("memoryGB %v", *acc.MemoryGB.Value)
	case bad(&acc.MemoryBandwidthTBs):
		return fmt.Sprintf("memoryBandwidthTBs %v", *acc.MemoryBandwidthTBs.Value)
	case bad(&acc.ScaleUpGBs):
		return fmt.Sprintf("scaleUpGBs %v", *acc.ScaleUpGBs.Value)
	}
	return ""
}

// checkAssumptions refuses a spec.assumptions value outside its key's
// range, naming it.
func checkAssumptions(m map[string]float64) error {
	for k, v := range m {
		if key, ok := keys.Lookup(k); ok && !key.Accepts(v) {
			if catalog.Subnormal(v) {
				return fmt.Errorf("spec.assumptions.%s %v: a denormal number, too small to compute with; want %s", k, v, key.Range())
			}
			return fmt.Errorf("spec.assumptions.%s %v: want %s", k, v, key.Range())
		}
	}
	return nil
}
