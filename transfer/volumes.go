package transfer

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/store"
)

// LedgerExports reads the transfer ledger for the policy engine's volume
// thresholds that count a window of exports (policy.Exports): which
// datasets an organisation and its group sent out of a country, or
// staged inside it, and how many people each covers. Each dataset counts
// once, however often it was staged; a dataset is a registration of its
// name (Entry.Registration), entries without one a name. It is small on purpose: it reads entries from Entries and keeps
// nothing, so the audit log, a FileLedger or a database can feed it.
type LedgerExports struct {
	// Entries returns the transfer ledger's entries (KindTransfer
	// payloads) of tenant ("" is dataset.DefaultTenant), and of no other
	// tenant. It must be safe for concurrent use.
	Entries func(ctx context.Context, tenant string) ([]Entry, error)
}

// FileLedgerExports is LedgerExports over a FileLedger's file.
func FileLedgerExports(path string) LedgerExports {
	return LedgerExports{Entries: func(ctx context.Context, tenant string) ([]Entry, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		all, err := readFileLedger(path)
		if err != nil {
			return nil, err
		}
		var recs []Record
		for _, r := range all {
			if catalog.TenantOr(r.Tenant) == catalog.TenantOr(tenant) {
				recs = append(recs, r)
			}
		}
		return ExportEntries(recs)
	}}
}

// ExportEntries picks from a ledger's records what the volume thresholds
// count: every confirmation (KindTransfer), and every intent (KindIntent),
// open, confirmed or abandoned. An open intent is a staging that failed or
// was killed after it wrote the intent and before it confirmed: any of its
// objects may be at the site, so it counts. An abandonment does not take
// it back: it says only that the site did not show the objects to the
// reconcile, and a site may hide what it received (a site that colludes
// with the tenant, after a kill), so the dataset counts as exported
// whether or not the site later says it holds none of it. Otherwise a
// staging made to fail after its first chunks, and a site that hides them,
// would move data past a threshold without ever being counted. The cost
// is an overcount: an intent abandoned before a byte of it was sent (a
// staging killed right after recording it) counts its dataset too.
func ExportEntries(recs []Record) ([]Entry, error) {
	var out []Entry
	for _, r := range recs {
		switch r.Kind {
		case KindTransfer:
			var e Entry
			if err := r.decode(&e); err != nil {
				return nil, err
			}
			out = append(out, e)
		case KindIntent:
			// Not its object list, which the volumes do not count: an
			// intent of a large dataset names thousands of chunks.
			var in struct {
				ID string `json:"id"`
				Entry
			}
			if err := r.decode(&in); err != nil {
				return nil, err
			}
			out = append(out, in.Entry)
		}
	}
	return out, nil
}

// ExportsOf is LedgerExports over a Ledger's records (ExportEntries) of
// the tenant a query asks for.
func ExportsOf(l Ledger) LedgerExports {
	return LedgerExports{Entries: func(ctx context.Context, tenant string) ([]Entry, error) {
		recs, err := l.Records(ctx, catalog.TenantOr(tenant), KindTransfer, KindIntent)
		if err != nil {
			return nil, err
		}
		return ExportEntries(recs)
	}}
}

// Exported implements policy.Exports. A confirmation counts when it moved
// a dataset (not a checkpoint), names one of orgs as the exporter, its
// dataset's origin is origin, and its as-of date is from since to until;
// the several confirmations of one copy count once, as does the same
// dataset staged again. One that left origin is an export; one staged at
// a site in origin is reported apart (Within), so that it never hides an
// export of the same dataset: the organisation was given that data, but
// it did not leave the country. Entries without an
// organisation or origin (written before those fields existed) are not
// counted: they cannot be attributed. An entry whose date does not parse
// is an error, so the rules that asked fail closed.
func (l LedgerExports) Exported(ctx context.Context, tenant string, orgs []string, origin string, since, until catalog.Date) ([]policy.Export, error) {
	ents, err := l.Entries(ctx, tenant)
	if err != nil {
		return nil, err
	}
	type key struct {
		org, dataset, registration string
		within                     bool
	}
	byKey := map[key]policy.Export{}
	groups := map[key][]string{}
	var order []key
	for _, e := range ents {
		if orDataset(e.Kind) != KindDataset || e.Organization == "" || e.Origin != origin {
			continue
		}
		if !slices.Contains(orgs, e.Organization) && !slices.ContainsFunc(e.Group, func(m string) bool { return slices.Contains(orgs, m) }) {
			continue
		}
		d, err := catalog.ParseDate(e.AsOf)
		if err != nil {
			return nil, err
		}
		if d.Before(since) || d.After(until) {
			continue
		}
		k := key{e.Organization, e.Dataset, e.Registration, e.To == origin}
		prev, seen := byKey[k]
		if !seen {
			order = append(order, k)
		}
		if !seen || e.Subjects > prev.Subjects {
			byKey[k] = policy.Export{Org: e.Organization, Dataset: e.Dataset, Class: e.Classification, Subjects: e.Subjects, Within: k.within,
				Registration: e.Registration}
		}
		groups[k] = append(groups[k], e.Group...)
	}
	out := make([]policy.Export, 0, len(order))
	for _, k := range order {
		x := byKey[k]
		x.Group = strings.Join(groupOf(groups[k]), ",")
		out = append(out, x)
	}
	return out, nil
}

// recordedGroup is the group a staging of query q records
// (Entry.Group): policy.OrgGroup of its organisation, nil when that is
// the organisation alone. It is the registrations' group of the day,
// not policy.WindowGroup's answer: that is one total's, with links
// from any day of its window, and recorded it would join the group in
// every later window holding this entry's day.
func recordedGroup(q policy.Query) []string {
	g := policy.OrgGroup(q.Org, q.Organizations)
	if len(g) < 2 {
		return nil
	}
	return g
}

// joinGroups is the union of two groups joined by commas (sorted, each
// name once), without allocating where they are the same or one is empty.
func joinGroups(a, b string) string {
	switch {
	case a == b || b == "":
		return a
	case a == "":
		return b
	}
	return strings.Join(groupOf(append(strings.Split(a, ","), strings.Split(b, ",")...)), ",")
}

// groupOf is names sorted, each once; nil for none.
func groupOf(names []string) []string {
	if len(names) == 0 {
		return nil
	}
	g := slices.Clone(names)
	slices.Sort(g)
	return slices.Compact(g)
}

var _ policy.Exports = LedgerExports{}

// orgName is the exporting organisation's name, "" when the query has none.
func orgName(o *catalog.Organization) string {
	if o == nil {
		return ""
	}
	return o.Metadata.Name
}

// ExportIndex is policy.Exports over the records of every tenant's ledger,
// each tenant's counted for that tenant only, folded in memory and brought up to date from the records appended since
// it last read (by seq, as Index does). LedgerExports over ExportEntries
// reads every confirmation and intent ever recorded, each intent with its
// list of chunks, for each volume rule a plan or a law check asks; this
// keeps what the volumes count, one fact per organisation, origin,
// dataset, registration, date, class, head count and whether it stayed in the origin
// country, and the intents still open. Both are kept by tenant, origin
// and organisation, what every question names, so that a question reads
// the facts of the asking tenant's organisations from that origin only:
// another tenant's ledger, however long, costs it nothing.
//
// It answers what LedgerExports answers, sorted by organisation and
// dataset. An abandoned intent's fact is kept, as LedgerExports counts
// every intent. One difference, in a case no staging makes: a
// confirmation that differs from its intent (another head count, class
// or date) takes the intent's place here, where LedgerExports counts
// both.
type ExportIndex struct {
	// read returns the records of every tenant, of the kinds Index reads,
	// after seq after, in seq order.
	read func(ctx context.Context, after int64) ([]Record, error)

	mu  sync.Mutex
	seq int64
	// watch spares a catch-up with nothing written since the last its
	// read (set by AuditExports).
	watch logWatch
	facts map[exportScope]map[exportFact]factSeen // each fact once, by its scope
	// open holds the intents neither confirmed nor abandoned, by
	// openKey; openIn holds the same ones by scope. A scope without
	// facts or open intents has no map in either.
	open   map[string]*openFact
	openIn map[exportScope]map[string]*openFact
	// named holds, by the scope of each organisation a fact's or an
	// intent's group names, the organisations whose facts name it: a
	// question reads the facts of those too, and counts the ones whose
	// group names an organisation it asks about (policy.WindowGroup). It
	// only grows; a name kept after its facts are gone costs a look.
	named map[exportScope]map[string]bool
	// considered counts the facts and open intents questions looked at
	// (the tests' measure of a question's cost).
	considered int
}

// exportFact is what the volumes count of an entry that moved a dataset
// for a tenant's organisation: out of its origin, or (within) to a site
// in it.
type exportFact struct {
	tenant, org, origin, dataset, asOf, class, registration string
	subjects                                                int64
	within                                                  bool
	// group is the entry's Group, joined by commas (a name is a DNS
	// label, which has none), so that the fact stays comparable.
	group string
}

// exportScope is what a volume question names of the facts it counts:
// the asking tenant, the origin country and one of its organisations.
type exportScope struct{ tenant, origin, org string }

func (f exportFact) scope() exportScope { return exportScope{f.tenant, f.origin, f.org} }

// factSeen is when a fact was first counted (a record's seq), and its
// as-of date, parsed once when it was; ok is false when the date does not
// parse, which fails every question that counts the fact.
type factSeen struct {
	seq  int64
	date catalog.Date
	ok   bool
}

func seenAt(f exportFact, seq int64) factSeen {
	d, err := catalog.ParseDate(f.asOf)
	return factSeen{seq, d, err == nil}
}

type openFact struct {
	fact exportFact
	seen factSeen
}

// AuditExports is an ExportIndex over the audit log's ledger records of
// every tenant, read once; each query counts its own tenant's. Counting
// across tenants by organisation name let any tenant name an organisation
// like another's, or declare it an affiliate, and so swell that tenant's
// totals past a threshold (its runs held or moved) and read its datasets'
// names and head counts in its own findings. A group is one tenant's
// organisations; an operator gives one legal group one tenant.
func AuditExports(st AuditStore) *ExportIndex {
	l := AuditLedger{Store: st}
	x := NewExportIndex(func(ctx context.Context, after int64) ([]Record, error) {
		return l.records(ctx, store.AuditQuery{Kinds: ledgerKinds, AllTenants: true, After: after})
	})
	x.watch = watchOf(st)
	return x
}

// openKey is the key of tenant's intent id among the open ones: a record
// closes its own tenant's intents only.
func openKey(tenant, id string) string { return catalog.TenantOr(tenant) + "/" + id }

// NewExportIndex returns an ExportIndex that reads records with read.
func NewExportIndex(read func(ctx context.Context, after int64) ([]Record, error)) *ExportIndex {
	x := &ExportIndex{read: read}
	x.forget()
	return x
}

// forget empties the index.
func (x *ExportIndex) forget() {
	x.seq = 0
	x.facts = map[exportScope]map[exportFact]factSeen{}
	x.open, x.openIn = map[string]*openFact{}, map[exportScope]map[string]*openFact{}
	x.named = map[exportScope]map[string]bool{}
}

// factOf is e's fact, and whether the volumes count it at all: an entry
// that moved a checkpoint or names no exporter is never counted, whatever
// the query. One that stayed in its origin country is kept, marked
// within: it gave the organisation the data without exporting it.
func factOf(tenant string, e Entry) (exportFact, bool) {
	if orDataset(e.Kind) != KindDataset || e.Organization == "" {
		return exportFact{}, false
	}
	return exportFact{catalog.TenantOr(tenant), e.Organization, e.Origin, e.Dataset, e.AsOf, e.Classification, e.Registration, e.Subjects, e.To == e.Origin,
		strings.Join(groupOf(e.Group), ",")}, true
}

// closeIntent forgets the open intent of key k, if there is one, and its
// scope's map once it holds no other.
func (x *ExportIndex) closeIntent(k string) {
	o, ok := x.open[k]
	if !ok {
		return
	}
	delete(x.open, k)
	s := o.fact.scope()
	delete(x.openIn[s], k)
	if len(x.openIn[s]) == 0 {
		delete(x.openIn, s)
	}
}

// nameGroup records that f's organisation has a fact naming each member
// of f's group.
func (x *ExportIndex) nameGroup(f exportFact) {
	if f.group == "" {
		return
	}
	for _, m := range strings.Split(f.group, ",") {
		s := exportScope{f.tenant, f.origin, m}
		if x.named[s] == nil {
			x.named[s] = map[string]bool{}
		}
		x.named[s][f.org] = true
	}
}

// count keeps fact f, first counted at seq unless it was counted earlier.
func (x *ExportIndex) count(f exportFact, seq int64) {
	x.nameGroup(f)
	s := f.scope()
	m := x.facts[s]
	if first, seen := m[f]; !seen || seq < first.seq {
		if m == nil {
			m = map[exportFact]factSeen{}
			x.facts[s] = m
		}
		m[f] = seenAt(f, seq)
	}
}

// apply folds one record; on an error (a payload that does not decode)
// the index is as before it, and the same record fails the next read too.
func (x *ExportIndex) apply(r Record) error {
	switch r.Kind {
	case KindTransfer:
		var e Entry
		if err := r.decode(&e); err != nil {
			return err
		}
		seq := r.Seq
		if o, ok := x.open[openKey(r.Tenant, e.Intent)]; ok {
			// The intent counted from its own seq; its confirmation
			// carries the same fact on.
			seq = min(seq, o.seen.seq)
			x.closeIntent(openKey(r.Tenant, e.Intent))
		}
		if f, ok := factOf(r.Tenant, e); ok {
			x.count(f, seq)
		}
	case KindIntent:
		var in struct {
			ID string `json:"id"`
			Entry
		}
		if err := r.decode(&in); err != nil {
			return err
		}
		if f, ok := factOf(r.Tenant, in.Entry); ok {
			// An intent recorded again under its id replaces the
			// first, whatever scope that had.
			k := openKey(r.Tenant, in.ID)
			x.closeIntent(k)
			x.nameGroup(f)
			o := &openFact{f, seenAt(f, r.Seq)}
			x.open[k] = o
			s := f.scope()
			if x.openIn[s] == nil {
				x.openIn[s] = map[string]*openFact{}
			}
			x.openIn[s][k] = o
		}
	case KindAbandoned:
		var a Abandoned
		if err := r.decode(&a); err != nil {
			return err
		}
		// An abandonment never lowers a total (ExportEntries): the
		// intent's fact is kept, counted from the intent's seq, as its
		// confirmation would have carried it on.
		k := openKey(r.Tenant, a.Intent)
		if o, ok := x.open[k]; ok {
			x.closeIntent(k)
			x.count(o.fact, o.seen.seq)
		}
	}
	x.seq = max(x.seq, r.Seq)
	return nil
}

// Exported implements policy.Exports, as LedgerExports.Exported does. It
// reads the facts and open intents of tenant's orgs from origin only.
func (x *ExportIndex) Exported(ctx context.Context, tenant string, orgs []string, origin string, since, until catalog.Date) ([]policy.Export, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.catchUp(ctx); err != nil {
		return nil, err
	}
	return x.exported(tenant, orgs, origin, since, until)
}

// Batch is x for questions asked together, one plan's (a plan asks once
// per rule, class of pool and day it judges): the first brings x up to
// date, as Exported does, reading the log's head; the later ones answer
// from x as it is then, without reading the head again, while no read
// since failed and no cut was found (another question's catch-up may have
// taken x further). A later question that finds otherwise catches up as a
// question alone does: none is answered from a partly folded index, or
// from one over a log found cut.
// The batch answers from the ledger as it was at its first question, or
// later; a record written during the plan may count in some of its
// questions and not others, as it may when each reads the head.
func (x *ExportIndex) Batch() policy.Exports { return &exportBatch{x: x} }

// exportBatch is an ExportIndex's Batch.
type exportBatch struct {
	x *ExportIndex
	// at is the head its first question's catch-up read (ok false: none
	// yet); x.mu guards it.
	at logHead
}

// Exported implements policy.Exports.
func (b *exportBatch) Exported(ctx context.Context, tenant string, orgs []string, origin string, since, until catalog.Date) ([]policy.Export, error) {
	x := b.x
	x.mu.Lock()
	defer x.mu.Unlock()
	// w.at.seq < b.at.seq cannot hold (notCut refuses a head before
	// w.at, so w.at never goes back): kept as a defence should it.
	if w := x.watch; !b.at.ok || !w.at.ok || w.unsure || w.at.seq < b.at.seq {
		if err := x.catchUp(ctx); err != nil {
			return nil, err
		}
		b.at = x.watch.at
	}
	return x.exported(tenant, orgs, origin, since, until)
}

// exported answers Exported from x as it is; x.mu is held.
func (x *ExportIndex) exported(tenant string, orgs []string, origin string, since, until catalog.Date) ([]policy.Export, error) {
	type counted struct {
		f    exportFact
		seen factSeen
	}
	type key struct {
		org, dataset, registration string
		within                     bool
	}
	// Of a dataset's facts, the one with the most people is the
	// dataset's, and of those the first counted, as LedgerExports has it.
	// A fact whose date does not parse fails the question, the first
	// counted of them named, whether or not it is in the window.
	best := map[key]counted{}
	groups := map[key]string{}
	var bad *counted
	consider := func(f exportFact, seen factSeen) {
		x.considered++
		if !seen.ok {
			if bad == nil || seen.seq < bad.seen.seq {
				bad = &counted{f, seen}
			}
			return
		}
		if seen.date.Before(since) || seen.date.After(until) {
			return
		}
		k := key{f.org, f.dataset, f.registration, f.within}
		if prev, ok := best[k]; !ok || f.subjects > prev.f.subjects || f.subjects == prev.f.subjects && seen.seq < prev.seen.seq {
			best[k] = counted{f, seen}
		}
		groups[k] = joinGroups(groups[k], f.group)
	}
	orgs = slices.Clone(orgs)
	slices.Sort(orgs)
	orgs = slices.Compact(orgs)
	for _, org := range orgs {
		s := exportScope{catalog.TenantOr(tenant), origin, org}
		for f, seen := range x.facts[s] {
			consider(f, seen)
		}
		for _, o := range x.openIn[s] {
			consider(o.fact, o.seen)
		}
	}
	// The facts of other organisations count where their group names
	// one of orgs.
	for _, other := range x.namers(tenant, origin, orgs) {
		s := exportScope{catalog.TenantOr(tenant), origin, other}
		for f, seen := range x.facts[s] {
			if policy.GroupNames(f.group, orgs) {
				consider(f, seen)
			}
		}
		for _, o := range x.openIn[s] {
			if policy.GroupNames(o.fact.group, orgs) {
				consider(o.fact, o.seen)
			}
		}
	}
	if bad != nil {
		_, err := catalog.ParseDate(bad.f.asOf)
		return nil, fmt.Errorf("ledger: export of %s by %s on %q: %w", bad.f.dataset, bad.f.org, bad.f.asOf, err)
	}
	out := make([]policy.Export, 0, len(best))
	for _, c := range best {
		k := key{c.f.org, c.f.dataset, c.f.registration, c.f.within}
		out = append(out, policy.Export{Org: c.f.org, Dataset: c.f.dataset, Class: c.f.class, Subjects: c.f.subjects, Within: c.f.within,
			Registration: c.f.registration, Group: groups[k]})
	}
	sort.Slice(out, func(i, j int) bool { return exportLess(out[i], out[j]) })
	return out, nil
}

// namers lists, sorted, the organisations other than orgs (sorted) whose
// facts or intents from origin name one of orgs in their group.
func (x *ExportIndex) namers(tenant, origin string, orgs []string) []string {
	var out []string
	for _, org := range orgs {
		for o := range x.named[exportScope{catalog.TenantOr(tenant), origin, org}] {
			if _, found := slices.BinarySearch(orgs, o); !found && !slices.Contains(out, o) {
				out = append(out, o)
			}
		}
	}
	slices.Sort(out)
	return out
}

// catchUp folds the records appended since the last catch-up, read only
// when the log's head changed since the last that succeeded
// (logWatch.catchUp). A head written since has the records read,
// gap-checked, as before: an entry of the ledger deleted before it was
// read still fails the read. A log rewound (it no longer holds a head
// read before) fails the catch-up (logWatch.notCut): folded again from
// its start, the shorter log left out of the totals the exports cut from
// it, and a plan over a threshold was judged without them; read after the
// last record folded, a record written again at a seq read before went
// uncounted. No record past the head as read now is folded (see
// logHead.within).
func (x *ExportIndex) catchUp(ctx context.Context) error {
	return x.watch.catchUp(ctx, func(now logHead) error {
		recs, err := x.read(ctx, x.seq)
		if err != nil {
			return err
		}
		return catchUp(now.within(recs), x.seq, x.apply)
	})
}

// exportLess orders exports by organisation and dataset, the export
// abroad before the staging within.
func exportLess(a, b policy.Export) bool {
	if a.Org != b.Org {
		return a.Org < b.Org
	}
	if a.Dataset != b.Dataset {
		return a.Dataset < b.Dataset
	}
	if a.Registration != b.Registration {
		return a.Registration < b.Registration
	}
	return !a.Within && b.Within
}

var _ policy.Exports = (*ExportIndex)(nil)
