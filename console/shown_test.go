package console

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"meridian.dev/meridian/internal/textsafe"
)

// shownHarness runs the pages' shown() on the input's texts, and on every
// character between two Latin letters, answering which of those it
// marks (as ranges of code points).
const shownHarness = `
import { shown } from "./terminal";
declare const process: any;
declare function require(name: string): any;
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const marked: number[][] = [];
for (let c = 0; c <= 0x10ffff; c++) {
  if (c >= 0xd800 && c <= 0xdfff) continue;
  const s = "a" + String.fromCodePoint(c) + "a";
  if (shown(s) === s) continue;
  const last = marked[marked.length - 1];
  if (last && last[1] === c - 1) last[1] = c;
  else marked.push([c, c]);
}
// Half of a character, which JSON cannot bring.
const half = shown("half \ud800 of one");
process.stdout.write(JSON.stringify({ texts: input.texts.map(shown), marked, half }));
`

// TestShownMarksWhatTheServerEscapes: the console shows as a marker every
// character the server writes escaped where it is (internal/textsafe),
// and no other. Before, it marked only the control characters and the
// bidirectional controls, so that a run, site or rule name holding a
// zero-width space, a soft hyphen, a word joiner, a Hangul filler or tag
// characters (ASCII no one sees) read in the console as another name
// that the CLI showed escaped, and a joiner between Latin letters hid.
func TestShownMarksWhatTheServerEscapes(t *testing.T) {
	texts := []struct{ in, want string }{
		{"admin", "admin"},
		{"ad\u200bmin", "ad[U+200B]min"},
		{"sg\u00ad-h100", "sg[U+00AD]-h100"},
		{"ad\u200dmin", "ad[U+200D]min"},
		{"ad\u2060min", "ad[U+2060]min"},
		{"\ufeffrule", "[U+FEFF]rule"},
		{"x\u3164y", "x[U+3164]y"},
		{"ok\U000e0041\U000e0042", "ok[U+E0041][U+E0042]"},
		{"line\u2028forged", "line[U+2028]forged"},
		{"a\u202eb", "a[U+202E]b"},
		{"a\x1bb\tc\nd", "a␛b\tc\nd"},
		{"\u200e1", "[U+200E]1"},
		// In their places they are kept: a non-joiner in a Persian word,
		// a direction mark beside Hebrew, an emoji's joiner and colour form.
		{"\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"},
		{"\u05e9\u05dc\u05d5\u05dd\u200e 42", "\u05e9\u05dc\u05d5\u05dd\u200e 42"},
		{"\U0001f469\u200d\U0001f4bb", "\U0001f469\u200d\U0001f4bb"},
		{"\u2764\ufe0f", "\u2764\ufe0f"},
		{"\u2764\ufe0f\ufe0f", "\u2764\ufe0f[U+FE0F]"},
		{"caf\u00e9 \u6771\u4eac \u0645\u0631\u062d\u0628\u0627", "caf\u00e9 \u6771\u4eac \u0645\u0631\u062d\u0628\u0627"},
	}
	var in struct {
		Texts []string `json:"texts"`
	}
	for _, x := range texts {
		in.Texts = append(in.Texts, x.in)
	}
	var out struct {
		Texts  []string
		Marked [][2]int
		Half   string
	}
	runHarness(t, shownHarness, in, &out)
	for i, x := range texts {
		if out.Texts[i] != x.want {
			t.Errorf("shown(%+q) = %+q, want %+q", x.in, out.Texts[i], x.want)
		}
	}
	if want := "half [U+D800] of one"; out.Half != want {
		t.Errorf("half of a character: %+q, want %+q", out.Half, want)
	}
	console := map[rune]bool{}
	for _, r := range out.Marked {
		for c := r[0]; c <= r[1]; c++ {
			console[rune(c)] = true
		}
	}
	var differ []string
	for c := rune(0); c <= utf8.MaxRune; c++ {
		if c >= 0xd800 && c <= 0xdfff {
			continue
		}
		s := "a" + string(c) + "a"
		_, _, server := textsafe.At(s, 1, 'a')
		if c < utf8.RuneSelf {
			server = c < 0x20 && c != '\t' && c != '\n' || c == 0x7f
		}
		if server != console[c] {
			differ = append(differ, fmt.Sprintf("U+%04X (server escapes: %v)", c, server))
		}
	}
	if len(differ) > 0 {
		if len(differ) > 20 {
			differ = append(differ[:20], fmt.Sprintf("and %d more", len(differ)-20))
		}
		t.Errorf("between two letters, the console and the server differ on %d characters: %v", len(differ), differ)
	}
}

// logSweepHarness runs the output's renderer on every character between
// two letters (a line of its own, finished and being written) and on the
// input's pieces, answering which characters it marks, as ranges.
const logSweepHarness = `
import { LogText } from "./terminal";
declare const process: any;
declare function require(name: string): any;
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const marked: number[][] = [];
for (let c = 0; c <= 0x10ffff; c++) {
  if (c >= 0xd800 && c <= 0xdfff) continue;
  const s = "a" + String.fromCodePoint(c) + "a";
  const t = new LogText();
  if (t.push(s + "\n") === s + "\n" && t.push(s) === "" && t.line() === s) continue;
  const last = marked[marked.length - 1];
  if (last && last[1] === c - 1) last[1] = c;
  else marked.push([c, c]);
}
const texts = input.texts.map((s: string) => {
  const t = new LogText();
  return t.push(s) + t.end();
});
process.stdout.write(JSON.stringify({ texts, marked }));
`

// TestLogTextMarksWhatLogsEscape: the run's output on its page shows as a
// marker each character that the server writes escaped where it is
// (textsafe.At: controls, bidirectional controls, the line and paragraph
// separators, characters drawn as nothing, and a joiner, direction mark or
// variation selector out of its place, here between Latin letters), and acts
// on tab, LF, CR and ESC as before. Before, the page marked only the
// controls and the bidirectional controls: output could hide text from
// whoever read it on the page (tag characters spell ASCII no one sees, a
// zero-width space splits a word) that the CLI showed.
func TestLogTextMarksWhatLogsEscape(t *testing.T) {
	texts := []struct{ in, want string }{
		{"loss 0.5\n", "loss 0.5\n"},
		{"ok\U000e0069\U000e0067\U000e006e\n", "ok[U+E0069][U+E0067][U+E006E]\n"},
		{"pass\u200bword\n", "pass[U+200B]word\n"},
		{"a\tb\u00adc\n", "a\tb[U+00AD]c\n"},
		{"x\u2028y\u2029z\n", "x[U+2028]y[U+2029]z\n"},
		{"\ufeffstart\n", "[U+FEFF]start\n"},
		{"\x1b]0;t\u200b\n", "␛]0;t[U+200B]\n"},
		{"\U0001f469\u200d\U0001f4bb \u2764\ufe0f \u0645\u06cc\u200c\u062e\n", "\U0001f469\u200d\U0001f4bb \u2764\ufe0f \u0645\u06cc\u200c\u062e\n"},
		{"10%\r50%\r\x1b[K100%\n", "100%\n"},
	}
	var in struct {
		Texts []string `json:"texts"`
	}
	for _, x := range texts {
		in.Texts = append(in.Texts, x.in)
	}
	var out struct {
		Texts  []string
		Marked [][2]int
	}
	runHarness(t, logSweepHarness, in, &out)
	for i, x := range texts {
		if out.Texts[i] != x.want {
			t.Errorf("output %+q shows as %+q, want %+q", x.in, out.Texts[i], x.want)
		}
	}
	page := map[rune]bool{}
	for _, r := range out.Marked {
		for c := r[0]; c <= r[1]; c++ {
			page[rune(c)] = true
		}
	}
	var differ []string
	for c := rune(0); c <= utf8.MaxRune; c++ {
		if c >= 0xd800 && c <= 0xdfff || c == '\t' || c == '\n' || c == '\r' || c == 0x1b {
			continue
		}
		_, _, server := textsafe.At("a"+string(c)+"a", 1, 'a')
		if c < utf8.RuneSelf {
			server = textsafe.Unsafe(c)
		}
		if server != page[c] {
			differ = append(differ, fmt.Sprintf("U+%04X (escaped: %v)", c, server))
		}
	}
	if len(differ) > 0 {
		if len(differ) > 20 {
			differ = append(differ[:20], fmt.Sprintf("and %d more", len(differ)-20))
		}
		t.Errorf("between two letters, the page and meridian logs differ on %d characters: %v", len(differ), differ)
	}
}

// TestLogTextMarksFormatCharactersOutOfPlace: in a run's output, a
// joiner, a direction mark or a variation selector that is not in its
// place (between letters of a script that needs it, after an emoji or a
// character it selects a form of, beside right-to-left text) shows as its
// marker, judged by the cells beside it once carriage returns drew over
// the line; in its place it is kept. Before, the page showed every one of
// them as itself wherever it was: a direction mark reordered the digits
// and punctuation the operator read beside it, and a joiner hid inside a
// word ("ad\u200dmin" read as "admin").
func TestLogTextMarksFormatCharactersOutOfPlace(t *testing.T) {
	cases := []struct {
		name   string
		chunks []string
		final  string
	}{
		{"a joiner in a Latin word", []string{"user ad\u200dmin granted\n"}, "user ad[U+200D]min granted\n"},
		{"a non-joiner in a Latin word", []string{"pass\u200cword\n"}, "pass[U+200C]word\n"},
		{"a left-to-right mark", []string{"\u200eloss 0.5\n"}, "[U+200E]loss 0.5\n"},
		{"a right-to-left mark between digits", []string{"total 1\u200f00 GPU-h\n"}, "total 1[U+200F]00 GPU-h\n"},
		{"an Arabic letter mark in Latin text", []string{"ok\u061c 3\n"}, "ok[U+061C] 3\n"},
		{"a variation selector after a space", []string{"a \ufe0fb\n"}, "a [U+FE0F]b\n"},
		{"a variation selector after a marked one", []string{"\u2764\ufe0f\ufe0f\n"}, "\u2764\ufe0f[U+FE0F]\n"},
		{"a Mongolian selector at the line's start", []string{"\u180bx\n"}, "[U+180B]x\n"},
		{"a selector of the supplement after a digit's space", []string{"1 \U000e0100\n"}, "1 [U+E0100]\n"},
		{"the line being written", []string{"step\u200d1"}, "step[U+200D]1"},
		// A carriage return draws Latin letters over the Persian word the
		// non-joiner sat in: it is now between a Latin letter and an
		// Arabic one.
		{"drawn over by a carriage return", []string{"\u0645\u06cc\u200c\u062e\rab\n"}, "ab[U+200C]\u062e\n"},
		{"a joiner cut off by the line's width", []string{strings.Repeat("x", 4096) + "\u200dy\n"}, strings.Repeat("x", 4096) + "[U+200D]y\n"},
		// In their places they are kept.
		{"a Persian word", []string{"\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645\n"}, "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645\n"},
		{"a Hebrew word and a mark", []string{"\u05e9\u05dc\u05d5\u05dd\u200e 42\n"}, "\u05e9\u05dc\u05d5\u05dd\u200e 42\n"},
		{"emoji", []string{"\U0001f469\u200d\U0001f4bb \u2764\ufe0f\n"}, "\U0001f469\u200d\U0001f4bb \u2764\ufe0f\n"},
		{"a Devanagari conjunct", []string{"\u0915\u094d\u200d\u0937\n"}, "\u0915\u094d\u200d\u0937\n"},
	}
	var in struct {
		Cases [][]string `json:"cases"`
	}
	for _, c := range cases {
		in.Cases = append(in.Cases, c.chunks)
	}
	var got []pageText
	runTerminal(t, in, &got)
	if len(got) != len(cases) {
		t.Fatalf("%d answers for %d cases", len(got), len(cases))
	}
	short := func(s string) string {
		if len(s) > 80 {
			return s[:20] + "…" + s[len(s)-40:]
		}
		return s
	}
	for i, c := range cases {
		if got[i].Final != c.final {
			t.Errorf("%s: the page shows %+q, want %+q", c.name, short(got[i].Final), short(c.final))
		}
		// One piece: the page after it is the line being written too.
		if n := len(got[i].Screens); got[i].Screens[n-1] != c.final {
			t.Errorf("%s: while it is written the page shows %+q, want %+q", c.name, short(got[i].Screens[n-1]), short(c.final))
		}
	}
}
