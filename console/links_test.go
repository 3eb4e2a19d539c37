package console

import (
	"encoding/json"
	"net/url"
	"slices"
	"testing"
)

// planPagePrelude is pagePrelude with what the plan page needs of its
// stand-in elements: listeners that events reach, querySelector by id,
// a select's (empty) selected options, and timers that run at once.
const planPagePrelude = pagePrelude + `
const listeners = new Map<any, Record<string, ((ev: any) => void)[]>>();
const proto = El.prototype as any;
proto.addEventListener = function (k: string, f: (ev: any) => void) {
  const m = listeners.get(this) || {};
  (m[k] = m[k] || []).push(f);
  listeners.set(this, m);
};
proto.dispatchEvent = function (ev: any) {
  for (const f of (listeners.get(this) || {})[ev.type] || []) f(ev);
  return true;
};
proto.querySelector = function (sel: string) {
  return find(this, (e) => (sel[0] === "#" ? e.attrs.id === sel.slice(1) : e.tag === sel))[0] || null;
};
Object.defineProperty(proto, "selectedOptions", { get() { return []; } });
Object.defineProperty(proto, "childElementCount", { get() { return this.children.filter((c: any) => c instanceof El).length; } });
g.window.setTimeout = (f: () => void) => { setImmediate(f); return 1; };
g.window.clearTimeout = () => undefined;
proto.remove = () => undefined;
g.requestAnimationFrame = () => 0;
g.sessionStorage.setItem = () => undefined;
`

// linkHarness opens the plan page once for each of input.runs as the
// link's run (#/plan?run=ID) and tells the paths the browser would ask
// for (each request resolved as a URL, as fetch does) and the errors the
// page shows; and what pathPart makes of each of input.parts.
const linkHarness = planPagePrelude + `
import { planPage } from "./plan";
import { pathPart } from "./api";
async function main() {
  const links = [];
  for (const run of input.runs) {
    requests.length = 0;
    const page = new El("main");
    const stop = planPage(page as any, new URLSearchParams("asOf=2025-01-01&run=" + encodeURIComponent(run)));
    for (let i = 0; i < 5; i++) await settle();
    stop();
    links.push({
      paths: requests.map((r) => new URL(r, "http://console.test/console/").pathname),
      errors: find(page, (e) => e.attrs.class === "error").map(text),
    });
  }
  const parts = input.parts.map((p: unknown) => {
    try {
      return pathPart(p, "the run");
    } catch (e) {
      return "error: " + (e as Error).message;
    }
  });
  process.stdout.write(JSON.stringify({ links, parts }));
}
main();
`

// TestLinkRunStaysInItsPath: the run a plan link names (#/plan?run=ID)
// is one segment of the run's API path, or refused with the reason, and
// nothing is asked for it. Before, its id went into /v1/runs/ID encoded
// but for its dots: #/plan?run=.. made the page ask GET /v1/runs/..,
// which the browser resolves to GET /v1/, and run=. asked for /v1/runs/,
// the tenant's runs list; now neither is asked, the page says why, and
// an id with slashes stays within the run's path.
func TestLinkRunStaysInItsPath(t *testing.T) {
	plan := map[string]any{"job": "j", "asOf": "2025-01-01", "placements": []any{}, "rejected": []any{}, "summary": map[string]any{"candidates": 0, "placements": 0}}
	run := map[string]any{"id": "x", "job": "j", "state": "running", "documents": []any{map[string]any{"name": "job.yaml", "content": "kind: TrainingJob"}}}
	runs := []string{"..", ".", "a/b", "../../healthz", "%2e%2e", "ok-1"}
	routes := map[string]any{
		"/v1/plans":         map[string]any{"json": plan},
		"/v1/catalog/sites": map[string]any{"json": map[string]any{"sites": []any{}}},
		"/v1/rules":         map[string]any{"json": map[string]any{"rules": []any{}}},
		"/v1/runs":          map[string]any{"json": map[string]any{"runs": []any{}}},
	}
	for _, id := range runs {
		routes["/v1/runs/"+url.PathEscape(id)] = map[string]any{"json": run}
	}
	// A lone surrogate, which encodeURIComponent cannot encode.
	parts := []json.RawMessage{json.RawMessage(`""`), json.RawMessage(`"\ud800"`), json.RawMessage(`5`), json.RawMessage(`"a/b?c#d"`), json.RawMessage(`"..."`)}
	var out struct {
		Links []struct {
			Paths  []string
			Errors []string
		}
		Parts []string
	}
	runHarness(t, linkHarness, map[string]any{"routes": routes, "runs": runs, "parts": parts}, &out)
	if len(out.Links) != len(runs) {
		t.Fatalf("the harness opened %d links of %d", len(out.Links), len(runs))
	}
	for i, id := range runs {
		l := out.Links[i]
		var asked []string
		for _, p := range l.Paths {
			switch p {
			case "/v1/catalog/sites", "/v1/rules", "/v1/runs", "/v1/plans":
			default:
				asked = append(asked, p)
			}
		}
		refused := id == "." || id == ".."
		if refused {
			if len(asked) != 0 {
				t.Errorf("run=%s: the page asked for %q, want nothing for the run", id, asked)
			}
			want := `the link's run "` + id + `" names nothing the console can ask for: a name cannot be empty, "." or ".."`
			if !slices.Contains(l.Errors, want) {
				t.Errorf("run=%s: the page's errors %q, want %q", id, l.Errors, want)
			}
			continue
		}
		// What the browser asks, as its URL parser resolves the path.
		want := "/v1/runs/" + url.PathEscape(id)
		if !slices.Equal(asked, []string{want}) || len(l.Errors) != 0 {
			t.Errorf("run=%s: the page asked for %q (errors %q), want only %q", id, asked, l.Errors, want)
		}
	}
	wantParts := []string{
		`error: the run "" names nothing the console can ask for: a name cannot be empty, "." or ".."`,
		`error: the run "\ud800" is not text the console can send (it holds half of a character)`,
		"error: the run is a number, not text",
		"a%2Fb%3Fc%23d",
		"...",
	}
	if !slices.Equal(out.Parts, wantParts) {
		t.Errorf("pathPart:\n%q\nwant\n%q", out.Parts, wantParts)
	}
}
