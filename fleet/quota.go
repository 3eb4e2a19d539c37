package fleet

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/store"
)

// KindQuota is the document kind of a tenant's quota.
const KindQuota = "Quota"

// Quota is one tenant's share of the fleet (a YAML document, kind Quota):
//
//	apiVersion: meridian.dev/v1
//	kind: Quota
//	metadata: {name: TENANT}
//	spec:
//	  cohort: lab                # optional: tenants of a cohort lend each other unused quota
//	  families:
//	    - name: h100
//	      accelerators: [nvidia-h100-sxm, nvidia-h100-pcie]
//	      nominal: 64            # accelerators the tenant is guaranteed
//	      borrowingLimit: 32     # optional: at most this many more, borrowed from the cohort
type Quota struct {
	APIVersion string    `yaml:"apiVersion" json:"apiVersion"`
	Kind       string    `yaml:"kind" json:"kind"`
	Metadata   Metadata  `yaml:"metadata" json:"metadata"`
	Spec       QuotaSpec `yaml:"spec" json:"spec"`
}

// Metadata names the tenant a Quota is for.
type Metadata struct {
	Name string `yaml:"name" json:"name"`
}

// QuotaSpec is a tenant's cohort and its quota per accelerator family.
type QuotaSpec struct {
	Cohort   string   `yaml:"cohort,omitempty" json:"cohort,omitempty"`
	Families []Family `yaml:"families" json:"families"`
}

// Family is a quota for a group of accelerators counted together.
type Family struct {
	Name         string   `yaml:"name" json:"name"`
	Accelerators []string `yaml:"accelerators" json:"accelerators"`
	// Nominal is how many of the family's accelerators the tenant may hold
	// at once without borrowing; the cohort's members' nominals add up to
	// what the cohort may hold.
	Nominal int `yaml:"nominal" json:"nominal"`
	// BorrowingLimit bounds how many more the tenant may hold by borrowing
	// its cohort's unused nominal quota; absent: as many as the cohort
	// lends, 0: none.
	BorrowingLimit *int `yaml:"borrowingLimit,omitempty" json:"borrowingLimit,omitempty"`
}

// Quotas are the operator's quotas, by tenant.
type Quotas struct {
	byTenant map[string]*Quota
	// cohorts lists each cohort's tenants, sorted.
	cohorts map[string][]string
	// covered holds every accelerator some quota names: a tenant without
	// a quota for one of them may not use it (closed), while accelerators
	// no quota names are bounded by capacity alone.
	covered map[string]bool
	// unnamed lists, sorted, the catalog's accelerators that no quota
	// names: every tenant may use them up to capacity.
	unnamed []string
	// limits holds Limits' answer, by tenant and accelerator, for every
	// accelerator of a tenant's families: worked out once, as the
	// admission loop asks for every option of every waiting run, and a
	// cohort's total adds up every member.
	limits map[string]map[string][]store.Limit
}

// maxQuota bounds a nominal or borrowing limit.
const maxQuota = 1 << 24

// MaxQuotaErrors bounds the problems a quotas file's error lists, the rest
// counted in one last line: each problem was listed, and a 4 MB family of
// 2,000,000 unknown accelerator ids made an error of 219 MB.
const MaxQuotaErrors = 100

var namePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)

// ParseQuotas reads Quota documents (one or more, YAML) from data, named
// name in errors, and checks them against the catalog's accelerators: every
// error names the file, the document and the field.
func ParseQuotas(name string, data []byte, accelerators map[string]*catalog.Accelerator) (*Quotas, error) {
	q := &Quotas{byTenant: map[string]*Quota{}, cohorts: map[string][]string{}, covered: map[string]bool{}, limits: map[string]map[string][]store.Limit{}}
	// The catalog loader's bounds on documents, nesting, nodes and what
	// aliases add, checked before the YAML library decodes anything: it
	// expands an alias each time it is used, and 100 aliases of one list
	// of 200,000 ids (400 KB) made it decode 20,000,000 values.
	if err := catalog.CheckYAML(name, data); err != nil {
		var fe *catalog.FieldError
		if errors.As(err, &fe) {
			return nil, fmt.Errorf("%s: line %d: %s", name, fe.Line, escaped(fe.Msg))
		}
		return nil, fmt.Errorf("%s: %s", name, escaped(err.Error()))
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var errs []string
	more := 0 // problems past MaxQuotaErrors, counted
	problem := func(msg string) {
		if len(errs) < MaxQuotaErrors {
			errs = append(errs, msg)
		} else {
			more++
		}
	}
	for i := 1; ; i++ {
		// Each document is decoded once, into quotaDoc: its counts as
		// written, so that a number with a fraction is seen, and nil
		// for a document of nothing but comments, or null (a "---" that
		// ends the file): no document, as the catalog reads one.
		var in *quotaDoc
		err := dec.Decode(&in)
		if err == io.EOF {
			break
		}
		if err != nil {
			err = shownErr(err)
			// The decoder lists each unknown field or wrong type: the
			// list is cut as this file's own problems are.
			var te *yaml.TypeError
			if errors.As(err, &te) && len(te.Errors) > MaxQuotaErrors {
				cut := len(te.Errors) - MaxQuotaErrors
				te.Errors = te.Errors[:MaxQuotaErrors]
				return nil, fmt.Errorf("%s: document %d: %w\n%s: %d more problems not shown (at most %d are listed); fix those above first", name, i, te, name, cut, MaxQuotaErrors)
			}
			return nil, fmt.Errorf("%s: document %d: %w", name, i, err)
		}
		if in == nil {
			continue
		}
		doc := in.quota()
		where := fmt.Sprintf("%s: document %d (Quota/%s)", name, i, shown(doc.Metadata.Name))
		bad := func(field, format string, a ...any) {
			if len(errs) >= MaxQuotaErrors {
				more++
				return
			}
			problem(fmt.Sprintf("%s %s: %s", where, field, fmt.Sprintf(format, a...)))
		}
		if doc.APIVersion != catalog.APIVersion {
			bad("apiVersion", "%q: want %s", doc.APIVersion, catalog.APIVersion)
		}
		if doc.Kind != KindQuota {
			bad("kind", "%q: want %s", doc.Kind, KindQuota)
		}
		if !namePattern.MatchString(doc.Metadata.Name) {
			bad("metadata.name", "%q: want a tenant name (lower-case letters, digits, '.', '_', '-'; up to 63)", doc.Metadata.Name)
		} else if _, dup := q.byTenant[doc.Metadata.Name]; dup {
			bad("metadata.name", "tenant %s has a Quota already; give one per tenant", doc.Metadata.Name)
		}
		if c := doc.Spec.Cohort; c != "" && !namePattern.MatchString(c) {
			bad("spec.cohort", "%q: want a name (lower-case letters, digits, '.', '_', '-')", c)
		}
		if len(doc.Spec.Families) == 0 {
			bad("spec.families", "give at least one family")
		}
		seenFam, seenAcc := map[string]bool{}, map[string]string{}
		for j, f := range doc.Spec.Families {
			fp := fmt.Sprintf("spec.families[%d]", j)
			if !namePattern.MatchString(f.Name) {
				bad(fp+".name", "%q: want a name (lower-case letters, digits, '.', '_', '-')", f.Name)
			} else if seenFam[f.Name] {
				bad(fp+".name", "family %s is given twice", f.Name)
			}
			seenFam[f.Name] = true
			if len(f.Accelerators) == 0 {
				bad(fp+".accelerators", "give at least one accelerator id")
			}
			for k, a := range f.Accelerators {
				if _, ok := accelerators[a]; !ok {
					bad(fmt.Sprintf("%s.accelerators[%d]", fp, k), "%q is not an accelerator in the catalog", a)
				} else if other, dup := seenAcc[a]; dup {
					bad(fmt.Sprintf("%s.accelerators[%d]", fp, k), "%s is in family %s already: an accelerator counts against one family", shown(a), shown(other))
				}
				seenAcc[a] = f.Name
			}
			if v := in.Spec.Families[j].Nominal.fraction; v != "" {
				bad(fp+".nominal", "%s: want a whole number of accelerators", v)
			} else if v := in.Spec.Families[j].Nominal.unread; v != "" {
				bad(fp+".nominal", "%s: want a whole number of accelerators, 0 to %d", v, maxQuota)
			} else if f.Nominal < 0 || f.Nominal > maxQuota {
				bad(fp+".nominal", "%d: want 0 to %d accelerators", f.Nominal, maxQuota)
			}
			if b := in.Spec.Families[j].BorrowingLimit; b != nil && b.fraction != "" {
				bad(fp+".borrowingLimit", "%s: want a whole number of accelerators", b.fraction)
			} else if b != nil && b.unread != "" {
				bad(fp+".borrowingLimit", "%s: want a whole number of accelerators, 0 to %d", b.unread, maxQuota)
			} else if b := f.BorrowingLimit; b != nil && (*b < 0 || *b > maxQuota) {
				bad(fp+".borrowingLimit", "%d: want 0 to %d accelerators", *b, maxQuota)
			}
			if b := f.BorrowingLimit; b != nil && doc.Spec.Cohort == "" && *b > 0 {
				bad(fp+".borrowingLimit", "%d: a tenant borrows only from its cohort, and spec.cohort is not set", *b)
			}
		}
		q.byTenant[doc.Metadata.Name] = doc
	}
	if len(errs) == 0 && len(q.byTenant) == 0 {
		problem(name + ": no Quota documents")
	}
	// A cohort's members must mean the same accelerators by a family name,
	// and count an accelerator in the same family, or the cohort's sum
	// would count different things (one member's holds against another
	// family's nominal).
	famAccs := map[string]map[string]string{} // cohort → family → sorted accelerators
	famWho := map[string]map[string]string{}
	accFam := map[string]map[string][2]string{} // cohort → accelerator → family, tenant
	for _, t := range slices.Sorted(mapsKeys(q.byTenant)) {
		doc := q.byTenant[t]
		for _, f := range doc.Spec.Families {
			for _, a := range f.Accelerators {
				q.covered[a] = true
			}
		}
		c := doc.Spec.Cohort
		if c == "" {
			continue
		}
		q.cohorts[c] = append(q.cohorts[c], t)
		if famAccs[c] == nil {
			famAccs[c], famWho[c], accFam[c] = map[string]string{}, map[string]string{}, map[string][2]string{}
		}
		for j, f := range doc.Spec.Families {
			for _, a := range f.Accelerators {
				if prev, ok := accFam[c][a]; ok && prev[0] != f.Name {
					problem(fmt.Sprintf("%s: Quota/%s spec.families[%d].accelerators: %s is in family %s of Quota/%s of the same cohort %s; a cohort counts an accelerator in one family",
						name, shown(t), j, shown(a), shown(prev[0]), shown(prev[1]), shown(c)))
				} else if !ok {
					accFam[c][a] = [2]string{f.Name, t}
				}
			}
			accs := slices.Clone(f.Accelerators)
			sort.Strings(accs)
			key := strings.Join(accs, ",")
			if prev, ok := famAccs[c][f.Name]; ok && prev != key {
				problem(fmt.Sprintf("%s: Quota/%s spec.families[%d].accelerators: [%s] differs from [%s] of family %s in Quota/%s of the same cohort %s",
					name, shown(t), j, shown(key), shown(prev), shown(f.Name), shown(famWho[c][f.Name]), shown(c)))
				continue
			}
			famAccs[c][f.Name], famWho[c][f.Name] = key, t
		}
	}
	if more > 0 {
		errs = append(errs, fmt.Sprintf("%s: %d more problems not shown (at most %d are listed); fix those above first", name, more, MaxQuotaErrors))
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "\n"))
	}
	sums := map[[2]string]int{} // cohort, family → the members' nominals
	for _, doc := range q.byTenant {
		if c := doc.Spec.Cohort; c != "" {
			for _, f := range doc.Spec.Families {
				sums[[2]string{c, f.Name}] += f.Nominal
			}
		}
	}
	for t, doc := range q.byTenant {
		byAcc := map[string][]store.Limit{}
		for i := range doc.Spec.Families {
			f := &doc.Spec.Families[i]
			ls := familyLimits(t, doc.Spec.Cohort, f, sums[[2]string{doc.Spec.Cohort, f.Name}], q.cohorts)
			for _, a := range f.Accelerators {
				byAcc[a] = ls
			}
		}
		q.limits[t] = byAcc
	}
	for a := range accelerators {
		if !q.covered[a] {
			q.unnamed = append(q.unnamed, a)
		}
	}
	sort.Strings(q.unnamed)
	return q, nil
}

// Unnamed returns, sorted, the accelerators of the catalog the quotas were
// read against that no quota names: no quota limits them, only capacity,
// for every tenant. A variant added to the catalog is among them until a
// quota names it.
func (q *Quotas) Unnamed() []string {
	if q == nil {
		return nil
	}
	return slices.Clone(q.unnamed)
}

// UnnamedWarning says which of the catalog's accelerators no quota names,
// each by name, and what that means; "" when the quotas name every one.
func (q *Quotas) UnnamedWarning() string {
	u := q.Unnamed()
	if len(u) == 0 {
		return ""
	}
	return fmt.Sprintf("warning: no quota names %d of the catalog's accelerators, so every tenant may use them up to capacity: %s (name each in a family of the tenants' quotas to limit it)",
		len(u), strings.Join(u, ", "))
}

// quotaDoc is a Quota document as decoded: Quota, with each count read
// as written (count), the decoder's KnownFields holding it to the same
// fields (TestQuotaDocIsQuota).
type quotaDoc struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Metadata   Metadata `yaml:"metadata"`
	Spec       struct {
		Cohort   string      `yaml:"cohort"`
		Families []familyDoc `yaml:"families"`
	} `yaml:"spec"`
}

// familyDoc is a Family as decoded.
type familyDoc struct {
	Name           string   `yaml:"name"`
	Accelerators   []string `yaml:"accelerators"`
	Nominal        count    `yaml:"nominal"`
	BorrowingLimit *count   `yaml:"borrowingLimit"`
}

// count is a number of accelerators as the decoder reads it into an int,
// and, when it is written with a fraction, the number as written: the
// decoder puts one into an int without a word (1.5 as 1). A whole number
// written as a float (64.0, 1e3) is that number. Anything else (a word, a
// list, a number past an int: the decoder read -.inf and -1e20 as
// -9223372036854775808) is unread, as written, so that the error names
// the field and what it holds, not the decoder's reading of it.
type count struct {
	n        int
	fraction string
	unread   string
}

func (c *count) UnmarshalYAML(n *yaml.Node) error {
	c.n = 0
	if n.Kind != yaml.ScalarNode {
		c.unread = "a " + map[yaml.Kind]string{yaml.SequenceNode: "list", yaml.MappingNode: "mapping"}[n.Kind]
		if c.unread == "a " {
			c.unread = "not a number"
		}
		return nil
	}
	if n.ShortTag() == "!!float" {
		var x float64
		if err := n.Decode(&x); err != nil || math.IsNaN(x) || math.IsInf(x, 0) || math.Abs(x) > 1<<53 {
			c.unread = shown(n.Value)
		} else if x != math.Trunc(x) {
			c.fraction = shown(n.Value)
		} else {
			c.n = int(x)
		}
		return nil
	}
	if err := n.Decode(&c.n); err != nil {
		c.unread = shown(n.Value)
		if n.ShortTag() == "!!str" {
			c.unread = strconv.Quote(n.Value) // "8", a string
		}
	}
	return nil
}

// quota is the Quota the document gives.
func (d *quotaDoc) quota() *Quota {
	q := &Quota{APIVersion: d.APIVersion, Kind: d.Kind, Metadata: d.Metadata, Spec: QuotaSpec{Cohort: d.Spec.Cohort}}
	for _, f := range d.Spec.Families {
		g := Family{Name: f.Name, Accelerators: f.Accelerators, Nominal: f.Nominal.n}
		if f.BorrowingLimit != nil {
			g.BorrowingLimit = &f.BorrowingLimit.n
		}
		q.Spec.Families = append(q.Spec.Families, g)
	}
	return q
}

// shown is text from a quotas file as an error shows it: as written when
// it is printable ASCII, else quoted, so that a control character in it
// (a newline, a terminal escape) reaches the operator's screen or log as
// an escape, not as itself. It quotes more than textsafe.Quote does (any
// text that is not ASCII, a name being ASCII when it is valid), and so
// everything textsafe flags.
func shown(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return strconv.Quote(s)
		}
	}
	return s
}

// shownErr is a decoder's error as shown: its messages quote a piece of
// the value they could not decode, as written, so each is shown.
func shownErr(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		out := &yaml.TypeError{Errors: make([]string, len(te.Errors))}
		for i, e := range te.Errors {
			out.Errors[i] = escaped(e)
		}
		return out
	}
	if s := err.Error(); shown(s) != s {
		return errors.New(escaped(s))
	}
	return err
}

// escaped is s with what shown would quote escaped, in place.
func escaped(s string) string {
	if shown(s) == s {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// family returns tenant's family holding accelerator acc, or nil.
func (q *Quotas) family(tenant, acc string) *Family {
	doc := q.byTenant[tenant]
	if doc == nil {
		return nil
	}
	for i := range doc.Spec.Families {
		if slices.Contains(doc.Spec.Families[i].Accelerators, acc) {
			return &doc.Spec.Families[i]
		}
	}
	return nil
}

// Limits returns the limits a hold of accelerator acc by tenant must stay
// within: the tenant's nominal plus what it may borrow, and its cohort's
// total. A tenant without a quota for an accelerator that some quota names
// gets a limit of 0 (quotas fail closed). Nil Quotas limit nothing. The
// limits are shared: the caller must not change them.
func (q *Quotas) Limits(tenant, acc string) []store.Limit {
	if q == nil || !q.covered[acc] {
		return nil
	}
	if ls, ok := q.limits[tenant][acc]; ok {
		return ls
	}
	return []store.Limit{{Name: fmt.Sprintf("quota of tenant %s for %s (none given)", tenant, acc),
		Tenants: []string{tenant}, Accelerators: []string{acc}, Max: 0}}
}

// familyLimits works out Limits for tenant's family f, in cohort ("" for
// none) whose members' nominal quotas for the family add up to cohortSum.
func familyLimits(tenant, cohort string, f *Family, cohortSum int, cohorts map[string][]string) []store.Limit {
	max := f.Nominal
	if cohort != "" {
		lend := cohortSum - f.Nominal
		if f.BorrowingLimit != nil {
			lend = min(lend, *f.BorrowingLimit)
		}
		max += lend
	}
	out := []store.Limit{{Name: fmt.Sprintf("quota of tenant %s for family %s (nominal %d, up to %d with borrowing)", tenant, f.Name, f.Nominal, max),
		Tenants: []string{tenant}, Accelerators: f.Accelerators, Max: max}}
	if cohort != "" {
		out = append(out, store.Limit{Name: fmt.Sprintf("cohort %s's quota for family %s", cohort, f.Name),
			Tenants: cohorts[cohort], Accelerators: f.Accelerators, Max: cohortSum})
	}
	return slices.Clip(out)
}

// Nominal returns tenant's nominal quota for acc's family and whether a
// quota applies at all (false: only capacity bounds it).
func (q *Quotas) Nominal(tenant, acc string) (int, bool) {
	if q == nil || !q.covered[acc] {
		return 0, false
	}
	if f := q.family(tenant, acc); f != nil {
		return f.Nominal, true
	}
	return 0, true
}

// Cohort names tenant's cohort ("" when none).
func (q *Quotas) Cohort(tenant string) string {
	if q == nil || q.byTenant[tenant] == nil {
		return ""
	}
	return q.byTenant[tenant].Spec.Cohort
}

// FamilyOf names tenant's family of acc ("" when none).
func (q *Quotas) FamilyOf(tenant, acc string) string {
	if q == nil {
		return ""
	}
	if f := q.family(tenant, acc); f != nil {
		return f.Name
	}
	return ""
}

// Tenants lists the tenants with a quota, sorted.
func (q *Quotas) Tenants() []string {
	if q == nil {
		return nil
	}
	return slices.Sorted(mapsKeys(q.byTenant))
}
