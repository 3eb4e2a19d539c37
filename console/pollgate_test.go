package console

import (
	"strings"
	"testing"
)

// fakeClock follows pagePrelude: the page's timers (the poll's interval,
// the waits before a stream or a read is asked again) run on a clock of
// its own, and advance(until) moves it on, firing each timer as the
// clock reaches it; ticks counts the interval's ticks.
const fakeClock = `
type Timer = { at: number; every: number; f: () => void };
const timers = new Map<number, Timer>();
let now = 0;
let tid = 100;
let ticks = 0;
const add = (f: () => void, ms: number, every: boolean) => {
  const wait = Math.max(0, Number(ms) || 0);
  timers.set(++tid, { at: now + wait, every: every ? Math.max(1, wait) : 0, f });
  return tid;
};
const drop = (id: number) => { timers.delete(id); };
g.window.setInterval = (f: () => void, ms: number) => add(f, ms, true);
g.window.setTimeout = (f: () => void, ms: number) => add(f, ms, false);
g.window.clearInterval = drop;
g.window.clearTimeout = drop;
g.setTimeout = g.window.setTimeout;
g.clearTimeout = drop;
async function advance(until: number): Promise<void> {
  for (;;) {
    let id = 0;
    let t: Timer | null = null;
    for (const [k, v] of timers) if (v.at <= until && (!t || v.at < t.at)) { id = k; t = v; }
    if (!t) break;
    now = t.at;
    if (t.every) { t.at += t.every; ticks++; } else timers.delete(id);
    t.f();
    await settle();
  }
  now = until;
}
`

// pollGateHarness opens input.page ("run": run "r"'s page; "runs": the
// runs list) on a clock of its own (fakeClock), and moves it on 10 s. It
// tells how many times the poll's read (input.polled) was fetched, how
// many ticks the poll's interval made, and the errors the page shows.
const pollGateHarness = pagePrelude + fakeClock + `
import { runPage, runsPage } from "./runs";
async function main() {
  const page = new El("main");
  const stop = input.page === "run" ? runPage(page as any, new URLSearchParams(), "r") : runsPage(page as any);
  await settle();
  await advance(10000);
  const asked = requests.filter((r) => r === input.polled).length;
  const errors = find(page, (e) => e.attrs.class === "error").map(text);
  stop();
  process.stdout.write(JSON.stringify({ asked, ticks, errors }));
}
main();
`

// TestPollOneReadAtATime: a page that polls (a run's, every 2 s, and the
// runs list, every 5 s, while they have no stream) asks the server at most
// once a tick, however it answers. Before, each tick started a poll
// whether or not the last had ended, and a poll's read answered 429 was
// asked twice more, a second or more apart: while the tenant's rate was
// spent the run's page asked about three times as often as it polls, and
// the more the server refused, the more it was asked; a server that did
// not answer had a read started every tick, each still waiting. Now a
// tick while the last poll is under way starts none, and the poll's reads
// are asked once, their 429 shown until the next tick.
func TestPollOneReadAtATime(t *testing.T) {
	refused := map[string]any{
		"status":  429,
		"headers": map[string]string{"Retry-After": "1"},
		"json":    map[string]any{"error": map[string]any{"code": "rate_limited", "message": "tenant t is over its rate limit"}},
	}
	hang := map[string]any{"hang": true}
	sites := map[string]any{"json": map[string]any{"sites": []any{}}}
	for _, c := range []struct {
		name, page, polled string
		answer             map[string]any
		refused            bool
	}{
		{"the run's page, refused", "run", "/v1/runs/r", refused, true},
		{"the run's page, never answered", "run", "/v1/runs/r", hang, false},
		{"the runs list, refused", "runs", "/v1/runs?limit=1000", refused, true},
		{"the runs list, never answered", "runs", "/v1/runs?limit=1000", hang, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			routes := map[string]any{c.polled: c.answer, "/v1/catalog/sites": sites}
			var out struct {
				Asked  int
				Ticks  int
				Errors []string
			}
			runHarness(t, pollGateHarness, map[string]any{"page": c.page, "polled": c.polled, "routes": routes}, &out)
			if out.Ticks < 2 {
				t.Fatalf("the poll ticked %d times in 10 s; the test needs it polling", out.Ticks)
			}
			// The first poll runs when polling starts, then one each tick.
			want := out.Ticks + 1
			if !c.refused {
				want = 1 // the first read never ends: no tick starts another
			}
			if out.Asked != want {
				t.Errorf("%s was fetched %d times in %d ticks; want %d", c.polled, out.Asked, out.Ticks, want)
			}
			shown := strings.Join(out.Errors, "\n")
			if c.refused && !strings.Contains(shown, "over its rate limit") {
				t.Errorf("the page shows %q; want the 429's message", shown)
			}
		})
	}
}
