// Package synth generates synthetic worlds for benchmarks: many sites of
// several pools each over the catalog's real accelerators and countries,
// and a job with an organisation and a dataset. Prices and capacities are
// made up and only serve to exercise the planner at scale.
package synth

import (
	"fmt"
	"io"
	"math/rand"
	"sort"

	yaml "go.yaml.in/yaml/v3"

	"meridian.dev/meridian/catalog"
)

// Sites returns n sites of pools pools each, deterministic for a seed,
// drawing accelerators and countries from w (data-centre accelerators
// only). Like the real world, sites belong to a limited set of operators
// (60), each headquartered in one country and building mostly at home, and
// most pools hold one of a few popular chips (for a Chinese operator, the
// chips it may buy), so many pools share a law class.
func Sites(w *catalog.World, n, pools int, seed int64) []*catalog.Site {
	r := rand.New(rand.NewSource(seed))
	var accs []string
	for _, id := range w.AcceleratorIDs() {
		if a := w.Accelerators[id]; a.DataCenter && a.MemoryGB.Known() {
			accs = append(accs, id)
		}
	}
	var popular []string
	for _, id := range []string{"nvidia-h100-sxm", "nvidia-h200", "nvidia-b200", "nvidia-a100-80gb", "nvidia-gb200", "amd-mi300x"} {
		if w.Accelerators[id] != nil {
			popular = append(popular, id)
		}
	}
	if len(popular) == 0 {
		popular = accs
	}
	// Operators headquartered in China build mostly on the chips they may
	// buy: domestic ones and the H20.
	var popularCN []string
	for _, id := range []string{"huawei-ascend-910b", "huawei-ascend-910c", "nvidia-h20"} {
		if w.Accelerators[id] != nil {
			popularCN = append(popularCN, id)
		}
	}
	var countries []string
	for _, cc := range synthCountries {
		if c := w.Countries[cc]; c != nil && !c.Region {
			countries = append(countries, cc)
		}
	}
	if len(countries) == 0 {
		countries = w.CountryCodes()
		sort.Strings(countries)
	}
	type operator struct{ name, hq string }
	ops := make([]operator, 60)
	for i := range ops {
		ops[i] = operator{fmt.Sprintf("operator-%02d", i), countries[r.Intn(len(countries))]}
	}
	out := make([]*catalog.Site, n)
	for i := range out {
		op := ops[r.Intn(len(ops))]
		cc := op.hq
		if r.Intn(10) < 4 { // 40 % of sites abroad
			cc = countries[r.Intn(len(countries))]
		}
		s := &catalog.Site{APIVersion: catalog.APIVersion, Kind: catalog.KindSite}
		s.Metadata.Name = fmt.Sprintf("syn-%s-%05d", lower(cc), i)
		s.Spec.Country = cc
		s.Spec.Operator = catalog.Operator{Name: op.name, Headquarters: op.hq}
		s.Spec.Network = catalog.Network{EgressPerGB: 0.02 + 0.1*r.Float64(), Gbps: []float64{10, 40, 100, 400}[r.Intn(4)]}
		s.Spec.Backend.Type = catalog.BackendLocal
		s.Spec.Source = "synthetic benchmark site"
		for p := 0; p < pools; p++ {
			count := 64 << r.Intn(7) // 64 … 4,096
			choices := popular
			if op.hq == "CN" && len(popularCN) > 0 {
				choices = popularCN
			}
			acc := choices[r.Intn(len(choices))]
			if r.Intn(10) < 2 { // 20 % of pools hold any other chip
				acc = accs[r.Intn(len(accs))]
			}
			s.Spec.Pools = append(s.Spec.Pools, catalog.Pool{
				Accelerator:  acc,
				Count:        count,
				Available:    r.Intn(count + 1),
				PricePerHour: 0.5 + 4*r.Float64(),
				Owner:        catalog.OwnerOperator,
			})
		}
		out[i] = s
	}
	return out
}

// synthCountries are the codes sites and operators are drawn from: the
// country table's codes as they were when these worlds were fixed
// (December 2026), sorted, those the table still has. A code added to the
// table later (the EU's outermost regions were) is not drawn: drawing from
// the whole table made every synthetic world another with each code added,
// and a benchmark's figures incomparable with those measured before.
var synthCountries = []string{
	"AD", "AE", "AF", "AR", "AT", "AU", "BE", "BG", "BR", "BY", "CA", "CD", "CF", "CH", "CN", "CU", "CY", "CZ",
	"DE", "DK", "EE", "EG", "ER", "ES", "FI", "FO", "FR", "GB", "GG", "GR", "HK", "HR", "HT", "HU",
	"ID", "IE", "IL", "IM", "IN", "IQ", "IR", "IS", "IT", "JE", "JP", "KP", "KR", "KZ", "LB", "LI", "LT", "LU",
	"LV", "LY", "MM", "MO", "MT", "MX", "MY", "NI", "NL", "NO", "NZ", "PH", "PL", "PT", "QA", "RO", "RU", "SA",
	"SD", "SE", "SG", "SI", "SK", "SO", "SS", "SY", "TH", "TR", "TW", "US", "UY", "VE", "VN", "ZA", "ZW",
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// Jobs names the synthetic jobs: "cn" (Job) and "us" (JobUS).
var Jobs = []string{"cn", "us"}

// JobNamed returns the synthetic job called name, or nil.
func JobNamed(name string) *catalog.Set {
	switch name {
	case "cn":
		return Job()
	case "us":
		return JobUS()
	}
	return nil
}

// JobUS returns a US lab fine-tuning a 7.6B model on public data: little
// law bites, so nearly every pool is estimated at every count.
func JobUS() *catalog.Set {
	set := Job()
	set.Organizations[0].Spec.Headquarters = "US"
	set.Datasets[0].Spec.Origin = "US"
	set.Datasets[0].Spec.Classification = catalog.ClassPublic
	set.Datasets[0].Spec.Subjects = 0
	set.Datasets[0].Spec.TransferBases = nil
	set.Jobs[0].Spec.Release.Markets = []string{"US"}
	return set
}

// Job returns a China-headquartered lab fine-tuning a 7.6B model on
// personal data held in China, the case that exercises export-control and
// data-export rules together.
func Job() *catalog.Set {
	org := &catalog.Organization{APIVersion: catalog.APIVersion, Kind: catalog.KindOrganization,
		Metadata: catalog.Metadata{Name: "synth-lab"}, Spec: catalog.OrganizationSpec{Headquarters: "CN"}}
	ds := &catalog.Dataset{APIVersion: catalog.APIVersion, Kind: catalog.KindDataset,
		Metadata: catalog.Metadata{Name: "synth-chat"},
		Spec: catalog.DatasetSpec{Origin: "CN", SizeBytes: 2.5e12, Classification: catalog.ClassPersonal,
			Subjects: 1_200_000, TransferBases: []string{"cn-standard-contract"}}}
	job := &catalog.TrainingJob{APIVersion: catalog.APIVersion, Kind: catalog.KindTrainingJob,
		Metadata: catalog.Metadata{Name: "synth-7b-sft"},
		Spec: catalog.TrainingJobSpec{Organization: "synth-lab", Datasets: []string{"synth-chat"},
			Model:  catalog.Model{Parameters: 7.6e9, Layers: 28, HiddenSize: 3584, SequenceLength: 4096},
			Method: catalog.MethodFullFinetune, Tokens: 2e10, Precision: "bf16", Objective: "cost",
			Deadline: catalog.Duration(14 * 24 * 3600 * 1e9), BudgetUSD: 250000,
			Release: catalog.Release{Markets: []string{"EU", "CN"}, OpenWeights: true}}}
	return &catalog.Set{Organizations: []*catalog.Organization{org}, Datasets: []*catalog.Dataset{ds}, Jobs: []*catalog.TrainingJob{job}}
}

// World is the built-in catalog with its sites replaced by n synthetic
// ones and the Job resources added.
func World(n, pools int, seed int64) (*catalog.World, error) {
	return WorldWith(n, pools, seed, Job())
}

// WorldWith is World with the given job resources.
func WorldWith(n, pools int, seed int64, job *catalog.Set) (*catalog.World, error) {
	w, err := catalog.Builtin()
	if err != nil {
		return nil, err
	}
	w.ReplaceSites()
	if err := w.Add(&catalog.Set{Sites: Sites(w, n, pools, seed)}); err != nil {
		return nil, err
	}
	if err := w.Add(job); err != nil {
		return nil, err
	}
	return w, nil
}

// WriteYAML writes resources as YAML documents separated by "---", the way
// a user would keep them in a catalog file.
func WriteYAML(w io.Writer, set *catalog.Set) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	var docs []any
	for _, o := range set.Organizations {
		docs = append(docs, o)
	}
	for _, d := range set.Datasets {
		docs = append(docs, d)
	}
	for _, s := range set.Sites {
		docs = append(docs, s)
	}
	for _, j := range set.Jobs {
		docs = append(docs, j)
	}
	for _, d := range docs {
		if err := enc.Encode(d); err != nil {
			return err
		}
	}
	return enc.Close()
}
