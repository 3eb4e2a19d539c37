package policy

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"

	"meridian.dev/meridian/catalog"
)

type cand struct {
	site *catalog.Site
	pool *catalog.Pool
	acc  *catalog.Accelerator
}

// syntheticCandidates makes n candidates from copies of the test world's
// sites, each copy with its own name and city, so that classes repeat.
func syntheticCandidates(t testing.TB, w *testWorld, n int) []cand {
	return syntheticCandidatesDated(t, w, n, 1)
}

// syntheticCandidatesDated also spreads acquisition dates over `dates`
// monthly steps, multiplying the number of classes.
func syntheticCandidatesDated(t testing.TB, w *testWorld, n, dates int) []cand {
	var names []string
	for name := range w.sites {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []cand
	for i := 0; len(out) < n; i++ {
		base := w.sites[names[i%len(names)]]
		s := *base
		s.Metadata.Name = fmt.Sprintf("%s-copy-%d", base.Metadata.Name, i)
		s.Spec.City = fmt.Sprintf("city-%d", i)
		s.Spec.Pools = append([]catalog.Pool{}, base.Spec.Pools...)
		for j := range s.Spec.Pools {
			if len(out) == n {
				break
			}
			p := &s.Spec.Pools[j]
			if dates > 1 && !p.Acquired.IsZero() {
				p.Acquired = catalog.Date{Time: p.Acquired.AddDate(0, (i/len(names))%dates, 0)}
			}
			out = append(out, cand{&s, p, w.accs[p.Accelerator]})
		}
	}
	return out
}

func classOf(c cand) string {
	return fmt.Sprint(c.site.Spec.Country, c.site.Spec.Operator.Headquarters, c.site.Spec.Operator.Name, c.pool.Accelerator, c.pool.Owner, c.pool.Acquired)
}

// TestClassCache checks that 10,000 candidates cost one evaluation per
// class, and that a cached decision equals the one a fresh session gives.
func TestClassCache(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	cands := syntheticCandidates(t, w, 10000)
	q := w.query(t, "2025-07-20", "cn-lab", jobSpec{Markets: []string{"EU"}}, 3e25, "cn-users-300k", "eu-customers")
	s, err := e.Session(q)
	if err != nil {
		t.Fatal(err)
	}
	classes := map[string]bool{}
	got := make([]Decision, len(cands))
	for i, c := range cands {
		classes[classOf(c)] = true
		got[i] = s.Evaluate(c.site, c.pool, c.acc)
	}
	if s.Evaluations() != len(classes) {
		t.Errorf("%d evaluations for %d classes", s.Evaluations(), len(classes))
	}
	for i := 0; i < len(cands); i += 97 {
		fresh, err := e.Session(q)
		if err != nil {
			t.Fatal(err)
		}
		want := fresh.Evaluate(cands[i].site, cands[i].pool, cands[i].acc)
		if diff := cmp.Diff(want, got[i]); diff != "" {
			t.Fatalf("candidate %d (%s): cached decision differs (-fresh +cached):\n%s", i, cands[i].site.Metadata.Name, diff)
		}
	}
}

// TestClassKeyFollowsRules: when a user rule reads site.name, each site is
// its own class, so the cache can never hand one site's answer to another.
func TestClassKeyFollowsRules(t *testing.T) {
	dir := t.TempDir()
	pack := `apiVersion: meridian.dev/v1alpha1
kind: RulePack
metadata: {name: by-name}
rules:
  - id: no-copy-3
    jurisdiction: ORG
    kind: org-policy
    effect: deny
    effectiveFrom: 2020-01-01
    enforcement: in-force
    confidence: confirmed
    sources: [test]
    message: "site {site.name} is banned"
    condition: site.name.endsWith('-copy-3')
`
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(pack), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := New(Options{Dirs: []string{dir}, NoBuiltin: true})
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	s, err := e.Session(w.query(t, "2025-07-20", "us-lab", jobSpec{}, 1e21))
	if err != nil {
		t.Fatal(err)
	}
	denied := 0
	for _, c := range syntheticCandidates(t, w, 200) {
		d := s.Evaluate(c.site, c.pool, c.acc)
		isCopy3 := len(c.site.Metadata.Name) > 7 && c.site.Metadata.Name[len(c.site.Metadata.Name)-7:] == "-copy-3"
		fired := findRule(d.Denials, "no-copy-3") != nil
		if fired != isCopy3 {
			t.Errorf("%s: no-copy-3 fired=%v", c.site.Metadata.Name, fired)
		}
		if fired {
			denied++
		}
	}
	if denied == 0 {
		t.Fatal("the rule never fired")
	}
}

// BenchmarkEvaluate10k evaluates every built-in rule over 10,000
// candidates in a fresh session per iteration (one plan's cost), with the
// test world's classes (19) and with acquisition dates spread over 12
// months (about 200 classes).
func BenchmarkEvaluate10k(b *testing.B) {
	for _, dates := range []int{1, 12} {
		b.Run(fmt.Sprintf("dates=%d", dates), func(b *testing.B) { benchEvaluate(b, dates) })
	}
}

func benchEvaluate(b *testing.B, dates int) { benchEvaluateTuned(b, dates, false, tuning{}) }

// BenchmarkCacheRefinements measures what each refinement of the class
// cache is worth: BenchmarkEvaluate10k with one refinement switched off at
// a time, with acquisition dates spread over 12 months, on the test
// world's operators and with operators headquartered in eight countries
// (as in a catalog of many neoclouds).
func BenchmarkCacheRefinements(b *testing.B) {
	for _, hqs := range []bool{false, true} {
		for _, c := range []struct {
			name string
			t    tuning
		}{
			{"all", tuning{}},
			{"exact-dates", tuning{exactDates: true}},
		} {
			b.Run(fmt.Sprintf("operators=%s/%s", map[bool]string{false: "world", true: "8hq"}[hqs], c.name), func(b *testing.B) {
				benchEvaluateTuned(b, 12, hqs, c.t)
			})
		}
	}
}

func benchEvaluateTuned(b *testing.B, dates int, variedHQ bool, t tuning) {
	e, err := Builtin()
	if err != nil {
		b.Fatal(err)
	}
	e.tune = t
	w := loadTestWorld(b)
	cands := syntheticCandidatesDated(b, w, 10000, dates)
	if variedHQ {
		hqs := []string{"SG", "MY", "US", "DE", "FR", "JP", "CN", "HK"}
		for i, c := range cands {
			c.site.Spec.Operator.Headquarters = hqs[i%len(hqs)]
		}
	}
	q := w.query(b, "2025-07-20", "cn-lab", jobSpec{Markets: []string{"EU", "CN"}}, 3e25, "cn-users-300k", "eu-customers")
	b.ReportAllocs()
	b.ResetTimer()
	var evals int
	for range b.N {
		s, err := e.Session(q)
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range cands {
			s.Evaluate(c.site, c.pool, c.acc)
		}
		evals = s.Evaluations()
	}
	b.ReportMetric(float64(evals), "classes")
}

// BenchmarkEvaluateClass is the cost of one uncached class: every
// candidate rule, the definitions and the transfers of two datasets, with
// nothing shared from earlier classes.
func BenchmarkEvaluateClass(b *testing.B) {
	e, err := Builtin()
	if err != nil {
		b.Fatal(err)
	}
	w := loadTestWorld(b)
	q := w.query(b, "2025-07-20", "cn-lab", jobSpec{Markets: []string{"EU", "CN"}}, 3e25, "cn-users-300k", "eu-customers")
	s, err := e.Session(q)
	if err != nil {
		b.Fatal(err)
	}
	site, pool, acc := w.candidate(b, "my-johor-rent", 0)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		s.transfers = map[string]transferResult{}
		s.accs, s.owners, s.groups, s.sites = map[*catalog.Accelerator]accEntry{}, map[ownerKey]facts{}, map[*catalog.Country][]string{}, map[*catalog.Site]facts{}
		s.evaluate(site, pool, acc)
	}
}

// TestConcurrentEvaluate shares one session between goroutines (run with
// -race); every goroutine must see the decisions a sequential run gives.
func TestConcurrentEvaluate(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	cands := syntheticCandidatesDated(t, w, 2000, 3)
	q := w.query(t, "2025-07-20", "cn-lab", jobSpec{}, 1e21, "cn-users-300k")
	seq, err := e.Session(q)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]Decision, len(cands))
	for i, c := range cands {
		want[i] = seq.Evaluate(c.site, c.pool, c.acc)
	}
	shared, err := e.Session(q)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan string, 4)
	for g := range 4 {
		go func() {
			for i := range cands {
				j := (i + g*len(cands)/4) % len(cands)
				c := cands[j]
				if diff := cmp.Diff(want[j], shared.Evaluate(c.site, c.pool, c.acc)); diff != "" {
					errs <- fmt.Sprintf("candidate %d: %s", j, diff)
					return
				}
			}
			errs <- ""
		}()
	}
	for range 4 {
		if msg := <-errs; msg != "" {
			t.Error(msg)
		}
	}
}
