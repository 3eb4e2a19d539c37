package console

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// runsListHarness opens the runs list, its stream bringing input.pieces,
// each read on its own, and tells the rows the list shows (each row's
// text), its caption, its notes, and how many rows were made.
const runsListHarness = pagePrelude + `
import { runsPage } from "./runs";
async function main() {
  const page = new El("main");
  runsPage(page as any);
  await settle();
  const t = find(page, (e) => e.attrs.id === "runs-table")[0];
  const note = find(page, (e) => e.attrs.id === "runs-unlisted")[0];
  const runs = find(page, (e) => e.attrs.id === "runs")[0];
  const at = page.children.indexOf(runs);
  process.stdout.write(JSON.stringify({
    rows: t ? t.tBodies[0].children.map((r: any) => r.children.map(text).join("|")) : [],
    caption: t ? text(t.caption) : "",
    note: note && !note.hidden ? text(note) : "",
    helpBefore: at > 0 && page.children[at - 1].attrs.class === "help",
    made: made["tr"] || 0,
    errors: find(page, (e) => e.attrs.class === "error").map(text),
    markup,
  }));
}
main();
`

type runsListOut struct {
	Rows       []string
	Caption    string
	Note       string
	HelpBefore bool
	Made       int
	Errors     []string
	Markup     int
}

// listRun is run n of a test's list: run n is created n minutes after
// the first, in state.
func listRun(n int, state string) map[string]any {
	t := fmt.Sprintf("2026-01-02T%02d:%02d:00Z", n/60%24, n%60)
	if n >= 24*60 {
		t = fmt.Sprintf("2026-01-%02dT%02d:%02d:00Z", 2+n/(24*60), n/60%24, n%60)
	}
	return map[string]any{"id": fmt.Sprintf("r%05d", n), "job": "j", "state": state, "site": "s1", "attempt": 1, "createdAt": t, "updatedAt": t}
}

// listRow is the row the list shows for listRun(n, state).
func listRow(n int, state string) string {
	r := listRun(n, state)
	f := func(k string) string {
		return strings.Replace(strings.Replace(r[k].(string), "T", " ", 1), "Z", " UTC", 1)
	}
	return fmt.Sprintf("%s|j|%s|s1|1|%s|%s", r["id"], state, f("createdAt"), f("updatedAt"))
}

func runsStream(list []any, runs []map[string]any) []string {
	l, _ := json.Marshal(map[string]any{"runs": list})
	pieces := []string{fmt.Sprintf("event: runs\ndata: %s\n\n", l)}
	for _, r := range runs {
		b, _ := json.Marshal(r)
		pieces = append(pieces, fmt.Sprintf("event: run\ndata: %s\n\n", b))
	}
	return pieces
}

func runsListRoutes(pieces []string) map[string]any {
	return map[string]any{
		"/v1/runs?follow=1&pages=1": map[string]any{"sse": pieces},
		"/v1/runs?limit=1000":       map[string]any{"hang": true},
	}
}

// TestRunsListRedrawsOnlyWhatChanged: the runs list makes a run's row
// when the run is first shown and again only when the stream changes
// it, and keeps the rows in order (newest first). Before, it made every
// row again for each batch of the stream's events: a list of 200 runs
// whose stream then changed 300 of them, one at a time, made over
// 60,000 rows.
func TestRunsListRedrawsOnlyWhatChanged(t *testing.T) {
	const shown, changes = 200, 300
	var list []any
	for i := range shown {
		list = append(list, listRun(i, "running"))
	}
	var runs []map[string]any
	state := make([]string, shown)
	for i := range state {
		state[i] = "running"
	}
	for i := range changes {
		n := (i * 7) % shown
		s := []string{"succeeded", "failed", "cancelled"}[i%3]
		state[n] = s
		runs = append(runs, listRun(n, s))
	}
	var out runsListOut
	runHarness(t, runsListHarness, map[string]any{"routes": runsListRoutes(runsStream(list, runs))}, &out)
	// The rows made: the header's, each run's, and one for each change.
	if out.Made != 1+shown+changes {
		t.Errorf("the list made %d rows for %d runs and %d changes, want %d (the header, each run once, then once a change)", out.Made, shown, changes, 1+shown+changes)
	}
	var want []string
	for n := shown - 1; n >= 0; n-- {
		want = append(want, listRow(n, state[n]))
	}
	if !slices.Equal(out.Rows, want) {
		t.Errorf("the list shows %d rows:\n%s\nwant %d, newest first:\n%s", len(out.Rows), strings.Join(out.Rows[:min(len(out.Rows), 5)], "\n"), len(want), strings.Join(want[:5], "\n"))
	}
	if out.Caption != "200 runs" || out.Note != "" || len(out.Errors) != 0 || !out.HelpBefore {
		t.Errorf("caption %q, note %q, errors %q, help line before the list %v; want \"200 runs\", no note, no error, the help line", out.Caption, out.Note, out.Errors, out.HelpBefore)
	}
}

// TestRunsListStreamIsBounded: the runs the list's stream adds beyond
// the pages read are at most RUN_EVENTS_KEEP (1000); past them the list
// says how many more the stream brought, and that a reload lists them.
// Before, each run of the stream that the list did not show was added:
// a list left open while a tenant submitted runs without end grew
// without end (and was drawn again whole for each of them).
func TestRunsListStreamIsBounded(t *testing.T) {
	const shown, keep, past = 10, 1000, 25
	var list []any
	for i := range shown {
		list = append(list, listRun(i, "running"))
	}
	var runs []map[string]any
	for i := shown; i < shown+keep+past; i++ {
		runs = append(runs, listRun(i, "queued"))
	}
	// A run shown changes after the bound is reached: it is still
	// drawn again.
	runs = append(runs, listRun(3, "failed"))
	var out runsListOut
	runHarness(t, runsListHarness, map[string]any{"routes": runsListRoutes(runsStream(list, runs))}, &out)
	if len(out.Rows) != shown+keep {
		t.Fatalf("the list shows %d rows, want %d: its %d and the %d the stream may add", len(out.Rows), shown+keep, shown, keep)
	}
	var want []string
	for n := shown + keep - 1; n >= 0; n-- {
		s := "running"
		if n >= shown {
			s = "queued"
		} else if n == 3 {
			s = "failed"
		}
		want = append(want, listRow(n, s))
	}
	if !slices.Equal(out.Rows, want) {
		t.Errorf("the list's rows, newest first, are not the first %d runs and those the stream added first", shown)
	}
	if out.Made != 1+shown+keep+1 {
		t.Errorf("the list made %d rows, want %d (the header, each run once, the change once)", out.Made, 1+shown+keep+1)
	}
	wantNote := "25 more runs changed than the list holds (1,000 beyond the pages read): reload the page to list them."
	if out.Note != wantNote || out.Caption != "1010 runs" {
		t.Errorf("note %q, caption %q; want %q, \"1010 runs\"", out.Note, out.Caption, wantNote)
	}
}

// TestRunsListTakesValuesWithoutText: a run's field that JavaScript
// cannot turn into text (an object whose toString is not a function) is
// shown as its JSON, or, where the list sorts by it, the run is named as
// one it cannot show; the other runs are listed. Before, String() threw:
// the list showed the script's own error instead of the runs.
func TestRunsListTakesValuesWithoutText(t *testing.T) {
	badJob := okRun("r1")
	badJob["job"] = trap
	badCreated := okRun("r2")
	badCreated["createdAt"] = trap
	var out fieldsOut
	runHarness(t, fieldsHarness, map[string]any{"page": "runs", "routes": map[string]any{
		"/v1/runs": map[string]any{"json": map[string]any{"runs": []any{badJob, badCreated, okRun("r3")}}},
	}}, &out)
	want := []string{
		"r3|j|running|s1|1|2026-01-02 03:04:05 UTC|2026-01-02 03:04:06 UTC",
		`r1|{"toString":1,"valueOf":1}|running|s1|1|2026-01-02 03:04:05 UTC|2026-01-02 03:04:06 UTC`,
	}
	if !slices.Equal(out.Tables["runs-table"], want) || out.Thrown != "" {
		t.Errorf("the list shows %q (threw %q), want %q", out.Tables["runs-table"], out.Thrown, want)
	}
	if wantErr := []string{"Run r2 is not shown: in the server's answer, createdAt is an object, not text."}; !slices.Equal(out.Errors, wantErr) {
		t.Errorf("the page's error lines: %q, want %q", out.Errors, wantErr)
	}
}

// domTextHarness makes an element of input.value with src/dom.ts's h:
// as its text, its title, and a child; and tells its text and title.
const domTextHarness = pagePrelude + `
import { h } from "./dom";
try {
  const a = h("p", { text: input.value, title: input.value });
  const b = h("p", {}, input.value, " ", [input.value]);
  process.stdout.write(JSON.stringify({ text: text(a), title: a.getAttribute("title"), child: text(b) }));
} catch (e) {
  process.stdout.write(JSON.stringify({ thrown: String((e as Error).message) }));
}
`

// TestElementTakesValuesWithoutText: an element made of a value that
// JavaScript cannot turn into text shows its JSON. Before, h threw, and
// the part of the page being drawn stopped.
func TestElementTakesValuesWithoutText(t *testing.T) {
	var out struct{ Text, Title, Child, Thrown string }
	runHarness(t, domTextHarness, map[string]any{"value": trap}, &out)
	const j = `{"toString":1,"valueOf":1}`
	if out.Text != j || out.Title != j || out.Child != j+" "+`[`+j+`]` || out.Thrown != "" {
		t.Errorf("the element reads %+v, want its text, title and child %s", out, j)
	}
}

// TestRunPageTakesValuesWithoutText: the run's page shows a run whose
// state, attempt or migration JavaScript cannot turn into text, as JSON.
// Before, String() threw: the page named the change to the run as one
// it could not show, and its facts, map and cancel button stayed as
// they were.
func TestRunPageTakesValuesWithoutText(t *testing.T) {
	r := okRun("r")
	r["state"] = trap
	r["attempt"] = trap
	r["migration"] = map[string]any{"from": trap, "reason": "law", "rule": trap}
	b, _ := json.Marshal(r)
	routes := runRoutes(0)
	routes["/v1/runs/r/events?follow=1"] = map[string]any{"sse": []string{"event: run\ndata: " + string(b) + "\n\n", "event: end\ndata: {}\n\n"}}
	const harness = pagePrelude + `
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
	var out struct {
		Head   string
		Errors []string
	}
	runHarness(t, harness, map[string]any{"routes": routes}, &out)
	const j = `{"toString":1,"valueOf":1}`
	want := "Jobj" + "State" + j + "Sites1" + "Attempt" + j + "Movingfrom " + j + ": law (rule " + j + ")"
	if out.Head != want || len(out.Errors) != 0 {
		t.Errorf("the run's facts read %q (errors %q), want %q", out.Head, out.Errors, want)
	}
}
