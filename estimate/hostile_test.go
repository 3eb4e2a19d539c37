package estimate

import (
	"errors"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
)

// TestNoLayoutIsNoZeroStep: a step time past the largest float in every
// layout (a maxEfficiency or a link a hair above 0 on the largest job the
// loader accepts) left the step at 0 s, so the largest job was estimated at
// its warm-up alone, half an hour, and passed any deadline and budget. It
// must be refused as an overflow, naming the assumption.
func TestNoLayoutIsNoZeroStep(t *testing.T) {
	for _, a := range []map[string]float64{
		{"maxEfficiency": 1e-300},
		{"scaleUpGBs": 1e-300},
		{"scaleOutGBs": 1e-300},
		{"checkpointWriteGBs": 1e-300},
	} {
		for _, count := range []int{1, 7, 64, 4096} {
			job := &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 1e15}, Method: "pretrain", Tokens: 1e16, Assumptions: a}
			if !accepted(t, job) {
				t.Fatalf("%v: the loader refuses it", a)
			}
			r, err := Estimate(Input{Job: job, Accelerator: testChip(), Count: count, PricePerHour: 1})
			if err == nil {
				if r.Hours < 1e6 {
					t.Errorf("%v on %d: %g h for 6e31 FLOPs (mfu %g)", a, count, r.Hours, r.MFU)
				}
				continue
			}
			for k := range a {
				if !strings.Contains(err.Error(), "spec.assumptions."+k) {
					t.Errorf("%v on %d: %v does not name spec.assumptions.%s", a, count, err, k)
				}
			}
		}
	}
}

// TestJobNumbersErrorsAreMarked: the errors of the job's own numbers are
// ErrJobNumbers, so that a caller cites the job; an accelerator without a
// peak is not.
func TestJobNumbersErrorsAreMarked(t *testing.T) {
	big := catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 1e15}, Method: "pretrain", Tokens: 1e16,
		Assumptions: map[string]float64{"maxEfficiency": 1e-300}}
	moe := catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 1e10, ActiveParameters: 1e9, Experts: 8, ExpertsPerToken: 2},
		Method: "pretrain", Tokens: 1e11, Assumptions: map[string]float64{"moeTopK": 64}}
	for _, job := range []*catalog.TrainingJobSpec{&big, &moe} {
		_, err := Estimate(Input{Job: job, Accelerator: testChip(), Count: 8})
		if !errors.Is(err, ErrJobNumbers) {
			t.Errorf("%v: %v is not ErrJobNumbers", job.Assumptions, err)
		}
	}
	noPeak := testChip()
	noPeak.BF16TFLOPS = catalog.Fact{}
	job := catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 1e10}, Method: "pretrain", Tokens: 1e11}
	if _, err := Estimate(Input{Job: &job, Accelerator: noPeak, Count: 8}); err == nil || errors.Is(err, ErrJobNumbers) {
		t.Errorf("an accelerator without a peak: %v", err)
	}
}
