package estimate

import (
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"meridian.dev/meridian/catalog"
)

func fact(v float64) catalog.Fact { return catalog.Fact{Value: &v, Source: "test", Status: "V"} }

// testChip is an accelerator built in the test with round numbers, so that
// expected values can be worked out by hand.
func testChip() *catalog.Accelerator {
	return &catalog.Accelerator{
		ID: "test-chip", Name: "Test chip", Vendor: "Test",
		BF16TFLOPS: fact(1000), FP8TFLOPS: fact(2000), MemoryGB: fact(100),
		MemoryBandwidthTBs: fact(4), ScaleUpGBs: fact(800),
	}
}

func relErr(got, want float64) float64 {
	if want == 0 {
		return math.Abs(got)
	}
	return math.Abs(got-want) / math.Abs(want)
}

func TestTrainingFLOPs(t *testing.T) {
	shape := catalog.Model{Parameters: 7e9, Layers: 32, HiddenSize: 4096, SequenceLength: 4096}
	tests := []struct {
		name string
		job  *catalog.TrainingJobSpec
		want float64
	}{
		{"nil job", nil, 0},
		{"pretrain, no shape: 6ND", &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 7e9}, Method: "pretrain", Tokens: 1e12}, 4.2e22},
		{"pretrain with shape adds 12·L·h·T per token", &catalog.TrainingJobSpec{Model: shape, Method: "pretrain", Tokens: 1e12},
			(42e9 + 12*32*4096*4096) * 1e12},
		{"shape needs all three of layers, hidden, sequence", &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 7e9, Layers: 32, HiddenSize: 4096}, Method: "pretrain", Tokens: 1e12}, 4.2e22},
		{"MoE counts active parameters", &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 671e9, ActiveParameters: 37e9}, Method: "pretrain", Tokens: 1e12}, 6 * 37e9 * 1e12},
		{"full-finetune is pretraining over the fine-tune tokens", &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 7e9}, Method: "full-finetune", Tokens: 2e10}, 6 * 7e9 * 2e10},
		{"lora: 4ND + 6·A·D, A from trainableFraction", &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 7e9}, Method: "lora",
			LoRA: &catalog.LoRA{TrainableFraction: 0.01}, Tokens: 1e10}, (4*7e9 + 6*7e7) * 1e10},
		{"lora: A = 18·h·r·L from rank and shape", &catalog.TrainingJobSpec{Model: shape, Method: "lora", LoRA: &catalog.LoRA{Rank: 8}, Tokens: 1e10},
			(4*7e9 + 12*32*4096*4096 + 6*18*4096*8*32) * 1e10},
		{"qlora: same model FLOPs as lora", &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 7e9}, Method: "qlora",
			LoRA: &catalog.LoRA{TrainableFraction: 0.01}, Tokens: 1e10}, (4*7e9 + 6*7e7) * 1e10},
		{"lora default: 0.5 % trainable without shape", &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 1e10}, Method: "lora", Tokens: 1e9}, (4e10 + 6*5e7) * 1e9},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := TrainingFLOPs(tc.job); relErr(got, tc.want) > 1e-12 {
				t.Errorf("TrainingFLOPs = %g, want %g", got, tc.want)
			}
		})
	}
}

func TestMemoryPerAccelerator(t *testing.T) {
	chip := testChip()
	tests := []struct {
		name   string
		job    *catalog.TrainingJobSpec
		count  int
		wantGB float64
		fits   bool
	}{
		{"pretrain 16 B/param sharded over 8", &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 10e9}, Method: "pretrain", Tokens: 1e9}, 8, 16 * 10e9 / 8 / 1e9, true},
		{"pretrain 10B on one chip does not fit 90 GB usable", &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 10e9}, Method: "pretrain", Tokens: 1e9}, 1, 160, false},
		{"MoE memory counts all parameters", &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 100e9, ActiveParameters: 10e9}, Method: "pretrain", Tokens: 1e9}, 64, 16 * 100e9 / 64 / 1e9, true},
		{"lora: 2 B/param frozen + 16 B/adapter param", &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 10e9}, Method: "lora",
			LoRA: &catalog.LoRA{TrainableFraction: 0.01}, Tokens: 1e9}, 1, (2*10e9 + 16*1e8) / 1e9, true},
		{"qlora: 0.5 B/param frozen + 16 B/adapter param", &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 65e9}, Method: "qlora",
			LoRA: &catalog.LoRA{TrainableFraction: 0.001}, Tokens: 1e9}, 1, (0.5*65e9 + 16*65e6) / 1e9, true},
		{"activations: 34·T·b·h·L, no tensor parallelism needed", &catalog.TrainingJobSpec{
			Model:  catalog.Model{Parameters: 7e9, Layers: 32, HiddenSize: 4096, SequenceLength: 4096},
			Method: "pretrain", Tokens: 1e9}, 8,
			// 14 GB of state + 18.3 GB of activations fit 90 GB at t = 1.
			(16*7e9/8 + 34*4096*4096*32) / 1e9, true},
		{"activations: 34·T·b·h·L/t with the smallest t that fits", &catalog.TrainingJobSpec{
			Model:  catalog.Model{Parameters: 70e9, Layers: 80, HiddenSize: 8192, SequenceLength: 4096},
			Method: "pretrain", Tokens: 1e9}, 64,
			// 17.5 GB of state leave 72.5 GB: 91.3 GB of activations need t = 2.
			(16*70e9/64 + 34*4096*8192*80/2) / 1e9, true},
		{"checkpointing every layer in full is not enough: no fit", &catalog.TrainingJobSpec{
			Model:  catalog.Model{Parameters: 7e9, Layers: 32, HiddenSize: 4096, SequenceLength: 1 << 22},
			Method: "pretrain", Tokens: 1e9}, 8,
			// t = 8, all 32 layers keep 2·s·b·h plus one layer rebuilt at 34·s·b·h.
			(16*7e9/8 + (32*2*(1<<22)*4096+34*(1<<22)*4096)/8) / 1e9, false},
		{"checkpointing the fewest layers in full that fit", &catalog.TrainingJobSpec{
			Model:  catalog.Model{Parameters: 7e9, Layers: 32, HiddenSize: 4096, SequenceLength: 1 << 20},
			Method: "pretrain", Tokens: 1e9}, 8,
			// 76 GB free after 14 GB of state. At t = 8 a kept layer holds
			// 34·s·h/8 = 18.3 GB, a checkpointed one 2·s·h/8 = 1.07 GB, and one
			// layer is rebuilt at 18.3 GB: k = 30 needs (2+1)·18.3 + 30·1.07 =
			// 87 GB, k = 31 needs (1+1)·18.3 + 31·1.07 = 69.8 GB.
			(16*7e9/8 + (34*(1<<20)*4096+31*2*(1<<20)*4096+34*(1<<20)*4096)/8) / 1e9, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Estimate(Input{Job: tc.job, Accelerator: chip, Count: tc.count})
			if err != nil {
				t.Fatal(err)
			}
			if relErr(r.MemoryPerAcceleratorGB, tc.wantGB) > 1e-9 {
				t.Errorf("memory = %g GB, want %g", r.MemoryPerAcceleratorGB, tc.wantGB)
			}
			if r.Fits != tc.fits {
				t.Errorf("fits = %v, want %v (%.1f GB of %.1f usable)", r.Fits, tc.fits, r.MemoryPerAcceleratorGB, r.UsableMemoryGB)
			}
		})
	}
}

// TestPublishedMemoryFacts checks the memory model against the fine-tuning
// facts of compute facts §5.6.
func TestPublishedMemoryFacts(t *testing.T) {
	// QLoRA fine-tunes a 65B model on one 48 GB GPU; 16-bit would need more
	// than 780 GB (Dettmers et al. 2023).
	gpu48 := testChip()
	gpu48.MemoryGB = fact(48)
	q := &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 65e9}, Method: "qlora", Tokens: 1e8}
	r, err := Estimate(Input{Job: q, Accelerator: gpu48, Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Fits {
		t.Errorf("QLoRA 65B on one 48 GB GPU: %.1f GB, want it to fit", r.MemoryPerAcceleratorGB)
	}
	full := &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 65e9}, Method: "full-finetune", Tokens: 1e8}
	r, err = Estimate(Input{Job: full, Accelerator: gpu48, Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r.MemoryPerAcceleratorGB <= 780 {
		t.Errorf("16-bit fine-tune of 65B: %.0f GB, want more than 780", r.MemoryPerAcceleratorGB)
	}
	// LoRA on GPT-3 175B: training VRAM 350 GB (Hu et al. 2021).
	lora := &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 175e9}, Method: "lora", LoRA: &catalog.LoRA{TrainableFraction: 1e-4}, Tokens: 1e8}
	r, err = Estimate(Input{Job: lora, Accelerator: testChip(), Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	if relErr(r.MemoryPerAcceleratorGB, 350) > 0.05 {
		t.Errorf("LoRA GPT-3 175B: %.0f GB, want about 350", r.MemoryPerAcceleratorGB)
	}
}

func TestMinCount(t *testing.T) {
	chip := testChip()
	tests := []struct {
		name string
		job  *catalog.TrainingJobSpec
		acc  *catalog.Accelerator
		want int
	}{
		// 16 × 70e9 = 1,120 GB over 90 GB usable: 12.4, so 13.
		{"70B pretrain, no shape", &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 70e9}, Method: "pretrain", Tokens: 1e9}, chip, 13},
		{"small model fits one chip", &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 1e9}, Method: "pretrain", Tokens: 1e9}, chip, 1},
		{"nil job", nil, chip, 0},
		{"unknown memory", &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 1e9}, Method: "pretrain", Tokens: 1e9},
			&catalog.Accelerator{ID: "x", BF16TFLOPS: fact(100)}, 0},
		{"activations alone exceed memory at any count", &catalog.TrainingJobSpec{
			Model: catalog.Model{Parameters: 1e9, Layers: 1000, HiddenSize: 65536, SequenceLength: 1 << 20}, Method: "pretrain", Tokens: 1e9}, chip, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := MinCount(tc.job, tc.acc); got != tc.want {
				t.Errorf("MinCount = %d, want %d", got, tc.want)
			}
		})
	}
	// With a shape, the answer is the boundary: it fits and one fewer does not.
	job := &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 70e9, Layers: 80, HiddenSize: 8192, SequenceLength: 8192}, Method: "pretrain", Tokens: 1e9}
	n := MinCount(job, chip)
	if n < 2 {
		t.Fatalf("MinCount = %d, want at least 2", n)
	}
	for _, c := range []struct {
		count int
		fits  bool
	}{{n, true}, {n - 1, false}} {
		r, err := Estimate(Input{Job: job, Accelerator: chip, Count: c.count})
		if err != nil {
			t.Fatal(err)
		}
		if r.Fits != c.fits {
			t.Errorf("count %d: fits = %v, want %v", c.count, r.Fits, c.fits)
		}
	}
}

func TestTimeAndCost(t *testing.T) {
	chip := testChip()
	job := &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 7e9}, Method: "pretrain", Tokens: 1e12,
		Assumptions: map[string]float64{"mfu": 0.4, "goodput": 0.8}}
	r, err := Estimate(Input{Job: job, Accelerator: chip, Count: 100, PricePerHour: 2})
	if err != nil {
		t.Fatal(err)
	}
	wantHours := 6 * 7e9 * 1e12 / (100 * 1000e12 * 0.4 * 0.8) / 3600
	want := Result{FLOPs: 4.2e22, Hours: wantHours, AcceleratorHours: 100 * wantHours, MFU: 0.4, Goodput: 0.8,
		CostUSD: 200 * wantHours, PeakTFLOPS: 1000, MFUBasis: "bf16"}
	got := Result{FLOPs: r.FLOPs, Hours: r.Hours, AcceleratorHours: r.AcceleratorHours, MFU: r.MFU, Goodput: r.Goodput,
		CostUSD: r.CostUSD, PeakTFLOPS: r.PeakTFLOPS, MFUBasis: r.MFUBasis}
	if d := cmp.Diff(want, got, cmp.Comparer(func(a, b float64) bool { return relErr(a, b) < 1e-12 })); d != "" {
		t.Errorf("result (-want +got):\n%s", d)
	}
	// The job's pricePerHour assumption wins over the caller's price.
	job.Assumptions["pricePerHour"] = 3
	r2, err := Estimate(Input{Job: job, Accelerator: chip, Count: 100, PricePerHour: 2})
	if err != nil {
		t.Fatal(err)
	}
	if relErr(r2.CostUSD, 3*r2.AcceleratorHours) > 1e-12 {
		t.Errorf("cost %g, want 3 × %g", r2.CostUSD, r2.AcceleratorHours)
	}
}

// TestScaleEffects checks the physical trends: goodput falls with scale, a
// small model on many chips is communication-bound, FP8 gives 1.3–1.6× over
// BF16 (compute facts §3 remarks), and adapters train faster than full
// fine-tuning per token.
func TestScaleEffects(t *testing.T) {
	h100 := builtinAccelerator(t, "nvidia-h100-sxm")
	est := func(job *catalog.TrainingJobSpec, n int) Result {
		t.Helper()
		r, err := Estimate(Input{Job: job, Accelerator: h100, Count: n, SkipAssumptions: true})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	small := &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 1e9}, Method: "pretrain", Tokens: 1e11}
	few, many := est(small, 64), est(small, 16384)
	if !(many.Goodput < few.Goodput) {
		t.Errorf("goodput at 16,384 (%.3f) not below goodput at 64 (%.3f)", many.Goodput, few.Goodput)
	}
	if !(many.MFU < few.MFU/2) {
		t.Errorf("1B model: MFU on 16,384 chips %.3f, want under half of %.3f on 64", many.MFU, few.MFU)
	}
	if g := est(small, 16384).Goodput; math.Abs(g-0.9) > 1e-9 {
		t.Errorf("goodput at 16,384 chips = %.4f, want 0.90 (Llama 3)", g)
	}

	big := &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 70e9, Layers: 80, HiddenSize: 8192, SequenceLength: 4096}, Method: "pretrain", Tokens: 1e12}
	bf := est(big, 1024)
	fp8 := *big
	fp8.Precision = "fp8"
	f8 := est(&fp8, 1024)
	// The facts give "about 1.3–1.6×"; the roofline alone gives about 1.6 on H100.
	if gain := bf.Hours / f8.Hours; gain < 1.25 || gain > 1.65 {
		t.Errorf("FP8 speed-up over BF16 = %.2f, want about 1.3–1.6", gain)
	}
	if f8.MFUBasis != "fp8" || f8.PeakTFLOPS != h100.FP8TFLOPS.V() {
		t.Errorf("fp8 MFU basis = %s at %g TFLOPS", f8.MFUBasis, f8.PeakTFLOPS)
	}

	ft := *big
	ft.Method = "full-finetune"
	lora := ft
	lora.Method = "lora"
	if a, b := est(&ft, 64), est(&lora, 64); !(b.Hours < a.Hours*0.8) {
		t.Errorf("lora %.1f h not clearly faster than full fine-tune %.1f h", b.Hours, a.Hours)
	}
	qlora := lora
	qlora.Method = "qlora"
	if a, b := est(&lora, 64), est(&qlora, 64); !(b.Hours > a.Hours && b.MemoryPerAcceleratorGB < a.MemoryPerAcceleratorGB) {
		t.Errorf("qlora (%.1f h, %.1f GB) should be slower and smaller than lora (%.1f h, %.1f GB)",
			b.Hours, b.MemoryPerAcceleratorGB, a.Hours, a.MemoryPerAcceleratorGB)
	}
}

func TestFallbacks(t *testing.T) {
	job := func(prec string) *catalog.TrainingJobSpec {
		return &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 1e9}, Method: "pretrain", Tokens: 1e10, Precision: prec}
	}
	noFP8 := testChip()
	noFP8.FP8TFLOPS = catalog.Fact{}
	r, err := Estimate(Input{Job: job("fp8"), Accelerator: noFP8, Count: 8})
	if err != nil {
		t.Fatal(err)
	}
	if r.MFUBasis != "bf16" || r.PeakTFLOPS != 1000 {
		t.Errorf("unknown FP8: basis %s at %g TFLOPS, want bf16 at 1000", r.MFUBasis, r.PeakTFLOPS)
	}
	wantAssumption(t, r, "FP8 peak of test-chip is unknown")

	noBF16 := testChip()
	noBF16.BF16TFLOPS = catalog.Fact{}
	_, err = Estimate(Input{Job: job("bf16"), Accelerator: noBF16, Count: 8})
	if err == nil || !strings.Contains(err.Error(), "test-chip") || !strings.Contains(err.Error(), "bf16TFLOPS") {
		t.Errorf("unknown BF16 peak: error %v, want one naming test-chip and bf16TFLOPS", err)
	}

	noLink := testChip()
	noLink.ScaleUpGBs = catalog.Fact{}
	// A small batch per chip makes the link matter.
	small := job("bf16")
	small.Assumptions = map[string]float64{"globalBatchTokens": 65536}
	r, err = Estimate(Input{Job: small, Accelerator: noLink, Count: 8})
	if err != nil {
		t.Fatal(err)
	}
	wantAssumption(t, r, "assuming PCIe-class 64 GB/s")
	withLink, _ := Estimate(Input{Job: small, Accelerator: testChip(), Count: 8})
	if !(r.MFU < withLink.MFU) {
		t.Errorf("PCIe fallback MFU %.3f not below NVLink-class %.3f", r.MFU, withLink.MFU)
	}

	noBW := testChip()
	noBW.MemoryBandwidthTBs = catalog.Fact{}
	r, err = Estimate(Input{Job: job("bf16"), Accelerator: noBW, Count: 8})
	if err != nil {
		t.Fatal(err)
	}
	wantAssumption(t, r, "memory bandwidth of test-chip is unknown")

	noMem := testChip()
	noMem.MemoryGB = catalog.Fact{}
	r, err = Estimate(Input{Job: job("bf16"), Accelerator: noMem, Count: 8})
	if err != nil {
		t.Fatal(err)
	}
	if r.Fits {
		t.Error("unknown memory: fits = true, want false")
	}
	wantAssumption(t, r, "memory of test-chip is unknown")
}

func wantAssumption(t *testing.T, r Result, sub string) {
	t.Helper()
	for _, a := range r.Assumptions {
		if strings.Contains(a, sub) {
			return
		}
	}
	t.Errorf("no assumption contains %q; got:\n%s", sub, strings.Join(r.Assumptions, "\n"))
}

// TestBadInput: Estimate trusts a job the loader has validated (its fields
// are checked once, by catalog.Load), so only what is not the job's can
// fail here: a missing job or accelerator, a count out of range, and a chip
// without a 16-bit peak (TestFallbacks).
func TestBadInput(t *testing.T) {
	ok := func() *catalog.TrainingJobSpec {
		return &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 1e9}, Method: "pretrain", Tokens: 1e10}
	}
	tests := []struct {
		name  string
		in    Input
		field string
	}{
		{"no job", Input{Accelerator: testChip(), Count: 1}, "no job"},
		{"no accelerator", Input{Job: ok(), Count: 1}, "no accelerator"},
		{"zero count", Input{Job: ok(), Accelerator: testChip()}, "count 0"},
		{"too many", Input{Job: ok(), Accelerator: testChip(), Count: maxCountSearch + 1}, "count"},
		{"overflow", Input{Job: &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 1e300}, Method: "pretrain", Tokens: 1e300},
			Accelerator: testChip(), Count: 1}, "overflow"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Estimate(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %v, want one containing %q", err, tc.field)
			}
		})
	}
}

// TestOverrideKeysAreUsed sets each documented key to a changed value and
// checks that some output moves, so no key is listed but ignored. Each key is
// tried on a job where it matters (ctx holds settings shared by both runs).
func TestOverrideKeysAreUsed(t *testing.T) {
	dense := func() *catalog.TrainingJobSpec {
		return &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 1e9, Layers: 16, HiddenSize: 2048, SequenceLength: 2048},
			Method: "pretrain", Tokens: 1e11}
	}
	moe := func() *catalog.TrainingJobSpec {
		j := dense()
		j.Model.Parameters, j.Model.ActiveParameters = 8e9, 1e9
		return j
	}
	adapter := func(method string) func() *catalog.TrainingJobSpec {
		return func() *catalog.TrainingJobSpec { j := dense(); j.Method = method; return j }
	}
	smallBatch := map[string]float64{"globalBatchTokens": 65536}
	unshaped := func() *catalog.TrainingJobSpec { j := dense(); j.Model.Layers, j.Model.HiddenSize = 0, 0; return j }
	noSequence := func() *catalog.TrainingJobSpec { j := dense(); j.Model.SequenceLength = 0; return j }
	big := func() *catalog.TrainingJobSpec {
		return &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 70e9, Layers: 80, HiddenSize: 8192, SequenceLength: 8192},
			Method: "pretrain", Tokens: 1e12}
	}
	tests := []struct {
		key   string
		value float64
		job   func() *catalog.TrainingJobSpec
		ctx   map[string]float64
		count int
		chip  string
	}{
		{"mfu", 0.11, dense, nil, 64, ""},
		{"goodput", 0.5, dense, nil, 64, ""},
		{"maxEfficiency", 0.3, dense, nil, 64, ""},
		{"bytesPerFLOP", 0.01, dense, nil, 64, ""},
		{"kernelHiddenExponent", 0.8, dense, nil, 64, ""},
		{"runEfficiency", 0.5, dense, nil, 64, ""},
		{"stragglerJitter", 0.2, dense, nil, 64, ""},
		{"olderStackPenalty", 0.5, dense, nil, 64, "nvidia-v100"},
		{"causalAttentionShare", 1, dense, nil, 64, ""},
		{"scaleOutGBs", 1, dense, nil, 64, ""},
		{"scaleUpGBs", 1, dense, nil, 64, ""},
		{"scaleUpDomain", 128, dense, smallBatch, 64, ""},
		{"globalBatchTokens", 1e5, dense, nil, 64, ""},
		{"criticalBatchScale", 1e-4, dense, nil, 64, ""},
		{"criticalBatchExponent", 0.1, dense, nil, 64, ""},
		{"tensorParallelOverlap", 0.9, big, nil, 4096, ""},
		{"pipelineInterleave", 8, big, map[string]float64{"globalBatchTokens": 4 << 20, "scaleUpDomain": 1}, 4096, ""},
		{"microBatch", 4, dense, nil, 64, ""},
		{"memoryHeadroom", 0.99, dense, nil, 64, ""},
		{"mtbfChipHours", 100, dense, nil, 64, ""},
		{"lostHoursPerInterruption", 5, dense, nil, 64, ""},
		{"checkpointWriteGBs", 0.001, dense, nil, 64, ""},
		{"warmupHours", 5, dense, nil, 64, ""},
		{"moeTopK", 64, moe, nil, 64, ""},
		{"moeImbalance", 1, moe, nil, 8, ""},
		{"modelAspectRatio", 16, unshaped, nil, 64, ""},
		{"loraTrainableFraction", 0.5, adapter("lora"), nil, 64, ""},
		{"qloraDequantOverhead", 3, adapter("qlora"), nil, 64, ""},
		{"pricePerHour", 9, dense, nil, 64, ""},
		{"bytesPerParam", 20, dense, nil, 64, ""},
		{"frozenBytesPerParam", 1, adapter("qlora"), nil, 64, ""},
		{"activationBytes", 2, dense, nil, 64, ""},
		{"checkpointBytes", 1, dense, map[string]float64{"memoryHeadroom": 0.9}, 1, ""},
		{"dpBytesPerParam", 600, dense, nil, 64, ""},
		{"recomputeOverhead", 0.33, dense, nil, 64, ""},
		{"spreadSigma", 1, dense, nil, 64, ""},
		{"sequenceOlderChips", 32768, noSequence, nil, 64, "nvidia-a100-80gb"},
		{"sequenceNewerChips", 32768, noSequence, nil, 64, ""},
	}
	var tested []string
	for _, tc := range tests {
		tested = append(tested, tc.key)
		t.Run(tc.key, func(t *testing.T) {
			chip := tc.chip
			if chip == "" {
				chip = "nvidia-h100-sxm"
			}
			in := Input{Accelerator: builtinAccelerator(t, chip), Count: tc.count, PricePerHour: 2, SkipAssumptions: true}
			in.Job = tc.job()
			in.Job.Assumptions = map[string]float64{}
			for k, v := range tc.ctx {
				in.Job.Assumptions[k] = v
			}
			ref, err := Estimate(in)
			if err != nil {
				t.Fatal(err)
			}
			in.Job.Assumptions[tc.key] = tc.value
			r, err := Estimate(in)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(ref, r, cmp.AllowUnexported(Spread{})); d == "" {
				t.Errorf("setting %s = %g changed nothing", tc.key, tc.value)
			}
		})
	}
	sort.Strings(tested)
	if d := cmp.Diff(KeyNames(), tested); d != "" {
		t.Errorf("documented keys and tested keys differ (-documented +tested):\n%s", d)
	}
}

func TestAssumptionsDeterministic(t *testing.T) {
	job := &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 7.6e9, Layers: 28, HiddenSize: 3584, SequenceLength: 4096},
		Method: "full-finetune", Tokens: 2e10, Assumptions: map[string]float64{"goodput": 0.95, "microBatch": 2, "scaleOutGBs": 25}}
	in := Input{Job: job, Accelerator: builtinAccelerator(t, "nvidia-h100-sxm"), Count: 64, PricePerHour: 2.4}
	first, err := Estimate(in)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		again, err := Estimate(in)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(first, again); d != "" {
			t.Fatalf("run %d differs (-first +again):\n%s", i, d)
		}
	}
	in.SkipAssumptions = true
	skip, err := Estimate(in)
	if err != nil {
		t.Fatal(err)
	}
	if skip.Assumptions != nil {
		t.Error("SkipAssumptions: assumptions not nil")
	}
	skip.Assumptions = first.Assumptions
	if d := cmp.Diff(first, skip); d != "" {
		t.Errorf("SkipAssumptions changed the numbers (-with +without):\n%s", d)
	}
}

// TestEveryBuiltinAccelerator estimates one job on each built-in accelerator:
// each gives finite numbers, or an error naming the chip and its missing
// 16-bit peak.
func TestEveryBuiltinAccelerator(t *testing.T) {
	accs, err := catalog.BuiltinAccelerators()
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 0, len(accs))
	for id := range accs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	job := &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 7.6e9, Layers: 28, HiddenSize: 3584, SequenceLength: 4096},
		Method: "full-finetune", Tokens: 2e10, Precision: "fp8"}
	for _, id := range ids {
		t.Run(id, func(t *testing.T) {
			acc := accs[id]
			r, err := Estimate(Input{Job: job, Accelerator: acc, Count: 64})
			if !acc.BF16TFLOPS.Known() {
				if err == nil || !strings.Contains(err.Error(), id) || !strings.Contains(err.Error(), "bf16TFLOPS") {
					t.Fatalf("unknown 16-bit peak: error %v, want one naming %s and bf16TFLOPS", err, id)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !(r.MFU > 0.05 && r.MFU < 0.7) || !(r.Hours > 0) || math.IsInf(r.Hours, 0) {
				t.Errorf("MFU %.3f, hours %g", r.MFU, r.Hours)
			}
			t.Logf("%-22s MFU %.3f of %s %6.0f TFLOPS, %8.1f h, %5.1f GB, fits %v", id, r.MFU, r.MFUBasis, r.PeakTFLOPS, r.Hours, r.MemoryPerAcceleratorGB, r.Fits)
		})
	}
}

// An estimate whose numbers overflow names what the job set that made them
// so: an assumption a hair above 0 (the smallest normal numbers, which the
// loader accepts; a denormal one it refuses, and so does Estimate) or the
// size.
func TestOverflowNamesTheField(t *testing.T) {
	job := &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 7e9}, Method: "pretrain", Tokens: 1e12,
		Assumptions: map[string]float64{"mfu": 2.3e-308, "dataEgressPerGB": 0.01}}
	_, err := Estimate(Input{Job: job, Accelerator: testChip(), Count: 8})
	if err == nil || !strings.Contains(err.Error(), "spec.assumptions.mfu = 2.3e-308") || strings.Contains(err.Error(), "dataEgressPerGB") {
		t.Errorf("err = %v, want it to name spec.assumptions.mfu", err)
	}
	job.Assumptions["mfu"] = 1e-308
	if _, err = Estimate(Input{Job: job, Accelerator: testChip(), Count: 8}); err == nil || !strings.Contains(err.Error(), "spec.assumptions.mfu 1e-308: a denormal number") {
		t.Errorf("a denormal mfu: err = %v, want it refused as denormal", err)
	}
	job = &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 1e300}, Method: "pretrain", Tokens: 1e300,
		Assumptions: map[string]float64{"mfu": 0.5}}
	_, err = Estimate(Input{Job: job, Accelerator: testChip(), Count: 1})
	if err == nil || !strings.Contains(err.Error(), "spec.model.parameters and spec.tokens (1e+300 × 1e+300)") {
		t.Errorf("err = %v, want it to name the size", err)
	}
}

// A top-k above the number of experts is refused, naming the key, as the
// loader refuses spec.model.expertsPerToken above spec.model.experts.
func TestMoETopKAboveExpertsRefused(t *testing.T) {
	job := &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 47e9, ActiveParameters: 13e9, Experts: 8, ExpertsPerToken: 2},
		Method: "pretrain", Tokens: 1e12, Assumptions: map[string]float64{"moeTopK": 1e6}}
	_, err := Estimate(Input{Job: job, Accelerator: testChip(), Count: 64})
	if err == nil || !strings.Contains(err.Error(), "spec.assumptions.moeTopK") {
		t.Errorf("err = %v, want moeTopK refused", err)
	}
	job.Assumptions["moeTopK"] = 8
	if _, err := Estimate(Input{Job: job, Accelerator: testChip(), Count: 64}); err != nil {
		t.Errorf("top-k of every expert refused: %v", err)
	}
}

// TestTrainingFLOPsNotANumber: a parameter or token count that is NaN, or
// a total that overflows, gave a compute of NaN or +Inf, which the law
// read as the job's compute; no threshold is above or below NaN, so a
// compute-threshold rule did not fire. Such a compute is now 0, unknown,
// which the rules that need it fail closed on.
func TestTrainingFLOPsNotANumber(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, tc := range []struct {
		name string
		job  catalog.TrainingJobSpec
	}{
		{"NaN parameters", catalog.TrainingJobSpec{Model: catalog.Model{Parameters: nan}, Method: "pretrain", Tokens: 1e12}},
		{"NaN tokens", catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 7e9}, Method: "pretrain", Tokens: nan}},
		{"infinite parameters", catalog.TrainingJobSpec{Model: catalog.Model{Parameters: inf}, Method: "pretrain", Tokens: 1e12}},
		{"overflow", catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 1e300}, Method: "pretrain", Tokens: 1e300}},
		{"infinite adapter fraction", catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 7e9}, Method: "lora", LoRA: &catalog.LoRA{TrainableFraction: inf}, Tokens: 1e10}},
	} {
		if got := TrainingFLOPs(&tc.job); got != 0 {
			t.Errorf("%s: TrainingFLOPs = %v, want 0 (unknown)", tc.name, got)
		}
	}
}
