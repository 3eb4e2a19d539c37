package estimate

import (
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
