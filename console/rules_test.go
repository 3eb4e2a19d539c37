package console

import (
	"slices"
	"strings"
	"testing"
)

// rulesHarness builds src/rules.ts's row of each revision on a stand-in
// document and answers, for each, its cells' text, the row's class, and
// whether anything was set as markup (innerHTML and its kin).
const rulesHarness = `
import { revisionRow } from "./rules";
declare const process: any;
declare function require(name: string): any;
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
let markup = 0;
class El {
  attrs: Record<string, string> = {};
  children: any[] = [];
  textContent = "";
  constructor(public tag: string) {}
  setAttribute(k: string, v: string) { this.attrs[k] = v; }
  addEventListener() {}
  append(...cs: any[]) { for (const c of cs) this.children.push(c); }
  set innerHTML(_v: string) { markup++; }
  set outerHTML(_v: string) { markup++; }
  insertAdjacentHTML() { markup++; }
}
(globalThis as any).document = { createElement: (t: string) => new El(t), createElementNS: (_ns: string, t: string) => new El(t) };
function text(n: any): string {
  if (typeof n === "string") return n;
  return n.textContent + n.children.map(text).join("");
}
const out = input.revisions.map((v: any) => {
  const row = revisionRow(v, new El("pre") as any) as any as El;
  return { cells: row.children.map(text), class: row.attrs["class"] || "" };
});
process.stdout.write(JSON.stringify({ rows: out, markup }));
`

// TestRevisionsShowUnwitnessed: a revision the server's audit log does not
// vouch for (GET /v1/rules/revisions answers "witnessed": false and why)
// is marked in words, with the why, in its row. Before, the page showed
// such a row as it showed any other: a revision written into the database
// by hand, never law, or one whose author and reason were rewritten, read
// as a revision an administrator applied. An answer that does not say
// witnessed (a "witnessed" that is not true) is marked too; markers
// replace the controls in the why.
func TestRevisionsShowUnwitnessed(t *testing.T) {
	revs := []map[string]any{
		{"revision": 1, "time": "2026-01-01T00:00:00Z", "by": "admin", "reason": "first", "files": []string{"a.yaml"}, "witnessed": true},
		{"revision": 2, "time": "2026-01-02T00:00:00Z", "by": "admin", "reason": "looks fine", "files": []string{"b.yaml"}, "witnessed": false,
			"unwitnessed": "no sealed audit record of it: written outside Meridian, never loaded\u202e"},
		{"revision": 3, "time": "2026-01-03T00:00:00Z", "by": "admin", "reason": "r", "files": []string{}},
		{"revision": 4, "time": "2026-01-04T00:00:00Z", "by": "admin", "reason": "r", "files": []string{}, "witnessed": "yes"},
		{"revision": 5, "time": "2026-01-05T00:00:00Z", "by": "admin", "reason": "r", "files": []string{}, "witnessed": false},
	}
	var out struct {
		Rows []struct {
			Cells []string
			Class string
		}
		Markup int
	}
	runHarness(t, rulesHarness, map[string]any{"revisions": revs}, &out)
	if len(out.Rows) != len(revs) {
		t.Fatalf("%d rows for %d revisions", len(out.Rows), len(revs))
	}
	if out.Markup != 0 {
		t.Errorf("%d values set as markup", out.Markup)
	}
	row := func(i int) string { return strings.Join(out.Rows[i].Cells, " | ") }
	want := []struct {
		marked bool
		has    string
	}{
		{false, "witnessed"},
		{true, "NOT WITNESSED (no sealed audit record of it: written outside Meridian, never loaded[U+202E])"},
		{false, "not checked"},
		{true, "NOT WITNESSED"},
		{true, "NOT WITNESSED (the server gave no reason)"},
	}
	for i, w := range want {
		r := row(i)
		if !strings.Contains(r, w.has) {
			t.Errorf("revision %d: row %q, want it to say %q", i+1, r, w.has)
		}
		if got := strings.Contains(r, "NOT WITNESSED"); got != w.marked {
			t.Errorf("revision %d: row %q marked not witnessed: %v, want %v", i+1, r, got, w.marked)
		}
		if got := out.Rows[i].Class == "unwitnessed"; got != w.marked {
			t.Errorf("revision %d: row's class %q", i+1, out.Rows[i].Class)
		}
	}
	if r := row(1); !strings.Contains(r, "looks fine") || !strings.Contains(r, "b.yaml") {
		t.Errorf("revision 2's row %q lost its reason or files", r)
	}
}

// TestRevisionsFieldsChecked: a page of rules revisions whose revisions
// are not objects with a number, or whose cursor is not text, is an
// error that names the field. Before, a revision that was null showed
// the script's own error, and a cursor that was an object was asked
// for as "[object Object]".
func TestRevisionsFieldsChecked(t *testing.T) {
	rev := map[string]any{"revision": 1, "time": "2026-01-01T00:00:00Z", "by": "admin", "reason": "first", "files": []string{"a.yaml"}}
	for _, c := range []struct {
		name   string
		answer map[string]any
		want   string
	}{
		{"null revision", map[string]any{"revisions": []any{rev, nil}}, "revisions[1] is missing, not an object"},
		{"revision not a number", map[string]any{"revisions": []any{map[string]any{"revision": "2"}}}, "revisions[0].revision is text, not a number"},
		{"revisions not a list", map[string]any{"revisions": "all"}, "revisions is text, not a list"},
		{"cursor not text", map[string]any{"revisions": []any{rev}, "cursor": map[string]any{"after": 1}}, "cursor is an object, not text"},
	} {
		var out fieldsOut
		runHarness(t, fieldsHarness, map[string]any{"page": "rules", "routes": map[string]any{
			"/v1/rules":           map[string]any{"json": map[string]any{"rules": []any{}}},
			"/v1/rules/revisions": map[string]any{"json": c.answer},
		}}, &out)
		if !slices.Equal(out.Errors, []string{c.want}) || out.Thrown != "" {
			t.Errorf("%s: the page's error lines %q (threw %q), want %q", c.name, out.Errors, out.Thrown, c.want)
		}
	}
}
