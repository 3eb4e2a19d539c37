package console

import "testing"

// skipHarness opens the console at input.hash, then follows the page's
// skip link (the hash becomes #main and the page hears hashchange), and
// tells the page's heading before and after, and the title.
const skipHarness = planPagePrelude + `
const els: Record<string, any> = { main: new El("main"), nav: new El("nav"), who: new El("div") };
g.document.getElementById = (id: string) => els[id] || null;
g.document.title = "";
g.location = { hash: input.hash };
const heard: Record<string, any[]> = {};
g.window.addEventListener = (k: string, f: any) => { (heard[k] = heard[k] || []).push(f); };
g.addEventListener = g.window.addEventListener;
g.requestAnimationFrame = () => 1;
function heading(): string {
  const h = find(els.main, (e) => e.tag === "h2")[0];
  return h ? text(h) : "(none)";
}
require("./main");
async function main() {
  await settle();
  const before = heading();
  g.location.hash = "#main";
  for (const f of heard.hashchange || []) f(new Event("hashchange"));
  await settle();
  process.stdout.write(JSON.stringify({ before, after: heading(), title: g.document.title }));
}
main();
`

// TestSkipLinkKeepsThePage: the page's skip link (href="#main") moves to
// the content and leaves the page shown as it is. Before, the console took
// its hash for a page named "main": whoever followed it from the keyboard
// had the page they were reading stopped and replaced by "Not found", and
// a console opened at #main read "Not found" too.
func TestSkipLinkKeepsThePage(t *testing.T) {
	for _, c := range []struct{ hash, before, after string }{
		{"#/audit", "Audit", "Audit"},
		{"#main", "Plan", "Plan"},
	} {
		var out struct{ Before, After, Title string }
		runHarness(t, skipHarness, map[string]any{"hash": c.hash, "routes": map[string]any{}}, &out)
		if out.Before != c.before || out.After != c.after {
			t.Errorf("opened at %s: the page read %q, then %q after the skip link (title %q); want %q, then %q", c.hash, out.Before, out.After, out.Title, c.before, c.after)
		}
	}
}
