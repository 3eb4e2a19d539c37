package policy

import (
	"fmt"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"

	"meridian.dev/meridian/catalog"
)

// TestCoarseClassKey checks that the coarse class key (acquisition date
// reduced to its band among the rules' bounds, operator name, site name
// and city left out while no condition reads them) gives every candidate the same Decision as
// an evaluation of that candidate alone, for every built-in rule, over
// acquisition dates on the first of every month 2021–2027 and on and
// around every bound, for several organisations and dates of evaluation.
// One shared session evaluates all candidates (so decisions come from the
// class caches); the reference is a fresh session per candidate.
func TestCoarseClassKey(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	if e.acqExact || len(e.acqBounds) == 0 {
		t.Fatalf("built-in rules: want pool.acquired compared with constants only, got exact=%v bounds=%v", e.acqExact, e.acqBounds)
	}
	var dates []catalog.Date
	for y := 2021; y <= 2027; y++ {
		for m := 1; m <= 12; m++ {
			dates = append(dates, catalog.MustDate(fmt.Sprintf("%04d-%02d-01", y, m)))
		}
	}
	for _, b := range e.acqBounds {
		d := catalog.MustDate(b)
		dates = append(dates, d, catalog.Date{Time: d.AddDate(0, 0, -1)}, catalog.Date{Time: d.AddDate(0, 0, 1)})
	}
	w := loadTestWorld(t)
	var names []string
	for name := range w.sites {
		names = append(names, name)
	}
	sort.Strings(names)
	// Each site as it is, with its operator renamed, and with its operator
	// headquartered in countries the rules treat alike or differently
	// (one of them not in the country table).
	hqs := []string{"", "", "SG", "MY", "CN", "HK", "MO", "RU", "US", "XX"}
	var cands []cand
	for _, name := range names {
		for copyN, hq := range hqs {
			for _, d := range dates {
				s := *w.sites[name]
				s.Spec.Operator.Name = fmt.Sprintf("%s-%d", s.Spec.Operator.Name, min(copyN, 1))
				if hq != "" {
					s.Spec.Operator.Headquarters = hq
				}
				s.Spec.Pools = append([]catalog.Pool{}, s.Spec.Pools...)
				for j := range s.Spec.Pools {
					s.Spec.Pools[j].Acquired = d
					cands = append(cands, cand{&s, &s.Spec.Pools[j], w.accs[s.Spec.Pools[j].Accelerator]})
				}
			}
		}
	}
	queries := []struct {
		asOf, org string
		job       jobSpec
		datasets  []string
	}{
		{"2025-07-20", "cn-lab", jobSpec{Markets: []string{"EU", "CN"}}, []string{"cn-users-300k", "eu-customers"}},
		{"2026-03-01", "cn-lab-my", jobSpec{Markets: []string{"CN"}}, []string{"cn-users-50k"}},
		{"2025-07-20", "us-lab", jobSpec{Markets: []string{"US"}}, nil},
		{"2024-06-01", "eu-lab", jobSpec{Markets: []string{"EU"}}, []string{"eu-customers"}},
	}
	for _, qs := range queries {
		t.Run(qs.org+"@"+qs.asOf, func(t *testing.T) {
			q := w.query(t, qs.asOf, qs.org, qs.job, 3e25, qs.datasets...)
			shared, err := e.Session(q)
			if err != nil {
				t.Fatal(err)
			}
			byRule := map[string]map[string]bool{} // rule → outcomes seen, so the test shows the dates matter
			for i, c := range cands {
				got := shared.Evaluate(c.site, c.pool, c.acc)
				fresh, err := e.Session(q)
				if err != nil {
					t.Fatal(err)
				}
				want := fresh.Evaluate(c.site, c.pool, c.acc)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("candidate %d (%s pool %s acquired %s): coarse-key decision differs (-alone +shared):\n%s",
						i, c.site.Metadata.Name, c.pool.Accelerator, c.pool.Acquired, diff)
				}
				for _, f := range append(append(append([]Finding{}, want.Denials...), want.Obligations...), want.Advisories...) {
					if byRule[f.Rule] == nil {
						byRule[f.Rule] = map[string]bool{}
					}
					byRule[f.Rule][c.site.Metadata.Name+c.pool.Accelerator+c.pool.Acquired.String()] = true
				}
			}
			if shared.Evaluations() >= len(cands)/4 {
				t.Errorf("%d evaluations for %d candidates: the coarse key did not merge classes", shared.Evaluations(), len(cands))
			}
			t.Logf("%d candidates, %d rule evaluations, %d rules fired", len(cands), shared.Evaluations(), len(byRule))
		})
	}
}

// TestAcquiredUses: the date is reduced to a band only when every read of
// pool.acquired compares it with a constant.
func TestAcquiredUses(t *testing.T) {
	env, err := newEnv()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		expr   string
		exact  bool
		bounds []string
	}{
		{"pool.acquired >= '2023-11-17'", false, []string{"2023-11-17"}},
		{"'2022-10-07' < pool.acquired && pool.acquired != '2023-01-01'", false, []string{"2022-10-07", "2023-01-01"}},
		{"site.country == 'CN'", false, nil},
		{"pool.acquired.startsWith('2023')", true, nil},
		{"pool.acquired >= site.country", true, nil},
		{"pool.acquired in ['2023-01-01']", true, nil},
		{"has(pool.acquired) && pool.acquired > '2020-01-01'", true, []string{"2020-01-01"}},
		{"pool['acquired'] > '2020-01-01'", true, nil},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			x, err := compileExpr(env, tc.expr, scopeVars[ScopeCandidate], true, true)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(acquiredUse{bounds: tc.bounds, exact: tc.exact}, x.acq, cmp.AllowUnexported(acquiredUse{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestBand: dates of one band compare alike with every bound.
func TestBand(t *testing.T) {
	e := &Engine{acqBounds: []string{"2022-10-07", "2023-11-17"}}
	for _, tc := range []struct {
		date string
		want int
	}{
		{"", -1}, {"2021-01-01", 0}, {"2022-10-06", 0}, {"2022-10-07", 1}, {"2022-10-08", 2},
		{"2023-11-16", 2}, {"2023-11-17", 3}, {"2027-01-01", 4},
	} {
		var d catalog.Date
		if tc.date != "" {
			d = catalog.MustDate(tc.date)
		}
		if got := e.band(d); got != tc.want {
			t.Errorf("band(%q) = %d, want %d", tc.date, got, tc.want)
		}
	}
}
