package console

import (
	"slices"
	"strings"
	"testing"
)

// retryHarness runs src/api.ts's call and logSize in node against a fetch
// that answers each case's statuses in turn (Retry-After with each 429),
// with a setTimeout that waits for nothing and records what it was asked
// to wait; a case with abort aborts the call during its first wait.
const retryHarness = `
import { call, logSize } from "./api";
declare function require(name: string): any;
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const g = globalThis as any;
g.sessionStorage = { getItem: () => null, setItem: () => undefined, clear: () => undefined };
g.window = { dispatchEvent: () => true };
let waits: number[] = [];
let onWait: () => void = () => undefined;
g.setTimeout = (fn: () => void, ms: number) => { waits.push(ms); onWait(); Promise.resolve().then(fn); return 0; };
g.clearTimeout = () => undefined;
async function run(c: any) {
  waits = [];
  let asked = 0;
  const ctl = new AbortController();
  onWait = () => { if (c.abort) ctl.abort(); };
  g.fetch = async (path: string, init: any) => {
    const a = c.answers[Math.min(asked++, c.answers.length - 1)];
    const hs: Record<string, string> = { "Content-Type": "application/json", "X-Log-Size": "7" };
    if (a.retryAfter !== undefined) hs["Retry-After"] = a.retryAfter;
    const body = a.status === 200 ? JSON.stringify({ ok: true }) : JSON.stringify({ error: { code: "rate_limited", message: "slow down " + asked } });
    return new Response(body, { status: a.status, headers: hs });
  };
  try {
    const v = c.logSize ? await logSize("/v1/runs/r", ctl.signal) : await call(c.method, "/v1/runs", c.method === "GET" ? undefined : {}, ctl.signal);
    return { asked, waits, value: JSON.stringify(v) };
  } catch (e: any) {
    return { asked, waits, status: e.status === undefined ? -1 : e.status, error: e.name === "AbortError" ? "aborted" : e.message };
  }
}
(async () => {
  const out = [];
  for (const c of input) out.push(await run(c));
  process.stdout.write(JSON.stringify(out));
})();
`

type retryAnswer struct {
	Status     int     `json:"status"`
	RetryAfter *string `json:"retryAfter,omitempty"`
}

type retryCase struct {
	Name    string        `json:"name"`
	Method  string        `json:"method"`
	LogSize bool          `json:"logSize"`
	Abort   bool          `json:"abort"`
	Answers []retryAnswer `json:"answers"`
}

type retryResult struct {
	Asked  int
	Waits  []int
	Value  string
	Status int
	Error  string
}

// TestReadRetriesTooMany: a plain read (a GET) answered 429 was shown as
// failed at once, though the server said when to ask again (Retry-After):
// a tenant whose CLI used its rate saw every console page fail. It is now
// asked again after Retry-After, at least 1 s, up to three asks in all;
// then the 429's own message is shown. A Retry-After over 10 s is not
// waited for: the 429 is shown at once (before, the read was asked again
// after 10 s, sooner than the server had said). A write is asked once, an
// answer other than 429 is not asked again, and a read stopped while it
// waits asks no more.
func TestReadRetriesTooMany(t *testing.T) {
	ra := func(s string) *string { return &s }
	cases := []retryCase{
		{Name: "two 429s, then the answer", Method: "GET", Answers: []retryAnswer{{429, ra("2")}, {429, ra("1")}, {200, nil}}},
		{Name: "429 three times", Method: "GET", Answers: []retryAnswer{{429, ra("1")}}},
		{Name: "a wait of an hour", Method: "GET", Answers: []retryAnswer{{429, ra("3600")}, {200, nil}}},
		{Name: "a wait of 11 s", Method: "GET", Answers: []retryAnswer{{429, ra("11")}, {200, nil}}},
		{Name: "a wait of 10 s, and none given", Method: "GET", Answers: []retryAnswer{{429, ra("10")}, {429, nil}, {200, nil}}},
		{Name: "a Retry-After of 0 and of words", Method: "GET", Answers: []retryAnswer{{429, ra("0")}, {429, ra("soon")}, {200, nil}}},
		{Name: "a write", Method: "POST", Answers: []retryAnswer{{429, ra("1")}, {200, nil}}},
		{Name: "503", Method: "GET", Answers: []retryAnswer{{503, ra("1")}, {200, nil}}},
		{Name: "a log's size", LogSize: true, Answers: []retryAnswer{{429, ra("1")}, {200, nil}}},
		{Name: "stopped while it waits", Method: "GET", Abort: true, Answers: []retryAnswer{{429, ra("1")}, {200, nil}}},
	}
	var got []retryResult
	runHarness(t, retryHarness, cases, &got)
	want := []struct {
		asked int
		waits []int
		value string
		error string
	}{
		{3, []int{2000, 1000}, `{"ok":true}`, ""},
		{3, []int{1000, 1000}, "", "slow down 3"},
		{1, nil, "", "slow down 1"},
		{1, nil, "", "slow down 1"},
		{3, []int{10000, 1000}, `{"ok":true}`, ""},
		{3, []int{1000, 1000}, `{"ok":true}`, ""},
		{1, nil, "", "slow down 1"},
		{1, nil, "", "slow down 1"},
		{2, []int{1000}, "7", ""},
		{1, []int{1000}, "", "aborted"},
	}
	if len(got) != len(cases) {
		t.Fatalf("%d results for %d cases", len(got), len(cases))
	}
	for i, c := range cases {
		g, w := got[i], want[i]
		if g.Asked != w.asked || !slices.Equal(g.Waits, w.waits) || g.Value != w.value || !strings.Contains(g.Error, w.error) || (w.error == "") != (g.Error == "") {
			t.Errorf("%s: asked %d, waited %v, value %q, error %q; want %d, %v, %q, %q", c.Name, g.Asked, g.Waits, g.Value, g.Error, w.asked, w.waits, w.value, w.error)
		}
	}
}

// TestRetryWaitDate: a Retry-After given as an HTTP date waits until it,
// held to the same bounds; one in the past waits the least, and one more
// than 10 s away is not waited for (null).
func TestRetryWaitDate(t *testing.T) {
	const harness = `
import { retryWait } from "./api";
declare function require(name: string): any;
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const now = Date.parse("2026-10-21T07:28:00Z");
process.stdout.write(JSON.stringify(input.map((v: string) => retryWait(v, now))));
`
	in := []string{"Wed, 21 Oct 2026 07:28:04 GMT", "Wed, 21 Oct 2026 08:28:00 GMT", "Wed, 21 Oct 2026 07:00:00 GMT", " 7 "}
	var got []*int
	runHarness(t, harness, in, &got)
	shown := make([]int, len(got)) // -1 for null
	for i, g := range got {
		shown[i] = -1
		if g != nil {
			shown[i] = *g
		}
	}
	if want := []int{4000, -1, 1000, 7000}; !slices.Equal(shown, want) {
		t.Errorf("retryWait(%q) = %v; want %v (-1: null)", in, shown, want)
	}
}
