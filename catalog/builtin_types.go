package catalog

// Fact is one number in the built-in catalog with where it comes from.
// Value is nil when the number is unknown; Status uses the codes of the
// facts it was taken from (see FactStatuses). A derived fact (status D)
// gives its formula in Note, and an unknown one says why in Note.
type Fact struct {
	Value  *float64 `yaml:"value" json:"value"`
	Source string   `yaml:"source,omitempty" json:"source,omitempty"`
	Status string   `yaml:"status,omitempty" json:"status,omitempty"`
	Note   string   `yaml:"note,omitempty" json:"note,omitempty"`
}

// Fact status codes, from the compute facts.
const (
	StatusVerified   = "V"  // checked against the primary text
	StatusSecondary  = "V2" // careful secondary source quoting the primary
	StatusSingle     = "S"  // single secondary source
	StatusUnverified = "U"  // unverified, conflicting or not found
	StatusDerived    = "D"  // derived by arithmetic; formula in Note
)

// FactStatuses lists the accepted Fact.Status codes.
var FactStatuses = []string{StatusVerified, StatusSecondary, StatusSingle, StatusUnverified, StatusDerived}

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
//
// Unknown numbers are null (Fact.Known is false), never guessed. The
// documented fallbacks for users of the table:
//   - an unknown FP8 peak (chips without FP8, or no figure) is treated as the
//     16-bit peak: FP8 runs no faster than BF16 on that chip (PeakTFLOPS);
//   - FP16 uses the BF16 peak (equal on every chip in the table; the V100's
//     16-bit figure is its FP16 tensor peak);
//   - an unknown BF16 peak makes the chip unusable for estimates:
//     PeakTFLOPS reports known=false and callers must reject the candidate
//     with a reason, or use a user-supplied override;
//   - an unknown memory size means the memory fit cannot be checked and must
//     be reported as an assumption;
//   - an unknown scale-up bandwidth (or null for PCIe-only parts) means no
//     chip-to-chip fabric is assumed;
//   - an unknown TPP or die area leaves export classification to the rules'
//     "unconfirmed" handling (an advisory, not a hard denial).
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
// back to the 16-bit peak on chips without a known FP8 peak, and fp16 uses
// the BF16 peak. The second result says whether the value came from a known
// fact; it is false (and the value 0) when the 16-bit peak is unknown.
func (a *Accelerator) PeakTFLOPS(precision string) (float64, bool) {
	if precision == "fp8" && a.FP8TFLOPS.Known() {
		return a.FP8TFLOPS.V(), true
	}
	return a.BF16TFLOPS.V(), a.BF16TFLOPS.Known()
}

// NamedFact is one fact of an accelerator with its field name.
type NamedFact struct {
	Field string
	Fact  Fact
}

// Facts returns the accelerator's numbers in a fixed order, named by their
// YAML field, for display and checks.
func (a *Accelerator) Facts() []NamedFact {
	return []NamedFact{
		{"bf16TFLOPS", a.BF16TFLOPS},
		{"fp8TFLOPS", a.FP8TFLOPS},
		{"memoryGB", a.MemoryGB},
		{"memoryBandwidthTBs", a.MemoryBandwidthTBs},
		{"scaleUpGBs", a.ScaleUpGBs},
		{"tdpW", a.TDPW},
		{"tpp", a.TPP},
		{"dieAreaMM2", a.DieAreaMM2},
		{"performanceDensity", a.PerformanceDensity},
	}
}

// Adequacy decision scopes and states.
const (
	ScopeFull         = "full"          // the whole country
	ScopeCommercial   = "commercial"    // commercial organisations only (Canada, PIPEDA)
	ScopeDPFCertified = "dpf-certified" // organisations certified under the EU-US Data Privacy Framework

	AdequacyAdopted     = "adopted"
	AdequacyDraft       = "draft"
	AdequacyInvalidated = "invalidated"
)

// AdequacyScopes and AdequacyStatuses list the accepted values.
var (
	AdequacyScopes   = []string{ScopeFull, ScopeCommercial, ScopeDPFCertified}
	AdequacyStatuses = []string{AdequacyAdopted, AdequacyDraft, AdequacyInvalidated}
)

// AdequacyDecision is one EU adequacy decision for a country (possibly
// partial). From is when it took effect (zero when the source gives no
// date); Until is when it lapses (zero: open-ended). Only an adopted decision
// whose dates cover a day makes transfers to the country lawful on that day.
type AdequacyDecision struct {
	Scope  string `yaml:"scope" json:"scope"`
	From   Date   `yaml:"from,omitempty" json:"from,omitzero"`
	Until  Date   `yaml:"until,omitempty" json:"until,omitzero"`
	Status string `yaml:"status,omitempty" json:"status,omitempty"`
	Source string `yaml:"source,omitempty" json:"source,omitempty"`
	Note   string `yaml:"note,omitempty" json:"note,omitempty"`
}

// InForce reports whether the decision is adopted and covers day: from
// its From day, and before its Until day, the day it lapses, as the
// policy engine reads it (an adequacy fact of a transfer). It counted the
// Until day as covered, a day the engine held the transfer to have no
// basis. A decision without a From date is taken as in force since before
// any date Meridian plans for.
func (d AdequacyDecision) InForce(day Date) bool {
	if d.Status != AdequacyAdopted {
		return false
	}
	if !d.From.IsZero() && day.Before(d.From) {
		return false
	}
	if !d.Until.IsZero() && !day.Before(d.Until) {
		return false
	}
	return true
}

// Country is one jurisdiction in the built-in country table.
type Country struct {
	ISO  string `yaml:"iso" json:"iso"`
	Name string `yaml:"name" json:"name"`
	// Region marks a bloc (EU, EEA) rather than a country: accepted as a
	// dataset's origin (data governed by the bloc's law, collected across
	// its members), never as a site's country or a headquarters.
	Region bool `yaml:"region,omitempty" json:"region,omitempty"`
	// Bloc is an analytical label, one of Blocs.
	Bloc string `yaml:"bloc" json:"bloc"`
	// USGroups are EAR Supp. No. 1 to Part 740 country groups, e.g. "D:1", "D:5", "E:1".
	USGroups []string `yaml:"usGroups,omitempty" json:"usGroups,omitempty"`
	EU       bool     `yaml:"eu" json:"eu"`
	EEA      bool     `yaml:"eea" json:"eea"`
	// DiffusionTier is the AI Diffusion rule tier (1, 2, 3), kept for history:
	// the rule was never enforced.
	DiffusionTier int                `yaml:"diffusionTier,omitempty" json:"diffusionTier,omitempty"`
	Adequacy      []AdequacyDecision `yaml:"adequacy,omitempty" json:"adequacy,omitempty"`
	// ExportBaseline summarises, in words, what US rules require today to
	// ship data-centre 3A090.a chips there (NLR, licence with presumption of
	// approval or denial). The policy pack holds the rules themselves.
	ExportBaseline string `yaml:"exportBaseline,omitempty" json:"exportBaseline,omitempty"`
	// Localisation summarises the country's data-localisation and transfer law.
	Localisation string `yaml:"localisation,omitempty" json:"localisation,omitempty"`
	Notes        string `yaml:"notes,omitempty" json:"notes,omitempty"`
	Source       string `yaml:"source,omitempty" json:"source,omitempty"`
}

// Blocs lists the accepted Country.Bloc labels. They are analytical labels
// from the policy facts, not legal categories; "unclassified" marks countries
// outside the facts' 40-jurisdiction table.
var Blocs = []string{"US", "US-aligned", "EU/EEA", "European", "China", "swing", "sanctioned", "unclassified"}

// AdequateOn returns the adequacy decision in force for the country on day,
// or nil when there is none.
func (c *Country) AdequateOn(day Date) *AdequacyDecision {
	for i := range c.Adequacy {
		if c.Adequacy[i].InForce(day) {
			return &c.Adequacy[i]
		}
	}
	return nil
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
