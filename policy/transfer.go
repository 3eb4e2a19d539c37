package policy

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"meridian.dev/meridian/catalog"
)

// BasisNoneRequired is the Transfer basis when no transfer rule restricted the move.
const BasisNoneRequired = "none-required"

// fromCountry says where a dataset is now: its location site's country,
// else its origin.
func (s *Session) fromCountry(ds *catalog.Dataset) (string, error) {
	loc := ds.Spec.Location
	if loc == "" {
		return ds.Spec.Origin, nil
	}
	if site, ok := s.q.Sites[loc]; ok {
		return site.Spec.Country, nil
	}
	return "", fmt.Errorf("dataset %s: location %q is not a known site, so where the data is now cannot be determined", ds.Metadata.Name, loc)
}

// unknownClass says why a dataset's classification cannot be judged, or
// "". transfer denies it; access, always asked beside transfer, does not
// again. The rules read dataset.personal and count subjects by class: under a
// class outside the vocabulary ("Personal", "pii", one an older version
// accepted) a dataset of personal data was no personal data to any rule,
// and moved wherever a public one may.
func unknownClass(ds *catalog.Dataset) string {
	if msg := oversizedDataset(ds); msg != "" {
		return msg
	}
	if contains(catalog.Classifications, ds.Spec.Classification) {
		return ""
	}
	return fmt.Sprintf("dataset %s: classification %q is not one of %s, so the rules on its data cannot be determined",
		ds.Metadata.Name, ds.Spec.Classification, strings.Join(catalog.Classifications, ", "))
}

// oversizedDataset names the dataset's facts over maxFactSize (items of
// dataset.bases, bytes of a string), or "". They are facts as the
// organisation's and the job's are (Session.oversized): the catalog
// bounds them, but one that comes another way was read by the access
// and transfer rules as it was, unmetered, and copied into every finding
// that shows it, for every destination country of a plan. The dataset is
// named by the start of its name only.
func oversizedDataset(ds *catalog.Dataset) string {
	name := nameStart(ds.Metadata.Name)
	if n := len(ds.Spec.TransferBases); n > maxFactSize {
		return fmt.Sprintf("dataset %s: dataset.bases has %d items, more than the %d the rules' cost is bounded for", name, n, maxFactSize)
	}
	for _, b := range ds.Spec.TransferBases {
		if len(b) > maxFactSize {
			return fmt.Sprintf("dataset %s: dataset.bases has an item of %d bytes, more than the %d the rules' cost is bounded for", name, len(b), maxFactSize)
		}
	}
	for _, f := range []struct{ fact, v string }{
		{"dataset.name", ds.Metadata.Name}, {"dataset.origin", ds.Spec.Origin},
		{"dataset.location", ds.Spec.Location}, {"dataset.class", ds.Spec.Classification},
	} {
		if len(f.v) > maxFactSize {
			return fmt.Sprintf("dataset %s: %s is %d bytes, more than the %d the rules' cost is bounded for", name, f.fact, len(f.v), maxFactSize)
		}
	}
	return ""
}

// datasetFacts builds the dataset variable, with the volumes of personal
// data from the same origin across the whole query (PIPL counts what an
// exporter sends in a window, not per job).
func (s *Session) datasetFacts(ds *catalog.Dataset) facts {
	m := facts{
		"name":     ds.Metadata.Name,
		"origin":   ds.Spec.Origin,
		"class":    ds.Spec.Classification,
		"personal": ds.IsPersonal(),
		"subjects": ds.Spec.Subjects,
	}
	if c, ok := s.q.Countries[ds.Spec.Origin]; ok {
		m["originEEA"] = c.EEA
	}
	if ds.Spec.Location != "" {
		m["location"] = ds.Spec.Location
	}
	bases := append([]string{}, ds.Spec.TransferBases...)
	m["bases"] = bases
	s.totalsOnce.Do(func() {
		s.originTotals, s.inQuery = map[string]subjectTotals{}, map[*catalog.Dataset]bool{}
		for _, d := range s.q.Datasets {
			if d != nil && !s.inQuery[d] {
				s.inQuery[d] = true
				s.originTotals[d.Spec.Origin] = s.originTotals[d.Spec.Origin].add(d)
			}
		}
	})
	// The totals were made once for the session: each dataset's facts
	// scanned every dataset of the query, which made a query's transfers
	// quadratic in its datasets.
	t := s.originTotals[ds.Spec.Origin]
	if !s.inQuery[ds] {
		t = t.add(ds)
	}
	m["originSubjects"] = t.personal
	m["originSensitiveSubjects"] = t.sensitive
	m["originDeidentifiedSubjects"] = t.deidentified
	return m
}

// subjectTotals are the data subjects of datasets, by class.
type subjectTotals struct{ personal, sensitive, deidentified int64 }

func (t subjectTotals) add(d *catalog.Dataset) subjectTotals {
	switch d.Spec.Classification {
	case catalog.ClassPersonal:
		t.personal += d.Spec.Subjects
	case catalog.ClassSensitivePersonal:
		t.sensitive += d.Spec.Subjects
	case catalog.ClassDeidentified:
		t.deidentified += d.Spec.Subjects
	}
	return t
}

// maxQueryDatasets bounds the datasets of a query, as the catalog bounds
// a job's spec.datasets (catalog.MaxFactItems).
const maxQueryDatasets = catalog.MaxFactItems

// datasetsProblem says why the query's datasets cannot be judged, or "":
// more than limit (maxQueryDatasets), one named twice, one of fewer
// than no subjects or more than catalog.MaxSubjects, or one of personal
// data that gives no count of its subjects. The catalog refuses
// such a job, but the engine does not rely on its caller having loaded the
// job through it: the access and transfer rules run per dataset and
// destination country, so the datasets bound a plan's work, and a dataset
// named twice would count its subjects twice in its origin's totals.
func datasetsProblem(dss []*catalog.Dataset, limit int) string {
	if len(dss) > limit {
		return fmt.Sprintf("the query names %d datasets, more than the %d the rules' cost is bounded for", len(dss), limit)
	}
	seen := make(map[string]bool, len(dss))
	for _, d := range dss {
		if d == nil {
			continue // transfer denies a missing dataset
		}
		if seen[d.Metadata.Name] {
			return fmt.Sprintf("dataset %s is named twice in the query: name each dataset once", nameStart(d.Metadata.Name))
		}
		seen[d.Metadata.Name] = true
		if d.Spec.Subjects < 0 {
			// Subjects add up per origin across the query: one below zero
			// would take people off every other dataset's totals.
			return fmt.Sprintf("dataset %s: subjects is %d, below zero, so how many people's data moves cannot be determined", nameStart(d.Metadata.Name), d.Spec.Subjects)
		}
		if d.IsPersonal() && d.Spec.Subjects == 0 {
			// The rules count the people in personal data: one that gives
			// no count was read as of no people, below every threshold
			// (sensitive personal data left China with no contract).
			return fmt.Sprintf("dataset %s: subjects is 0 for %s data, so how many people's data moves cannot be determined", nameStart(d.Metadata.Name), d.Spec.Classification)
		}
		if d.Spec.Subjects > catalog.MaxSubjects {
			// Past it, the totals of an origin wrap below zero.
			return fmt.Sprintf("dataset %s: subjects is %d, more than the %d people who exist, so how many people's data moves cannot be determined", nameStart(d.Metadata.Name), d.Spec.Subjects, int64(catalog.MaxSubjects))
		}
	}
	return ""
}

func (s *Session) transferFacts(from, to string) facts {
	m := facts{"from": from, "to": to}
	if c, ok := s.q.Countries[to]; ok {
		m["toEEA"] = c.EEA
		m["toEU"] = c.EU
		m["toGroups"] = groups(c)
		m["toAdequacy"] = adequacyAt(c, s.q.AsOf)
	}
	return m
}

// transfersTo evaluates the transfer of every dataset of the query to one
// country, once per country, with each dataset's access findings (the same
// for every country).
func (s *Session) transfersTo(to string) transferResult {
	s.mu.Lock()
	if r, ok := s.transfers[to]; ok {
		s.mu.Unlock()
		return r
	}
	s.mu.Unlock()
	var r transferResult
	var origins []string
	for _, ds := range s.q.Datasets {
		f, t, counted := s.transfer(ds, to)
		r.f.merge(f)
		// Who gets the data is judged whether or not it moves.
		af, given := s.access(ds)
		r.f.merge(af)
		if t != nil {
			r.transfers = append(r.transfers, *t)
		}
		origins = addNew(addNew(origins, counted...), given...)
	}
	if len(origins) > 0 && s.q.Exports == nil {
		r.f.adv = append(r.f.adv, jobFilesOnly(origins))
	}
	s.mu.Lock()
	s.transfers[to] = r
	s.mu.Unlock()
	return r
}

// access evaluates the access-scope rules on one dataset, once per
// session: whether the organisation running the job may be given the data
// at all. The verdict depends on the dataset and the query (organisation,
// job, date, and what the ledger says it was given before), not on where
// the data goes or whether it moves, so every destination country shares
// it. It returns the origins whose totals its rules counted.
func (s *Session) access(ds *catalog.Dataset) (findings, []string) {
	if ds == nil || unknownClass(ds) != "" {
		// transfer reports the missing dataset, and denies one whose
		// facts the rules cannot judge (or are over the bound, which
		// the access rules would read as they are, unmetered).
		return findings{}, nil
	}
	s.mu.Lock()
	r, ok := s.accessBy[ds]
	s.mu.Unlock()
	if ok {
		return r.f, r.origins
	}
	act := s.activation(map[string]any{"dataset": s.datasetFacts(ds)})
	for _, c := range s.e.rules {
		if c.Scope != ScopeAccess {
			continue
		}
		// Each rule gets its own ledger, so its finding shows the totals
		// it was given.
		led := &ledgerVal{s: s}
		s.evalRule(c, ledgerAct{act, led}, &r.f)
		r.origins = addNew(r.origins, led.origins()...)
	}
	s.mu.Lock()
	if s.accessBy == nil {
		s.accessBy = map[*catalog.Dataset]accessResult{}
	}
	s.accessBy[ds] = r
	s.mu.Unlock()
	return r.f, r.origins
}

// accessResult is what the access rules found on one dataset, and the
// origins whose totals they counted.
type accessResult struct {
	f       findings
	origins []string
}

// transfer evaluates moving one dataset to a country. It returns no
// Transfer when the data is already there, and the origins whose
// cumulative volumes its rules counted.
func (s *Session) transfer(ds *catalog.Dataset, to string) (findings, *Transfer, []string) {
	var f findings
	if ds == nil {
		f.deny = append(f.deny, engineFinding("a dataset of the query is missing"))
		return f, nil, nil
	}
	if msg := unknownClass(ds); msg != "" {
		f.deny = append(f.deny, engineFinding(msg))
		return f, nil, nil
	}
	from, err := s.fromCountry(ds)
	if err != nil {
		f.deny = append(f.deny, engineFinding(err.Error()))
		return f, nil, nil
	}
	for _, iso := range []string{ds.Spec.Origin, from, to} {
		if _, ok := s.q.Countries[iso]; !ok {
			f.deny = append(f.deny, engineFinding(fmt.Sprintf("dataset %s: country %q is not in the country table, so the transfer rules that apply cannot be determined", ds.Metadata.Name, iso)))
			return f, &Transfer{Dataset: ds.Metadata.Name, From: from, To: to}, nil
		}
	}
	if from == to {
		return f, nil, nil
	}
	act := s.activation(map[string]any{"dataset": s.datasetFacts(ds), "transfer": s.transferFacts(from, to)})
	var rf findings
	var origins []string
	for _, c := range s.e.rules {
		if c.Scope != ScopeTransfer {
			continue
		}
		// Each rule gets its own ledger, so its finding shows the totals
		// it was given.
		led := &ledgerVal{s: s}
		s.evalRule(c, ledgerAct{act, led}, &rf)
		origins = addNew(origins, led.origins()...)
	}
	t := &Transfer{Dataset: ds.Metadata.Name, From: from, To: to}
	if len(rf.deny) == 0 {
		t.Basis = BasisNoneRequired
		if len(rf.bases) > 0 {
			t.Basis = strings.Join(rf.bases, ",")
		}
	}
	f.merge(rf)
	return f, t, origins
}

// elsewhere reports whether b is a as it stands at another place: the
// same dataset in everything but spec.location.
func elsewhere(a, b *catalog.Dataset) bool {
	moved := b.Spec
	moved.Location = a.Spec.Location
	return a.Metadata.Name == b.Metadata.Name && reflect.DeepEqual(a.Spec, moved)
}

// EvaluateTransfer says whether one dataset may move to a country on the
// query's date, under which basis, and with which obligations. Only
// transfer rules (when the data moves) and access rules (always: the
// organisation gets the data wherever it is staged) run; data staging asks
// this before moving bytes. The engine's findings on the organisation are
// included (an undetermined screening denies here too).
func (e *Engine) EvaluateTransfer(q Query, ds *catalog.Dataset, toCountry string) Decision {
	return e.EvaluateTransferContext(context.Background(), q, ds, toCountry)
}

// EvaluateTransferContext is EvaluateTransfer with a context that stops
// (and fails closed) evaluations still running when it is done.
func (e *Engine) EvaluateTransferContext(ctx context.Context, q Query, ds *catalog.Dataset, toCountry string) Decision {
	if q.AsOf.IsZero() || q.Countries == nil {
		return decide(findings{deny: []Finding{engineFinding("query has no as-of date or country table")}}, nil)
	}
	msg := datasetsProblem(q.Datasets, maxQueryDatasets)
	if ds != nil && !slices.Contains(q.Datasets, ds) {
		// The dataset moving is one of this query's planned moves, or one
		// of its datasets as it stands elsewhere (a checkpoint's move asks
		// about each of its job's datasets placed at the checkpoint's
		// site): it is judged in that one's place, not beside it, which
		// would count its subjects twice and name it twice.
		// Only where it stands may differ: another dataset under the name
		// would have its facts judged in place of the query's, which may
		// be the stricter.
		list := append([]*catalog.Dataset{}, q.Datasets...)
		if i := slices.IndexFunc(list, func(d *catalog.Dataset) bool { return d != nil && d.Metadata.Name == ds.Metadata.Name }); i >= 0 {
			if !elsewhere(list[i], ds) && msg == "" {
				msg = fmt.Sprintf("dataset %s asked about differs from the query's dataset of that name in more than where it is: name each dataset once", ds.Metadata.Name)
			}
			list[i] = ds
		} else {
			list = append(list, ds)
		}
		q.Datasets = list
		if msg == "" {
			msg = datasetsProblem(q.Datasets, maxQueryDatasets+1)
		}
	}
	if msg == "" && len(toCountry) > maxFactSize {
		// The country the data goes to is a site's (Session.Evaluate
		// bounds it as site.country, oversizedSite); the rules read it
		// as transfer.to.
		msg = fmt.Sprintf("transfer.to is %d bytes, more than the %d the rules' cost is bounded for", len(toCountry), maxFactSize)
	}
	if msg != "" {
		return decide(findings{deny: []Finding{engineFinding(msg)}}, nil)
	}
	s := e.newSession(ctx, q)
	var f findings
	if q.Org != nil {
		f.merge(s.orgFindings())
	}
	// The transfer and access rules read the organisation and the job as
	// the candidate rules do: a fact over the bound denies here too, and
	// no rule runs on it (Session.oversized).
	if big := s.factProblems(); len(big) > 0 {
		for _, msg := range big {
			f.deny = append(f.deny, engineFinding(msg))
		}
		return decide(f, nil)
	}
	rf, t, origins := s.transfer(ds, toCountry)
	f.merge(rf)
	// Staging gives the organisation the data at the site even when it
	// does not leave its country: the access rules judge that.
	af, given := s.access(ds)
	f.merge(af)
	origins = addNew(origins, given...)
	if len(origins) > 0 && q.Exports == nil {
		f.adv = append(f.adv, jobFilesOnly(origins))
	}
	var tr []Transfer
	if t != nil {
		tr = []Transfer{*t}
	}
	return decide(f, tr)
}

// transferResult is what moving the query's datasets to one country gives.
type transferResult struct {
	f         findings
	transfers []Transfer
}

// addNew appends to dst the strings of src it does not hold yet.
func addNew(dst []string, src ...string) []string {
	for _, x := range src {
		if !contains(dst, x) {
			dst = append(dst, x)
		}
	}
	return dst
}
