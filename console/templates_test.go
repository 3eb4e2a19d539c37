package console

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// templatesHarness writes input's server values with the pages' helpers
// that put them into lines of their own (a copy's verification, the
// audit chain's verdict, a run's timeline event) and tells each line, or
// what it threw.
const templatesHarness = pagePrelude + `
import { verifyResult } from "./data";
import { chainResult } from "./audit";
import { Timeline } from "./runs";
import { siteDetail } from "./plan";
import { Problems } from "./dom";
const tried = (f: () => unknown) => {
  try {
    return f();
  } catch (e) {
    return "threw: " + (e as Error).message;
  }
};
process.stdout.write(JSON.stringify({
  verify: input.verify.map((r: any) => tried(() => verifyResult(r).text)),
  chain: input.chain.map((r: any) => tried(() => chainResult(r).lines.join("\n"))),
  rejections: input.rejections.map((r: any) => tried(() => {
    const box = siteDetail({ site: "s1", country: "DE", outcome: "law", placements: [], rejections: [r] }, undefined, new Problems()) as any;
    return text(find(box, (e) => e.tag === "h4")[0]);
  })),
  events: input.events.map((e: any) => tried(() => {
    const list = new El("ol");
    new Timeline(list as any, new El("p") as any, "r").add(e);
    return text(list);
  })),
}));
`

// TestTemplatesTakeServerValues: the lines the pages write themselves
// around a server's values (a copy's verification, the audit chain's
// verdict and its accepted breaks, a timeline event's move, a rejected
// group's resolution) show an absent value as such and an object as its
// JSON. Before, such a value
// went into a template string as it came: an object whose toString is
// not a function threw ("Cannot convert object to primitive value"), so
// the event was not shown and the problems line gave the script's own
// error, and the verification or verdict showed only that error; an
// absent one read "undefined" or "null".
func TestTemplatesTakeServerValues(t *testing.T) {
	in := map[string]any{
		"verify": []any{
			map[string]any{"chunks": trap, "ok": 1, "missing": []any{}, "altered": []any{}},
			map[string]any{"chunks": 3, "ok": nil, "missing": []any{}, "altered": []any{}},
			map[string]any{"chunks": trap, "ok": 3, "missing": []any{"c1"}, "altered": []any{}},
		},
		"chain": []any{
			map[string]any{"ok": true, "entries": trap, "head": "0011223344556677"},
			map[string]any{"ok": true, "entries": 3, "head": "0011223344556677", "unproven": trap},
			map[string]any{"ok": true, "entries": 3, "head": "0011223344556677", "accepted": []any{map[string]any{"problem": map[string]any{"seq": trap, "kind": "hash"}, "at": trap}}},
			map[string]any{"ok": true, "head": "0011223344556677", "accepted": []any{map[string]any{"problem": map[string]any{"seq": 4, "kind": "hash"}, "at": 7}}},
		},
		"rejections": []any{
			map[string]any{"site": "s1", "country": "DE", "accelerator": "H100", "kind": "law", "reasons": []any{}},
			map[string]any{"site": "s1", "country": "DE", "accelerator": "H100", "kind": "law", "resolution": "ask for a licence", "reasons": []any{}},
		},
		"events": []any{
			map[string]any{"seq": 1, "time": "2026-01-02T03:04:05Z", "kind": "migrated", "from": trap, "to": "s2"},
			map[string]any{"seq": 2, "time": "2026-01-02T03:04:05Z", "kind": "migrated", "from": "s1", "to": nil},
		},
	}
	var out struct {
		Verify     []string
		Chain      []string
		Rejections []string
		Events     []string
	}
	runHarness(t, templatesHarness, in, &out)
	const trapJSON = `{"toString":1,"valueOf":1}`
	wantVerify := []string{
		"FAILED: 1 of " + trapJSON + " chunks authenticated",
		"FAILED: ? of 3 chunks authenticated",
		"FAILED: 1 missing, 0 altered of " + trapJSON + " chunks",
	}
	if !slices.Equal(out.Verify, wantVerify) {
		t.Errorf("verifications:\n%q\nwant\n%q", out.Verify, wantVerify)
	}
	wantChain := []string{
		"✔ The chain verifies: " + trapJSON + " entries, head 0011223344556677…",
		"✘ NOT PROVEN: 3 entries in order and linked, head 0011223344556677…, but " + trapJSON,
		"✔ The chain verifies: 3 entries, head 0011223344556677…\nBroken at entry " + trapJSON + " (hash: no detail), accepted at entry " + trapJSON + "; checked on past it.",
		"✔ The chain verifies: ? entries, head 0011223344556677…\nBroken at entry 4 (hash: no detail), accepted at entry 7; checked on past it.",
	}
	if !slices.Equal(out.Chain, wantChain) {
		t.Errorf("chain verdicts:\n%q\nwant\n%q", out.Chain, wantChain)
	}
	wantRejections := []string{"H100: rejected for law", "H100: rejected for law (ask for a licence)"}
	if !slices.Equal(out.Rejections, wantRejections) {
		t.Errorf("rejections:\n%q\nwant\n%q", out.Rejections, wantRejections)
	}
	wantEvents := []string{"2026-01-02 03:04:05 UTC migrated " + trapJSON + " → s2", "2026-01-02 03:04:05 UTC migrated s1 → "}
	if !slices.Equal(out.Events, wantEvents) {
		t.Errorf("timeline events:\n%q\nwant\n%q", out.Events, wantEvents)
	}
}

// pickerHarness opens the plan page and tells the options of its run
// picker and the errors it shows.
const pickerHarness = planPagePrelude + `
import { planPage } from "./plan";
async function main() {
  const page = new El("main");
  planPage(page as any, new URLSearchParams("asOf=2025-01-01"));
  for (let i = 0; i < 5; i++) await settle();
  const sel = find(page, (e) => e.attrs.id === "job-run")[0];
  process.stdout.write(JSON.stringify({
    options: sel.children.map(text),
    errors: find(page, (e) => e.attrs.class === "error").map(text),
  }));
}
main();
`

// TestTemplatesTakeServerValuesOnPages: the plan page's run picker and the
// data page's ledger show each run and record whose fields (a run's job
// or state, a record's origin, its site of origin, basis or chunk count)
// are objects or absent, and a run's page a migration without a reason.
// Before, a template string threw on such an object: the run was left
// out of the picker and the record out of the ledger, each with the
// script's own error ("Cannot convert object to primitive value") in the
// problems line; an absent state or reason read "undefined".
func TestTemplatesTakeServerValuesOnPages(t *testing.T) {
	runs := []any{
		map[string]any{"id": "r1", "job": trap, "state": "running"},
		map[string]any{"id": "r2", "job": "j2"},
	}
	routes := map[string]any{
		"/v1/plans":         map[string]any{"json": map[string]any{"job": "j", "asOf": "2025-01-01"}},
		"/v1/catalog/sites": map[string]any{"json": map[string]any{"sites": []any{}}},
		"/v1/rules":         map[string]any{"json": map[string]any{"rules": []any{}}},
		"/v1/runs":          map[string]any{"json": map[string]any{"runs": runs}},
	}
	var picker struct {
		Options []string
		Errors  []string
	}
	runHarness(t, pickerHarness, map[string]any{"routes": routes}, &picker)
	wantOptions := []string{"— choose a run —", `r1 · {"toString":1,"valueOf":1} · running`, "r2 · j2 · –"}
	if !slices.Equal(picker.Options, wantOptions) || len(picker.Errors) != 0 {
		t.Errorf("the run picker: %q (errors %q), want %q", picker.Options, picker.Errors, wantOptions)
	}

	data := dataRoutes(10, 4)
	entries := data["/v1/ledger"].(map[string]any)["json"].(map[string]any)["entries"].([]any)
	entries[0].(map[string]any)["fromSite"] = trap
	entries[0].(map[string]any)["basis"] = trap
	entries[1].(map[string]any)["from"] = trap
	entries[2].(map[string]any)["complete"] = false
	entries[2].(map[string]any)["chunksSent"] = trap
	delete(entries[3].(map[string]any), "asOf")
	var ledger struct {
		Rows   int
		Arcs   int
		Errors []string
	}
	runHarness(t, dataPageHarness, map[string]any{"routes": data}, &ledger)
	if ledger.Rows != 4 || len(ledger.Errors) != 0 {
		t.Errorf("the ledger shows %d records of 4 (errors %q), want all of them", ledger.Rows, ledger.Errors)
	}
	for _, e := range ledger.Errors {
		if strings.Contains(e, "primitive") {
			t.Errorf("the page shows the script's own error: %q", e)
		}
	}
	// The record whose origin is an object has no place to start from.
	if ledger.Arcs != 3 {
		t.Errorf("the map draws %d transfers, want 3", ledger.Arcs)
	}

	r := okRun("r")
	r["migration"] = map[string]any{"from": "s0"}
	b, _ := json.Marshal(r)
	runs2 := runRoutes(0)
	runs2["/v1/runs/r/events?follow=1"] = map[string]any{"sse": []string{"event: run\ndata: " + string(b) + "\n\n", "event: end\ndata: {}\n\n"}}
	var run struct {
		Head   string
		Errors []string
	}
	runHarness(t, runHeadHarness, map[string]any{"routes": runs2}, &run)
	if !strings.HasSuffix(run.Head, "Movingfrom s0: –") || len(run.Errors) != 0 {
		t.Errorf("the run's facts read %q (errors %q), want the migration from s0 without a reason", run.Head, run.Errors)
	}
}

// runHeadHarness opens run r's page and tells its facts and errors.
const runHeadHarness = pagePrelude + `
import { runPage } from "./runs";
async function main() {
  const page = new El("main");
  runPage(page as any, new URLSearchParams(), "r");
  await settle();
  process.stdout.write(JSON.stringify({
    head: text(find(page, (e) => e.attrs.id === "run-head")[0]),
    errors: find(page, (e) => e.attrs.class === "error").map(text),
  }));
}
main();
`

// whoHarness opens the console on a page it does not have and tells what
// the header says of who is signed in.
const whoHarness = pagePrelude + `
const els: Record<string, any> = { main: new El("main"), nav: new El("nav"), who: new El("div") };
g.document.getElementById = (id: string) => els[id] || null;
g.location = { hash: "#/nowhere" };
require("./main");
async function main() {
  await settle();
  process.stdout.write(JSON.stringify({ who: text(els.who), buttons: find(els.who, (e) => e.tag === "button").length }));
}
main();
`

// TestSignedInTenantShownAsText: the header names the tenant the server
// says the token is, and offers to sign out, whatever the name is.
// Before, a name that was an object whose toString is not a function
// threw, and the header showed nothing, not even Sign out; an absent one
// read "Tenant null".
func TestSignedInTenantShownAsText(t *testing.T) {
	for _, c := range []struct {
		tenant any
		want   string
	}{
		{"acme", "Tenant acme Sign out"},
		{trap, `Tenant {"toString":1,"valueOf":1} Sign out`},
		{nil, "Tenant (unnamed) Sign out"},
	} {
		routes := map[string]any{"/v1/healthz": map[string]any{"json": map[string]any{"tenant": c.tenant}}}
		var out struct {
			Who     string
			Buttons int
		}
		runHarness(t, whoHarness, map[string]any{"routes": routes}, &out)
		if out.Who != c.want || out.Buttons != 1 {
			t.Errorf("tenant %v: the header reads %q with %d buttons, want %q and Sign out", c.tenant, out.Who, out.Buttons, c.want)
		}
	}
}

// whoRaceHarness opens the console on a page it does not have, changes
// the hash (a second page), and answers the two requests for who is
// signed in last first: input.answers[i] is the tenant of the i-th.
const whoRaceHarness = pagePrelude + `
const els: Record<string, any> = { main: new El("main"), nav: new El("nav"), who: new El("div") };
g.document.getElementById = (id: string) => els[id] || null;
g.location = { hash: "#/nowhere" };
const heard: Record<string, any[]> = {};
g.window.addEventListener = (k: string, f: any) => { (heard[k] = heard[k] || []).push(f); };
const pending: ((r: Response) => void)[] = [];
g.fetch = () => new Promise((res) => pending.push(res));
require("./main");
async function main() {
  await settle();
  g.location.hash = "#/elsewhere";
  for (const f of heard.hashchange || []) f(new Event("hashchange"));
  await settle();
  for (const i of [1, 0]) {
    if (pending[i]) pending[i](new Response(JSON.stringify({ tenant: input.answers[i] })));
    await settle();
  }
  process.stdout.write(JSON.stringify({ asked: pending.length, who: text(els.who), buttons: find(els.who, (e) => e.tag === "button").length }));
}
main();
`

// TestSignedInTenantIsTheLastAsked: the header names the tenant of the
// last request for who is signed in, once, whatever order the answers
// come in. Before, each page the console opened asked and appended its
// answer when it came, so that an answer that came late (a slow server, a
// sign-out and another tenant's sign-in meanwhile) was added beside the
// newer one: the header read "Tenant b Sign out Tenant a Sign out".
func TestSignedInTenantIsTheLastAsked(t *testing.T) {
	var out struct {
		Asked   int
		Who     string
		Buttons int
	}
	runHarness(t, whoRaceHarness, map[string]any{"routes": map[string]any{}, "answers": []string{"a", "b"}}, &out)
	if out.Asked != 2 || out.Who != "Tenant b Sign out" || out.Buttons != 1 {
		t.Errorf("after %d requests the header reads %q with %d buttons, want %q and one Sign out", out.Asked, out.Who, out.Buttons, "Tenant b Sign out")
	}
}
