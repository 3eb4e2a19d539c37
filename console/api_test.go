package console

import (
	"slices"
	"strings"
	"testing"
)

// sseHarness runs src/api.ts's SSEParser in node: each case's pieces
// pushed one by one, the events it gave (and how many after each piece),
// its lastId, retry, scanned, dropped and peak once done, and how many
// events had come before each one dropped. input.max, when set, is the
// parser's bound in place of SSE_MAX_EVENT.
const sseHarness = `
import { SSEParser, SSEMessage } from "./api";
declare const process: any;
declare function require(name: string): any;
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
function parse(chunks: string[]) {
  const events: SSEMessage[] = [];
  const drops: number[] = [];
  const p = new SSEParser((m) => events.push(m), () => drops.push(events.length), input.max);
  const counts: number[] = [];
  for (const c of chunks) {
    p.push(c);
    counts.push(events.length);
  }
  return { events, counts, lastId: p.lastId, retry: p.retry, scanned: p.scanned, dropped: p.dropped, peak: p.peak, drops };
}
if (input.bench) {
  parse(input.bench); // warm the JIT, as a page reading a stream is
  const t0 = process.hrtime.bigint();
  let n = 0;
  for (let i = 0; i < input.reps; i++) n += parse(input.bench).events.length;
  process.stdout.write(JSON.stringify({ ns: Number(process.hrtime.bigint() - t0), n }));
} else {
  process.stdout.write(JSON.stringify(input.cases.map(parse)));
}
`

type sseMessage struct {
	ID    string `json:"id"`
	Event string `json:"event"`
	Data  string `json:"data"`
}

type sseParse struct {
	Events  []sseMessage
	Counts  []int
	LastID  string
	Retry   float64
	Scanned int
	Dropped int
	Peak    int
	Drops   []int
}

func parseSSE(t *testing.T, cases [][]string) []sseParse {
	t.Helper()
	return parseSSEMax(t, cases, 0)
}

// parseSSEMax is parseSSE with the parser bounded to max characters (0:
// SSE_MAX_EVENT).
func parseSSEMax(t *testing.T, cases [][]string, max int) []sseParse {
	t.Helper()
	var out []sseParse
	in := map[string]any{"cases": cases}
	if max > 0 {
		in["max"] = max
	}
	runHarness(t, sseHarness, in, &out)
	if len(out) != len(cases) {
		t.Fatalf("the harness answered %d cases of %d", len(out), len(cases))
	}
	return out
}

// TestSSEParserFormat: the parser reads the event stream format whatever
// the pieces it comes in: LF, CR and CRLF line ends (a CRLF cut between
// pieces is one line end, not two), comments, id carried over, retry.
func TestSSEParserFormat(t *testing.T) {
	msg := func(id, event, data string) sseMessage { return sseMessage{id, event, data} }
	var oneChar []string
	for _, c := range "event: run\r\ndata: hello\r\ndata: world\r\n\r\n" {
		oneChar = append(oneChar, string(c))
	}
	cases := []struct {
		name   string
		chunks []string
		events []sseMessage
		counts []int // events after each piece; nil: not checked
		lastID string
	}{
		{"LF", []string{"data: a\n\n", "data:b\ndata\n\n"}, []sseMessage{msg("", "message", "a"), msg("", "message", "b\n")}, []int{1, 2}, ""},
		{"CRLF cut between pieces is one line end", []string{"data: a\r", "\ndata: b\r\n\r", "\n"}, []sseMessage{msg("", "message", "a\nb")}, []int{0, 1, 1}, ""},
		{"CRLF cut, then an empty piece", []string{"data: a\r", "", "\n\r\n"}, []sseMessage{msg("", "message", "a")}, []int{0, 0, 1}, ""},
		{"CR alone ends lines, the event at once", []string{"data: a\rdata: b\r\r", "data: c\r\r"}, []sseMessage{msg("", "message", "a\nb"), msg("", "message", "c")}, []int{1, 2}, ""},
		{"one character a piece", oneChar, []sseMessage{msg("", "run", "hello\nworld")}, nil, ""},
		{"comments", []string{": heartbeat\n", "data: x\n: in the middle\n\n", ":\n\n"}, []sseMessage{msg("", "message", "x")}, []int{0, 1, 1}, ""},
		{"id carried over, event reset", []string{"id: 7\nevent: run\ndata: {}\n\n", "data: y\n\n", "id: 8\u0000x\ndata: z\n\nid\ndata: w\n\n"},
			[]sseMessage{msg("7", "run", "{}"), msg("7", "message", "y"), msg("7", "message", "z"), msg("", "message", "w")}, []int{1, 2, 4}, ""},
		{"a line cut anywhere", []string{"da", "ta: lo", "ng li", "ne\n", "\n"}, []sseMessage{msg("", "message", "long line")}, []int{0, 0, 0, 0, 1}, ""},
		{"no data, no event; cut off at the end", []string{"event: x\n\n", "data: never ended\n"}, nil, []int{0, 0}, ""},
	}
	var in [][]string
	for _, c := range cases {
		in = append(in, c.chunks)
	}
	out := parseSSE(t, in)
	for i, c := range cases {
		got := out[i]
		if len(got.Events) != len(c.events) {
			t.Errorf("%s: events %+v, want %+v", c.name, got.Events, c.events)
			continue
		}
		for j := range c.events {
			if got.Events[j] != c.events[j] {
				t.Errorf("%s: event %d is %+v, want %+v", c.name, j, got.Events[j], c.events[j])
			}
		}
		if c.counts != nil && !slices.Equal(got.Counts, c.counts) {
			t.Errorf("%s: events after each piece %v, want %v", c.name, got.Counts, c.counts)
		}
		if got.LastID != c.lastID {
			t.Errorf("%s: lastId %q, want %q", c.name, got.LastID, c.lastID)
		}
	}
}

// TestSSEParserLinearWork: an event that comes in many pieces is looked at
// once, not again from its start with each piece. Before, push scanned all
// it held for every piece: a 1 MiB event in 64 KiB pieces was scanned
// eight and a half times over (0.76 s; 4 MiB took 10.6 s), and a run's
// page stalled on a large run's event.
func TestSSEParserLinearWork(t *testing.T) {
	const mib = 1 << 20
	text := "id: 1\nevent: run\ndata: " + strings.Repeat("x", mib) + "\n\n" + strings.Repeat("data: small\n\n", 1000)
	var chunks []string
	for s := text; len(s) > 0; {
		n := min(len(s), 64<<10)
		chunks = append(chunks, s[:n])
		s = s[n:]
	}
	got := parseSSE(t, [][]string{chunks})[0]
	if len(got.Events) != 1001 || len(got.Events[0].Data) != mib || got.Events[0].Event != "run" || got.Events[1000].Data != "small" {
		t.Fatalf("%d events, the first with %d bytes of data", len(got.Events), len(got.Events[0].Data))
	}
	// Each character once (the text is ASCII: its length in UTF-16 is
	// its length in bytes).
	if got.Scanned > len(text) {
		t.Errorf("the parser looked at %d characters of a %d-character stream (%.1f times each)", got.Scanned, len(text), float64(got.Scanned)/float64(len(text)))
	}
}

// sseMaxEvent is SSE_MAX_EVENT of src/api.ts.
const sseMaxEvent = 16 << 20

// pieces cuts s into pieces of n characters, as a stream brings it.
func pieces(s string, n int) []string {
	var out []string
	for len(s) > 0 {
		k := min(len(s), n)
		out = append(out, s[:k])
		s = s[k:]
	}
	return out
}

// TestSSEParserEventBounded: an event longer than SSE_MAX_EVENT is dropped,
// not held: the parser never holds more than the bound, tells that it
// dropped one, and reads the events after it. Before, it kept every
// character of an event until the event's end: a stream (or anything
// between the server and the page) that sent one event without end had
// the page hold it all until the tab ran out of memory.
func TestSSEParserEventBounded(t *testing.T) {
	huge := "id: 9\nevent: run\ndata: " + strings.Repeat("x", sseMaxEvent+1) + "\n\ndata: after\n\n"
	got := parseSSE(t, [][]string{pieces(huge, 64<<10)})[0]
	if len(got.Events) != 1 || got.Events[0] != (sseMessage{"9", "message", "after"}) {
		t.Errorf("events %.200v, want only the one after the event too long", got.Events)
	}
	if got.Dropped != 1 || !slices.Equal(got.Drops, []int{0}) {
		t.Errorf("dropped %d (told before events %v), want 1, told before the event after it", got.Dropped, got.Drops)
	}
	if got.Peak > sseMaxEvent {
		t.Errorf("the parser held %d characters, more than SSE_MAX_EVENT (%d)", got.Peak, sseMaxEvent)
	}
	if got.Scanned > len(huge) {
		t.Errorf("the parser looked at %d characters of a %d-character stream", got.Scanned, len(huge))
	}

	// The same with a bound of 64 characters, for the ways past it.
	const max = 64
	x := func(n int) string { return strings.Repeat("x", n) }
	ok := sseMessage{"", "message", "ok"}
	cases := []struct {
		name    string
		chunks  []string
		events  []sseMessage
		dropped int
	}{
		{"a line too long in one piece", []string{"data: " + x(100) + "\n\ndata: ok\n\n"}, []sseMessage{ok}, 1},
		{"a line too long in pieces, CRLF cut", append(pieces("data: "+x(100), 7), "\r", "\n\r", "\ndata: ok\r\n\r\n"), []sseMessage{ok}, 1},
		{"many lines too long together", []string{strings.Repeat("data: 0123456789\n", 10) + "\n", "data: ok\n\n"}, []sseMessage{ok}, 1},
		{"the event type too long", []string{"event: " + x(100) + "\ndata: a\n\ndata: ok\n\n"}, []sseMessage{ok}, 1},
		{"within the bound, kept", pieces("data: "+x(50)+"\n\n", 5), []sseMessage{{"", "message", x(50)}}, 0},
		{"a comment too long is skipped, the event kept", append(pieces(":"+x(200), 9), "\ndata: ok\n\n"), []sseMessage{ok}, 0},
		{"two dropped", []string{"data: " + x(70) + "\n\n", "data: ok\n\n", "data: " + x(65) + "\ndata: y\n\n"}, []sseMessage{ok}, 2},
		{"cut off while dropping", []string{"data: ok\n\ndata: " + x(100)}, []sseMessage{ok}, 0},
	}
	var in [][]string
	for _, c := range cases {
		in = append(in, c.chunks)
	}
	out := parseSSEMax(t, in, max)
	for i, c := range cases {
		got := out[i]
		if !slices.Equal(got.Events, c.events) {
			t.Errorf("%s: events %+v, want %+v", c.name, got.Events, c.events)
		}
		if got.Dropped != c.dropped {
			t.Errorf("%s: dropped %d, want %d", c.name, got.Dropped, c.dropped)
		}
		if got.Peak > max {
			t.Errorf("%s: held %d characters, more than %d", c.name, got.Peak, max)
		}
	}
}

// TestSSEParserRetryBounded: the retry field is held to 1 s .. 5 min.
// Before, it was taken as sent: a server (or anything in between) asking
// for 1 ms had every open page reconnect in a storm, and a delay past
// 2^31 ms made the browser's timer fire at once.
func TestSSEParserRetryBounded(t *testing.T) {
	cases := []struct {
		field string
		want  int
	}{
		{"retry: 1\n", 1000},
		{"retry: 0\n", 1000},
		{"retry: 2500\n", 2500},
		{"retry: 300000\n", 300000},
		{"retry: 300001\n", 300000},
		{"retry: 2147483648\n", 300000},
		{"retry: 99999999999999999999999\n", 300000},
		{"retry: 5s\n", 0},
		{"retry: -5\n", 0},
	}
	var in [][]string
	for _, c := range cases {
		in = append(in, []string{c.field})
	}
	out := parseSSE(t, in)
	for i, c := range cases {
		if out[i].Retry != float64(c.want) {
			t.Errorf("%q: retry %v, want %d", c.field, out[i].Retry, c.want)
		}
	}
}

// fetchHarness runs src/api.ts's stream and followOrPoll in node against
// a stand-in fetch (and window's timers): stream's text for the bytes
// given, and the delay followOrPoll waits before trying the stream again
// after each event stream given.
const fetchHarness = `
import { stream, followOrPoll } from "./api";
declare const process: any;
declare function require(name: string): any;
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const g = globalThis as any;
g.sessionStorage = { getItem: () => null, clear() {} };
function answer(chunks: number[][], type: string): Response {
  const body = new ReadableStream({
    start(c) {
      for (const x of chunks) c.enqueue(new Uint8Array(x));
      c.close();
    },
  });
  return new Response(body, { headers: { "Content-Type": type } });
}
async function main() {
  const texts: string[][] = [];
  for (const chunks of input.streams) {
    g.fetch = async () => answer(chunks, "text/plain");
    const got: string[] = [];
    await stream("/v1/runs/r/logs?follow=1", (s) => got.push(s), new AbortController().signal);
    texts.push(got);
  }
  const delays: number[] = [];
  for (const text of input.eventStreams) {
    g.fetch = async () => answer([Array.from(new TextEncoder().encode(text))], "text/event-stream");
    let f: any;
    const delay = await new Promise<number>((resolve) => {
      g.window = { setTimeout: (_f: unknown, ms: number) => (resolve(ms), 1), setInterval: () => 2, clearInterval() {}, dispatchEvent() {} };
      f = followOrPoll({ path: "/v1/runs/r/events?follow=1", lastId: () => "", onEvent() {}, poll() {}, every: 2000 });
    });
    f.stop();
    delays.push(delay);
  }
  process.stdout.write(JSON.stringify({ texts, delays }));
}
main();
`

type fetchResult struct {
	Texts  [][]string
	Delays []int
}

// TestFollowRetryBounded: the page waits 1 s .. 5 min before opening an
// event stream again, whatever retry the stream asked for.
func TestFollowRetryBounded(t *testing.T) {
	streams := []string{"retry: 1\ndata: x\n\n", "retry: 4294967296\n\n", "retry: 7000\n\n", "data: x\n\n"}
	want := []int{1000, 300000, 7000, 2000}
	var out fetchResult
	runHarness(t, fetchHarness, map[string]any{"streams": [][][]int{}, "eventStreams": streams}, &out)
	if !slices.Equal(out.Delays, want) {
		t.Errorf("waited %v ms, want %v", out.Delays, want)
	}
}

// TestStreamFlushesDecoder: the bytes of a character the output ends in
// the middle of are shown (as U+FFFD) when the stream ends. Before, the
// decoder kept them and they were dropped: the page showed less than
// the run wrote, with nothing saying so.
func TestStreamFlushesDecoder(t *testing.T) {
	ints := func(s string) []int {
		var v []int
		for _, b := range []byte(s) {
			v = append(v, int(b))
		}
		return v
	}
	cases := []struct {
		chunks [][]int
		want   string
	}{
		{[][]int{ints("caf\xc3"), ints("\xa9 ok \xe2\x82")}, "café ok \ufffd"},
		{[][]int{ints("loss 0.5\n"), ints("\xf0\x9f")}, "loss 0.5\n\ufffd"},
		{[][]int{ints("whole \xe2\x82\xac")}, "whole €"},
	}
	var streams [][][]int
	for _, c := range cases {
		streams = append(streams, c.chunks)
	}
	var out fetchResult
	runHarness(t, fetchHarness, map[string]any{"streams": streams, "eventStreams": []string{}}, &out)
	for i, c := range cases {
		if got := strings.Join(out.Texts[i], ""); got != c.want {
			t.Errorf("case %d: the page got %q, want %q", i, got, c.want)
		}
	}
}

// planHarness draws src/plan.ts's Pareto chart and src/dom.ts's table
// for n placements on a stand-in document: the chart's texts and how
// many points and rows were drawn.
const planHarness = `
import { paretoChart } from "./plan";
import { table } from "./dom";
declare const process: any;
declare function require(name: string): any;
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
class El {
  attrs: Record<string, string> = {};
  children: any[] = [];
  textContent = "";
  constructor(public tag: string) {}
  setAttribute(k: string, v: string) { this.attrs[k] = v; }
  addEventListener() {}
  append(...cs: any[]) { for (const c of cs) this.children.push(c); }
}
(globalThis as any).document = { createElement: (t: string) => new El(t), createElementNS: (_ns: string, t: string) => new El(t) };
const n: number = input.n;
const placements: any[] = [];
const rows: string[][] = [];
for (let i = 0; i < n; i++) {
  const k = (i * 7919) % n; // the extremes neither first nor last
  placements.push({ rank: i + 1, site: "s" + k, country: "SG", accelerator: "H100", count: 8, hours: 1 + k, costUSD: 1000 + k, pareto: k === 0, lawfulUntil: null, obligations: null, advisories: null, runnable: true });
  rows.push(["s" + k]);
}
const t0 = process.hrtime.bigint();
for (let i = 1; i < (input.reps || 1); i++) paretoChart(placements);
const svg = paretoChart(placements) as any as El;
const ns = Number(process.hrtime.bigint() - t0);
const t = table("every placement", ["Site"], rows) as any as El;
const body = t.children.find((c: El) => c.tag === "tbody");
process.stdout.write(JSON.stringify({
  texts: svg.children.filter((c: El) => c.tag === "text").map((c: El) => c.textContent),
  points: svg.children.filter((c: El) => c.tag === "path").length,
  rows: body ? body.children.length : -1,
  ns,
}));
`

// TestPlanManyPlacements: a plan of 200,000 placements (top=0 asks for
// all of them) draws its chart and its table. Before, Math.min(...) and
// Math.max(...) over every placement, and the table's rows passed as the
// arguments of one call, threw RangeError (the stack is too small for
// that many arguments) and the plan page showed nothing.
func TestPlanManyPlacements(t *testing.T) {
	const n = 200000
	var out struct {
		Texts  []string
		Points int
		Rows   int
	}
	runHarness(t, planHarness, map[string]any{"n": n}, &out)
	if out.Points != n || out.Rows != n {
		t.Errorf("%d points and %d rows, want %d of each", out.Points, out.Rows, n)
	}
	all := strings.Join(out.Texts, "\n")
	for _, want := range []string{"time (log): 1.0 h – 8333.3 d", "cost (log): $1,000 – $200,999"} {
		if !strings.Contains(all, want) {
			t.Errorf("the chart's axes read %q, want %q", all, want)
		}
	}
}

// BenchmarkPlanChart measures drawing the Pareto chart of a plan of
// 20,000 placements (on the stand-in document: the cost of the console's
// own code, not of a browser's layout).
func BenchmarkPlanChart(b *testing.B) {
	var out struct{ Ns float64 }
	runHarness(b, planHarness, map[string]any{"n": 20000, "reps": b.N}, &out)
	b.ReportMetric(out.Ns/float64(b.N), "js-ns/op")
}

// BenchmarkSSEParser measures the event stream's parser on events of
// 1 and 4 MiB and on a MiB of small events, in 64 KiB pieces as a stream
// brings them.
func BenchmarkSSEParser(b *testing.B) {
	const mib = 1 << 20
	for _, bc := range []struct {
		name  string
		input string
	}{
		{"1MiB-event", "data: " + strings.Repeat("x", mib) + "\n\n"},
		{"4MiB-event", "data: " + strings.Repeat("x", 4*mib) + "\n\n"},
		{"small-events", strings.Repeat("id: 12345\nevent: run\ndata: {\"state\":\"running\",\"step\":42}\n\n", mib/64)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var chunks []string
			for s := bc.input; len(s) > 0; {
				n := min(len(s), 64<<10)
				chunks = append(chunks, s[:n])
				s = s[n:]
			}
			var out struct{ Ns float64 }
			runHarness(b, sseHarness, map[string]any{"bench": chunks, "reps": b.N}, &out)
			b.ReportMetric(out.Ns/float64(b.N), "js-ns/op")
			b.ReportMetric(float64(len(bc.input))/(out.Ns/float64(b.N))*1e3, "js-MB/s")
		})
	}
}

// dropHarness follows, with src/api.ts's followOrPoll, a stand-in event
// stream holding an event of input.n characters of data, then one of
// "ok", and tells in order what the page was told: each drop, each poll
// and each event.
const dropHarness = `
import { followOrPoll } from "./api";
declare const process: any;
declare function require(name: string): any;
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const g = globalThis as any;
g.sessionStorage = { getItem: () => null, clear() {} };
async function main() {
  const bytes = new TextEncoder().encode("data: " + "x".repeat(input.n) + "\n\ndata: ok\n\n");
  g.fetch = async () =>
    new Response(
      new ReadableStream({
        start(c) {
          for (let i = 0; i < bytes.length; i += 65536) c.enqueue(bytes.slice(i, i + 65536));
          c.close();
        },
      }),
      { headers: { "Content-Type": "text/event-stream" } },
    );
  const told: string[] = [];
  let f: any;
  await new Promise<void>((resolve) => {
    g.window = { setTimeout: () => (resolve(), 1), setInterval: () => 2, clearInterval() {}, dispatchEvent() {} };
    f = followOrPoll({
      path: "/v1/runs/r/events?follow=1",
      lastId: () => "",
      onEvent: (m) => told.push("event " + m.data.slice(0, 8)),
      poll: () => told.push("poll"),
      onDropped: () => told.push("dropped"),
      every: 2000,
    });
  });
  f.stop();
  process.stdout.write(JSON.stringify(told));
}
main();
`

// TestFollowDroppedEventShown: an event past SSE_MAX_EVENT is told to the
// page (which shows a note) and the page polls once, reading what the
// event would have brought; the events after it still come. Before, the
// page held the whole event, however long, and had nothing to tell.
func TestFollowDroppedEventShown(t *testing.T) {
	var told []string
	runHarness(t, dropHarness, map[string]any{"n": sseMaxEvent + 1}, &told)
	want := []string{"dropped", "poll", "event ok"}
	if len(told) < len(want) || !slices.Equal(told[:len(want)], want) {
		t.Errorf("the page was told %.200v, want first %v", told, want)
	}
}
