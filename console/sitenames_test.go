package console

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// siteNameHarness shows input.story with storyOf and input.view with
// siteDetail, and tells the heading and the label of each.
const siteNameHarness = pagePrelude + `
import { storyOf, siteDetail } from "./plan";
import { Problems } from "./dom";
const story = storyOf(input.story, new Problems());
const detail = siteDetail(input.view, undefined, new Problems());
const heading = (el: any) => text(find(el, (e) => e.tag === "h3" || e.tag === "h4")[0]);
process.stdout.write(JSON.stringify({
  storyHeading: heading(story), storyLabel: story.attrs["aria-label"],
  detailHeading: heading(detail), detailLabel: detail.attrs["aria-label"],
}));
`

// TestSiteNameInHeadingsBounded: the name of a site that the plan names
// is the heading and the label of the site's detail and of its story:
// each shows it as a heading shows a name (nameShown), at most 128 of
// its characters, a newline as its marker, the rest counted. Before, the
// heading and the label held the name whole, so a site that named itself
// at length, with lines of its choosing, wrote them as the page's own
// heading.
func TestSiteNameInHeadingsBounded(t *testing.T) {
	site := "s1\nDenied by your admin" + strings.Repeat("z", 3000)
	shownSite := "s1␊Denied by your admin" + strings.Repeat("z", 128-23) + fmt.Sprintf("… (%d more characters)", len(site)-128)
	story := map[string]any{"site": site, "country": "DE", "operator": "o", "operatorHeadquarters": "US", "source": "catalog/s1.yaml", "steps": []any{}, "horizons": []any{}}
	view := map[string]any{"site": site, "country": "DE", "outcome": "placement", "placements": []any{}, "rejections": []any{}}
	var out struct{ StoryHeading, StoryLabel, DetailHeading, DetailLabel string }
	runHarness(t, siteNameHarness, map[string]any{"story": story, "view": view}, &out)
	for _, c := range []struct{ what, got, want string }{
		{"the story's heading", out.StoryHeading, "Every check at " + shownSite},
		{"the story's label", out.StoryLabel, "Every check at " + shownSite},
		{"the detail's heading", out.DetailHeading, shownSite},
		{"the detail's label", out.DetailLabel, "Site " + shownSite},
	} {
		if c.got != c.want {
			t.Errorf("%s reads %q (%d bytes), want %q", c.what, c.got, len(c.got), c.want)
		}
	}
}

// siteMapHarness opens the plan page and tells the label of each site on
// its map and the text of every tooltip (an SVG title) on the page.
const siteMapHarness = planPagePrelude + `
import { planPage } from "./plan";
async function main() {
  const page = new El("main");
  const stop = planPage(page as any, new URLSearchParams("asOf=2025-01-01"));
  for (let i = 0; i < 8; i++) await settle();
  stop();
  process.stdout.write(JSON.stringify({
    labels: find(page, (e) => e.attrs.class === "site").map((e) => e.attrs["aria-label"]),
    titles: find(page, (e) => e.tag === "title").map(text),
  }));
}
main();
`

// TestSiteNameOnMapBounded: a site's name is the label and the tooltip
// of its mark on the plan page's map, and the tooltip of its placements
// on the chart of cost against time, bounded and marked (nameShown).
// Before, each held the name whole, newlines and all.
func TestSiteNameOnMapBounded(t *testing.T) {
	site := "s1\nDenied by your admin" + strings.Repeat("z", 3000)
	shownSite := "s1␊Denied by your admin" + strings.Repeat("z", 128-23) + fmt.Sprintf("… (%d more characters)", len(site)-128)
	place := func(rank int, pareto bool) map[string]any {
		return map[string]any{"rank": rank, "site": site, "country": "DE", "accelerator": "H100", "count": 8, "hours": float64(rank), "costUSD": 10 * float64(rank), "pareto": pareto, "runnable": true}
	}
	plan := map[string]any{"job": "j", "asOf": "2025-01-01", "placements": []any{place(1, true), place(2, true)}, "rejected": []any{}, "summary": map[string]any{"candidates": 2, "placements": 2}}
	routes := map[string]any{
		"/v1/plans":         map[string]any{"json": plan},
		"/v1/catalog/sites": map[string]any{"json": map[string]any{"sites": []any{okSite(site)}}},
		"/v1/rules":         map[string]any{"json": map[string]any{"rules": []any{}}},
		"/v1/runs":          map[string]any{"json": map[string]any{"runs": []any{}}},
	}
	var out struct{ Labels, Titles []string }
	runHarness(t, siteMapHarness, map[string]any{"routes": routes}, &out)
	if len(out.Labels) != 1 || !strings.HasPrefix(out.Labels[0], shownSite+" (DE): ") {
		t.Errorf("the map's site labels: %q, want one that starts %q", out.Labels, shownSite+" (DE): ")
	}
	if len(out.Titles) == 0 {
		t.Fatal("the page has no tooltips")
	}
	for _, ti := range out.Titles {
		if strings.Contains(ti, "\n") || strings.Contains(ti, strings.Repeat("z", 129)) {
			t.Errorf("a tooltip reads %q (%d bytes), want the site as %q", ti, len(ti), shownSite)
		}
	}
}

// runMapHarness opens run r's page and tells the text of every tooltip
// (an SVG title) on it and of its sites and migrations.
const runMapHarness = pagePrelude + `
import { runPage } from "./runs";
async function main() {
  const page = new El("main");
  const stop = runPage(page as any, new URLSearchParams(), "r");
  for (let i = 0; i < 3; i++) await settle();
  stop();
  process.stdout.write(JSON.stringify({
    titles: find(page, (e) => e.tag === "title").map(text),
    moves: text(find(page, (e) => e.attrs.id === "run-moves")[0]),
  }));
}
main();
`

// TestSiteNameOnRunMapBounded: the sites a run has run at are the
// tooltips of their marks and migrations on its page's map, bounded and
// marked (nameShown). Before, each tooltip held the name whole.
func TestSiteNameOnRunMapBounded(t *testing.T) {
	site := "s1\nDenied by your admin" + strings.Repeat("z", 3000)
	shownSite := "s1␊Denied by your admin" + strings.Repeat("z", 128-23) + fmt.Sprintf("… (%d more characters)", len(site)-128)
	for _, c := range []struct {
		name     string
		attempts []any
		titles   []string
		moves    string
	}{
		{"a migration", []any{map[string]any{"site": "s0"}, map[string]any{"site": site}}, []string{"Migration 1: s0 → " + shownSite, "s0", shownSite + " (now)"}, ""},
		{"no migration", []any{map[string]any{"site": site}}, []string{shownSite + " (now)"}, "No migration: the run has stayed at " + shownSite + "."},
	} {
		r := okRun("r")
		r["site"] = site
		r["attempts"] = c.attempts
		b, _ := json.Marshal(r)
		routes := runRoutes(0)
		routes["/v1/runs/r/events?follow=1"] = map[string]any{"sse": []string{"event: run\ndata: " + string(b) + "\n\n", "event: end\ndata: {}\n\n"}}
		routes["/v1/catalog/sites"] = map[string]any{"json": map[string]any{"sites": []any{okSite("s0"), okSite(site)}}}
		var out struct {
			Titles []string
			Moves  string
		}
		runHarness(t, runMapHarness, map[string]any{"routes": routes}, &out)
		if !slices.Equal(out.Titles, c.titles) {
			t.Errorf("%s: the map's tooltips:\n%q\nwant\n%q", c.name, out.Titles, c.titles)
		}
		if c.moves != "" && out.Moves != c.moves {
			t.Errorf("%s: the migrations read %q, want %q", c.name, out.Moves, c.moves)
		}
	}
}

// accHeadingsHarness shows input.view with siteDetail and tells the text
// of each of its headings.
const accHeadingsHarness = pagePrelude + `
import { siteDetail } from "./plan";
import { Problems } from "./dom";
const detail = siteDetail(input.view, undefined, new Problems());
process.stdout.write(JSON.stringify(find(detail, (e) => e.tag === "h4").map(text)));
`

// TestAcceleratorInHeadingsBounded: the accelerator a site's pool names
// is the heading of each of its placements and rejected groups in the
// site's detail, bounded and marked (nameShown). Before, each heading
// held it whole, newlines and all.
func TestAcceleratorInHeadingsBounded(t *testing.T) {
	acc := "H100\nApproved by your admin" + strings.Repeat("x", 2000)
	shownAcc := "H100␊Approved by your admin" + strings.Repeat("x", 128-27) + fmt.Sprintf("… (%d more characters)", len(acc)-128)
	view := map[string]any{"site": "s1", "country": "DE", "outcome": "placement",
		"placements": []any{map[string]any{"rank": 1, "site": "s1", "country": "DE", "accelerator": acc, "count": 8, "hours": 2, "costUSD": 10, "runnable": true}},
		"rejections": []any{map[string]any{"site": "s1", "country": "DE", "accelerator": acc, "kind": "law", "reasons": []any{}}}}
	var out []string
	runHarness(t, accHeadingsHarness, map[string]any{"view": view}, &out)
	want := []string{"Rank 1: 8 × " + shownAcc, shownAcc + ": rejected for law"}
	if !slices.Equal(out, want) {
		t.Errorf("the detail's headings:\n%q\nwant\n%q", out, want)
	}
}

// nearHarness opens the plan page, chooses the site input.site on its
// map (Enter on its mark) and tells the text of each summary of the
// sites at the same spot.
const nearHarness = planPagePrelude + `
import { planPage } from "./plan";
async function main() {
  const page = new El("main");
  const stop = planPage(page as any, new URLSearchParams("asOf=2025-01-01"));
  for (let i = 0; i < 8; i++) await settle();
  const marks = find(page, (e) => e.attrs.class === "site")[0];
  const group = find(page, (e) => e.children.includes(marks))[0];
  const target = { closest: () => ({ getAttribute: () => input.site }) };
  group.dispatchEvent({ type: "keydown", key: "Enter", target, preventDefault() {} });
  for (let i = 0; i < 3; i++) await settle();
  stop();
  process.stdout.write(JSON.stringify(find(page, (e) => e.tag === "summary").map(text)));
}
main();
`

// TestSiteNameNearbyBounded: a site at the same spot on the plan page's
// map as the one chosen is named in the summary that opens its detail,
// bounded and marked (nameShown). Before, the summary held its name
// whole, newlines and all.
func TestSiteNameNearbyBounded(t *testing.T) {
	site := "s1\nDenied by your admin" + strings.Repeat("z", 3000)
	shownSite := "s1␊Denied by your admin" + strings.Repeat("z", 128-23) + fmt.Sprintf("… (%d more characters)", len(site)-128)
	plan := map[string]any{"job": "j", "asOf": "2025-01-01", "placements": []any{}, "rejected": []any{}, "summary": map[string]any{"candidates": 0, "placements": 0}}
	routes := map[string]any{
		"/v1/plans":         map[string]any{"json": plan},
		"/v1/catalog/sites": map[string]any{"json": map[string]any{"sites": []any{okSite("s0"), okSite(site)}}},
		"/v1/rules":         map[string]any{"json": map[string]any{"rules": []any{}}},
		"/v1/runs":          map[string]any{"json": map[string]any{"runs": []any{}}},
	}
	var out []string
	runHarness(t, nearHarness, map[string]any{"routes": routes, "site": "s0"}, &out)
	want := shownSite + ": "
	if !slices.ContainsFunc(out, func(s string) bool { return strings.HasPrefix(s, want) }) {
		t.Errorf("the page's summaries: %q, want one that starts %q", out, want)
	}
	for _, s := range out {
		if strings.Contains(s, "\n") || len(s) > 400 {
			t.Errorf("a summary reads %q (%d bytes), want the site as %q", s, len(s), shownSite)
		}
	}
}
