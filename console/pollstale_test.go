package console

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// pollStaleHarness opens input.page ("run": run "r"'s page; "runs": the
// runs list) on a clock of its own (fakeClock), against a stand-in server
// whose answers may come in turn and be held: a route {seq: [answers]}
// gives its answers one a request, the last again after; an answer
// {held: true} comes only once the harness lets the held answers go; an
// event stream {open: true} stays open once its pieces are read; the
// piece "BIG" is an event too long for the page to hold (dropped). The
// harness moves the clock on input.advance ms, lets the held answers go,
// and tells the run's state as its page shows it, or the list's rows, and
// the errors shown.
const pollStaleHarness = pagePrelude + fakeClock + `
import { runPage, runsPage } from "./runs";
const holds: (() => void)[] = [];
const asks: Record<string, number> = {};
const BIG = "event: run\ndata: " + "x".repeat((16 << 20) + 1) + "\n\n";
g.fetch = async (path: string) => {
  requests.push(path);
  const route = input.routes[path] || input.routes[path.split("?")[0]];
  if (!route) return new Response(JSON.stringify({ error: { message: "no route " + path } }), { status: 404 });
  let a = route;
  if (route.seq) {
    asks[path] = (asks[path] || 0) + 1;
    a = route.seq[Math.min(asks[path], route.seq.length) - 1];
  }
  if (a.held) await new Promise<void>((r) => holds.push(r));
  if (a.sse) {
    const pieces = a.sse.map((p: string) => new TextEncoder().encode(p === "BIG" ? BIG : p));
    let i = 0;
    const body = new ReadableStream({
      pull(c) {
        if (i < pieces.length) c.enqueue(pieces[i++]);
        else if (a.open) return new Promise<void>(() => undefined);
        else c.close();
      },
    }, { highWaterMark: 0 });
    return new Response(body, { headers: { "Content-Type": "text/event-stream" } });
  }
  return new Response(JSON.stringify(a.json), { status: a.status || 200 });
};
async function main() {
  const page = new El("main");
  const stop = input.page === "run" ? runPage(page as any, new URLSearchParams(), "r") : runsPage(page as any);
  await settle();
  await advance(input.advance);
  const held = holds.length;
  for (const r of holds.splice(0)) r();
  await settle();
  const state = find(page, (e) => e.attrs.id === "run-state").map(text);
  const t = find(page, (e) => e.attrs.id === "runs-table")[0];
  const rows = t ? t.tBodies[0].children.map((r: any) => r.children.map(text).join("|")) : [];
  const errors = find(page, (e) => e.attrs.class === "error").map(text);
  stop();
  process.stdout.write(JSON.stringify({ held, state, rows, errors }));
}
main();
`

// staleRun is run "r" in state, as the server answers it.
func staleRun(state string) map[string]any {
	return map[string]any{"id": "r", "job": "j", "state": state, "site": "s1", "attempt": 1}
}

// sseRun is a stream's "run" event bringing run.
func sseRun(run map[string]any) string {
	b, _ := json.Marshal(run)
	return fmt.Sprintf("event: run\ndata: %s\n\n", b)
}

// sseRuns is the list stream's "runs" event bringing runs.
func sseRuns(runs ...any) string {
	b, _ := json.Marshal(map[string]any{"runs": runs})
	return fmt.Sprintf("event: runs\ndata: %s\n\n", b)
}

// TestPollDoesNotUndoTheStream: a poll's answer read before the stream
// brought a newer state of a run does not stand over it. A poll under
// way when the stream opens again (it was refused: 503), or one asked for
// beside the stream after it dropped an event, is answered after the
// stream brought the newer state; the page keeps the stream's, and does
// not put the poll's error (a 429) in its place. Before, the run's page
// showed the poll's older state, or its error, and the runs list took the
// poll's pages whole, or showed its error in place of the list, until
// the run next changed. A poll that began after the stream's state shows
// its own (the controls).
func TestPollDoesNotUndoTheStream(t *testing.T) {
	refused := map[string]any{"status": 503, "json": map[string]any{"error": map[string]any{"code": "unavailable", "message": "shutting down"}}}
	limited := map[string]any{"error": map[string]any{"code": "rate_limited", "message": "tenant t is over its rate limit"}}
	held := func(json any) map[string]any { return map[string]any{"held": true, "json": json} }
	stream := func(open bool, pieces ...string) map[string]any {
		return map[string]any{"sse": pieces, "open": open}
	}
	runRoutes := func(events, run any) map[string]any {
		return map[string]any{
			"/v1/runs/r/events?follow=1": events,
			"/v1/runs/r":                 run,
			"/v1/runs/r/events":          map[string]any{"json": map[string]any{"events": []any{}}},
			"/v1/runs/r/logs?limit=1":    map[string]any{"json": ""},
			"/v1/runs/r/logs":            map[string]any{"json": ""},
			"/v1/catalog/sites":          map[string]any{"json": map[string]any{"sites": []any{}}},
		}
	}
	listRoutes := func(events, pages any) map[string]any {
		return map[string]any{"/v1/runs?follow=1&pages=1": events, "/v1/runs?limit=1000": pages}
	}
	page := func(runs ...any) map[string]any { return map[string]any{"runs": runs} }
	for _, c := range []struct {
		name, page string
		routes     map[string]any
		advance    int
		held       int
		state      string   // the run page's
		rows       []string // the list's
	}{
		{
			name: "the run's page, a poll answered after the stream opened again", page: "run", advance: 2000, held: 1,
			routes: runRoutes(map[string]any{"seq": []any{refused, stream(true, sseRun(staleRun("succeeded")))}},
				held(staleRun("running"))),
			state: "succeeded",
		},
		{
			name: "the run's page, a poll refused after the stream opened again", page: "run", advance: 2000, held: 1,
			routes: runRoutes(map[string]any{"seq": []any{refused, stream(true, sseRun(staleRun("succeeded")))}},
				map[string]any{"held": true, "status": 429, "json": limited}),
			state: "succeeded",
		},
		{
			name: "the run's page, a poll after a dropped event answered after the stream's next", page: "run", held: 1,
			routes: runRoutes(stream(true, sseRun(staleRun("running")), "BIG", sseRun(staleRun("succeeded"))),
				held(staleRun("running"))),
			state: "succeeded",
		},
		{
			name: "the run's page, a poll begun after the stream's state", page: "run",
			routes: runRoutes(stream(false, sseRun(staleRun("running"))), map[string]any{"json": staleRun("succeeded")}),
			state:  "succeeded",
		},
		{
			name: "the runs list, a poll answered after the stream opened again", page: "runs", advance: 5000, held: 1,
			routes: listRoutes(map[string]any{"seq": []any{refused, stream(true, sseRuns(listRun(1, "running")), sseRun(listRun(1, "succeeded")))}},
				held(page(listRun(1, "running")))),
			rows: []string{listRow(1, "succeeded")},
		},
		{
			name: "the runs list, a poll refused after the stream opened again", page: "runs", advance: 5000, held: 1,
			routes: listRoutes(map[string]any{"seq": []any{refused, stream(true, sseRuns(listRun(1, "running")), sseRun(listRun(1, "succeeded")))}},
				map[string]any{"held": true, "status": 429, "json": limited}),
			rows: []string{listRow(1, "succeeded")},
		},
		{
			name: "the runs list, a poll after a dropped event answered after the stream's next", page: "runs", held: 1,
			routes: listRoutes(stream(true, sseRuns(listRun(2, "running"), listRun(1, "running")), "BIG", sseRun(listRun(1, "succeeded"))),
				held(page(listRun(2, "failed"), listRun(1, "running")))),
			// Run 2 the stream did not bring again: the poll's state of it
			// is the newer, and shown.
			rows: []string{listRow(2, "failed"), listRow(1, "succeeded")},
		},
		{
			name: "the runs list, a poll begun after the stream's list", page: "runs",
			routes: listRoutes(stream(false, sseRuns(listRun(1, "running"))), map[string]any{"json": page(listRun(1, "succeeded"))}),
			rows:   []string{listRow(1, "succeeded")},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out struct {
				Held   int
				State  []string
				Rows   []string
				Errors []string
			}
			runHarness(t, pollStaleHarness, map[string]any{"page": c.page, "routes": c.routes, "advance": c.advance}, &out)
			if out.Held != c.held {
				t.Fatalf("%d answers were held, want %d: the test needs the poll under way as the stream brings its state", out.Held, c.held)
			}
			if c.page == "run" && !slices.Equal(out.State, []string{c.state}) {
				t.Errorf("the run's page shows state %q, want %q", out.State, c.state)
			}
			if c.page == "runs" && !slices.Equal(out.Rows, c.rows) {
				t.Errorf("the runs list shows\n%s\nwant\n%s", strings.Join(out.Rows, "\n"), strings.Join(c.rows, "\n"))
			}
			if len(out.Errors) != 0 {
				t.Errorf("the page shows errors %q, want none", out.Errors)
			}
		})
	}
}
