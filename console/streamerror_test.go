package console

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// errorEvent is a stream's last event when the server ends it on an
// error: the error as an answer carries it.
func errorEvent(code, message string) string {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": code, "message": message}})
	return fmt.Sprintf("event: error\ndata: %s\n\n", b)
}

// hostileMessage is a server's error message that holds markup and a
// bidirectional override: the page shows it as text, the override marked.
const hostileMessage = "<img src=x onerror=alert(1)>store refused \u202eevil"

// TestStreamErrorShown: the runs list and a run's page show the error a
// stream ended on (its "error" event), as text, and say whether the stream
// is opened again. Before, the event was ignored: the page saw the stream
// end, opened it again, and said nothing.
func TestStreamErrorShown(t *testing.T) {
	l, _ := json.Marshal(map[string]any{"runs": []any{listRun(1, "running")}})
	pieces := []string{fmt.Sprintf("event: runs\ndata: %s\n\n", l), errorEvent("too_many", hostileMessage)}
	var list runsListOut
	runHarness(t, runsListHarness, map[string]any{"routes": runsListRoutes(pieces)}, &list)
	if len(list.Errors) != 1 || list.Markup != 0 {
		t.Fatalf("the runs list shows errors %q (markup set %d times), want the stream's error, as text", list.Errors, list.Markup)
	}
	e := list.Errors[0]
	for _, want := range []string{"The runs list's stream ended on an error from the server: <img src=x onerror=alert(1)>store refused ", "(too_many)", "is not opened again"} {
		if !strings.Contains(e, want) {
			t.Errorf("the runs list's error %q does not hold %q", e, want)
		}
	}
	if strings.Contains(e, "\u202e") {
		t.Errorf("the runs list's error %q holds the override unmarked", e)
	}

	routes := runRoutes(2)
	ev := routes["/v1/runs/r/events?follow=1"].(map[string]any)
	sse := ev["sse"].([]string)
	ev["sse"] = append(sse[:len(sse)-1], errorEvent("internal", "the server could not answer (fault f-1)"))
	var run runPageOut
	runHarness(t, runPageHarness, map[string]any{"routes": routes}, &run)
	want := "The run's stream ended on an error from the server: the server could not answer (fault f-1) (internal). The page reads the run every 2 seconds; the stream is opened again in 2 s."
	if !slices.Contains(run.Errors, want) || run.Markup != 0 {
		t.Errorf("the run's page shows errors %q (markup set %d times), want %q", run.Errors, run.Markup, want)
	}
}

// followErrorHarness follows a stream that ends on input.stream each time
// it is opened, and tells the delays before each reopening (up to
// input.n), how often it was opened, whether the page polls, and what the
// page was told of the errors.
const followErrorHarness = `
import { followOrPoll } from "./api";
declare const process: any;
declare function require(name: string): any;
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const g = globalThis as any;
g.sessionStorage = { getItem: () => null, clear() {} };
async function main() {
  const delays: number[] = [];
  const failed: any[] = [];
  let opens = 0;
  let polling = false;
  g.fetch = async () => {
    opens++;
    return new Response(input.stream, { headers: { "Content-Type": "text/event-stream" } });
  };
  await new Promise<void>((resolve) => {
    g.window = {
      setTimeout: (f: () => void, ms: number) => {
        delays.push(ms);
        if (delays.length >= input.n) resolve();
        else setImmediate(f);
        return 1;
      },
      setInterval: () => ((polling = true), 2),
      clearInterval() {},
      dispatchEvent() {},
    };
    followOrPoll({ path: "/v1/runs?follow=1", lastId: () => "", onEvent() {}, poll() {}, every: 2000, onFailed: (e) => failed.push({ code: e.code, again: e.again, wait: e.wait }) });
    setTimeout(resolve, 500);
  });
  process.stdout.write(JSON.stringify({ delays, opens, polling, failed }));
}
main();
`

type followErrorOut struct {
	Delays  []int
	Opens   int
	Polling bool
	Failed  []struct {
		Code  string
		Again bool
		Wait  int
	}
}

// TestFollowErrorBacksOff: a stream that keeps ending on a passing error
// (a fault of the server's) is opened again after the retry time, then
// twice as long each time, up to 30 s; one that ends on another error
// (too_many: the store refuses the read, and would again) is not opened
// again, and the page polls. Before, the stream was opened again every
// retry time (2 s) however often it failed.
func TestFollowErrorBacksOff(t *testing.T) {
	var out followErrorOut
	runHarness(t, followErrorHarness, map[string]any{"stream": ": hi\n\n" + errorEvent("internal", "fault f-1"), "n": 7}, &out)
	want := []int{2000, 4000, 8000, 16000, 30000, 30000, 30000}
	if !slices.Equal(out.Delays, want) {
		t.Errorf("after a stream's error the page waited %v ms, want %v", out.Delays, want)
	}
	if len(out.Failed) != 7 || out.Failed[0].Code != "internal" || !out.Failed[0].Again || out.Failed[1].Wait != 4000 {
		t.Errorf("the page was told %+v, want each internal error, to be tried again after its wait", out.Failed)
	}

	out = followErrorOut{}
	runHarness(t, followErrorHarness, map[string]any{"stream": errorEvent("too_many", "runs: more than 100000"), "n": 1}, &out)
	if out.Opens != 1 || len(out.Delays) != 0 || !out.Polling {
		t.Errorf("after a too_many error the stream was opened %d times (waits %v), polling %v; want once, no reopening, polling", out.Opens, out.Delays, out.Polling)
	}
	if len(out.Failed) != 1 || out.Failed[0].Code != "too_many" || out.Failed[0].Again {
		t.Errorf("the page was told %+v, want the too_many error, not tried again", out.Failed)
	}
}
