package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"meridian.dev/meridian/bench/synth"
	"meridian.dev/meridian/catalog"
)

// TestProjectionCache checks the caches below the class: each candidate
// rule's judgement and each definition's value kept by the part of the
// class key it reads, rendered findings kept by what a rule and its
// message read, and facts converted for CEL once per session. In the
// planner's synthetic world (60 operators headquartered across the
// catalog's countries, so most classes differ from an earlier one only in
// what a single rule reads), with pool owners and acquisition dates varied
// across the rules' bounds, one shared session must give every candidate
// the decision an uncached evaluation of that candidate alone gives, for
// both synthetic jobs and on dates with different rules in force.
func TestProjectionCache(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	owners := []string{catalog.OwnerOperator, catalog.OwnerOperator, catalog.OwnerOrgPrefix + "synth-lab", catalog.OwnerOrgPrefix + "nobody-we-know"}
	dates := []string{"", "2022-10-07", "2023-06-30", "2023-11-17", "2025-02-01", "2026-02-01"}
	for _, job := range synth.Jobs {
		w, err := synth.WorldWith(300, 4, 7, synth.JobNamed(job))
		if err != nil {
			t.Fatal(err)
		}
		type cand struct {
			site *catalog.Site
			pool *catalog.Pool
			acc  *catalog.Accelerator
		}
		var cands []cand
		for i, s := range w.Sites {
			for j := range s.Spec.Pools {
				p := &s.Spec.Pools[j]
				p.Owner = owners[(i+j)%len(owners)]
				if d := dates[(i/3+j)%len(dates)]; d != "" {
					p.Acquired = catalog.MustDate(d)
				}
				if acc := w.Accelerators[p.Accelerator]; acc != nil {
					cands = append(cands, cand{s, p, acc})
				}
			}
		}
		spec := &w.Jobs[0].Spec
		var datasets []*catalog.Dataset
		for _, name := range spec.Datasets {
			datasets = append(datasets, w.Datasets[name])
		}
		for _, asOf := range []string{"2024-06-01", "2025-06-01", "2026-03-01"} {
			t.Run(job+"@"+asOf, func(t *testing.T) {
				q := Query{AsOf: catalog.MustDate(asOf), Org: w.Organizations[spec.Organization], Job: w.Jobs[0],
					Datasets: datasets, TrainingFLOPs: 3e23, Countries: w.Countries, Organizations: w.Organizations}
				shared, err := e.Session(q)
				if err != nil {
					t.Fatal(err)
				}
				fired := map[string]bool{}
				for i, c := range cands {
					got := shared.Evaluate(c.site, c.pool, c.acc)
					fresh, err := e.Session(q)
					if err != nil {
						t.Fatal(err)
					}
					want := fresh.evaluate(c.site, c.pool, c.acc)
					if diff := cmp.Diff(want, got); diff != "" {
						t.Fatalf("candidate %d (%s pool %s, operator HQ %s, owner %s, acquired %s): cached decision differs (-alone +shared):\n%s",
							i, c.site.Metadata.Name, c.pool.Accelerator, c.site.Spec.Operator.Headquarters, c.pool.Owner, c.pool.Acquired, diff)
					}
					for _, f := range append(append(append([]Finding{}, want.Denials...), want.Obligations...), want.Advisories...) {
						fired[f.Rule] = true
					}
				}
				// The shared session must have reused judgements across
				// classes, or the comparison proved nothing about them.
				judged := shared.Evaluations() * len(shared.candRules)
				if 4*len(shared.rulesBy) > 3*judged {
					t.Errorf("%d rule judgements kept for %d classes of %d rules: the projections did not merge classes", len(shared.rulesBy), shared.Evaluations(), len(shared.candRules))
				}
				if len(fired) < 3 {
					t.Errorf("only %d rules fired: the world does not exercise the law", len(fired))
				}
				t.Logf("%d candidates, %d classes, %d judgements kept, %d rules fired", len(cands), shared.Evaluations(), len(shared.rulesBy), len(fired))
			})
		}
	}
}
