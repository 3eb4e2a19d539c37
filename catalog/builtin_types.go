package catalog

// Fact is one number in the built-in catalog with where it comes from.
// Value is nil when the number is unknown; Status uses the codes of the
// facts it was taken from (V, V2, S, U, D).
type Fact struct {
	Value  *float64 `yaml:"value" json:"value"`
	Source string   `yaml:"source,omitempty" json:"source,omitempty"`
	Status string   `yaml:"status,omitempty" json:"status,omitempty"`
	Note   string   `yaml:"note,omitempty" json:"note,omitempty"`
}

// Known reports whether the fact has a value.
func (f Fact) Known() bool { return f.Value != nil }

// V returns the value, or 0 when unknown.
func (f Fact) V() float64 {
	if f.Value == nil {
		return 0
	}
	return *f.Value
}

// Accelerator is a chip model with its specifications and export facts.
type Accelerator struct {
	ID     string `yaml:"id" json:"id"`
	Name   string `yaml:"name" json:"name"`
	Vendor string `yaml:"vendor" json:"vendor"`
	// Origin is the ISO country of the chip's design (US, CN, …).
	Origin string `yaml:"origin" json:"origin"`
	Year   int    `yaml:"year,omitempty" json:"year,omitempty"`
	// DataCenter is false for consumer parts such as the RTX 4090.
	DataCenter bool `yaml:"dataCenter" json:"dataCenter"`

	BF16TFLOPS         Fact `yaml:"bf16TFLOPS" json:"bf16TFLOPS"`
	FP8TFLOPS          Fact `yaml:"fp8TFLOPS" json:"fp8TFLOPS"`
	MemoryGB           Fact `yaml:"memoryGB" json:"memoryGB"`
	MemoryBandwidthTBs Fact `yaml:"memoryBandwidthTBs" json:"memoryBandwidthTBs"`
	ScaleUpGBs         Fact `yaml:"scaleUpGBs" json:"scaleUpGBs"`
	TDPW               Fact `yaml:"tdpW" json:"tdpW"`
	// TPP is Total Processing Performance (dense TOPS × bit length, highest precision).
	TPP Fact `yaml:"tpp" json:"tpp"`
	// DieAreaMM2 and PerformanceDensity (TPP / die area) feed 3A090 classification.
	DieAreaMM2         Fact `yaml:"dieAreaMM2" json:"dieAreaMM2"`
	PerformanceDensity Fact `yaml:"performanceDensity" json:"performanceDensity"`

	Notes string `yaml:"notes,omitempty" json:"notes,omitempty"`
}

// PeakTFLOPS returns the dense peak at a precision (bf16, fp16, fp8). FP8 falls
// back to the 16-bit peak on chips without FP8 support, and the second result
// says whether the value came from a known fact.
func (a *Accelerator) PeakTFLOPS(precision string) (float64, bool) {
	if precision == "fp8" && a.FP8TFLOPS.Known() {
		return a.FP8TFLOPS.V(), true
	}
	return a.BF16TFLOPS.V(), a.BF16TFLOPS.Known()
}

// AdequacyDecision is one EU adequacy decision for a country (possibly partial).
type AdequacyDecision struct {
	Scope  string `yaml:"scope" json:"scope"` // "full", "commercial", "dpf-certified", …
	From   Date   `yaml:"from,omitempty" json:"from,omitempty"`
	Until  Date   `yaml:"until,omitempty" json:"until,omitempty"`
	Status string `yaml:"status,omitempty" json:"status,omitempty"` // adopted, draft, invalidated
	Source string `yaml:"source,omitempty" json:"source,omitempty"`
}

// Country is one jurisdiction in the built-in country table.
type Country struct {
	ISO  string `yaml:"iso" json:"iso"`
	Name string `yaml:"name" json:"name"`
	// Bloc is an analytical label: US, US-aligned, EU/EEA, China, swing, sanctioned.
	Bloc string `yaml:"bloc" json:"bloc"`
	// USGroups are EAR Supp. No. 1 to Part 740 country groups, e.g. "D:1", "D:5", "E:1".
	USGroups []string `yaml:"usGroups,omitempty" json:"usGroups,omitempty"`
	EU       bool     `yaml:"eu" json:"eu"`
	EEA      bool     `yaml:"eea" json:"eea"`
	// DiffusionTier is the AI Diffusion rule tier (1, 2, 3), kept for history.
	DiffusionTier int                `yaml:"diffusionTier,omitempty" json:"diffusionTier,omitempty"`
	Adequacy      []AdequacyDecision `yaml:"adequacy,omitempty" json:"adequacy,omitempty"`
	Notes         string             `yaml:"notes,omitempty" json:"notes,omitempty"`
	Source        string             `yaml:"source,omitempty" json:"source,omitempty"`
}

// InGroup reports whether the country is in a US country group such as "D:5".
func (c *Country) InGroup(g string) bool {
	for _, x := range c.USGroups {
		if x == g {
			return true
		}
	}
	return false
}
