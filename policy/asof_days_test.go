package policy

import (
	"testing"

	"meridian.dev/meridian/catalog"
)

// TestAttackAsOfComparedInCondition: a rule may compare asOf with a date
// in its condition (docs/rules.md: compare as strings). Its answer then
// changed on a day Engine.Dates did not list, so a plan's horizon, which
// judges a run again only on those days, passed over it, and a run that
// crossed the day was placed where the law no longer let it run. Every
// day on which the answer changes is now listed, for conditions and
// definitions, whatever string the condition compares asOf with.
func TestAttackAsOfComparedInCondition(t *testing.T) {
	w := loadTestWorld(t)
	site, pool, acc := w.candidate(t, "sg-1", 0)
	for _, c := range []struct{ cond, defs string }{
		{"asOf >= '2026-03-01' && site.country == 'SG'", ""},
		{"'2026-03-01' <= asOf && site.country == 'SG'", ""},
		{"asOf > '2026-02-28' && site.country == 'SG'", ""},
		{"!(asOf <= '2026-02-28') && site.country == 'SG'", ""},
		{"asOf in ['2026-03-01', '2026-03-02'] && site.country == 'SG'", ""},
		{"asOf == '2026-03-01' && site.country == 'SG'", ""},
		{"def.late && site.country == 'SG'", "  - name: late\n    expr: asOf >= '2026-03-01'\n    source: test\n"},
		// Literals that are not dates compare as strings too.
		{"asOf >= '2026-03' && site.country == 'SG'", ""},
		{"asOf > '2026-02-28 ' && site.country == 'SG'", ""},
		{"asOf < '2026-02-29' && site.country == 'SG'", ""},
	} {
		e := numberPack(t, c.cond, c.defs)
		listed := map[string]bool{}
		for _, d := range e.Dates() {
			listed[d.String()] = true
		}
		day := catalog.MustDate("2026-02-25")
		prev := false
		for i := range 10 {
			s, err := e.Session(w.query(t, day.String(), "us-lab", jobSpec{}, 1e21))
			if err != nil {
				t.Fatal(err)
			}
			denied := findRule(s.Evaluate(site, pool, acc).Denials, "r1") != nil
			if i > 0 && denied != prev && !listed[day.String()] {
				t.Errorf("%s: the answer changes on %s, which Dates does not list: %v", c.cond, day, e.Dates())
			}
			prev = denied
			day = catalog.Date{Time: day.AddDate(0, 0, 1)}
		}
	}
	// The built-in packs compare no asOf with a date: their days are
	// their rules' dates, as before.
	b, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	if len(b.asOfDays) != 0 {
		t.Errorf("built-in packs: asOf days %v", b.asOfDays)
	}
}
