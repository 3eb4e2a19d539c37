package console

import (
	"strings"
	"testing"
)

// hostileHarness runs the pieces of the pages that turn the server's words
// into what the page shows, on a stand-in document.
const hostileHarness = `
import { outcomeOf, OUTCOMES } from "./map";
import { classWord } from "./dom";
import { unplacedNote } from "./plan";
import { progressText } from "./runs";
import { verifyResult } from "./data";
import { chainResult } from "./audit";
declare const process: any;
declare function require(name: string): any;
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
class El {
  attrs: Record<string, string> = {};
  children: any[] = [];
  textContent = "";
  constructor(public tag: string) {}
  setAttribute(k: string, v: string) { this.attrs[k] = v; }
  addEventListener() {}
  append(...cs: any[]) { for (const c of cs) this.children.push(c); }
}
(globalThis as any).document = { createElement: (t: string) => new El(t), createElementNS: (_ns: string, t: string) => new El(t) };
function text(n: any): string {
  return typeof n === "string" ? n : n.textContent + n.children.map(text).join("");
}
process.stdout.write(JSON.stringify({
  outcomes: input.kinds.map((k: string) => {
    const o = outcomeOf(k);
    return { outcome: o, labelled: typeof (OUTCOMES[o] || {}).label === "string" };
  }),
  classWords: input.words.map(classWord),
  unplaced: text(unplacedNote(input.sites)),
  progress: input.progress.map(progressText),
  verify: input.verify.map(verifyResult),
  chain: input.chain.map(chainResult),
}));
`

// TestHostileWords: the server's words (a rejection's kind, a run's state,
// a catalog's site names, a run's progress) cannot change how the page
// reads. Before, a kind named like a property every object has
// ("constructor") was taken as an outcome, so its site had no marker on
// the map and its label read "undefined"; a state holding a space added
// the page's own classes to the element ("visually-hidden" hid it); the
// names of the sites the map cannot place were appended as a string of
// their own, bypassing the markers for bidirectional controls; and a
// progress without a loss threw, stopping the run's page before it
// followed the output. A staged copy whose manifest was replaced (the
// server reads none of its chunks and answers 0 of 0) read "verified", in
// green; it, and an answer with fewer chunks authenticated than there are,
// now read FAILED. A chain that verifies but that the server could not
// prove (it names no anchor key, or was checked without its key) read
// "The chain verifies" with a tick, an accepted break went unsaid, and
// an ok that is not true counted as true.
func TestHostileWords(t *testing.T) {
	kinds := []string{"law", "capacity", "constructor", "toString", "__proto__", "hasOwnProperty", "valueOf", "weird"}
	words := []string{"running", "in-force", "running visually-hidden", "", "a\"b", "x\u202e"}
	var out struct {
		Outcomes []struct {
			Outcome  string
			Labelled bool
		}
		ClassWords []string
		Unplaced   string
		Progress   []string
		Verify     []struct {
			Good bool
			Text string
		}
		Chain []struct {
			OK    bool
			Lines []string
		}
	}
	in := map[string]any{
		"kinds": kinds,
		"words": words,
		"sites": []string{"good-site", "evil\u202egnp.exe"},
		"progress": []any{
			map[string]any{"step": 12, "loss": 0.5, "tokensPerS": 1234.4},
			map[string]any{"step": 12},
			map[string]any{"step": "1\u202e2", "loss": "x", "tokensPerS": nil},
			nil,
		},
		"verify": []map[string]any{
			{"chunks": 3, "ok": 3, "missing": nil, "altered": nil},
			{"dataset": "d", "chunks": 0, "bytes": 0, "ok": 0, "missing": nil, "altered": nil, "manifestReplaced": "the store holds manifest 1a2b, staged 3c4d"},
			{"chunks": 3, "ok": 2, "missing": []any{map[string]any{"id": "x"}}, "altered": nil},
			{"chunks": 3, "ok": 1, "missing": nil, "altered": nil},
			{"chunks": "3", "ok": "3", "missing": nil, "altered": nil},
		},
		"chain": []map[string]any{
			{"entries": 10, "head": "00112233445566778899", "ok": true},
			{"entries": 10, "head": "00112233445566778899", "ok": true, "unproven": "the log records no anchor key"},
			{"entries": 10, "head": "00112233445566778899", "ok": true, "unkeyed": true, "unproven": "the audit key is missing"},
			{"entries": 10, "head": "00112233445566778899", "ok": true, "acceptedCount": 3,
				"accepted": []any{map[string]any{"problem": map[string]any{"seq": 4, "kind": "hash", "detail": "altered"}, "at": 7}}},
			{"entries": 10, "head": "00112233445566778899", "ok": "false"},
			{"entries": 10, "ok": false, "problem": map[string]any{"seq": 4}},
		},
	}
	runHarness(t, hostileHarness, in, &out)
	wantOutcome := []string{"law", "capacity", "other", "other", "other", "other", "other", "other"}
	for i, k := range kinds {
		if got := out.Outcomes[i]; got.Outcome != wantOutcome[i] || !got.Labelled {
			t.Errorf("kind %q: outcome %q (labelled %v), want %q", k, got.Outcome, got.Labelled, wantOutcome[i])
		}
	}
	wantWord := []string{"running", "in-force", "other", "other", "other", "other"}
	for i, w := range words {
		if out.ClassWords[i] != wantWord[i] {
			t.Errorf("class word of %q: %q, want %q", w, out.ClassWords[i], wantWord[i])
		}
	}
	if want := "Not on the map (the catalog gives no place): good-site, evil[U+202E]gnp.exe; the table lists them."; out.Unplaced != want {
		t.Errorf("unplaced sites: %q, want %q", out.Unplaced, want)
	}
	wantProgress := []string{
		"Step 12 · loss 0.5000 · 1,234 tokens/s",
		"Step 12 · loss – · – tokens/s",
		"Step – · loss – · – tokens/s",
		"No progress reported yet.",
	}
	wantVerify := []struct {
		good bool
		text string
	}{
		{true, "verified: 3 of 3 chunks"},
		{false, "FAILED: the manifest is not the one staged (the store holds manifest 1a2b, staged 3c4d); no chunk was read"},
		{false, "FAILED: 1 missing, 0 altered of 3 chunks"},
		{false, "FAILED: 1 of 3 chunks authenticated"},
		{false, "FAILED: 3 of 3 chunks authenticated"},
	}
	for i, w := range wantVerify {
		if got := out.Verify[i]; got.Good != w.good || got.Text != w.text {
			t.Errorf("verification %d: %+v, want %+v", i, got, w)
		}
	}
	wantChain := []struct {
		ok    bool
		lines []string
	}{
		{true, []string{"✔ The chain verifies: 10 entries, head 0011223344556677…"}},
		{false, []string{"✘ NOT PROVEN: 10 entries in order and linked, head 0011223344556677…, but the log records no anchor key"}},
		{false, []string{"✘ NOT PROVEN: 10 entries in order and linked, head 0011223344556677…, but the audit key is missing"}},
		{true, []string{"✔ The chain verifies: 10 entries, head 0011223344556677…", "Broken at entry 4 (hash: altered), accepted at entry 7; checked on past it.",
			"Broken at 2 more entries, each accepted by a later entry; checked on past them."}},
		{false, []string{"✘ The chain does not verify: unknown problem"}},
		{false, []string{`✘ The chain does not verify: {"seq":4}`}},
	}
	for i, w := range wantChain {
		if got := out.Chain[i]; got.OK != w.ok || strings.Join(got.Lines, "\n") != strings.Join(w.lines, "\n") {
			t.Errorf("chain %d: %+v, want %+v", i, got, w)
		}
	}
	for i, w := range wantProgress {
		if out.Progress[i] != w {
			t.Errorf("progress %d: %q, want %q", i, out.Progress[i], w)
		}
	}
}
