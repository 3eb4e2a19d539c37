package catalog

import (
	"fmt"
	"math"
	"regexp"
	"strings"
)

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// Limits beyond which a number is taken as a mistake rather than a plan.
const (
	maxParameters = 1e15 // a quadrillion parameters
	maxTokens     = 1e16
	maxSizeBytes  = 1e19 // 10 EB
	maxSubjects   = 1e10 // more people than exist
	maxPrice      = 1000 // USD per accelerator-hour
	maxCount      = 10_000_000
	maxEgress     = 10 // USD per GB
	maxGbps       = 100_000
)

// RestrictedPartyValues lists the accepted restrictedParty values.
var RestrictedPartyValues = []string{RestrictedNone, RestrictedEntityList, RestrictedAffiliateOfListed}

// BackendTypes lists the accepted backend types.
var BackendTypes = []string{BackendLocal, BackendSlurm, BackendKubernetes}

// TransferBases lists the legal bases for moving data that rules understand.
var TransferBases = []string{
	"eu-scc", "eu-bcr", "eu-art49-derogation", "consent",
	"cn-security-assessment", "cn-standard-contract", "cn-certification", "cn-exemption",
	"uk-idta", "in-permitted", "vn-tia", "ru-notification",
}

// Markets that are blocs rather than countries.
var marketBlocs = []string{"EU", "EEA"}

type validator struct {
	w    *World
	errs Errors
}

func (v *validator) add(pos Position, res, field, msg string, accepted ...string) {
	var line int
	if s := v.w.setFor(pos); s != nil {
		line = s.lineFor(pos, field)
	} else {
		line = pos.Line
	}
	v.errs = append(v.errs, &FieldError{File: pos.File, Line: line, Resource: res, Field: field, Msg: msg, Accepted: accepted})
}

func (v *validator) name(pos Position, res, name string) {
	if !dnsLabel.MatchString(name) {
		v.add(pos, res, "metadata.name", fmt.Sprintf("%q is not a DNS label ([a-z0-9-], at most 63, no leading or trailing '-')", name))
	}
}

func (v *validator) country(pos Position, res, field, code string, required bool) {
	if code == "" {
		if required {
			v.add(pos, res, field, "required: an ISO 3166-1 alpha-2 country code such as US, CN, DE")
		}
		return
	}
	if _, ok := v.w.Countries[code]; !ok {
		v.add(pos, res, field, fmt.Sprintf("%q is not a known country", code), v.w.CountryCodes()...)
	}
}

func (v *validator) oneOf(pos Position, res, field, val string, accepted []string) {
	for _, a := range accepted {
		if a == val {
			return
		}
	}
	v.add(pos, res, field, fmt.Sprintf("%q is not accepted", val), accepted...)
}

func (v *validator) number(pos Position, res, field string, x, lo, hi float64, what string) {
	switch {
	case math.IsNaN(x) || math.IsInf(x, 0):
		v.add(pos, res, field, fmt.Sprintf("%v is not a number", x))
	case x < lo:
		v.add(pos, res, field, fmt.Sprintf("%g is below %g (%s)", x, lo, what))
	case x > hi:
		v.add(pos, res, field, fmt.Sprintf("%g is above %g (%s)", x, hi, what))
	}
}

func (v *validator) accelerator(pos Position, res, field, id string) {
	if _, ok := v.w.Accelerators[id]; !ok {
		v.add(pos, res, field, fmt.Sprintf("%q is not a known accelerator id", id), v.w.AcceleratorIDs()...)
	}
}

// Validate checks every resource in the world: values, ranges and references
// between resources. It returns all problems at once as Errors.
func (w *World) Validate() error {
	v := &validator{w: w}
	for _, name := range sortedKeys(w.Organizations) {
		v.organization(w.Organizations[name])
	}
	for _, name := range sortedKeys(w.Datasets) {
		v.dataset(w.Datasets[name])
	}
	for _, s := range w.Sites {
		v.site(s)
	}
	for _, j := range w.Jobs {
		v.job(j)
	}
	return v.errs.errOrNil()
}

func (v *validator) organization(o *Organization) {
	res := "Organization/" + o.Metadata.Name
	v.name(o.Pos, res, o.Metadata.Name)
	v.country(o.Pos, res, "spec.headquarters", o.Spec.Headquarters, true)
	v.country(o.Pos, res, "spec.ultimateParentHeadquarters", o.Spec.UltimateParentHeadquarters, false)
	if o.Spec.RestrictedParty != "" {
		v.oneOf(o.Pos, res, "spec.restrictedParty", o.Spec.RestrictedParty, RestrictedPartyValues)
	}
	for i, l := range o.Spec.Licenses {
		if strings.TrimSpace(l.Rule) == "" {
			v.add(o.Pos, res, fmt.Sprintf("spec.licenses[%d].rule", i), "required: the id of the rule this licence lifts")
		}
	}
}

func (v *validator) dataset(d *Dataset) {
	res := "Dataset/" + d.Metadata.Name
	v.name(d.Pos, res, d.Metadata.Name)
	v.country(d.Pos, res, "spec.origin", d.Spec.Origin, true)
	if d.Spec.Location != "" && v.w.Site(d.Spec.Location) == nil {
		if _, isCountry := v.w.Countries[d.Spec.Location]; !isCountry {
			v.add(d.Pos, res, "spec.location", fmt.Sprintf("%q is neither a known site nor a country code", d.Spec.Location))
		}
	}
	v.number(d.Pos, res, "spec.sizeBytes", d.Spec.SizeBytes, 0, maxSizeBytes, "bytes")
	if d.Spec.Classification == "" {
		v.add(d.Pos, res, "spec.classification", "required", Classifications...)
	} else {
		v.oneOf(d.Pos, res, "spec.classification", d.Spec.Classification, Classifications)
	}
	v.number(d.Pos, res, "spec.subjects", float64(d.Spec.Subjects), 0, maxSubjects, "people")
	if d.IsPersonal() && d.Spec.Subjects == 0 {
		v.add(d.Pos, res, "spec.subjects", "required for "+d.Spec.Classification+" data: the number of people the data covers")
	}
	for i, b := range d.Spec.TransferBases {
		v.oneOf(d.Pos, res, fmt.Sprintf("spec.transferBases[%d]", i), b, TransferBases)
	}
}

func (v *validator) site(s *Site) {
	res := "Site/" + s.Metadata.Name
	v.name(s.Pos, res, s.Metadata.Name)
	v.country(s.Pos, res, "spec.country", s.Spec.Country, true)
	v.number(s.Pos, res, "spec.location.lat", s.Spec.Location.Lat, -90, 90, "degrees")
	v.number(s.Pos, res, "spec.location.lon", s.Spec.Location.Lon, -180, 180, "degrees")
	if s.Spec.Operator.Name == "" {
		v.add(s.Pos, res, "spec.operator.name", "required")
	}
	v.country(s.Pos, res, "spec.operator.headquarters", s.Spec.Operator.Headquarters, true)
	if len(s.Spec.Pools) == 0 {
		v.add(s.Pos, res, "spec.pools", "required: at least one pool of accelerators")
	}
	for i, p := range s.Spec.Pools {
		f := fmt.Sprintf("spec.pools[%d]", i)
		v.accelerator(s.Pos, res, f+".accelerator", p.Accelerator)
		v.number(s.Pos, res, f+".count", float64(p.Count), 1, maxCount, "accelerators installed")
		v.number(s.Pos, res, f+".available", float64(p.Available), 0, maxCount, "accelerators free")
		if p.Available > p.Count {
			v.add(s.Pos, res, f+".available", fmt.Sprintf("%d is more than the %d installed (count)", p.Available, p.Count))
		}
		v.number(s.Pos, res, f+".pricePerHour", p.PricePerHour, 0, maxPrice, "USD per accelerator-hour")
		if p.Owner != "" && p.Owner != OwnerOperator {
			if org := p.OwnerOrganization(); org == "" || !dnsLabel.MatchString(org) {
				v.add(s.Pos, res, f+".owner", fmt.Sprintf("%q: want operator or organization:<name>", p.Owner))
			}
		}
	}
	v.number(s.Pos, res, "spec.network.egressPerGB", s.Spec.Network.EgressPerGB, 0, maxEgress, "USD per GB")
	v.number(s.Pos, res, "spec.network.gbps", s.Spec.Network.Gbps, 0.001, maxGbps, "Gbit/s")
	if s.Spec.Backend.Type != "" {
		v.oneOf(s.Pos, res, "spec.backend.type", s.Spec.Backend.Type, BackendTypes)
	}
	for _, p := range s.Spec.Backend.Problems() {
		v.add(s.Pos, res, "spec.backend."+p.Field, p.Msg, p.Accepted...)
	}
}

func (v *validator) job(j *TrainingJob) {
	res := "TrainingJob/" + j.Metadata.Name
	sp := &j.Spec
	v.name(j.Pos, res, j.Metadata.Name)
	if sp.Organization == "" {
		v.add(j.Pos, res, "spec.organization", "required: the name of an Organization")
	} else if _, ok := v.w.Organizations[sp.Organization]; !ok {
		v.add(j.Pos, res, "spec.organization", fmt.Sprintf("no Organization named %q was given (pass its file with -f)", sp.Organization), sortedKeys(v.w.Organizations)...)
	}
	for i, d := range sp.Datasets {
		if _, ok := v.w.Datasets[d]; !ok {
			v.add(j.Pos, res, fmt.Sprintf("spec.datasets[%d]", i), fmt.Sprintf("no Dataset named %q was given (pass its file with -f)", d), sortedKeys(v.w.Datasets)...)
		}
	}
	v.number(j.Pos, res, "spec.model.parameters", sp.Model.Parameters, 1, maxParameters, "parameters")
	if sp.Model.ActiveParameters != 0 {
		v.number(j.Pos, res, "spec.model.activeParameters", sp.Model.ActiveParameters, 1, maxParameters, "parameters")
		if sp.Model.ActiveParameters > sp.Model.Parameters {
			v.add(j.Pos, res, "spec.model.activeParameters", fmt.Sprintf("%g is more than parameters (%g)", sp.Model.ActiveParameters, sp.Model.Parameters))
		}
	}
	v.number(j.Pos, res, "spec.model.layers", float64(sp.Model.Layers), 0, 10_000, "layers")
	v.number(j.Pos, res, "spec.model.hiddenSize", float64(sp.Model.HiddenSize), 0, 1_000_000, "hidden size")
	v.number(j.Pos, res, "spec.model.heads", float64(sp.Model.Heads), 0, 100_000, "attention heads")
	v.number(j.Pos, res, "spec.model.sequenceLength", float64(sp.Model.SequenceLength), 0, 100_000_000, "tokens")
	if sp.Method == "" {
		v.add(j.Pos, res, "spec.method", "required", Methods...)
	} else {
		v.oneOf(j.Pos, res, "spec.method", sp.Method, Methods)
	}
	if sp.LoRA != nil {
		if sp.Method != MethodLoRA && sp.Method != MethodQLoRA {
			v.add(j.Pos, res, "spec.lora", "only for method lora or qlora")
		}
		v.number(j.Pos, res, "spec.lora.rank", float64(sp.LoRA.Rank), 0, 65536, "rank")
		v.number(j.Pos, res, "spec.lora.trainableFraction", sp.LoRA.TrainableFraction, 0, 1, "share of parameters")
	}
	v.number(j.Pos, res, "spec.tokens", sp.Tokens, 1, maxTokens, "tokens")
	if sp.Precision != "" {
		v.oneOf(j.Pos, res, "spec.precision", sp.Precision, Precisions)
	}
	if sp.Objective != "" {
		v.oneOf(j.Pos, res, "spec.objective", sp.Objective, Objectives)
	}
	v.number(j.Pos, res, "spec.budgetUSD", sp.BudgetUSD, 0, 1e12, "USD")
	for i, m := range sp.Release.Markets {
		if !contains(marketBlocs, m) {
			v.country(j.Pos, res, fmt.Sprintf("spec.release.markets[%d]", i), m, true)
		}
	}
	c := &sp.Constraints
	for _, l := range []struct {
		field string
		vals  []string
	}{{"spec.constraints.countries.allow", c.Countries.Allow}, {"spec.constraints.countries.deny", c.Countries.Deny}} {
		for i, cc := range l.vals {
			if !contains(marketBlocs, cc) {
				v.country(j.Pos, res, fmt.Sprintf("%s[%d]", l.field, i), cc, true)
			}
		}
	}
	for _, l := range []struct {
		field string
		vals  []string
	}{{"spec.constraints.accelerators.allow", c.Accelerators.Allow}, {"spec.constraints.accelerators.deny", c.Accelerators.Deny}} {
		for i, id := range l.vals {
			v.accelerator(j.Pos, res, fmt.Sprintf("%s[%d]", l.field, i), id)
		}
	}
	v.number(j.Pos, res, "spec.constraints.minAccelerators", float64(c.MinAccelerators), 0, maxCount, "accelerators")
	v.number(j.Pos, res, "spec.constraints.maxAccelerators", float64(c.MaxAccelerators), 0, maxCount, "accelerators")
	if c.MaxAccelerators > 0 && c.MinAccelerators > c.MaxAccelerators {
		v.add(j.Pos, res, "spec.constraints.minAccelerators", fmt.Sprintf("%d is more than maxAccelerators (%d)", c.MinAccelerators, c.MaxAccelerators))
	}
	var accepted []string
	for _, k := range sortedKeys(sp.Assumptions) {
		x := sp.Assumptions[k]
		if _, ok := AssumptionDoc(k); !ok {
			if accepted == nil {
				accepted = AssumptionKeys()
			}
			v.add(j.Pos, res, "spec.assumptions."+k, fmt.Sprintf("%q is not a known assumption key", k), accepted...)
			continue
		}
		if math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
			v.add(j.Pos, res, "spec.assumptions."+k, fmt.Sprintf("%v is not a non-negative number", x))
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Load builds a world from the built-in catalog plus files, and validates it.
// When catalogDir is set, its sites replace the built-in ones.
func Load(catalogDir string, files ...string) (*World, error) {
	var sites *Set
	if catalogDir != "" {
		cs, err := LoadFiles(catalogDir)
		if err != nil {
			return nil, err
		}
		sites = cs
	}
	var user []*Set
	if len(files) > 0 {
		set, err := LoadFiles(files...)
		if err != nil {
			return nil, err
		}
		user = append(user, set)
	}
	return Assemble(sites, user...)
}

// Assemble builds a validated world from the built-in catalog, with the
// sites of catalogSites (when not nil) in place of the built-in ones, plus
// the resources of sets.
func Assemble(catalogSites *Set, sets ...*Set) (*World, error) {
	w, err := Builtin()
	if err != nil {
		return nil, err
	}
	if catalogSites != nil {
		w.ReplaceSites()
		if err := w.Add(catalogSites); err != nil {
			return nil, err
		}
	}
	for _, s := range sets {
		if err := w.Add(s); err != nil {
			return nil, err
		}
	}
	if err := w.Validate(); err != nil {
		return nil, err
	}
	return w, nil
}
