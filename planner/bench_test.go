package planner

import (
	"fmt"
	"testing"

	"meridian.dev/meridian/bench/synth"
	"meridian.dev/meridian/catalog"
)

// BenchmarkMakeSynthetic plans one job against synthetic worlds of 4-pool
// sites with the test law and 6ND estimator, isolating the planner's own
// cost from the law engine's and the estimator's.
func BenchmarkMakeSynthetic(b *testing.B) {
	for _, n := range []int{100, 1000, 2000, 10000} {
		w, err := synth.World(n, 4, 1)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("sites=%d", n), func(b *testing.B) {
			law := &tableLaw{}
			opts := Options{AsOf: catalog.MustDate("2026-01-01"), Rules: law, Estimator: &sixND{mfu: 0.4}}
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := Make(w, w.Jobs[0], opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMakeRealEstimator is BenchmarkMakeSynthetic with the estimate
// package in place of the 6ND estimator.
func BenchmarkMakeRealEstimator(b *testing.B) {
	for _, n := range []int{2000} {
		w, err := synth.World(n, 4, 1)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("sites=%d", n), func(b *testing.B) {
			opts := Options{AsOf: catalog.MustDate("2026-01-01"), Rules: &tableLaw{}}
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := Make(w, w.Jobs[0], opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMakeBuiltinRules is the target: one job against 2,000
// synthetic sites of 4 pools with every built-in rule and the real
// estimator.
func BenchmarkMakeBuiltinRules(b *testing.B) {
	law := builtinLaw(b)
	for _, job := range synth.Jobs {
		w, err := synth.WorldWith(2000, 4, 1, synth.JobNamed(job))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("job=%s/sites=2000", job), func(b *testing.B) {
			opts := Options{AsOf: catalog.MustDate("2025-06-01"), Rules: law}
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := Make(w, w.Jobs[0], opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMakeManyDatasets plans a job of MaxFactItems datasets, each
// moved under a legal basis the law names, against 2,000 sites of 4 pools:
// each candidate's data moves take their bases from its decision's
// transfers.
func BenchmarkMakeManyDatasets(b *testing.B) {
	set := synth.JobUS()
	law := &tableLaw{bases: map[string]string{}}
	base := set.Datasets[0]
	set.Datasets, set.Jobs[0].Spec.Datasets = nil, nil
	for i := range catalog.MaxFactItems {
		d := *base
		d.Metadata.Name = fmt.Sprintf("d%d", i)
		d.Spec.SizeBytes = 1e9
		set.Datasets = append(set.Datasets, &d)
		set.Jobs[0].Spec.Datasets = append(set.Jobs[0].Spec.Datasets, d.Metadata.Name)
		law.bases[d.Metadata.Name] = "test-basis"
	}
	w, err := synth.WorldWith(2000, 4, 1, set)
	if err != nil {
		b.Fatal(err)
	}
	opts := Options{AsOf: catalog.MustDate("2026-01-01"), Rules: law, Estimator: &sixND{mfu: 0.4}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Make(w, w.Jobs[0], opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMakeLongConstraintLists plans a job whose site, country and
// accelerator lists are as long as a job document holds (tens of
// thousands of entries, names repeated), against 2,000 sites of 4 pools:
// each pool's constraint check must not scan the lists.
func BenchmarkMakeLongConstraintLists(b *testing.B) {
	set := synth.JobUS()
	w, err := synth.WorldWith(2000, 4, 1, set)
	if err != nil {
		b.Fatal(err)
	}
	job := *w.Jobs[0]
	c := &job.Spec.Constraints
	c.Sites, c.Countries, c.Accelerators = catalog.AllowDeny{}, catalog.AllowDeny{}, catalog.AllowDeny{}
	for i := range 30_000 {
		c.Sites.Deny = append(c.Sites.Deny, w.Sites[i%10].Metadata.Name)
		c.Countries.Deny = append(c.Countries.Deny, "AQ")
		c.Accelerators.Deny = append(c.Accelerators.Deny, "no-such-chip")
	}
	opts := Options{AsOf: catalog.MustDate("2026-01-01"), Rules: &tableLaw{}, Estimator: &sixND{mfu: 0.4}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Make(w, &job, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMakeHostileNumbers plans, against 2,000 sites of 4 pools with
// the real estimator, the job whose numbers a tenant can make most costly:
// an MoE model of the most experts the loader accepts, a scale-up domain
// of a million and a one-token batch (the most layouts per estimate), no
// deadline or budget (every count of every pool feasible).
// "plain" is the synthetic job, for comparison.
func BenchmarkMakeHostileNumbers(b *testing.B) {
	for _, name := range []string{"plain", "hostile"} {
		set := synth.JobUS()
		if name == "hostile" {
			sp := &set.Jobs[0].Spec
			sp.Model = catalog.Model{Parameters: 1e10, ActiveParameters: 1e9, Experts: 1_000_000, ExpertsPerToken: 1_000_000}
			sp.Method, sp.Tokens, sp.Deadline, sp.BudgetUSD = catalog.MethodPretrain, 1e16, 0, 0
			sp.Assumptions = map[string]float64{"scaleUpDomain": 1e6, "globalBatchTokens": 1}
		}
		w, err := synth.WorldWith(2000, 4, 1, set)
		if err != nil {
			b.Fatal(err)
		}
		if err := w.Validate(AssumptionKeys()); err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			opts := Options{AsOf: catalog.MustDate("2026-01-01"), Rules: &tableLaw{}}
			b.ReportAllocs()
			var p *Plan
			for b.Loop() {
				if p, err = Make(w, w.Jobs[0], opts); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(p.Summary.Feasible), "feasible")
		})
	}
}
