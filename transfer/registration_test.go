package transfer

import (
	"context"
	"slices"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
)

// TestNameRegisteredAgainCounts stages a 600,000-person dataset from CN
// through the real policy engine; the tenant then registers the name
// again for 500,000 other people (the dataset deleted and registered
// anew, or `apply --update` with new contents). Its export must count
// 1,100,000 people in the year, which needs a security assessment: the
// ledger's entries matched the dataset by name, and only the larger group
// (600,000) counted. The same registration staged again adds nobody.
func TestNameRegisteredAgainCounts(t *testing.T) {
	eng, countries := builtinLaw(t)
	lab := &catalog.Organization{Metadata: catalog.Metadata{Name: "lab"}, Spec: catalog.OrganizationSpec{Headquarters: "CN"}}
	f := newFixture(t, 2, 64<<10, "")
	f.ds.Spec.Subjects = 600000
	st := f.stager()
	st.Law = eng
	req := f.request()
	req.Query = policy.Query{AsOf: catalog.MustDate("2026-03-01"), Countries: countries, Org: lab, Exports: FileLedgerExports(f.ledger.Path)}
	if _, err := st.Stage(context.Background(), req); err != nil {
		t.Fatalf("first 600,000 of the year: %v", err)
	}

	again := *f.ds
	again.Spec.Subjects = 500000
	q := req.Query
	q.Datasets = nil
	d := eng.EvaluateTransfer(q, &again, "MY")
	f1 := findDenial(d, "cn-cbdf-2024-assessment")
	if f1 == nil {
		t.Fatalf("500,000 other people under a name that exported 600,000 must need an assessment: %+v", d)
	}
	if !strings.Contains(f1.Message, "1100000 personal") {
		t.Errorf("the denial must count both registrations: %q", f1.Message)
	}
	if d := eng.EvaluateTransfer(q, f.ds, "MY"); !d.Allowed {
		t.Fatalf("staging the same registration again must add nobody: %+v", d.Denials)
	}
}

// TestExportsKeepRegistrations: both ledger readers report one export per
// registration of a name (the larger record of each), and entries
// without one apart, as before.
func TestExportsKeepRegistrations(t *testing.T) {
	ents := []Entry{
		{Dataset: "a", Organization: "lab", Origin: "CN", To: "SG", AsOf: "2026-02-01", Classification: "personal", Subjects: 10, Registration: "r1"},
		{Dataset: "a", Organization: "lab", Origin: "CN", To: "SG", AsOf: "2026-03-01", Classification: "personal", Subjects: 7, Registration: "r2"},
		{Dataset: "a", Organization: "lab", Origin: "CN", To: "SG", AsOf: "2026-03-02", Classification: "personal", Subjects: 12, Registration: "r1"},
		{Dataset: "a", Organization: "lab", Origin: "CN", To: "SG", AsOf: "2026-01-05", Classification: "personal", Subjects: 4},
	}
	want := []policy.Export{
		{Org: "lab", Dataset: "a", Class: "personal", Subjects: 4},
		{Org: "lab", Dataset: "a", Class: "personal", Subjects: 12, Registration: "r1"},
		{Org: "lab", Dataset: "a", Class: "personal", Subjects: 7, Registration: "r2"},
	}
	since, until := catalog.MustDate("2026-01-01"), catalog.MustDate("2026-12-31")
	l := LedgerExports{Entries: func(context.Context, string) ([]Entry, error) { return ents, nil }}
	got, err := l.Exported(context.Background(), "", []string{"lab"}, "CN", since, until)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b policy.Export) int { return strings.Compare(a.Registration, b.Registration) })
	if !slices.Equal(got, want) {
		t.Errorf("ledger: got %+v, want %+v", got, want)
	}
	m := &memRecords{}
	for _, e := range ents {
		m.add(t, "", KindTransfer, e)
	}
	got, err = NewExportIndex(m.read).Exported(context.Background(), "", []string{"lab"}, "CN", since, until)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("index: got %+v, want %+v", got, want)
	}
}

// TestSwappedContentsCountAgain stages a 600,000-person dataset from CN
// under its sealed register record; the tenant then swaps the contents in
// place for 600,000 other people with the same head count, size and store
// (`apply --update` changing another field, a new sealed record). The
// digest of the two registrations is one, so counted by it the law saw
// 600,000 people once when 1,200,000 crossed, under the 1,000,000 that
// needs an assessment. Counted by sealed record they are two; the same
// record staged again still adds nobody, and a query without records (a
// plan without a server) counts the digest as any one of them, as before.
func TestSwappedContentsCountAgain(t *testing.T) {
	eng, countries := builtinLaw(t)
	lab := &catalog.Organization{Metadata: catalog.Metadata{Name: "lab"}, Spec: catalog.OrganizationSpec{Headquarters: "CN"}}
	f := newFixture(t, 2, 64<<10, "")
	f.ds.Spec.Subjects = 600000
	name := f.ds.Metadata.Name
	st := f.stager()
	st.Law = eng
	req := f.request()
	req.Query = policy.Query{AsOf: catalog.MustDate("2026-03-01"), Countries: countries, Org: lab, Exports: FileLedgerExports(f.ledger.Path),
		Registrations: map[string]string{name: policy.SealedRegistration(f.ds, 5)}}
	if _, err := st.Stage(context.Background(), req); err != nil {
		t.Fatalf("first 600,000 of the year: %v", err)
	}
	_, ents, err := ReadFileLedger(f.ledger.Path, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) == 0 || !strings.HasPrefix(ents[len(ents)-1].Registration, policy.SealedRegistration(f.ds, 5)+"#") {
		t.Errorf("the ledger must record the sealed registration staged, with its contents: %+v", ents)
	}

	swapped := *f.ds // the same digest: name, origin, class, people, size, store
	if policy.DatasetRegistration(&swapped) != policy.DatasetRegistration(f.ds) {
		t.Fatal("the swapped contents must have the first's digest")
	}
	q := req.Query
	q.Datasets = nil
	q.Registrations = map[string]string{name: policy.SealedRegistration(&swapped, 9)}
	d := eng.EvaluateTransfer(q, &swapped, "MY")
	f1 := findDenial(d, "cn-cbdf-2024-assessment")
	if f1 == nil {
		t.Fatalf("600,000 other people under a new sealed record must add to the 600,000 exported: %+v", d)
	}
	if !strings.Contains(f1.Message, "1200000 personal") {
		t.Errorf("the denial must count both registrations: %q", f1.Message)
	}
	q.Registrations = map[string]string{name: policy.SealedRegistration(f.ds, 5)}
	if d := eng.EvaluateTransfer(q, f.ds, "MY"); !d.Allowed {
		t.Errorf("the same sealed registration staged again must add nobody: %+v", d.Denials)
	}
	q.Registrations = nil
	if d := eng.EvaluateTransfer(q, f.ds, "MY"); !d.Allowed {
		t.Errorf("a query without records counts the digest as one of its registrations: %+v", d.Denials)
	}
	// A record naming another digest's registration is not this dataset's.
	q.Registrations = map[string]string{name: "0123@9"}
	if d := eng.EvaluateTransfer(q, f.ds, "MY"); !d.Allowed {
		t.Errorf("a record of another digest must not name the dataset's registration: %+v", d.Denials)
	}
}
