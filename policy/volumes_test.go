package policy

import (
	"context"
	"errors"
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
}

// ledgerRows is an in-memory Exports for tests of the engine (the
// transfer package tests its ledger-backed Exports against a real ledger).
type ledgerRows []ledgerRow

func (l ledgerRows) Exported(_ context.Context, tenant string, orgs []string, origin string, since, until catalog.Date) ([]Export, error) {
	var out []Export
	for _, r := range l {
		d := catalog.MustDate(r.Date)
		if r.Origin == origin && slices.Contains(orgs, r.Org) && !d.Before(since) && !d.After(until) {
			out = append(out, Export{Org: r.Org, Dataset: r.Dataset, Class: r.Class, Subjects: r.Subjects})
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
