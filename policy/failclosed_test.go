package policy

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
)

// TestFailClosed checks that whatever cannot be determined denies, naming
// what was missing.
func TestFailClosed(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	cases := []struct {
		name     string
		org      string
		site     string
		pool     int
		datasets []string
		noAcc    bool
		rule     string // the rule (or EngineRule) that must deny
		mention  string // text the denial must contain
	}{
		{name: "unknown site country", org: "us-lab", site: "xx-unknown-1", rule: EngineRule, mention: `country "ZZ" is not in the country table`},
		{name: "accelerator not in catalog", org: "us-lab", site: "sg-1", noAcc: true, rule: EngineRule, mention: "cannot be classified"},
		{name: "unclassified accelerator at a D:5 site", org: "cn-lab", site: "cn-hangzhou-1", pool: 7, rule: "us-ear-3a090-destination-d5", mention: "definition eccn could not be computed"},
		{name: "acquisition date missing at a D:5 site", org: "cn-lab", site: "cn-hangzhou-1", pool: 6, rule: "us-ear-3a090-destination-d5", mention: "fact pool.acquired is not known"},
		{name: "pool owner organisation unknown", org: "us-lab", site: "my-johor-sub", pool: 1, rule: "us-ear-3a090-hq", mention: "is not known"},
		{name: "dataset location unknown", org: "eu-lab", site: "sg-1", datasets: []string{"lost-location"}, rule: EngineRule, mention: `location "nowhere-9" is not a known site`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := e.Session(w.query(t, "2025-07-20", c.org, jobSpec{}, 1e21, c.datasets...))
			if err != nil {
				t.Fatal(err)
			}
			site, pool, acc := w.candidate(t, c.site, c.pool)
			if c.noAcc {
				acc = nil
			}
			d := s.Evaluate(site, pool, acc)
			if d.Allowed {
				t.Fatalf("allowed although something could not be determined: %+v", d)
			}
			f := findRule(d.Denials, c.rule)
			if f == nil {
				t.Fatalf("no denial by %s: %+v", c.rule, d.Denials)
			}
			if !strings.Contains(f.Message, c.mention) {
				t.Errorf("denial does not say what was missing (%q): %q", c.mention, f.Message)
			}
		})
	}
	t.Run("unknown organisation headquarters", func(t *testing.T) {
		q := w.query(t, "2025-07-20", "", jobSpec{}, 1e21)
		q.Org = &catalog.Organization{Metadata: catalog.Metadata{Name: "nowhere-lab"}, Spec: catalog.OrganizationSpec{Headquarters: "ZZ"}}
		s, err := e.Session(q)
		if err != nil {
			t.Fatal(err)
		}
		d := s.Evaluate(w.candidate(t, "de-frankfurt-1", 0))
		if d.Allowed || findRule(d.Denials, EngineRule) == nil {
			t.Fatalf("want an engine denial for an unknown HQ country: %+v", d)
		}
	})
	t.Run("no organisation", func(t *testing.T) {
		s, err := e.Session(w.query(t, "2025-07-20", "", jobSpec{}, 1e21))
		if err != nil {
			t.Fatal(err)
		}
		if d := s.Evaluate(w.candidate(t, "de-frankfurt-1", 0)); d.Allowed {
			t.Fatalf("allowed without an organisation: %+v", d)
		}
	})
	t.Run("no as-of date", func(t *testing.T) {
		q := w.query(t, "2025-07-20", "us-lab", jobSpec{}, 1e21)
		q.AsOf = catalog.Date{}
		if _, err := e.Session(q); err == nil {
			t.Fatal("a session without a date must be refused")
		}
	})
}

// TestRuntimeErrorDenies loads a user rule whose condition fails at run
// time: a deny or obligation rule denies, an advisory one only advises.
func TestRuntimeErrorDenies(t *testing.T) {
	dir := t.TempDir()
	pack := `apiVersion: meridian.dev/v1alpha1
kind: RulePack
metadata: {name: broken}
rules:
  - id: broken-obligation
    jurisdiction: ORG
    kind: org-policy
    effect: obligation
    effectiveFrom: 2020-01-01
    enforcement: in-force
    confidence: confirmed
    sources: [test]
    message: "{site.country}"
    condition: int(site.country) > 0
  - id: broken-advisory
    jurisdiction: ORG
    kind: org-policy
    effect: advisory
    effectiveFrom: 2020-01-01
    enforcement: in-force
    confidence: confirmed
    sources: [test]
    message: "{site.country}"
    condition: int(site.country) > 0
`
	if err := os.WriteFile(filepath.Join(dir, "broken.yaml"), []byte(pack), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := New(Options{Dirs: []string{dir}, NoBuiltin: true})
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	s, err := e.Session(w.query(t, "2025-07-20", "us-lab", jobSpec{}, 1e21))
	if err != nil {
		t.Fatal(err)
	}
	d := s.Evaluate(w.candidate(t, "de-frankfurt-1", 0))
	if d.Allowed || findRule(d.Denials, "broken-obligation") == nil {
		t.Errorf("a failing obligation rule must deny: %+v", d)
	}
	if f := findRule(d.Advisories, "broken-advisory"); f == nil || !strings.Contains(f.Message, "could not determine") {
		t.Errorf("a failing advisory rule must stay an advisory that says so: %+v", d)
	}
}

// TestUnconfirmedFacts: a denial that holds only because of an accelerator
// fact the catalog marks unverified (status U) advises instead, naming the
// fact; a denial that holds without it stays a denial.
func TestUnconfirmedFacts(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	num := func(v float64, status string) catalog.Fact { return catalog.Fact{Value: &v, Status: status} }
	cases := []struct {
		name    string
		acc     *catalog.Accelerator
		deny    bool
		mention string
	}{
		{"classified .a only by a PD from an unverified die area",
			&catalog.Accelerator{ID: "test-mid-chip", Origin: "US", TPP: num(3000, "D"), DieAreaMM2: num(461, "U"), PerformanceDensity: num(6.5, "D")},
			false, "[relies on unconfirmed acc.pd]"},
		{"classified .a by TPP alone, die area unverified",
			&catalog.Accelerator{ID: "test-big-chip", Origin: "US", TPP: num(15832, "D"), DieAreaMM2: num(814, "U"), PerformanceDensity: num(19.45, "D")},
			true, ""},
		{"TPP itself unverified",
			&catalog.Accelerator{ID: "test-rumoured-chip", Origin: "US", TPP: num(9000, "U"), PerformanceDensity: num(10, "D")},
			false, "acc.tpp"},
	}
	s, err := e.Session(w.query(t, "2025-07-20", "us-lab", jobSpec{}, 1e21))
	if err != nil {
		t.Fatal(err)
	}
	site, pool, _ := w.candidate(t, "cn-hangzhou-1", 1)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := s.Evaluate(site, pool, c.acc)
			denied := findRule(d.Denials, "us-ear-3a090-destination-d5") != nil
			if denied != c.deny {
				t.Fatalf("denied=%v, want %v: %+v", denied, c.deny, d)
			}
			if !c.deny {
				f := findRule(d.Advisories, "us-ear-3a090-destination-d5")
				if f == nil || f.Confidence != Unconfirmed || !strings.Contains(f.Message, c.mention) {
					t.Fatalf("want an unconfirmed advisory mentioning %q: %+v", c.mention, d.Advisories)
				}
			}
		})
	}
}

// TestEngineFindingsNameTheirSourceOnce: a line that prints a finding's
// text and then its source (a staging's refusal, plan's explanation) names
// the source once for the engine's own findings, as for a rule's. The
// fail-closed denial's message cited "Meridian fails closed…" as its
// source and the finding "Meridian policy engine", and such lines printed
// "(source: Meridian fails closed…) (source: Meridian policy engine)".
func TestEngineFindingsNameTheirSourceOnce(t *testing.T) {
	for _, f := range []Finding{EngineFinding("country \"ZZ\" is not in the country table"), jobFilesOnly([]string{"SG"})} {
		if n := strings.Count(f.Message, "(source: "); n != 1 {
			t.Errorf("%s: the message names %d sources: %q", f.Rule, n, f.Message)
		}
		line := fmt.Sprintf("rule %s: %s (source: %s)", f.Rule, f.Text(), f.Source)
		if n := strings.Count(line, "(source: "); n != 1 {
			t.Errorf("%s: a finding's line names %d sources: %q", f.Rule, n, line)
		}
		if f.Rule == EngineRule && !strings.Contains(line, "Meridian fails closed when a needed fact is missing (source: Meridian policy engine)") {
			t.Errorf("the fail-closed denial's line: %q", line)
		}
	}
}

// A definition that cannot be computed is left out of def; a rule whose
// condition tests for it (has(def.x), 'x' in def), directly or through a
// definition that does, read its absence as false and the candidate was
// allowed. Every rule that reads a failed definition now denies, naming it.
func TestFailedDefinitionDenies(t *testing.T) {
	defs := "definitions:\n" +
		"  - name: boom\n    expr: site.country == 'SG' && int(site.country) > 0\n    source: test\n" +
		"  - name: relay\n    expr: has(def.boom) && def.boom\n    source: test\n" +
		"rules:\n"
	w := loadTestWorld(t)
	for _, c := range []struct{ cond, failed string }{
		{"has(def.boom) && def.boom", "boom"}, {"'boom' in def && def.boom", "boom"}, {"def.boom", "boom"},
		{"def.relay", "relay"}, {"has(def.relay) && def.relay", "relay"},
	} {
		cond := c.cond
		t.Run(cond, func(t *testing.T) {
			pack := strings.Replace(goodRule, "rules:\n", defs, 1)
			pack = strings.Replace(pack, "condition: site.country == 'SG'", "condition: \""+cond+"\"", 1)
			e, err := New(Options{NoBuiltin: true, Files: []File{{Name: "s.yaml", Data: []byte(pack)}}})
			if err != nil {
				t.Fatal(err)
			}
			s, err := e.Session(w.query(t, "2025-07-20", "us-lab", jobSpec{}, 0))
			if err != nil {
				t.Fatal(err)
			}
			site, pool, acc := w.candidate(t, "sg-1", 0)
			for _, d := range []Decision{s.Evaluate(site, pool, acc), s.evaluate(site, pool, acc)} {
				f := findRule(d.Denials, "r1")
				if d.Allowed || f == nil || !strings.Contains(f.Message, "definition "+c.failed+" could not be computed") {
					t.Errorf("a rule reading a definition that failed: %+v", d)
				}
			}
		})
	}
}
