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
