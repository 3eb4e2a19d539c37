package planner

import (
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
)

// contradictoryLaw says a candidate is allowed and names a denial of it
// from the day from on: an embedder's law, or a pack's bug.
type contradictoryLaw struct{ from catalog.Date }

func (l contradictoryLaw) Session(q policy.Query) (Session, error) {
	return contradictorySession{l: l, asOf: q.AsOf}, nil
}

func (l contradictoryLaw) Dates() []catalog.Date { return []catalog.Date{l.from} }

type contradictorySession struct {
	l    contradictoryLaw
	asOf catalog.Date
}

func (s contradictorySession) Evaluate(site *catalog.Site, pool *catalog.Pool, acc *catalog.Accelerator) policy.Decision {
	if site.Metadata.Name != "a" || s.asOf.Before(s.l.from) {
		return policy.Decision{Allowed: true}
	}
	return policy.Decision{Allowed: true, Denials: []policy.Finding{{Rule: "contradiction", Kind: "law", Effect: policy.Deny,
		Message: "denied", Source: "rules.yaml:1", Code: policy.CodeDenied}}}
}

// A decision that says allowed but names a denial denies: the planner
// placed the candidate, and its horizon check let it stay lawful past the
// day the denial begins.
func TestAllowedWithDenialDenies(t *testing.T) {
	world := func() *catalog.World {
		return testWorld(t, testOrg,
			site("a", "MY", 100, 0.05, pool("test-fast", 64, 64, 2)),
			site("b", "MY", 100, 0.05, pool("test-fast", 64, 64, 3)), job())
	}
	asOf := catalog.MustDate("2026-01-01")
	t.Run("now", func(t *testing.T) {
		p := mustMake(t, world(), contradictoryLaw{from: asOf}, &sixND{mfu: 0.5}, Options{AsOf: asOf})
		for _, pl := range p.Placements {
			if pl.Site == "a" {
				t.Errorf("placed at a, which the law denies: %+v", pl)
			}
		}
		found := false
		for _, r := range p.Rejected {
			if r.Site == "a" && r.Kind == KindLaw && len(r.Reasons) > 0 && r.Reasons[0].Rule == "contradiction" && r.Reasons[0].Source == "rules.yaml:1" {
				found = true
			}
		}
		if !found {
			t.Errorf("a not rejected by law naming the rule and its source: %+v", p.Rejected)
		}
	})
	t.Run("horizon", func(t *testing.T) {
		from := catalog.MustDate("2026-01-03")
		p := mustMake(t, world(), contradictoryLaw{from: from}, &sixND{mfu: 0.001}, Options{AsOf: asOf})
		var at *Placement
		for i := range p.Placements {
			if p.Placements[i].Site == "a" {
				at = &p.Placements[i]
			}
		}
		if at == nil {
			t.Fatalf("no placement at a: %+v", p.Rejected)
		}
		if at.Hours < 72 {
			t.Fatalf("the run takes %g h, ending before the denial: the test needs a longer one", at.Hours)
		}
		if at.LawfulUntil == nil || at.LawfulUntil.String() != "2026-01-03" || at.LawfulUntilRule != "contradiction" {
			t.Errorf("lawful until %v (%s), want 2026-01-03 (contradiction)", at.LawfulUntil, at.LawfulUntilRule)
		}
	})
}
