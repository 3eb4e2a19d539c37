package console

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// runIDHarness opens the plan page with input.id as the link's run
// (#/plan?run=ID) and tells its run picker's options; then that run's
// page, whose output is longer than the page keeps, presses its cancel
// button once and tells the button's words and the output's note; and
// the note a Timeline that keeps one event writes for that run.
const runIDHarness = planPagePrelude + `
import { planPage } from "./plan";
import { runPage, Timeline } from "./runs";
async function main() {
  const plan = new El("main");
  const stopPlan = planPage(plan as any, new URLSearchParams("asOf=2025-01-01&run=" + encodeURIComponent(input.id)));
  for (let i = 0; i < 5; i++) await settle();
  stopPlan();
  const sel = find(plan, (e) => e.attrs.id === "job-run")[0];
  const page = new El("main");
  const stop = runPage(page as any, new URLSearchParams(), input.id);
  for (let i = 0; i < 3; i++) await settle();
  const btn = find(page, (e) => e.attrs.id === "cancel")[0];
  btn.dispatchEvent(new Event("click"));
  const logNote = find(page, (e) => e.attrs.id === "run-logs-note")[0];
  stop();
  const list = new El("ol");
  const note = new El("p");
  const tl = new Timeline(list as any, note as any, input.id, 1);
  for (const seq of [1, 2]) tl.add({ seq, time: "2026-01-02T03:04:05Z", kind: "heartbeat" } as any);
  process.stdout.write(JSON.stringify({
    options: sel.children.map(text),
    button: text(btn),
    logNote: text(logNote),
    timelineNote: text(note),
  }));
}
main();
`

// TestRunIDShownBoundedAndMarked: a run's id that a link names
// (#/plan?run=ID, #/runs/ID) is shown in the plan page's run picker, on
// the run page's cancel button as it asks to confirm, and in the notes
// on its output and timeline as a heading shows it (nameShown): at most
// 128 of its characters, a newline as its marker, the rest counted.
// Before, the picker marked it but held it whole, and the button and the
// notes repeated it whole, so a crafted link put kilobytes of its text,
// lines of it, into the button the operator confirms a cancel with.
func TestRunIDShownBoundedAndMarked(t *testing.T) {
	const words = "Cancelled by your admin"
	id := "r-1\n" + words + strings.Repeat("A", 5000)
	shownID := "r-1␊" + words + strings.Repeat("A", 128-4-len(words)) + fmt.Sprintf("… (%d more characters)", len(id)-128)
	path := "/v1/runs/" + url.PathEscape(id)
	run := okRun(id)
	run["documents"] = []any{map[string]any{"name": "job.yaml", "content": "kind: TrainingJob"}}
	b, _ := json.Marshal(run)
	routes := map[string]any{
		"/v1/plans":               map[string]any{"json": map[string]any{"job": "j", "asOf": "2025-01-01", "placements": []any{}, "rejected": []any{}}},
		"/v1/catalog/sites":       map[string]any{"json": map[string]any{"sites": []any{}}},
		"/v1/rules":               map[string]any{"json": map[string]any{"rules": []any{}}},
		"/v1/runs":                map[string]any{"json": map[string]any{"runs": []any{}}},
		path:                      map[string]any{"json": run},
		path + "/events?follow=1": map[string]any{"sse": []string{"event: run\ndata: " + string(b) + "\n\n", "event: end\ndata: {}\n\n"}},
		path + "/logs?limit=1":    map[string]any{"body": "", "headers": map[string]string{"X-Log-Size": "5000000"}},
		path + "/logs":            map[string]any{"hang": true},
	}
	var out struct {
		Options                       []string
		Button, LogNote, TimelineNote string
	}
	runHarness(t, runIDHarness, map[string]any{"routes": routes, "id": id}, &out)
	if len(out.Options) != 2 || out.Options[1] != shownID {
		t.Errorf("the run picker's options: %q, want the link's run as %q", out.Options, shownID)
	}
	if want := "Confirm: cancel run " + shownID; out.Button != want {
		t.Errorf("the cancel button reads %q (%d bytes), want %q", out.Button, len(out.Button), want)
	}
	if !strings.Contains(out.LogNote, "meridian logs "+shownID+" prints") || len(out.LogNote) > 400 {
		t.Errorf("the output's note reads %q (%d bytes), want the id as %q", out.LogNote, len(out.LogNote), shownID)
	}
	if !strings.Contains(out.TimelineNote, "meridian describe run "+shownID+" prints") || len(out.TimelineNote) > 400 {
		t.Errorf("the timeline's note reads %q (%d bytes), want the id as %q", out.TimelineNote, len(out.TimelineNote), shownID)
	}
}
