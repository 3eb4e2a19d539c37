package catalog

import (
	"math"
	"testing"
)

// schemaAcceleratorIDs are the accelerator ids the public contract
// (SCHEMA.md, "Accelerator ids") promises to know.
var schemaAcceleratorIDs = []string{
	"nvidia-v100", "nvidia-a100-40gb", "nvidia-a100-80gb", "nvidia-a800", "nvidia-h100-sxm",
	"nvidia-h100-pcie", "nvidia-h800", "nvidia-h20", "nvidia-h200", "nvidia-b200", "nvidia-gb200",
	"nvidia-l40s", "nvidia-l20", "nvidia-rtx-4090", "amd-mi250x", "amd-mi300x", "amd-mi325x",
	"google-tpu-v4", "google-tpu-v5e", "google-tpu-v5p", "google-tpu-v6e", "aws-trainium1",
	"aws-trainium2", "intel-gaudi2", "intel-gaudi3", "huawei-ascend-910b", "huawei-ascend-910c",
	"cambricon-mlu370-x8", "cambricon-mlu590", "enflame-t20", "biren-br100", "moorethreads-s4000",
}

func TestBuiltinAcceleratorsCoverSchema(t *testing.T) {
	accs, err := BuiltinAccelerators()
	if err != nil {
		t.Fatal(err)
	}
	if len(schemaAcceleratorIDs) != 32 {
		t.Fatalf("schema list has %d ids, want 32", len(schemaAcceleratorIDs))
	}
	for _, id := range schemaAcceleratorIDs {
		t.Run(id, func(t *testing.T) {
			a, ok := accs[id]
			if !ok {
				t.Fatalf("accelerator %q missing from the built-in table", id)
			}
			if a.ID != id {
				t.Errorf("id = %q", a.ID)
			}
			switch {
			case a.BF16TFLOPS.Known():
				if a.BF16TFLOPS.V() <= 0 {
					t.Errorf("bf16TFLOPS = %v, want > 0", a.BF16TFLOPS.V())
				}
				if a.BF16TFLOPS.Source == "" {
					t.Errorf("bf16TFLOPS has no source")
				}
			case a.BF16TFLOPS.Note == "":
				t.Errorf("bf16TFLOPS is null without a note")
			}
		})
	}
}

// TestBuiltinAcceleratorFacts checks each number against the rules of the
// table, the arithmetic of derived values, and the fallbacks documented on
// Accelerator.
func TestBuiltinAcceleratorFacts(t *testing.T) {
	accs, err := BuiltinAccelerators()
	if err != nil {
		t.Fatal(err)
	}
	countries, err := BuiltinCountries()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range sortedKeys(accs) {
		a := accs[id]
		t.Run(id, func(t *testing.T) {
			if err := checkAccelerator(a); err != nil {
				t.Error(err)
			}
			if _, ok := countries[a.Origin]; !ok {
				t.Errorf("origin %q is not in the country table", a.Origin)
			}
			// TPP is the highest dense TOPS x bit length over precisions,
			// so it cannot be below the 16-bit or FP8 products.
			if a.TPP.Known() {
				lo := math.Max(a.BF16TFLOPS.V()*16, a.FP8TFLOPS.V()*8)
				if a.TPP.V() < lo*0.99 {
					t.Errorf("tpp %v is below max(bf16x16, fp8x8) = %v", a.TPP.V(), lo)
				}
			}
			// PD = TPP / die area wherever all three are known.
			if a.TPP.Known() && a.DieAreaMM2.Known() {
				if !a.PerformanceDensity.Known() {
					t.Errorf("performanceDensity is derivable (tpp and die area known) but null")
				} else if got, want := a.PerformanceDensity.V(), a.TPP.V()/a.DieAreaMM2.V(); math.Abs(got-want) > 0.01*want {
					t.Errorf("performanceDensity = %v, tpp/die = %v", got, want)
				}
			}
			if a.FP8TFLOPS.Known() && a.BF16TFLOPS.Known() && a.FP8TFLOPS.V() < a.BF16TFLOPS.V() {
				t.Errorf("fp8 %v below bf16 %v", a.FP8TFLOPS.V(), a.BF16TFLOPS.V())
			}
			// Documented fallback: an unknown FP8 peak is the 16-bit peak.
			p8, known8 := a.PeakTFLOPS("fp8")
			p16, known16 := a.PeakTFLOPS("bf16")
			if known8 != known16 && !a.FP8TFLOPS.Known() {
				t.Errorf("fp8 known=%v but bf16 known=%v with no FP8 fact", known8, known16)
			}
			if !a.FP8TFLOPS.Known() && p8 != p16 {
				t.Errorf("unknown fp8 peak: PeakTFLOPS(fp8) = %v, want the 16-bit %v", p8, p16)
			}
		})
	}
}

func TestCheckAcceleratorRejects(t *testing.T) {
	v := func(x float64) *float64 { return &x }
	good := func() *Accelerator {
		a := &Accelerator{ID: "x-1", Name: "X", Vendor: "X", Origin: "US"}
		for _, f := range []*Fact{&a.BF16TFLOPS, &a.FP8TFLOPS, &a.MemoryGB, &a.MemoryBandwidthTBs, &a.ScaleUpGBs, &a.TDPW, &a.TPP, &a.DieAreaMM2, &a.PerformanceDensity} {
			*f = Fact{Value: v(1), Source: "s", Status: "V"}
		}
		return a
	}
	if err := checkAccelerator(good()); err != nil {
		t.Fatalf("good accelerator rejected: %v", err)
	}
	cases := []struct {
		name string
		edit func(a *Accelerator)
	}{
		{"bad status", func(a *Accelerator) { a.TDPW.Status = "maybe" }},
		{"null without note", func(a *Accelerator) { a.MemoryGB = Fact{Status: "U"} }},
		{"derived without formula", func(a *Accelerator) { a.TPP.Status = "D"; a.TPP.Note = "" }},
		{"negative", func(a *Accelerator) { a.BF16TFLOPS.Value = v(-1) }},
		{"NaN", func(a *Accelerator) { a.BF16TFLOPS.Value = v(math.NaN()) }},
		{"value without source", func(a *Accelerator) { a.FP8TFLOPS.Source = "" }},
		{"bad id", func(a *Accelerator) { a.ID = "Bad_ID" }},
		{"no origin", func(a *Accelerator) { a.Origin = "" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := good()
			c.edit(a)
			if err := checkAccelerator(a); err == nil {
				t.Error("accepted")
			}
		})
	}
}
