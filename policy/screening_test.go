package policy

import (
	"testing"

	"meridian.dev/meridian/catalog"
)

// TestScreeningNoMatchKeepsDeclaredStatus: screening compares names with
// a list. Finding no match there does not clear a restricted-party status
// the organisation declares: the list may lag, and an affiliate of a
// listed party (>= 50 % owned) is not on it by name at all. A declared
// status stands unless screening finds a stricter one.
func TestScreeningNoMatchKeepsDeclaredStatus(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	site, pool, acc := w.candidate(t, "sg-1", 0)
	for _, c := range []struct{ org, asOf, rule string }{
		{"listed-lab", "2025-07-20", "us-ear-entity-list"},
		{"affiliate-lab", "2026-12-01", "us-ear-affiliates-2025"},
	} {
		q := w.query(t, c.asOf, c.org, jobSpec{}, 1e21)
		q.Screening = &Screening{Status: catalog.RestrictedNone, Source: "screened against a list: no match"}
		s, err := e.Session(q)
		if err != nil {
			t.Fatal(err)
		}
		d := s.Evaluate(site, pool, acc)
		if findRule(d.Denials, c.rule) == nil {
			t.Errorf("%s declares itself restricted, screening found no name match: %s does not deny (allowed %v)", c.org, c.rule, d.Allowed)
		}
	}
}
