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
