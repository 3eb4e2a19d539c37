package estimate

import (
	"testing"

	"meridian.dev/meridian/catalog"
)

func benchInput(b *testing.B, skip bool) Input {
	accs, err := catalog.BuiltinAccelerators()
	if err != nil {
		b.Fatal(err)
	}
	return Input{Job: benchJob(), Accelerator: accs["nvidia-h100-sxm"], Count: 64, PricePerHour: 2.4, SkipAssumptions: skip}
}

// benchJob is the example job: a 7.6B full fine-tune on 20B tokens.
func benchJob() *catalog.TrainingJobSpec {
	return &catalog.TrainingJobSpec{
		Model:  catalog.Model{Parameters: 7.6e9, Layers: 28, HiddenSize: 3584, SequenceLength: 4096},
		Method: "full-finetune", Tokens: 2e10, Precision: "bf16",
	}
}

// BenchmarkEstimate is one estimate with its assumptions, as the CLI prints it.
func BenchmarkEstimate(b *testing.B) {
	in := benchInput(b, false)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Estimate(in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEstimateSkipAssumptions is one estimate as the planner makes it.
func BenchmarkEstimateSkipAssumptions(b *testing.B) {
	in := benchInput(b, true)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Estimate(in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMinCount is the binary search for the smallest pool that fits.
func BenchmarkMinCount(b *testing.B) {
	in := benchInput(b, true)
	b.ReportAllocs()
	for b.Loop() {
		if MinCount(in.Job, in.Accelerator) == 0 {
			b.Fatal("does not fit")
		}
	}
}

// BenchmarkEstimateSizeOnly is one planner estimate of a job that gives only
// its size: the time model derives a shape and lays out its activations.
func BenchmarkEstimateSizeOnly(b *testing.B) {
	in := benchInput(b, true)
	job := *in.Job
	job.Model = catalog.Model{Parameters: job.Model.Parameters}
	in.Job = &job
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Estimate(in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCalibrateAll is the work of `meridian estimate --calibration`:
// every calibration run estimated both ways, and the fitting half's
// families each predicted by a fit to the others.
func BenchmarkCalibrateAll(b *testing.B) {
	accs, err := catalog.BuiltinAccelerators()
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := CalibrateAll(accs); err != nil {
			b.Fatal(err)
		}
	}
}
