package catalog

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// manyPoolSite is a Site document with n pools, some of them written in
// flow style, with an anchor and an alias among them.
func manyPoolSite(n int) string {
	var b strings.Builder
	b.WriteString("apiVersion: meridian.dev/v1alpha1\nkind: Site\nmetadata: {name: big, labels: {a.b: c, d: e}}\nspec:\n  country: MY\n  location: {lat: 1, lon: 100}\n  operator: &op {name: x, headquarters: SG}\n  pools:\n")
	for i := range n {
		switch {
		case i == 0:
			b.WriteString("    - accelerator: nvidia-h100-sxm\n      count: &c 8\n      available: 8\n      pricePerHour: 2\n")
		case i%3 == 0:
			fmt.Fprintf(&b, "    - accelerator: nvidia-h100-sxm\n      count: %d\n      available: 8\n      pricePerHour: 2\n\n      acquired: 2024-01-01\n", 8+i)
		case i%3 == 1:
			fmt.Fprintf(&b, "    - {accelerator: nvidia-h100-sxm, count: %d, available: 8, pricePerHour: 2}\n", 8+i)
		default:
			fmt.Fprintf(&b, "    - accelerator: nvidia-h100-sxm\n      count: %d\n      # a comment\n      available: *c\n      pricePerHour: 2\n", 8+i)
		}
	}
	b.WriteString("  network: {egressPerGB: 0.1, gbps: 10}\n")
	return b.String()
}

func decodeSite(t testing.TB, doc string) *Site {
	t.Helper()
	set, err := Decode("site.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Sites) != 1 {
		t.Fatalf("%d sites", len(set.Sites))
	}
	return set.Sites[0]
}

// siteFields are fields of a site to look up: present, missing, past the
// last pool, malformed, dotted and aliased.
func siteFields(pools int) []string {
	fields := []string{"spec", "spec.country", "spec.location.lat", "spec.operator.name", "metadata.labels.a.b",
		"metadata.labels.d", "metadata.labels.zz", "spec.network.gbps", "spec.pools", "spec.pools[x]", "spec.pools[-1]",
		fmt.Sprintf("spec.pools[%d]", pools), fmt.Sprintf("spec.pools[%d].count", pools+7), "spec.pools[0",
		"metadata.name", "nothing.here", "", "spec.pools.count", "spec.country[0]"}
	for i := range pools {
		for _, f := range []string{"accelerator", "count", "available", "pricePerHour", "acquired", "missing"} {
			fields = append(fields, fmt.Sprintf("spec.pools[%d].%s", i, f))
		}
	}
	return fields
}

// TestAtSameAnswersOnceParsed: At gives, field by field, the line that a
// walk of a fresh parse of the document gives, for a site and a job, with
// and without the tree kept between the calls.
func TestAtSameAnswersOnceParsed(t *testing.T) {
	site := decodeSite(t, "# lead\n\n"+manyPoolSite(30))
	job := func() *TrainingJob {
		set, err := Decode("job.yaml", []byte("apiVersion: meridian.dev/v1alpha1\nkind: TrainingJob\nmetadata: {name: j}\nspec:\n  organization: lab\n  tokens: 1e9\n  constraints: &c\n    countries: {allow: [SG, MY]}\n    accelerators:\n      allow:\n        - nvidia-h100-sxm\n  assumptions:\n    mfu.nvidia-h100-sxm: 0.4\n"))
		if err != nil {
			t.Fatal(err)
		}
		return set.Jobs[0]
	}()
	jobFields := []string{"spec.constraints.countries", "spec.constraints.accelerators.allow[0]", "spec.constraints.accelerators.allow[3]",
		"spec.assumptions.mfu.nvidia-h100-sxm", "spec.assumptions.mfu.other", "spec.budgetUSD", "nothing", "spec.tokens"}
	for _, c := range []struct {
		pos    Position
		fields []string
	}{{site.Pos, siteFields(30)}, {job.Pos, jobFields}} {
		fresh := func(f string) string {
			root, err := new(fastParser).parseDocumentText(c.pos.src.data, c.pos.src.firstLine)
			if err != nil {
				t.Fatal(err)
			}
			return fmt.Sprintf("%s:%d", c.pos.File, c.pos.lineIn(root, f))
		}
		all := c.pos.AtAll(c.fields)
		for i, f := range c.fields {
			if i%7 == 0 {
				runtime.GC() // the kept tree may go: the answer stays
			}
			want := fresh(f)
			if got := c.pos.At(f); got != want {
				t.Errorf("At(%q) = %s, a fresh parse says %s", f, got, want)
			}
			if all[f] != want {
				t.Errorf("AtAll: %q at %s, a fresh parse says %s", f, all[f], want)
			}
		}
	}
	if got := site.Pos.At("spec.pools[1].count"); got != "site.yaml:15" {
		t.Errorf("pools[1].count at %s, want site.yaml:15", got)
	}
	// A document that no longer parses, or no text: the document's line.
	broken := Position{File: "b.yaml", Line: 4, src: &docSource{data: "a: [\n", firstLine: 1}}
	if got := broken.At("a"); got != "b.yaml:4" {
		t.Errorf("broken document: %s", got)
	}
	if got := (Position{File: "c.yaml", Line: 2}).At("a.b"); got != "c.yaml:2" {
		t.Errorf("no text: %s", got)
	}
}

// TestAtManyPoolsOneParse: looking up every field of every pool of a
// site of 4,000 pools, one field at a time, parsed the document once per
// lookup: 24,000 parses of a 4,000-pool document. It parses it a few
// times at most, and takes time in proportion to the lookups.
func TestAtManyPoolsOneParse(t *testing.T) {
	const n = 4000
	site := decodeSite(t, manyPoolSite(n))
	parses := 0
	old := parseSource
	parseSource = func(s *docSource) (*node, error) {
		parses++
		return old(s)
	}
	t.Cleanup(func() { parseSource = old })
	fields := siteFields(n)
	start := time.Now()
	// The tree is held weakly: a collection during the lookups may drop
	// it, and the next lookup parses again.
	for i, f := range fields {
		site.Pos.At(f)
		if parses > 20 {
			t.Fatalf("%d lookups parsed the document %d times", i+1, parses)
		}
	}
	took := time.Since(start)
	if took > 5*time.Second {
		t.Errorf("%d lookups took %v", len(fields), took)
	}
}

// BenchmarkAtManyPools looks up every field of every pool of a site, one
// At call each: the cost per lookup must not grow with the pools.
func BenchmarkAtManyPools(b *testing.B) {
	for _, n := range []int{250, 500, 1000, 4000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			if n > 1000 && testing.Short() {
				b.Skip("slow before the fix")
			}
			site := decodeSite(b, manyPoolSite(n))
			fields := siteFields(n)
			for b.Loop() {
				for _, f := range fields {
					site.Pos.At(f)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(fields)), "ns/lookup")
		})
	}
}

// TestAtConcurrent: lookups into one document from several goroutines
// share its kept tree and give the lines one goroutine gets.
func TestAtConcurrent(t *testing.T) {
	site := decodeSite(t, manyPoolSite(50))
	fields := siteFields(50)
	want := site.Pos.AtAll(fields)
	done := make(chan string, 4)
	for g := range 4 {
		go func() {
			for i, f := range fields {
				if g == 0 && i%50 == 0 {
					runtime.GC()
				}
				if got := site.Pos.At(f); got != want[f] {
					done <- fmt.Sprintf("%s at %s, want %s", f, got, want[f])
					return
				}
			}
			done <- ""
		}()
	}
	for range 4 {
		if msg := <-done; msg != "" {
			t.Error(msg)
		}
	}
}
