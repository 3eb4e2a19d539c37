package policy

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
)

// ledgerRow is one earlier export, as a transfer ledger records it.
type ledgerRow struct {
	Org      string `yaml:"org"`
	Dataset  string `yaml:"dataset"`
	Origin   string `yaml:"origin"`
	Class    string `yaml:"class"`
	Subjects int64  `yaml:"subjects"`
	Date     string `yaml:"date"`
	// Within: staged in its origin country, not exported.
	Within bool `yaml:"within"`
}

// ledgerRows is an in-memory Exports for tests of the engine (the
// transfer package tests its ledger-backed Exports against a real ledger).
type ledgerRows []ledgerRow

func (l ledgerRows) Exported(_ context.Context, tenant string, orgs []string, origin string, since, until catalog.Date) ([]Export, error) {
	var out []Export
	for _, r := range l {
		d := catalog.MustDate(r.Date)
		if r.Origin == origin && slices.Contains(orgs, r.Org) && !d.Before(since) && !d.After(until) {
			out = append(out, Export{Org: r.Org, Dataset: r.Dataset, Class: r.Class, Subjects: r.Subjects, Within: r.Within})
		}
	}
	return out, nil
}

type failingExports struct{}

func (failingExports) Exported(context.Context, string, []string, string, catalog.Date, catalog.Date) ([]Export, error) {
	return nil, errors.New("audit store unreachable")
}

// TestVolumesOverTime: China's thresholds count a calendar year of
// exports by the exporter's group, each dataset once.
func TestVolumesOverTime(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	a := ledgerRow{Org: "cn-lab", Dataset: "cn-users-600k-a", Origin: "CN", Class: "personal", Subjects: 600000, Date: "2025-02-01"}
	cases := []struct {
		name    string
		asOf    string
		ledger  ledgerRows
		dataset string
		deny    string // the rule that must deny, "" for allowed
	}{
		{"first 600,000 of the year: contract band", "2025-07-20", ledgerRows{}, "cn-users-600k-b", ""},
		{"second 600,000 of the year: 1.2 million needs an assessment", "2025-07-20", ledgerRows{a}, "cn-users-600k-b", "cn-cbdf-2024-assessment"},
		{"the same dataset again adds nobody", "2025-07-20", ledgerRows{a}, "cn-users-600k-a", ""},
		{"an affiliate's export counts for the group", "2025-07-20", ledgerRows{{Org: "cn-lab-sister", Dataset: "sister-600k", Origin: "CN", Class: "personal", Subjects: 600000, Date: "2025-03-01"}}, "cn-users-600k-b", "cn-cbdf-2024-assessment"},
		{"another group's export does not count", "2025-07-20", ledgerRows{{Org: "other-lab", Dataset: "x", Origin: "CN", Class: "personal", Subjects: 600000, Date: "2025-03-01"}}, "cn-users-600k-b", ""},
		{"last year's export is outside the window", "2025-01-01", ledgerRows{{Org: "cn-lab", Dataset: "cn-users-600k-a", Origin: "CN", Class: "personal", Subjects: 600000, Date: "2024-12-31"}}, "cn-users-600k-b", ""},
		{"last year's export counts on its last day", "2024-12-31", ledgerRows{{Org: "cn-lab", Dataset: "cn-users-600k-a", Origin: "CN", Class: "personal", Subjects: 600000, Date: "2024-06-30"}}, "cn-users-600k-b", "cn-cbdf-2024-assessment"},
		{"an export after the as-of date does not count", "2025-07-20", ledgerRows{{Org: "cn-lab", Dataset: "cn-users-600k-a", Origin: "CN", Class: "personal", Subjects: 600000, Date: "2025-08-01"}}, "cn-users-600k-b", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := w.query(t, c.asOf, "cn-lab", jobSpec{}, 0)
			q.Exports = c.ledger
			d := e.EvaluateTransfer(q, w.datasets[c.dataset], "SG")
			if c.deny == "" {
				if !d.Allowed {
					t.Fatalf("denied: %+v", d.Denials)
				}
				return
			}
			f := findRule(d.Denials, c.deny)
			if f == nil {
				t.Fatalf("want %s to deny: %+v", c.deny, d)
			}
			if !strings.Contains(f.Message, "counted exported from CN since ") || !strings.Contains(f.Message, "1200000 personal") {
				t.Errorf("the denial does not show what it counted: %q", f.Message)
			}
			if findRule(d.Advisories, VolumesJobFilesOnly) != nil {
				t.Errorf("a plan with the ledger must not say it counted job files only")
			}
		})
	}
	t.Run("two datasets of one plan add up", func(t *testing.T) {
		s, err := e.Session(w.query(t, "2025-07-20", "cn-lab", jobSpec{}, 0, "cn-users-600k-a", "cn-users-600k-b"))
		if err != nil {
			t.Fatal(err)
		}
		d := s.Evaluate(w.candidate(t, "sg-1", 0))
		if findRule(d.Denials, "cn-cbdf-2024-assessment") == nil {
			t.Fatalf("1.2 million in one plan must need an assessment: %+v", d.Denials)
		}
		f := findRule(d.Advisories, VolumesJobFilesOnly)
		if f == nil || !strings.Contains(f.Message, "job files only") {
			t.Fatalf("a plan without the ledger must say so: %+v", d.Advisories)
		}
	})
	t.Run("an unreachable ledger fails closed", func(t *testing.T) {
		q := w.query(t, "2025-07-20", "cn-lab", jobSpec{}, 0)
		q.Exports = failingExports{}
		d := e.EvaluateTransfer(q, w.datasets["cn-users-50k"], "SG")
		if d.Allowed {
			t.Fatalf("allowed although the ledger could not be read: %+v", d)
		}
		if f := findRule(d.Denials, "cn-cbdf-2024-assessment"); f == nil || !strings.Contains(f.Message, "audit store unreachable") {
			t.Fatalf("the denial must say the ledger failed: %+v", d.Denials)
		}
	})
}

func TestOrgGroup(t *testing.T) {
	org := func(name string, aff ...string) *catalog.Organization {
		return &catalog.Organization{Metadata: catalog.Metadata{Name: name}, Spec: catalog.OrganizationSpec{Affiliates: aff}}
	}
	known := map[string]*catalog.Organization{
		"a": org("a", "b"), "b": org("b"), "c": org("c", "b"), "d": org("d"), "e": org("e", "x"),
	}
	got := OrgGroup(known["a"], known)
	if want := []string{"a", "b", "c"}; !slices.Equal(got, want) {
		t.Errorf("group of a = %v, want %v", got, want)
	}
	if got := OrgGroup(known["d"], known); !slices.Equal(got, []string{"d"}) {
		t.Errorf("group of d = %v", got)
	}
	if got := OrgGroup(known["e"], known); !slices.Equal(got, []string{"e", "x"}) {
		t.Errorf("an affiliate of another tenant keeps its name: %v", got)
	}
}

// TestBulkGivenOverTwelveMonths: the DOJ bulk-data rule counts the US data
// of the class given to the same covered person in the preceding 12
// months, across stagings, wherever each was staged. A staging is judged
// on its own dataset plus the ledger's.
func TestBulkGivenOverTwelveMonths(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	row := func(date string, within bool) ledgerRow {
		return ledgerRow{Org: "cn-lab", Dataset: "us-health-9999-a", Origin: "US", Class: "sensitive-personal", Subjects: 9999, Date: date, Within: within}
	}
	cases := []struct {
		name   string
		ledger ledgerRows
		to     string
		deny   bool
	}{
		{"staged in the US 11 months ago", ledgerRows{row("2025-08-20", true)}, "US", true},
		{"staged abroad 11 months ago", ledgerRows{row("2025-08-20", false)}, "US", true},
		{"on the first day of the 12 months", ledgerRows{row("2025-07-20", true)}, "US", true},
		{"the day before the 12 months", ledgerRows{row("2025-07-19", true)}, "US", false},
		{"the same dataset again adds nobody", ledgerRows{{Org: "cn-lab", Dataset: "us-health-9999-b", Origin: "US", Class: "sensitive-personal", Subjects: 9999, Date: "2025-08-20", Within: true}}, "US", false},
		{"another class does not add", ledgerRows{{Org: "cn-lab", Dataset: "us-users", Origin: "US", Class: "personal", Subjects: 9999, Date: "2025-08-20", Within: true}}, "US", false},
		{"to a country of concern too", ledgerRows{row("2025-08-20", true)}, "CN", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := w.query(t, "2026-07-20", "cn-lab", jobSpec{}, 0)
			q.Exports = c.ledger
			d := e.EvaluateTransfer(q, w.datasets["us-health-9999-b"], c.to)
			f := findRule(d.Denials, "us-doj-dsp-2025")
			if !c.deny {
				if f != nil {
					t.Fatalf("denied: %s", f.Message)
				}
				if findRule(d.Advisories, "us-doj-dsp-2025") == nil {
					t.Fatalf("9,999 alone is inside the band and must advise: %+v", d.Advisories)
				}
				return
			}
			if f == nil {
				t.Fatalf("19,998 in 12 months must be denied: %+v", d)
			}
			if !strings.Contains(f.Message, "given to this organisation since 2025-07-20: 19998 sensitive-personal") ||
				!strings.Contains(f.Message, "us-health-9999-a of cn-lab: 9999 sensitive-personal, ledger") {
				t.Errorf("the denial does not show what it counted: %q", f.Message)
			}
			if c.to == "CN" && findRule(d.Denials, "us-doj-dsp-2025-destination") == nil {
				t.Errorf("the destination clause counts the same 12 months: %+v", d.Denials)
			}
		})
	}
	t.Run("an unreachable ledger fails closed at home", func(t *testing.T) {
		q := w.query(t, "2026-07-20", "cn-lab", jobSpec{}, 0)
		q.Exports = failingExports{}
		d := e.EvaluateTransfer(q, w.datasets["us-health-500"], "US")
		if f := findRule(d.Denials, "us-doj-dsp-2025"); d.Allowed || f == nil || !strings.Contains(f.Message, "audit store unreachable") {
			t.Fatalf("a staging at home judged without the ledger: %+v", d)
		}
	})
	t.Run("without a server the plan counts and says so", func(t *testing.T) {
		q := w.query(t, "2026-07-20", "cn-lab", jobSpec{}, 0)
		d := e.EvaluateTransfer(q, w.datasets["us-health-9999-b"], "US")
		if !d.Allowed || findRule(d.Advisories, "us-doj-dsp-2025") == nil || findRule(d.Advisories, VolumesJobFilesOnly) == nil {
			t.Fatalf("want the band's advisory and %s: %+v", VolumesJobFilesOnly, d)
		}
	})
	t.Run("exports abroad do not count stagings at home", func(t *testing.T) {
		q := w.query(t, "2025-07-20", "cn-lab", jobSpec{}, 0)
		q.Exports = ledgerRows{{Org: "cn-lab", Dataset: "cn-users-600k-a", Origin: "CN", Class: "personal", Subjects: 600000, Date: "2025-02-01", Within: true}}
		if d := e.EvaluateTransfer(q, w.datasets["cn-users-600k-b"], "SG"); !d.Allowed {
			t.Fatalf("a staging inside China counted as an export: %+v", d.Denials)
		}
	})
}

func TestMonthsBefore(t *testing.T) {
	for _, c := range []struct {
		asOf string
		n    int
		want string
	}{
		{"2026-07-20", 12, "2025-07-20"},
		{"2026-07-20", 0, "2026-07-20"},
		{"2026-01-15", 1, "2025-12-15"},
		{"2025-03-31", 1, "2025-02-28"},
		{"2024-03-31", 1, "2024-02-29"},
		{"2025-02-28", 12, "2024-02-28"},
		{"2024-02-29", 12, "2023-02-28"},
		{"2026-12-31", 13, "2025-11-30"},
		{"2026-05-31", 100, "2018-01-31"},
	} {
		if got := monthsBefore(catalog.MustDate(c.asOf), c.n); got != c.want {
			t.Errorf("monthsBefore(%s, %d) = %s, want %s", c.asOf, c.n, got, c.want)
		}
	}
	// Out of range, the rule fails closed with an error naming the call.
	// (Of asOf, it is refused at load: TestAttackAsOfComputed.)
	pack := `apiVersion: meridian.dev/v1alpha1
kind: RulePack
metadata: {name: months}
rules:
  - id: far-back
    title: Far back
    jurisdiction: US
    kind: data-transfer
    scope: access
    effect: deny
    effectiveFrom: 2020-01-01
    enforcement: in-force
    confidence: confirmed
    sources: ["test"]
    message: too far back for {dataset.name}
    condition: monthsBefore('2026-07-20', -1) > '2020-01-01'
`
	e, err := New(Options{NoBuiltin: true, Files: []File{{Name: "m.yaml", Data: []byte(pack)}}})
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	d := e.EvaluateTransfer(w.query(t, "2026-07-20", "cn-lab", jobSpec{}, 0), w.datasets["us-health-500"], "US")
	if f := findRule(d.Denials, "far-back"); d.Allowed || f == nil || !strings.Contains(f.Message, "monthsBefore: -1 months is out of range") {
		t.Fatalf("want a fail-closed denial naming monthsBefore: %+v", d)
	}
}

// TestNegativeSubjectsFailClosed: a total adds the subjects of the
// query's datasets and of the ledger's records from one origin. A dataset
// (from a caller that did not load it through the catalog, which refuses
// it) or a ledger record with subjects below zero took people off the
// total, and 1.2 million people left China in the contract band. Either
// now denies, naming it.
func TestNegativeSubjectsFailClosed(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	a, b := w.datasets["cn-users-600k-a"], w.datasets["cn-users-600k-b"]
	offset := *a
	offset.Metadata.Name, offset.Spec.Subjects = "offset", -600000

	q := w.query(t, "2025-07-20", "cn-lab", jobSpec{}, 0)
	q.Datasets = []*catalog.Dataset{a, b, &offset}
	if d := e.EvaluateTransfer(q, b, "SG"); d.Allowed || !hasDenial(d, "dataset offset: subjects is -600000, below zero") {
		t.Errorf("staging beside a dataset of negative subjects: %+v, want a denial naming it", d)
	}
	s, err := e.Session(q)
	if err != nil {
		t.Fatal(err)
	}
	if d := s.Evaluate(w.candidate(t, "sg-1", 0)); d.Allowed || !hasDenial(d, "dataset offset: subjects is -600000") {
		t.Errorf("a candidate for a job with a dataset of negative subjects: %+v, want a denial naming it", d)
	}

	q = w.query(t, "2025-07-20", "cn-lab", jobSpec{}, 0)
	q.Exports = ledgerRows{
		{Org: "cn-lab", Dataset: "cn-users-600k-a", Origin: "CN", Class: "personal", Subjects: 600000, Date: "2025-02-01"},
		{Org: "cn-lab", Dataset: "offset", Origin: "CN", Class: "personal", Subjects: -600000, Date: "2025-03-01"},
	}
	if d := e.EvaluateTransfer(q, b, "SG"); d.Allowed || !hasDenial(d, "record of dataset offset has -600000 subjects") {
		t.Errorf("a ledger record of negative subjects: %+v, want a denial naming it", d)
	}
}

// TestOverflowingSubjectsFailClosed: subjects add up per origin, in the
// query's datasets and in the ledger's records, as int64. A dataset (from
// a caller that did not load it through the catalog, which refuses more
// people than exist) or a ledger record near the largest int64 made the
// total wrap below zero, and 1.2 million people left China as if none
// had. Either now denies, naming it.
func TestOverflowingSubjectsFailClosed(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	a, b := w.datasets["cn-users-600k-a"], w.datasets["cn-users-600k-b"]
	huge := *a
	huge.Metadata.Name, huge.Spec.Subjects = "huge", math.MaxInt64-1_000_000

	q := w.query(t, "2025-07-20", "cn-lab", jobSpec{}, 0)
	q.Datasets = []*catalog.Dataset{a, b, &huge}
	if d := e.EvaluateTransfer(q, b, "SG"); d.Allowed || !hasDenial(d, "dataset huge: subjects is 9223372036853775807, more than") {
		t.Errorf("staging beside a dataset of more subjects than people exist: %+v, want a denial naming it", d)
	}
	s, err := e.Session(q)
	if err != nil {
		t.Fatal(err)
	}
	if d := s.Evaluate(w.candidate(t, "sg-1", 0)); d.Allowed || !hasDenial(d, "dataset huge: subjects is 9223372036853775807") {
		t.Errorf("a candidate for a job with a dataset of more subjects than people exist: %+v, want a denial naming it", d)
	}

	q = w.query(t, "2025-07-20", "cn-lab", jobSpec{}, 0)
	q.Exports = ledgerRows{
		{Org: "cn-lab", Dataset: "cn-users-600k-a", Origin: "CN", Class: "personal", Subjects: 600000, Date: "2025-02-01"},
		{Org: "cn-lab", Dataset: "huge", Origin: "CN", Class: "personal", Subjects: math.MaxInt64 - 1_000_000, Date: "2025-03-01"},
	}
	if d := e.EvaluateTransfer(q, b, "SG"); d.Allowed || !hasDenial(d, "record of dataset huge has 9223372036853775807 subjects") {
		t.Errorf("a ledger record of more subjects than people exist: %+v, want a denial naming it", d)
	}
}
