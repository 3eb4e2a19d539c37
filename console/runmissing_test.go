package console

import (
	"strings"
	"testing"
)

// runMissingHarness opens a run's page (run "r") with timers the harness
// fires itself, fires them input.rounds times, and tells how many
// requests the page made for the run and the errors it shows.
const runMissingHarness = pagePrelude + `
import { runPage } from "./runs";
const timers = new Map<number, () => void>();
let tid = 10;
g.window.setInterval = (f: () => void) => { timers.set(++tid, f); return tid; };
g.window.clearInterval = (id: number) => { timers.delete(id); };
g.window.setTimeout = (f: () => void) => { const id = ++tid; timers.set(id, () => { timers.delete(id); f(); }); return id; };
g.window.clearTimeout = (id: number) => { timers.delete(id); };
async function main() {
  const page = new El("main");
  const stop = runPage(page as any, new URLSearchParams(), "r");
  await settle();
  for (let i = 0; i < input.rounds; i++) {
    for (const f of [...timers.values()]) f();
    await settle();
  }
  const asked = requests.filter((r) => r.startsWith("/v1/runs/r")).length;
  const left = timers.size;
  stop();
  process.stdout.write(JSON.stringify({ asked, timers: left, errors: find(page, (e) => e.attrs.class === "error").map(text) }));
}
main();
`

// TestRunPageStopsAskingForAMissingRun: a run's page whose run the
// server does not have for this tenant (404: none of that name, or
// another tenant's) says so and stops asking. Before, it asked for the
// run again every 2 seconds, and for its event stream, for as long as
// the page stayed open: a link to a run that is not the tenant's had the
// page ask the server without end.
func TestRunPageStopsAskingForAMissingRun(t *testing.T) {
	routes := map[string]any{"/v1/catalog/sites": map[string]any{"json": map[string]any{"sites": []any{}}}}
	var out struct {
		Asked  int
		Timers int
		Errors []string
	}
	runHarness(t, runMissingHarness, map[string]any{"routes": routes, "rounds": 20}, &out)
	if out.Asked > 3 || out.Timers != 0 {
		t.Errorf("the page asked for the run %d times in 20 rounds of its timers and keeps %d timers, want at most 3 and none", out.Asked, out.Timers)
	}
	want := "The server has no run r for this tenant (404: no route /v1/runs/r): the page stopped asking for it."
	found := false
	for _, e := range out.Errors {
		found = found || strings.Contains(e, want)
	}
	if !found {
		t.Errorf("the page's errors %q, want one that says %q", out.Errors, want)
	}
}
