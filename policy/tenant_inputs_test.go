package policy

import (
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
)

// The tests here read the law gate as a tenant whose documents are
// hostile: each gives a job, an organisation or a dataset that a rule
// should deny, spelled so that it might not (another case, a look-alike
// letter, an empty field, a date on a rule's edge), and checks that the
// placement is still denied, naming what could not be determined.

// TestTenantSpellingsOfCountriesDeny: a country written in another case,
// with a Cyrillic look-alike letter, with spaces or empty names no country
// of the table, so no rule can tell what it means: the engine denies,
// naming the field, whatever the rules would have said of the real code.
func TestTenantSpellingsOfCountriesDeny(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	spellings := []string{"cn", "Cn", "\u0421N", "CN ", " CN", "", "CHN", "C\u200bN"}
	for _, sp := range spellings {
		t.Run("hq "+sp, func(t *testing.T) {
			q := w.query(t, "2025-07-20", "", jobSpec{}, 1e21)
			q.Org = &catalog.Organization{Metadata: catalog.Metadata{Name: "lab"}, Spec: catalog.OrganizationSpec{Headquarters: sp}}
			s, err := e.Session(q)
			if err != nil {
				t.Fatal(err)
			}
			d := s.Evaluate(w.candidate(t, "sg-1", 0))
			if d.Allowed || !engineDenies(d, "headquarters country") {
				t.Fatalf("allowed or not named: %+v", d)
			}
		})
		t.Run("parent "+sp, func(t *testing.T) {
			q := w.query(t, "2025-07-20", "", jobSpec{}, 1e21)
			q.Org = &catalog.Organization{Metadata: catalog.Metadata{Name: "lab"}, Spec: catalog.OrganizationSpec{Headquarters: "SG", UltimateParentHeadquarters: sp}}
			s, err := e.Session(q)
			if err != nil {
				t.Fatal(err)
			}
			d := s.Evaluate(w.candidate(t, "sg-1", 0))
			if sp == "" {
				// No parent declared: the parent is the organisation
				// itself (catalog.Organization.ParentHQ).
				return
			}
			if d.Allowed || !engineDenies(d, "ultimate parent's headquarters") {
				t.Fatalf("allowed or not named: %+v", d)
			}
		})
		t.Run("market "+sp, func(t *testing.T) {
			s, err := e.Session(w.query(t, "2025-07-20", "us-lab", jobSpec{Markets: []string{sp}}, 1e26))
			if err != nil {
				t.Fatal(err)
			}
			d := s.Evaluate(w.candidate(t, "sg-1", 0))
			if d.Allowed || !engineDenies(d, "release market") {
				t.Fatalf("allowed or not named: %+v", d)
			}
		})
		t.Run("delivery "+sp, func(t *testing.T) {
			s, err := e.Session(w.query(t, "2025-07-20", "us-lab", jobSpec{WeightsDelivery: []string{sp}}, 1e21))
			if err != nil {
				t.Fatal(err)
			}
			d := s.Evaluate(w.candidate(t, "sg-1", 0))
			if d.Allowed || !engineDenies(d, "weights delivery country") {
				t.Fatalf("allowed or not named: %+v", d)
			}
		})
		t.Run("dataset origin "+sp, func(t *testing.T) {
			ds := *w.datasets["cn-users-2m"]
			ds.Spec.Origin = sp
			q := w.query(t, "2025-07-20", "us-lab", jobSpec{}, 1e21)
			q.Datasets = []*catalog.Dataset{&ds}
			s, err := e.Session(q)
			if err != nil {
				t.Fatal(err)
			}
			site, pool, acc := w.candidate(t, "sg-1", 0)
			for name, d := range map[string]Decision{"Evaluate": s.Evaluate(site, pool, acc), "EvaluateTransfer": e.EvaluateTransfer(q, &ds, "SG")} {
				if d.Allowed || !engineDenies(d, "is not in the country table") {
					t.Fatalf("%s: allowed or not named: %+v", name, d)
				}
			}
		})
	}
	// The blocs are written as the catalog writes them; the EU in another
	// case is no bloc and no country.
	for _, m := range []string{"eu", "Eu", "eea", "\u0415U"} {
		s, err := e.Session(w.query(t, "2025-07-20", "us-lab", jobSpec{Markets: []string{m}}, 1e26))
		if err != nil {
			t.Fatal(err)
		}
		if d := s.Evaluate(w.candidate(t, "sg-1", 0)); d.Allowed || !engineDenies(d, "release market") {
			t.Errorf("market %q: allowed or not named: %+v", m, d)
		}
	}
}

// TestTenantMarketsEUMembers: a model released in a member state is
// released in the EU, as one released in "EU" is: the compute rules on
// the EU market fire for either.
func TestTenantMarketsEUMembers(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	for _, m := range [][]string{{"EU"}, {"DE"}, {"US", "FR"}, {"EEA"}} {
		s, err := e.Session(w.query(t, "2025-09-01", "us-lab", jobSpec{Markets: m}, 5e25))
		if err != nil {
			t.Fatal(err)
		}
		if s.job["marketsEU"] != true {
			t.Errorf("markets %v: not read as the EU market", m)
		}
	}
}

// TestTenantLicenceSpellingDoesNotLift: a licence lifts the denial of the
// rule whose id it names exactly; one naming the id in another case, with
// a look-alike letter or with spaces lifts nothing, and one expired the day
// before the as-of date lifts nothing either.
func TestTenantLicenceSpellingDoesNotLift(t *testing.T) {
	w := loadTestWorld(t)
	e, err := New(Options{NoBuiltin: true, Files: []File{{Name: "l.yaml", Data: []byte(goodRule + "    liftedBy: {licence: true}\n")}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		rule, expires string
		lifts         bool
	}{
		{"r1", "", true},
		{"r1", "2025-07-20", true},
		{"r1", "2025-07-19", false},
		{"R1", "", false},
		{"r1 ", "", false},
		{"\u04331", "", false},
		{"", "", false},
	} {
		q := w.query(t, "2025-07-20", "us-lab", jobSpec{}, 1e21)
		o := *q.Org
		o.Spec.Licenses = []catalog.License{{Rule: c.rule}}
		if c.expires != "" {
			o.Spec.Licenses[0].Expires = catalog.MustDate(c.expires)
		}
		q.Org = &o
		s, err := e.Session(q)
		if err != nil {
			t.Fatal(err)
		}
		d := s.Evaluate(w.candidate(t, "sg-1", 0))
		if lifted := findRule(d.Denials, "r1") == nil; lifted != c.lifts {
			t.Errorf("licence %q expiring %q: lifted %v, want %v: %+v", c.rule, c.expires, lifted, c.lifts, d)
		}
	}
}

// TestTenantDatesOnARulesEdge: a rule is in force from its effectiveFrom
// day through the day before its effectiveUntil, whatever the day (a leap
// day, the first or last accepted year); asked about a day a rule is in
// force, it denies.
func TestTenantDatesOnARulesEdge(t *testing.T) {
	w := loadTestWorld(t)
	pack := strings.Replace(goodRule, "effectiveFrom: 2024-01-01", "effectiveFrom: 2024-02-29\n    effectiveUntil: 2028-02-29", 1)
	if pack == goodRule {
		t.Fatal("goodRule's effectiveFrom changed; update the test")
	}
	e, err := New(Options{NoBuiltin: true, Files: []File{{Name: "edge.yaml", Data: []byte(pack)}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		asOf   string
		denies bool
	}{
		{"2024-02-28", false}, {"2024-02-29", true}, {"2024-03-01", true},
		{"2028-02-28", true}, {"2028-02-29", false},
		{"1900-01-01", false}, {"2199-12-31", false},
	} {
		s, err := e.Session(w.query(t, c.asOf, "us-lab", jobSpec{}, 1e21))
		if err != nil {
			t.Fatal(err)
		}
		d := s.Evaluate(w.candidate(t, "sg-1", 0))
		if got := findRule(d.Denials, "r1") != nil; got != c.denies {
			t.Errorf("as of %s: denied by r1 %v, want %v", c.asOf, got, c.denies)
		}
	}
}

// TestAttackPersonalDataWithoutSubjects: the rules count the people whose
// data a personal dataset holds (dataset.subjects, the ledger's totals);
// a dataset of personal data that gave no count was read as one of no
// people, below every threshold, and moved where one of a single person
// may not: sensitive personal data left China with no standard contract
// (cn-cbdf-2024-contract: any sensitive personal data below 10,000). The
// catalog requires the count; a dataset that came another way is denied
// by the engine, naming the dataset and the field, for candidates and for
// staging.
func TestAttackPersonalDataWithoutSubjects(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	site, pool, acc := w.candidate(t, "sg-1", 0)
	for _, c := range []struct {
		class    string
		subjects int64
		want     string // the engine's denial; "" for the rule's
	}{
		{catalog.ClassSensitivePersonal, 1, ""},
		{catalog.ClassSensitivePersonal, 0, "dataset cn-sensitive: subjects is 0"},
		{catalog.ClassPersonal, 0, "dataset cn-sensitive: subjects is 0"},
	} {
		ds := &catalog.Dataset{Metadata: catalog.Metadata{Name: "cn-sensitive"},
			Spec: catalog.DatasetSpec{Origin: "CN", SizeBytes: 1e9, Classification: c.class, Subjects: c.subjects}}
		q := w.query(t, "2025-07-20", "us-lab", jobSpec{}, 1e21)
		q.Datasets = []*catalog.Dataset{ds}
		s, err := e.Session(q)
		if err != nil {
			t.Fatal(err)
		}
		for name, d := range map[string]Decision{"Evaluate": s.Evaluate(site, pool, acc), "EvaluateTransfer": e.EvaluateTransfer(q, ds, "SG")} {
			switch {
			case d.Allowed:
				t.Errorf("%s %s of %d people: allowed: %+v", name, c.class, c.subjects, d)
			case c.want == "" && findRule(d.Denials, "cn-cbdf-2024-contract") == nil:
				t.Errorf("%s %s of %d people: not denied by cn-cbdf-2024-contract: %+v", name, c.class, c.subjects, d)
			case c.want != "" && !engineDenies(d, c.want):
				t.Errorf("%s %s of %d people: want the engine's denial %q: %+v", name, c.class, c.subjects, c.want, d)
			}
		}
	}
}
