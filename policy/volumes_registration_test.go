package policy

import (
	"context"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
)

// registeredRows is ledgerRows whose records carry the registration of
// the dataset they exported, as the transfer ledger's newer records do.
type registeredRows []struct {
	ledgerRow
	registration string
}

func (l registeredRows) Exported(ctx context.Context, tenant string, orgs []string, origin string, since, until catalog.Date) ([]Export, error) {
	var out []Export
	for _, r := range l {
		xs, _ := ledgerRows{r.ledgerRow}.Exported(ctx, tenant, orgs, origin, since, until)
		for _, x := range xs {
			x.Registration = r.registration
			out = append(out, x)
		}
	}
	return out, nil
}

// TestNameReusedForOtherPeople: a dataset name registered again for other
// people of the same class (the first deleted and the name registered
// anew, or `apply --update` with new contents) is another dataset. China's
// threshold counts the people sent out in the year: 600,000 exported under
// the name before and 500,000 under it now are 1.1 million, which needs
// an assessment; counted by name, only the larger group (600,000) counted
// and the tenant stayed under the threshold by reusing the name. The same
// registration exported again still adds nobody, and a record written
// before registrations were kept counts by name, as it did.
func TestNameReusedForOtherPeople(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	first := w.datasets["cn-users-600k-a"]
	again := *first
	again.Spec.Subjects = 500000 // other people, under the same name
	if DatasetRegistration(first) == DatasetRegistration(&again) {
		t.Fatal("two registrations of one name with other contents have one identity")
	}
	row := ledgerRow{Org: "cn-lab", Dataset: first.Metadata.Name, Origin: "CN", Class: "personal", Subjects: 600000, Date: "2025-02-01"}
	exported := func(reg string) registeredRows {
		return registeredRows{{row, reg}}
	}
	evaluate := func(x Exports) Decision {
		q := w.query(t, "2025-07-20", "cn-lab", jobSpec{}, 0)
		q.Exports = x
		q.Datasets = []*catalog.Dataset{&again}
		return e.EvaluateTransfer(q, &again, "SG")
	}

	d := evaluate(exported(DatasetRegistration(first)))
	f := findRule(d.Denials, "cn-cbdf-2024-assessment")
	if f == nil {
		t.Fatalf("600,000 exported under the name and 500,000 other people under it now must need an assessment: %+v", d)
	}
	if !strings.Contains(f.Message, "1100000 personal") {
		t.Errorf("the denial must count both registrations, 1100000: %q", f.Message)
	}

	// The registration exported before, exported again: nobody new.
	if d := evaluate(exported(DatasetRegistration(&again))); !d.Allowed {
		t.Errorf("the same registration exported again must add nobody: %+v", d.Denials)
	}
	// A record without a registration counts by name, as before: the
	// larger group.
	if d := evaluate(exported("")); !d.Allowed {
		t.Errorf("a record without a registration must count by name: %+v", d.Denials)
	}
	// Two earlier registrations and a record without one: the record
	// without one counts only when it has more people than they together.
	two := registeredRows{{row, "r1"}, {ledgerRow{Org: "cn-lab", Dataset: first.Metadata.Name, Origin: "CN", Class: "personal", Subjects: 300000, Date: "2025-03-01"}, "r2"},
		{ledgerRow{Org: "cn-lab", Dataset: first.Metadata.Name, Origin: "CN", Class: "personal", Subjects: 700000, Date: "2025-01-10"}, ""}}
	d = evaluate(two)
	if f := findRule(d.Denials, "cn-cbdf-2024-assessment"); f == nil || !strings.Contains(f.Message, "1400000 personal") {
		t.Errorf("600,000 + 300,000 + 500,000 under three registrations must count 1400000: %+v", d)
	}
}

// TestSealedRegistrationsOfOneDigest: contents swapped under a name with
// the same head count, size and store have one digest
// (DatasetRegistration) but each its own sealed register record
// (SealedRegistration). 600,000 exported under one record and 600,000
// under another now are 1,200,000 people, which needs an assessment; by
// the digest they were 600,000. A record by the digest alone (written
// before records were kept) may be any of its sealed registrations: it
// counts as one of them, never as fewer people than it did.
func TestSealedRegistrationsOfOneDigest(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	ds := w.datasets["cn-users-600k-a"]
	name := ds.Metadata.Name
	digest := DatasetRegistration(ds)
	row := ledgerRow{Org: "cn-lab", Dataset: name, Origin: "CN", Class: "personal", Subjects: 600000, Date: "2025-02-01"}
	evaluate := func(x Exports, regs map[string]string) Decision {
		q := w.query(t, "2025-07-20", "cn-lab", jobSpec{}, 0)
		q.Exports = x
		q.Datasets = []*catalog.Dataset{ds}
		q.Registrations = regs
		return e.EvaluateTransfer(q, ds, "SG")
	}
	now := map[string]string{name: SealedRegistration(ds, 9)}
	counts := func(d Decision, want string) bool {
		f := findRule(d.Denials, "cn-cbdf-2024-assessment")
		return f != nil && strings.Contains(f.Message, want)
	}

	if d := evaluate(registeredRows{{row, SealedRegistration(ds, 5)}}, now); !counts(d, "1200000 personal") {
		t.Errorf("two sealed records of one digest must count 1200000: %+v", d)
	}
	if d := evaluate(registeredRows{{row, SealedRegistration(ds, 9)}}, now); !d.Allowed {
		t.Errorf("the same sealed record exported again must add nobody: %+v", d.Denials)
	}
	if d := evaluate(registeredRows{{row, digest}}, now); !d.Allowed {
		t.Errorf("a record by the digest alone must count as one of its sealed registrations: %+v", d.Denials)
	}
	if d := evaluate(registeredRows{{row, SealedRegistration(ds, 5)}}, nil); !d.Allowed {
		t.Errorf("a query without records must count the digest as one of its sealed registrations: %+v", d.Denials)
	}
	three := registeredRows{{row, SealedRegistration(ds, 5)}, {row, digest}, {row, SealedRegistration(ds, 7)}}
	if d := evaluate(three, now); !counts(d, "1800000 personal") {
		t.Errorf("three sealed records and one by the digest must count 1800000: %+v", d)
	}
	// A record by the digest with more people than its sealed ones
	// together counts alone, as the digest counted before.
	big := ledgerRow{Org: "cn-lab", Dataset: name, Origin: "CN", Class: "personal", Subjects: 1500000, Date: "2025-01-10"}
	if d := evaluate(registeredRows{{big, digest}}, now); !counts(d, "1500000 personal") {
		t.Errorf("a record by the digest larger than the sealed ones must count alone, 1500000: %+v", d)
	}
}

// TestStagedContentsOfOneRegistration: contents swapped in the store with
// no new register record (one sealed registration) are other people.
// 600,000 staged under one contents and 600,000 under other contents of
// the same sealed record are 1,200,000, which needs an assessment; by the
// sealed record alone they were 600,000. The same contents again add
// nobody, and a record without contents (written before they were kept,
// or a plan that has not read the store) counts as any one of them.
func TestStagedContentsOfOneRegistration(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	ds := w.datasets["cn-users-600k-a"]
	name := ds.Metadata.Name
	sealed := SealedRegistration(ds, 5)
	row := ledgerRow{Org: "cn-lab", Dataset: name, Origin: "CN", Class: "personal", Subjects: 600000, Date: "2025-02-01"}
	evaluate := func(x Exports, reg string) Decision {
		q := w.query(t, "2025-07-20", "cn-lab", jobSpec{}, 0)
		q.Exports = x
		q.Datasets = []*catalog.Dataset{ds}
		q.Registrations = map[string]string{name: reg}
		return e.EvaluateTransfer(q, ds, "SG")
	}
	counts := func(d Decision, want string) bool {
		f := findRule(d.Denials, "cn-cbdf-2024-assessment")
		return f != nil && strings.Contains(f.Message, want)
	}
	a, b := StagedRegistration(sealed, "aaaa"), StagedRegistration(sealed, "bbbb")
	if d := evaluate(registeredRows{{row, a}}, b); !counts(d, "1200000 personal") {
		t.Errorf("other contents of one sealed record must count 1200000: %+v", d)
	}
	if d := evaluate(registeredRows{{row, a}}, a); !d.Allowed {
		t.Errorf("the same contents staged again must add nobody: %+v", d.Denials)
	}
	for _, old := range []string{sealed, DatasetRegistration(ds)} {
		if d := evaluate(registeredRows{{row, old}}, a); !d.Allowed {
			t.Errorf("a record of %q without contents must count as one of its contents: %+v", old, d.Denials)
		}
		if d := evaluate(registeredRows{{row, a}}, old); !d.Allowed {
			t.Errorf("a plan of %q without contents must count as one of them: %+v", old, d.Denials)
		}
		if d := evaluate(registeredRows{{row, old}, {row, a}}, b); !counts(d, "1200000 personal") {
			t.Errorf("a third contents beside %q and one staged must count 1200000: %+v", old, d)
		}
	}
	// A digest staged without a sealed record has contents too.
	if d := evaluate(registeredRows{{row, StagedRegistration(DatasetRegistration(ds), "aaaa")}}, StagedRegistration(DatasetRegistration(ds), "bbbb")); !counts(d, "1200000 personal") {
		t.Errorf("other contents of one digest must count 1200000: %+v", d)
	}
}
