package main

import (
	"path/filepath"
	"testing"

	"meridian.dev/meridian/bench/synth"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
)

// BenchmarkWritePlot measures writePlot alone for the plan of the "us" job
// (little law bites, so nearly every pool is feasible) against 2,000
// synthetic sites of 4 pools with the built-in law: the plot of the
// largest plan the planner's scale target names, in each format.
func BenchmarkWritePlot(b *testing.B) {
	w, err := synth.WorldWith(2000, 4, 1, synth.JobUS())
	if err != nil {
		b.Fatal(err)
	}
	e, err := policy.New(policy.Options{})
	if err != nil {
		b.Fatal(err)
	}
	plan, err := planner.Make(w, w.Jobs[0], planner.Options{
		AsOf: catalog.MustDate("2026-01-01"), Rules: planner.PolicyLaw(e), Points: true})
	if err != nil {
		b.Fatal(err)
	}
	if len(plan.Placements) == 0 {
		b.Fatal("no placement: the benchmark would plot nothing")
	}
	b.Logf("%d feasible placements", len(plan.All))
	for _, ext := range []string{"svg", "png"} {
		b.Run(ext, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "plan."+ext)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := writePlot(path, plan); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
