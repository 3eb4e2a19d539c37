package estimate

import (
	"math"
	"sort"
	"testing"

	"meridian.dev/meridian/catalog"
)

// publishedRun is one training run with reported accelerator-hours and tokens
// (compute facts §3). Shapes (layers, hidden size) are the models' published
// architectures. Count is the accelerators the run used; countSource says
// where it comes from or that it is assumed.
type publishedRun struct {
	name        string
	params      float64
	active      float64
	tokens      float64
	seq         int
	layers      int
	hidden      int
	accelerator string
	count       int
	countSource string
	precision   string
	hours       float64 // reported accelerator-hours
	source      string
}

// calibrationRuns are every run of compute facts §3 that reports both
// accelerator-hours and tokens.
var calibrationRuns = []publishedRun{
	{"GPT-3 175B", 175e9, 0, 300e9, 2048, 96, 12288, "nvidia-v100", 10000, "NVIDIA press release (assumed by Patterson et al.)", "fp16",
		3.55e6, "Patterson et al. 2021 Table 4 (14.8 days × 10,000 GPUs); shape Brown et al. 2020 Table 2.1; facts §3 row 1"},
	{"BLOOM 176B", 176.247e9, 0, 366e9, 2048, 70, 14336, "nvidia-a100-80gb", 384, "BLOOM paper (384 + 32 spare)", "bf16",
		1082990, "GENCI news page; BLOOM paper; facts §3 row 3"},
	{"PaLM 540B", 540.35e9, 0, 780e9, 2048, 118, 18432, "google-tpu-v4", 6144, "PaLM paper (2 pods)", "bf16",
		8.40e6, "PaLM paper (1,200 h × 6,144 + 336 h × 3,072 chips); facts §3 row 6"},
	{"LLaMA-1 7B", 6.7e9, 0, 1.0e12, 2048, 32, 4096, "nvidia-a100-80gb", 2048, "assumed: the 2,048 GPUs of LLaMA-1 65B", "bf16",
		82432, "LLaMA paper Table 15; facts §3 row 8"},
	{"LLaMA-1 65B", 65.2e9, 0, 1.4e12, 2048, 80, 8192, "nvidia-a100-80gb", 2048, "LLaMA paper", "bf16",
		1022362, "LLaMA paper Table 15; facts §3 row 11"},
	{"Llama 2 7B", 6.74e9, 0, 2.0e12, 4096, 32, 4096, "nvidia-a100-80gb", 2048, "assumed: as LLaMA-1 65B", "bf16",
		184320, "meta-llama/llama MODEL_CARD.md; facts §3 row 12"},
	{"Llama 2 70B", 69.0e9, 0, 2.0e12, 4096, 80, 8192, "nvidia-a100-80gb", 2048, "assumed: as LLaMA-1 65B", "bf16",
		1720320, "meta-llama/llama MODEL_CARD.md; facts §3 row 15"},
	{"Llama 3 8B", 8.03e9, 0, 15e12, 8192, 32, 4096, "nvidia-h100-sxm", 16384, "assumed: the 16K-GPU cluster of Llama 3 405B", "bf16",
		1.3e6, "meta-llama/llama3 MODEL_CARD.md; facts §3 row 16"},
	{"Llama 3.1 8B", 8.03e9, 0, 15e12, 8192, 32, 4096, "nvidia-h100-sxm", 16384, "assumed: the 16K-GPU cluster of Llama 3 405B", "bf16",
		1.46e6, "meta-llama/llama-models llama3_1 MODEL_CARD.md; facts §3 row 18"},
	{"Llama 3.1 405B", 405.85e9, 0, 15.6e12, 8192, 126, 16384, "nvidia-h100-sxm", 16384, "Llama 3 paper (up to 16,384)", "bf16",
		30.84e6, "Llama 3 paper Table 4 and model card; facts §3 row 20"},
	{"DeepSeek-V3", 671e9, 37e9, 14.8e12, 4096, 61, 7168, "nvidia-h800", 2048, "DeepSeek-V3 report §3.1", "fp8",
		2.664e6, "DeepSeek-V3 report Table 1 (pretraining hours, which cover the 14.8T tokens); facts §3 row 23"},
}

func runJob(c publishedRun, method string) *catalog.TrainingJobSpec {
	return &catalog.TrainingJobSpec{
		Model: catalog.Model{Parameters: c.params, ActiveParameters: c.active, Layers: c.layers,
			HiddenSize: c.hidden, SequenceLength: c.seq},
		Method: method, Tokens: c.tokens, Precision: c.precision,
	}
}

func builtinAccelerator(t testing.TB, id string) *catalog.Accelerator {
	t.Helper()
	accs, err := catalog.BuiltinAccelerators()
	if err != nil {
		t.Fatal(err)
	}
	a, ok := accs[id]
	if !ok {
		t.Fatalf("built-in catalog has no accelerator %q", id)
	}
	return a
}

// maxCalibrationMdAPE is the bar for the median absolute percentage
// error of predicted accelerator-hours over the published runs.
const maxCalibrationMdAPE = 0.15

// TestCalibrationMdAPE predicts each published run's accelerator-hours with
// the default constants (none of which was fitted to these runs' hours) and
// fails when the median absolute percentage error is above 15 %.
func TestCalibrationMdAPE(t *testing.T) {
	var apes []float64
	for _, c := range calibrationRuns {
		r, err := Estimate(Input{Job: runJob(c, catalog.MethodPretrain), Accelerator: builtinAccelerator(t, c.accelerator), Count: c.count, SkipAssumptions: true})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		ape := math.Abs(r.AcceleratorHours-c.hours) / c.hours
		apes = append(apes, ape)
		t.Logf("%-15s predicted %10.4g h, reported %10.4g h, error %+6.1f %%  (MFU %.3f, goodput %.3f)",
			c.name, r.AcceleratorHours, c.hours, 100*(r.AcceleratorHours-c.hours)/c.hours, r.MFU, r.Goodput)
	}
	sort.Float64s(apes)
	md := median(apes)
	t.Logf("MdAPE over %d runs: %.1f %%", len(apes), 100*md)
	if md > maxCalibrationMdAPE {
		t.Errorf("calibration MdAPE %.1f %% > %.0f %%", 100*md, 100*maxCalibrationMdAPE)
	}
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}
