package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"meridian.dev/meridian/catalog"
)

// Volumes over time. Some thresholds count what an exporter sent out of a
// country in a window (China: personal information of 1,000,000 people
// since 1 January), or what one person was given in a window wherever it
// was held (the US bulk-data rule: the preceding 12 months), not what one
// job moves. Transfer- and access-scope rules read such totals through the
// ledger variable:
//
//	ledger.subjectsExported(origin, since)               personal data sent out of origin, this organisation
//	ledger.subjectsExported(origin, since, class)        another classification
//	ledger.groupSubjectsExported(origin, since[, class]) the organisation and its group
//	ledger.subjectsGiven(origin, since[, class])         data from origin given to this organisation, in origin or abroad
//	yearStart(asOf, 0)                                   1 January of the as-of year ('YYYY-01-01')
//	monthsBefore(asOf, 12)                               the as-of date 12 months back ('YYYY-MM-DD')
//
// A total adds, per dataset, its subjects once: exporting the same dataset
// again adds nobody. A dataset is its registration (SealedRegistration:
// the sealed register record that registered it; DatasetRegistration, a
// digest of its contents, where no record is known), not its name: a name
// registered again (deleted and registered anew, or `apply --update`, even
// with the same head count, size and store) is another dataset, whose
// people add to the first's; so are other contents staged under one
// registration (StagedRegistration: swapped in the store, the document
// unchanged). It counts the datasets of this query from that
// origin (the moves being planned) and what Query.Exports reports from
// the transfer ledger. Without Exports (a plan without a server) only the
// query's datasets count, and the decision carries an advisory saying so.

// Exports reports what was exported before: the transfer ledger.
type Exports interface {
	// Exported lists the datasets from origin that any of orgs, tenant's
	// organisations ("" is catalog.DefaultTenant), were given on days
	// from since to until, inclusive: one Export per organisation and
	// dataset that left origin (Within false), and one per organisation
	// and dataset staged without leaving it (Within true), so that a
	// staging at home never hides the same dataset's export. The totals of
	// exports read only the first; the totals of data given read both (an
	// implementation that reports no Within entries under-counts those).
	// It reports too the records of any other of tenant's organisations
	// whose Group names one of orgs: the group its registrations declared
	// on the export's day is part of the window's group (see
	// WindowGroup), so dropping an affiliate later does not take that
	// export off its totals.
	// Organisation names are each tenant's own, so another
	// tenant's exports never count, whatever its organisations are
	// called or whom they name as affiliates: they could neither swell a
	// tenant's totals to block it nor be read in its findings. It is
	// called during evaluation and must be safe for concurrent use; an
	// error fails closed.
	Exported(ctx context.Context, tenant string, orgs []string, origin string, since, until catalog.Date) ([]Export, error)
}

// Export is one dataset an organisation exported from a country, or was
// given there.
type Export struct {
	Org      string `json:"org"`
	Dataset  string `json:"dataset"`
	Class    string `json:"class"`
	Subjects int64  `json:"subjects"`
	// Within says the dataset was staged in its origin country and did not
	// leave it: the organisation was given the data, nothing was exported.
	Within bool `json:"within,omitempty"`
	// Registration is the registration of the dataset as it was
	// exported: SealedRegistration or DatasetRegistration, with the
	// contents a staging read (StagedRegistration); "" for records
	// written before it was kept, which count by name (see
	// Session.exports).
	Registration string `json:"registration,omitempty"`
	// Group is the exporting organisation's group as its registrations
	// declared it on the export's day (OrgGroup of the staging's query,
	// not the window's group a total joined: see docs/rules.md), when it
	// had other organisations: the names of
	// those its records of this dataset in the window name, sorted and
	// joined by commas (a name is a DNS label, which has none), so that
	// an Export stays comparable. Records written before it was kept lack
	// it: their organisation's group is only what its registrations say
	// now.
	Group string `json:"group,omitempty"`
}

// DatasetRegistration identifies what a dataset's registration holds: a
// digest of its name and of the fields that say which data it is (origin,
// classification, subjects, size and store). Records match datasets by it,
// not by name alone: a name reused for other people (the dataset deleted
// and registered again, or updated with new contents) counted only the
// larger of the two groups, and a tenant could stay under a threshold by
// reusing a name. Where the data is held (location) and its transfer bases
// are not part of it: they change no one's data.
func DatasetRegistration(ds *catalog.Dataset) string {
	if ds == nil {
		return ""
	}
	b, _ := json.Marshal(struct {
		Name           string  `json:"name"`
		Origin         string  `json:"origin"`
		Classification string  `json:"classification"`
		Subjects       int64   `json:"subjects"`
		SizeBytes      float64 `json:"sizeBytes"`
		Store          string  `json:"store"`
	}{ds.Metadata.Name, ds.Spec.Origin, ds.Spec.Classification, ds.Spec.Subjects, ds.Spec.SizeBytes, ds.Spec.Store})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// SealedRegistration is the registration of ds that the sealed register
// record seq registered: its DatasetRegistration, "@", and the record's
// seq. Two registrations with one digest (contents swapped under the same
// name, head count, size and store) are two sealed records, so two
// registrations; and the seq cannot be made up without the audit key, as
// only sealed records are read. Every register record is another
// registration: an `apply --update` that changes no one's data (the
// store moved) counts its people again, as nothing sealed says they are
// the same people.
func SealedRegistration(ds *catalog.Dataset, seq int64) string {
	d := DatasetRegistration(ds)
	if d == "" || seq <= 0 {
		return d
	}
	return d + "@" + strconv.FormatInt(seq, 10)
}

// StagedRegistration is the registration reg (SealedRegistration or
// DatasetRegistration) as one staging sent it: reg, "#", and contents, an
// identity of the data the staging read (transfer: a digest of its
// manifest's chunk ids). Contents swapped in the store with no new
// register record (the document unchanged) are the same registration
// with other people: counted by reg alone they counted once. Each
// contents of a registration counts; the same contents staged again adds
// nobody. A record of reg without contents (written before, or a plan
// that has not read the store) counts as any one of its contents (see
// foldInto). reg "" or contents "" give reg.
func StagedRegistration(reg, contents string) string {
	if reg == "" || contents == "" {
		return reg
	}
	return reg + "#" + contents
}

// Registration is the registration of ds as this query has it: the one
// that Registrations names, when it is of ds's digest (sealed, staged, or
// both), or else DatasetRegistration (a plan without a server, a record
// read before).
func (q *Query) Registration(ds *catalog.Dataset) string {
	d := DatasetRegistration(ds)
	if ds == nil || d == "" {
		return d
	}
	if r, ok := q.Registrations[ds.Metadata.Name]; ok && (strings.HasPrefix(r, d+"@") || strings.HasPrefix(r, d+"#")) {
		return r
	}
	return d
}

// VolumesJobFilesOnly is the id of the advisory that says a total was
// counted without the transfer ledger.
const VolumesJobFilesOnly = "meridian-volumes-job-files-only"

// OrgGroup is the organisation and its group: its declared affiliates,
// theirs, and every known organisation that declares one of them, by name,
// sorted. Names not in known are kept (an affiliate registered later, or
// no longer) but not followed. known is the querying tenant's: a group is
// one tenant's organisations.
func OrgGroup(org *catalog.Organization, known map[string]*catalog.Organization) []string {
	if org == nil {
		return nil
	}
	links := map[string][]string{}
	link := func(a, b string) {
		links[a] = append(links[a], b)
		links[b] = append(links[b], a)
	}
	for _, a := range org.Spec.Affiliates {
		link(org.Metadata.Name, a)
	}
	for name, o := range known {
		if o == nil {
			continue
		}
		for _, a := range o.Spec.Affiliates {
			link(name, a)
		}
	}
	seen := map[string]bool{org.Metadata.Name: true}
	queue := []string{org.Metadata.Name}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, m := range links[n] {
			if !seen[m] {
				seen[m] = true
				queue = append(queue, m)
			}
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// maxGroupRounds bounds the reads of WindowGroup: each read past the
// first is asked because the one before found another organisation of
// the group, so a group joined through more links than this in one window
// fails the total closed rather than read on.
const maxGroupRounds = 32

// WindowGroup is the group of organisations whose exports from origin on
// days from since to until count together, and those exports: the
// organisations of now (OrgGroup of the registrations as they are), and
// every organisation that a record of the window says was in a group with
// one of them (Export.Group), and theirs, until no read adds one. A group
// read from the registrations only shrank when an affiliate was dropped:
// an organisation that exported 600,000 people as one group's member, and
// then dropped its affiliates, left its sister's next export counted
// alone, under the 1,000,000 threshold. The affiliations recorded in a
// window stay in it. The cost is one read of the ledger, and one more
// for each round that finds another organisation (at most
// maxGroupRounds, past which it fails closed); an error of the ledger's,
// or a record that neither is of an organisation asked for nor names one
// in its group, is an error, so the total fails closed.
func WindowGroup(ctx context.Context, ex Exports, tenant string, now []string, origin string, since, until catalog.Date) ([]string, []Export, error) {
	orgs := slices.Clone(now)
	sort.Strings(orgs)
	orgs = slices.Compact(orgs)
	for round := 0; ; round++ {
		if round == maxGroupRounds {
			return nil, nil, fmt.Errorf("the group is joined through more than %d links of recorded affiliations in this window, so its totals are not counted", maxGroupRounds)
		}
		xs, err := ex.Exported(ctx, tenant, orgs, origin, since, until)
		if err != nil {
			return nil, nil, err
		}
		var added []string
		add := func(name string) {
			if !contains(orgs, name) && !contains(added, name) {
				added = append(added, name)
			}
		}
		for _, x := range xs {
			if !contains(orgs, x.Org) && !GroupNames(x.Group, orgs) {
				return nil, nil, fmt.Errorf("answered with a record of an organisation not asked for, so the totals cannot be trusted")
			}
			add(x.Org)
			for g := x.Group; g != ""; {
				var m string
				m, g, _ = strings.Cut(g, ",")
				add(m)
			}
		}
		if len(added) == 0 {
			return orgs, xs, nil
		}
		orgs = append(orgs, added...)
		sort.Strings(orgs)
	}
}

// GroupNames says whether group (Export.Group, or a ledger entry's
// group: names joined by commas) names one of orgs.
func GroupNames(group string, orgs []string) bool {
	for group != "" {
		m, rest, _ := strings.Cut(group, ",")
		if contains(orgs, m) {
			return true
		}
		group = rest
	}
	return false
}

// ledgerType is the CEL type of the ledger variable.
var ledgerType = cel.OpaqueType("meridian.Ledger")

// ledgerVal is the ledger variable of one rule's evaluation on one
// transfer: it records the totals it gave, for the finding's message.
type ledgerVal struct {
	s     *Session // nil outside the transfer and access scopes
	mu    sync.Mutex
	calls []ledgerCall
}

// ledgerCall is one total a rule asked for.
type ledgerCall struct {
	group, given  bool
	origin, since string
	class         string
	total         int64
	counted       []counted
}

// counted is one dataset in a total, and whether it is one of this
// query's (planned) or came from the ledger.
type counted struct {
	Export
	planned bool
}

// origins lists the origins whose totals were asked for.
func (l *ledgerVal) origins() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, c := range l.calls {
		if !contains(out, c.origin) {
			out = append(out, c.origin)
		}
	}
	return out
}

// text describes the totals a rule was given, for its finding: each
// window's totals by class and the datasets they add up.
func (l *ledgerVal) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.calls) == 0 {
		return ""
	}
	type window struct {
		group, given  bool
		origin, since string
	}
	var order []window
	totals := map[window][]string{}
	sets := map[window][]counted{}
	for _, c := range l.calls {
		w := window{c.group, c.given, c.origin, c.since}
		if _, ok := totals[w]; !ok {
			order = append(order, w)
			sets[w] = c.counted
		}
		t := fmt.Sprintf("%d %s", c.total, c.class)
		if !contains(totals[w], t) {
			totals[w] = append(totals[w], t)
		}
	}
	var parts []string
	for _, w := range order {
		who := "this organisation"
		if w.group {
			who = "this organisation's group"
		}
		var ds []string
		for i, x := range sets[w] {
			if i == 8 {
				ds = append(ds, fmt.Sprintf("and %d more", len(sets[w])-i))
				break
			}
			from := "ledger"
			switch {
			case x.planned:
				from = "this plan"
			case x.Within:
				from = "ledger, staged in " + w.origin
			}
			ds = append(ds, fmt.Sprintf("%s of %s: %d %s, %s", x.Dataset, x.Org, x.Subjects, x.Class, from))
		}
		if len(ds) == 0 {
			ds = []string{"no datasets"}
		}
		what := fmt.Sprintf("exported from %s since %s by %s", w.origin, w.since, who)
		if w.given {
			what = fmt.Sprintf("data from %s given to %s since %s", w.origin, who, w.since)
		}
		parts = append(parts, fmt.Sprintf("%s: %s (%s)", what,
			strings.Join(totals[w], ", "), strings.Join(ds, "; ")))
	}
	return "counted " + strings.Join(parts, "; ")
}

// noLedger is the ledger of scopes that have none.
var noLedger = &ledgerVal{}

// ConvertToNative implements ref.Val.
func (l *ledgerVal) ConvertToNative(reflect.Type) (any, error) {
	return nil, fmt.Errorf("the ledger has no native value")
}

// ConvertToType implements ref.Val.
func (l *ledgerVal) ConvertToType(t ref.Type) ref.Val {
	if t == types.TypeType {
		return ledgerType
	}
	return types.NewErr("the ledger converts to no other type")
}

// Equal implements ref.Val.
func (l *ledgerVal) Equal(o ref.Val) ref.Val { return types.Bool(o == ref.Val(l)) }

// Type implements ref.Val.
func (l *ledgerVal) Type() ref.Type { return ledgerType }

// Value implements ref.Val.
func (l *ledgerVal) Value() any { return l }

func ledgerFunctions() []cel.EnvOption {
	count := func(group, given bool) func(args ...ref.Val) ref.Val {
		return func(args ...ref.Val) ref.Val {
			l, ok := args[0].(*ledgerVal)
			if !ok || l.s == nil {
				return types.NewErr("the ledger is only available to transfer- and access-scope rules")
			}
			origin, _ := args[1].Value().(string)
			since, _ := args[2].Value().(string)
			class := catalog.ClassPersonal
			if len(args) == 4 {
				class, _ = args[3].Value().(string)
			}
			n, err := l.total(group, given, origin, since, class)
			if err != nil {
				return types.NewErr("%s", err.Error())
			}
			return types.Int(n)
		}
	}
	overloads := func(name string, group, given bool) cel.EnvOption {
		return cel.Function(name,
			cel.MemberOverload("ledger_"+name+"_origin_since", []*cel.Type{ledgerType, cel.StringType, cel.StringType}, cel.IntType,
				cel.FunctionBinding(count(group, given))),
			cel.MemberOverload("ledger_"+name+"_origin_since_class", []*cel.Type{ledgerType, cel.StringType, cel.StringType, cel.StringType}, cel.IntType,
				cel.FunctionBinding(count(group, given))))
	}
	return []cel.EnvOption{
		overloads("subjectsExported", false, false),
		overloads("groupSubjectsExported", true, false),
		overloads("subjectsGiven", false, true),
		cel.Function("yearStart", cel.Overload("year_start_string_int", []*cel.Type{cel.StringType, cel.IntType}, cel.StringType,
			cel.BinaryBinding(func(d, off ref.Val) ref.Val {
				s, _ := d.Value().(string)
				day, err := catalog.ParseDate(s)
				if err != nil {
					return types.NewErr("yearStart: %v", err)
				}
				n, _ := off.Value().(int64)
				if n < -100 || n > 100 {
					return types.NewErr("yearStart: offset %d is out of range", n)
				}
				return types.String(fmt.Sprintf("%04d-01-01", day.Year()+int(n)))
			}))),
		cel.Function("monthsBefore", cel.Overload("months_before_string_int", []*cel.Type{cel.StringType, cel.IntType}, cel.StringType,
			cel.BinaryBinding(func(d, months ref.Val) ref.Val {
				s, _ := d.Value().(string)
				day, err := catalog.ParseDate(s)
				if err != nil {
					return types.NewErr("monthsBefore: %v", err)
				}
				n, _ := months.Value().(int64)
				if n < 0 || n > 1200 {
					return types.NewErr("monthsBefore: %d months is out of range (0 to 1200)", n)
				}
				return types.String(monthsBefore(day, int(n)))
			}))),
	}
}

// monthsBefore is the date n months before d, 'YYYY-MM-DD'. A day of the
// month the earlier month lacks becomes its last day (31 March less one
// month is 28 or 29 February), so the window never reaches into the month
// after.
func monthsBefore(d catalog.Date, n int) string {
	m := d.Year()*12 + int(d.Month()) - 1 - n
	y, mon := m/12, time.Month(m%12+1)
	last := time.Date(y, mon+1, 0, 0, 0, 0, 0, time.UTC).Day()
	return fmt.Sprintf("%04d-%02d-%02d", y, int(mon), min(d.Day(), last))
}

// isLedgerCount says whether fn is one of the ledger's totals, whose
// third argument is a classification.
func isLedgerCount(fn string) bool {
	switch fn {
	case "subjectsExported", "groupSubjectsExported", "subjectsGiven":
		return true
	}
	return false
}

// total is the number of people in datasets of class exported from origin
// since a date, up to the as-of date, by the organisation (or its group);
// with given, of those given to it, whether or not they left origin.
func (l *ledgerVal) total(group, given bool, origin, since, class string) (int64, error) {
	s := l.s
	from, err := catalog.ParseDate(since)
	if err != nil {
		return 0, fmt.Errorf("ledger: since %q: %v", since, err)
	}
	if !contains(catalog.Classifications, class) {
		return 0, fmt.Errorf("ledger: class %q is not a classification", class)
	}
	exports, err := s.exports(group, given, origin, from)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, x := range exports {
		if x.Class == class {
			n += x.Subjects
		}
	}
	l.mu.Lock()
	l.calls = append(l.calls, ledgerCall{group: group, given: given, origin: origin, since: since, class: class, total: n, counted: exports})
	l.mu.Unlock()
	return n, nil
}

// volumes caches the exports a session has counted.
type volumes struct {
	mu    sync.Mutex
	lists map[volKey][]counted
}

type volKey struct {
	group  bool
	given  bool
	origin string
	since  catalog.Date
}

// exports merges the query's datasets from origin with what the ledger
// reports, one entry per organisation and dataset: the ledger's exports
// abroad, and with given its stagings within origin too.
func (s *Session) exports(group, given bool, origin string, since catalog.Date) ([]counted, error) {
	k := volKey{group, given, origin, since}
	s.vol.mu.Lock()
	if x, ok := s.vol.lists[k]; ok {
		s.vol.mu.Unlock()
		return x, nil
	}
	s.vol.mu.Unlock()
	if s.q.Org == nil && s.q.Exports != nil {
		return nil, fmt.Errorf("ledger: no organisation, so whose exports to count cannot be determined")
	}
	self := ""
	if s.q.Org != nil {
		self = s.q.Org.Metadata.Name
	}
	// Each dataset counts once per class: the largest record of it. A
	// dataset recorded under one class and now under another is people
	// of both: kept under one key, the larger record hid the other class
	// from its totals (600,000 personal exported before hid 20,000
	// sensitive under the same name now, and the sensitive total read 0).
	// A dataset is a registration: two registrations under one name are
	// two groups of people, each counted (see byName below).
	byKey := map[[4]string]counted{}
	put := func(x counted) {
		key := [4]string{x.Org, x.Dataset, x.Class, x.Registration}
		if prev, ok := byKey[key]; !ok || x.Subjects > prev.Subjects {
			x.planned = x.planned || prev.planned
			byKey[key] = x
		} else if x.planned {
			prev.planned = true
			byKey[key] = prev
		}
	}
	for _, ds := range s.q.Datasets {
		if ds != nil && ds.Spec.Origin == origin {
			put(counted{Export{Org: self, Dataset: ds.Metadata.Name, Class: ds.Spec.Classification, Subjects: ds.Spec.Subjects,
				Registration: s.q.Registration(ds)}, true})
		}
	}
	if s.q.Exports != nil && !since.After(s.q.AsOf) {
		var orgs []string
		var xs []Export
		var err error
		if group {
			orgs, xs, err = WindowGroup(s.ctx, s.q.Exports, s.q.Tenant, OrgGroup(s.q.Org, s.q.Organizations), origin, since, s.q.AsOf)
		} else {
			orgs = []string{self}
			xs, err = s.q.Exports.Exported(s.ctx, s.q.Tenant, orgs, origin, since, s.q.AsOf)
		}
		if err != nil {
			return nil, fmt.Errorf("transfer ledger: %w", err)
		}
		for _, x := range xs {
			if !contains(orgs, x.Org) {
				// Organisation names are each tenant's own: a record of
				// one not asked for (another tenant's, from a ledger that
				// did not keep them apart) is no part of these totals,
				// and its names and head counts are not the tenant's to
				// read. Left out, it would hide a fault of the ledger's;
				// the total fails closed, naming neither.
				return nil, fmt.Errorf("transfer ledger: answered with a record of an organisation not asked for, so the totals cannot be trusted")
			}
			if x.Subjects < 0 {
				// A record below zero would take people off the total.
				return nil, fmt.Errorf("transfer ledger: %s's record of dataset %s has %d subjects, below zero", x.Org, x.Dataset, x.Subjects)
			}
			if x.Subjects > catalog.MaxSubjects {
				// Past it, the total wraps below zero.
				return nil, fmt.Errorf("transfer ledger: %s's record of dataset %s has %d subjects, more than the %d people who exist", x.Org, x.Dataset, x.Subjects, int64(catalog.MaxSubjects))
			}
			if x.Within && !given {
				continue // given to the organisation, not exported
			}
			if !contains(catalog.Classifications, x.Class) {
				// A total counts the records of one class: one outside
				// the vocabulary (a word an older version accepted,
				// "Personal" or "pii") was in no total, its people
				// nobody's.
				return nil, fmt.Errorf("transfer ledger: %s's record of dataset %s has class %q, not one of %s, so whose data it holds cannot be determined",
					nameStart(x.Org), nameStart(x.Dataset), nameStart(x.Class), strings.Join(catalog.Classifications, ", "))
			}
			put(counted{Export: x})
		}
	}
	byDigest(byKey)
	out := byName(byKey)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Org != out[j].Org {
			return out[i].Org < out[j].Org
		}
		if out[i].Dataset != out[j].Dataset {
			return out[i].Dataset < out[j].Dataset
		}
		if out[i].Class != out[j].Class {
			return out[i].Class < out[j].Class
		}
		return out[i].Registration < out[j].Registration
	})
	s.vol.mu.Lock()
	if s.vol.lists == nil {
		s.vol.lists = map[volKey][]counted{}
	}
	s.vol.lists[k] = out
	s.vol.mu.Unlock()
	return out, nil
}

// byDigest folds the records of a registration that say less of it into
// those that say more, per name and class: first a sealed registration
// without contents (SealedRegistration, written before a staging's
// contents were kept, or a plan that has not read the store) into that
// registration's contents (StagedRegistration), then a digest alone
// (DatasetRegistration: written before sealed registrations were kept, or
// a query without them) into every registration of that digest, sealed or
// staged. A staging's record of a digest with contents but no sealed
// record (a run whose documents differ from the registry's) is no sealed
// registration's child: it counts as a registration of its own, beside
// them, as nothing sealed says which of them it sent (an overcount when
// it sent one). The record that says less may be any one of them, so
// it counts when it has more people than they together, and then alone;
// otherwise they count and it does not. That never counts fewer people
// than its largest record, as the record that says less counted them.
func byDigest(byKey map[[4]string]counted) {
	foldInto(byKey, func(reg string) (string, bool) {
		at, hash := strings.Index(reg, "@"), strings.Index(reg, "#")
		if at < 0 || hash < at {
			return "", false
		}
		return reg[:hash], true // the sealed registration of these contents
	})
	foldInto(byKey, func(reg string) (string, bool) {
		i := strings.IndexAny(reg, "@#")
		if i < 0 {
			return "", false
		}
		return reg[:i], true // the digest
	})
}

// foldInto folds each record whose registration is the parent of others'
// (parent, per name and class) into them, as byDigest says.
func foldInto(byKey map[[4]string]counted, parent func(reg string) (string, bool)) {
	// Each parent's children, so that the cost stays linear.
	type group struct {
		subjects int64
		keys     [][4]string
	}
	children := map[[4]string]*group{}
	for k, x := range byKey {
		if p, ok := parent(k[3]); ok {
			g := [4]string{k[0], k[1], k[2], p}
			if children[g] == nil {
				children[g] = &group{}
			}
			children[g].subjects += x.Subjects
			children[g].keys = append(children[g].keys, k)
		}
	}
	for g, regs := range children {
		x, ok := byKey[g] // g[3] the parent
		if !ok || g[3] == "" {
			continue
		}
		if x.Subjects > regs.subjects {
			for _, k := range regs.keys {
				x.planned = x.planned || byKey[k].planned
				delete(byKey, k)
			}
			byKey[g] = x
			continue
		}
		delete(byKey, g)
		if x.planned {
			for _, k := range regs.keys {
				y := byKey[k]
				y.planned = true // the plan's dataset is one of them
				byKey[k] = y
			}
		}
	}
}

// byName lists the counted datasets, one entry per registration of a
// name and class. Records without a registration (written before it was
// kept) could be of any registration of their name, so they count as
// before, by name: the largest of them counts when it has more people
// than the name's registrations together, and then alone (it may be any of
// them); otherwise the registrations count and it does not. That never
// counts fewer people than the name's largest record.
func byName(byKey map[[4]string]counted) []counted {
	type name [3]string
	regs := map[name]int64{}
	planned := map[name]bool{}
	for k, x := range byKey {
		n := name{k[0], k[1], k[2]}
		if x.Registration != "" {
			regs[n] += x.Subjects
		}
		planned[n] = planned[n] || x.planned
	}
	out := make([]counted, 0, len(byKey))
	for k, x := range byKey {
		n := name{k[0], k[1], k[2]}
		legacy, hasLegacy := byKey[[4]string{k[0], k[1], k[2], ""}]
		_, hasRegs := regs[n]
		switch {
		case !hasLegacy || !hasRegs:
		case x.Registration == "" && legacy.Subjects <= regs[n]:
			continue // the registrations count its people
		case x.Registration != "" && legacy.Subjects > regs[n]:
			continue // the record without one counts, alone
		}
		if x.Registration == "" {
			x.planned = planned[n] // a plan's dataset it stands for
		}
		out = append(out, x)
	}
	return out
}

// jobFilesOnly is the advisory that a total was counted without the
// transfer ledger.
func jobFilesOnly(origins []string) Finding {
	sort.Strings(origins)
	msg := fmt.Sprintf("%s: cumulative export volumes from %s were counted from this plan's job files only; "+
		"exports by earlier runs are in the transfer ledger, which a plan without a server does not read "+
		"(source: %s)", VolumesJobFilesOnly, strings.Join(origins, ", "), engineSource)
	return Finding{Rule: VolumesJobFilesOnly, Kind: "engine", Effect: Advisory, Message: msg,
		Source: engineSource, Confidence: Confirmed}
}
