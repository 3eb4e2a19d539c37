package console

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// headingHarness opens the console at each of input.hashes and tells the
// page's heading (its h2), the window's title and the text of the page's
// main part.
const headingHarness = planPagePrelude + `
const els: Record<string, any> = { main: new El("main"), nav: new El("nav"), who: new El("div") };
g.document.getElementById = (id: string) => els[id] || null;
g.document.title = "";
g.location = { hash: "#/plan" };
const heard: Record<string, any[]> = {};
g.window.addEventListener = (k: string, f: any) => { (heard[k] = heard[k] || []).push(f); };
g.addEventListener = g.window.addEventListener;
g.requestAnimationFrame = () => 1;
require("./main");
async function main() {
  await settle();
  const out = [];
  for (const hash of input.hashes) {
    g.location.hash = hash;
    for (const f of heard.hashchange || []) f(new Event("hashchange"));
    await settle();
    const h2 = find(els.main, (e) => e.tag === "h2")[0];
    out.push({ heading: h2 ? text(h2) : "(none)", title: g.document.title, main: text(els.main) });
  }
  process.stdout.write(JSON.stringify(out));
}
main();
`

// TestHeadingsShowHostileNames: a name from a link that the page puts in
// its heading or the window's title (a run's id in #/runs/ID, a page's
// name in a link to none) is shown as the body shows a name: every
// character the server escapes in one as its marker, a tab and a newline
// too, and at most 128 of its characters, the rest counted. Before, the
// heading and the title held the whole name, a megabyte long if the link
// was, and its newlines and tabs as themselves, so that a crafted link
// wrote text of its choosing as the page's own heading.
func TestHeadingsShowHostileNames(t *testing.T) {
	long := strings.Repeat("A", 5000)
	cases := []struct {
		name, hash      string
		heading, title  string
		mainHas, mainNo string
	}{
		{"a run's id", "#/runs/r-1", "Run r-1", "Run r-1 · Meridian console", "", ""},
		{"a joiner in the id", "#/runs/" + url.PathEscape("ad\u200dmin"), "Run ad[U+200D]min", "Run ad[U+200D]min · Meridian console", "", ""},
		{"an override in the id", "#/runs/" + url.PathEscape("r\u202e1"), "Run r[U+202E]1", "Run r[U+202E]1 · Meridian console", "", ""},
		{"a newline and a tab in the id", "#/runs/" + url.PathEscape("r-1\nCancelled by your admin:\tsign in again"),
			"Run r-1␊Cancelled by your admin:␉sign in again", "Run r-1␊Cancelled by your admin:␉sign in again · Meridian console", "", ""},
		{"a long id", "#/runs/" + long, "Run " + long[:128] + "… (4872 more characters)", "Run " + long[:128] + "… (4872 more characters) · Meridian console", "", ""},
		{"a long id of pairs", "#/runs/" + url.PathEscape(strings.Repeat("\U0001f600", 300)),
			"Run " + strings.Repeat("\U0001f600", 128) + "… (172 more characters)", "Run " + strings.Repeat("\U0001f600", 128) + "… (172 more characters) · Meridian console", "", ""},
		{"a long page name", "#/" + long, "Not found", "Not found · Meridian console", "No page " + long[:128] + "… (4872 more characters).", long[:129]},
		{"a long run that is no text", "#/runs/%ZZ" + long, "Not found", "Not found · Meridian console", "No run %ZZ" + long[:125] + "… (4875 more characters).", long[:126]},
	}
	var hashes []string
	for _, c := range cases {
		hashes = append(hashes, c.hash)
	}
	var out []struct{ Heading, Title, Main string }
	runHarness(t, headingHarness, map[string]any{"hashes": hashes, "routes": map[string]any{}}, &out)
	if len(out) != len(cases) {
		t.Fatalf("%d answers for %d links", len(out), len(cases))
	}
	short := func(s string) string {
		if utf8.RuneCountInString(s) > 100 {
			r := []rune(s)
			return string(r[:40]) + "…" + string(r[len(r)-40:])
		}
		return s
	}
	for i, c := range cases {
		o := out[i]
		if o.Heading != c.heading {
			t.Errorf("%s: the heading reads %+q (%d bytes), want %+q", c.name, short(o.Heading), len(o.Heading), short(c.heading))
		}
		if o.Title != c.title {
			t.Errorf("%s: the title reads %+q (%d bytes), want %+q", c.name, short(o.Title), len(o.Title), short(c.title))
		}
		if c.mainHas != "" && !strings.Contains(o.Main, c.mainHas) {
			t.Errorf("%s: the page reads %+q, want it to hold %+q", c.name, short(o.Main), short(c.mainHas))
		}
		if c.mainNo != "" && strings.Contains(o.Main, c.mainNo) {
			t.Errorf("%s: the page reads %+q (%d bytes), want no more than 128 characters of the name", c.name, short(o.Main), len(o.Main))
		}
	}
}
