package planner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"meridian.dev/meridian/bench/synth"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/estimate"
	"meridian.dev/meridian/policy"
)

func TestLadder(t *testing.T) {
	for _, tc := range []struct {
		name   string
		lo, hi int
		want   []int
	}{
		{"single", 8, 8, []int{8}},
		{"powers between", 3, 100, []int{3, 4, 8, 16, 32, 64, 100}},
		{"hi is a power", 2, 16, []int{2, 4, 8, 16}},
		{"zero lo starts at one", 0, 5, []int{1, 2, 4, 5}},
		{"empty when lo above hi", 9, 8, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, ladder(tc.lo, tc.hi)); d != "" {
				t.Errorf("ladder(%d, %d) (-want +got):\n%s", tc.lo, tc.hi, d)
			}
		})
	}
}

var usEAR = policy.Finding{Rule: "us-ear-test", Effect: policy.Deny, Message: "US chips may not go to this country", Source: "test rule"}

// kindsWorld has one site per rejection kind and one feasible site.
func kindsWorld(t testing.TB) *catalog.World {
	return testWorld(t, testOrg,
		site("a-ok", "MY", 100, 0.05, pool("test-fast", 64, 64, 2)),
		site("b-law", "CN", 100, 0.05, pool("test-fast", 64, 64, 2)),
		site("c-cap", "SG", 100, 0.05, pool("test-fast", 64, 1, 2)),
		site("d-mem", "SG", 100, 0.05, pool("test-slow", 4, 4, 1)),
		site("e-cons", "US", 100, 0.05, pool("test-fast", 64, 64, 1)),
		site("f-dead", "MY", 100, 0.05, pool("test-fast", 4, 4, 1)),
		site("g-budget", "MY", 100, 0.05, pool("test-fast", 64, 64, 100)),
		site("h-small", "MY", 100, 0.05, pool("test-fast", 1, 1, 1)),
		job("  deadline: 100h", "  budgetUSD: 100000", "  constraints: {countries: {deny: [US]}, minAccelerators: 2}"))
}

func TestMakeRejectsEachKind(t *testing.T) {
	law := &tableLaw{deny: map[string]policy.Finding{"CN/test-fast": usEAR}}
	p := mustMake(t, kindsWorld(t), law, &sixND{mfu: 0.5}, Options{})
	type row struct {
		Site       string
		Kind       Kind
		Resolution Resolution
		Candidates int
		Rules      string
	}
	var got []row
	for _, r := range p.Rejected {
		var rules []string
		for _, f := range r.Reasons {
			rules = append(rules, f.Rule)
		}
		got = append(got, row{r.Site, r.Kind, r.Resolution, r.Candidates, strings.Join(rules, ",")})
	}
	want := []row{
		{"b-law", KindLaw, Unresolvable, 1, "us-ear-test"},
		{"c-cap", KindCapacity, NotNow, 1, CodeFree},
		{"d-mem", KindMemory, NotNow, 1, CodeNoFit},
		{"e-cons", KindConstraint, NotNow, 1, CodeCountry},
		{"f-dead", KindDeadline, NotNow, 1, CodeDeadline},
		{"g-budget", KindBudget, NotNow, 1, CodeBudget},
		{"h-small", KindConstraint, NotNow, 1, CodeMinCount},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("rejections (-want +got):\n%s", d)
	}
	if len(p.Placements) != 1 || p.Placements[0].Site != "a-ok" || p.Placements[0].Count != 64 {
		t.Fatalf("placements = %+v, want a-ok × 64 only", p.Placements)
	}
	wantKinds := map[string]int{"law": 1, "capacity": 1, "memory": 1, "constraint": 2, "deadline": 1, "budget": 1, "access": 0}
	if d := cmp.Diff(wantKinds, p.Summary.RejectedByKind); d != "" {
		t.Errorf("rejectedByKind (-want +got):\n%s", d)
	}
	if p.Summary.Candidates != 8 || p.Summary.Feasible != 1 {
		t.Errorf("candidates %d feasible %d, want 8 and 1", p.Summary.Candidates, p.Summary.Feasible)
	}
	// Law runs once per pool, not per count, and not again in the relaxed
	// pass for the cost of sovereignty (which alone reaches e-cons); a pool
	// whose chips cannot hold the model (d-mem) never reaches it.
	if d := cmp.Diff(map[string]int{"a-ok/test-fast": 1, "b-law/test-fast": 1, "c-cap/test-fast": 1,
		"e-cons/test-fast": 1, "f-dead/test-fast": 1, "g-budget/test-fast": 1}, law.calls); d != "" {
		t.Errorf("law evaluations (-want +got):\n%s", d)
	}
}

func TestResolutionIsAType(t *testing.T) {
	for _, k := range Kinds {
		want := NotNow
		if k == KindLaw {
			want = Unresolvable
		}
		if got := k.Resolution(); got != want {
			t.Errorf("%s.Resolution() = %v, want %v", k, got, want)
		}
		b, _ := k.Resolution().MarshalText()
		var back Resolution
		if err := back.UnmarshalText(b); err != nil || back != want {
			t.Errorf("round trip %q: %v %v", b, back, err)
		}
	}
	var r Resolution
	if err := r.UnmarshalText([]byte("later")); err == nil {
		t.Error("UnmarshalText accepted an unknown resolution")
	}
}

func TestRankByObjective(t *testing.T) {
	// cheap-slow: test-slow at $0.5; fast-dear: test-fast at $3. The slow chip
	// costs 3333×4×0.5 ≈ $6.7k per run, the fast one 3333×3 = $10k.
	docs := []string{testOrg,
		site("cheap-slow", "MY", 100, 0.05, pool("test-slow", 64, 64, 0.5)),
		site("fast-dear", "SG", 100, 0.05, pool("test-fast", 64, 64, 3))}
	for _, tc := range []struct {
		objective string
		first     string
	}{{"cost", "cheap-slow"}, {"time", "fast-dear"}} {
		t.Run(tc.objective, func(t *testing.T) {
			w := testWorld(t, append(docs, job("  objective: "+tc.objective))...)
			p := mustMake(t, w, &tableLaw{}, &sixND{mfu: 0.5}, Options{Points: true})
			if p.Placements[0].Site != tc.first {
				t.Errorf("first = %s, want %s", p.Placements[0].Site, tc.first)
			}
			for i, pl := range p.Placements {
				if pl.Rank != i+1 {
					t.Errorf("placement %d has rank %d", i, pl.Rank)
				}
			}
			for i := 1; i < len(p.All); i++ {
				a, b := p.All[i-1], p.All[i]
				first, second := b.CostUSD-a.CostUSD, b.Hours-a.Hours
				if tc.objective == "time" {
					first, second = second, first
				}
				if first < 0 || (first == 0 && second < 0) {
					t.Errorf("All[%d] (%s × %d) ranks below a worse one", i, b.Site, b.Count)
				}
			}
		})
	}
}

func TestMarkPareto(t *testing.T) {
	for _, tc := range []struct {
		name string
		pts  [][2]float64 // cost, hours
		want []bool
	}{
		{"one", [][2]float64{{1, 1}}, []bool{true}},
		{"dominated", [][2]float64{{1, 1}, {2, 2}}, []bool{true, false}},
		{"trade-off", [][2]float64{{1, 3}, {2, 2}, {3, 1}}, []bool{true, true, true}},
		{"same cost slower", [][2]float64{{1, 2}, {1, 3}}, []bool{true, false}},
		{"exact tie both kept", [][2]float64{{1, 2}, {1, 2}, {5, 9}}, []bool{true, true, false}},
		{"unsorted", [][2]float64{{3, 1}, {2, 5}, {1, 3}}, []bool{true, false, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := make([]option, len(tc.pts))
			for i, p := range tc.pts {
				ps[i] = option{cost: p[0], hours: p[1]}
			}
			markPareto(ps)
			got := make([]bool, len(ps))
			for i := range ps {
				got[i] = ps[i].pareto
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("pareto (-want +got):\n%s", d)
			}
		})
	}
}

func TestChooseKeepsBestPerPoolAndFront(t *testing.T) {
	w := testWorld(t, testOrg, site("s", "MY", 100, 0.05, pool("test-fast", 64, 64, 2)), job())
	p := mustMake(t, w, &tableLaw{}, &sixND{mfu: 0.5}, Options{Points: true})
	// Linear scaling: every count costs the same, so the fastest ties on cost
	// and wins; the others are dominated.
	if len(p.All) != 6 {
		t.Fatalf("feasible = %d, want 6 counts (2..64)", len(p.All))
	}
	if len(p.Placements) != 1 || p.Placements[0].Count != 64 || !p.Placements[0].Pareto {
		t.Errorf("placements = %+v, want the 64 count alone on the front", p.Placements)
	}
}

func TestDataMoves(t *testing.T) {
	w := testWorld(t, testOrg,
		site("store", "CN", 10, 0.10, pool("test-fast", 8, 8, 2)),
		site("far", "MY", 100, 0.05, pool("test-fast", 64, 64, 2)),
		dataset("at-site", "store", 1e12), dataset("in-country", "", 2e12),
		job("  datasets: [at-site, in-country]"))
	law := &tableLaw{bases: map[string]string{"at-site": "cn-standard-contract"}}
	p := mustMake(t, w, law, &sixND{mfu: 0.5}, Options{})
	got := map[string][]DataMove{}
	for _, pl := range p.Placements {
		got[pl.Site] = pl.DataMoves
	}
	eff := defaultLinkEfficiency
	want := map[string][]DataMove{
		"store": {{Dataset: "in-country", From: "CN", To: "CN", ToSite: "store", Bytes: 2e12, Gbps: 10,
			CostUSD: 2e12 / 1e9 * defaultEgressPerGB, Hours: 2e12 * 8 / (10e9 * eff) / 3600}},
		// Out of CN to MY: the cross-border link's 5 Gbps, narrower than
		// the store's 10 and the far site's 100.
		"far": {
			{Dataset: "at-site", From: "CN", FromSite: "store", To: "MY", ToSite: "far", Bytes: 1e12, Basis: "cn-standard-contract", Gbps: 5,
				CostUSD: 1e12 / 1e9 * 0.10, Hours: 1e12 * 8 / (5e9 * eff) / 3600},
			{Dataset: "in-country", From: "CN", To: "MY", ToSite: "far", Bytes: 2e12, Gbps: 5,
				CostUSD: 2e12 / 1e9 * defaultEgressPerGB, Hours: 2e12 * 8 / (5e9 * eff) / 3600},
		},
	}
	// Placements are rounded to cents and hundredths of an hour.
	near := func(a, b float64) bool { return math.Abs(a-b) <= 0.011 }
	approx := cmp.Comparer(near)
	if d := cmp.Diff(want, got, approx); d != "" {
		t.Errorf("data moves (-want +got):\n%s", d)
	}
	for _, pl := range p.Placements {
		var cost, hours float64
		for _, m := range pl.DataMoves {
			cost += m.CostUSD
			hours += m.Hours
		}
		if !near(pl.DataCostUSD, cost) || !near(pl.CostUSD, pl.ComputeCostUSD+cost) || !near(pl.Hours, pl.ComputeHours+hours) {
			t.Errorf("%s × %d: data cost/time not added: %+v", pl.Site, pl.Count, pl)
		}
	}
	if len(p.Assumptions) != 3 {
		t.Errorf("assumptions = %q, want the egress, link-efficiency and cross-border defaults", p.Assumptions)
	}
}

// TestCrossBorderLinks: 12 TB moved from China to the US was counted as
// about 5 minutes (the sites' 400 Gbit/s). A border caps a transfer at the
// link table's throughput, cited in the plan's assumptions; into mainland
// China lower still; a job may override it.
func TestCrossBorderLinks(t *testing.T) {
	docs := []string{testOrg,
		site("us", "US", 400, 0.05, pool("test-fast", 64, 64, 2)),
		site("cn", "CN", 400, 0.05, pool("test-fast", 64, 64, 2)),
		site("us-2", "US", 400, 0.05, pool("test-fast", 64, 64, 2))}
	moveHours := func(p *Plan, site string) (float64, float64) {
		for _, pl := range p.Placements {
			if pl.Site == site {
				return pl.DataMoves[0].Hours, pl.DataMoves[0].Gbps
			}
		}
		t.Fatalf("no placement at %s", site)
		return 0, 0
	}
	eff := defaultLinkEfficiency
	w := testWorld(t, append(docs, dataset("corpus", "cn", 12e12), job("  datasets: [corpus]"))...)
	p := mustMake(t, w, &tableLaw{}, &sixND{mfu: 0.5}, Options{})
	if h, g := moveHours(p, "us"); g != 5 || math.Abs(h-hundredths(12e12*8/(5e9*eff)/3600)) > 0.01 {
		t.Errorf("12 TB CN → US: %g h at %g Gbit/s, want %.2f h at 5", h, g, 12e12*8/(5e9*eff)/3600)
	}
	if h, _ := moveHours(p, "us"); h < 5 {
		t.Errorf("12 TB across the Pacific in %g h", h)
	}
	cited := false
	for _, a := range p.Assumptions {
		cited = cited || strings.Contains(a, "across a border gets at most 5 Gbit/s") && strings.Contains(a, "Amazon EC2")
	}
	if !cited {
		t.Errorf("the cross-border default is not cited: %q", p.Assumptions)
	}

	w = testWorld(t, append(docs, dataset("corpus", "us", 12e12), job("  datasets: [corpus]"))...)
	p = mustMake(t, w, &tableLaw{}, &sixND{mfu: 0.5}, Options{})
	if _, g := moveHours(p, "cn"); g != 0.5 {
		t.Errorf("into CN at %g Gbit/s, want the table's 0.5", g)
	}
	if _, g := moveHours(p, "us-2"); g != 400 {
		t.Errorf("within the US at %g Gbit/s, want the sites' 400", g)
	}

	w = testWorld(t, append(docs, dataset("corpus", "cn", 12e12), job("  datasets: [corpus]", "  assumptions: {crossBorderGbps: 40}"))...)
	p = mustMake(t, w, &tableLaw{}, &sixND{mfu: 0.5}, Options{})
	if _, g := moveHours(p, "us"); g != 40 {
		t.Errorf("crossBorderGbps 40: %g", g)
	}
}

func TestDataMoveAssumptionOverride(t *testing.T) {
	w := testWorld(t, testOrg, site("s", "MY", 100, 0.05, pool("test-fast", 8, 8, 2)),
		dataset("d", "", 1e12), job("  datasets: [d]", "  assumptions: {dataEgressPerGB: 0.5}"))
	p := mustMake(t, w, &tableLaw{}, &sixND{mfu: 0.5}, Options{})
	if got := p.Placements[0].DataCostUSD; math.Abs(got-500) > 1e-6 {
		t.Errorf("data cost = %g, want 1,000 GB × $0.5 = 500", got)
	}
}

func TestCostOfSovereignty(t *testing.T) {
	docs := []string{testOrg,
		site("home", "CN", 100, 0.05, pool("test-slow", 64, 64, 2)),
		site("abroad", "MY", 100, 0.05, pool("test-fast", 64, 64, 1))}
	t.Run("constrained", func(t *testing.T) {
		w := testWorld(t, append(docs, job("  constraints: {countries: {allow: [CN]}}"))...)
		p := mustMake(t, w, &tableLaw{}, &sixND{mfu: 0.5}, Options{})
		s := p.Summary.CostOfSovereignty
		if s == nil || s.With == nil || s.Without == nil {
			t.Fatalf("cost of sovereignty = %+v, want with and without", s)
		}
		if s.With.Site != "home" || s.Without.Site != "abroad" {
			t.Errorf("with %s without %s, want home and abroad", s.With.Site, s.Without.Site)
		}
		if math.Abs(*s.ExtraCostUSD-(s.With.CostUSD-s.Without.CostUSD)) > 0.01 || *s.ExtraCostUSD <= 0 {
			t.Errorf("extra cost %g, want positive with − without", *s.ExtraCostUSD)
		}
		if d := cmp.Diff([]string{"countries"}, s.Constraints); d != "" {
			t.Error(d)
		}
	})
	t.Run("relaxed still lawful", func(t *testing.T) {
		w := testWorld(t, append(docs, job("  constraints: {accelerators: {allow: [test-slow]}}"))...)
		law := &tableLaw{deny: map[string]policy.Finding{"MY/*": usEAR}}
		p := mustMake(t, w, law, &sixND{mfu: 0.5}, Options{})
		if s := p.Summary.CostOfSovereignty; s.Without == nil || s.Without.Site != "home" {
			t.Errorf("without = %+v, want home: the unlawful abroad site must not count", s.Without)
		}
	})
	t.Run("unconstrained has none", func(t *testing.T) {
		w := testWorld(t, append(docs, job())...)
		if s := mustMake(t, w, &tableLaw{}, &sixND{mfu: 0.5}, Options{}).Summary.CostOfSovereignty; s != nil {
			t.Errorf("cost of sovereignty = %+v for a job without constraints", s)
		}
	})
}

func TestExcludeSites(t *testing.T) {
	w := kindsWorld(t)
	p := mustMake(t, w, &tableLaw{}, &sixND{mfu: 0.5}, Options{ExcludeSites: []string{"a-ok", "b-law"}})
	for _, pl := range p.All {
		if pl.Site == "a-ok" || pl.Site == "b-law" {
			t.Errorf("excluded site %s placed", pl.Site)
		}
	}
	for _, r := range p.Rejected {
		if r.Site == "a-ok" || r.Site == "b-law" {
			t.Errorf("excluded site %s rejected: it must not be a candidate", r.Site)
		}
	}
}

func TestFailsClosed(t *testing.T) {
	w := kindsWorld(t)
	t.Run("session fails", func(t *testing.T) {
		boom := errors.New("rule pack does not parse")
		_, err := Make(w, w.Jobs[0], Options{Rules: &tableLaw{sessionErr: boom}, Estimator: &sixND{mfu: 0.5}})
		if !errors.Is(err, boom) {
			t.Errorf("err = %v, want the session error", err)
		}
	})
	t.Run("denial without reason", func(t *testing.T) {
		p := mustMake(t, w, &tableLaw{silentDeny: true}, &sixND{mfu: 0.5}, Options{})
		if len(p.Placements) != 0 {
			t.Fatalf("placed %d with a law that denies everything", len(p.Placements))
		}
		for _, r := range p.Rejected {
			if r.Kind == KindLaw && r.Reasons[0].Rule != CodeLawUndecided {
				t.Errorf("%s: reason %q, want %s", r.Site, r.Reasons[0].Rule, CodeLawUndecided)
			}
		}
	})
}

func TestEstimateFailureRejects(t *testing.T) {
	w := testWorld(t, testOrg, site("s", "MY", 100, 0.05, pool("test-fast", 8, 8, 2)), job())
	p := mustMake(t, w, &tableLaw{}, &sixND{mfu: 0.5, fail: "test-fast"}, Options{})
	if len(p.Placements) != 0 || len(p.Rejected) != 1 || p.Rejected[0].Reasons[0].Rule != CodeNoEstimate {
		t.Errorf("plan = %+v, want one no-estimate rejection", p)
	}
}

func TestMissingReferences(t *testing.T) {
	w := testWorld(t, testOrg, site("s", "MY", 100, 0.05, pool("test-fast", 8, 8, 2)), job("  datasets: [nowhere]"))
	_, err := Make(w, w.Jobs[0], Options{Rules: &tableLaw{}, Estimator: &sixND{mfu: 0.5}})
	if err == nil || !strings.Contains(err.Error(), "spec.datasets[0]") || !strings.Contains(err.Error(), "world.yaml") {
		t.Errorf("err = %v, want file and field", err)
	}
	w.Jobs[0].Spec.Datasets = nil
	w.Jobs[0].Spec.Organization = "ghost"
	_, err = Make(w, w.Jobs[0], Options{Rules: &tableLaw{}, Estimator: &sixND{mfu: 0.5}})
	if err == nil || !strings.Contains(err.Error(), "spec.organization") {
		t.Errorf("err = %v, want spec.organization", err)
	}
	_, err = Make(w, w.Jobs[0], Options{Rules: &tableLaw{}, Explain: "nope"})
	if err == nil {
		t.Error("explain of an unknown site succeeded")
	}
}

func TestCountryBlocs(t *testing.T) {
	de := &catalog.Country{ISO: "DE", EU: true, EEA: true}
	for _, tc := range []struct {
		name string
		ad   catalog.AllowDeny
		iso  string
		c    *catalog.Country
		want bool
	}{
		{"EU allows DE", catalog.AllowDeny{Allow: []string{"EU"}}, "DE", de, true},
		{"EU excludes MY", catalog.AllowDeny{Allow: []string{"EU"}}, "MY", &catalog.Country{ISO: "MY"}, false},
		{"deny EEA", catalog.AllowDeny{Deny: []string{"EEA"}}, "DE", de, false},
		{"deny beats allow", catalog.AllowDeny{Allow: []string{"EU"}, Deny: []string{"DE"}}, "DE", de, false},
		{"empty allows", catalog.AllowDeny{}, "MY", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := countryPermits(tc.ad, tc.iso, tc.c); got != tc.want {
				t.Errorf("got %v want %v", got, tc.want)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	law := &tableLaw{deny: map[string]policy.Finding{"CN/test-fast": usEAR},
		obligations: map[string][]policy.Finding{"MY": {{Rule: "my-permit", Effect: policy.Obligation, Message: "notify", Source: "MY gazette"}}}}
	p := mustMake(t, kindsWorld(t), law, &sixND{mfu: 0.5}, Options{Explain: "a-ok"})
	var checks []string
	for _, s := range p.Explain.Steps {
		checks = append(checks, s.Check)
	}
	want := []string{"constraint", "access", "memory", "law", "capacity", "data",
		"estimate", "deadline", "estimate", "deadline", "estimate", "deadline", "estimate", "deadline", "estimate", "deadline",
		"estimate", "placement"}
	if d := cmp.Diff(want, checks); d != "" {
		t.Errorf("steps (-want +got):\n%s", d)
	}
	var buf bytes.Buffer
	if err := WriteExplanation(&buf, p.Explain); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"my-permit", "MY gazette", "× 64", "placement"} {
		if !strings.Contains(buf.String(), s) {
			t.Errorf("explanation lacks %q:\n%s", s, buf.String())
		}
	}
	p = mustMake(t, kindsWorld(t), law, &sixND{mfu: 0.5}, Options{Explain: "b-law"})
	buf.Reset()
	WriteExplanation(&buf, p.Explain)
	if !strings.Contains(buf.String(), "REJECTED") || !strings.Contains(buf.String(), "source: test rule") {
		t.Errorf("law rejection not explained with its source:\n%s", buf.String())
	}
}

func TestHistogram(t *testing.T) {
	law := &tableLaw{deny: map[string]policy.Finding{"CN/test-fast": usEAR, "CN/*": {Rule: "cn-other", Message: "x", Source: "y"}}}
	p := mustMake(t, kindsWorld(t), law, &sixND{mfu: 0.5}, Options{})
	want := "1 of 8 candidates feasible; rejected for constraint: 2; law: 1 (1 cn-other, 1 us-ear-test); memory: 1; capacity: 1; deadline: 1; budget: 1"
	if got := Histogram(p); got != want {
		t.Errorf("histogram\n got %q\nwant %q", got, want)
	}
}

func TestThousands(t *testing.T) {
	for in, want := range map[int]string{0: "0", 999: "999", 8214: "8,214", 1234567: "1,234,567", -1000: "-1,000"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestDeterministic(t *testing.T) {
	law := &tableLaw{deny: map[string]policy.Finding{"CN/test-fast": usEAR}}
	var first []byte
	for i := 0; i < 5; i++ {
		w := kindsWorld(t)
		p := mustMake(t, w, law, &sixND{mfu: 0.5}, Options{Explain: "a-ok"})
		var buf bytes.Buffer
		if err := json.NewEncoder(&buf).Encode(p); err != nil {
			t.Fatal(err)
		}
		if err := WriteTable(&buf, p, 0); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = buf.Bytes()
		} else if !bytes.Equal(first, buf.Bytes()) {
			t.Fatalf("run %d differs from run 0", i)
		}
	}
}

func TestRealEstimatorWithPlannerAssumptions(t *testing.T) {
	w := testWorld(t, testOrg, site("s", "MY", 100, 0.05, pool("nvidia-h100-sxm", 64, 64, 2)),
		dataset("d", "", 1e12), job("  datasets: [d]", "  assumptions: {dataEgressPerGB: 0.5, mfu: 0.3}"))
	p := mustMake(t, w, &tableLaw{}, nil, Options{})
	if len(p.Placements) == 0 {
		t.Fatalf("no placement; rejected: %+v", p.Rejected)
	}
	if got := p.Placements[0].DataCostUSD; math.Abs(got-500) > 1e-6 {
		t.Errorf("data cost = %g, want 500", got)
	}
	found := false
	for _, a := range p.Assumptions {
		if strings.HasPrefix(a, "estimate of rank 1:") {
			found = true
		}
	}
	if !found {
		t.Errorf("assumptions lack the estimator's: %q", p.Assumptions)
	}
	// The job's spec reaches the estimator whole: it reads mfu and ignores
	// the planner's key, so the placement runs at the job's MFU.
	mfuSeen := false
	for _, a := range p.Assumptions {
		if strings.Contains(a, "MFU: 0.3 from spec.assumptions.mfu") {
			mfuSeen = true
		}
	}
	if !mfuSeen {
		t.Errorf("the estimator did not use spec.assumptions.mfu: %q", p.Assumptions)
	}
	j := w.Jobs[0]
	if _, ok := j.Spec.Assumptions["dataEgressPerGB"]; !ok {
		t.Error("the planner removed its key from the job's spec")
	}
}

// TestPlannerAssumptionKeys: AssumptionKeys holds the planner's keys and
// the estimator's; with them the loader refuses a misspelt key, naming the
// field and the accepted keys, before any planning.
func TestPlannerAssumptionKeys(t *testing.T) {
	keys := AssumptionKeys()
	for _, k := range []string{"dataEgressPerGB", "linkEfficiency", "mfu", "runEfficiency"} {
		if _, ok := keys.Lookup(k); !ok {
			t.Errorf("key %s is missing; keys: %v", k, keys.Names())
		}
	}
	docs := testOrg + "\n---\n" + dataset("d", "", 1e12) + "\n---\n" + job("  datasets: [d]", "  assumptions: {dataEgresPerGB: 0.5}")
	path := filepath.Join(t.TempDir(), "job.yaml")
	if err := os.WriteFile(path, []byte(docs), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := catalog.Load(AssumptionKeys(), "", path)
	if err == nil {
		t.Fatal("a misspelt planner key loads")
	}
	for _, want := range []string{"spec.assumptions.dataEgresPerGB", "dataEgressPerGB", "linkEfficiency"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// TestSameAcrossWorkerCounts plans a synthetic world with one and with
// four workers: the split of work must not show in the plan.
func TestSameAcrossWorkerCounts(t *testing.T) {
	w, err := synth.World(600, 4, 7)
	if err != nil {
		t.Fatal(err)
	}
	law := builtinLaw(t)
	var outs []string
	for _, procs := range []int{1, 4} {
		old := runtime.GOMAXPROCS(procs)
		p, err := Make(w, w.Jobs[0], Options{AsOf: catalog.MustDate("2025-06-01"), Rules: law, Explain: w.Sites[3].Metadata.Name})
		runtime.GOMAXPROCS(old)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(p)
		outs = append(outs, string(b))
	}
	if outs[0] != outs[1] {
		t.Error("plans differ between 1 and 4 workers")
	}
}

// TestNilRulesMeansBuiltin: a caller that gives no law engine (the run
// package re-planning after a lost site) gets the built-in packs, never
// no law at all.
func TestNilRulesMeansBuiltin(t *testing.T) {
	w, err := catalog.Load(AssumptionKeys(), "testdata/world/sites", "../examples/qwen-offshore.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var got [2]string
	for i, law := range []Law{nil, builtinLaw(t)} {
		p, err := Make(w, w.Jobs[0], Options{AsOf: catalog.MustDate("2025-06-01"), Rules: law})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(p)
		got[i] = string(b)
	}
	if got[0] != got[1] {
		t.Error("nil Rules plans differently from the built-in engine")
	}
	if !strings.Contains(got[0], "cn-cbdf-2024-assessment") {
		t.Error("nil Rules: no law rejection in a plan where the built-in rules deny offshore sites")
	}
}

// TestPointsDoNotChangePlan: without Options.Points the planner ranks only
// the best count of each pool; the plan must be the one it gives when it
// ranks every feasible option, for both objectives.
func TestPointsDoNotChangePlan(t *testing.T) {
	law := builtinLaw(t)
	for _, job := range synth.Jobs {
		for _, objective := range []string{"cost", "time"} {
			t.Run(job+"/"+objective, func(t *testing.T) {
				w, err := synth.WorldWith(300, 4, 3, synth.JobNamed(job))
				if err != nil {
					t.Fatal(err)
				}
				w.Jobs[0].Spec.Objective = objective
				opts := Options{AsOf: catalog.MustDate("2025-06-01"), Rules: law}
				plain, err := Make(w, w.Jobs[0], opts)
				if err != nil {
					t.Fatal(err)
				}
				opts.Points = true
				full, err := Make(w, w.Jobs[0], opts)
				if err != nil {
					t.Fatal(err)
				}
				if len(full.All) <= len(full.Placements) {
					t.Fatalf("%d points, %d placements: no pool has two feasible counts to choose between", len(full.All), len(full.Placements))
				}
				full.All = nil
				if diff := cmp.Diff(full, plain); diff != "" {
					t.Errorf("plan differs without points (-with +without):\n%s", diff)
				}
			})
		}
	}
}

// TestConfidence: the deadline and budget hold at the job's one-sided
// quantile of the estimate (spec.confidence, default 0.8), not at its
// central value, and a rejection says at which; placements carry the 80 %
// interval around their central value.
func TestConfidence(t *testing.T) {
	// 6e21 FLOPs on 4 × 1,000 TFLOPS at MFU 0.5: 833.3 h central, $3,333 at $1/h.
	est := &sixND{mfu: 0.5, spread: estimate.Spread{Low: 0.5, High: 0.5}}
	central := 6e21 / (4 * 1000e12 * 0.5) / 3600
	p80 := central * math.Exp(0.5*estimate.NormalQuantile(0.8))
	world := func(extra ...string) *catalog.World {
		return testWorld(t, testOrg, site("a", "MY", 100, 0.05, pool("test-fast", 4, 4, 1)), job(extra...))
	}
	tests := []struct {
		name     string
		extra    []string
		feasible bool
		kind     Kind
		want     []string
	}{
		{"deadline at the default 80th percentile", []string{"  deadline: 1000h"}, false, KindDeadline,
			[]string{"at the 80th percentile of the estimate (spec.confidence 0.8", fmt.Sprintf("%.1f d", p80/24), "past the deadline of 41.7 d"}},
		{"deadline at the median", []string{"  deadline: 1000h", "  confidence: 0.5"}, true, "", nil},
		{"budget at the default 80th percentile", []string{"  budgetUSD: 4000"}, false, KindBudget,
			[]string{"at the 80th percentile of the estimate (spec.confidence 0.8; central $3,333)", "over the budget of $4,000"}},
		{"budget at the 95th percentile", []string{"  budgetUSD: 6000", "  confidence: 0.95"}, false, KindBudget,
			[]string{"at the 95th percentile of the estimate (spec.confidence 0.95"}},
		{"budget at the median", []string{"  budgetUSD: 4000", "  confidence: 0.5"}, true, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustMake(t, world(tc.extra...), &tableLaw{}, est, Options{})
			if tc.feasible {
				if len(p.Placements) != 1 {
					t.Fatalf("placements %d, rejected %+v", len(p.Placements), p.Rejected)
				}
				pl := p.Placements[0]
				z := estimate.NormalQuantile(0.9)
				if relDiff(pl.HoursLow, hundredths(central*math.Exp(-0.5*z))) > 1e-9 || relDiff(pl.HoursHigh, hundredths(central*math.Exp(0.5*z))) > 1e-9 {
					t.Errorf("interval %g–%g h around %g h, want exp(∓0.5·1.2816) × %g", pl.HoursLow, pl.HoursHigh, pl.Hours, central)
				}
				if !(pl.CostLowUSD < pl.CostUSD && pl.CostUSD < pl.CostHighUSD) {
					t.Errorf("cost interval %g–%g does not hold %g", pl.CostLowUSD, pl.CostHighUSD, pl.CostUSD)
				}
				return
			}
			if len(p.Placements) != 0 || len(p.Rejected) != 1 || p.Rejected[0].Kind != tc.kind {
				t.Fatalf("placements %d, rejected %+v; want one %s rejection", len(p.Placements), p.Rejected, tc.kind)
			}
			msg := p.Rejected[0].Reasons[0].Message
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
		})
	}
}

func relDiff(a, b float64) float64 { return math.Abs(a-b) / math.Max(math.Abs(b), 1e-300) }

// TestLawFLOPs: a job whose spec carries LawFLOPs (the controller's re-plan
// of the work left after a checkpoint) is judged on that compute, not on
// its own tokens', so planning a smaller remainder cannot slip under a
// compute threshold; a LawFLOPs below the job's own changes nothing.
func TestLawFLOPs(t *testing.T) {
	w, err := catalog.Load(AssumptionKeys(), "testdata/world/sites", "../examples/qwen-offshore.yaml")
	if err != nil {
		t.Fatal(err)
	}
	notified := func(job *catalog.TrainingJob) (with, placements int) {
		t.Helper()
		p, err := Make(w, job, Options{AsOf: catalog.MustDate("2026-01-05")})
		if err != nil {
			t.Fatal(err)
		}
		for _, pl := range p.Placements {
			for _, f := range pl.Obligations {
				if f.Rule == "eu-ai-act-art52-notify" {
					with++
					break
				}
			}
		}
		return with, len(p.Placements)
	}
	job := *w.Jobs[0]
	if n, all := notified(&job); all == 0 || n != 0 {
		t.Fatalf("own compute (%g FLOP): %d of %d placements carry the 1e25 notification, want 0 of some", estimate.TrainingFLOPs(&job.Spec), n, all)
	}
	job.Spec.LawFLOPs = 2e25
	if n, all := notified(&job); all == 0 || n != all {
		t.Errorf("LawFLOPs 2e25: %d of %d placements carry the 1e25 notification, want all", n, all)
	}
	job.Spec.LawFLOPs = 1
	if n, _ := notified(&job); n != 0 {
		t.Errorf("LawFLOPs below the job's own: %d placements notified", n)
	}
	// A compute that is not a finite number, recorded or estimated, is not
	// handed to the law as the job's: no threshold is above or below NaN.
	// It is unknown (0), which the rules that need it fail closed on.
	for _, c := range []struct {
		name string
		law  float64
		est  Estimator
	}{{"infinite LawFLOPs", math.Inf(1), nil}, {"NaN LawFLOPs", math.NaN(), nil}, {"NaN estimate", 0, nanFLOPs{}}} {
		job.Spec.LawFLOPs = c.law
		p, err := newPlanner(w, &job, Options{AsOf: catalog.MustDate("2026-01-05"), Estimator: c.est})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.query.TrainingFLOPs; got != 0 {
			t.Errorf("%s: the law's compute is %v, want 0 (unknown)", c.name, got)
		}
	}
}

// nanFLOPs is the package's estimator with a compute that is NaN.
type nanFLOPs struct{ packageEstimator }

func (nanFLOPs) TrainingFLOPs(*catalog.TrainingJobSpec) float64 { return math.NaN() }

// TestZeroAssumptionsAreValues: spec.assumptions accepts 0 for
// dataEgressPerGB and pricePerHour (data that leaves for free, chips the
// job pays nothing for), and `meridian estimate` reads a price of 0 as 0.
// The planner read both as unset: the egress became the 0.09 default and
// the cost the pool's price, so a budget the job meets was refused.
func TestZeroAssumptionsAreValues(t *testing.T) {
	w := testWorld(t, testOrg, site("s", "MY", 100, 0.05, pool("test-fast", 64, 64, 2)),
		dataset("d", "", 1e12), job("  datasets: [d]", "  budgetUSD: 1", "  assumptions: {dataEgressPerGB: 0, pricePerHour: 0}"))
	if err := w.Validate(AssumptionKeys()); err != nil {
		t.Fatalf("the job does not validate: %v", err)
	}
	p := mustMake(t, w, &tableLaw{}, nil, Options{})
	if len(p.Placements) == 0 {
		t.Fatalf("no placement within a budget of $1 at a price of 0; rejected: %+v", p.Rejected)
	}
	pl := p.Placements[0]
	if pl.DataCostUSD != 0 || pl.ComputeCostUSD != 0 || pl.CostUSD != 0 {
		t.Errorf("costs with a price and egress of 0: data %g, compute %g, total %g; want 0", pl.DataCostUSD, pl.ComputeCostUSD, pl.CostUSD)
	}
	for _, a := range p.Assumptions {
		if strings.Contains(a, "dataEgressPerGB = 0.09") {
			t.Errorf("the default egress was used: %q", a)
		}
	}
}

// liveLaw is a law that a revision may replace at any moment (a server's
// law in force): every session it opens itself is refused, so a plan must
// judge through the one snapshot it takes.
type liveLaw struct {
	snap      Law
	snapshots int
}

func (l *liveLaw) Session(policy.Query) (Session, error) {
	return nil, errors.New("a session of the live law: a revision applied meanwhile would judge part of the plan")
}

func (l *liveLaw) Snapshot() Law { l.snapshots++; return l.snap }

// TestOnePlanOneLaw: a plan opens a session per worker as work reaches it
// and one per horizon day; under a server's law each was opened from the
// law in force at that moment, so a rules revision applied during a plan
// judged some of its pools (or its horizon) under the old revision and the
// rest under the new. Every session now comes from one snapshot.
func TestOnePlanOneLaw(t *testing.T) {
	var pools []string
	for i := range 64 {
		pools = append(pools, site(fmt.Sprintf("s%d", i), "MY", 100, 0.05, pool("test-fast", 64, 64, 2)))
	}
	w := testWorld(t, append([]string{testOrg, job()}, pools...)...)
	law := &liveLaw{snap: &tableLaw{}}
	p, err := Make(w, w.Jobs[0], Options{AsOf: catalog.MustDate("2026-01-01"), Rules: law, Estimator: &sixND{mfu: 0.5}})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if len(p.Placements) != 64 || law.snapshots != 1 {
		t.Errorf("%d placements from %d snapshots, want 64 from 1", len(p.Placements), law.snapshots)
	}
}

// TestNotANumberMeetsNoLimit: an estimator (Options.Estimator) whose spread
// is not a number made the deadline and budget quantiles NaN, which compare
// false with every limit: a job with a deadline and a budget got placements
// nobody could say met either. Such a candidate is refused as unestimable.
func TestNotANumberMeetsNoLimit(t *testing.T) {
	w := testWorld(t, testOrg, site("s", "MY", 100, 0.05, pool("test-fast", 64, 64, 2)),
		job("  deadline: 1h", "  budgetUSD: 1"))
	for _, sp := range []estimate.Spread{{Low: math.NaN(), High: math.NaN()}, {Low: 0.1, High: math.Inf(1)}} {
		p := mustMake(t, w, &tableLaw{}, &sixND{mfu: 0.5, spread: sp}, Options{})
		if len(p.Placements) != 0 {
			t.Errorf("spread %v: placement %+v within a 1 h deadline and a $1 budget", sp, p.Placements[0])
		}
	}
}

// TestDenialsNameRuleAndSource: every rejection reason names a rule and a
// source (SCHEMA.md). A law that denied without a reason, or with findings
// that named neither, gave reasons with an empty source or rule.
func TestDenialsNameRuleAndSource(t *testing.T) {
	w := testWorld(t, testOrg, site("cn", "CN", 100, 0.05, pool("test-fast", 64, 64, 2)),
		site("my", "MY", 100, 0.05, pool("test-fast", 64, 64, 2)), job())
	for _, law := range []*tableLaw{
		{deny: map[string]policy.Finding{"CN/*": {Message: "no"}, "MY/*": {Rule: "r", Message: "no"}}},
		{silentDeny: true},
	} {
		p := mustMake(t, w, law, &sixND{mfu: 0.5}, Options{})
		if len(p.Rejected) != 2 {
			t.Fatalf("rejected %+v, want both sites", p.Rejected)
		}
		for _, r := range p.Rejected {
			for _, f := range r.Reasons {
				if f.Rule == "" || f.Source == "" {
					t.Errorf("%s: reason %+v lacks its rule or source", r.Site, f)
				}
			}
		}
	}
}

// The planner's lists as sets answer as catalog.AllowDeny.Permits does,
// repeated names and empty lists included.
func TestListSetMatchesPermits(t *testing.T) {
	lists := []catalog.AllowDeny{
		{}, {Allow: []string{"a"}}, {Deny: []string{"a"}}, {Allow: []string{"a", "b", "a"}, Deny: []string{"b", "b"}},
		{Allow: []string{""}}, {Deny: []string{""}}, {Allow: []string{}, Deny: []string{}},
	}
	for _, ad := range lists {
		l := newListSet(ad)
		for _, v := range []string{"a", "b", "c", ""} {
			if got, want := l.permits(v), ad.Permits(v); got != want {
				t.Errorf("%+v permits %q: %v, AllowDeny says %v", ad, v, got, want)
			}
		}
	}
}
