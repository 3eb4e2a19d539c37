package policy

import (
	"strconv"
	"strings"
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

// TestAttackAsOfComputed: a rule compared asOf with a literal only in the
// forms asOfDays listed; one that computed from asOf first
// (monthsBefore(asOf, 1) >= '2026-02-01', asOf.startsWith('2026-03'), a
// definition of either) changed its answer on a day Engine.Dates did not
// list, and a run crossing that day stayed placed. The forms whose days
// can be computed are now listed.
func TestAttackAsOfComputed(t *testing.T) {
	w := loadTestWorld(t)
	site, pool, acc := w.candidate(t, "sg-1", 0)
	for _, c := range []struct{ cond, defs, from string }{
		{"monthsBefore(asOf, 1) >= '2026-02-01' && site.country == 'SG'", "", "2026-02-20"},
		{"'2025-03-01' > monthsBefore(asOf, 12) && site.country == 'SG'", "", "2026-02-20"},
		{"monthsBefore(asOf, 1) in ['2026-02-01', '2026-02-02'] && site.country == 'SG'", "", "2026-02-20"},
		{"monthsBefore(asOf, 0) > '2026-03-0' && site.country == 'SG'", "", "2026-02-20"},
		{"yearStart(asOf, 0) >= '2027-01-01' && site.country == 'SG'", "", "2026-12-20"},
		{"yearStart(asOf, -1) == '2026-01-01' && site.country == 'SG'", "", "2026-12-20"},
		{"asOf.startsWith('2026-03') && site.country == 'SG'", "", "2026-02-20"},
		{"asOf.startsWith('2026-02-2') && site.country == 'SG'", "", "2026-02-10"},
		{"!asOf.startsWith('2027') && site.country == 'SG'", "", "2026-12-20"},
		{"def.m && site.country == 'SG'", "  - name: m\n    expr: monthsBefore(asOf, 1) >= '2026-02-01'\n    source: test\n", "2026-02-20"},
		{"def.p && site.country == 'SG'", "  - name: p\n    expr: asOf.startsWith('2026-03')\n    source: test\n", "2026-02-20"},
	} {
		e := numberPack(t, c.cond, c.defs)
		listed := map[string]bool{}
		for _, d := range e.Dates() {
			listed[d.String()] = true
		}
		day := catalog.MustDate(c.from)
		prev, changes := false, 0
		for i := range 45 {
			s, err := e.Session(w.query(t, day.String(), "us-lab", jobSpec{}, 1e21))
			if err != nil {
				t.Fatal(err)
			}
			denied := findRule(s.Evaluate(site, pool, acc).Denials, "r1") != nil
			if i > 0 && denied != prev {
				changes++
				if !listed[day.String()] {
					t.Errorf("%s: the answer changes on %s, which Dates does not list: %v", c.cond, day, e.Dates())
				}
			}
			prev = denied
			day = catalog.Date{Time: day.AddDate(0, 0, 1)}
		}
		if changes == 0 {
			t.Errorf("%s: the answer never changes from %s on; the case tests nothing", c.cond, c.from)
		}
	}
}

// TestAttackAsOfUnlistable: a rule or definition that reads asOf in a
// way whose days of change cannot be computed from its text (arithmetic
// on it, a comparison with a fact or a computed value, a function other
// than monthsBefore and yearStart, a definition that hands asOf on, a
// conditional choosing it) loaded, and changed the law on days Dates did
// not list. It is now refused at load, naming the rule and the step.
func TestAttackAsOfUnlistable(t *testing.T) {
	for _, c := range []struct{ cond, defs, who, step string }{
		{"asOf + '' >= '2026-03-01'", "", `"r1"`, `asOf + ""`},
		{"asOf >= '2026-0' + '3-01'", "", `"r1"`, `asOf >= "2026-0" + "3-01"`},
		{"asOf >= site.country", "", `"r1"`, `asOf >= site.country`},
		{"asOf.endsWith('-01')", "", `"r1"`, `asOf.endsWith("-01")`},
		{"asOf.matches('^2026-03')", "", `"r1"`, `asOf.matches("^2026-03")`},
		{"asOf.startsWith(site.country)", "", `"r1"`, `asOf.startsWith(site.country)`},
		{"size(asOf) > 9", "", `"r1"`, `size(asOf)`},
		{"timestamp(asOf + 'T00:00:00Z') > timestamp('2026-03-01T00:00:00Z')", "", `"r1"`, `asOf + "T00:00:00Z"`},
		{"(site.country == 'SG' ? asOf : '2000-01-01') >= '2026-03-01'", "", `"r1"`, `(site.country == "SG") ? asOf : "2000-01-01"`},
		{"[asOf].exists(d, d >= '2026-03-01')", "", `"r1"`, `[asOf]`},
		{"asOf in [site.country]", "", `"r1"`, `asOf in [site.country]`},
		{"monthsBefore(asOf, 1) < monthsBefore('2026-04-01', 0)", "", `"r1"`, `monthsBefore(asOf, 1) < monthsBefore("2026-04-01", 0)`},
		{"monthsBefore(asOf, 1300) > '2020-01-01'", "", `"r1"`, `monthsBefore(asOf, 1300)`},
		{"monthsBefore(asOf, -1) > '2020-01-01'", "", `"r1"`, `monthsBefore(asOf, -1)`},
		{"monthsBefore(asOf, int(acc.tpp)) > '2020-01-01'", "", `"r1"`, `monthsBefore(asOf, int(acc.tpp))`},
		{"yearStart(monthsBefore(asOf, 1), 0) > '2026-01-01'", "", `"r1"`, `yearStart(monthsBefore(asOf, 1), 0)`},
		{"def.today >= '2026-03-01'", "  - name: today\n    expr: asOf\n    source: test\n", `definition today`, `asOf`},
		{"def.next >= '2026-03-01'", "  - name: next\n    expr: monthsBefore(asOf, 0)\n    source: test\n", `definition next`, `monthsBefore(asOf, 0)`},
	} {
		pack := strings.Replace(goodRule, "condition: site.country == 'SG'", "condition: \""+c.cond+"\"", 1)
		if c.defs != "" {
			pack = strings.Replace(pack, "rules:\n", "definitions:\n"+c.defs+"rules:\n", 1)
		}
		_, err := New(Options{NoBuiltin: true, Files: []File{{Name: "n.yaml", Data: []byte(pack)}}})
		if err == nil {
			t.Errorf("%s: loaded, want it refused", c.cond)
			continue
		}
		for _, want := range []string{c.who, "reads asOf in " + strconv.Quote(c.step)} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not name %s", c.cond, err, want)
			}
		}
	}
	// A ledger total's window may start at asOf or a date computed from
	// it (the built-in packs' volume rules load: TestAttackAsOfComparedInCondition).
	for _, cond := range []string{
		"ledger.subjectsExported('CN', asOf) > 0",
		"ledger.subjectsGiven('US', monthsBefore(asOf, 12), 'sensitive-personal') > 0",
		"ledger.groupSubjectsExported('CN', yearStart(asOf, -1)) > 0",
	} {
		pack := strings.Replace(goodRule, "condition: site.country == 'SG'", "condition: \""+cond+"\"", 1)
		pack = strings.Replace(pack, "effect: deny", "scope: transfer\n    effect: deny", 1)
		pack = strings.Replace(pack, `message: "site {site.country}"`, "message: volume of {dataset.name}", 1)
		if _, err := New(Options{NoBuiltin: true, Files: []File{{Name: "n.yaml", Data: []byte(pack)}}}); err != nil {
			t.Errorf("%s: %v", cond, err)
		}
	}
}
