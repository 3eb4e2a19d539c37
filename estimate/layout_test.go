package estimate

import (
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"meridian.dev/meridian/catalog"
)

// llama405B is Llama 3.1 405B's pretraining shape (Llama 3 paper Table 3):
// 126 layers, hidden 16,384, 128 heads, sequence 8,192, bf16.
func llama405B() *catalog.TrainingJobSpec {
	return &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 405e9, Layers: 126, HiddenSize: 16384, Heads: 128, SequenceLength: 8192},
		Method: catalog.MethodPretrain, Tokens: 15.6e12, Precision: "bf16"}
}

// TestPublishedLayoutsFit checks the memory model against runs that were
// trained on the stated hardware, and one that cannot be.
func TestPublishedLayoutsFit(t *testing.T) {
	tests := []struct {
		name  string
		job   *catalog.TrainingJobSpec
		acc   string
		count int
		fits  bool
	}{
		// Llama 3 paper Table 4: 16,384 H100 80GB (TP 8, CP 1, PP 16, DP 128) and 8,192 (DP 64).
		{"Llama 3.1 405B on 16,384 H100", llama405B(), "nvidia-h100-sxm", 16384, true},
		{"Llama 3.1 405B on 8,192 H100", llama405B(), "nvidia-h100-sxm", 8192, true},
		// Llama 2 paper: 70B pretrained on A100 80GB (2,048 assumed, as in calibration).
		{"Llama 2 70B on 2,048 A100 80GB", &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 69e9, Layers: 80, HiddenSize: 8192, Heads: 64, SequenceLength: 4096},
			Method: catalog.MethodPretrain, Tokens: 2e12}, "nvidia-a100-80gb", 2048, true},
		// A 7B full fine-tune on one 8-GPU H100 node (NeMo 24.12 runs Llama2-7B SFT on 8 H100; compute facts §3 row 42).
		{"7B full fine-tune on 8 H100", &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 6.74e9, Layers: 32, HiddenSize: 4096, Heads: 32, SequenceLength: 4096},
			Method: catalog.MethodFullFinetune, Tokens: 1e7}, "nvidia-h100-sxm", 8, true},
		// 1e13 parameters need 160 TB of state; 8 chips hold 640 GB.
		{"1e13 parameters on 8 H100", &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 1e13, Layers: 200, HiddenSize: 65536, SequenceLength: 8192},
			Method: catalog.MethodPretrain, Tokens: 1e12}, "nvidia-h100-sxm", 8, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Estimate(Input{Job: tc.job, Accelerator: builtinAccelerator(t, tc.acc), Count: tc.count})
			if err != nil {
				t.Fatal(err)
			}
			if r.Fits != tc.fits {
				t.Errorf("fits = %v, want %v (%.2f GB of %.2f usable)\n%s", r.Fits, tc.fits, r.MemoryPerAcceleratorGB, r.UsableMemoryGB, strings.Join(r.Assumptions, "\n"))
			}
		})
	}
}

// TestMinCount405B bounds MinCount for Llama 3.1 405B on H100 by what is
// known independently of the model's answer: from above, Meta's smallest
// published layout (8,192 GPUs: TP 8 × PP 16 × DP 64, Llama 3 paper Table 4);
// from below, the 16 B/param of weights, gradients and optimizer state alone
// spread over every chip's usable memory. At the answer it fits and at one
// fewer it does not.
func TestMinCount405B(t *testing.T) {
	job, h100 := llama405B(), builtinAccelerator(t, "nvidia-h100-sxm")
	n := MinCount(job, h100)
	usable := h100.MemoryGB.V() * 1e9 * (1 - defaultHeadroom)
	lower := int(math.Ceil(bytesPerParamAdamW * job.Model.Parameters / usable))
	if n < lower || n > 8192 {
		t.Fatalf("MinCount = %d, want between %d (state alone) and 8,192 (Meta's smallest layout)", n, lower)
	}
	for _, c := range []struct {
		count int
		fits  bool
	}{{n, true}, {n - 1, false}} {
		r, err := Estimate(Input{Job: job, Accelerator: h100, Count: c.count, SkipAssumptions: true})
		if err != nil {
			t.Fatal(err)
		}
		if r.Fits != c.fits {
			t.Errorf("count %d: fits = %v (%.2f of %.2f GB), want %v", c.count, r.Fits, r.MemoryPerAcceleratorGB, r.UsableMemoryGB, c.fits)
		}
	}
}

// TestCheckpointingCost: when memory forces k of L layers to be checkpointed
// in full, executed FLOPs per model FLOP become (1−k/L)·(1+T/6h) + (k/L)·4/3
// (compute facts §5.2), and compute time per step grows by that ratio against
// the same chip with memory to spare. k is found here by counting up.
func TestCheckpointingCost(t *testing.T) {
	job, h100 := llama405B(), builtinAccelerator(t, "nvidia-h100-sxm")
	const count = 256
	big := *h100
	big.MemoryGB = fact(1000)
	m := job.Model
	sh := float64(m.SequenceLength) * float64(m.HiddenSize)
	L := float64(m.Layers)
	usable := h100.MemoryGB.V() * 1e9 * (1 - defaultHeadroom)
	static := bytesPerParamAdamW * m.Parameters / count
	k := 0.0
	for ; k <= L; k++ {
		if static+((L-k)*34*sh+k*2*sh+34*sh)/8 <= usable {
			break
		}
	}
	if k == 0 || k > L {
		t.Fatalf("test premise: want some but not all layers checkpointed, got k = %g", k)
	}
	var wt, wr work
	var tight, roomy Result
	if err := run(&Input{Job: job, Accelerator: h100, Count: count}, &wt, &tight); err != nil {
		t.Fatal(err)
	}
	if err := run(&Input{Job: job, Accelerator: &big, Count: count}, &wr, &roomy); err != nil {
		t.Fatal(err)
	}
	if !tight.Fits {
		t.Fatalf("405B on %d H100 with %g layers checkpointed: %.1f GB does not fit", count, k, tight.MemoryPerAcceleratorGB)
	}
	sel := 1 + float64(m.SequenceLength)/(6*float64(m.HiddenSize))
	want := ((1-k/L)*sel + (k/L)*4/3) / sel
	// Compute time per step without the bubble: the same work, chip and
	// batch, so the ratio is the recomputation's.
	got := (wt.st.tCompute / (1 + wt.st.bubble)) / (wr.st.tCompute / (1 + wr.st.bubble))
	if relErr(got, want) > 1e-9 {
		t.Errorf("compute time ratio %.6f, want %.6f (k = %g of %g layers)", got, want, k, L)
	}
	tight.Assumptions = assumptions(&Input{Job: job, Accelerator: h100, Count: count}, &wt, &tight)
	wantAssumption(t, tight, "checkpointed in full")
}

// TestOtherPackagesKeysIgnored: keys another package reads (the planner's)
// leave the estimate as it is without them.
func TestOtherPackagesKeysIgnored(t *testing.T) {
	job := func(a map[string]float64) *catalog.TrainingJobSpec {
		return &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 7e9, Layers: 32, HiddenSize: 4096, SequenceLength: 4096},
			Method: catalog.MethodPretrain, Tokens: 1e11, Assumptions: a}
	}
	h100 := builtinAccelerator(t, "nvidia-h100-sxm")
	plain, err := Estimate(Input{Job: job(nil), Accelerator: h100, Count: 64})
	if err != nil {
		t.Fatal(err)
	}
	other, err := Estimate(Input{Job: job(map[string]float64{"dataEgressPerGB": 0.5, "linkEfficiency": 0.7}), Accelerator: h100, Count: 64})
	if err != nil {
		t.Fatalf("a key the estimator does not read is an error: %v", err)
	}
	if d := cmp.Diff(plain, other); d != "" {
		t.Errorf("keys the estimator does not read changed the estimate (-without +with):\n%s", d)
	}
	if MinCount(job(map[string]float64{"dataEgressPerGB": 0.5}), h100) != MinCount(job(nil), h100) {
		t.Error("a key the estimator does not read changed MinCount")
	}
}
