package console

import (
	"testing"
)

// answerHarness calls src/api.ts's call against a stand-in fetch whose
// answer is JSON of input.size bytes ({"x":"aaa…"}), brought 64 KiB at a
// time as the page asks for it, with the status and Content-Length
// (when input.declared is set) asked for; it tells how the call ended and
// how many bytes the page pulled from the answer.
const answerHarness = `
import * as api from "./api";
const { call } = api;
// (the bound as the test knows it where src/api.ts names none)
const API_MAX_ANSWER: number = (api as any).API_MAX_ANSWER ?? 32 << 20;
declare const process: any;
declare function require(name: string): any;
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const g = globalThis as any;
g.sessionStorage = { getItem: () => null, clear() {} };
g.window = { dispatchEvent() {} };
const CHUNK = 65536;
async function one(c: any): Promise<any> {
  const size: number = c.size;
  let pulled = 0;
  const head = new TextEncoder().encode('{"x":"');
  const tail = new TextEncoder().encode('"}');
  const fill = new Uint8Array(CHUNK).fill(97);
  let left = size - head.length - tail.length;
  let state = 0;
  g.fetch = async () => {
    const body = new ReadableStream({
      pull(ctl) {
        let b: Uint8Array;
        if (state === 0) { b = head; state = 1; }
        else if (left > 0) { b = left >= CHUNK ? fill : fill.slice(0, left); left -= b.length; }
        else { b = tail; state = 2; }
        pulled += b.length;
        ctl.enqueue(b);
        if (state === 2) ctl.close();
      },
    }, { highWaterMark: 0 });
    const headers: Record<string, string> = { "Content-Type": "application/json" };
    if (c.declared) headers["Content-Length"] = String(c.declared);
    return new Response(body, { status: c.status || 200, statusText: "status text", headers });
  };
  try {
    const v = await call<any>("GET", "/v1/x");
    return { ok: true, length: v.x.length, pulled };
  } catch (err) {
    return { ok: false, message: (err as Error).message, pulled };
  }
}
async function main() {
  const out: any[] = [];
  for (const c of input.cases) out.push(await one(c));
  process.stdout.write(JSON.stringify({ max: API_MAX_ANSWER, out }));
}
main();
`

// TestAnswerBounded: an answer longer than API_MAX_ANSWER is refused with
// an error that says so, and the page stops reading it there; one
// whose Content-Length says it is longer is refused before a byte is
// read; an error's answer is read up to ERROR_MAX_ANSWER only. Before,
// the page read every answer whole, however long: a server (or anything
// between it and the page) that answered without end had the tab hold it
// all until it ran out of memory.
func TestAnswerBounded(t *testing.T) {
	const mib = 1 << 20
	const max = 32 * mib // API_MAX_ANSWER
	cases := []map[string]any{
		{"size": max},                      // at the bound: read
		{"size": max + 1},                  // past it: refused
		{"size": 3 * max},                  // far past it: refused, not read on
		{"size": 100, "declared": max + 1}, // refused by its Content-Length
		{"size": 4 * mib, "status": 500},   // a long error: the status text
	}
	var out struct {
		Max int
		Out []struct {
			OK      bool
			Length  int
			Message string
			Pulled  int
		}
	}
	runHarness(t, answerHarness, map[string]any{"cases": cases}, &out)
	if out.Max != max {
		t.Fatalf("API_MAX_ANSWER is %d, the test's %d", out.Max, max)
	}
	if len(out.Out) != len(cases) {
		t.Fatalf("%d answers for %d cases", len(out.Out), len(cases))
	}
	if r := out.Out[0]; !r.OK || r.Length != max-8 {
		t.Errorf("an answer of API_MAX_ANSWER bytes: %+v, want read", r)
	}
	const refused = "the server's answer is longer than the console reads (32 MiB); it was not read"
	for i := 1; i <= 2; i++ {
		r := out.Out[i]
		if r.OK || r.Message != refused {
			t.Errorf("an answer of %d bytes: ok %v %q, want refused: %q", cases[i]["size"], r.OK, r.Message, refused)
		}
		if r.Pulled > max+2*64<<10 {
			t.Errorf("an answer of %d bytes: the page read %d bytes of it, want at most the bound and a piece", cases[i]["size"], r.Pulled)
		}
	}
	if r := out.Out[3]; r.OK || r.Message != refused || r.Pulled > 0 {
		t.Errorf("an answer whose Content-Length is past the bound: %+v, want refused unread", r)
	}
	if r := out.Out[4]; r.OK || r.Message != "status text" || r.Pulled > 2*64<<10 {
		t.Errorf("a 4 MiB error answer: %+v, want the status text, read no further than 64 KiB", r)
	}
}
