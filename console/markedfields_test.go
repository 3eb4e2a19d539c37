package console

import (
	"strings"
	"testing"
)

// markedFieldsHarness opens the plan page, chooses run r1 in its run
// picker, and tells the job name and documents the form then holds and
// the note under the form.
const markedFieldsHarness = planPagePrelude + `
import { planPage } from "./plan";
async function main() {
  const page = new El("main");
  planPage(page as any, new URLSearchParams("asOf=2025-01-01"));
  for (let i = 0; i < 5; i++) await settle();
  const sel = find(page, (e) => e.attrs.id === "job-run")[0];
  sel.value = "r1";
  sel.dispatchEvent(new Event("change"));
  for (let i = 0; i < 5; i++) await settle();
  const one = (id: string) => find(page, (e) => e.attrs.id === id)[0];
  process.stdout.write(JSON.stringify({
    name: one("job-name").value,
    docs: one("job-docs").value,
    note: one("job-marked").children.map(text),
  }));
}
main();
`

// TestStoredRunFieldsToldMarked: a stored run's job name and documents
// fill the plan page's form as they are (what is sent must be what the
// run holds), but a form field shows its value raw: a name holding a
// zero-width space ("ad\u200bmin") read as another name, and a document
// line holding a direction override read reordered, with nothing on the
// page saying so. A note under the form now tells each, marked, and
// stays empty for a run whose text shows as itself.
func TestStoredRunFieldsToldMarked(t *testing.T) {
	routes := func(job, doc string) map[string]any {
		run := okRun("r1")
		run["job"] = job
		run["documents"] = []any{map[string]any{"name": "job.yaml", "content": doc}}
		return map[string]any{
			"/v1/plans":         map[string]any{"json": map[string]any{"job": "j", "asOf": "2025-01-01", "placements": []any{}, "rejected": []any{}}},
			"/v1/catalog/sites": map[string]any{"json": map[string]any{"sites": []any{}}},
			"/v1/rules":         map[string]any{"json": map[string]any{"rules": []any{}}},
			"/v1/runs":          map[string]any{"json": map[string]any{"runs": []any{map[string]any{"id": "r1", "job": job}}}},
			"/v1/runs/r1":       map[string]any{"json": run},
		}
	}
	type answer struct {
		Name, Docs string
		Note       []string
	}
	var out answer
	doc := "kind: TrainingJob\nmetadata:\n  name: \"ad\u200bmin\"\n# site: \u202ebeta\u202c\nspec: {}"
	runHarness(t, markedFieldsHarness, map[string]any{"routes": routes("ad\u200bmin", doc)}, &out)
	if out.Name != "ad\u200bmin" || out.Docs != doc {
		t.Errorf("the form holds %q and %q, want the run's own text", out.Name, out.Docs)
	}
	want := []string{
		"The job name holds characters that do not show as themselves (invisible or direction-changing); it is sent as written: ad[U+200B]min",
		"Line 3 of the documents holds characters that do not show as themselves:   name: \"ad[U+200B]min\"",
		"Line 4 of the documents holds characters that do not show as themselves: # site: [U+202E]beta[U+202C]",
	}
	if strings.Join(out.Note, "\n") != strings.Join(want, "\n") {
		t.Errorf("the note under the form:\n%q\nwant\n%q", out.Note, want)
	}

	// A long line is shown around its first marked character, bounded.
	long := strings.Repeat("a", 5000) + "\u2066b" + strings.Repeat("c", 5000)
	runHarness(t, markedFieldsHarness, map[string]any{"routes": routes("plain", long)}, &out)
	if len(out.Note) != 1 || !strings.HasPrefix(out.Note[0], "Line 1 of the documents holds characters that do not show as themselves: …"+strings.Repeat("a", 40)+"[U+2066]b") || len(out.Note[0]) > 400 {
		t.Errorf("the note on a long line: %q", out.Note)
	}

	// More than three lines: three are told, then that more follow.
	many := strings.Repeat("x\u200by\n", 10)
	runHarness(t, markedFieldsHarness, map[string]any{"routes": routes("plain", many)}, &out)
	if len(out.Note) != 4 || out.Note[3] != "…and more lines: the documents are sent as written." {
		t.Errorf("the note on many marked lines: %q", out.Note)
	}

	runHarness(t, markedFieldsHarness, map[string]any{"routes": routes("plain", "kind: TrainingJob\nspec: {}")}, &out)
	if len(out.Note) != 0 {
		t.Errorf("a run whose text shows as itself got the note %q", out.Note)
	}
}
