package console

import (
	"slices"
	"strings"
	"testing"
)

// fieldsHarness opens the page input.page names against input.routes
// and tells, for each table, its id and the text of its rows, and the
// page's error lines.
const fieldsHarness = pagePrelude + `
import { runsPage, runPage } from "./runs";
import { dataPage } from "./data";
import { auditPage } from "./audit";
import { rulesPage } from "./rules";
let thrown = "";
process.on("unhandledRejection", (e: any) => { thrown = String(e && e.stack || e); });
async function main() {
  const page = new El("main");
  try {
    if (input.page === "runs") runsPage(page as any);
    else if (input.page === "run") runPage(page as any, new URLSearchParams(), "r");
    else if (input.page === "data") dataPage(page as any);
    else if (input.page === "audit") auditPage(page as any, new URLSearchParams());
    else if (input.page === "rules") rulesPage(page as any, new URLSearchParams("asOf=2026-01-01"));
  } catch (e) {
    thrown = String((e as any).stack || e);
  }
  await settle();
  const tables: Record<string, string[]> = {};
  for (const t of find(page, (e) => e.tag === "table")) {
    const body = t.tBodies[0];
    tables[t.attrs.id || "?"] = body ? body.children.map((r: any) => r.children.map(text).join("|")) : [];
  }
  const timeline = find(page, (e) => e.attrs.id === "run-timeline")[0];
  process.stdout.write(JSON.stringify({
    tables,
    timeline: timeline ? timeline.children.map((li: any) => li.attrs["data-seq"]) : [],
    errors: find(page, (e) => e.attrs.class === "error").map(text),
    thrown,
    markup,
  }));
}
main();
`

type fieldsOut struct {
	Tables   map[string][]string
	Timeline []string
	Errors   []string
	Thrown   string
	Markup   int
}

func okRun(id string) map[string]any {
	return map[string]any{"id": id, "job": "j", "state": "running", "site": "s1", "attempt": 1, "createdAt": "2026-01-02T03:04:05Z", "updatedAt": "2026-01-02T03:04:06Z"}
}

func okSite(name string) map[string]any {
	return map[string]any{"metadata": map[string]any{"name": name}, "spec": map[string]any{"country": "DE", "location": map[string]any{"lat": 50.1, "lon": 8.7}, "operator": map[string]any{"name": "o", "headquarters": "DE"}}}
}

// TestPagesShowWhatTheyCan: an answer with a field missing, or of another
// type than the page reads, is shown but for what the field spoils, and a
// plain error line names the field. Before, such a field threw: the runs
// list, the ledger, the audit entries and the rules showed nothing (or
// only the exception's words), and the run's page stopped drawing its
// timeline and map.
func TestPagesShowWhatTheyCan(t *testing.T) {
	badRun := okRun("r2")
	badRun["createdAt"] = 7
	badSite := okSite("s9")
	badSite["spec"] = map[string]any{"country": "DE"}
	cases := []struct {
		name   string
		page   string
		routes map[string]any
		tables map[string]int // rows each table shows
		errors []string
		seqs   []string
	}{
		{
			name: "runs list",
			page: "runs",
			routes: map[string]any{
				"/v1/runs": map[string]any{"json": map[string]any{"runs": []any{okRun("r1"), badRun, nil, okRun("r3")}}},
			},
			tables: map[string]int{"runs-table": 2},
			errors: []string{
				"Run r2 is not shown: in the server's answer, createdAt is a number, not text.",
				"Run 4 of the list is not shown: in the server's answer, the run is missing, not an object.",
			},
		},
		{
			name: "runs list not a list",
			page: "runs",
			routes: map[string]any{
				"/v1/runs": map[string]any{"json": map[string]any{"runs": 5}},
			},
			tables: map[string]int{},
			errors: []string{"runs is a number, not a list"},
		},
		{
			name: "run page",
			page: "run",
			routes: map[string]any{
				"/v1/runs/r/events?follow=1": map[string]any{"sse": []string{
					"event: event\ndata: {\"seq\":1,\"time\":\"2026-01-02T03:04:05Z\",\"kind\":\"state\",\"to\":\"running\"}\n\n",
					"event: event\ndata: {\"seq\":2,\"time\":5,\"kind\":\"heartbeat\"}\n\n",
					"event: event\ndata: {\"seq\":\"3\",\"time\":\"2026-01-02T03:04:07Z\",\"kind\":\"heartbeat\"}\n\n",
					"event: run\ndata: {\"id\":\"r\",\"job\":\"j\",\"state\":\"running\",\"site\":\"s2\",\"attempt\":2,\"attempts\":5}\n\n",
					"event: event\ndata: {\"seq\":4,\"time\":\"2026-01-02T03:04:08Z\",\"kind\":\"heartbeat\"}\n\n",
					"event: end\ndata: {}\n\n",
				}},
				"/v1/runs/r":              map[string]any{"json": okRun("r")},
				"/v1/runs/r/events":       map[string]any{"json": map[string]any{"events": []any{}}},
				"/v1/runs/r/logs?limit=1": map[string]any{"body": "", "headers": map[string]string{"X-Log-Size": "0"}},
				"/v1/runs/r/logs":         map[string]any{"body": ""},
				"/v1/catalog/sites":       map[string]any{"json": map[string]any{"sites": []any{okSite("s1"), badSite}}},
			},
			seqs: []string{"1", "4"},
			errors: []string{
				"The event after 1 of the timeline is not shown: in the server's answer, time is a number, not text.",
				"The event after 1 of the timeline is not shown: in the server's answer, seq is text, not a number.",
				"Site s9 is not shown: in the server's answer, sites[1].spec.location is missing, not an object.",
				"The run's sites and migrations is not shown: in the server's answer, attempts is a number, not a list.",
			},
		},
		{
			name: "data page",
			page: "data",
			routes: map[string]any{
				"/v1/ledger": map[string]any{"json": map[string]any{"entries": []any{
					map[string]any{"seq": 1, "time": "2026-01-02T03:04:05Z", "dataset": "d1", "site": "s1", "from": "FR", "to": "DE", "rules": []string{"r"}, "asOf": "2026-01-02"},
					map[string]any{"seq": 2, "time": 9, "dataset": "d2", "site": "s1", "from": "FR", "to": "DE", "rules": nil, "asOf": "2026-01-02"},
					map[string]any{"seq": 3, "time": "2026-01-02T03:04:05Z", "dataset": "d3", "site": "s1", "from": "FR", "to": "DE", "rules": "r", "asOf": "2026-01-02"},
					map[string]any{"seq": 4, "time": "2026-01-02T03:04:05Z", "dataset": "d4", "site": "s1", "from": "FR", "to": "DE", "asOf": "2026-01-02"},
				}, "totals": []any{nil, 3}}},
				"/v1/catalog/sites":     map[string]any{"json": map[string]any{"sites": []any{okSite("s1"), badSite}}},
				"/v1/catalog/countries": map[string]any{"json": map[string]any{"countries": map[string]any{"FR": "France"}}},
				"/v1/datasets":          map[string]any{"json": map[string]any{"datasets": []any{map[string]any{"name": "d1"}, nil}}},
			},
			tables: map[string]int{"ledger-table": 2, "datasets-table": 1, "copies-table": 0},
			errors: []string{
				"The catalog's countries is not shown: in the server's answer, countries is an object, not a list.",
				"Site s9 is not shown: in the server's answer, sites[1].spec.location is missing, not an object.",
				"Dataset 2 of the list is not shown: in the server's answer, datasets[1] is missing, not an object.",
				"Ledger record #2 is not shown: in the server's answer, time is a number, not text.",
				"Ledger record #3 is not shown: in the server's answer, rules is text, not a list.",
			},
		},
		{
			name: "audit page",
			page: "audit",
			routes: map[string]any{
				"/v1/audit": map[string]any{"json": map[string]any{"entries": []any{
					map[string]any{"seq": 1, "time": "2026-01-02T03:04:05Z", "kind": "run", "hash": "00112233445566778899"},
					map[string]any{"seq": 2, "time": "2026-01-02T03:04:05Z", "kind": []string{"x"}},
					map[string]any{"seq": 3, "time": 3, "kind": "run", "hash": "00112233445566778899"},
				}}},
			},
			tables: map[string]int{"audit-table": 1},
			errors: []string{
				"Audit entry #2 is not shown: in the server's answer, hash is missing, not text.",
				"Audit entry #3 is not shown: in the server's answer, time is a number, not text.",
			},
		},
		{
			name: "rules page",
			page: "rules",
			routes: map[string]any{
				"/v1/rules": map[string]any{"json": map[string]any{"rules": []any{
					map[string]any{"id": "ok", "kind": "residency", "jurisdiction": "EU", "effect": "deny", "state": "in-force", "effectiveFrom": "2020-01-01", "enforcement": []any{}, "sources": []string{"u"}, "source": "u"},
					map[string]any{"id": "bad1", "kind": "residency", "jurisdiction": "EU", "effectiveFrom": "2020-01-01", "enforcement": []any{map[string]any{"state": 3}}, "sources": []string{}},
					map[string]any{"id": "bad2", "kind": "residency", "jurisdiction": "EU", "effectiveFrom": "2020-01-01", "enforcement": []any{}},
				}}},
				"/v1/rules/revisions": map[string]any{"json": map[string]any{"revisions": []any{}}},
			},
			tables: map[string]int{"rules-list": 2},
			errors: []string{
				"Rule bad1 is not shown: in the server's answer, rules[1].enforcement[0].state is a number, not text.",
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out fieldsOut
			runHarness(t, fieldsHarness, map[string]any{"page": c.page, "routes": c.routes}, &out)
			if out.Thrown != "" {
				t.Errorf("the page threw: %.400s", out.Thrown)
			}
			for id, n := range c.tables {
				if len(out.Tables[id]) != n {
					t.Errorf("table %s shows %d rows %q, want %d", id, len(out.Tables[id]), out.Tables[id], n)
				}
			}
			if c.seqs != nil && !slices.Equal(out.Timeline, c.seqs) {
				t.Errorf("the timeline shows events %v, want %v", out.Timeline, c.seqs)
			}
			// (in the order the answers came, which the test does not fix)
			slices.Sort(out.Errors)
			want := slices.Sorted(slices.Values(c.errors))
			if !slices.Equal(out.Errors, want) {
				t.Errorf("the page's error lines:\n%q\nwant\n%q", out.Errors, want)
			}
			if out.Markup != 0 {
				t.Errorf("the page set markup %d times", out.Markup)
			}
		})
	}
}

// TestServerListsShownAsText: a field the page shows as text that comes as
// a list or an object is shown as text, its bidirectional controls marked
// as any text of the server's is. Before, it was handed to the document
// as it came: the browser wrote the list out as it was, with its controls
// (a rule's kind of ["x\u202e…"] reversed the row after it).
func TestServerListsShownAsText(t *testing.T) {
	routes := map[string]any{
		"/v1/rules": map[string]any{"json": map[string]any{"rules": []any{
			map[string]any{"id": "r1", "kind": []string{"x\u202eevil"}, "jurisdiction": "EU", "effect": map[string]any{"a": "b"}, "state": "in-force", "effectiveFrom": "2020-01-01", "enforcement": []any{}, "sources": []string{}, "source": "u"},
		}}},
		"/v1/rules/revisions": map[string]any{"json": map[string]any{"revisions": []any{}}},
	}
	var out fieldsOut
	runHarness(t, fieldsHarness, map[string]any{"page": "rules", "routes": routes}, &out)
	rows := out.Tables["rules-list"]
	if len(rows) != 1 {
		t.Fatalf("the rules table shows %q, want one row", rows)
	}
	cells := strings.Split(rows[0], "|")
	if len(cells) < 4 || cells[2] != "x[U+202E]evil" || cells[3] != "[object Object]" {
		t.Errorf("the rule's row reads %q, want its kind as x[U+202E]evil and its effect as [object Object]", cells)
	}
}

// formatHarness formats each of input.values with src/dom.ts's fmtBytes,
// fmtHours and fmtUSD, telling what each gave or the error it threw.
const formatHarness = `
import { fmtBytes, fmtHours, fmtUSD } from "./dom";
declare const process: any;
declare function require(name: string): any;
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const f = (fn: (v: any) => string, v: any) => {
  try {
    return fn(v);
  } catch (e) {
    return "threw";
  }
};
process.stdout.write(JSON.stringify(input.values.map((v: any) => [f(fmtBytes, v), f(fmtHours, v), f(fmtUSD, v)])));
`

// TestFormatsTakeNotNumbers: a byte count, a duration or a cost that is
// not a number is shown as "–". Before, a missing one (null) passed the
// formats' isFinite check: fmtBytes and fmtHours threw, taking the ledger
// record (or the plan) it was in off the page, and a missing cost read
// $0; text read as the number it spells.
func TestFormatsTakeNotNumbers(t *testing.T) {
	var out [][]string
	runHarness(t, formatHarness, map[string]any{"values": []any{2048, "2048", nil, map[string]any{}, true}}, &out)
	want := [][]string{{"2.0 KiB", "85.3 d", "$2,048"}, {"–", "–", "–"}, {"–", "–", "–"}, {"–", "–", "–"}, {"–", "–", "–"}}
	if len(out) != len(want) {
		t.Fatalf("%d answers, want %d", len(out), len(want))
	}
	for i := range want {
		if !slices.Equal(out[i], want[i]) {
			t.Errorf("value %d: %q, want %q", i, out[i], want[i])
		}
	}
}

// ruleDaysHarness answers src/plan.ts's ruleDays of input.rules.
const ruleDaysHarness = `
import { ruleDays } from "./plan";
declare const process: any;
declare function require(name: string): any;
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(ruleDays(input.rules)));
`

// TestRuleDaysOnlyDays: the plan page's slider ticks, labelled with the
// days rules change, take only days in its range. Before, any text that
// sorted inside the range was a tick ("2025-01-01" followed by a
// right-to-left override), shown as the tick's label as it came; and a
// rule whose enforcement was not a list threw, and the plan page drew no
// plan.
func TestRuleDaysOnlyDays(t *testing.T) {
	rules := []any{
		map[string]any{"effectiveFrom": "2025-01-01", "effectiveUntil": "2025-01-01\u202eevil", "enforcement": []any{map[string]any{"from": "2026-02-03"}, nil}},
		map[string]any{"effectiveFrom": 20250101, "enforcement": 3},
		map[string]any{"effectiveFrom": "1999-01-01", "effectiveUntil": "2025-06-01"},
		nil,
	}
	var out []string
	runHarness(t, ruleDaysHarness, map[string]any{"rules": rules}, &out)
	if want := []string{"2025-01-01", "2025-06-01", "2026-02-03"}; !slices.Equal(out, want) {
		t.Errorf("the slider's days: %q, want %q", out, want)
	}
}

// planAtHarness checks input.plan with src/plan.ts's planAt: the
// placements and rejected groups it keeps, the problems it tells, or
// what it threw.
const planAtHarness = pagePrelude + `
import { planAt } from "./plan";
import { Problems } from "./dom";
const problems = new Problems();
try {
  const p = planAt(input.plan, problems);
  process.stdout.write(JSON.stringify({
    placements: (p.placements || []).map((x: any) => x.site),
    rejected: (p.rejected || []).map((x: any) => x.site),
    errors: find(problems.box, (e) => e.attrs.class === "error").map(text),
  }));
} catch (e) {
  process.stdout.write(JSON.stringify({ thrown: String((e as Error).message) }));
}
`

// TestPlanShowsWhatItCan: a plan's placements and rejected groups that
// the page cannot draw (a site that is not text, a cost that is not a
// number, findings that are not a list) are left out and named, and the
// rest is drawn.
// Before, such a field threw while the map was drawn, the page said
// "Planning…" for ever, and nothing of the plan was shown.
func TestPlanShowsWhatItCan(t *testing.T) {
	place := func(site string) map[string]any {
		return map[string]any{"rank": 1, "site": site, "country": "DE", "accelerator": "H100", "count": 8, "hours": 2, "costUSD": 10, "pareto": true, "obligations": nil, "advisories": nil}
	}
	badCost := place("s2")
	badCost["costUSD"] = "10"
	plan := map[string]any{
		"job": "j", "asOf": "2026-01-01",
		"placements": []any{place("s1"), badCost, nil},
		"rejected": []any{
			map[string]any{"site": "s3", "country": "FR", "accelerator": "H100", "kind": "law", "reasons": []any{}},
			map[string]any{"site": "s4", "country": "FR", "accelerator": "H100", "kind": "law", "reasons": "denied"},
		},
		"summary": map[string]any{"candidates": 5, "placements": 3},
	}
	var out struct {
		Placements []string
		Rejected   []string
		Errors     []string
		Thrown     string
	}
	runHarness(t, planAtHarness, map[string]any{"plan": plan}, &out)
	if !slices.Equal(out.Placements, []string{"s1"}) || !slices.Equal(out.Rejected, []string{"s3"}) || out.Thrown != "" {
		t.Errorf("the plan drawn: placements %q, rejected %q (threw %q), want [s1] and [s3]", out.Placements, out.Rejected, out.Thrown)
	}
	want := []string{
		"Placement 2 of the plan is not shown: in the server's answer, placements[1].costUSD is text, not a number.",
		"Placement 3 of the plan is not shown: in the server's answer, placements[2] is missing, not an object.",
		"Rejected group 2 of the plan is not shown: in the server's answer, rejected[1].reasons is text, not a list.",
	}
	if !slices.Equal(out.Errors, want) {
		t.Errorf("the page's error lines:\n%q\nwant\n%q", out.Errors, want)
	}
	// TestPlanSummaryFieldsChecked: a cost of sovereignty whose
	// constraints are not a list is named, and the plan drawn without it.
}

// findingHarness shows each of input.findings with src/plan.ts's
// findingItem: its text, or what it threw.
const findingHarness = pagePrelude + `
import { findingItem } from "./plan";
process.stdout.write(JSON.stringify(input.findings.map((f: any) => {
  try {
    return text(findingItem(f));
  } catch (e) {
    return "threw: " + (e as Error).message;
  }
})));
`

// TestFindingNotAnObject: a finding the server gave as something other
// than an object is shown as it came, as text. Before, it threw, and the
// details of the site it was at stayed empty.
func TestFindingNotAnObject(t *testing.T) {
	var out []string
	runHarness(t, findingHarness, map[string]any{"findings": []any{map[string]any{"rule": "r1", "effect": "deny"}, nil, "x\u202e"}}, &out)
	want := []string{"r1 (deny)", "(a finding the server gave as null)", `(a finding the server gave as "x[U+202E]")`}
	if !slices.Equal(out, want) {
		t.Errorf("the findings read %q, want %q", out, want)
	}
}
