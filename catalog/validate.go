package catalog

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
)

// MaxScreeningNames bounds an Organization's aliases and its addresses:
// restricted-party screening compares each with every name on the imported
// list, so their number sets what screening one organisation costs.
const MaxScreeningNames = 64

// MaxFactItems bounds the lists of an Organization and a TrainingJob that
// the law reads as facts (attributes, affiliates, licenses, release
// markets, weights delivery, the job's datasets, a Dataset's transfer bases), and the length in bytes of the base model's
// name and of a licence's rule id: the policy engine bounds the cost of
// every rule by facts of at most this size (policy.maxFactSize). A job
// naming one weights-delivery country half a million times took seconds
// of rule evaluation for each plan and each law check, and copied the
// list into every finding that shows it.
const MaxFactItems = 256

// items refuses a list of more than MaxFactItems.
func (v *validator) items(pos Position, res, field string, n int) {
	if n > MaxFactItems {
		v.add(pos, res, field, fmt.Sprintf("%d items, at most %d", n, MaxFactItems))
	}
}

// short refuses a fact of more than MaxFactItems bytes.
func (v *validator) short(pos Position, res, field, s string) {
	if len(s) > MaxFactItems {
		v.add(pos, res, field, fmt.Sprintf("%d bytes, at most %d", len(s), MaxFactItems))
	}
}

// MaxScreeningText bounds the length in bytes of an Organization's legal
// name and aliases together: screening compares each of them with every
// name of the list, at a cost that grows with their length, so a tenant
// giving 64 aliases of a kilobyte each made one screening against a
// 10,000-entry list take over ten minutes (under a second at this
// bound).
const MaxScreeningText = 2048

// MaxScreeningField bounds the length in bytes of an Organization's legal
// name, each alias and each address: screening reads each.
const MaxScreeningField = 1024

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// dnsSubdomain is Kubernetes' rule for resource names (RFC 1123
// subdomain): dot-separated labels of lowercase letters, digits and '-',
// each starting and ending with a letter or digit; at most 253 in all.
var dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// ValidName reports whether s is a valid resource name (SCHEMA.md): a DNS
// subdomain such as qwen2.5-7b-sft.
func ValidName(s string) bool { return len(s) <= 253 && dnsSubdomain.MatchString(s) }

// ValidTenant reports whether s is a tenant name (a DNS label).
func ValidTenant(s string) bool { return dnsLabel.MatchString(s) }

// ValidOrgRef reports whether s names an organisation in the operator's
// catalog: NAME, or TENANT/NAME (OrgRef).
func ValidOrgRef(s string) bool {
	if t, n, ok := strings.Cut(s, "/"); ok {
		return ValidTenant(t) && ValidName(n)
	}
	return ValidName(s)
}

// MaxSubjects bounds a dataset's spec.subjects: more people than exist.
// The policy engine holds a dataset or a ledger record over it to be
// wrong, as the loader does: subjects add up per origin as int64, and
// totals near its largest value wrapped below zero.
const MaxSubjects = 1e10

// MaxPricePerHour is the most USD per accelerator-hour a price may be,
// wherever one is given (a site's pool, an assumption, an estimate's).
const MaxPricePerHour = maxPrice

// Limits beyond which a number is taken as a mistake rather than a plan.
const (
	maxParameters = 1e15 // a quadrillion parameters
	maxTokens     = 1e16
	maxSizeBytes  = 1e19 // 10 EB
	maxSubjects   = MaxSubjects
	maxPrice      = 1000 // USD per accelerator-hour
	maxCount      = 10_000_000
	maxEgress     = 10 // USD per GB
	maxGbps       = 100_000
	maxBaseFLOPs  = 1e32 // far beyond any published training run
	maxExperts    = 1_000_000
)

// MinCheckpointEvery is the shortest spec.checkpointEvery accepted. Each
// checkpoint stalls the run while it is written, and the estimate counts one
// stall per interval: an interval of a nanosecond was accepted and made any
// run last for ages. Real jobs checkpoint every 10 minutes or more (the
// examples: 20m to 2h); a minute is below any of them.
const MinCheckpointEvery = Duration(time.Minute)

// The accepted range of spec.confidence: the median of the estimate up to
// its 99.9th percentile.
const (
	MinConfidence = 0.5
	MaxConfidence = 0.999
	// DefaultConfidence is used when a job does not set spec.confidence: the
	// deadline and budget must hold at the estimate's 80th percentile.
	DefaultConfidence = 0.8
)

// RestrictedPartyValues lists the accepted restrictedParty values.
var RestrictedPartyValues = []string{RestrictedNone, RestrictedEntityList, RestrictedAffiliateOfListed}

// BackendTypes lists the accepted backend types.
var BackendTypes = []string{BackendLocal, BackendSlurm, BackendKubernetes}

// Markets that are blocs rather than countries.
var marketBlocs = []string{"EU", "EEA"}

// MaxErrorsPerResource bounds the problems reported for one resource; the
// rest are counted in one last error. Each problem costs a look-up of its
// line and a list of accepted values, so a job of 10,000 unknown countries
// (20 KB) took 15 s and 12 GB to refuse.
const MaxErrorsPerResource = 100

type validator struct {
	w    *World
	keys AssumptionKeys
	errs Errors

	// perRes counts each resource's problems; over MaxErrorsPerResource
	// they are only counted (dropped), and reported by finish.
	perRes  map[string]int
	dropped map[string]*dropped
	// src and root are the last document parsed to find a field's line:
	// a resource's problems are found together, so its document is parsed
	// once, not once per problem.
	src  *docSource
	root *node
	// The accepted values errors list, computed once.
	countryCodes, accIDs, sites []string
	// located is where each dataset validated is (DatasetLocation).
	located map[*Dataset]string
}

// dropped is where a resource is and how many of its problems were left out.
type dropped struct {
	pos Position
	n   int
}

// full reports whether res has had all the problems that will be shown;
// a caller skips costly work (suggestions) for a problem that would be
// dropped.
func (v *validator) full(res string) bool { return v.perRes[res] >= MaxErrorsPerResource }

func (v *validator) add(pos Position, res, field, msg string, accepted ...string) {
	if v.perRes == nil {
		v.perRes, v.dropped = map[string]int{}, map[string]*dropped{}
	}
	if v.full(res) {
		if d := v.dropped[res]; d != nil {
			d.n++
		} else {
			v.dropped[res] = &dropped{pos, 1}
		}
		return
	}
	v.perRes[res]++
	line := pos.Line
	if pos.src != nil {
		if pos.src != v.src {
			v.src, v.root = pos.src, pos.root()
		}
		line = pos.lineIn(v.root, field)
	}
	v.errs = append(v.errs, &FieldError{File: pos.File, Line: line, Resource: res, Field: field, Msg: msg, Accepted: accepted})
}

// finish adds, for each resource with problems left out, one error saying
// how many, and returns the errors.
func (v *validator) finish() error {
	for _, res := range sortedKeys(v.dropped) {
		d := v.dropped[res]
		v.errs = append(v.errs, &FieldError{File: d.pos.File, Line: d.pos.Line, Resource: res,
			Msg: fmt.Sprintf("%d more problems not shown (at most %d are listed per resource); fix those above first", d.n, MaxErrorsPerResource), omitted: d.n})
	}
	return v.errs.errOrNil()
}

// countries, accelerators and siteNames are the accepted values of
// errors, listed once per validation.
func (v *validator) countries() []string {
	if v.countryCodes == nil {
		v.countryCodes = v.w.CountryCodes()
	}
	return v.countryCodes
}

func (v *validator) accelerators() []string {
	if v.accIDs == nil {
		v.accIDs = v.w.AcceleratorIDs()
	}
	return v.accIDs
}

func (v *validator) name(pos Position, res, name string) {
	if !ValidName(name) {
		v.add(pos, res, "metadata.name", fmt.Sprintf("%q is not a DNS subdomain name (lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253)", name))
	}
}

func (v *validator) country(pos Position, res, field, code string, required bool) {
	if code == "" {
		if required {
			v.add(pos, res, field, "required: an ISO 3166-1 alpha-2 country code such as US, CN, DE")
		}
		return
	}
	c, ok := v.w.Countries[code]
	switch {
	case !ok:
		v.add(pos, res, field, fmt.Sprintf("%q is not a known country", code), v.countries()...)
	case c.Region:
		v.add(pos, res, field, fmt.Sprintf("%q is a region, not a country: give the country (a region is accepted as a dataset's origin only)", code), v.countries()...)
	}
}

// origin checks a dataset's origin: a country, or a region (EU, EEA) for
// data governed by the bloc's law and collected across its members.
func (v *validator) origin(pos Position, res, code string) {
	if c, ok := v.w.Countries[code]; ok && c.Region {
		return
	}
	if _, ok := v.w.Countries[code]; !ok && code != "" {
		v.add(pos, res, "spec.origin", fmt.Sprintf("%q is not a known country or region", code), append(v.w.RegionCodes(), v.countries()...)...)
		return
	}
	v.country(pos, res, "spec.origin", code, true)
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
		v.add(pos, res, field, fmt.Sprintf("%q is not a known accelerator id", id), v.accelerators()...)
	}
}

// Validate checks every resource in the world: values, ranges and references
// between resources, and that each job's spec.assumptions keys are among keys
// with values in their ranges. It returns all problems at once as Errors.
func (w *World) Validate(keys AssumptionKeys) error {
	_, err := w.validate(keys)
	return err
}

// validate is Validate, returning also where each dataset it found
// located is (DatasetLocation), for Assemble: working it out matches the
// dataset's store with every site's.
func (w *World) validate(keys AssumptionKeys) (map[*Dataset]string, error) {
	v := &validator{w: w, keys: keys, located: map[*Dataset]string{}}
	for _, name := range sortedKeys(w.Organizations) {
		v.organization(w.Organizations[name])
	}
	for _, name := range sortedKeys(w.Datasets) {
		v.dataset(w.Datasets[name])
	}
	for _, s := range w.Sites {
		if !w.checked[s] {
			v.site(s)
		}
	}
	for _, j := range w.Jobs {
		v.job(j)
	}
	return v.located, v.finish()
}

func (v *validator) organization(o *Organization) {
	res := "Organization/" + o.Metadata.Name
	v.name(o.Pos, res, o.Metadata.Name)
	v.country(o.Pos, res, "spec.headquarters", o.Spec.Headquarters, true)
	v.country(o.Pos, res, "spec.ultimateParentHeadquarters", o.Spec.UltimateParentHeadquarters, false)
	if o.Spec.RestrictedParty != "" {
		v.oneOf(o.Pos, res, "spec.restrictedParty", o.Spec.RestrictedParty, RestrictedPartyValues)
	}
	if o.Spec.USPerson != nil && !*o.Spec.USPerson && o.Spec.Headquarters == "US" {
		// An entity organised under US law is a US person (EAR §772.1):
		// the flag is for a person the headquarters do not show (a US
		// citizen's or a US branch's work abroad), never to unsay them.
		v.add(o.Pos, res, "spec.usPerson", "false contradicts spec.headquarters US: an organisation headquartered in the US is a US person (15 CFR 772.1)")
	}
	v.items(o.Pos, res, "spec.attributes", len(o.Spec.Attributes))
	v.items(o.Pos, res, "spec.affiliates", len(o.Spec.Affiliates))
	v.items(o.Pos, res, "spec.licenses", len(o.Spec.Licenses))
	for i, a := range o.Spec.Attributes {
		v.oneOf(o.Pos, res, fmt.Sprintf("spec.attributes[%d]", i), a, OrgAttributeIDs)
	}
	for i, a := range o.Spec.Affiliates {
		f := fmt.Sprintf("spec.affiliates[%d]", i)
		switch {
		case !dnsLabel.MatchString(a):
			v.add(o.Pos, res, f, fmt.Sprintf("%q is not an organisation name", a))
		case a == o.Metadata.Name:
			v.add(o.Pos, res, f, "an organisation is not its own affiliate")
		}
	}
	if n := len(o.Spec.Aliases); n > MaxScreeningNames {
		v.add(o.Pos, res, "spec.aliases", fmt.Sprintf("%d aliases, at most %d", n, MaxScreeningNames))
	}
	if n := len(o.Spec.Addresses); n > MaxScreeningNames {
		v.add(o.Pos, res, "spec.addresses", fmt.Sprintf("%d addresses, at most %d", n, MaxScreeningNames))
	}
	tooLong := false
	long := func(field, n string) {
		if len(n) > MaxScreeningField {
			tooLong = true
			v.add(o.Pos, res, field, fmt.Sprintf("%d bytes, longer than %d", len(n), MaxScreeningField))
		}
	}
	long("spec.legalName", o.Spec.LegalName)
	for i, n := range o.Spec.Aliases {
		long(fmt.Sprintf("spec.aliases[%d]", i), n)
	}
	for i, n := range o.Spec.Addresses {
		long(fmt.Sprintf("spec.addresses[%d]", i), n)
	}
	if n := o.ScreeningText(); n > MaxScreeningText && !tooLong {
		v.add(o.Pos, res, "spec.aliases", fmt.Sprintf("the legal name and aliases are %d bytes together, at most %d", n, MaxScreeningText))
	}
	for i, l := range o.Spec.Licenses {
		if strings.TrimSpace(l.Rule) == "" {
			v.add(o.Pos, res, fmt.Sprintf("spec.licenses[%d].rule", i), "required: the id of the rule this licence lifts")
		}
		v.short(o.Pos, res, fmt.Sprintf("spec.licenses[%d].rule", i), l.Rule)
	}
}

func (v *validator) dataset(d *Dataset) {
	res := "Dataset/" + d.Metadata.Name
	v.name(d.Pos, res, d.Metadata.Name)
	v.origin(d.Pos, res, d.Spec.Origin)
	// spec.location names the site where the data is stored now; the law
	// judges where the data leaves from by that site's country, and refuses
	// any other word. A country code (even the origin's) is refused here,
	// where the user can fix it, rather than by every plan and transfer
	// later. It stands only where the dataset's store lies in a site of
	// that country: DatasetLocation then puts the data at that site.
	if loc, err := datasetLocation(d, v.w.Sites); err != nil {
		v.add(d.Pos, res, "spec.location", err.Error())
	} else {
		v.located[d] = loc
		if loc != "" && v.w.Site(loc) == nil {
			v.add(d.Pos, res, "spec.location", v.notASite(d, loc))
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
	v.items(d.Pos, res, "spec.transferBases", len(d.Spec.TransferBases))
	for i, b := range d.Spec.TransferBases {
		f := fmt.Sprintf("spec.transferBases[%d]", i)
		if why, retired := RetiredBases[b]; retired {
			v.add(d.Pos, res, f, fmt.Sprintf("%q is no longer accepted: %s", b, why), TransferBases...)
			continue
		}
		v.oneOf(d.Pos, res, f, b, TransferBases)
	}
}

// notASite says why loc, a dataset's spec.location, is refused: it names
// no site of the catalog.
func (v *validator) notASite(d *Dataset, loc string) string {
	const what = "spec.location names the catalog site where the data is stored now (meridian catalog sites lists them)"
	if _, isCountry := v.w.Countries[loc]; isCountry {
		if loc == d.Spec.Origin {
			return fmt.Sprintf("%q is a country, not a site: %s; data still in its origin country needs no location, so omit it", loc, what)
		}
		return fmt.Sprintf("%q is a country, not a site: %s; for data held outside the catalog's sites, add the place it is held as a Site and name that", loc, what)
	}
	return fmt.Sprintf("no site named %q: %s; omit it when the data is still in its origin country", loc, what)
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
	// The law reads these as facts of every candidate at the site, and the
	// engine denies a candidate whose fact is over the bound it prices
	// rules for: refused here, the operator learns it when the catalog is
	// loaded rather than from every placement at the site being denied.
	v.short(s.Pos, res, "spec.operator.name", s.Spec.Operator.Name)
	v.short(s.Pos, res, "spec.city", s.Spec.City)
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
		v.short(s.Pos, res, f+".owner", p.Owner)
		if p.Owner != "" && p.Owner != OwnerOperator {
			if org := p.OwnerOrganization(); org == "" || !ValidOrgRef(org) {
				v.add(s.Pos, res, f+".owner", fmt.Sprintf("%q: want operator, organization:<name> or organization:<tenant>/<name>", p.Owner))
			}
		}
	}
	v.number(s.Pos, res, "spec.network.egressPerGB", s.Spec.Network.EgressPerGB, 0, maxEgress, "USD per GB")
	v.number(s.Pos, res, "spec.network.gbps", s.Spec.Network.Gbps, 0.001, maxGbps, "Gbit/s")
	if s.Spec.Backend.Type != "" {
		v.oneOf(s.Pos, res, "spec.backend.type", s.Spec.Backend.Type, BackendTypes)
	}
	if s.Spec.Access != "" {
		v.oneOf(s.Pos, res, "spec.access", s.Spec.Access, AccessValues)
	}
	for i, o := range s.Spec.AccessOrganizations {
		if !ValidOrgRef(o) {
			v.add(s.Pos, res, fmt.Sprintf("spec.accessOrganizations[%d]", i), fmt.Sprintf("%q is not an organisation name (<name>, or <tenant>/<name> for a tenant's organisation)", o))
		}
	}
	switch {
	case s.AccessTerms() == AccessPrivate && len(s.Spec.AccessOrganizations) == 0:
		v.add(s.Pos, res, "spec.access", "private needs spec.accessOrganizations: the organisations that may use the site")
	case s.AccessTerms() == AccessPublicRental && len(s.Spec.AccessOrganizations) > 0:
		v.add(s.Pos, res, "spec.accessOrganizations", "only for access private or allocation: a public-rental site is open to all")
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
	// The law judges moving each dataset to each candidate's country, and
	// counts each one's subjects with every other's of its origin: a job
	// naming one dataset 100,000 times (a 4 MiB request) made that
	// minutes of work per country and counted its subjects 100,000 times.
	v.items(j.Pos, res, "spec.datasets", len(sp.Datasets))
	listed := map[string]int{}
	for i, d := range sp.Datasets {
		if first, dup := listed[d]; dup {
			v.add(j.Pos, res, fmt.Sprintf("spec.datasets[%d]", i), fmt.Sprintf("%q is listed already (spec.datasets[%d]); name each dataset once", d, first))
			continue
		}
		listed[d] = i
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
	if b := sp.Model.Base; b != nil {
		if strings.TrimSpace(b.Name) == "" {
			v.add(j.Pos, res, "spec.model.base.name", "required: the base model's name, e.g. qwen2.5-7b")
		}
		v.short(j.Pos, res, "spec.model.base.name", b.Name)
		v.country(j.Pos, res, "spec.model.base.origin", b.Origin, false)
		if b.License != "" {
			v.oneOf(j.Pos, res, "spec.model.base.license", b.License, ModelLicenceIDs)
		}
		v.number(j.Pos, res, "spec.model.base.trainingFLOPs", b.TrainingFLOPs, 0, maxBaseFLOPs, "FLOP")
	}
	v.items(j.Pos, res, "spec.weightsDelivery", len(sp.WeightsDelivery))
	for i, c := range sp.WeightsDelivery {
		v.country(j.Pos, res, fmt.Sprintf("spec.weightsDelivery[%d]", i), c, true)
	}
	v.experts(j.Pos, res, &sp.Model)
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
	if sp.CheckpointEvery != 0 && sp.CheckpointEvery < MinCheckpointEvery {
		v.add(j.Pos, res, "spec.checkpointEvery", fmt.Sprintf("%s is below %dm, the shortest checkpoint interval accepted",
			time.Duration(sp.CheckpointEvery), int(MinCheckpointEvery.D().Minutes())))
	}
	if sp.Confidence != 0 {
		v.number(j.Pos, res, "spec.confidence", sp.Confidence, MinConfidence, MaxConfidence,
			"the one-sided quantile of the estimate that the deadline and budget must hold at")
	}
	v.items(j.Pos, res, "spec.release.markets", len(sp.Release.Markets))
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
	}{{"spec.constraints.sites.allow", c.Sites.Allow}, {"spec.constraints.sites.deny", c.Sites.Deny}} {
		for i, name := range l.vals {
			if v.w.Site(name) == nil {
				msg := fmt.Sprintf("no site named %q in the catalog (meridian catalog sites lists them)", name)
				// Suggestions cost an edit distance to every site: only for
				// a name that could be one, and a problem that is shown.
				if !ValidName(name) || v.full(res) {
					v.add(j.Pos, res, fmt.Sprintf("%s[%d]", l.field, i), msg)
					continue
				}
				if near := nearest(name, v.siteNames(), 3); len(near) > 0 {
					msg += "; did you mean " + strings.Join(near, ", ") + "?"
				}
				v.add(j.Pos, res, fmt.Sprintf("%s[%d]", l.field, i), msg)
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
	for _, k := range sortedKeys(sp.Assumptions) {
		x := sp.Assumptions[k]
		key, ok := v.keys.Lookup(k)
		if !ok {
			v.add(j.Pos, res, "spec.assumptions."+k, fmt.Sprintf("%q is not a known assumption key", k), v.keys.Names()...)
			continue
		}
		switch {
		case Subnormal(x):
			v.add(j.Pos, res, "spec.assumptions."+k, fmt.Sprintf("%v is a denormal number, too small to compute with (a value other than 0 must be at least 2.2e-308); accepted: %s (%s)", x, key.Range(), key.Doc))
		case !key.Accepts(x):
			v.add(j.Pos, res, "spec.assumptions."+k, fmt.Sprintf("%v is outside %s (%s)", x, key.Range(), key.Doc))
		}
	}
}

// experts checks the MoE fields: experts and expertsPerToken go together,
// at most every expert per token, and an MoE model says how many of its
// parameters each token uses.
func (v *validator) experts(pos Position, res string, m *Model) {
	v.number(pos, res, "spec.model.experts", float64(m.Experts), 0, maxExperts, "routed experts")
	v.number(pos, res, "spec.model.expertsPerToken", float64(m.ExpertsPerToken), 0, maxExperts, "experts each token is routed to")
	switch {
	case m.Experts == 0 && m.ExpertsPerToken == 0:
		return
	case m.Experts == 0:
		v.add(pos, res, "spec.model.expertsPerToken", "given without spec.model.experts: say how many routed experts the model has")
		return
	case m.Experts < 2:
		v.add(pos, res, "spec.model.experts", fmt.Sprintf("%d: a mixture of experts has at least 2 (leave it out for a dense model)", m.Experts))
	}
	if m.ExpertsPerToken == 0 {
		v.add(pos, res, "spec.model.expertsPerToken", "required with spec.model.experts: how many experts each token is routed to (top-k)")
	} else if m.ExpertsPerToken > m.Experts {
		v.add(pos, res, "spec.model.expertsPerToken", fmt.Sprintf("%d is more than experts (%d)", m.ExpertsPerToken, m.Experts))
	}
	if m.ActiveParameters == 0 {
		v.add(pos, res, "spec.model.activeParameters", "required with spec.model.experts: the parameters each token uses (shared layers plus its experts)")
	}
}

// siteNames lists the world's sites, for errors that name the accepted ones.
func (v *validator) siteNames() []string {
	if v.sites == nil {
		v.sites = make([]string, len(v.w.Sites))
		for i, s := range v.w.Sites {
			v.sites[i] = s.Metadata.Name
		}
	}
	return v.sites
}

// nearest returns up to n names of list closest to s by edit distance,
// those within a third of s's length, closest first.
func nearest(s string, list []string, n int) []string {
	type scored struct {
		name string
		d    int
	}
	var out []scored
	limit := max(2, len(s)/3)
	for _, x := range list {
		if abs(len(s)-len(x)) > limit {
			continue // the distance is at least the difference in length
		}
		if d := editDistance(s, x); d <= limit {
			out = append(out, scored{x, d})
		}
	}
	slices.SortStableFunc(out, func(a, b scored) int { return a.d - b.d })
	names := make([]string, 0, n)
	for i := 0; i < len(out) && i < n; i++ {
		names = append(names, out[i].name)
	}
	return names
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Load builds a world from the built-in catalog plus files, and validates it
// with keys as the accepted spec.assumptions keys. When catalogDir is set,
// its sites replace the built-in ones.
func Load(keys AssumptionKeys, catalogDir string, files ...string) (*World, error) {
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
	return Assemble(keys, sites, user...)
}

// CheckSites validates a set's sites on their own (as World.Validate would
// in a world of the built-in countries and accelerators) and, when every
// one is valid, marks the set so that worlds it is added to later do not
// validate them again: a server checks its cached catalog once instead of
// on every request. An invalid set is left unmarked.
func CheckSites(keys AssumptionKeys, s *Set) error {
	w, err := Builtin()
	if err != nil {
		return err
	}
	w.ReplaceSites()
	if err := w.addSites(s.Sites); err != nil {
		return err
	}
	v := &validator{w: w, keys: keys}
	for _, site := range w.Sites {
		v.site(site)
	}
	if err := v.finish(); err != nil {
		return err
	}
	s.sitesChecked = true
	return nil
}

// Assemble builds a validated world from the built-in catalog, with the
// sites of catalogSites (when not nil) in place of the built-in ones, plus
// the resources of sets; keys are the accepted spec.assumptions keys.
// Duplicates and invalid values are reported together, as one Errors.
func Assemble(keys AssumptionKeys, catalogSites *Set, sets ...*Set) (*World, error) {
	build := Builtin
	if catalogSites != nil {
		build = builtinBare // its sites would be dropped at once
	}
	w, err := build()
	if err != nil {
		return nil, err
	}
	var errs Errors
	add := func(s *Set) error {
		err := w.Add(s)
		var es Errors
		if errors.As(err, &es) {
			errs = append(errs, es...)
			return nil
		}
		return err
	}
	if catalogSites != nil {
		if err := add(catalogSites); err != nil {
			return nil, err
		}
	}
	for _, s := range sets {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	located, err := w.validate(keys)
	if err != nil {
		var es Errors
		if !errors.As(err, &es) {
			return nil, err
		}
		errs = append(errs, es...)
	}
	if err := errs.errOrNil(); err != nil {
		return nil, err
	}
	// Every reader of a dataset's location (the law, the planner's price
	// of moving it) sees where its store says it is: a copy whose location
	// is the site whose store holds it, the tenant's declaration otherwise,
	// as the validation found it.
	for name, d := range w.Datasets {
		loc, ok := located[d]
		if !ok {
			var err error
			if loc, err = datasetLocation(d, w.Sites); err != nil {
				return nil, err
			}
		}
		w.Datasets[name] = locatedAt(d, loc)
	}
	return w, nil
}
