package planner

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// withSpec adds lines to a site document made by site().
func withSpec(doc string, lines ...string) string {
	return strings.Replace(doc, "\nspec:\n", "\nspec:\n"+strings.Join(lines, "\n")+"\n", 1)
}

// TestAccess: national supercomputing centres (allocation only, notional
// prices) took ranks 1–7 for a startup's fine-tune, and a Chinese lab's
// list held a US national laboratory. A site the organisation cannot use
// is rejected with kind access, unless --include-allocation counts
// allocation sites in; a private site stays its owners'.
func TestAccess(t *testing.T) {
	w := testWorld(t, testOrg,
		withSpec(site("alloc", "MY", 100, 0, pool("test-fast", 64, 64, 0.5)), "  access: allocation"),
		withSpec(site("alloc-held", "MY", 100, 0, pool("test-fast", 64, 64, 0.5)), "  access: allocation", "  accessOrganizations: [lab]"),
		withSpec(site("mine", "MY", 100, 0, pool("test-fast", 64, 64, 0.8)), "  access: private", "  accessOrganizations: [lab]"),
		withSpec(site("theirs", "MY", 100, 0, pool("test-fast", 64, 64, 0.1)), "  access: private", "  accessOrganizations: [other-lab]"),
		site("rent", "MY", 100, 0, pool("test-fast", 64, 64, 2)),
		job())
	sites := func(p *Plan) (placed, access []string) {
		for _, pl := range p.Placements {
			placed = append(placed, pl.Site)
		}
		for _, r := range p.Rejected {
			if r.Kind == KindAccess {
				access = append(access, r.Site+"/"+r.Reasons[0].Rule)
			}
		}
		return
	}
	p := mustMake(t, w, &tableLaw{}, &sixND{mfu: 0.5}, Options{})
	placed, access := sites(p)
	if d := cmp.Diff([]string{"alloc-held", "mine", "rent"}, placed); d != "" {
		t.Errorf("placements (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"alloc/" + CodeAllocation, "theirs/" + CodePrivate}, access); d != "" {
		t.Errorf("access rejections (-want +got):\n%s", d)
	}
	if p.Summary.RejectedByKind["access"] != 2 {
		t.Errorf("rejectedByKind.access = %d, want 2", p.Summary.RejectedByKind["access"])
	}
	for _, r := range p.Rejected {
		if r.Site == "alloc" && !strings.Contains(r.Reasons[0].Message, "--include-allocation") {
			t.Errorf("the allocation rejection does not say how to count it in: %q", r.Reasons[0].Message)
		}
	}
	for _, pl := range p.Placements {
		if pl.NotionalPrice != (pl.Site == "alloc-held") {
			t.Errorf("%s: notionalPrice %v", pl.Site, pl.NotionalPrice)
		}
	}

	p = mustMake(t, w, &tableLaw{}, &sixND{mfu: 0.5}, Options{IncludeAllocation: true})
	placed, access = sites(p)
	if d := cmp.Diff([]string{"alloc", "alloc-held", "mine", "rent"}, placed); d != "" {
		t.Errorf("--include-allocation placements (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"theirs/" + CodePrivate}, access); d != "" {
		t.Errorf("--include-allocation keeps another's private site out (-want +got):\n%s", d)
	}
	var b strings.Builder
	if err := WriteTable(&b, p, 0); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "~$") || !strings.Contains(b.String(), "notional price") {
		t.Errorf("the table does not mark notional prices:\n%s", b.String())
	}
}

// TestRunnable: a placement says whether its site can run jobs (a
// configured backend); the table says when none can.
func TestRunnable(t *testing.T) {
	w := testWorld(t, testOrg,
		site("plan-only", "MY", 100, 0, pool("test-fast", 64, 64, 1)),
		withSpec(site("runs", "MY", 100, 0, pool("test-fast", 64, 64, 2)), "  backend: {type: local}"),
		job())
	p := mustMake(t, w, &tableLaw{}, &sixND{mfu: 0.5}, Options{})
	got := map[string]bool{}
	for _, pl := range p.Placements {
		got[pl.Site] = pl.Runnable
	}
	if d := cmp.Diff(map[string]bool{"plan-only": false, "runs": true}, got); d != "" {
		t.Errorf("runnable (-want +got):\n%s", d)
	}
	var b strings.Builder
	WriteTable(&b, p, 1)
	if !strings.Contains(b.String(), "None of these sites has a configured backend") {
		t.Errorf("table with only a planning site shown:\n%s", b.String())
	}
}

// TestWhatItWouldTake: when the budget rules everything out the plan says
// what the cheapest option would cost; likewise the fastest for a deadline.
func TestWhatItWouldTake(t *testing.T) {
	w := testWorld(t, testOrg,
		site("dear", "MY", 100, 0, pool("test-fast", 64, 64, 10)),
		site("cheap", "MY", 100, 0, pool("test-fast", 64, 64, 3)),
		job("  budgetUSD: 100"))
	p := mustMake(t, w, &tableLaw{}, &sixND{mfu: 0.5}, Options{})
	c := p.Summary.CheapestOverBudget
	if len(p.Placements) != 0 || c == nil || c.Site != "cheap" || c.CostUSD <= 100 {
		t.Fatalf("cheapest over budget = %+v (placements %d)", c, len(p.Placements))
	}
	var b strings.Builder
	WriteTable(&b, p, 0)
	if !strings.Contains(b.String(), "Cheapest over the budget: "+dollars(c.CostUSD)+" at cheap") {
		t.Errorf("table:\n%s", b.String())
	}

	w = testWorld(t, testOrg, site("a", "MY", 100, 0, pool("test-fast", 64, 64, 1)), job("  deadline: 1h"))
	p = mustMake(t, w, &tableLaw{}, &sixND{mfu: 0.5}, Options{})
	if f := p.Summary.FastestPastDeadline; f == nil || f.Count != 64 || f.Hours <= 1 {
		t.Errorf("fastest past deadline = %+v", f)
	}
}

// TestRejectionCitesFieldLine: rejections cited the line where the job's
// document starts rather than the field's.
func TestRejectionCitesFieldLine(t *testing.T) {
	w := testWorld(t, testOrg, site("a", "MY", 100, 0, pool("test-fast", 64, 64, 1)),
		job("  constraints:", "    countries: {allow: [DE]}"))
	p := mustMake(t, w, &tableLaw{}, &sixND{mfu: 0.5}, Options{})
	if len(p.Rejected) != 1 {
		t.Fatalf("rejected %+v", p.Rejected)
	}
	// world.yaml: the org (lines 1–4), "---", the site (6–15), "---",
	// then the job from line 17: countries is its 10th line, line 26.
	want := "world.yaml:26 TrainingJob/j spec.constraints.countries"
	if got := p.Rejected[0].Reasons[0].Source; got != want {
		t.Errorf("source %q, want %q", got, want)
	}
}

func TestHoursPair(t *testing.T) {
	for _, tc := range []struct {
		a, b       float64
		wantA, wnt string
	}{
		{0.24, 0.2, "0.24 h", "0.20 h"},
		{0.2049, 0.2, "0.205 h", "0.200 h"},
		{0.05, 0.04, "3 min", "2 min"},
		{52.9 * 24, 1000, "52.9 d", "41.7 d"},
		{1.04, 1.0, "1.04 h", "1.00 h"},
		{5, 5, "5.0 h", "5.0 h"},
	} {
		a, b := hoursPair(tc.a, tc.b)
		if a != tc.wantA || b != tc.wnt {
			t.Errorf("hoursPair(%g, %g) = %q, %q; want %q, %q", tc.a, tc.b, a, b, tc.wantA, tc.wnt)
		}
	}
}
