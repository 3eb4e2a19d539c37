package estimate

import (
	"math"
	"testing"

	"meridian.dev/meridian/catalog"
)

// nemoRow is one NVIDIA NeMo 24.12 reference throughput on H100 in FP8
// (docs.nvidia.com NeMo 24.12 performance_summary; compute facts §3 rows
// 41–42). These are steady-state benchmark throughputs of a tuned stack, so
// the whole-run terms are switched off (goodput 1, run efficiency 1, no
// warm-up, no checkpoint stalls, no stragglers) and tensor-parallel traffic is hidden behind the GEMMs, as NeMo's
// performance recipes do (tp_comm_overlap); the global batch is not in the
// facts, and Llama 2's 4M tokens is assumed, as this test always has.
type nemoRow struct {
	name           string
	method         string
	params         float64
	layers, hidden int
	seq            int
	count          int
	tokensPerSec   float64 // per GPU, reported
}

var nemoRows = []nemoRow{
	{"GPT3-175B pretrain", catalog.MethodPretrain, 175e9, 96, 12288, 2048, 512, 825},
	{"Llama2-70B pretrain", catalog.MethodPretrain, 69e9, 80, 8192, 4096, 64, 1728},
	{"Llama3-70B pretrain", catalog.MethodPretrain, 70.6e9, 80, 8192, 8192, 64, 1524},
	{"Llama3-8B pretrain", catalog.MethodPretrain, 8.03e9, 32, 4096, 8192, 8, 12273},
	{"Nemotron-340B pretrain", catalog.MethodPretrain, 341e9, 96, 18432, 4096, 128, 326},
	{"Llama2-7B SFT", catalog.MethodFullFinetune, 6.74e9, 32, 4096, 4096, 8, 16891},
	{"Llama2-70B SFT", catalog.MethodFullFinetune, 69e9, 80, 8192, 4096, 16, 1816},
	{"Llama2-70B LoRA", catalog.MethodLoRA, 69e9, 80, 8192, 4096, 8, 2621},
}

// maxNeMoError bounds each row's throughput error. The model was not fitted
// to these rows; FP8 efficiency follows from the roofline alone.
const maxNeMoError = 0.30

// TestNeMoThroughputSanity checks predicted tokens/s per GPU against NeMo's
// FP8 reference throughputs, including full fine-tunes and a LoRA.
func TestNeMoThroughputSanity(t *testing.T) {
	h100 := builtinAccelerator(t, "nvidia-h100-sxm")
	var apes []float64
	for _, c := range nemoRows {
		t.Run(c.name, func(t *testing.T) {
			job := &catalog.TrainingJobSpec{
				Model:  catalog.Model{Parameters: c.params, Layers: c.layers, HiddenSize: c.hidden, SequenceLength: c.seq},
				Method: c.method, Tokens: 10e6, Precision: "fp8",
				Assumptions: map[string]float64{"goodput": 1, "runEfficiency": 1, "warmupHours": 0, "globalBatchTokens": 4 << 20, "tensorParallelOverlap": 1, "checkpointWriteGBs": 1e6, "stragglerJitter": 0},
			}
			r, err := Estimate(Input{Job: job, Accelerator: h100, Count: c.count, SkipAssumptions: true})
			if err != nil {
				t.Fatal(err)
			}
			got := job.Tokens / (r.Hours * 3600) / float64(c.count)
			e := (got - c.tokensPerSec) / c.tokensPerSec
			apes = append(apes, math.Abs(e))
			t.Logf("predicted %.0f tokens/s/GPU, reported %.0f, error %+.1f %% (MFU %.3f of fp8 peak, fits %v at %.1f GB)",
				got, c.tokensPerSec, 100*e, r.MFU, r.Fits, r.MemoryPerAcceleratorGB)
			if math.Abs(e) > maxNeMoError {
				t.Errorf("throughput error %+.1f %% beyond ±%.0f %%", 100*e, 100*maxNeMoError)
			}
		})
	}
}
