package catalog

import (
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkLoadBuiltin measures what the first command of a process pays:
// parsing and checking the embedded accelerators, countries and sites
// (uncached), building the world and validating it. Target: under 20 ms.
func BenchmarkLoadBuiltin(b *testing.B) {
	for b.Loop() {
		d := parseBuiltin()
		if d.err != nil {
			b.Fatal(d.err)
		}
		w := &World{Accelerators: d.accelerators, Countries: d.countries,
			Organizations: map[string]*Organization{}, Datasets: map[string]*Dataset{}, siteByName: map[string]*Site{}}
		if err := w.addSites(d.sites.Sites); err != nil {
			b.Fatal(err)
		}
		if err := w.Validate(testKeys); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuiltinCached measures later calls in the same process: the
// cached parse plus a fresh world and its validation.
func BenchmarkBuiltinCached(b *testing.B) {
	for b.Loop() {
		w, err := Builtin()
		if err != nil {
			b.Fatal(err)
		}
		if err := w.Validate(testKeys); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadUserFile measures Load with a small user file (one resource
// of each kind) on top of the cached built-in catalog.
func BenchmarkLoadUserFile(b *testing.B) {
	path := filepath.Join("testdata", "valid.yaml")
	for b.Loop() {
		if _, err := Load(testKeys, "", path); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAddManyJobs adds 20,000 jobs to a world in one set, as a file
// of that many small TrainingJob documents would: each duplicate check
// must be a lookup, not a scan of the jobs added before it.
func BenchmarkAddManyJobs(b *testing.B) {
	set := &Set{}
	for i := range 20_000 {
		j := &TrainingJob{}
		j.Metadata.Name = fmt.Sprintf("job-%06d", i)
		set.Jobs = append(set.Jobs, j)
	}
	for b.Loop() {
		w, err := Builtin()
		if err != nil {
			b.Fatal(err)
		}
		if err := w.Add(set); err != nil {
			b.Fatal(err)
		}
	}
}
