package console

import (
	"strings"
	"testing"
)

// auditLinkHarness opens the audit page with each of input.runs as the
// link's run (#/audit?run=ID) and tells what the run filter holds, the
// audit requests the page made and the errors it shows.
const auditLinkHarness = pagePrelude + `
import { auditPage } from "./audit";
// An input's value attribute is its value, as in a browser.
const proto = El.prototype as any;
const set = proto.setAttribute;
proto.setAttribute = function (k: string, v: string) {
  set.call(this, k, v);
  if (k === "value") this.value = String(v);
};
async function main() {
  const out = [];
  for (const run of input.runs) {
    requests.length = 0;
    const page = new El("main");
    const stop = auditPage(page as any, new URLSearchParams({ run }));
    await settle();
    stop();
    const runIn = find(page, (e) => e.attrs.id === "audit-run")[0];
    out.push({
      filter: runIn.value,
      asked: requests.filter((r) => r.startsWith("/v1/audit?")),
      errors: find(page, (e) => e.attrs.role === "alert").map(text),
    });
  }
  process.stdout.write(JSON.stringify(out));
}
main();
`

// TestAuditLinkRunShownAsItIs: a link's run (#/audit?run=ID) fills the
// audit page's run filter only when the field shows it as it is; one
// holding a character the console marks (an override, a joiner between
// letters, a newline), or longer than a name is shown, is not used, and
// the page says why. Before, the filter took it as it came: the input
// drew "\u202eabc" as "cba", and the page listed the entries of a run
// other than the one the operator read in the filter (none), so that a
// crafted link could make a run's entries look absent.
func TestAuditLinkRunShownAsItIs(t *testing.T) {
	entries := map[string]any{"json": map[string]any{"entries": []any{}}}
	routes := map[string]any{"/v1/audit": entries}
	long := strings.Repeat("r", 129)
	runs := []string{"r-1", "\u202eabc", "ad\u200dmin", "r-1\nr-2", long}
	var out []struct {
		Filter string
		Asked  []string
		Errors []string
	}
	runHarness(t, auditLinkHarness, map[string]any{"routes": routes, "runs": runs}, &out)
	if len(out) != len(runs) {
		t.Fatalf("%d answers for %d links", len(out), len(runs))
	}
	if o := out[0]; o.Filter != "r-1" || len(o.Asked) != 1 || !strings.HasSuffix(o.Asked[0], "&run=r-1") || len(o.Errors) != 0 {
		t.Errorf("run=r-1: the filter holds %q, the page asked %q, errors %q; want r-1, its entries asked, no error", o.Filter, o.Asked, o.Errors)
	}
	wants := []string{
		`the link's run "[U+202E]abc" holds a character that does not show as itself (marked here): the run filter is left empty`,
		`the link's run "ad[U+200D]min" holds a character that does not show as itself (marked here): the run filter is left empty`,
		`the link's run "r-1␊r-2" holds a character that does not show as itself (marked here): the run filter is left empty`,
		`the link's run is 129 characters long, more than the 128 a run filter shows: the run filter is left empty`,
	}
	for i, want := range wants {
		o := out[i+1]
		if o.Filter != "" {
			t.Errorf("run=%+q: the filter holds %+q, want it empty", runs[i+1], o.Filter)
		}
		for _, a := range o.Asked {
			if strings.Contains(a, "run=") {
				t.Errorf("run=%+q: the page asked %q, want no run filter", runs[i+1], a)
			}
		}
		if len(o.Errors) != 1 || o.Errors[0] != want {
			t.Errorf("run=%+q: the page's errors %+q, want %+q", runs[i+1], o.Errors, want)
		}
	}
}
