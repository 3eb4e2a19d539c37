package console

import (
	"encoding/json"
	"fmt"
	"testing"
)

// pagePrelude is the start of a harness that opens one of the console's
// pages on a stand-in document, against a stand-in server: input.routes
// maps a request's path (with its query, else without) to an answer:
// {json} (200 and that JSON), {status, json}, {sse: [pieces]} (an event
// stream, each piece read on its own) or {hang: true} (an answer that never
// comes). It counts the elements made, by tag (made), and whatever is set
// as markup (markup); settle() waits until the page has nothing left to do
// but its timers; text(el) is an element's text.
const pagePrelude = `
declare const process: any;
declare function require(name: string): any;
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const g = globalThis as any;
const made: Record<string, number> = {};
let markup = 0;
class Txt {
  constructor(public data: string) {}
  get textContent() { return this.data; }
  get length() { return this.data.length; }
  appendData(s: string) { this.data += s; }
  deleteData(at: number, n: number) { this.data = this.data.slice(0, at) + this.data.slice(at + n); }
}
class El {
  attrs: Record<string, string> = {};
  children: any[] = [];
  hidden = false;
  disabled = false;
  value = "";
  className = "";
  scrollTop = 0;
  scrollHeight = 0;
  constructor(public tag: string) { made[tag] = (made[tag] || 0) + 1; }
  get textContent(): string { return this.children.map((c) => c.textContent).join(""); }
  set textContent(v: string) { this.children = [new Txt(String(v))]; }
  get firstChild() { return this.children[0] || null; }
  get lastChild() { return this.children[this.children.length - 1] || null; }
  removeAttribute(k: string) { delete this.attrs[k]; }
  get tBodies() { return this.children.filter((c) => c.tag === "tbody"); }
  get caption() { return this.children.find((c) => c.tag === "caption") || null; }
  set innerHTML(_v: string) { markup++; }
  set outerHTML(_v: string) { markup++; }
  insertAdjacentHTML() { markup++; }
  setAttribute(k: string, v: string) { this.attrs[k] = String(v); }
  getAttribute(k: string) { return k in this.attrs ? this.attrs[k] : null; }
  addEventListener() {}
  focus() {}
  append(...cs: any[]) { for (const c of cs) this.children.push(typeof c === "string" ? new Txt(c) : c); }
  removeChild(c: any) { const i = this.children.indexOf(c); if (i >= 0) this.children.splice(i, 1); return c; }
  insertBefore(c: any, ref: any) { const i = ref ? this.children.indexOf(ref) : -1; if (i >= 0) this.children.splice(i, 0, c); else this.children.push(c); return c; }
}
g.document = {
  createElement: (t: string) => new El(t),
  createElementNS: (_ns: string, t: string) => new El(t),
  createTextNode: (s: string) => new Txt(s),
};
g.sessionStorage = { getItem: () => "token", clear() {} };
g.window = { setTimeout: () => 1, setInterval: () => 2, clearInterval() {}, dispatchEvent() {}, addEventListener() {} };
const requests: string[] = [];
g.fetch = async (path: string) => {
  requests.push(path);
  const a = input.routes[path] || input.routes[path.split("?")[0]];
  if (!a) return new Response(JSON.stringify({ error: { message: "no route " + path } }), { status: 404 });
  if (a.hang) return new Promise(() => undefined);
  if (a.sse) {
    const pieces = a.sse.map((p: string) => new TextEncoder().encode(p));
    let i = 0;
    const body = new ReadableStream({
      pull(c) {
        if (i < pieces.length) c.enqueue(pieces[i++]);
        else c.close();
      },
    }, { highWaterMark: 0 });
    return new Response(body, { headers: { "Content-Type": "text/event-stream" } });
  }
  return new Response(a.body !== undefined ? a.body : JSON.stringify(a.json), { status: a.status || 200, headers: a.headers || {} });
};
async function settle(): Promise<void> {
  for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
}
function text(n: any): string {
  return n.textContent;
}
function find(n: any, f: (e: any) => boolean): any[] {
  const out: any[] = [];
  const walk = (e: any) => {
    if (!(e instanceof El)) return;
    if (f(e)) out.push(e);
    e.children.forEach(walk);
  };
  walk(n);
  return out;
}
`

// runPageHarness opens a run's page (run "r"), its event stream bringing
// input.events, each in a piece of its own, and tells the timeline it
// shows (each line's seq), its note, and how many lines were made.
const runPageHarness = pagePrelude + `
import { runPage } from "./runs";
async function main() {
  const page = new El("main");
  runPage(page as any, new URLSearchParams(), "r");
  await settle();
  const ol = find(page, (e) => e.attrs.id === "run-timeline")[0];
  const note = find(page, (e) => e.attrs.id === "run-timeline-note")[0];
  process.stdout.write(JSON.stringify({
    seqs: ol.children.map((li: any) => Number(li.attrs["data-seq"])),
    note: note && !note.hidden ? text(note) : "",
    made: made["li"] || 0,
    errors: find(page, (e) => e.attrs.class === "error").map(text),
    markup,
  }));
}
main();
`

// runRoutes is a stand-in server for run "r" whose event stream brings
// n timeline events, each in a piece of its own, then ends.
func runRoutes(n int) map[string]any {
	var pieces []string
	for i := 1; i <= n; i++ {
		e, _ := json.Marshal(map[string]any{"seq": i, "time": "2026-01-02T03:04:05Z", "kind": "heartbeat", "reason": fmt.Sprint("beat ", i)})
		pieces = append(pieces, fmt.Sprintf("id: %d\nevent: event\ndata: %s\n\n", i, e))
	}
	pieces = append(pieces, "event: end\ndata: {}\n\n")
	return map[string]any{
		"/v1/runs/r/events?follow=1": map[string]any{"sse": pieces},
		"/v1/runs/r":                 map[string]any{"json": map[string]any{"id": "r", "job": "j", "state": "succeeded", "site": "s1", "attempt": 1}},
		"/v1/runs/r/logs?limit=1":    map[string]any{"body": "", "headers": map[string]string{"X-Log-Size": "0"}},
		"/v1/runs/r/logs":            map[string]any{"body": ""},
		"/v1/catalog/sites":          map[string]any{"json": map[string]any{"sites": []any{}}},
	}
}

type runPageOut struct {
	Seqs   []int
	Note   string
	Made   int
	Errors []string
	Markup int
}

// TestTimelineAddsEachEventOnce: the run's page adds each timeline event
// once, as it comes, and shows the last TIMELINE_KEEP of them, saying so.
// Before, it drew the whole timeline again for each batch of events: a
// run whose 1,500 events came one at a time made over a million
// lines, and the page slowed as the run went on.
func TestTimelineAddsEachEventOnce(t *testing.T) {
	for _, n := range []int{1500, 5200} {
		var out runPageOut
		runHarness(t, runPageHarness, map[string]any{"routes": runRoutes(n)}, &out)
		if out.Made != n {
			t.Errorf("%d events: the page made %d timeline lines, want %d (each once)", n, out.Made, n)
		}
		const keep = 5000 // TIMELINE_KEEP
		shown := min(n, keep)
		if len(out.Seqs) != shown || out.Seqs[0] != n-shown+1 || out.Seqs[len(out.Seqs)-1] != n {
			t.Errorf("%d events: the timeline shows %d events (%v … %v), want the last %d", n, len(out.Seqs), out.Seqs[:min(len(out.Seqs), 1)], out.Seqs[max(len(out.Seqs)-1, 0):], shown)
		}
		for i := 1; i < len(out.Seqs); i++ {
			if out.Seqs[i] != out.Seqs[i-1]+1 {
				t.Errorf("%d events: the timeline's seqs go %d, %d", n, out.Seqs[i-1], out.Seqs[i])
				break
			}
		}
		wantNote := ""
		if n > keep {
			wantNote = fmt.Sprintf("Only the last 5,000 events are shown (%d before them are not): meridian describe run r prints all of them.", n-keep)
		}
		if out.Note != wantNote {
			t.Errorf("%d events: the timeline's note reads %q, want %q", n, out.Note, wantNote)
		}
	}
}
