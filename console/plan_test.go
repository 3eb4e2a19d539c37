package console

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// storyHarness shows input.story with src/plan.ts's storyOf and
// input.view (at input.site, the catalog's entry) with its siteDetail,
// and tells the text of each, the problems named, or what each threw.
const storyHarness = pagePrelude + `
import { storyOf, siteDetail } from "./plan";
import { Problems } from "./dom";
const out: Record<string, unknown> = {};
for (const [k, f] of [
  ["story", (p: Problems) => storyOf(input.story, p)],
  ["detail", (p: Problems) => siteDetail(input.view, input.site, p)],
] as [string, (p: Problems) => any][]) {
  const problems = new Problems();
  try {
    const el = f(problems);
    out[k] = { text: text(el), items: find(el, (e) => e.tag === "li").length };
  } catch (e) {
    out[k] = { thrown: String((e as Error).message) };
  }
  out[k + "Problems"] = find(problems.box, (e) => e.attrs.class === "error").map(text);
}
process.stdout.write(JSON.stringify(out));
`

type shownOut struct {
	Text   string
	Items  int
	Thrown string
}

// trap is a JSON object that a template or String() cannot turn into
// text: its toString is not a function, and JavaScript throws.
var trap = map[string]any{"toString": 1, "valueOf": 1}

// TestSiteStoryShowsWhatItCan: the site's story (every check at a site)
// and its detail show what they can of the server's answer, and name,
// in the problems box, each check, finding, warning or catalog entry
// they cannot show and the field that spoils it. Before, one such field
// (a check that is null, findings or warnings that are not a list, an
// accelerator that is not text, a catalog entry with no operator) threw,
// and the story showed the script's own error, or the detail stayed
// empty.
func TestSiteStoryShowsWhatItCan(t *testing.T) {
	step := func(acc string, passed bool) map[string]any {
		return map[string]any{"pool": 1, "accelerator": acc, "count": 8, "check": "law", "passed": passed, "findings": []any{map[string]any{"rule": "eu-ai", "effect": "allow", "message": "ok", "source": "EU"}}}
	}
	badFindings := step("A100", false)
	badFindings["findings"] = "denied"
	badFinding := step("L40", false)
	badFinding["findings"] = []any{map[string]any{"rule": trap}, map[string]any{"rule": "us-ear"}}
	story := map[string]any{
		"site": "s1", "country": "DE", "operator": "o", "operatorHeadquarters": "US", "source": "catalog/s1.yaml",
		"steps":    []any{step("H100", true), nil, map[string]any{"pool": 2, "accelerator": trap, "check": "law", "passed": true}, badFindings, badFinding},
		"horizons": "soon",
	}
	site := okSite("s1")
	delete(site["spec"].(map[string]any), "operator")
	view := map[string]any{
		"site": "s1", "country": "DE", "outcome": "placement",
		"placements": []any{map[string]any{"rank": 1, "site": "s1", "country": "DE", "accelerator": "H100", "count": 8, "hours": 2, "costUSD": 10, "runnable": true,
			"obligations": []any{map[string]any{"rule": "eu-ai", "message": trap}, map[string]any{"rule": "gdpr"}}, "advisories": 5}},
		"rejections": []any{},
	}
	var out struct {
		Story, Detail                 shownOut
		StoryProblems, DetailProblems []string
	}
	runHarness(t, storyHarness, map[string]any{"story": story, "view": view, "site": site}, &out)
	if out.Story.Thrown != "" || !strings.Contains(out.Story.Text, "H100 (pool 1, 8 of them): law passed") || !strings.Contains(out.Story.Text, "A100 (pool 1, 8 of them): law failed") || !strings.Contains(out.Story.Text, "us-ear") {
		t.Errorf("the story: %+v, want the checks it can show", out.Story)
	}
	// The checks shown (H100, A100, L40) and the findings (H100's, L40's
	// second).
	if out.Story.Items != 5 {
		t.Errorf("the story shows %d lines, want 5 (3 checks, 2 findings)", out.Story.Items)
	}
	wantStory := []string{
		"Check 2 at s1 is not shown: in the server's answer, explain.steps[1] is missing, not an object.",
		"Check 3 at s1 is not shown: in the server's answer, explain.steps[2].accelerator is an object, not text.",
		"The findings of check 4 at s1 is not shown: in the server's answer, explain.steps[3].findings is text, not a list.",
		"Finding 1 of the findings of check 5 at s1 is not shown: in the server's answer, explain.steps[4].findings[0].rule is an object, not text.",
		"The warnings at s1 is not shown: in the server's answer, explain.horizons is text, not a list.",
	}
	if !slices.Equal(out.StoryProblems, wantStory) {
		t.Errorf("the story's problems:\n%q\nwant\n%q", out.StoryProblems, wantStory)
	}
	if out.Detail.Thrown != "" || !strings.Contains(out.Detail.Text, "Rank 1: 8 × H100") || !strings.Contains(out.Detail.Text, "gdpr") || out.Detail.Items != 1 {
		t.Errorf("the site's detail: %+v, want its placement and the obligation it can show", out.Detail)
	}
	wantDetail := []string{
		"The catalog's entry for s1 is not shown: in the server's answer, spec.operator is missing, not an object.",
		"Finding 1 of the obligations of placement 1 at s1 is not shown: in the server's answer, obligations[0].message is an object, not text.",
		"The advisories of placement 1 at s1 is not shown: in the server's answer, advisories is a number, not a list.",
	}
	if !slices.Equal(out.DetailProblems, wantDetail) {
		t.Errorf("the detail's problems:\n%q\nwant\n%q", out.DetailProblems, wantDetail)
	}
}

// TestPlanSummaryFieldsChecked: the plan's fields the page shows as text
// (its summary's counts, the cost of sovereignty, an accelerator, a
// reason's rule) are checked: a plan with one it cannot show is drawn
// without it, and the problems box names the field. Before, they were
// not: such a field threw while the map was drawn, and the page showed
// the script's own error instead of the plan.
func TestPlanSummaryFieldsChecked(t *testing.T) {
	place := func(site string) map[string]any {
		return map[string]any{"rank": 1, "site": site, "country": "DE", "accelerator": "H100", "count": 8, "hours": 2, "costUSD": 10, "pareto": true}
	}
	badAcc := place("s2")
	badAcc["accelerator"] = trap
	for _, c := range []struct {
		name    string
		summary map[string]any
		want    string
	}{
		{"placements", map[string]any{"placements": trap, "candidates": 3}, "summary.placements is an object, not a number"},
		{"rejected by rule", map[string]any{"rejectedByRule": map[string]any{"r1": 2, "r2": trap}}, "summary.rejectedByRule's count 2 is an object, not a number"},
		{"constraints", map[string]any{"costOfSovereignty": map[string]any{"constraints": []any{"EU", trap}}}, "summary.costOfSovereignty.constraints[1] is an object, not text"},
		{"constraints not a list", map[string]any{"costOfSovereignty": map[string]any{"extraCostUSD": 5, "constraints": 5}}, "summary.costOfSovereignty.constraints is a number, not a list"},
		{"extra cost", map[string]any{"costOfSovereignty": map[string]any{"constraints": []any{"EU"}, "extraCostUSD": "5"}}, "summary.costOfSovereignty.extraCostUSD is text, not a number"},
	} {
		plan := map[string]any{
			"job": "j", "asOf": "2026-01-01",
			"placements": []any{place("s1"), badAcc},
			"rejected": []any{
				map[string]any{"site": "s3", "country": "FR", "accelerator": "H100", "kind": "law", "reasons": []any{map[string]any{"rule": "r1"}}},
				map[string]any{"site": "s4", "country": "FR", "accelerator": "H100", "kind": "law", "reasons": []any{nil}},
			},
			"summary": c.summary,
		}
		var out struct {
			Placements []string
			Rejected   []string
			Errors     []string
			Thrown     string
		}
		runHarness(t, planAtHarness, map[string]any{"plan": plan}, &out)
		if !slices.Equal(out.Placements, []string{"s1"}) || !slices.Equal(out.Rejected, []string{"s3"}) || out.Thrown != "" {
			t.Errorf("%s: the plan drawn: placements %q, rejected %q (threw %q), want [s1] and [s3]", c.name, out.Placements, out.Rejected, out.Thrown)
		}
		want := []string{
			"The plan's summary is not shown: in the server's answer, " + c.want + ".",
			"Placement 2 of the plan is not shown: in the server's answer, placements[1].accelerator is an object, not text.",
			"Rejected group 2 of the plan is not shown: in the server's answer, rejected[1].reasons[0] is missing, not an object.",
		}
		if !slices.Equal(out.Errors, want) {
			t.Errorf("%s: the problems:\n%q\nwant\n%q", c.name, out.Errors, want)
		}
	}
}

// planPageHarness opens the plan page as of input.dates[0], then moves
// its date to each of input.dates in turn, waiting for each plan, and
// tells how many plans it asked the server for after each date.
const planPageHarness = pagePrelude + `
import { planPage } from "./plan";
const listeners = new Map<any, Record<string, ((ev: any) => void)[]>>();
const proto = El.prototype as any;
proto.addEventListener = function (k: string, f: (ev: any) => void) {
  const m = listeners.get(this) || {};
  (m[k] = m[k] || []).push(f);
  listeners.set(this, m);
};
proto.querySelector = function (sel: string) {
  return find(this, (e) => (sel[0] === "#" ? e.attrs.id === sel.slice(1) : e.tag === sel))[0] || null;
};
Object.defineProperty(proto, "childElementCount", { get() { return this.children.filter((c: any) => c instanceof El).length; } });
g.window.setTimeout = (f: () => void) => { setImmediate(f); return 1; };
g.window.clearTimeout = () => undefined;
proto.remove = () => undefined;
g.requestAnimationFrame = () => 0;
g.sessionStorage.setItem = () => undefined;
async function main() {
  const page = new El("main");
  planPage(page as any, new URLSearchParams("asOf=" + input.dates[0]));
  for (let i = 0; i < 5; i++) await settle();
  const dateIn = find(page, (e) => e.attrs.id === "as-of-date")[0];
  const asked = () => requests.filter((r) => r.startsWith("/v1/plans?top=0")).length;
  const out = [asked()];
  for (const d of input.dates.slice(1)) {
    dateIn.value = d;
    for (const f of (listeners.get(dateIn) || {}).change || []) f({});
    for (let i = 0; i < 5; i++) await settle();
    out.push(asked());
  }
  process.stdout.write(JSON.stringify(out));
}
main();
`

// TestPlanPageKeepsFewPlans: the plan page keeps the plans it read for
// the last few dates (PLAN_KEEP, 8), not for every date it was moved to:
// a plan of many placements is tens of MiB, and a page whose slider went
// through a year held every day's. A date among the last it showed is
// not asked for again; one before them is.
func TestPlanPageKeepsFewPlans(t *testing.T) {
	plan := map[string]any{"job": "j", "asOf": "2025-01-01", "placements": []any{}, "rejected": []any{}, "summary": map[string]any{"candidates": 0, "placements": 0}}
	routes := map[string]any{
		"/v1/plans":         map[string]any{"json": plan},
		"/v1/catalog/sites": map[string]any{"json": map[string]any{"sites": []any{}}},
		"/v1/rules":         map[string]any{"json": map[string]any{"rules": []any{}}},
		"/v1/runs":          map[string]any{"json": map[string]any{"runs": []any{}}},
	}
	var dates []string
	for d := 1; d <= 20; d++ {
		dates = append(dates, fmt.Sprintf("2025-01-%02d", d))
	}
	// Back to the last date but one (kept), then to the first (not).
	dates = append(dates, "2025-01-19", "2025-01-01")
	var out []int
	runHarness(t, planPageHarness, map[string]any{"routes": routes, "dates": dates}, &out)
	if len(out) != len(dates) {
		t.Fatalf("the harness answered %d dates of %d: %v", len(out), len(dates), out)
	}
	if out[19] != 20 {
		t.Fatalf("20 dates asked for %d plans, want 20: %v", out[19], out)
	}
	if out[20] != 20 {
		t.Errorf("a date the page just showed: it asked for its plan again (%d plans in all, want 20)", out[20])
	}
	if out[21] != 21 {
		t.Errorf("the first of 20 dates: the page asked for %d plans in all, want 21 (its plan was let go, and asked for again)", out[21])
	}
}

// TestPlanPageKeepsPlansBoundedInBytes: the plans the page keeps are
// bounded by their size in all (PLAN_BYTES, 32 MiB of answers), not only
// in number. Before, it kept the last 8 plans whatever their size, and
// an answer may be 32 MiB: 256 MiB of answers held by the tab. With
// plans of 5 MiB, 6 are kept: the date shown before the last is not
// asked for again, the seventh before it is.
func TestPlanPageKeepsPlansBoundedInBytes(t *testing.T) {
	plan := map[string]any{"job": "j", "asOf": "2025-01-01", "placements": []any{}, "rejected": []any{}, "summary": map[string]any{"candidates": 0, "placements": 0},
		"padding": strings.Repeat("x", 5<<20)}
	routes := map[string]any{
		"/v1/plans":         map[string]any{"json": plan},
		"/v1/catalog/sites": map[string]any{"json": map[string]any{"sites": []any{}}},
		"/v1/rules":         map[string]any{"json": map[string]any{"rules": []any{}}},
		"/v1/runs":          map[string]any{"json": map[string]any{"runs": []any{}}},
	}
	var dates []string
	for d := 1; d <= 10; d++ {
		dates = append(dates, fmt.Sprintf("2025-01-%02d", d))
	}
	// The last date but one (kept), then the eighth from the end, which
	// a page keeping 8 plans of any size still held.
	dates = append(dates, "2025-01-09", "2025-01-03")
	var out []int
	runHarness(t, planPageHarness, map[string]any{"routes": routes, "dates": dates}, &out)
	if len(out) != len(dates) || out[9] != 10 {
		t.Fatalf("the harness answered %v for %d dates, want 10 plans after the first 10", out, len(dates))
	}
	if out[10] != 10 {
		t.Errorf("a date the page just showed: it asked for its plan again (%d plans in all, want 10)", out[10])
	}
	if out[11] != 11 {
		t.Errorf("the eighth date from the end, with 5 MiB plans: the page asked for %d plans in all, want 11 (6 plans of 5 MiB are kept, not 8)", out[11])
	}
}
