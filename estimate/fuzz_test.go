package estimate

import (
	"math"
	"testing"

	"meridian.dev/meridian/catalog"
)

// FuzzEstimate feeds arbitrary jobs to Estimate and MinCount: no input may
// panic, and every accepted estimate is finite and non-negative.
func FuzzEstimate(f *testing.F) {
	f.Add(7.6e9, 0.0, 2e10, 28, 3584, 4096, 64, uint8(1), uint8(0), 0.0, 16, 0.0, 0.0)
	f.Add(671e9, 37e9, 14.8e12, 61, 7168, 4096, 2048, uint8(0), uint8(1), 0.0, 0, 0.0, 0.0)
	f.Add(70e9, 0.0, 1e7, 80, 8192, 4096, 8, uint8(3), uint8(2), 0.4, 64, 0.01, 1e9)
	f.Add(1.0, 0.0, 1.0, 0, 0, 0, 1, uint8(2), uint8(0), 1.0, 0, 1.0, 0.0)
	f.Fuzz(func(t *testing.T, params, active, tokens float64, layers, hidden, seq, count int, method, prec uint8,
		mfu float64, rank int, frac, batch float64) {
		methods := []string{"pretrain", "full-finetune", "lora", "qlora", "", "dpo"}
		precs := []string{"bf16", "fp8", "fp16", "", "int4"}
		job := &catalog.TrainingJobSpec{
			Model:  catalog.Model{Parameters: params, ActiveParameters: active, Layers: layers, HiddenSize: hidden, SequenceLength: seq},
			Method: methods[int(method)%len(methods)], Tokens: tokens, Precision: precs[int(prec)%len(precs)],
			LoRA:        &catalog.LoRA{Rank: rank, TrainableFraction: frac},
			Assumptions: map[string]float64{},
		}
		if mfu != 0 {
			job.Assumptions["mfu"] = mfu
		}
		if batch != 0 {
			job.Assumptions["globalBatchTokens"] = batch
		}
		acc := testChip()
		r, err := Estimate(Input{Job: job, Accelerator: acc, Count: count, PricePerHour: 1})
		if err == nil {
			for name, x := range map[string]float64{"flops": r.FLOPs, "hours": r.Hours, "mfu": r.MFU, "goodput": r.Goodput,
				"memory": r.MemoryPerAcceleratorGB, "cost": r.CostUSD, "acceleratorHours": r.AcceleratorHours} {
				if math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
					t.Fatalf("%s = %v for %+v on %d", name, x, job, count)
				}
			}
			if len(r.Assumptions) == 0 {
				t.Fatal("no assumptions")
			}
		}
		if count > 0 && count < 1<<12 {
			_ = MinCount(job, acc)
		}
		_ = TrainingFLOPs(job)
	})
}
