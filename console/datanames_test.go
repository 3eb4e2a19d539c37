package console

import (
	"fmt"
	"strings"
	"testing"
)

// dataNamesHarness opens the data page and tells the text of every
// tooltip (an SVG title) on it and the label of every button.
const dataNamesHarness = pagePrelude + `
import { dataPage } from "./data";
async function main() {
  const page = new El("main");
  dataPage(page as any);
  await settle();
  process.stdout.write(JSON.stringify({
    titles: find(page, (e) => e.tag === "title").map(text),
    labels: find(page, (e) => e.tag === "button" && "aria-label" in e.attrs).map((e) => e.attrs["aria-label"]),
    errors: find(page, (e) => e.attrs.class === "error").map(text),
  }));
}
main();
`

// TestDatasetNamesInLabelsBounded: a dataset's name, and the basis, that
// a ledger record names are the tooltip of its transfer on the data
// page's map, and a staged copy's dataset the label of its Verify
// button, bounded and marked as a heading shows a name (nameShown).
// Before, each held them whole, newlines and all.
func TestDatasetNamesInLabelsBounded(t *testing.T) {
	ds := "d1\nVerified by your admin" + strings.Repeat("q", 3000)
	shownDS := "d1␊Verified by your admin" + strings.Repeat("q", 128-25) + fmt.Sprintf("… (%d more characters)", len(ds)-128)
	basis := "adequacy\n" + strings.Repeat("b", 500)
	shownBasis := "adequacy␊" + strings.Repeat("b", 128-9) + fmt.Sprintf("… (%d more characters)", len(basis)-128)
	routes := dataRoutes(2, 1)
	ledger := routes["/v1/ledger"].(map[string]any)["json"].(map[string]any)
	e := ledger["entries"].([]any)[0].(map[string]any)
	e["dataset"] = ds
	e["basis"] = basis
	ledger["totals"] = []any{map[string]any{"kind": "dataset", "dataset": ds, "site": "s0"}}
	var out struct{ Titles, Labels, Errors []string }
	runHarness(t, dataNamesHarness, map[string]any{"routes": routes}, &out)
	wantTitle := shownDS + ": C1 → s0 (C0), basis " + shownBasis + ", 2026-01-02"
	if len(out.Titles) != 1 || out.Titles[0] != wantTitle {
		t.Errorf("the map's tooltips: %q (errors %q), want %q", out.Titles, out.Errors, wantTitle)
	}
	wantLabel := "Verify " + shownDS + " at s0"
	if len(out.Labels) != 1 || out.Labels[0] != wantLabel {
		t.Errorf("the buttons' labels: %q (errors %q), want %q", out.Labels, out.Errors, wantLabel)
	}
}
