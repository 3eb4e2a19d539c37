package main

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"meridian.dev/meridian/bench/synth"
	"meridian.dev/meridian/catalog"
)

// writeSynthWorld writes a catalog directory of n synthetic sites of four
// pools (one file) and the named synthetic job, and returns their paths.
func writeSynthWorld(tb testing.TB, n int, job string) (catalogDir, jobFile string) {
	tb.Helper()
	w, err := catalog.Builtin()
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	catalogDir = filepath.Join(dir, "sites")
	if err := os.Mkdir(catalogDir, 0o755); err != nil {
		tb.Fatal(err)
	}
	for path, set := range map[string]*catalog.Set{
		filepath.Join(catalogDir, "sites.yaml"): {Sites: synth.Sites(w, n, 4, 1)},
		filepath.Join(dir, "job.yaml"):          synth.JobNamed(job),
	} {
		f, err := os.Create(path)
		if err != nil {
			tb.Fatal(err)
		}
		if err := synth.WriteYAML(f, set); err != nil {
			tb.Fatal(err)
		}
		if err := f.Close(); err != nil {
			tb.Fatal(err)
		}
	}
	return catalogDir, filepath.Join(dir, "job.yaml")
}

// BenchmarkPlanCommand runs plan -o json in process, from the files to the
// printed document, for the synthetic jobs at 2,000 sites (bench/plan-scale.sh
// times the whole process, start to exit).
func BenchmarkPlanCommand(b *testing.B) {
	for _, job := range synth.Jobs {
		for _, n := range []int{2000, 10000} {
			b.Run(job+"/"+strconv.Itoa(n)+"-sites", func(b *testing.B) {
				dir, jobFile := writeSynthWorld(b, n, job)
				f := planFlags{files: []string{jobFile}, catalogDir: dir, asOf: "2025-06-01", out: "json", top: 50}
				b.ReportAllocs()
				for b.Loop() {
					if err := runPlan(io.Discard, f); err != nil && !isNoPlacement(err) {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func isNoPlacement(err error) bool {
	ce, ok := err.(*codeError)
	return ok && ce.code == exitNoPlacement
}
