package policy

import (
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
)

// TestOversizedFactsDeny: the packs' cost is bounded at load for facts of
// at most maxFactSize items, and the built-in packs are not metered as
// they run. A job naming a weights-delivery country 300 times (or half a
// million, seconds of evaluation per plan), or an organisation with 300
// attributes, was judged as any other; it is denied by the engine, naming
// the fact, and its delivery rules are not run.
func TestOversizedFactsDeny(t *testing.T) {
	if catalog.MaxFactItems > maxFactSize {
		t.Fatalf("the catalog accepts lists of %d items, the engine's cost bound assumes %d", catalog.MaxFactItems, maxFactSize)
	}
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	many := make([]string, maxFactSize+44)
	for i := range many {
		many[i] = "US"
	}
	site, pool, acc := w.candidate(t, "sg-1", 0)
	base := w.query(t, "2025-07-20", "us-lab", jobSpec{}, 1e21)
	if s, err := e.Session(base); err != nil || !s.Evaluate(site, pool, acc).Allowed {
		t.Fatalf("the placement is not allowed to begin with: %v", err)
	}
	for _, c := range []struct {
		name, mention string
		q             Query
	}{
		{"weights delivery", "job.weightsDelivery has 300 items", w.query(t, "2025-07-20", "us-lab", jobSpec{WeightsDelivery: many}, 1e21)},
		{"markets", "job.markets has 300 items", w.query(t, "2025-07-20", "us-lab", jobSpec{Markets: many}, 1e21)},
		{"attributes", "org.attributes has 300 items", func() Query {
			q := base
			o := *q.Org
			o.Spec.Attributes = many
			q.Org = &o
			return q
		}()},
		{"base name", "job.baseName is 1000 bytes", w.query(t, "2025-07-20", "us-lab", jobSpec{Base: &catalog.BaseModel{Name: strings.Repeat("b", 1000), Origin: "US"}}, 1e21)},
	} {
		s, err := e.Session(c.q)
		if err != nil {
			t.Fatal(err)
		}
		d := s.Evaluate(site, pool, acc)
		f := findRule(d.Denials, EngineRule)
		if d.Allowed || f == nil || !strings.Contains(f.Message, c.mention) {
			t.Errorf("%s: allowed %v, denials %+v; want the engine's denial saying %q", c.name, d.Allowed, d.Denials, c.mention)
		}
	}
}

// TestUnknownMarketDenies: the rules read whether a job's model is
// offered in the EU and in which countries; a market the country table
// does not know ("Eu") was no EU market to them, and the job's placement
// was allowed without the EU's obligations. The engine denies, naming the
// market, as it does a weights-delivery country it does not know.
func TestUnknownMarketDenies(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	site, pool, acc := w.candidate(t, "sg-1", 0)
	for _, markets := range [][]string{{"EU"}, {"DE", "EEA"}} {
		s, err := e.Session(w.query(t, "2025-07-20", "us-lab", jobSpec{Markets: markets}, 1e21))
		if err != nil {
			t.Fatal(err)
		}
		if f := findRule(s.Evaluate(site, pool, acc).Denials, EngineRule); f != nil {
			t.Errorf("markets %v denied by the engine: %s", markets, f.Message)
		}
	}
	s, err := e.Session(w.query(t, "2025-07-20", "us-lab", jobSpec{Markets: []string{"US", "Eu"}}, 1e26))
	if err != nil {
		t.Fatal(err)
	}
	d := s.Evaluate(site, pool, acc)
	if f := findRule(d.Denials, EngineRule); d.Allowed || f == nil || !strings.Contains(f.Message, `release market "Eu"`) {
		t.Errorf("allowed %v, denials %+v; want the engine's denial naming the market", d.Allowed, d.Denials)
	}
}

// everyScope is a pack with one rule of each scope that fires on every
// question, so a finding of it shows the rules ran.
const everyScope = `apiVersion: meridian.dev/v1alpha1
kind: RulePack
metadata: {name: every}
rules:
  - {id: job-ran, scope: job, jurisdiction: ORG, kind: org-policy, effect: advisory, effectiveFrom: 2024-01-01, enforcement: in-force, confidence: confirmed, sources: [t], message: "ran for {job.name}", condition: "true"}
  - {id: candidate-ran, scope: candidate, jurisdiction: ORG, kind: org-policy, effect: advisory, effectiveFrom: 2024-01-01, enforcement: in-force, confidence: confirmed, sources: [t], message: "ran for {job.name}", condition: "true"}
  - {id: transfer-ran, scope: transfer, jurisdiction: ORG, kind: org-policy, effect: advisory, effectiveFrom: 2024-01-01, enforcement: in-force, confidence: confirmed, sources: [t], message: "ran for {job.name}", condition: "true"}
  - {id: access-ran, scope: access, jurisdiction: ORG, kind: org-policy, effect: advisory, effectiveFrom: 2024-01-01, enforcement: in-force, confidence: confirmed, sources: [t], message: "ran for {job.name}", condition: "true"}
`

// TestOversizedFactsStopEvaluation: a query denied for a fact over the
// bound went on to run every job, candidate, transfer and access rule on
// it (the built-in packs unmetered), for findings that changed no
// decision: a job naming a weights-delivery country half a million times
// cost seconds per plan though every placement was already denied. And a
// transfer asked on its own (staging) did not look at the sizes at all:
// it ran the rules on them and could allow. Now each stops at the
// engine's denial, and no rule runs.
func TestOversizedFactsStopEvaluation(t *testing.T) {
	e, err := New(Options{Files: []File{{Name: "every.yaml", Data: []byte(everyScope)}}})
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	many := make([]string, maxFactSize+44)
	for i := range many {
		many[i] = "US"
	}
	ran := func(d Decision) []string {
		var out []string
		for _, fs := range [][]Finding{d.Denials, d.Obligations, d.Advisories} {
			for _, f := range fs {
				if strings.HasSuffix(f.Rule, "-ran") {
					out = append(out, f.Rule)
				}
			}
		}
		return out
	}
	site, pool, acc := w.candidate(t, "sg-1", 0)
	ok := w.query(t, "2025-07-20", "us-lab", jobSpec{}, 1e21, "eu-customers-scc")
	s, err := e.Session(ok)
	if err != nil {
		t.Fatal(err)
	}
	if got := ran(s.Evaluate(site, pool, acc)); len(got) != 4 {
		t.Fatalf("a query of facts within the bound: the rules %v ran, want all four", got)
	}
	if got := ran(e.EvaluateTransfer(ok, w.datasets["eu-customers-scc"], "US")); len(got) != 2 {
		t.Fatalf("a transfer of facts within the bound: the rules %v ran, want transfer and access", got)
	}

	big := w.query(t, "2025-07-20", "us-lab", jobSpec{WeightsDelivery: many}, 1e21, "eu-customers-scc")
	s, err = e.Session(big)
	if err != nil {
		t.Fatal(err)
	}
	d := s.Evaluate(site, pool, acc)
	if f := findRule(d.Denials, EngineRule); d.Allowed || f == nil || !strings.Contains(f.Message, "job.weightsDelivery has 300 items") {
		t.Fatalf("allowed %v, denials %+v; want the engine's denial naming the fact", d.Allowed, d.Denials)
	}
	if got := ran(d); len(got) > 0 {
		t.Errorf("a query denied for a fact over the bound ran the rules %v", got)
	}

	org := *ok.Org
	org.Spec.Attributes = many
	bigOrg := ok
	bigOrg.Org = &org
	d = e.EvaluateTransfer(bigOrg, w.datasets["eu-customers-scc"], "US")
	if f := findRule(d.Denials, EngineRule); d.Allowed || f == nil || !strings.Contains(f.Message, "org.attributes has 300 items") {
		t.Errorf("a transfer for an organisation with a fact over the bound: allowed %v, denials %+v; want the engine's denial naming the fact", d.Allowed, d.Denials)
	}
	if got := ran(d); len(got) > 0 {
		t.Errorf("a transfer denied for a fact over the bound ran the rules %v", got)
	}

	ds := *w.datasets["eu-customers-scc"]
	ds.Spec.TransferBases = many
	d = e.EvaluateTransfer(ok, &ds, "US")
	if f := findRule(d.Denials, EngineRule); d.Allowed || f == nil {
		t.Errorf("a dataset with a fact over the bound: allowed %v, denials %+v; want the engine's denial", d.Allowed, d.Denials)
	}
	if got := ran(d); len(got) > 0 {
		t.Errorf("a transfer of a dataset denied for a fact over the bound ran the rules %v", got)
	}
}

// TestOversizedSiteFactsDeny: the catalog bounds an organisation's and a
// job's facts, not the strings a site's registration or files bring (its
// name, city, country, operator, the owner of a pool). Those reached the
// rules as they came: the built-in packs read them unmetered, a user
// pack's rule under the meter alone, and findings copied them whole into
// their messages. A candidate with one over the bound is denied by the
// engine, naming the field, no rule runs on it, and the denial does not
// carry the value; so is a transfer to such a country.
func TestOversizedSiteFactsDeny(t *testing.T) {
	e, err := New(Options{Files: []File{{Name: "every.yaml", Data: []byte(everyScope)}}})
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	site, pool, acc := w.candidate(t, "sg-1", 0)
	q := w.query(t, "2025-07-20", "us-lab", jobSpec{}, 1e21, "eu-customers-scc")
	ran := func(d Decision) bool {
		for _, fs := range [][]Finding{d.Denials, d.Obligations, d.Advisories} {
			for _, f := range fs {
				if f.Rule == "candidate-ran" || f.Rule == "transfer-ran" {
					return true
				}
			}
		}
		return false
	}
	s, err := e.Session(q)
	if err != nil {
		t.Fatal(err)
	}
	if d := s.Evaluate(site, pool, acc); !d.Allowed || !ran(d) {
		t.Fatalf("the candidate as registered: allowed %v, rules ran %v; want both", d.Allowed, ran(d))
	}
	big := strings.Repeat("é", 500) // 1000 bytes
	for _, c := range []struct {
		field string
		edit  func(*catalog.Site, *catalog.Pool)
	}{
		{"site.name", func(s *catalog.Site, _ *catalog.Pool) { s.Metadata.Name = big }},
		{"site.city", func(s *catalog.Site, _ *catalog.Pool) { s.Spec.City = big }},
		{"site.country", func(s *catalog.Site, _ *catalog.Pool) { s.Spec.Country = big }},
		{"site.operator", func(s *catalog.Site, _ *catalog.Pool) { s.Spec.Operator.Name = big }},
		{"site.operatorHQ", func(s *catalog.Site, _ *catalog.Pool) { s.Spec.Operator.Headquarters = big }},
		{"pool.owner", func(_ *catalog.Site, p *catalog.Pool) { p.Owner = big }},
	} {
		st, pl := *site, *pool
		c.edit(&st, &pl)
		s, err := e.Session(q)
		if err != nil {
			t.Fatal(err)
		}
		for name, d := range map[string]Decision{"cached": s.Evaluate(&st, &pl, acc), "uncached": s.evaluate(&st, &pl, acc)} {
			f := findRule(d.Denials, EngineRule)
			want := c.field + " is 1000 bytes"
			if d.Allowed || f == nil || !strings.Contains(f.Message, want) {
				t.Errorf("%s (%s): allowed %v, denials %+v; want the engine's denial saying %q", c.field, name, d.Allowed, d.Denials, want)
				continue
			}
			if ran(d) {
				t.Errorf("%s (%s): the rules ran on a fact over the bound", c.field, name)
			}
			for _, f := range d.Denials {
				if strings.Contains(f.Message, big[:200]) {
					t.Errorf("%s (%s): a denial carries the oversized value (%d bytes): %.120s…", c.field, name, len(f.Message), f.Message)
				}
			}
		}
	}
	// A pool whose accelerator the catalog does not know is denied before
	// anything else is looked at: that denial names the site and the
	// accelerator by their start only.
	st, pl := *site, *pool
	st.Metadata.Name, pl.Accelerator = big, big+"x"
	for _, f := range s.Evaluate(&st, &pl, nil).Denials {
		if strings.Contains(f.Message, big[:200]) {
			t.Errorf("an unknown accelerator: a denial carries the oversized value (%d bytes): %.120s…", len(f.Message), f.Message)
		}
	}
	d := e.EvaluateTransfer(q, w.datasets["eu-customers-scc"], big)
	if f := findRule(d.Denials, EngineRule); d.Allowed || f == nil || !strings.Contains(f.Message, "transfer.to is 1000 bytes") || ran(d) {
		t.Errorf("a transfer to a country of 1000 bytes: allowed %v, rules ran %v, denials %.300v; want the engine's denial naming transfer.to", d.Allowed, ran(d), d.Denials)
	}
}
