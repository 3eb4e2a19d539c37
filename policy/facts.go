package policy

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"meridian.dev/meridian/catalog"
)

// Facts are handed to CEL as maps of string to value. A fact the catalog
// does not know is left out of its map, so a rule that needs it fails with
// "no such key" and the engine denies (fail closed), while a rule that does
// not reach it (false && …) is unaffected.
//
// Variables:
//
//	asOf      string YYYY-MM-DD
//	org       name, hq, parentHQ, hqGroups, parentGroups, restricted, restrictedSource,
//	          usPerson, licences (in force on asOf), attributes, affiliates
//	job       name, flops, markets, marketsEU, openWeights, stateFunded, method, weightsDelivery,
//	          hasBase, baseName, baseOrigin, baseLicense, baseOpenWeights, baseTrainingFLOPs
//	site      name, city, country, groups, eu, eea, operator, operatorHQ, operatorHQGroups
//	pool      owner, ownerKind (operator, self, organization), acquired
//	owner     kind, name, hq, parentHQ, hqGroups, parentGroups, restricted
//	acc       id, vendor, origin, dataCenter, tpp, pd, scaleUpGBs, memoryBandwidthGBs, bf16TFLOPS, fp8TFLOPS, memoryGB
//	def       the packs' definitions, evaluated per candidate class
//	dataset   name, origin, originEEA, location, class, personal, subjects,
//	          originSubjects, originSensitiveSubjects, originDeidentifiedSubjects, bases
//	transfer  from, to, toEEA, toEU, toGroups, toAdequacy (scopes adopted on asOf)
//	delivery  to, toEEA, toEU, toGroups, toAdequacy (one country of job.weightsDelivery)
//	threshold the packs' thresholds (evaluated under each reading)
//	ledger    subjectsExported, groupSubjectsExported and subjectsGiven (volumes.go)
//
// vocab.go lists the fields again (factFields) so the loader can refuse a
// condition that names a field no variable has; keep the two in step.

type facts = map[string]any

// celFacts is m with every value converted to the CEL value the
// interpreter makes of it (the same adapter, the same conversion) each
// time a condition reads it; facts shared between evaluations are
// converted once. Messages read them back as Go values (native).
func (e *Engine) celFacts(m facts) facts {
	out := make(facts, len(m))
	for k, v := range m {
		out[k] = e.adapter.NativeToValue(v)
	}
	return out
}

// native is the Go value of a fact, converted (celFacts) or not.
func native(v any) any {
	if rv, ok := v.(ref.Val); ok {
		return rv.Value()
	}
	return v
}

func countryFacts(m facts, prefix string, iso string, countries map[string]*catalog.Country) {
	if c, ok := countries[iso]; ok {
		m[prefix+"Groups"] = groups(c)
	}
}

func groups(c *catalog.Country) []string {
	g := append([]string{}, c.USGroups...)
	if g == nil {
		g = []string{}
	}
	return g
}

// orgFacts describes an organisation on asOf; a screening result, when
// there is one, overrides the restricted-party status it declares, unless
// it found no match and the organisation declares itself restricted. Its
// licences are those in force on asOf (as a licence lifts a denial through
// its expiry day only: Session.lift).
func orgFacts(o *catalog.Organization, sc *Screening, countries map[string]*catalog.Country, asOf catalog.Date) facts {
	m := facts{}
	if o == nil {
		return m
	}
	m["name"] = o.Metadata.Name
	m["hq"] = o.Spec.Headquarters
	m["parentHQ"] = o.ParentHQ()
	countryFacts(m, "hq", o.Spec.Headquarters, countries)
	countryFacts(m, "parent", o.ParentHQ(), countries)
	m["restricted"] = o.Restricted()
	m["restrictedSource"] = "declared by the organisation"
	// A screening that finds no name on the list does not clear a status
	// the organisation declares (the list lags; an affiliate of a listed
	// party is not on it by name).
	if sc != nil && (sc.Status != catalog.RestrictedNone || o.Restricted() == catalog.RestrictedNone) {
		m["restricted"] = sc.Status
		m["restrictedSource"] = sc.Source
	}
	m["usPerson"] = o.IsUSPerson()
	m["attributes"] = append([]string{}, o.Spec.Attributes...)
	m["affiliates"] = append([]string{}, o.Spec.Affiliates...)
	lic := []string{}
	for _, l := range o.Spec.Licenses {
		if l.Expires.IsZero() || !l.Expires.Before(asOf) {
			lic = append(lic, l.Rule)
		}
	}
	m["licences"] = lic
	return m
}

// finite is whether x is a number other than NaN and ±Inf.
func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// known is whether a numeric fact that is left out when zero or below
// (unknown) is given: above zero, or not a number at all, which must
// reach the engine's checks (nonFiniteFacts) rather than be read as
// unknown, or as a number that no threshold is above or below.
func known(x float64) bool { return x > 0 || !finite(x) }

// nonFiniteFacts names the numeric facts of m, the variable name, that
// are NaN or infinite. A comparison with NaN is false whichever way it
// goes, so a rule "job.flops > 1e26" did not fire on a job whose compute
// could not be computed (fail open), and +Inf compared with +Inf is
// neither above nor below it. Such a fact denies, failing closed, and no
// rule reads it (Session.factProblems).
func nonFiniteFacts(name string, m facts) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if x, ok := number(m[k]); ok && !finite(x) {
			out = append(out, nonFiniteText(name+"."+k, x))
		}
	}
	return out
}

// number is the float value of a numeric fact, converted for CEL or not.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case types.Double:
		return float64(x), true
	}
	return 0, false
}

func nonFiniteText(fact string, x float64) string {
	return fmt.Sprintf("%s is %v, not a finite number, so the rules that read it cannot be determined", fact, x)
}

// JobFLOPs is the compute the law judges a job by (Query.TrainingFLOPs):
// the larger of its estimate and what the job records the law judged it
// by (catalog.TrainingJobSpec.LawFLOPs). When either is not a finite
// number it is 0, unknown, which the rules that need it fail closed on:
// max carries a NaN on, and the engine denies every candidate of a query
// whose compute is NaN.
func JobFLOPs(estimated, law float64) float64 {
	if !finite(estimated) || !finite(law) {
		return 0
	}
	return max(estimated, law)
}

func jobFacts(q *Query) facts {
	m := facts{}
	if known(q.TrainingFLOPs) {
		m["flops"] = q.TrainingFLOPs
	}
	if q.Job == nil {
		return m
	}
	j := q.Job
	m["name"] = j.Metadata.Name
	markets := append([]string{}, j.Spec.Release.Markets...)
	sort.Strings(markets)
	m["markets"] = markets
	eu := false
	for _, mk := range markets {
		if mk == "EU" || mk == "EEA" {
			eu = true
		} else if c, ok := q.Countries[mk]; ok && c.EU {
			eu = true
		}
	}
	m["marketsEU"] = eu
	m["openWeights"] = j.Spec.Release.OpenWeights
	m["stateFunded"] = j.Spec.StateFunded
	m["method"] = j.Spec.Method
	m["weightsDelivery"] = append([]string{}, j.Spec.WeightsDelivery...)
	// A base model's facts are present only when declared: a rule that
	// needs one the job did not give fails closed.
	b := j.Spec.Model.Base
	m["hasBase"] = b != nil
	if b != nil {
		m["baseName"] = b.Name
		m["baseOpenWeights"] = b.OpenWeights
		if b.Origin != "" {
			m["baseOrigin"] = b.Origin
		}
		if b.License != "" {
			m["baseLicense"] = b.License
		}
		if known(b.TrainingFLOPs) {
			m["baseTrainingFLOPs"] = b.TrainingFLOPs
		}
	}
	return m
}

func siteFacts(s *catalog.Site, countries map[string]*catalog.Country) facts {
	return siteFactsWith(s, countries, func(c *catalog.Country) any { return groups(c) }, func(v any) any { return v })
}

// siteFactsWith is siteFacts with the country groups from groupsOf and
// every other value passed through val (to convert it for CEL).
func siteFactsWith(s *catalog.Site, countries map[string]*catalog.Country, groupsOf func(*catalog.Country) any, val func(any) any) facts {
	m := make(facts, 9)
	m["name"] = val(s.Metadata.Name)
	m["country"] = val(s.Spec.Country)
	m["operator"] = val(s.Spec.Operator.Name)
	m["operatorHQ"] = val(s.Spec.Operator.Headquarters)
	if s.Spec.City != "" {
		m["city"] = val(s.Spec.City)
	}
	if c, ok := countries[s.Spec.Country]; ok {
		m["groups"] = groupsOf(c)
		m["eu"] = val(c.EU)
		m["eea"] = val(c.EEA)
	}
	if c, ok := countries[s.Spec.Operator.Headquarters]; ok {
		m["operatorHQGroups"] = groupsOf(c)
	}
	return m
}

// poolFacts are the pool's own facts.
func poolFacts(p *catalog.Pool, q *Query) facts {
	pool := facts{}
	if !p.Acquired.IsZero() {
		pool["acquired"] = p.Acquired.String()
	}
	name := p.OwnerOrganization()
	if name == "" {
		pool["owner"] = catalog.OwnerOperator
		pool["ownerKind"] = "operator"
		return pool
	}
	pool["owner"] = p.Owner
	pool["ownerKind"] = "organization"
	if q.Org != nil && catalog.NamesOrg(name, q.Tenant, q.Org.Metadata.Name) {
		pool["ownerKind"] = "self"
	}
	return pool
}

// ownerOf describes who owns the pool's chips: the site operator, the
// querying organisation ("self") or another organisation.
func ownerOf(s *catalog.Site, p *catalog.Pool, q *Query) (owner facts) {
	name := p.OwnerOrganization()
	if name == "" {
		owner = facts{"kind": "operator", "name": s.Spec.Operator.Name}
		if hq := s.Spec.Operator.Headquarters; hq != "" {
			owner["hq"] = hq
			owner["parentHQ"] = hq
			countryFacts(owner, "hq", hq, q.Countries)
			countryFacts(owner, "parent", hq, q.Countries)
		}
		return owner
	}
	var o *catalog.Organization
	kind := "organization"
	if q.Org != nil && catalog.NamesOrg(name, q.Tenant, q.Org.Metadata.Name) {
		o, kind = q.Org, "self"
	} else if _, n := catalog.OrgRef(name); q.Organizations != nil && catalog.NamesOrg(name, q.Tenant, n) {
		// The querying tenant's own organisations are known; another
		// tenant's organisation of the same name is not this one.
		o = q.Organizations[n]
	}
	if o == nil {
		// Unknown owner (another tenant's, or not registered): only its
		// name is known; rules that need its headquarters fail closed.
		return facts{"kind": kind, "name": name}
	}
	owner = orgFacts(o, nil, q.Countries, q.AsOf)
	owner["kind"] = kind
	// The rules compare these with the vocabulary's words: one outside
	// it ("Entity-List", from a document that did not come through the
	// catalog) matched none, and a listed owner read as not listed.
	// Unknown, a rule that needs them fails closed.
	if !contains(catalog.RestrictedPartyValues, o.Restricted()) {
		delete(owner, "restricted")
	}
	for _, a := range o.Spec.Attributes {
		if !contains(catalog.OrgAttributeIDs, a) {
			delete(owner, "attributes")
			break
		}
	}
	return owner
}

func accFacts(a *catalog.Accelerator) facts {
	m := facts{
		"id":         a.ID,
		"vendor":     a.Vendor,
		"origin":     a.Origin,
		"dataCenter": a.DataCenter,
	}
	for _, n := range accNumbers(a) {
		if n.f.Known() {
			m[n.name] = n.f.V() * n.scale
		}
	}
	if a.Origin == "" {
		delete(m, "origin")
	}
	return m
}

// accNumber is one numeric accelerator fact: its acc field, the catalog
// fact and the scale from the catalog's unit to the field's.
type accNumber struct {
	name  string
	f     catalog.Fact
	scale float64
}

// accNumbers are the accelerator's numeric facts (accFacts).
func accNumbers(a *catalog.Accelerator) [8]accNumber {
	return [8]accNumber{
		{"tpp", a.TPP, 1},
		{"pd", a.PerformanceDensity, 1},
		{"dieAreaMM2", a.DieAreaMM2, 1},
		{"scaleUpGBs", a.ScaleUpGBs, 1},
		{"memoryBandwidthGBs", a.MemoryBandwidthTBs, 1000},
		{"bf16TFLOPS", a.BF16TFLOPS, 1},
		{"fp8TFLOPS", a.FP8TFLOPS, 1},
		{"memoryGB", a.MemoryGB, 1},
	}
}

// nonFiniteAcc names the accelerator's numeric facts that are NaN or
// infinite (as the rules would read them: scaled), or "". A rule
// "acc.tpp >= 4800" was false for a NaN performance, and the chip read as
// below every control threshold.
func nonFiniteAcc(a *catalog.Accelerator) string {
	var out []string
	for _, n := range accNumbers(a) {
		if n.f.Known() {
			if x := n.f.V() * n.scale; !finite(x) {
				out = append(out, nonFiniteText("acc."+n.name, x))
			}
		}
	}
	if len(out) == 0 {
		return ""
	}
	return fmt.Sprintf("accelerator %s: %s", nameStart(a.ID), joinProblems(out))
}

// adequacyAt lists the EU adequacy scopes of a country adopted and in force on a date
// (AdequacyDecision.InForce). A decision of no status, or one outside the
// vocabulary, is none: read as adopted, it moved personal data with no basis.
func adequacyAt(c *catalog.Country, asOf catalog.Date) []string {
	out := []string{}
	for _, a := range c.Adequacy {
		if a.InForce(asOf) {
			out = append(out, a.Scope)
		}
	}
	sort.Strings(out)
	return out
}

// accUnconfirmed lists the accelerator facts (as acc fields) whose catalog
// status is U (unverified or conflicting). Performance density counts as
// unconfirmed when the die area it is derived from is.
func accUnconfirmed(a *catalog.Accelerator) []string {
	var out []string
	add := func(k string, f catalog.Fact, also bool) {
		if f.Known() && (f.Status == "U" || also) {
			out = append(out, k)
		}
	}
	add("tpp", a.TPP, false)
	add("pd", a.PerformanceDensity, a.DieAreaMM2.Status == "U")
	add("dieAreaMM2", a.DieAreaMM2, false)
	add("scaleUpGBs", a.ScaleUpGBs, false)
	add("memoryBandwidthGBs", a.MemoryBandwidthTBs, false)
	add("bf16TFLOPS", a.BF16TFLOPS, false)
	add("fp8TFLOPS", a.FP8TFLOPS, false)
	add("memoryGB", a.MemoryGB, false)
	return out
}

// othersOwner is the organisation that owns the pool when it is another
// tenant's than tenant's (catalog.OrgRef), or "". The rules judge it by
// its name (a rule asks whether the owner is a restricted party), but
// organisation names are each tenant's own: what a tenant reads of the
// law gate shows it as catalog.OtherTenantsOrg, as the catalog's sites do
// (catalog.Site.ShownTo).
func othersOwner(pool *catalog.Pool, tenant string) string {
	name := pool.OwnerOrganization()
	if name == "" {
		return ""
	}
	if t, _ := catalog.OrgRef(name); t == catalog.TenantOr(tenant) {
		return ""
	}
	return name
}

// shownOwner is the pool's owner as tenant may read it.
func shownOwner(pool *catalog.Pool, tenant string) string {
	if othersOwner(pool, tenant) != "" {
		return catalog.OwnerOrgPrefix + catalog.OtherTenantsOrg
	}
	return pool.Owner
}

// hideName replaces name, another tenant's organisation, in text with
// catalog.OtherTenantsOrg wherever it stands as a whole name (not inside
// a longer word: "lab" in "label" stays); "" hides nothing.
func hideName(text, name string) string {
	if name == "" || !strings.Contains(text, name) {
		return text
	}
	var b strings.Builder
	for rest := text; ; {
		i := strings.Index(rest, name)
		if i < 0 {
			b.WriteString(rest)
			return b.String()
		}
		j := i + len(name)
		whole := (i == 0 || !nameByte(rest[i-1])) && (j == len(rest) || !nameByte(rest[j]))
		b.WriteString(rest[:i])
		if whole {
			b.WriteString(catalog.OtherTenantsOrg)
		} else {
			b.WriteString(name)
		}
		rest = rest[j:]
	}
}

// nameByte is whether c may continue an organisation's name.
func nameByte(c byte) bool {
	return isKeyByte(c) || c == '-' || c == '/' || c >= 0x80
}
