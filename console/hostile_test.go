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
			OK     bool
			Lines  []string
			Cut    []string
			Anchor string
		}
	}
	brk := map[string]any{"seq": 4, "kind": "modified", "detail": "altered"}
	anchor := func(seq int) map[string]any {
		return map[string]any{"seq": seq, "head": "ff", "time": "2026-01-02T03:04:05Z", "key": "0123456789abcdef0123", "sig": "s"}
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
			// Beside a break: the tail the anchor recorded cut.
			{"entries": 5, "ok": false, "problem": brk, "anchored": anchor(8), "cutSeq": 8,
				"anchorProblem": map[string]any{"seq": 8, "kind": "truncated", "detail": "the anchor records 8 entries; the log no longer holds entry 8"}},
			// An anchor replaced: accepted with its cut named, the
			// directory given a fresh key.
			{"entries": 5, "ok": false, "problem": brk, "anchored": anchor(90), "cutSeq": 3,
				"anchorProblem": map[string]any{"seq": 3, "kind": "anchor-replaced", "detail": "entry 3 records key aa; the directory holds key bb"}},
			// A cutSeq that is not a whole number above 0 goes into no command.
			{"entries": 5, "ok": false, "problem": brk, "anchored": anchor(8), "cutSeq": "8 --audit-anchor /tmp/x",
				"anchorProblem": map[string]any{"seq": 8, "kind": "truncated", "detail": "d"}},
			{"entries": 5, "ok": false, "problem": brk, "anchored": anchor(8), "cutSeq": -1,
				"anchorProblem": map[string]any{"seq": 8, "kind": "truncated", "detail": "d"}},
			// From a server that sends no cutSeq: worked out as the server does.
			{"entries": 5, "ok": false, "problem": brk, "anchored": anchor(6),
				"anchorProblem": map[string]any{"seq": 6, "kind": "diverged", "detail": "entry 6 is not the one anchored"}},
			{"entries": 5, "ok": false, "problem": brk,
				"anchorProblem": map[string]any{"seq": 2, "kind": "anchor-missing", "detail": "the directory holds no anchor.json"}},
			// A break beside an anchor that found nothing cut; a chain
			// whose anchor fails; one that verifies against its anchor;
			// an ok naming a cut.
			{"entries": 5, "ok": false, "problem": brk, "anchored": anchor(2)},
			{"entries": 5, "ok": false, "problem": map[string]any{"seq": 8, "kind": "truncated", "detail": "d"}, "anchored": anchor(8)},
			{"entries": 5, "head": "00112233445566778899", "ok": true, "anchored": anchor(5)},
			{"entries": 5, "head": "00112233445566778899", "ok": true, "unkeyed": true, "unproven": "the audit key is missing", "anchored": anchor(5)},
			{"entries": 5, "head": "00112233445566778899", "ok": true, "anchored": anchor(5),
				"anchorProblem": map[string]any{"seq": 5, "kind": "diverged", "detail": "d"}},
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
	const (
		none    = "No anchor was checked."
		broke   = `✘ The chain does not verify: {"detail":"altered","kind":"modified","seq":4}`
		failed  = ", key 0123456789abcdef…), which does not hold for this log: it vouches for none of it."
		noCut   = "For the operator: the answer names no entry that accepts this cut (cutSeq), so no start of the server accepts it; check the log and the anchor directory with meridian audit verify."
		accepts = "For the operator: a start accepts the break only with the cut: meridian serve --accept-broken-audit --accept-audit-cut "
	)
	wantChain := []struct {
		ok     bool
		lines  []string
		cut    []string
		anchor string
	}{
		{true, []string{"✔ The chain verifies: 10 entries, head 0011223344556677…"}, nil, none},
		{false, []string{"✘ NOT PROVEN: 10 entries in order and linked, head 0011223344556677…, but the log records no anchor key"}, nil, none},
		{false, []string{"✘ NOT PROVEN: 10 entries in order and linked, head 0011223344556677…, but the audit key is missing"}, nil, none},
		{true, []string{"✔ The chain verifies: 10 entries, head 0011223344556677…", "Broken at entry 4 (hash: altered), accepted at entry 7; checked on past it.",
			"Broken at 2 more entries, each accepted by a later entry; checked on past them."}, nil, none},
		{false, []string{"✘ The chain does not verify: unknown problem"}, nil, none},
		{false, []string{`✘ The chain does not verify: {"seq":4}`}, nil, none},
		{false, []string{broke}, []string{"Also cut from its anchor at entry 8 (truncated: the anchor records 8 entries; the log no longer holds entry 8).", accepts + "8"},
			"The anchor directory holds the anchor of entry 8 (2026-01-02T03:04:05Z" + failed},
		{false, []string{broke}, []string{"Also cut from its anchor at entry 3 (anchor-replaced: entry 3 records key aa; the directory holds key bb).",
			accepts + "3; the anchor directory's key, not the log's, is then kept aside there and replaced by a fresh one"},
			"The anchor directory holds the anchor of entry 90 (2026-01-02T03:04:05Z" + failed},
		{false, []string{broke}, []string{"Also cut from its anchor at entry 8 (truncated: d).", noCut}, "The anchor directory holds the anchor of entry 8 (2026-01-02T03:04:05Z" + failed},
		{false, []string{broke}, []string{"Also cut from its anchor at entry 8 (truncated: d).", noCut}, "The anchor directory holds the anchor of entry 8 (2026-01-02T03:04:05Z" + failed},
		{false, []string{broke}, []string{"Also cut from its anchor at entry 6 (diverged: entry 6 is not the one anchored).", accepts + "6"},
			"The anchor directory holds the anchor of entry 6 (2026-01-02T03:04:05Z" + failed},
		{false, []string{broke}, []string{"Also cut from its anchor at entry 2 (anchor-missing: the directory holds no anchor.json).", accepts + "2"}, none},
		{false, []string{broke}, nil,
			"The anchor directory holds the anchor of entry 2 (2026-01-02T03:04:05Z, key 0123456789abcdef…); nothing was found cut from it, but it vouches for nothing while the chain does not verify."},
		{false, []string{`✘ The chain does not verify: {"detail":"d","kind":"truncated","seq":8}`}, nil, "The anchor directory holds the anchor of entry 8 (2026-01-02T03:04:05Z" + failed},
		{true, []string{"✔ The chain verifies: 5 entries, head 0011223344556677…"}, nil, "Checked against the anchor of entry 5 (2026-01-02T03:04:05Z, key 0123456789abcdef…)."},
		{false, []string{"✘ NOT PROVEN: 5 entries in order and linked, head 0011223344556677…, but the audit key is missing"}, nil,
			"Checked against the anchor of entry 5 (2026-01-02T03:04:05Z, key 0123456789abcdef…)."},
		{false, []string{"✘ The chain does not verify: the answer says it does, yet names a cut from its anchor"},
			[]string{"Also cut from its anchor at entry 5 (diverged: d).", accepts + "5"}, "The anchor directory holds the anchor of entry 5 (2026-01-02T03:04:05Z" + failed},
	}
	if len(out.Chain) != len(wantChain) {
		t.Fatalf("%d chain results, want %d", len(out.Chain), len(wantChain))
	}
	for i, w := range wantChain {
		got := out.Chain[i]
		if got.OK != w.ok || strings.Join(got.Lines, "\n") != strings.Join(w.lines, "\n") || strings.Join(got.Cut, "\n") != strings.Join(w.cut, "\n") || got.Anchor != w.anchor {
			t.Errorf("chain %d:\n got %+v\nwant %+v", i, got, w)
		}
	}
	for i, w := range wantProgress {
		if out.Progress[i] != w {
			t.Errorf("progress %d: %q, want %q", i, out.Progress[i], w)
		}
	}
}

// chainViewHarness draws each of input.results as the audit page shows a
// verification, and tells each paragraph's class and text, and whether
// any markup was parsed.
const chainViewHarness = pagePrelude + `
import { chainView } from "./audit";
process.stdout.write(JSON.stringify({
  views: input.results.map((r: any) => chainView(r).map((p: any) => ({ class: p.attrs.class || "", text: text(p) }))),
  markup,
}));
`

// TestChainViewShowsCut: the audit page shows a cut beside a break, the
// command that accepts both, and an anchor that vouches for nothing as
// such, with the server's words drawn as text: a bidirectional override
// in a cut's detail or in the anchor's time is shown, not obeyed. Before,
// the cut was not shown at all, and the anchor line read "Checked against
// the anchor" of one that did not hold.
func TestChainViewShowsCut(t *testing.T) {
	in := map[string]any{"results": []any{map[string]any{
		"entries": 5, "ok": false, "cutSeq": 8,
		"problem":       map[string]any{"seq": 4, "kind": "modified", "detail": "altered"},
		"anchored":      map[string]any{"seq": 8, "head": "ff", "time": "2026\u202e<b>x</b>", "key": "ab\u202ecd", "sig": "s"},
		"anchorProblem": map[string]any{"seq": 8, "kind": "truncated", "detail": "gone\u202e8 <img src=x onerror=alert(1)>"},
	}}}
	var out struct {
		Views [][]struct {
			Class string
			Text  string
		}
		Markup int
	}
	runHarness(t, chainViewHarness, in, &out)
	if out.Markup != 0 {
		t.Errorf("%d pieces of markup parsed", out.Markup)
	}
	type para struct{ Class, Text string }
	want := []para{
		{"bad", `✘ The chain does not verify: {"detail":"altered","kind":"modified","seq":4}`},
		{"bad", "Also cut from its anchor at entry 8 (truncated: gone[U+202E]8 <img src=x onerror=alert(1)>)."},
		{"bad", "For the operator: a start accepts the break only with the cut: meridian serve --accept-broken-audit --accept-audit-cut 8"},
		{"", "The anchor directory holds the anchor of entry 8 (2026[U+202E]<b>x</b>, key ab[U+202E]cd…), which does not hold for this log: it vouches for none of it."},
	}
	if len(out.Views) != 1 || len(out.Views[0]) != len(want) {
		t.Fatalf("views %+v, want one of %d paragraphs", out.Views, len(want))
	}
	for i, w := range want {
		if got := out.Views[0][i]; got.Class != w.Class || got.Text != w.Text {
			t.Errorf("paragraph %d: %+v, want %+v", i, got, w)
		}
	}
}
