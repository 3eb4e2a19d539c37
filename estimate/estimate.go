// Package estimate says how long and how much a training job takes on a pool
// of accelerators: FLOPs, memory per accelerator, time, accelerator-hours and
// cost, with every assumption stated.
package estimate

import (
	"errors"

	"meridian.dev/meridian/catalog"
)

// Input is one question to the estimator: this job on Count of this accelerator.
type Input struct {
	Job         *catalog.TrainingJobSpec
	Accelerator *catalog.Accelerator
	Count       int
	// PricePerHour is USD per accelerator-hour; 0 leaves cost at 0.
	PricePerHour float64
}

// Result is the estimator's answer; JSON field names are part of the public
// contract (SCHEMA.md, estimate -o json).
type Result struct {
	FLOPs                  float64  `json:"flops"`
	AcceleratorHours       float64  `json:"acceleratorHours"`
	Hours                  float64  `json:"hours"`
	MFU                    float64  `json:"mfu"`
	Goodput                float64  `json:"goodput"`
	MemoryPerAcceleratorGB float64  `json:"memoryPerAcceleratorGB"`
	Fits                   bool     `json:"fits"`
	CostUSD                float64  `json:"costUSD"`
	Assumptions            []string `json:"assumptions"`
}

// ErrNotImplemented is returned until the estimator lands.
var ErrNotImplemented = errors.New("estimate: not implemented yet")

// Estimate answers in. It returns an error when the accelerator lacks a fact
// the estimate needs and no fallback exists.
func Estimate(in Input) (Result, error) { return Result{}, ErrNotImplemented }

// TrainingFLOPs is the model FLOPs of the whole job, independent of hardware.
func TrainingFLOPs(job *catalog.TrainingJobSpec) float64 { return 0 }

// MinCount is the smallest number of accelerators whose memory holds the job
// (0 when even the largest sensible count does not).
func MinCount(job *catalog.TrainingJobSpec, acc *catalog.Accelerator) int { return 0 }
