package catalog

import (
	"bytes"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	yaml3 "go.yaml.in/yaml/v3"
)

//go:embed data
var builtinFS embed.FS

// World is everything Meridian knows when it plans: the built-in accelerators
// and countries, sites (built-in and the user's), and the user's
// organisations, datasets and jobs. Resources are shared and must be treated
// as read-only once the world is built.
type World struct {
	Accelerators  map[string]*Accelerator
	Countries     map[string]*Country
	Sites         []*Site // sorted by name
	Organizations map[string]*Organization
	Datasets      map[string]*Dataset
	Jobs          []*TrainingJob // in file order
	// Tenant is whose Organizations and Datasets these are: names in the
	// operator's catalog that name an organisation (a private site's
	// accessOrganizations, a pool's owner) are read as that tenant's or
	// another's by it (NamesOrg). "" on the command line: DefaultTenant.
	Tenant string

	siteByName map[string]*Site
	// builtinSite marks the sites that came with the binary: a user's
	// site may replace one of them, but not another user's site.
	builtinSite map[*Site]bool
	// checked marks the sites of a set CheckSites passed: Validate skips
	// them, since a site's validity depends only on the site itself and
	// the built-in countries and accelerators.
	checked map[*Site]bool
}

type builtinData struct {
	accelerators map[string]*Accelerator
	countries    map[string]*Country
	sites        *Set
	err          error
}

var (
	builtinOnce sync.Once
	builtin     builtinData
)

func loadBuiltin() { builtin = parseBuiltin() }

// parseBuiltin reads and checks the embedded files. Builtin caches its
// result; benchmarks call it directly to measure the uncached cost.
func parseBuiltin() (data builtinData) {
	b := &data
	b.accelerators = map[string]*Accelerator{}
	b.countries = map[string]*Country{}
	var accs []*Accelerator
	if err := readEmbedded("data/accelerators.yaml", &accs); err != nil {
		b.err = err
		return
	}
	for _, a := range accs {
		if err := checkAccelerator(a); err != nil {
			b.err = fmt.Errorf("built-in accelerators: %w", err)
			return
		}
		if _, dup := b.accelerators[a.ID]; dup {
			b.err = fmt.Errorf("built-in accelerators: id %q appears twice", a.ID)
			return
		}
		b.accelerators[a.ID] = a
	}
	var cs []*Country
	if err := readEmbedded("data/countries.yaml", &cs); err != nil {
		b.err = err
		return
	}
	for _, c := range cs {
		if err := checkCountry(c); err != nil {
			b.err = fmt.Errorf("built-in countries: %w", err)
			return
		}
		if _, dup := b.countries[c.ISO]; dup {
			b.err = fmt.Errorf("built-in countries: %q appears twice", c.ISO)
			return
		}
		b.countries[c.ISO] = c
	}
	b.sites = &Set{}
	entries, err := fs.ReadDir(builtinFS, "data/sites")
	if err != nil {
		b.err = fmt.Errorf("built-in sites: %w", err)
		return
	}
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".yaml" {
			continue
		}
		name := "data/sites/" + e.Name()
		raw, err := builtinFS.ReadFile(name)
		if err != nil {
			b.err = err
			return
		}
		sites, err := decodeBuiltinSites("built-in:"+name, raw)
		if err != nil {
			b.err = fmt.Errorf("built-in sites: %w", err)
			return
		}
		b.sites.Sites = append(b.sites.Sites, sites...)
	}
	return data
}

// checkAccelerator enforces the rules of the accelerator table: a DNS-label
// id, an origin country, and for every number a status code, a finite
// non-negative value, a note when the value is unknown and a formula (note)
// when it is derived.
func checkAccelerator(a *Accelerator) error {
	if !dnsLabel.MatchString(a.ID) {
		return fmt.Errorf("id %q is not a DNS label", a.ID)
	}
	if a.Name == "" || a.Vendor == "" || len(a.Origin) != 2 {
		return fmt.Errorf("%s: name, vendor and a two-letter origin are required", a.ID)
	}
	for _, nf := range a.Facts() {
		f := nf.Fact
		switch {
		case !contains(FactStatuses, f.Status):
			return fmt.Errorf("%s: %s.status %q is not accepted (accepted: %s)", a.ID, nf.Field, f.Status, strings.Join(FactStatuses, ", "))
		case f.Value == nil && f.Note == "":
			return fmt.Errorf("%s: %s is unknown (null) without a note saying why", a.ID, nf.Field)
		case f.Value != nil && (math.IsNaN(*f.Value) || math.IsInf(*f.Value, 0) || *f.Value < 0):
			return fmt.Errorf("%s: %s.value %v is not a non-negative number", a.ID, nf.Field, *f.Value)
		case f.Status == StatusDerived && f.Note == "":
			return fmt.Errorf("%s: %s is derived (D) but its note gives no formula", a.ID, nf.Field)
		case f.Value != nil && f.Status != StatusDerived && f.Source == "":
			return fmt.Errorf("%s: %s has a value but no source", a.ID, nf.Field)
		}
	}
	return nil
}

var (
	isoCode      = regexp.MustCompile(`^[A-Z]{2}$`)
	countryGroup = regexp.MustCompile(`^[A-E]:[0-9]$`)
	regionCode   = regexp.MustCompile(`^[A-Z]{2,3}$`)
)

// checkCountry enforces the rules of the country table: an ISO code, a name,
// a known bloc, well-formed US groups, EU membership implying EEA, and
// adequacy decisions with accepted scopes, states and ordered dates.
func checkCountry(c *Country) error {
	switch {
	case !isoCode.MatchString(c.ISO) && !(c.Region && regionCode.MatchString(c.ISO)):
		return fmt.Errorf("iso %q is not an ISO 3166-1 alpha-2 code", c.ISO)
	case c.Name == "":
		return fmt.Errorf("%s: name is required", c.ISO)
	case !contains(Blocs, c.Bloc):
		return fmt.Errorf("%s: bloc %q is not accepted (accepted: %s)", c.ISO, c.Bloc, strings.Join(Blocs, ", "))
	case c.EU && !c.EEA:
		return fmt.Errorf("%s: an EU member is in the EEA too", c.ISO)
	case c.DiffusionTier < 0 || c.DiffusionTier > 3:
		return fmt.Errorf("%s: diffusionTier %d: want 1, 2 or 3", c.ISO, c.DiffusionTier)
	case c.Source == "":
		return fmt.Errorf("%s: source is required", c.ISO)
	}
	for _, g := range c.USGroups {
		if !countryGroup.MatchString(g) {
			return fmt.Errorf("%s: usGroups %q: want a group such as D:5 or E:1", c.ISO, g)
		}
	}
	for i, a := range c.Adequacy {
		switch {
		case !contains(AdequacyScopes, a.Scope):
			return fmt.Errorf("%s: adequacy[%d].scope %q is not accepted (accepted: %s)", c.ISO, i, a.Scope, strings.Join(AdequacyScopes, ", "))
		case !contains(AdequacyStatuses, a.Status):
			return fmt.Errorf("%s: adequacy[%d].status %q is not accepted (accepted: %s)", c.ISO, i, a.Status, strings.Join(AdequacyStatuses, ", "))
		case !a.From.IsZero() && !a.Until.IsZero() && a.Until.Before(a.From):
			return fmt.Errorf("%s: adequacy[%d]: until %s is before from %s", c.ISO, i, a.Until, a.From)
		case a.Source == "":
			return fmt.Errorf("%s: adequacy[%d].source is required", c.ISO, i)
		}
	}
	return nil
}

// The embedded files are read with go.yaml.in/yaml/v3, about six times
// faster than the decoder used for user files: the built-in catalog is
// known-good (tests validate it, and check that both decoders agree on it),
// so it needs speed, not the user-facing error reporting of Decode.

func readEmbedded(name string, v any) error {
	data, err := builtinFS.ReadFile(name)
	if err != nil {
		return fmt.Errorf("built-in %s: %w", name, err)
	}
	dec := yaml3.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("built-in %s: %w", name, err)
	}
	return nil
}

// decodeBuiltinSites reads the Site documents of an embedded file.
func decodeBuiltinSites(name string, data []byte) ([]*Site, error) {
	starts := docStartLines(data)
	dec := yaml3.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var out []*Site
	for i := 0; ; i++ {
		s := &Site{}
		if err := dec.Decode(s); err == io.EOF {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if s.APIVersion != APIVersion || s.Kind != KindSite {
			return nil, fmt.Errorf("%s: document %d is %s %s, want %s Site", name, i+1, s.APIVersion, s.Kind, APIVersion)
		}
		s.Pos = Position{File: name}
		if i < len(starts) {
			s.Pos.Line = starts[i]
		}
		out = append(out, s)
	}
}

// docStartLines returns the first line of each YAML document in data: the
// first line that is not blank or a comment, and the line after each "---".
func docStartLines(data []byte) []int {
	var out []int
	want := true
	for i, line := range strings.Split(string(data), "\n") {
		t := strings.TrimSpace(line)
		switch {
		case t == "---":
			want = true
		case want && t != "" && !strings.HasPrefix(t, "#"):
			out = append(out, i+1)
			want = false
		}
	}
	return out
}

// BuiltinAccelerators returns the embedded accelerator table, keyed by id.
func BuiltinAccelerators() (map[string]*Accelerator, error) {
	builtinOnce.Do(loadBuiltin)
	return builtin.accelerators, builtin.err
}

// BuiltinCountries returns the embedded country table, keyed by ISO code.
func BuiltinCountries() (map[string]*Country, error) {
	builtinOnce.Do(loadBuiltin)
	return builtin.countries, builtin.err
}

// Builtin returns a new World holding the built-in accelerators, countries and
// sites, with no organisations, datasets or jobs. The embedded files are parsed
// once per process; each call returns fresh maps and slices over shared
// read-only resources.
func Builtin() (*World, error) {
	w, err := builtinBare()
	if err != nil {
		return nil, err
	}
	w.builtinSite = make(map[*Site]bool, len(builtin.sites.Sites))
	for _, s := range builtin.sites.Sites {
		w.builtinSite[s] = true
	}
	if err := w.addSites(builtin.sites.Sites); err != nil {
		return nil, err
	}
	return w, nil
}

// builtinBare is the built-in world without its sites, as ReplaceSites
// leaves it (a server's catalog replaces them on every request).
func builtinBare() (*World, error) {
	builtinOnce.Do(loadBuiltin)
	if builtin.err != nil {
		return nil, builtin.err
	}
	return &World{
		Accelerators:  builtin.accelerators,
		Countries:     builtin.countries,
		Organizations: map[string]*Organization{},
		Datasets:      map[string]*Dataset{},
		siteByName:    map[string]*Site{},
	}, nil
}

// ReplaceSites drops every site in the world, built-in ones included, so that
// only the sites of later Add calls remain (the --catalog DIR behaviour).
func (w *World) ReplaceSites() {
	w.Sites = nil
	w.siteByName = map[string]*Site{}
}

// addSites adds sites to the world. A site may replace a built-in site of
// the same name; two sites of one name from the user's files are an error
// that names both places.
func (w *World) addSites(sites []*Site) error {
	var errs Errors
	replaced := false
	for _, s := range sites {
		if old, ok := w.siteByName[s.Metadata.Name]; ok {
			if !w.builtinSite[old] {
				errs = append(errs, dupError(s.Pos, KindSite, s.Metadata.Name, old.Pos))
				continue
			}
			for i, x := range w.Sites {
				if x == old {
					w.Sites[i] = s
				}
			}
			replaced = true
		} else {
			w.Sites = append(w.Sites, s)
		}
		w.siteByName[s.Metadata.Name] = s
	}
	if replaced || !slices.IsSortedFunc(w.Sites, bySiteName) {
		slices.SortFunc(w.Sites, bySiteName)
	}
	return errs.errOrNil()
}

func bySiteName(a, b *Site) int { return strings.Compare(a.Metadata.Name, b.Metadata.Name) }

// dupError reports a resource defined a second time at pos.
func dupError(pos Position, kind, name string, first Position) *FieldError {
	where := first.String()
	if first.File != "" {
		where = fmt.Sprintf("%s:%d", first.File, first.lineFor("metadata.name"))
	}
	return fieldErr(pos, kind+"/"+name, "metadata.name", fmt.Sprintf("%s %q is defined twice: here and at %s", kind, name, where))
}

// Add puts a set's resources into the world. A site with the name of a
// built-in one replaces it; two resources of one kind and name from the
// user's files are an error naming both places.
func (w *World) Add(s *Set) error {
	var errs Errors
	if err := w.addSites(s.Sites); err != nil {
		errs = append(errs, err.(Errors)...)
	}
	if s.sitesChecked {
		if w.checked == nil {
			w.checked = make(map[*Site]bool, len(s.Sites))
		}
		for _, site := range s.Sites {
			w.checked[site] = true
		}
	}
	for _, o := range s.Organizations {
		if prev, dup := w.Organizations[o.Metadata.Name]; dup {
			errs = append(errs, dupError(o.Pos, KindOrganization, o.Metadata.Name, prev.Pos))
			continue
		}
		w.Organizations[o.Metadata.Name] = o
	}
	for _, d := range s.Datasets {
		if prev, dup := w.Datasets[d.Metadata.Name]; dup {
			errs = append(errs, dupError(d.Pos, KindDataset, d.Metadata.Name, prev.Pos))
			continue
		}
		w.Datasets[d.Metadata.Name] = d
	}
	// Jobs are a list (in file order); a set of their names makes each
	// duplicate check a lookup. Looking each new job up in the list cost
	// n² comparisons: a file of 100,000 small jobs took minutes to add.
	var jobs map[string]*TrainingJob
	if len(s.Jobs) > 0 {
		jobs = make(map[string]*TrainingJob, len(w.Jobs)+len(s.Jobs))
		for _, j := range w.Jobs {
			if _, dup := jobs[j.Metadata.Name]; !dup {
				jobs[j.Metadata.Name] = j // the first, as Job finds it
			}
		}
	}
	for _, j := range s.Jobs {
		if prev, dup := jobs[j.Metadata.Name]; dup {
			errs = append(errs, dupError(j.Pos, KindTrainingJob, j.Metadata.Name, prev.Pos))
			continue
		}
		jobs[j.Metadata.Name] = j
		w.Jobs = append(w.Jobs, j)
	}
	return errs.errOrNil()
}

func fieldErr(pos Position, res, field, msg string, accepted ...string) *FieldError {
	return &FieldError{File: pos.File, Line: pos.lineFor(field), Resource: res, Field: field, Msg: msg, Accepted: accepted}
}

// Site returns the named site or nil.
func (w *World) Site(name string) *Site { return w.siteByName[name] }

// Job returns the named job or nil.
func (w *World) Job(name string) *TrainingJob {
	for _, j := range w.Jobs {
		if j.Metadata.Name == name {
			return j
		}
	}
	return nil
}

// AcceleratorIDs returns the known accelerator ids, sorted.
func (w *World) AcceleratorIDs() []string { return sortedKeys(w.Accelerators) }

// CountryCodes returns the known ISO codes of countries, sorted; regions
// (EU, EEA) are not among them.
func (w *World) CountryCodes() []string {
	out := make([]string, 0, len(w.Countries))
	for _, k := range sortedKeys(w.Countries) {
		if !w.Countries[k].Region {
			out = append(out, k)
		}
	}
	return out
}

// RegionCodes returns the codes of the regions a dataset may give as its
// origin (EU, EEA), sorted.
func (w *World) RegionCodes() []string {
	var out []string
	for _, k := range sortedKeys(w.Countries) {
		if w.Countries[k].Region {
			out = append(out, k)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// WithAvailable returns a copy of w in which each pool's Available is
// avail(site, pool index, pool) (at most the pool's Count, at least 0): the
// same world as a controller sees it once its runs' holds are counted. Sites
// whose pools all keep their figure are shared with w; nothing of w changes.
func (w *World) WithAvailable(avail func(s *Site, i int, p Pool) int) *World {
	cp := *w
	cp.Sites = make([]*Site, len(w.Sites))
	cp.siteByName = make(map[string]*Site, len(w.siteByName))
	cp.builtinSite = make(map[*Site]bool, len(w.builtinSite))
	for i, s := range w.Sites {
		ns := s
		for j, p := range s.Spec.Pools {
			a := min(max(avail(s, j, p), 0), p.Count)
			if a == p.Available {
				continue
			}
			if ns == s {
				c := *s
				c.Spec.Pools = append([]Pool(nil), s.Spec.Pools...)
				ns = &c
			}
			ns.Spec.Pools[j].Available = a
		}
		cp.Sites[i] = ns
		if w.siteByName[s.Metadata.Name] == s {
			cp.siteByName[s.Metadata.Name] = ns
		}
		if w.builtinSite[s] {
			cp.builtinSite[ns] = true
		}
	}
	for name, s := range w.siteByName {
		if _, ok := cp.siteByName[name]; !ok {
			cp.siteByName[name] = s
		}
	}
	return &cp
}
